//! `submit`: JSON Lines in, one result line out per command.
//!
//! A reader thread reads lines (each bounded by [`SUBMIT_LINE_BYTES_MAX`]); the main task takes
//! whatever lines are ready, up to [`SUBMIT_BATCH_MAX`], and submits them as one batch sharing one
//! flush. A line is printed only after its command is durable, so a printed result survives a
//! crash. Interactive callers get one line back per line sent; files go at full speed.
//!
//! With `--server URL` the batches go to a running server (`POST /v1/commands`, the same
//! results, printed as the server sent them), each request within the server's limits.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use tokio::sync::mpsc;

use super::remote::{Remote, RemoteError, ResultObject};
use super::{fail, EXIT_FAILURE, EXIT_OK, EXIT_REJECTED};
use member_ledger::codec::write_event_json;
use member_ledger::ledger::PendingBatch;
use member_ledger::server::{BATCH_COMMANDS_MAX, REQUEST_BODY_BYTES_MAX};
use member_ledger::{Ledger, Receipt, Rejection, Submission, SubmitError};

/// Longest command line accepted, in bytes.
pub const SUBMIT_LINE_BYTES_MAX: usize = 64 * 1024;
/// Most commands submitted together under one flush. Each batch fills and drains the
/// decide/write pipeline once and ends with a flush: batches of up to 32,768 instead of 8,192
/// took the side-by-side `submit` from 3.0–3.7 s to 2.7–3.1 s (BENCHMARKS.md), for ≈ 27 MiB
/// more peak memory (the results wait for the flush).
pub const SUBMIT_BATCH_MAX: usize = 32768;
/// Most bytes of command lines submitted together (a batch's memory bound).
pub const SUBMIT_BATCH_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Lines read ahead of the ledger.
const READ_AHEAD_LINES: usize = SUBMIT_BATCH_MAX / 2;

/// One input line.
enum Line {
    /// A line for a server, as read.
    Text(String),
    /// A line for the local ledger, parsed as it was read (off the deciding thread): the
    /// command and its key, or the parser's refusal; and the line's length.
    Parsed(Result<Submission, Rejection>, usize),
    /// Why the line cannot be a command (too long, not UTF-8, unreadable input).
    Unreadable(String),
}

/// Where the commands go.
enum Target {
    /// The ledger at `--data`, opened by this process.
    Local(Ledger),
    /// A running server.
    Remote(Arc<Remote>),
}

