//! A stored contribution's fields read straight from their MessagePack bytes: the keys matched
//! as bytes, each value given to its own type's deserializer as a borrowed string (or, for the
//! nested values, as its own bytes), with no serde map machinery in between. A contribution is
//! nearly every event of a log, so this is most of what a rebuild decodes.
//!
//! *Invariant*: [`read`] answers `Some(c)` only where serde's decoding of the same bytes as a
//! [`Contribution`] (tag checked, see `tag_checked`) answers `Ok(c)`, with the same value.
//! Whatever it does not expect (another key, a key twice, a required field missing, a value of
//! another shape, text that is not UTF-8) makes it answer `None`, and the caller decodes the
//! bytes with serde, which decides and words the error.

use serde::de::value::{BorrowedStrDeserializer, Error as ValueError};
use serde::Deserialize;

use super::msgpack::Cursor;
use crate::domain::{BenefitChange, Contribution, CreditParts, MutualAidPaid, SurchargePaid};

/// The contribution in `data`, whose `"type"` must be `tag`; `None` where serde must decide.
pub(super) fn read(data: &[u8], tag: &str) -> Option<Contribution> {
    let mut c = Cursor::new(data);
    let mut f = Found::default();
    for _ in 0..c.map_len()? {
        let key = c.str_bytes()?;
        f.once(key)?;
        match key {
            b"type" => (c.str_bytes()? == tag.as_bytes()).then_some(())?,
            b"month" => f.month = Some(text(&mut c)?),
            b"date" => f.date = Some(date(&mut c)?),
            b"payer" => f.payer = Some(text(&mut c)?),
            b"employer_class" => f.employer_class = Some(text(&mut c)?),
            b"wage" => f.wage = Some(text(&mut c)?),
            b"base" => f.base = Some(text(&mut c)?),
            b"employee_rate" => f.employee_rate = Some(text(&mut c)?),
            b"employer_rate" => f.employer_rate = Some(text(&mut c)?),
            b"employee" => f.employee = Some(text(&mut c)?),
            b"employer" => f.employer = Some(text(&mut c)?),
            b"credit_rate" => f.credit_rate = Some(text(&mut c)?),
            b"account_credit" => f.account_credit = Some(text(&mut c)?),
            b"counts_month" => f.counts_month = Some(c.bool()?),
            b"mutual_aid" => f.mutual_aid = optional(&mut c, nested)?,
            b"surcharges" => f.surcharges = nested(&mut c)?,
            b"credit" => f.credit = optional(&mut c, credit_parts)?,
            b"benefits" => f.benefits = Some(optional(&mut c, nested)?),
            b"rule" => f.rule = Some(c.str()?.to_string()),
            _ => return None,
        }
    }
    f.contribution()
}

/// A value stored as a string, read by its type's own deserializer.
fn text<'a, T: Deserialize<'a>>(c: &mut Cursor<'a>) -> Option<T> {
    T::deserialize(BorrowedStrDeserializer::<ValueError>::new(c.str()?)).ok()
}

/// A date, read by hand where it has the plain shape (as chrono would read it), else by chrono.
fn date(c: &mut Cursor<'_>) -> Option<chrono::NaiveDate> {
    let text = c.str()?;
    crate::month::parse_plain_date(text).or_else(|| text.parse().ok())
}

/// A nested value, read from its own bytes by serde as the whole record would read it.
fn nested<'a, T: Deserialize<'a>>(c: &mut Cursor<'a>) -> Option<T> {
    let bytes = c.value()?;
    let mut de = rmp_serde::Deserializer::from_read_ref(bytes).with_human_readable();
    T::deserialize(&mut de).ok()
}

/// A value that may be nil (`None`), else read by `read`, as serde reads an `Option`.
fn optional<'a, T>(
    c: &mut Cursor<'a>,
    read: fn(&mut Cursor<'a>) -> Option<T>,
) -> Option<Option<T>> {
    if c.nil() {
        return Some(None);
    }
    read(c).map(Some)
}

