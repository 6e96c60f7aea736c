#![doc = include_str!("../README.md")]

pub mod audit;
pub mod codec;
pub mod domain;
pub mod ledger;
pub mod money;
pub mod month;
pub mod policy;
pub mod projection;
pub mod store;
pub mod synthetic;

pub use ledger::{Ledger, QueryError, Receipt, SubmitError};
pub mod verify;
