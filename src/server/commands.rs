//! `POST /v1/commands`: one command (a JSON object) or a batch (a JSON array of at most
//! [`super::BATCH_COMMANDS_MAX`]), answered with the result objects `submit` prints, in order.
//!
//! A single command's answer carries its status (200 accepted, 400 invalid input, 409 refused,
//! 503 storage); a batch is answered 200 with one result per command, each as if submitted
//! alone. Nothing is written for a request refused as a whole (401, 403, 408, 413, 400 for a
//! body that is not a command or a batch). The `Idempotency-Key` header is the command's `key`.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::value::RawValue;

use super::auth::{Caller, Role};
use super::error::ApiError;
use super::{AppState, Limits, COMMAND_BYTES_MAX};
use crate::codec::StoredJson;
use crate::domain::parse_command;
use crate::domain::strict_json::check_no_duplicate_keys;
use crate::store::record::IDEMPOTENCY_KEY_BYTES_MAX;
use crate::{Receipt, SubmitError};

/// The header that carries a command's idempotency key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// Counter: commands accepted.
pub const COMMANDS_ACCEPTED_TOTAL: &str = "member_ledger_commands_accepted_total";
/// Counter: commands refused, by contract code.
pub const REJECTIONS_TOTAL: &str = "member_ledger_rejections_total";

/// The handler.
pub async fn post(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    caller.require(Role::Submit)?;
    let header_key = idempotency_key(&headers)?;
    let bytes = read_body(body, &state.limits).await?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ApiError::invalid("the body is not valid UTF-8"))?;
    match text.trim_start().as_bytes().first() {
        Some(b'[') => batch(&state, &caller, text, header_key).await,
        Some(b'{') if text.len() > COMMAND_BYTES_MAX => Err(ApiError::too_large(format!(
            "a command is at most {COMMAND_BYTES_MAX} bytes"
        ))),
        Some(b'{') => Ok(one(&state, &caller, text, header_key).await),
        _ => Err(ApiError::invalid(
            "the body must be one command (a JSON object) or a batch (a JSON array)",
        )),
    }
}

/// One command: its result object with its status.
async fn one(
    state: &AppState,
    caller: &Caller,
    text: &str,
    header_key: Option<String>,
) -> Response {
    let answer = match decode_one(text, header_key) {
        Ok((command, key)) => state
            .ledger
            .submit_as(command, key, Some(caller.name().to_string()))
            .await
            .map_err(|e| ApiError::of_submit(&e)),
        Err(e) => Err(e),
    };
    count(std::slice::from_ref(&answer));
    let status = match &answer {
        Ok(_) => StatusCode::OK,
        Err(e) => e.status,
    };
    (status, json_body(&Answer(&answer))).into_response()
}

/// Parses one command, the header's key standing for the body's `key`.
fn decode_one(
    text: &str,
    header_key: Option<String>,
) -> Result<(crate::domain::Command, Option<String>), ApiError> {
    check_no_duplicate_keys(text).map_err(ApiError::invalid)?;
    let (command, body_key) = parse_command(text).map_err(|r| ApiError::of_rejection(&r))?;
    let key = match (header_key, body_key) {
        (Some(h), Some(b)) if h != b => {
            return Err(ApiError::invalid(format!(
                "the Idempotency-Key header '{h}' and the command's \"key\" '{b}' differ; give one"
            )))
        }
        (Some(h), _) => Some(h),
        (None, b) => b,
    };
    Ok((command, key))
}

/// A batch: every command decided in order, each as if alone, under one flush.
async fn batch(
    state: &AppState,
    caller: &Caller,
    text: &str,
    header_key: Option<String>,
) -> Result<Response, ApiError> {
    if header_key.is_some() {
        return Err(ApiError::invalid(
            "the Idempotency-Key header names one command; in a batch give each command its own \"key\"",
        ));
    }
    let items: Vec<&RawValue> = serde_json::from_str(text)
        .map_err(|e| ApiError::invalid(format!("not a JSON array of commands: {e}")))?;
    let most = state.limits.batch_commands_max;
    if items.len() > most {
        return Err(ApiError::too_large(format!(
            "a batch holds at most {most} commands, this one {}",
            items.len()
        )));
    }
    // Each command is checked for repeated keys here; the ledger parses the rest.
    let checked: Vec<Result<String, ApiError>> = items
        .iter()
        .map(|item| {
            if item.get().len() > COMMAND_BYTES_MAX {
                return Err(ApiError::invalid(format!(
                    "command longer than {COMMAND_BYTES_MAX} bytes"
                )));
            }
            check_no_duplicate_keys(item.get())
                .map(|()| item.get().to_string())
                .map_err(ApiError::invalid)
        })
        .collect();
    let lines: Vec<String> = checked
        .iter()
        .filter_map(|c| c.as_ref().ok().cloned())
        .collect();
    let mut submitted = state
        .ledger
        .submit_json_batch_as(lines, Some(caller.name().to_string()))
        .await
        .into_iter();
    let answers: Vec<Result<Receipt, ApiError>> = checked
        .into_iter()
        .map(|c| match c {
            Err(e) => Err(e),
            Ok(_) => match submitted.next() {
                Some(result) => result.map_err(|e| ApiError::of_submit(&e)),
                None => Err(ApiError::of_submit(&SubmitError::Storage(
                    crate::store::StoreError::Closed,
                ))),
            },
        })
        .collect();
    count(&answers);
    let body: Vec<Answer<'_>> = answers.iter().map(Answer).collect();
    Ok((StatusCode::OK, json_body(&body)).into_response())
}

