#![doc = include_str!("../README.md")]

pub mod domain;
pub mod money;
pub mod month;
pub mod policy;
pub mod store;
pub mod codec;
pub mod projection;
pub mod ledger;

pub use ledger::{Ledger, QueryError, Receipt, SubmitError};
pub mod verify;
