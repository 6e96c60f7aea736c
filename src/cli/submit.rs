//! `submit`: JSON Lines in, one result line out per command.
//!
//! A reader thread reads lines (each bounded by [`SUBMIT_LINE_BYTES_MAX`]); the main task takes
//! whatever lines are ready, up to [`SUBMIT_BATCH_MAX`], and submits them as one batch sharing one
//! flush. A line is printed only after its command is durable, so a printed result survives a
//! crash. Interactive callers get one line back per line sent; files go at full speed.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::json;
use tokio::sync::mpsc;

use super::{fail, EXIT_FAILURE, EXIT_OK, EXIT_REJECTED};
use member_ledger::codec::StoredJson;
use member_ledger::{Ledger, Receipt, SubmitError};

/// Longest command line accepted, in bytes.
pub const SUBMIT_LINE_BYTES_MAX: usize = 64 * 1024;
/// Most commands submitted together under one flush.
pub const SUBMIT_BATCH_MAX: usize = 8192;
/// Most bytes of command lines submitted together (a batch's memory bound).
pub const SUBMIT_BATCH_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Lines read ahead of the ledger.
const READ_AHEAD_LINES: usize = SUBMIT_BATCH_MAX / 2;

/// One input line, or why it cannot be a command.
type Line = Result<String, String>;

pub(super) async fn run(data: &Path, file: Option<PathBuf>) -> u8 {
    let input: Box<dyn Read + Send> = match file.as_deref() {
        None => Box::new(std::io::stdin()),
        Some(p) if p.as_os_str() == "-" => Box::new(std::io::stdin()),
        Some(p) => match std::fs::File::open(p) {
            Ok(f) => Box::new(f),
            Err(e) => return fail(format!("cannot read {}: {e}", p.display())),
        },
    };
    let ledger = match super::open_ledger(data).await {
        Ok(l) => l,
        Err(e) => {
            return fail(format!(
                "cannot open the ledger at {}: {e}",
                super::shown(data)
            ))
        }
    };
    let (tx, mut rx) = mpsc::channel::<Line>(READ_AHEAD_LINES);
    std::thread::spawn(move || read_lines(input, tx));
    // Results are printed by a thread of their own, so that the next batch is decided while
    // the last one is written out (each is durable before it is handed over).
    let (print_tx, print_rx) = std::sync::mpsc::sync_channel::<Vec<Answer>>(PRINT_AHEAD_BATCHES);
    let printer = std::thread::spawn(move || print_results(print_rx));
    let mut status = EXIT_OK;
    while let Some(first) = rx.recv().await {
        let mut bytes = line_bytes(&first);
        let mut batch = vec![first];
        while batch.len() < SUBMIT_BATCH_MAX && bytes < SUBMIT_BATCH_BYTES_MAX {
            match rx.try_recv() {
                Ok(line) => {
                    bytes += line_bytes(&line);
                    batch.push(line);
                }
                Err(_) => break,
            }
        }
        let results = submit_lines(&ledger, batch).await;
        for result in &results {
            if let Err((code, _)) = result {
                status = status.max(if code == "storage_error" {
                    EXIT_FAILURE
                } else {
                    EXIT_REJECTED
                });
            }
        }
        if print_tx.send(results).is_err() || status == EXIT_FAILURE {
            break;
        }
    }
    drop(print_tx);
    match printer.join() {
        Ok(true) => status,
        _ => EXIT_FAILURE,
    }
}

/// The bytes a line holds in memory.
fn line_bytes(line: &Line) -> usize {
    match line {
        Ok(text) | Err(text) => text.len(),
    }
}

/// Batches of results printed ahead of the ledger.
const PRINT_AHEAD_BATCHES: usize = 2;

/// A command's result line: its receipt, or its error's code and message.
type Answer = Result<Receipt, (String, String)>;

/// Prints each batch of results, one JSON line per command, flushing after each batch (an
/// interactive caller gets its line back at once). False when standard output failed.
fn print_results(rx: std::sync::mpsc::Receiver<Vec<Answer>>) -> bool {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
    for results in rx {
        for result in &results {
            let written = match result {
                Ok(receipt) => write_ok(&mut out, receipt),
                Err((code, message)) => writeln!(out, "{}", error_line(code, message)),
            };
            if written.is_err() {
                return false;
            }
        }
        if out.flush().is_err() {
            return false;
        }
    }
    true
}

/// `{"ok":true,"position":N,"events":[…]}`, the events written straight from their records.
fn write_ok(out: &mut impl Write, receipt: &Receipt) -> std::io::Result<()> {
    #[derive(serde::Serialize)]
    struct OkLine<'a> {
        ok: bool,
        position: u64,
        events: Vec<StoredJson<'a>>,
    }
    let line = OkLine {
        ok: true,
        position: receipt.position,
        events: receipt.events.iter().map(StoredJson).collect(),
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")
}

async fn submit_lines(ledger: &Ledger, batch: Vec<Line>) -> Vec<Answer> {
    let texts: Vec<String> = batch
        .iter()
        .filter_map(|l| l.as_ref().ok().cloned())
        .collect();
    let mut submitted = ledger.submit_batch(&texts).await.into_iter();
    batch
        .into_iter()
        .map(|line| match line {
            Err(why) => Err(("invalid_input".to_string(), why)),
            Ok(_) => match submitted.next() {
                Some(Ok(receipt)) => Ok(receipt),
                Some(Err(e)) => Err((e.code().to_string(), message_of(&e))),
                None => Err(("storage_error".to_string(), "no result".to_string())),
            },
        })
        .collect()
}

fn message_of(e: &SubmitError) -> String {
    match e {
        SubmitError::Rejected(r) => r.message.clone(),
        other => other.to_string(),
    }
}

fn error_line(code: &str, message: &str) -> String {
    json!({"ok": false, "error": {"code": code, "message": message}}).to_string()
}

/// Reads lines of at most [`SUBMIT_LINE_BYTES_MAX`] bytes; blank lines are skipped; a line that is
/// too long or not UTF-8 becomes an error result of its own.
fn read_lines(input: Box<dyn Read + Send>, tx: mpsc::Sender<Line>) {
    let mut reader = BufReader::new(input);
    loop {
        let mut buf = Vec::new();
        let limit = u64::try_from(SUBMIT_LINE_BYTES_MAX + 1).unwrap_or(u64::MAX);
        let read = match (&mut reader).take(limit).read_until(b'\n', &mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) => {
                let _ = tx.blocking_send(Err(format!("cannot read input: {e}")));
                return;
            }
        };
        let line = if buf.last() != Some(&b'\n') && read > SUBMIT_LINE_BYTES_MAX {
            skip_rest_of_line(&mut reader);
            Err(format!("line longer than {SUBMIT_LINE_BYTES_MAX} bytes"))
        } else {
            match String::from_utf8(buf) {
                Ok(s) if s.trim().is_empty() => continue,
                Ok(s) => Ok(s.trim_end_matches(['\n', '\r']).to_string()),
                Err(_) => Err("line is not valid UTF-8".to_string()),
            }
        };
        if tx.blocking_send(line).is_err() {
            return;
        }
    }
}

fn skip_rest_of_line(reader: &mut impl BufRead) {
    loop {
        let (done, used) = match reader.fill_buf() {
            Ok([]) | Err(_) => return,
            Ok(bytes) => match bytes.iter().position(|b| *b == b'\n') {
                Some(i) => (true, i + 1),
                None => (false, bytes.len()),
            },
        };
        reader.consume(used);
        if done {
            return;
        }
    }
}