/// Counts accepted commands and rejections by code.
fn count(answers: &[Result<Receipt, ApiError>]) {
    for answer in answers {
        match answer {
            Ok(_) => metrics::counter!(COMMANDS_ACCEPTED_TOTAL).increment(1),
            Err(e) => metrics::counter!(REJECTIONS_TOTAL, "code" => e.code.clone()).increment(1),
        }
    }
}

/// A result object as `submit` prints it: `{"ok":true,"position":N,"events":[…]}` (the events
/// written straight from their records) or `{"ok":false,"error":{"code","message"}}`.
struct Answer<'a>(&'a Result<Receipt, ApiError>);

impl Serialize for Answer<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Accepted<'a> {
            ok: bool,
            position: u64,
            events: Vec<StoredJson<'a>>,
        }
        #[derive(Serialize)]
        struct Refused<'a> {
            ok: bool,
            error: ErrorObject<'a>,
        }
        #[derive(Serialize)]
        struct ErrorObject<'a> {
            code: &'a str,
            message: &'a str,
        }
        match self.0 {
            Ok(receipt) => Accepted {
                ok: true,
                position: receipt.position,
                events: receipt.events.iter().map(StoredJson).collect(),
            }
            .serialize(serializer),
            Err(e) => Refused {
                ok: false,
                error: ErrorObject {
                    code: &e.code,
                    message: &e.message,
                },
            }
            .serialize(serializer),
        }
    }
}

/// A JSON body written once; a failure to encode an event is a storage failure.
fn json_body(value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            Bytes::from(bytes),
        )
            .into_response(),
        Err(e) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_error",
            format!("a stored event does not encode: {e}"),
        )
        .into_response(),
    }
}

/// The `Idempotency-Key` header, when given: a non-empty UTF-8 key of at most
/// [`IDEMPOTENCY_KEY_BYTES_MAX`] bytes, given once.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::invalid(
            "the Idempotency-Key header is given twice",
        ));
    }
    let key = std::str::from_utf8(value.as_bytes())
        .map_err(|_| ApiError::invalid("the Idempotency-Key header is not UTF-8"))?;
    if key.is_empty() || key.len() > IDEMPOTENCY_KEY_BYTES_MAX {
        return Err(ApiError::invalid(format!(
            "the Idempotency-Key header must be 1 to {IDEMPOTENCY_KEY_BYTES_MAX} bytes"
        )));
    }
    Ok(Some(key.to_string()))
}

/// Bytes of a too-long body still read (and dropped) before its 413 is sent: a client still
/// sending then reads the answer, not a connection reset under its write.
pub const BODY_DRAIN_BYTES_MAX: usize = 16 * 1024 * 1024;

/// The body, at most [`Limits::body_bytes_max`] bytes, read within
/// [`Limits::request_timeout_ms`]: 413 when longer, 408 when the client is slower.
pub async fn read_body(body: Body, limits: &Limits) -> Result<Bytes, ApiError> {
    let (bytes_max, timeout_ms) = (limits.body_bytes_max, limits.request_timeout_ms);
    let read = read_limited(body, bytes_max);
    match tokio::time::timeout(Duration::from_millis(timeout_ms), read).await {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the body did not arrive within {timeout_ms} ms; nothing was written"),
        )),
        Ok(Ok(Some(bytes))) => Ok(bytes),
        Ok(Ok(None)) => Err(ApiError::too_large(format!(
            "the body is longer than {bytes_max} bytes; send smaller batches"
        ))),
        Ok(Err(e)) => Err(ApiError::invalid(format!(
            "the body could not be read: {e}"
        ))),
    }
}

/// The body when it is at most `bytes_max` bytes; `None` when longer. The rest of a longer
/// body is read and dropped, up to [`BODY_DRAIN_BYTES_MAX`] more, so that the client gets its
/// answer; memory holds at most `bytes_max`.
async fn read_limited(mut body: Body, bytes_max: usize) -> Result<Option<Bytes>, axum::Error> {
    use http_body_util::BodyExt;
    let mut kept: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue; // trailers carry no body bytes
        };
        seen = seen.saturating_add(data.len());
        if seen <= bytes_max {
            kept.extend_from_slice(&data);
        } else if seen > bytes_max.saturating_add(BODY_DRAIN_BYTES_MAX) {
            return Ok(None);
        }
    }
    Ok((seen <= bytes_max).then(|| Bytes::from(kept)))
}
