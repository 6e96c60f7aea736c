//! What the subcommands that open a ledger share: parsing a member and a date, opening the
//! ledger with a clear message, a query's failure as an exit status, a progress bar.

use std::path::Path;

use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};

use super::{fail, EXIT_REJECTED};
use member_ledger::domain::MemberId;
use member_ledger::{Ledger, QueryError};

/// A member id from the command line.
pub(super) fn parse_member(text: &str) -> Result<MemberId, String> {
    text.parse()
        .map_err(|_| format!("'{text}' is not a member id (a UUID)"))
}

/// A date `YYYY-MM-DD` given to `flag`.
pub(super) fn parse_date(text: &str, flag: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("{flag} '{text}' is not a date YYYY-MM-DD"))
}

/// The ledger at `data`, or the exit status after saying why it does not open.
pub(super) async fn open(data: &Path) -> Result<Ledger, u8> {
    if !super::ledger_may_exist(data) {
        return Err(fail(format!("no ledger at {}", super::shown(data))));
    }
    open_or_create(data).await
}

/// The ledger at `data`, created when absent, or the exit status after saying why it does not
/// open.
pub(super) async fn open_or_create(data: &Path) -> Result<Ledger, u8> {
    super::open_ledger(data).await.map_err(|e| {
        fail(format!(
            "cannot open the ledger at {}: {e}",
            super::shown(data)
        ))
    })
}

/// A query's failure as an exit status (an unknown member is a rejection, not a failure).
pub(super) fn query_failed(e: QueryError) -> u8 {
    match e {
        QueryError::UnknownMember(m) => {
            eprintln!("member-ledger: member {m} is not enrolled (at that point)");
            EXIT_REJECTED
        }
        other => fail(other),
    }
}

/// A progress bar on standard error for a walk of `total` events (hidden when not a terminal).
pub(super) fn progress_bar(what: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    let style =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} events ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}
