//! `migrate --from DATA --to DATA`: the log copied between backends (sled ↔ PostgreSQL) record
//! for record, or from a sled log of the previous format into this one; the projections rebuilt
//! on the target and the target verified ([`member_ledger::migrate`]).

use std::path::Path;

use super::{fail, EXIT_OK, EXIT_REJECTED};
use member_ledger::store::DataLocation;

pub(super) async fn run(
    from: &Path,
    to_path: &Path,
    policies: member_ledger::policy::PolicySet,
) -> u8 {
    let (from, to) = (
        DataLocation::from_path(from),
        DataLocation::from_path(to_path),
    );
    if !from.may_exist() {
        return fail(format!("no ledger at {from}"));
    }
    let report = match member_ledger::migrate::migrate(&from, &to, policies).await {
        Ok(report) => report,
        Err(e) => return fail(format!("cannot copy {from} into {to}: {e}")),
    };
    super::page_table::note_appended(to_path, report.copied);
    println!(
        "migrate: {} events copied from {from} to {to}; {} members' projections rebuilt",
        report.copied, report.members_rebuilt
    );
    if let Some((position, hash)) = &report.previous_head {
        println!(
            "migrate: the source was in the previous format; every hash of its chain checked \
             (head at position {position}, hash {hash}); the copy is chained anew in this format"
        );
    }
    println!("{}", report.verified);
    if report.verified.is_clean() {
        EXIT_OK
    } else {
        EXIT_REJECTED
    }
}
