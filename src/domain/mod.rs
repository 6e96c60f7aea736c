//! The insurance domain, pure and synchronous: commands, events, the decision and the fold.
//!
//! - [`Command`]: what a service asks for (the contract's JSON commands).
//! - [`Event`]: what happened, with every amount and date the decision computed.
//! - [`decide`]: `(states, command, policy) -> events | Rejection`; never mutates, never does I/O,
//!   never reads a clock.
//! - [`MemberState::apply`]: folds one event into a member's state; never fails, holds no rule.
//!
//! **Invariant**: replaying a member's events through `apply` gives the same state as the live
//! ledger, because every figure a rule produced is in the event, not recomputed.

pub mod accrual;
mod command;
mod command_line;
mod contribute_line;
mod coverage;
mod decide;
mod event;
pub mod map_without;
mod rejection;
mod share;
mod state;
pub mod strict_json;

use serde::{Deserialize, Serialize};

pub use command::{
    Command, Heir, MonthSpan, RefundMonths, RetirementCategory, IDEMPOTENCY_KEY_BYTES_MAX,
};
pub use command_line::parse_command;
pub use coverage::{coverage_on, current_gap, is_past_month, CoverageOn, Gap, SCAN_STEPS_MAX};
pub use decide::{decide, statement_due, Context, Decision, StatementSeal, StatementSeals};
pub use event::{
    BenefitChange, Contribution, CreditParts, Event, HeirDestination, InheritanceShare,
    InterestPeriod, MutualAidPaid, RefundedPayment, ResidentWaitApplied, SurchargePaid,
    EVENT_SCHEMA_VERSION,
};
pub use rejection::{ErrorCode, Rejection};
pub use share::{Share, SHARE_TERM_MAX};
pub use state::{
    Coverage, IssuedStatement, MemberState, MonthCover, Payment, Profile, Relative,
    RetirementRequirement, RuleState, Status, Suspension, YearTotals,
};

// The shared vocabulary lives below both `domain` and `policy`; re-exported here so that
// `member_ledger::domain::Scheme` keeps working. Code inside the crate imports `crate::terms`.
pub use crate::terms::{EmployerClass, Payer, Scheme, Sex, Tier};

/// A member's stable id (a UUID).
pub type MemberId = uuid::Uuid;

/// The wire name of an enum value as the contract spells it (`"pre_1997_service"`, not
/// `Pre1997Service`), for text meant for people.
pub fn wire_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::from("?"),
    }
}

/// The stored event a `reverse` command names, found by the ledger and handed to the decision.
#[derive(Clone, Debug, PartialEq)]
pub struct ReversalTarget {
    /// The event's id.
    pub event_id: uuid::Uuid,
    /// Its log position.
    pub position: u64,
    /// Its member.
    pub member: MemberId,
    /// The event as stored.
    pub event: Event,
}

/// Why months are recognised as deemed. docs/RULES.md §3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeemedBasis {
    /// Continuous service before 1997.
    #[serde(rename = "pre_1997_service")]
    Pre1997Service,
    /// Military service.
    Military,
    /// Any other recognised basis.
    Other,
}

/// Why contributions stop. docs/RULES.md §4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuspendReason {
    /// Left the employer.
    LeftEmployer,
    /// Before a transfer out.
    TransferOut,
    /// Emigration.
    Emigration,
    /// Anything else.
    Other,
}

/// Why money is refunded. docs/RULES.md §7.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundReason {
    /// A month paid both by an employer and by the member.
    Duplicate,
    /// Death.
    Death,
    /// Emigration.
    Emigration,
    /// Household registration moved away.
    HukouMoved,
    /// Took up employment.
    Employed,
    /// An error not caused by the member, after review.
    Error,
}

/// What account spending paid for. docs/RULES.md §8.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Designated pharmacy.
    Pharmacy,
    /// Outpatient costs.
    Outpatient,
    /// Inpatient costs.
    Inpatient,
    /// A close relative's medical costs (家庭共济).
    RelativeCare,
    /// A close relative's resident premium (家庭共济).
    RelativePremium,
}

impl Purpose {
    /// Whether the spending is for a relative rather than the member.
    pub fn is_for_relative(self) -> bool {
        matches!(self, Purpose::RelativeCare | Purpose::RelativePremium)
    }
}

/// A relative registered for family mutual aid (家庭共济). docs/RULES.md §12 R14.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// Husband or wife.
    Spouse,
    /// Father or mother.
    Parent,
    /// Son or daughter.
    Child,
    /// Another close relative (近亲属), from the region's later date.
    CloseRelative,
}