pub(super) async fn run(data: &Path, file: Option<PathBuf>, server: Option<Remote>) -> u8 {
    let input: Box<dyn Read + Send> = match file.as_deref() {
        None => Box::new(std::io::stdin()),
        Some(p) if p.as_os_str() == "-" => Box::new(std::io::stdin()),
        Some(p) => match std::fs::File::open(p) {
            Ok(f) => Box::new(f),
            Err(e) => return fail(format!("cannot read {}: {e}", p.display())),
        },
    };
    let target = match server {
        Some(remote) => Target::Remote(Arc::new(remote)),
        None => match super::open_ledger(data).await {
            Ok(l) => Target::Local(l),
            Err(e) => {
                return fail(format!(
                    "cannot open the ledger at {}: {e}",
                    super::shown(data)
                ))
            }
        },
    };
    let head_before = local_head(&target);
    let (tx, mut rx) = mpsc::channel::<Line>(READ_AHEAD_LINES);
    let parse = matches!(target, Target::Local(_));
    std::thread::spawn(move || read_lines(input, tx, parse));
    // Results are printed by a thread of their own, once durable, so that the next batch is
    // decided while the last one is flushed and written out.
    let (print_tx, print_rx) = std::sync::mpsc::sync_channel::<Printable>(PRINT_AHEAD_BATCHES);
    // Dropped when the printer stops (storage failed, or standard output did): stop reading.
    let (stopped_tx, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let printer = std::thread::spawn(move || {
        let printed = print_results(print_rx);
        drop(stopped_tx);
        printed
    });
    let mut status = EXIT_OK;
    loop {
        let first = tokio::select! {
            line = rx.recv() => match line {
                Some(line) => line,
                None => break,
            },
            _ = &mut stopped => break,
        };
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
        let printable = match &target {
            Target::Local(ledger) => submit_lines(ledger, batch).await,
            Target::Remote(remote) => {
                Printable::Ready(submit_remote(Arc::clone(remote), batch).await)
            }
        };
        status = status.max(printable.status_known());
        if print_tx.send(printable).is_err() || status == EXIT_FAILURE {
            break;
        }
    }
    drop(print_tx);
    let status = match printer.join() {
        Ok(Some(printed)) => status.max(printed),
        _ => EXIT_FAILURE,
    };
    if let (Some(before), Some(after)) = (head_before, local_head(&target)) {
        super::page_table::note_appended(data, after.saturating_sub(before));
    }
    status
}

/// The durable head's position of a ledger opened here (`None` for a server).
fn local_head(target: &Target) -> Option<u64> {
    match target {
        Target::Local(ledger) => Some(ledger.head().map(|h| h.position).unwrap_or(0)),
        Target::Remote(_) => None,
    }
}

/// The exit status the answers call for: failure (exit 2) over refusal (exit 1) over success.
fn status_of(answers: &[Answer]) -> u8 {
    answers
        .iter()
        .map(|answer| match answer {
            Ok(_) => EXIT_OK,
            Err((code, _)) if is_failure(code) => EXIT_FAILURE,
            Err(_) => EXIT_REJECTED,
        })
        .max()
        .unwrap_or(EXIT_OK)
}

/// The bytes a line holds in memory.
fn line_bytes(line: &Line) -> usize {
    match line {
        Line::Text(text) | Line::Unreadable(text) => text.len(),
        Line::Parsed(_, bytes) => *bytes,
    }
}

/// Batches of results printed ahead of the ledger.
const PRINT_AHEAD_BATCHES: usize = 2;

/// An accepted command: its receipt, or the result object a server sent.
enum Accepted {
    /// Submitted here.
    Local(Receipt),
    /// Submitted to a server: its result object's text.
    Remote(String),
}

/// A command's result line: accepted, or its error's code and message.
type Answer = Result<Accepted, (String, String)>;

/// A batch's results as handed to the printer.
enum Printable {
    /// Known now (a server's answers).
    Ready(Vec<Answer>),
    /// A local batch applied, its flush still running: the answers of lines refused before
    /// the ledger (unreadable or not a command: code and message), and the batch, whose
    /// results are answers once it is durable.
    Pending(Vec<Option<(String, String)>>, PendingBatch),
}

impl Printable {
    /// The exit status already known: a server's answers, or a local batch that storage failed
    /// before its flush (the printer finds out the rest).
    fn status_known(&self) -> u8 {
        match self {
            Printable::Ready(answers) => status_of(answers),
            Printable::Pending(_, pending) if pending.storage_failed() => EXIT_FAILURE,
            Printable::Pending(..) => EXIT_OK,
        }
    }

    /// The answers, each durable or its failure (waits for a local batch's flush).
    fn answers(self) -> Vec<Answer> {
        let (answered, pending) = match self {
            Printable::Ready(answers) => return answers,
            Printable::Pending(answered, pending) => (answered, pending),
        };
        let mut submitted = pending.wait().into_iter();
        answered
            .into_iter()
            .map(|line| match line {
                Some(refused) => Err(refused),
                None => match submitted.next() {
                    Some(Ok(receipt)) => Ok(Accepted::Local(receipt)),
                    Some(Err(e)) => Err((e.code().to_string(), message_of(&e))),
                    None => Err(("storage_error".to_string(), "no result".to_string())),
                },
            })
            .collect()
    }
}

/// Bytes of result lines gathered before they are written out (and at the end of each batch).
const PRINT_BUFFER_BYTES: usize = 256 * 1024;

/// Prints each batch of results once durable, one JSON line per command, flushing after each
/// batch (an interactive caller gets its line back at once). Stops after a batch that storage
/// failed (the batches after it were not acknowledged either). The exit status of what it
/// printed; `None` when standard output failed.
fn print_results(rx: std::sync::mpsc::Receiver<Printable>) -> Option<u8> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut text: Vec<u8> = Vec::with_capacity(2 * PRINT_BUFFER_BYTES);
    let mut status = EXIT_OK;
    for printable in rx {
        let results = printable.answers();
        status = status.max(status_of(&results));
        for result in &results {
            let written = match result {
                Ok(Accepted::Local(receipt)) => write_ok(&mut text, receipt),
                Ok(Accepted::Remote(text_line)) => {
                    text.extend_from_slice(text_line.as_bytes());
                    text.push(b'\n');
                    Ok(())
                }
                Err((code, message)) => {
                    text.extend_from_slice(error_line(code, message).as_bytes());
                    text.push(b'\n');
                    Ok(())
                }
            };
            if written.is_err() {
                // What was written so far goes out, as a buffered writer would on the way out.
                let _ = out.write_all(&text).and_then(|()| out.flush());
                return None;
            }
            if text.len() >= PRINT_BUFFER_BYTES {
                out.write_all(&text).ok()?;
                text.clear();
            }
        }
        out.write_all(&text).ok()?;
        text.clear();
        out.flush().ok()?;
        if status == EXIT_FAILURE {
            break;
        }
    }
    Some(status)
}

