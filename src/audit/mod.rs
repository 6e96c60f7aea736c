//! Settling disputes: recomputing stored amounts, differences between two points of a member's
//! history, self-contained dossiers that verify offline, and a printable statement page.
//!
//! - [`verify`]: the whole log checked: chain, ids, members' records, every amount, every
//!   checkpoint, both sides of in-ledger moves.
//! - [`recheck`]: every stored amount recomputed from its stored inputs (used by [`verify`]).
//! - [`diff`]: which events changed which figure between two dates or positions.
//! - [`dossier`]: a member's events with their hashes, the account at each year end and the
//!   statement, in one JSON file; [`dossier::verify_dossier`] checks it without the database.
//! - [`html`]: one static page for the member.
//! - [`witness`]: signed checkpoints handed out, checks of the log against them (rollback,
//!   rewrite), and the inclusion proof a dossier carries.

pub mod diff;
pub mod dossier;
pub mod html;
pub mod recheck;
pub mod verify;
pub mod witness;
