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

// What a service needs to submit commands, read views and follow the log, at the crate root.
pub use codec::EventJson;
pub use domain::{parse_command, Command, ErrorCode, Event, MemberId, Rejection};
pub use ledger::{
    Ledger, QueryError, Receipt, Submission, SubmitError, Subscription, SubscriptionCheckpoint,
};
pub use money::{Money, Rate};
pub use policy::PolicySet;
pub use projection::{AccountView, AnnualStatement, Point, PointSpec, Statement, ViewAt};
pub use store::{Head, LogReader, StoreError, StoredEvent};