/// `{"ok":true,"position":N,"events":[…]}` and its newline, the events written straight from
/// their records (the bytes serde_json writes, see [`member_ledger::codec::write_event_json`]).
fn write_ok(out: &mut Vec<u8>, receipt: &Receipt) -> Result<(), serde_json::Error> {
    out.extend_from_slice(b"{\"ok\":true,\"position\":");
    out.extend_from_slice(itoa::Buffer::new().format(receipt.position).as_bytes());
    out.extend_from_slice(b",\"events\":[");
    for (i, event) in receipt.events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_event_json(out, event)?;
    }
    out.extend_from_slice(b"]}\n");
    Ok(())
}

/// Submits a batch of lines up to its flush; the printer waits for it.
async fn submit_lines(ledger: &Ledger, batch: Vec<Line>) -> Printable {
    // The commands move into the batch; only the lines answered here are kept.
    let mut answered: Vec<Option<(String, String)>> = Vec::with_capacity(batch.len());
    let mut commands: Vec<Submission> = Vec::with_capacity(batch.len());
    for line in batch {
        let parsed = match line {
            Line::Parsed(parsed, _) => parsed,
            Line::Text(text) => parse_submission(&text),
            Line::Unreadable(why) => {
                answered.push(Some(("invalid_input".to_string(), why)));
                continue;
            }
        };
        match parsed {
            Ok(command) => {
                commands.push(command);
                answered.push(None);
            }
            Err(r) => answered.push(Some((r.code.as_str().to_string(), r.message))),
        }
    }
    Printable::Pending(answered, ledger.submit_batch_pending(commands).await)
}

/// A command line parsed as the ledger parses it.
fn parse_submission(text: &str) -> Result<Submission, Rejection> {
    member_ledger::domain::parse_command(text).map(|(command, key)| Submission { command, key })
}

/// Codes that mean the machine failed (exit 2), not that a command was refused (exit 1): storage,
/// and a server that could not be reached or refused the request as a whole.
fn is_failure(code: &str) -> bool {
    matches!(
        code,
        "storage_error"
            | "server_unreachable"
            | "unauthorized"
            | "forbidden"
            | "too_large"
            | "request_timeout"
            | "too_many_connections"
            | "not_found"
            | "http_error"
    )
}

/// Sends a batch to the server, in requests within its limits; a line that is not JSON at all
/// is answered here, as the ledger would answer it. When a request fails as a whole, its
/// commands and the rest get that failure as their result.
async fn submit_remote(remote: Arc<Remote>, batch: Vec<Line>) -> Vec<Answer> {
    let count = batch.len();
    let job = move || {
        let mut answers: Vec<Option<Answer>> = Vec::with_capacity(batch.len());
        let mut pending: Vec<(usize, &str)> = Vec::new();
        let mut pending_bytes = 2;
        for (i, line) in batch.iter().enumerate() {
            answers.push(None);
            let text = match line {
                Line::Unreadable(why) => {
                    answers[i] = Some(Err(("invalid_input".to_string(), why.clone())));
                    continue;
                }
                // Lines for a server are read as text, never parsed here.
                Line::Parsed(..) => {
                    let why = "the line was parsed for a local ledger".to_string();
                    answers[i] = Some(Err(("invalid_input".to_string(), why)));
                    continue;
                }
                Line::Text(text) => text.as_str(),
            };
            if serde_json::from_str::<&serde_json::value::RawValue>(text).is_err() {
                answers[i] = Some(Err(local_refusal(text)));
                continue;
            }
            if pending.len() == BATCH_COMMANDS_MAX
                || pending_bytes + text.len() + 1 > REQUEST_BODY_BYTES_MAX
            {
                if let Err(failure) = send(&remote, &mut pending, &mut answers) {
                    return fill(answers, &failure);
                }
                pending_bytes = 2;
            }
            pending_bytes += text.len() + 1;
            pending.push((i, text));
        }
        match send(&remote, &mut pending, &mut answers) {
            Ok(()) => fill(answers, &("storage_error".into(), "no result".into())),
            Err(failure) => fill(answers, &failure),
        }
    };
    match tokio::task::spawn_blocking(job).await {
        Ok(answers) => answers,
        Err(e) => (0..count)
            .map(|_| {
                Err((
                    "server_unreachable".into(),
                    format!("the client failed: {e}"),
                ))
            })
            .collect(),
    }
}

/// Every answer, those still missing given `failure`.
fn fill(answers: Vec<Option<Answer>>, failure: &(String, String)) -> Vec<Answer> {
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(failure.clone())))
        .collect()
}

