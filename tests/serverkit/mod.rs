//! Helpers of the server tests: a `member-ledger serve` process on a temporary directory, its
//! tokens, an HTTP client, and a reader of its event stream.
#![allow(dead_code)] // each test file uses a part

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub const BIN: &str = env!("CARGO_BIN_EXE_member-ledger");

/// Tokens of the test clients: submit+read, read, audit, none.
pub const SUBMITTER: &str = "token-of-the-claims-service";
pub const READER: &str = "token-of-the-front-desk";
pub const AUDITOR: &str = "token-of-the-warehouse";
pub const NOBODY: &str = "token-with-no-role";

/// The tokens file naming the four clients.
pub fn tokens_file(entries: &[(&str, &str, &[&str])]) -> String {
    let items: Vec<serde_json::Value> = entries
        .iter()
        .map(|(name, token, roles)| {
            serde_json::json!({
                "name": name,
                "token_sha256": hex::encode(Sha256::digest(token.as_bytes())),
                "roles": roles,
            })
        })
        .collect();
    serde_json::Value::Array(items).to_string()
}

pub fn standard_tokens() -> String {
    tokens_file(&[
        ("claims-service", SUBMITTER, &["submit", "read"]),
        ("front-desk", READER, &["read"]),
        ("warehouse", AUDITOR, &["audit"]),
        ("nobody", NOBODY, &[]),
    ])
}

/// A running server.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub data: PathBuf,
    pub tokens: PathBuf,
    pub stderr: PathBuf,
}

impl Server {
    /// Starts `member-ledger serve` on `data` with the standard tokens (written beside it).
    pub fn start(data: &Path) -> Server {
        let tokens = data.with_extension("tokens.json");
        std::fs::write(&tokens, standard_tokens()).expect("tokens file");
        Server::start_with(data, &tokens, &[])
    }

    /// Starts it with this tokens file and more arguments.
    pub fn start_with(data: &Path, tokens: &Path, extra: &[&str]) -> Server {
        let stderr = data.with_extension(format!("stderr.{}", std::process::id()));
        let err = std::fs::File::create(&stderr).expect("stderr file");
        let mut child = Command::new(BIN)
            .arg("--data")
            .arg(data)
            .args(extra)
            .args(["serve", "--listen", "127.0.0.1:0", "--tokens"])
            .arg(tokens)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("spawn serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("serve prints `listening on ADDR`");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server {
            child,
            addr,
            data: data.to_path_buf(),
            tokens: tokens.to_path_buf(),
            stderr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends a signal (`TERM`, `HUP`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to end, at most `seconds`.
    pub fn wait(&mut self, seconds: u64) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not stop in {seconds} s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, and the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal("TERM");
        self.wait(60)
    }

    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build()
}

/// Status and body of a request (with a body when given).
pub fn call(request: ureq::Request, body: Option<&str>) -> (u16, String) {
    let result = match body {
        Some(b) => request.send_string(b),
        None => request.call(),
    };
    match result {
        Ok(r) => {
            let status = r.status();
            (status, r.into_string().expect("body"))
        }
        Err(ureq::Error::Status(status, r)) => (status, r.into_string().unwrap_or_default()),
        Err(e) => panic!("no answer: {e}"),
    }
}

pub fn get(server: &Server, path: &str, token: Option<&str>) -> (u16, String) {
    let mut request = agent().get(&server.url(path));
    if let Some(t) = token {
        request = request.set("Authorization", &format!("Bearer {t}"));
    }
    call(request, None)
}

pub fn post(server: &Server, body: &str, token: &str, key: Option<&str>) -> (u16, String) {
    let mut request = agent()
        .post(&server.url("/v1/commands"))
        .set("Authorization", &format!("Bearer {token}"))
        .set("Content-Type", "application/json");
    if let Some(k) = key {
        request = request.set("Idempotency-Key", k);
    }
    call(request, Some(body))
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The log's head as `/v1/health` reports it.
pub fn head(server: &Server) -> u64 {
    let (status, body) = get(server, "/v1/health", None);
    assert_eq!(status, 200, "{body}");
    json(&body)["head"].as_u64().expect("head")
}

pub fn member(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

pub fn enroll(member: &str) -> String {
    format!(
        r#"{{"type":"enroll","member":"{member}","region":"luzhou","scheme":"employee","sex":"female","birth_date":"1970-01-01","date":"2000-01-01"}}"#
    )
}

/// An employer contribution for month `i` after 1999-12 (1 = 2000-01).
pub fn contribute(member: &str, i: u32) -> String {
    let year = 2000 + (i - 1) / 12;
    let month = (i - 1) % 12 + 1;
    format!(
        r#"{{"type":"contribute","member":"{member}","month":"{year}-{month:02}","wage":"5000.00","payer":"employer"}}"#
    )
}

/// One server-sent event: its id and data.
#[derive(Clone, Debug, PartialEq)]
pub struct SseEvent {
    pub id: u64,
    pub data: serde_json::Value,
}

/// A reader of `/v1/events`.
pub struct EventStream {
    reader: BufReader<Box<dyn Read + Send + Sync>>,
}

impl EventStream {
    /// Opens the stream from `from`, or resuming after `last_event_id`.
    pub fn open(server: &Server, from: Option<u64>, last_event_id: Option<u64>) -> EventStream {
        let path = match from {
            Some(f) => format!("/v1/events?from={f}"),
            None => "/v1/events".to_string(),
        };
        let agent = ureq::AgentBuilder::new()
            .timeout_read(Duration::from_secs(30))
            .build();
        let mut request = agent
            .get(&server.url(&path))
            .set("Authorization", &format!("Bearer {AUDITOR}"))
            .set("Accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.set("Last-Event-ID", &id.to_string());
        }
        let response = request.call().expect("the stream opens");
        assert_eq!(response.status(), 200);
        assert!(response
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/event-stream")));
        EventStream {
            reader: BufReader::new(response.into_reader()),
        }
    }

    /// The next event; `None` when the stream ended.
    pub fn next(&mut self) -> Option<SseEvent> {
        let (mut id, mut data) = (None, None);
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if let (Some(id), Some(data)) = (id, data.take()) {
                    return Some(SseEvent { id, data });
                }
                continue;
            }
            if let Some(v) = line.strip_prefix("id:") {
                id = Some(v.trim().parse().expect("id is a position"));
            } else if let Some(v) = line.strip_prefix("data:") {
                data = Some(json(v.trim()));
            }
        }
    }
}
