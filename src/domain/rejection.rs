//! Rejections: the caller's mistakes, each with a stable contract code.
//!
//! A [`Rejection`] is an operating error a clerk can act on (show the message, fix the command).
//! It is never a storage failure: those are [`crate::store::StoreError`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// The stable snake_case codes of docs/CONTRACT.md "Errors" (and those it lists as added).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The member has not been enrolled. Enrol first.
    UnknownMember,
    /// The month (or coverage year) is already paid by that payer.
    DuplicateMonth,
    /// The account holds less than asked.
    InsufficientBalance,
    /// Not enough contribution months to retire.
    InsufficientYears,
    /// The account was transferred out or inherited: nothing more may be posted.
    AccountClosed,
    /// The member died before the month or date of the command.
    AfterDeath,
    /// The rules do not allow this refund.
    RefundNotAllowed,
    /// Malformed or out-of-range input.
    InvalidInput,
    /// Another writer changed the member first; re-decide and retry.
    VersionConflict,
    /// The idempotency key was used before with a different command.
    KeyReused,
    /// The member is already enrolled.
    AlreadyEnrolled,
    /// The ledger has no policy for the region.
    UnknownRegion,
    /// The command does not apply to the member's scheme.
    WrongScheme,
    /// The member has retired; contributions and transfers out are closed.
    AlreadyRetired,
    /// The command needs a retired member.
    NotRetired,
    /// The command needs a suspended member (suspend first).
    NotSuspended,
    /// The member is already suspended.
    AlreadySuspended,
    /// The command needs a recorded death.
    NotDeceased,
    /// The member's death is already recorded.
    AlreadyDeceased,
    /// The policy data has no value in force for the date.
    PolicyMissing,
    /// No stored event has the id a reversal names.
    UnknownEvent,
    /// The event was reversed before.
    AlreadyReversed,
    /// The event's effects are not money and months alone, or a later event depends on it.
    NotReversible,
    /// An amount, or a sum the account would then hold, is beyond what the ledger stores.
    AmountOutOfRange,
    /// The contribution month is before the member's enrolment month (R1).
    BeforeEnrolment,
    /// A member may not pay this past month: it does not close the current gap within its
    /// window (R1). Pay current months, or a shortfall as a lump sum.
    MakeupNotAllowed,
    /// The retirement date is before the member's statutory (or earliest early) age (R12).
    BelowRetirementAge,
    /// Spending for a relative not registered on that date (R14). Register the relative first.
    RelativeNotRegistered,
    /// A resident premium paid outside the window where the region accepts none (R9).
    OutsideWindow,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::UnknownMember => "unknown_member",
            ErrorCode::DuplicateMonth => "duplicate_month",
            ErrorCode::InsufficientBalance => "insufficient_balance",
            ErrorCode::InsufficientYears => "insufficient_years",
            ErrorCode::AccountClosed => "account_closed",
            ErrorCode::AfterDeath => "after_death",
            ErrorCode::RefundNotAllowed => "refund_not_allowed",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::VersionConflict => "version_conflict",
            ErrorCode::KeyReused => "key_reused",
            ErrorCode::AlreadyEnrolled => "already_enrolled",
            ErrorCode::UnknownRegion => "unknown_region",
            ErrorCode::WrongScheme => "wrong_scheme",
            ErrorCode::AlreadyRetired => "already_retired",
            ErrorCode::NotRetired => "not_retired",
            ErrorCode::NotSuspended => "not_suspended",
            ErrorCode::AlreadySuspended => "already_suspended",
            ErrorCode::NotDeceased => "not_deceased",
            ErrorCode::AlreadyDeceased => "already_deceased",
            ErrorCode::PolicyMissing => "policy_missing",
            ErrorCode::UnknownEvent => "unknown_event",
            ErrorCode::AlreadyReversed => "already_reversed",
            ErrorCode::NotReversible => "not_reversible",
            ErrorCode::AmountOutOfRange => "amount_out_of_range",
            ErrorCode::BeforeEnrolment => "before_enrolment",
            ErrorCode::MakeupNotAllowed => "makeup_not_allowed",
            ErrorCode::BelowRetirementAge => "below_retirement_age",
            ErrorCode::RelativeNotRegistered => "relative_not_registered",
            ErrorCode::OutsideWindow => "outside_window",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused command: a contract code and a message a clerk can act on. Nothing was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Rejection {
    /// The stable code.
    pub code: ErrorCode,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl Rejection {
    /// A rejection with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Rejection {
        Rejection {
            code,
            message: message.into(),
        }
    }

    /// Shorthand for [`ErrorCode::InvalidInput`].
    pub fn invalid(message: impl Into<String>) -> Rejection {
        Rejection::new(ErrorCode::InvalidInput, message)
    }
}
