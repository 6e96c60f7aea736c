//! `load`: a synthetic population submitted in batches (group commit), for scale runs.

use std::path::Path;
use std::time::Instant;

use super::{EXIT_OK, EXIT_REJECTED};
use member_ledger::synthetic::Population;

/// Commands per `submit_json_batch` (one shared flush each).
const LOAD_BATCH_COMMANDS: usize = 4096;

pub(super) async fn run(data: &Path, population: Population) -> u8 {
    let ledger = match super::common::open_or_create(data).await {
        Ok(l) => l,
        Err(status) => return status,
    };
    let before = ledger.head().map(|h| h.position).unwrap_or(0);
    let bar = super::common::progress_bar("load");
    bar.set_length(u64::from(population.members));
    let started = Instant::now();
    let (mut commands, mut rejected) = (0u64, 0u64);
    let mut storage_failed = None;
    let mut batch: Vec<String> = Vec::with_capacity(LOAD_BATCH_COMMANDS + 512);
    for i in 0..population.members {
        batch.extend(population.career(i));
        if batch.len() >= LOAD_BATCH_COMMANDS || i + 1 == population.members {
            for (line, result) in batch.iter().zip(ledger.submit_json_batch(&batch).await) {
                commands += 1;
                if let Err(member_ledger::SubmitError::Storage(e)) = &result {
                    storage_failed.get_or_insert_with(|| e.to_string());
                    continue;
                }
                if let Err(e) = result {
                    rejected += 1;
                    if rejected <= 5 {
                        eprintln!("load: rejected ({}): {e}: {line}", e.code());
                    }
                }
            }
            batch.clear();
            bar.set_position(u64::from(i + 1));
            if storage_failed.is_some() {
                break;
            }
        }
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    let after = ledger.head().map(|h| h.position).unwrap_or(0);
    let events = after - before;
    super::page_table::note_appended(data, events);
    let disk = ledger.log().size_on_disk().unwrap_or(0);
    #[allow(clippy::cast_precision_loss, clippy::float_arithmetic)]
    let (rate, per_command) = (events as f64 / seconds, commands as f64 / seconds);
    println!(
        "load: {} members × {} years (seed {}): {commands} commands, {rejected} rejected",
        population.members, population.years, population.seed
    );
    // What the log shows as durable, whatever was sent: never more than is on disk.
    println!("load: {events} events appended in {seconds:.1} s: {rate:.0} events/s, {per_command:.0} commands/s, durable");
    println!(
        "load: {after} events in the log, {} MiB on disk, peak resident memory {} MiB",
        disk / (1024 * 1024),
        peak_rss_kib().unwrap_or(0) / 1024
    );
    if let Some(why) = storage_failed {
        eprintln!("load: storage failed, the load stopped: {why}; only the events counted above are in the log");
        super::EXIT_FAILURE
    } else if rejected > 0 {
        EXIT_REJECTED
    } else {
        EXIT_OK
    }
}

/// Peak resident set size of this process (Linux `VmHWM`), in KiB.
pub(super) fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
