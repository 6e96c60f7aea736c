#![doc = include_str!("../README.md")]

pub mod audit;
pub mod codec;
pub mod domain;
pub mod files;
pub mod ledger;
pub mod migrate;
pub mod money;
pub mod month;
pub mod observe;
pub mod policy;
pub mod projection;
#[cfg(feature = "server")]
pub mod server;
pub mod store;
pub mod synthetic;
pub mod terms;

pub use audit::verify;
pub use ledger::{Ledger, QueryError, Receipt, SubmitError, Subscription, SubscriptionCheckpoint};
