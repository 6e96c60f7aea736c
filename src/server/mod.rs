//! The HTTP service (`member-ledger serve`, docs/CONTRACT.md "HTTP service"): the contract
//! over HTTP/JSON, so that any number of services and processes share one ledger.
//!
//! Edges only: each handler extracts the request, calls [`Ledger`], and maps its answer or
//! error to a status ([`error`]). Around the handlers: bearer-token access control
//! ([`auth`]), request limits (the constants below), and a span, log line and latency metric
//! per request ([`telemetry`]). [`serve`] accepts connections up to [`CONNECTIONS_MAX`] and
//! shuts down gracefully. Routes:
//!
//! | route | role | handler |
//! |---|---|---|
//! | `POST /v1/commands` | `submit` | [`commands`] |
//! | `GET /v1/members/{member}/account`, `…/statement` | `read` | [`views`] |
//! | `GET /v1/events?from=` | `audit` | [`events`] |
//! | `GET /v1/health` | none | liveness and readiness |
//! | `GET /metrics` | any valid token | Prometheus text |

pub mod auth;
pub mod commands;
pub mod error;
pub mod events;
mod listener;
pub mod telemetry;
pub mod views;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tokio::sync::watch;

pub use self::auth::{Caller, Client, Role, Tokens, TokensError};
pub use self::error::ApiError;
pub use self::listener::{serve, serve_with};
pub use self::telemetry::{init_logging, LogFormat};
use crate::Ledger;

/// Longest request body, bytes: a full batch of commands with room to spare.
pub const REQUEST_BODY_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Longest command, bytes (the command line's longest line): a longer one alone is 413, in a
/// batch its result is `invalid_input`.
pub const COMMAND_BYTES_MAX: usize = 64 * 1024;
/// Most commands in one batch (`POST /v1/commands` with an array).
pub const BATCH_COMMANDS_MAX: usize = 512;
/// Most connections open at once; one more is answered 503 and closed.
pub const CONNECTIONS_MAX: usize = 512;
/// How long a request's body may take to arrive, and a read (account, statement) to be
/// answered, ms. A command whose body has arrived is never cut short: it is answered once it is
/// durable or refused.
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;
/// How long a request's headers may take to arrive (a slow client holds no connection longer),
/// ms; also how long an idle keep-alive connection is kept.
pub const HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// How long a shutdown waits for requests in flight before dropping their connections, ms.
pub const SHUTDOWN_GRACE_MS: u64 = 30_000;
/// Interval of the comments that keep an idle event stream open, ms.
pub const EVENTS_KEEPALIVE_MS: u64 = 15_000;

const _: () = assert!(BATCH_COMMANDS_MAX <= crate::ledger::PIPELINE_GROUP_COMMANDS);
const _: () = assert!(REQUEST_BODY_BYTES_MAX >= BATCH_COMMANDS_MAX * 1024);
const _: () = assert!(HEADER_READ_TIMEOUT_MS <= REQUEST_TIMEOUT_MS);
const _: () = assert!(COMMAND_BYTES_MAX <= REQUEST_BODY_BYTES_MAX);

/// The limits a server runs with: the constants above by default. Tests shrink them so that
/// the rare paths (a slow client, a full server) run in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// [`REQUEST_BODY_BYTES_MAX`].
    pub body_bytes_max: usize,
    /// [`BATCH_COMMANDS_MAX`].
    pub batch_commands_max: usize,
    /// [`CONNECTIONS_MAX`].
    pub connections_max: usize,
    /// [`REQUEST_TIMEOUT_MS`].
    pub request_timeout_ms: u64,
    /// [`HEADER_READ_TIMEOUT_MS`].
    pub header_read_timeout_ms: u64,
    /// [`SHUTDOWN_GRACE_MS`].
    pub shutdown_grace_ms: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            body_bytes_max: REQUEST_BODY_BYTES_MAX,
            batch_commands_max: BATCH_COMMANDS_MAX,
            connections_max: CONNECTIONS_MAX,
            request_timeout_ms: REQUEST_TIMEOUT_MS,
            header_read_timeout_ms: HEADER_READ_TIMEOUT_MS,
            shutdown_grace_ms: SHUTDOWN_GRACE_MS,
        }
    }
}

/// What every handler shares: one cloneable handle.
#[derive(Clone)]
pub struct AppState {
    ledger: Ledger,
    tokens: Arc<Tokens>,
    limits: Limits,
    metrics: PrometheusHandle,
    closing: watch::Receiver<bool>,
}

/// The routes, each wrapped in the request span and its metrics.
fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/commands", post(commands::post))
        .route("/v1/members/{member}/account", get(views::account))
        .route("/v1/members/{member}/statement", get(views::statement))
        .route("/v1/events", get(events::stream))
        .route("/v1/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(telemetry::trace_request))
        .with_state(state)
}

/// Liveness and readiness: 200 with the log's head when storage answers, 503 otherwise.
async fn health(State(state): State<AppState>) -> Response {
    let ledger = state.ledger.clone();
    let head = tokio::task::spawn_blocking(move || ledger.head()).await;
    match head {
        Ok(Ok(head)) => {
            Json(json!({"ok": true, "status": "ready", "head": head.position})).into_response()
        }
        Ok(Err(e)) => ApiError::storage(&e).into_response(),
        Err(_) => ApiError::storage(&crate::store::StoreError::Closed).into_response(),
    }
}

/// Prometheus text, for any valid token.
async fn metrics(State(state): State<AppState>, _caller: Caller) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn not_found(_caller: Caller) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route; see docs/CONTRACT.md \"HTTP service\"",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}
