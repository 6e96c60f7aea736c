//! Commands: the contract's JSON requests, parsed strictly into typed values.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{DeemedBasis, MemberId, Purpose, RefundReason, Relation, Share, SuspendReason};
use crate::money::Money;
use crate::month::Month;
use crate::terms::{EmployerClass, Payer, Scheme, Sex, Tier};

/// Longest idempotency key accepted, in bytes.
pub const IDEMPOTENCY_KEY_BYTES_MAX: usize = 256;

/// A command of docs/CONTRACT.md. `"type"` selects the variant; unknown fields are refused: a typo
/// never passes silently.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[allow(missing_docs)] // The fields are the contract's; docs/CONTRACT.md documents each.
pub enum Command {
    /// Enrol a member in a region and scheme.
    Enroll {
        member: MemberId,
        region: String,
        scheme: Scheme,
        sex: Sex,
        birth_date: NaiveDate,
        date: NaiveDate,
        /// The tier chosen at enrolment (R3; default `with_account`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tier: Option<Tier>,
    },
    /// Recognise deemed months (pre-1997 service, military, other).
    RecognizeDeemed {
        member: MemberId,
        date: NaiveDate,
        months: u32,
        basis: DeemedBasis,
    },
    /// Post a monthly contribution.
    Contribute {
        member: MemberId,
        month: Month,
        wage: Money,
        payer: Payer,
        #[serde(default)]
        employer_class: EmployerClass,
        #[serde(default)]
        date: Option<NaiveDate>,
    },
    /// Pay a resident-scheme premium for a coverage year.
    PayPremium {
        member: MemberId,
        coverage_year: i32,
        personal: Money,
        subsidy: Money,
        date: NaiveDate,
        /// The premium category paid in (R10).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<String>,
        /// Earlier missed years paid now (R9).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        repair_years: Option<u32>,
    },
    /// Stop contributions.
    Suspend {
        member: MemberId,
        date: NaiveDate,
        reason: SuspendReason,
    },
    /// Receive a member's balance and months from another region.
    TransferIn {
        member: MemberId,
        date: NaiveDate,
        from_region: String,
        balance: Money,
        months: u32,
        /// The calendar months paid in the origin (R6): months and ranges `YYYY-MM..YYYY-MM`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        paid_months: Option<Vec<MonthSpan>>,
        /// The origin's last paid month (R2); defaults to the latest of `paid_months`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_paid_month: Option<Month>,
    },
    /// Send the balance to another region and close the account. With `to_member` (an addition
    /// to the contract), the member's account in `to_region` held in this same ledger receives
    /// the balance and the months in the same append.
    TransferOut {
        member: MemberId,
        date: NaiveDate,
        to_region: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to_member: Option<MemberId>,
    },
    /// Refund months (employee) or a coverage year (resident).
    Refund {
        member: MemberId,
        date: NaiveDate,
        reason: RefundReason,
        #[serde(default)]
        months: Option<RefundMonths>,
        #[serde(default)]
        coverage_year: Option<i32>,
    },
    /// Convert to retiree.
    Retire {
        member: MemberId,
        date: NaiveDate,
        /// The retiree's monthly pension (R4), where an allocation depends on it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pension: Option<Money>,
        /// A woman's category for the statutory age (R12); default `female_worker`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<RetirementCategory>,
        /// Flexible early retirement (弹性提前退休), R12.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        early: bool,
    },
    /// Record a change of a retiree's monthly pension (R4).
    SetPension {
        member: MemberId,
        date: NaiveDate,
        pension: Money,
    },
    /// Pay a retirement shortfall in one sum.
    LumpSumMakeup {
        member: MemberId,
        date: NaiveDate,
        months: u32,
    },
    /// Credit the monthly retiree allocation (one member, or every retiree).
    CreditRetireeAllocation {
        month: Month,
        #[serde(default)]
        member: Option<MemberId>,
    },
    /// Spend from the personal account.
    Spend {
        member: MemberId,
        date: NaiveDate,
        amount: Money,
        purpose: Purpose,
        #[serde(default)]
        beneficiary: Option<String>,
        /// The relative's coverage year, for `relative_premium` (R14).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        coverage_year: Option<i32>,
    },
    /// Register a relative for family mutual aid (R14).
    RegisterRelative {
        member: MemberId,
        date: NaiveDate,
        relation: Relation,
        /// The relative's member id when the relative is in the ledger.
        #[serde(default)]
        relative: Option<MemberId>,
        name: String,
    },
    /// Credit a year's interest (one member, or every member): R8.
    CreditInterest {
        year: i32,
        #[serde(default)]
        member: Option<MemberId>,
    },
    /// Record a member's death.
    RecordDeath { member: MemberId, date: NaiveDate },
    /// Hand a deceased member's balance to heirs (or the pooled fund).
    SettleInheritance {
        member: MemberId,
        date: NaiveDate,
        heirs: Vec<Heir>,
    },
    /// Cancel an erroneous event's effects on money and months with a compensating event.
    Reverse { event: uuid::Uuid, reason: String },
    /// Record that the annual statement of `year` was issued to one member, or to every member
    /// of `region` who has one (docs/RULES.md §12 R15). `date` is the issue date (default: 1
    /// January after the year).
    IssueStatement {
        #[serde(default)]
        member: Option<MemberId>,
        #[serde(default)]
        region: Option<String>,
        year: i32,
        #[serde(default)]
        date: Option<NaiveDate>,
    },
}

