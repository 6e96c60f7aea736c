//! `GET /v1/events?from=POSITION`: the log as a server-sent event stream.
//!
//! Each SSE event's `id` is the event's log position and its `data` the event as `submit`
//! prints it. The stream follows [`crate::Subscription`]: durable events only, in position
//! order, then new ones as they become durable. A client that reconnects with `Last-Event-ID: N`
//! resumes at N + 1, missing and repeating nothing. The stream ends when the server shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::watch;

use super::auth::{Caller, Role};
use super::error::ApiError;
use super::{AppState, EVENTS_KEEPALIVE_MS};
use crate::codec::StoredJson;
use crate::Subscription;

/// Gauge: events durable but not yet sent, per client's stream (the last one it was measured on).
pub const SUBSCRIPTION_LAG_EVENTS: &str = "member_ledger_subscription_lag_events";
/// Gauge: event streams open.
pub const EVENT_STREAMS_OPEN: &str = "member_ledger_event_streams_open";
/// Counter: events sent on streams.
pub const STREAMED_EVENTS_TOTAL: &str = "member_ledger_streamed_events_total";

/// `?from=POSITION` (1, the log's start, when absent).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsParams {
    from: Option<String>,
}

/// The handler.
pub async fn stream(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<EventsParams>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    caller.require(Role::Audit)?;
    let Query(params) = params.map_err(|e| ApiError::invalid(e.body_text()))?;
    let from = start_position(&headers, params.from.as_deref())?;
    let subscription = state.ledger.subscribe(from);
    tracing::info!(from, "event stream opened");
    let feed = Feed {
        subscription,
        closing: state.closing.clone(),
        client: caller.name().to_string(),
        _open: OpenStream::new(),
    };
    let events = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok(event), feed))
    });
    let keep_alive = KeepAlive::new().interval(Duration::from_millis(EVENTS_KEEPALIVE_MS));
    Ok(Sse::new(events).keep_alive(keep_alive))
}

/// Where to start: after `Last-Event-ID` when the client resumes, else `from`, else 1.
fn start_position(headers: &HeaderMap, from: Option<&str>) -> Result<u64, ApiError> {
    if let Some(last) = headers.get("last-event-id") {
        let text = last.to_str().unwrap_or_default().trim();
        let last: u64 = text.parse().map_err(|_| {
            ApiError::invalid(format!("Last-Event-ID '{text}' is not a log position"))
        })?;
        return last
            .checked_add(1)
            .ok_or_else(|| ApiError::invalid("Last-Event-ID is past any position"));
    }
    match from {
        None => Ok(1),
        Some(text) => text
            .parse::<u64>()
            .map(|p| p.max(1))
            .map_err(|_| ApiError::invalid(format!("from '{text}' is not a log position"))),
    }
}

/// One client's stream: its subscription, and the server's closing signal.
struct Feed {
    subscription: Subscription,
    closing: watch::Receiver<bool>,
    client: String,
    _open: OpenStream,
}

impl Feed {
    /// The next SSE event; `None` ends the stream (the server is closing, or storage failed).
    async fn next(&mut self) -> Option<Event> {
        let stored = tokio::select! {
            biased;
            _ = self.closing.wait_for(|closing| *closing) => return None,
            next = self.subscription.next() => next,
        };
        let stored = match stored {
            Ok(stored) => stored,
            Err(e) => {
                tracing::error!(error = %e, "event stream ends: storage failed");
                return None;
            }
        };
        let data = match serde_json::to_string(&StoredJson(&stored)) {
            Ok(data) => data,
            Err(e) => {
                tracing::error!(position = stored.position, error = %e, "event stream ends: an event does not encode");
                return None;
            }
        };
        metrics::counter!(STREAMED_EVENTS_TOTAL).increment(1);
        let lag = self.subscription.lag();
        metrics::gauge!(SUBSCRIPTION_LAG_EVENTS, "client" => self.client.clone()).set(lag as f64);
        Some(Event::default().id(stored.position.to_string()).data(data))
    }
}

/// Counts an open stream while it lives.
struct OpenStream;

impl OpenStream {
    fn new() -> OpenStream {
        metrics::gauge!(EVENT_STREAMS_OPEN).increment(1.0);
        OpenStream
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!(EVENT_STREAMS_OPEN).decrement(1.0);
        tracing::info!("event stream closed");
    }
}
