//! `replay`, `diff`, `dossier` and `verify-dossier`, and the progress bar of long walks.

use std::path::Path;
use std::time::Instant;

use chrono::NaiveDate;

use super::common::{open, parse_date, parse_member, progress_bar, query_failed};
use super::{fail, EXIT_OK, EXIT_REJECTED};
use member_ledger::audit::dossier::{verify_dossier_with, Dossier};
use member_ledger::domain::MemberId;
use member_ledger::projection::{Point, PointSpec};
use member_ledger::Ledger;

pub(super) async fn replay(data: &Path, as_of: Option<&str>) -> u8 {
    let as_of: Option<NaiveDate> = match as_of.map(|d| parse_date(d, "--as-of")).transpose() {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let ledger = match open(data).await {
        Ok(l) => l,
        Err(status) => return status,
    };
    let bar = progress_bar("replay");
    let started = Instant::now();
    let tick = {
        let bar = bar.clone();
        move |done: u64, total: u64| {
            bar.set_length(total);
            bar.set_position(done);
        }
    };
    let outcome = match as_of {
        None => ledger.rebuild_projections(tick).await.map(|(events, members)| {
            println!("replay: projections of {members} members rebuilt from the log and stored");
            // Every member's projection records were rewritten: after a big log, as much for
            // sled to read at the next open as an append of that size (1.23 s for the first
            // open after a 10 M-event rebuild, 0.74 s for the next).
            super::page_table::note_appended(data, events);
            events
        }),
        Some(date) => ledger.totals_as_of(date, tick).await.map(|t| {
            println!(
                "replay: as of {date}: {} members enrolled, balances {} in all, {} contribution months in all (nothing written)",
                t.enrolled, t.balance, t.months
            );
            t.events
        }),
    };
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    match outcome {
        Ok(events) => {
            #[allow(clippy::cast_precision_loss, clippy::float_arithmetic)]
            let rate = events as f64 / seconds;
            println!("replay: {events} events in {seconds:.3} s ({rate:.0} events/s)");
            EXIT_OK
        }
        Err(e) => {
            println!("replay: the log is damaged: {e}");
            EXIT_REJECTED
        }
    }
}

pub(super) async fn diff(data: &Path, member: &str, from: &str, to: &str, json: bool) -> u8 {
    let member = match parse_member(member) {
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    let (from, to): (PointSpec, PointSpec) = match (from.parse(), to.parse()) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => return fail(e),
    };
    let ledger = match open(data).await {
        Ok(l) => l,
        Err(status) => return status,
    };
    let (from, to) = match (
        resolve(&ledger, member, from).await,
        resolve(&ledger, member, to).await,
    ) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => return fail(e),
    };
    match ledger.diff(member, from, to).await {
        Ok(d) if json => {
            println!("{}", serde_json::to_string(&d).unwrap_or_default());
            EXIT_OK
        }
        Ok(d) => {
            print!("{}", d.to_text());
            EXIT_OK
        }
        Err(e) => query_failed(e),
    }
}

/// A point of `diff`, or why it names nothing.
async fn resolve(ledger: &Ledger, member: MemberId, spec: PointSpec) -> Result<Point, String> {
    match ledger.resolve_point(member, spec).await {
        Ok(Some(point)) => Ok(point),
        Ok(None) => Err(match spec {
            PointSpec::Issued(year) => {
                format!("no statement of {year} was issued to member {member}")
            }
            PointSpec::At(point) => format!("{point} names nothing for member {member}"),
        }),
        Err(e) => Err(e.to_string()),
    }
}