/// The months a refund names: a list of `YYYY-MM`, or a count (the latest refundable months).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RefundMonths {
    /// These months.
    List(Vec<Month>),
    /// One month.
    One(Month),
    /// The latest `n` refundable months.
    Count(u32),
}

/// One heir of a settlement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heir {
    /// The heir's member id when the heir is a member, else `null`.
    #[serde(default)]
    pub heir: Option<MemberId>,
    /// The heir's name.
    pub name: String,
    /// The heir's share, a decimal or a fraction (`"1/3"`); the shares sum to 1.
    pub share: Share,
}

/// A woman's category for the statutory retirement age. docs/RULES.md §12 R12.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetirementCategory {
    /// A woman worker (50, rising to 55): the default.
    #[default]
    FemaleWorker,
    /// A woman cadre (55, rising to 58).
    FemaleCadre,
}

/// One month `YYYY-MM` or a range `YYYY-MM..YYYY-MM` (both ends included) of a transfer's
/// paid months. docs/RULES.md §12 R6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonthSpan {
    /// First month.
    pub from: Month,
    /// Last month (equal to `from` for one month).
    pub to: Month,
}

impl std::str::FromStr for MonthSpan {
    type Err = String;
    fn from_str(text: &str) -> Result<MonthSpan, String> {
        let (from, to) = match text.split_once("..") {
            Some((a, b)) => (a.parse::<Month>()?, b.parse::<Month>()?),
            None => {
                let m = text.parse::<Month>()?;
                (m, m)
            }
        };
        if to < from {
            return Err(format!("range '{text}' ends before it begins"));
        }
        Ok(MonthSpan { from, to })
    }
}

impl Serialize for MonthSpan {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.from == self.to {
            serializer.serialize_str(&self.from.to_string())
        } else {
            serializer.serialize_str(&format!("{}..{}", self.from, self.to))
        }
    }
}

impl<'de> Deserialize<'de> for MonthSpan {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Command {
    /// The member the command is about, when it names exactly one.
    pub fn member(&self) -> Option<MemberId> {
        match self {
            Command::Enroll { member, .. }
            | Command::RecognizeDeemed { member, .. }
            | Command::Contribute { member, .. }
            | Command::PayPremium { member, .. }
            | Command::Suspend { member, .. }
            | Command::TransferIn { member, .. }
            | Command::TransferOut { member, .. }
            | Command::Refund { member, .. }
            | Command::Retire { member, .. }
            | Command::LumpSumMakeup { member, .. }
            | Command::Spend { member, .. }
            | Command::RecordDeath { member, .. }
            | Command::SettleInheritance { member, .. }
            | Command::SetPension { member, .. }
            | Command::RegisterRelative { member, .. } => Some(*member),
            Command::CreditRetireeAllocation { member, .. }
            | Command::CreditInterest { member, .. }
            | Command::IssueStatement { member, .. } => *member,
            Command::Reverse { .. } => None,
        }
    }

    /// Every member whose state the decision reads (the subject and, for a settlement, the heirs).
    /// An allocation to every retiree reads the retiree index instead; a reversal reads the
    /// member of the event it names (found by the ledger).
    pub fn members_read(&self) -> Vec<MemberId> {
        let mut ids: Vec<MemberId> = self.member().into_iter().collect();
        if let Command::SettleInheritance { heirs, .. } = self {
            ids.extend(heirs.iter().filter_map(|h| h.heir));
        }
        if let Command::TransferOut {
            to_member: Some(to),
            ..
        } = self
        {
            ids.push(*to);
        }
        ids.extend(self.relative_read());
        ids.sort();
        ids.dedup();
        ids
    }

    /// The relative a family-mutual-aid command reads (R14): the relative registered by id, or
    /// the beneficiary of a relative's premium when it is a member id.
    fn relative_read(&self) -> Option<MemberId> {
        match self {
            Command::RegisterRelative { relative, .. } => *relative,
            Command::Spend {
                purpose: Purpose::RelativePremium,
                beneficiary: Some(b),
                ..
            } => b.trim().parse().ok(),
            _ => None,
        }
    }

    /// The command's type as on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            Command::Enroll { .. } => "enroll",
            Command::RecognizeDeemed { .. } => "recognize_deemed",
            Command::Contribute { .. } => "contribute",
            Command::PayPremium { .. } => "pay_premium",
            Command::Suspend { .. } => "suspend",
            Command::TransferIn { .. } => "transfer_in",
            Command::TransferOut { .. } => "transfer_out",
            Command::Refund { .. } => "refund",
            Command::Retire { .. } => "retire",
            Command::LumpSumMakeup { .. } => "lump_sum_makeup",
            Command::CreditRetireeAllocation { .. } => "credit_retiree_allocation",
            Command::Spend { .. } => "spend",
            Command::RecordDeath { .. } => "record_death",
            Command::SettleInheritance { .. } => "settle_inheritance",
            Command::Reverse { .. } => "reverse",
            Command::SetPension { .. } => "set_pension",
            Command::RegisterRelative { .. } => "register_relative",
            Command::CreditInterest { .. } => "credit_interest",
            Command::IssueStatement { .. } => "issue_statement",
        }
    }
}
