//! The command line's client of a running server (`--server URL`): `submit`, `account` and
//! `statement` sent over HTTP with the token in [`TOKEN_ENV`], their answers printed as the
//! local subcommands print them.

use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

/// The environment variable that holds the bearer token for `--server`.
pub const TOKEN_ENV: &str = "MEMBER_LEDGER_TOKEN";
/// How long connecting to the server may take, ms.
const CONNECT_TIMEOUT_MS: u64 = 10_000;
/// How long one answer may take (a full batch on a busy server), ms.
const ANSWER_TIMEOUT_MS: u64 = 120_000;
/// Largest answer read, bytes (a batch's receipts; a long statement).
const ANSWER_BYTES_MAX: u64 = 256 * 1024 * 1024;

/// A server and the token to call it with.
#[derive(Clone)]
pub(super) struct Remote {
    base: String,
    token: String,
    agent: ureq::Agent,
}

/// Why a call failed.
#[derive(Debug)]
pub(super) enum RemoteError {
    /// No answer (connection refused or broken, timeout): the outcome of a command is unknown.
    Transport(String),
    /// The server answered with an error object.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The contract code.
        code: String,
        /// The message.
        message: String,
    },
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoteError::Transport(why) => write!(f, "the server did not answer: {why}"),
            RemoteError::Refused {
                status,
                code,
                message,
            } => write!(f, "the server refused ({status} {code}): {message}"),
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorObject,
}

/// A result object's error.
#[derive(Deserialize)]
pub(super) struct ErrorObject {
    /// The contract code.
    pub code: String,
    /// The message.
    pub message: String,
}

/// A result object as far as the client needs to read it.
#[derive(Deserialize)]
pub(super) struct ResultObject {
    /// Whether the command was accepted.
    pub ok: bool,
    /// Why not.
    pub error: Option<ErrorObject>,
}

impl Remote {
    /// The server at `url` (`http://HOST:PORT` or `https://…`), with the token from the
    /// environment.
    pub fn new(url: &str) -> Result<Remote, String> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "--server '{url}' is not an http:// or https:// URL"
            ));
        }
        let token = match std::env::var(TOKEN_ENV) {
            Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
            _ => {
                return Err(format!(
                    "--server needs the client's token in the environment variable {TOKEN_ENV}"
                ))
            }
        };
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_millis(CONNECT_TIMEOUT_MS))
            .timeout(Duration::from_millis(ANSWER_TIMEOUT_MS))
            .build();
        Ok(Remote {
            base: url.trim_end_matches('/').to_string(),
            token,
            agent,
        })
    }

    /// `GET path` (with its query); the body of a 2xx answer.
    pub fn get(&self, path: &str) -> Result<String, RemoteError> {
        let request = self
            .agent
            .get(&format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {}", self.token));
        answer(request.call())
    }

    /// `POST path` with a JSON body; the body of a 2xx answer.
    pub fn post_json(&self, path: &str, body: &str) -> Result<String, RemoteError> {
        let request = self
            .agent
            .post(&format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {}", self.token))
            .set("Content-Type", "application/json");
        answer(request.send_string(body))
    }

    /// Posts a batch of command texts (each valid JSON) and returns each result object's text,
    /// in order.
    pub fn submit_batch(&self, commands: &[&str]) -> Result<Vec<String>, RemoteError> {
        let body = format!("[{}]", commands.join(","));
        let text = self.post_json("/v1/commands", &body)?;
        let results: Vec<Box<RawValue>> = serde_json::from_str(&text).map_err(|e| {
            RemoteError::Transport(format!("the answer is not a list of results: {e}"))
        })?;
        if results.len() != commands.len() {
            return Err(RemoteError::Transport(format!(
                "{} results for {} commands",
                results.len(),
                commands.len()
            )));
        }
        Ok(results.into_iter().map(|r| r.get().to_string()).collect())
    }
}

/// Reads an answer: the body when 2xx, the error object otherwise.
fn answer(result: Result<ureq::Response, ureq::Error>) -> Result<String, RemoteError> {
    match result {
        Ok(response) => read_body(response),
        Err(ureq::Error::Status(status, response)) => {
            let body = read_body(response)?;
            let (code, message) = match serde_json::from_str::<ErrorBody>(&body) {
                Ok(e) => (e.error.code, e.error.message),
                Err(_) => ("http_error".to_string(), body),
            };
            Err(RemoteError::Refused {
                status,
                code,
                message,
            })
        }
        Err(e) => Err(RemoteError::Transport(e.to_string())),
    }
}

fn read_body(response: ureq::Response) -> Result<String, RemoteError> {
    use std::io::Read;
    let mut body = String::new();
    response
        .into_reader()
        .take(ANSWER_BYTES_MAX)
        .read_to_string(&mut body)
        .map_err(|e| RemoteError::Transport(format!("the answer broke off: {e}")))?;
    Ok(body)
}