pub(super) async fn dossier(data: &Path, member: &str, out: &Path) -> u8 {
    let member = match parse_member(member) {
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    let ledger = match open(data).await {
        Ok(l) => l,
        Err(status) => return status,
    };
    let dossier = match ledger.dossier(member).await {
        Ok(d) => d,
        Err(e) => return query_failed(e),
    };
    let bytes = match serde_json::to_vec_pretty(&dossier) {
        Ok(b) => b,
        Err(e) => return fail(format!("cannot encode the dossier: {e}")),
    };
    if let Err(e) = std::fs::write(out, bytes) {
        return fail(format!("cannot write {}: {e}", out.display()));
    }
    println!(
        "dossier: {} events, {} year ends, ledger head {} written to {}",
        dossier.events.len(),
        dossier.year_ends.len(),
        dossier.ledger_head.position,
        out.display()
    );
    EXIT_OK
}

/// Largest dossier read, bytes (a member's whole history is a few MiB at most).
const DOSSIER_BYTES_MAX: usize = 64 * 1024 * 1024;

pub(super) async fn verify_dossier_file(data: &Path, file: &Path, against_ledger: bool) -> u8 {
    let text = match member_ledger::files::read_bounded(file, DOSSIER_BYTES_MAX) {
        Ok(t) => t,
        Err(e) => return fail(format!("cannot read {}: {e}", file.display())),
    };
    let dossier: Dossier = match serde_json::from_str(&text) {
        Ok(d) => d,
        Err(e) => {
            println!("verify-dossier: not a dossier: {e}");
            return EXIT_REJECTED;
        }
    };
    let result = if against_ledger {
        match open(data).await {
            Ok(ledger) => ledger.check_dossier(&dossier).await,
            Err(status) => return status,
        }
    } else {
        verify_dossier_with(&dossier, &super::policies())
    };
    match result {
        Ok(r) => {
            let against = if against_ledger {
                format!("; every event matches the ledger at {}", super::shown(data))
            } else {
                String::new()
            };
            let sealed = match &r.sealed {
                Some((size, key)) => format!(
                    "; its last event is proven under the checkpoint of {size} events signed by {key}"
                ),
                None => "; not sealed (the ledger signs no checkpoint)".to_string(),
            };
            println!(
                "verify-dossier: ok: member {}, {} events whose hashes recompute, {} year-end accounts and the statement equal a replay; claims ledger head {} ({}){sealed}{against}",
                r.member, r.events, r.year_ends, r.ledger_head.position, r.ledger_head.hash
            );
            EXIT_OK
        }
        Err(e) => {
            println!("verify-dossier: {e}");
            EXIT_REJECTED
        }
    }
}

/// `verify`: the whole log checked, with a report; damage is a report, never a crash.
pub(super) async fn verify(data: &Path) -> u8 {
    if !super::ledger_may_exist(data) {
        return fail(format!("no ledger at {}", super::shown(data)));
    }
    // Damaged files can make the storage engine itself fail: whatever happens, the answer is a
    // report of damage, not a crash.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        eprintln!("verify: the storage engine failed on damaged data: {message}");
    }));
    let data = data.to_path_buf();
    let job = tokio::spawn(async move {
        let ledger = match super::open_ledger(&data).await {
            Ok(l) => l,
            Err(e @ member_ledger::store::StoreError::Locked(_)) => {
                eprintln!("member-ledger: {e}");
                return super::EXIT_FAILURE;
            }
            Err(e) => {
                println!(
                    "verify: the database at {} is damaged and does not open: {e}",
                    super::shown(&data)
                );
                return EXIT_REJECTED;
            }
        };
        let bar = progress_bar("verify");
        let tick = {
            let bar = bar.clone();
            move |done: u64, total: u64| {
                bar.set_length(total);
                bar.set_position(done);
            }
        };
        let result = ledger.verify(tick).await;
        bar.finish_and_clear();
        match result {
            Ok(report) => {
                println!("{report}");
                if report.is_clean() {
                    EXIT_OK
                } else {
                    EXIT_REJECTED
                }
            }
            Err(e) => {
                println!("verify: the log is damaged: {e}");
                EXIT_REJECTED
            }
        }
    });
    match job.await {
        Ok(status) => status,
        Err(_) => {
            println!("verify: the database is damaged: reading it failed (see above)");
            EXIT_REJECTED
        }
    }
}
