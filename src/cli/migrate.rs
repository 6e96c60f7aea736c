//! `migrate --from DATA --to DATA`: the log copied between backends (sled ↔ PostgreSQL), each
//! event verbatim with its position and hashes, then the projections rebuilt on the target and
//! the target verified.

use std::path::Path;

use super::{fail, EXIT_OK, EXIT_REJECTED};
use member_ledger::store::DataLocation;

pub(super) async fn run(from: &Path, to: &Path) -> u8 {
    let (from, to) = (DataLocation::from_path(from), DataLocation::from_path(to));
    if !from.may_exist() {
        return fail(format!("no ledger at {from}"));
    }
    if from == to {
        return fail("--from and --to name the same ledger");
    }
    let copied = {
        let source = match from.open() {
            Ok(store) => store,
            Err(e) => return fail(format!("cannot open the ledger at {from}: {e}")),
        };
        match to.import_log(source.as_ref()) {
            Ok(copied) => copied,
            Err(e) => return fail(format!("cannot copy {from} into {to}: {e}")),
        }
    };
    let ledger = match super::open_ledger(Path::new(&location_text(&to))).await {
        Ok(ledger) => ledger,
        Err(e) => return fail(format!("cannot open the copy at {to}: {e}")),
    };
    let rebuilt = match ledger.rebuild_projections(&mut |_, _| {}).await {
        Ok((_, members)) => members,
        Err(e) => return fail(format!("cannot rebuild the projections at {to}: {e}")),
    };
    let report = match member_ledger::verify::verify(&ledger).await {
        Ok(report) => report,
        Err(e) => return fail(format!("cannot verify the copy at {to}: {e}")),
    };
    println!("migrate: {copied} events copied from {from} to {to}; {rebuilt} members' projections rebuilt");
    println!("{report}");
    if report.is_clean() {
        EXIT_OK
    } else {
        EXIT_REJECTED
    }
}

fn location_text(location: &DataLocation) -> String {
    match location {
        DataLocation::Directory(path) => path.to_string_lossy().into_owned(),
        DataLocation::Postgres(url) => url.clone(),
    }
}
