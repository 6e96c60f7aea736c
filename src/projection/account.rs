//! The account view of docs/CONTRACT.md ("Account view").

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::{coverage_on, MemberId, MemberState, Status, YearTotals};
use crate::money::Money;
use crate::policy::PolicySet;
use crate::terms::{Scheme, Sex, Tier};

/// Contribution months. docs/RULES.md §3.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthsView {
    /// Actual local months.
    pub actual: u32,
    /// Deemed months.
    pub deemed: u32,
    /// Actual + deemed.
    pub total: u32,
}

/// One calendar year of the account view: the months that count in it and the year's sums as
/// the member's state keeps them (on the wire, the sums' fields sit beside `year` and `months`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct YearRow {
    /// The year.
    pub year: i32,
    /// Months that count in the year.
    pub months: u32,
    /// The year's sums: bases, shares, credits, refunds and interest.
    #[serde(flatten)]
    pub totals: YearTotals,
}

/// The account view of docs/CONTRACT.md, with the fields its "What the project adds" lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    /// The member.
    pub member: MemberId,
    /// Pooling region.
    pub region: String,
    /// Scheme.
    pub scheme: Scheme,
    /// Status on the view's date.
    pub status: Status,
    /// When benefits start (or started), once known.
    pub benefits_from: Option<NaiveDate>,
    /// Personal-account balance.
    pub balance: Money,
    /// Everything credited.
    pub credited: Money,
    /// Everything debited.
    pub debited: Money,
    /// Contribution months.
    pub months: MonthsView,
    /// Per-year totals.
    pub years: Vec<YearRow>,
    /// The global log position the view reflects.
    pub position: u64,
    /// The date the status is judged on.
    pub as_of: NaiveDate,
    /// Sex.
    pub sex: Sex,
    /// Birth date.
    pub birth_date: NaiveDate,
    /// Enrolment date.
    pub enrolled_on: NaiveDate,
    /// Retirement date.
    pub retired_on: Option<NaiveDate>,
    /// Death date.
    pub died_on: Option<NaiveDate>,
    /// Months bought by lump-sum makeup (included in `months.actual`).
    pub lump_sum_months: u32,
    /// Refunds paid to the member outside the account.
    pub refunded: Money,
    /// Member version (events applied).
    pub version: u64,
    /// The tier chosen at enrolment (R3).
    #[serde(default)]
    pub tier: Tier,
    /// The retiree's monthly pension in force on the view's date (R4), once recorded.
    #[serde(default)]
    pub pension: Option<Money>,
    /// Resident scheme: paid benefit years in a row ending with the view date's year (R9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_years: Option<u32>,
}

impl AccountView {
    /// The view of an enrolled member's state, judged on `on`, reflecting log `position`.
    /// `None` for a member with no enrolment.
    ///
    /// Money and months come from `state` (the events in force on the view's date); status and
    /// `benefits_from` from `known`, the member as the view's knowledge has it (all events for an
    /// `--as-of` view, docs/RULES.md §12 R2: a gap closed later within its window shows covered),
    /// judged on `on` with the region's policy.
    pub fn of(
        state: &MemberState,
        known: &MemberState,
        policies: &PolicySet,
        on: NaiveDate,
        position: u64,
    ) -> Option<AccountView> {
        let profile = state.profile.as_ref()?;
        let (status, benefits_from) = coverage(state, known, policies, on);
        let years = state
            .years
            .iter()
            .map(|(year, totals)| YearRow {
                year: *year,
                months: state.months_in_year(*year),
                totals: totals.clone(),
            })
            .collect();
        Some(AccountView {
            member: state.member,
            region: profile.region.clone(),
            scheme: profile.scheme,
            status,
            benefits_from,
            balance: state.balance,
            credited: state.credited,
            debited: state.debited,
            months: MonthsView {
                actual: state.months_actual(),
                deemed: state.months_deemed(),
                total: state.months_total(),
            },
            years,
            position,
            as_of: on,
            sex: profile.sex,
            birth_date: profile.birth_date,
            enrolled_on: profile.enrolled_on,
            retired_on: state.retired_on,
            died_on: state.died_on,
            lump_sum_months: state.months_lump_sum,
            refunded: state.refunded,
            version: state.version,
            tier: state.rules.tier,
            pension: state.rules.pension_on(on),
            consecutive_years: (profile.scheme == Scheme::Resident)
                .then(|| state.consecutive_years_on(on)),
        })
    }
}

/// Status and first day of benefits on `on`: a resident's from the paid years in force, an
/// employee-scheme member's derived from payments as `known` holds them (R2). A region the
/// policies lack leaves the member `waiting` with no date.
fn coverage(
    state: &MemberState,
    known: &MemberState,
    policies: &PolicySet,
    on: NaiveDate,
) -> (Status, Option<NaiveDate>) {
    let Some(profile) = state.profile.as_ref() else {
        return (Status::Waiting, None);
    };
    if profile.scheme == Scheme::Resident {
        return (
            state.resident_status_on(on),
            state.resident_benefits_from_on(on),
        );
    }
    match policies
        .region(&profile.region)
        .map(|policy| coverage_on(known, policy, on))
    {
        Some(Ok(c)) => (c.status, c.benefits_from),
        _ => (Status::Waiting, None),
    }
}

/// Which state of the account to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewAt {
    /// Everything the ledger knows now.
    Head,
    /// What was in force on a date (events effective on or before it).
    AsOf(NaiveDate),
    /// What the ledger knew after a position.
    Position(u64),
    /// What was in force on a date as the ledger knew it after a position (`--as-of` with
    /// `--at`: the view a past answer about that date was given from).
    AsOfAt(NaiveDate, u64),
}

impl ViewAt {
    /// The view the two options ask for (`--as-of` / `as_of`, `--at` / `at`), either, both or
    /// neither.
    pub fn from_options(as_of: Option<NaiveDate>, at: Option<u64>) -> ViewAt {
        match (as_of, at) {
            (Some(date), Some(position)) => ViewAt::AsOfAt(date, position),
            (Some(date), None) => ViewAt::AsOf(date),
            (None, Some(position)) => ViewAt::Position(position),
            (None, None) => ViewAt::Head,
        }
    }
}