/// Posts the pending commands and files their results; a request that fails as a whole is its
/// code and message.
fn send(
    remote: &Remote,
    pending: &mut Vec<(usize, &str)>,
    answers: &mut [Option<Answer>],
) -> Result<(), (String, String)> {
    if pending.is_empty() {
        return Ok(());
    }
    let texts: Vec<&str> = pending.iter().map(|(_, t)| *t).collect();
    let results = remote.submit_batch(&texts).map_err(|e| match e {
        RemoteError::Refused { code, message, .. } => (code, message),
        RemoteError::Transport(why) => (
            "server_unreachable".to_string(),
            format!(
                "{why}; the outcome is unknown: submit again (keyed commands are safe to repeat)"
            ),
        ),
    })?;
    for ((i, _), text) in pending.drain(..).zip(results) {
        let object: Result<ResultObject, _> = serde_json::from_str(&text);
        answers[i] = Some(match object {
            Ok(ResultObject { ok: true, .. }) => Ok(Accepted::Remote(text)),
            Ok(ResultObject { error: Some(e), .. }) => Err((e.code, e.message)),
            _ => Err((
                "http_error".into(),
                format!("the server sent no result: {text}"),
            )),
        });
    }
    Ok(())
}

/// The ledger's answer to a line that is not JSON (the parser's own message).
fn local_refusal(text: &str) -> (String, String) {
    match member_ledger::domain::parse_command(text) {
        Err(r) => (r.code.as_str().to_string(), r.message),
        Ok(_) => ("invalid_input".into(), "not a JSON command".into()),
    }
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
/// too long or not UTF-8 becomes an error result of its own. With `parse`, each line is parsed
/// here, on the reader's thread, while the ledger decides the lines before it.
fn read_lines(input: Box<dyn Read + Send>, tx: mpsc::Sender<Line>, parse: bool) {
    let mut reader = BufReader::new(input);
    loop {
        let mut buf = Vec::new();
        let limit = u64::try_from(SUBMIT_LINE_BYTES_MAX + 1).unwrap_or(u64::MAX);
        let read = match (&mut reader).take(limit).read_until(b'\n', &mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) => {
                let _ = tx.blocking_send(Line::Unreadable(format!("cannot read input: {e}")));
                return;
            }
        };
        let line = if buf.last() != Some(&b'\n') && read > SUBMIT_LINE_BYTES_MAX {
            skip_rest_of_line(&mut reader);
            Line::Unreadable(format!("line longer than {SUBMIT_LINE_BYTES_MAX} bytes"))
        } else {
            match String::from_utf8(buf) {
                Ok(s) if s.trim().is_empty() => continue,
                Ok(s) => {
                    let text = s.trim_end_matches(['\n', '\r']);
                    if parse {
                        Line::Parsed(parse_submission(text), text.len())
                    } else {
                        Line::Text(text.to_string())
                    }
                }
                Err(_) => Line::Unreadable("line is not valid UTF-8".to_string()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use member_ledger::codec::StoredJson;
    use member_ledger::store::record::{build, Envelope};
    use member_ledger::store::{NewEvent, StoredEvent};

    /// The result line as serde_json writes it from `StoredJson` (how it was printed before the
    /// events were written by hand).
    fn by_serde(receipt: &Receipt) -> Vec<u8> {
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
        let mut text = serde_json::to_vec(&line).expect("serialises");
        text.push(b'\n');
        text
    }

    fn event(position: u64, rule: &str, key: Option<&str>) -> StoredEvent {
        let fields = serde_json::json!({"type": "spent", "date": "2024-05-06", "amount": "12.30",
            "purpose": "pharmacy", "rule": rule, "n": [1, -2, 3.5, null, true]});
        let new = NewEvent {
            member: uuid::Uuid::from_u128(5),
            event_type: "spent".into(),
            schema_version: 1,
            effective_date: chrono::NaiveDate::from_ymd_opt(2024, 5, 6).expect("date"),
            policy_version: "v1".into(),
            data: rmp_serde::to_vec_named(&fields).expect("encodes"),
        };
        let envelope = Envelope {
            position,
            event_id: uuid::Uuid::from_u128(u128::from(position)),
            member_version: position,
            recorded_at_ms: 1_764_555_522_123,
            idempotency_key: key,
            actor: None,
            prev_hash: [3; 32],
        };
        build(&new, &envelope)
    }

    #[test]
    fn a_result_line_is_written_as_serde_json_writes_it() {
        let receipts = [
            Receipt {
                position: 7,
                events: vec![],
            },
            Receipt {
                position: 9,
                events: vec![
                    event(8, "base 10000.00; \"quoted\" \\ 长\u{2028}\n", Some("k-1")),
                    event(9, "plain", None),
                ],
            },
        ];
        for receipt in &receipts {
            let mut text = Vec::new();
            write_ok(&mut text, receipt).expect("writes");
            assert_eq!(
                String::from_utf8_lossy(&text),
                String::from_utf8_lossy(&by_serde(receipt))
            );
        }
    }
}