/// How the credit was computed: its two rates, and its rounding and tier where not the
/// defaults (serde's `default` for absent ones).
fn credit_parts(c: &mut Cursor<'_>) -> Option<CreditParts> {
    const OWN: u8 = 1;
    const EMPLOYER: u8 = 2;
    const ROUNDING: u8 = 4;
    const TIER: u8 = 8;
    let (mut own_rate, mut employer_part_rate) = (None, None);
    let mut parts = CreditParts {
        own_rate: crate::money::Rate::ZERO,
        employer_part_rate: crate::money::Rate::ZERO,
        rounding: Default::default(),
        tier: Default::default(),
    };
    let mut seen = 0u8;
    for _ in 0..c.map_len()? {
        let key = c.str_bytes()?;
        let bit = match key {
            b"own_rate" => OWN,
            b"employer_part_rate" => EMPLOYER,
            b"rounding" => ROUNDING,
            b"tier" => TIER,
            _ => return None,
        };
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        match bit {
            OWN => own_rate = Some(text(c)?),
            EMPLOYER => employer_part_rate = Some(text(c)?),
            ROUNDING => parts.rounding = text(c)?,
            _ => parts.tier = text(c)?,
        }
    }
    parts.own_rate = own_rate?;
    parts.employer_part_rate = employer_part_rate?;
    Some(parts)
}

/// The keys of a contribution's map, in the order of the bits that mark them seen.
const KEYS: [&[u8]; 19] = [
    b"type",
    b"month",
    b"date",
    b"payer",
    b"employer_class",
    b"wage",
    b"base",
    b"employee_rate",
    b"employer_rate",
    b"employee",
    b"employer",
    b"credit_rate",
    b"account_credit",
    b"counts_month",
    b"mutual_aid",
    b"surcharges",
    b"credit",
    b"benefits",
    b"rule",
];

/// The fields read so far, and which keys were seen.
#[derive(Default)]
struct Found {
    seen: u32,
    month: Option<crate::month::Month>,
    date: Option<chrono::NaiveDate>,
    payer: Option<crate::terms::Payer>,
    employer_class: Option<crate::terms::EmployerClass>,
    wage: Option<crate::money::Money>,
    base: Option<crate::money::Money>,
    employee_rate: Option<crate::money::Rate>,
    employer_rate: Option<crate::money::Rate>,
    employee: Option<crate::money::Money>,
    employer: Option<crate::money::Money>,
    credit_rate: Option<crate::money::Rate>,
    account_credit: Option<crate::money::Money>,
    counts_month: Option<bool>,
    mutual_aid: Option<MutualAidPaid>,
    surcharges: Vec<SurchargePaid>,
    credit: Option<CreditParts>,
    benefits: Option<Option<BenefitChange>>,
    rule: Option<String>,
}

impl Found {
    /// Marks `key` seen; `None` for a key seen before or not a contribution's.
    fn once(&mut self, key: &[u8]) -> Option<()> {
        let bit = 1u32 << KEYS.iter().position(|k| *k == key)?;
        if self.seen & bit != 0 {
            return None;
        }
        self.seen |= bit;
        Some(())
    }

    /// The contribution, when the tag and every field written without a default were there.
    fn contribution(self) -> Option<Contribution> {
        if self.seen & 1 == 0 {
            return None;
        }
        Some(Contribution {
            month: self.month?,
            date: self.date?,
            payer: self.payer?,
            employer_class: self.employer_class?,
            wage: self.wage?,
            base: self.base?,
            employee_rate: self.employee_rate?,
            employer_rate: self.employer_rate?,
            employee: self.employee?,
            employer: self.employer?,
            credit_rate: self.credit_rate?,
            account_credit: self.account_credit?,
            counts_month: self.counts_month?,
            mutual_aid: self.mutual_aid,
            surcharges: self.surcharges,
            credit: self.credit,
            benefits: self.benefits?,
            rule: self.rule?,
        })
    }
}
