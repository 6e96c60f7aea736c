//! Logs, traces and metrics of the service: the stderr log subscriber (`text` or `json`), the
//! Prometheus recorder behind `GET /metrics`, and the span, log line and latency of every
//! request.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

/// Histogram: seconds from a request's arrival to its answer's head (for `/v1/events`, until
/// the stream starts), by route, method and status.
pub const REQUEST_SECONDS: &str = "member_ledger_http_request_seconds";
/// The environment variable that overrides the log filter (`info`, `member_ledger=debug`, …).
pub const LOG_FILTER_ENV: &str = "MEMBER_LEDGER_LOG";

/// Buckets of the latency histograms, seconds: 0.1 ms to 30 s.
const LATENCY_BUCKETS_SECONDS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0, 30.0,
];

/// How logs are written to standard error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line, with the fields of the enclosing spans.
    Json,
}

/// Installs the log subscriber for this process (once; later calls do nothing): to standard
/// error, at `default_filter` unless [`LOG_FILTER_ENV`] says otherwise.
pub fn init_logging(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_env(LOG_FILTER_ENV).unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// The process's Prometheus recorder (installed at the first call).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".to_string()),
                    &LATENCY_BUCKETS_SECONDS,
                )
                .map(PrometheusBuilder::build_recorder)
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Another recorder may be installed already (a test, an embedding program): this
            // one then still renders what the server records through it… which is nothing, so
            // say so in the log.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was installed already; /metrics shows none");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use crate::observe;
    metrics::describe_histogram!(
        observe::FLUSH_SECONDS,
        metrics::Unit::Seconds,
        "storage flush latency"
    );
    metrics::describe_counter!(
        observe::APPENDED_EVENTS_TOTAL,
        "events made durable by the store"
    );
    metrics::describe_histogram!(REQUEST_SECONDS, metrics::Unit::Seconds, "request latency");
    metrics::describe_counter!(
        super::commands::REJECTIONS_TOTAL,
        "commands refused, by code"
    );
    metrics::describe_gauge!(
        super::events::SUBSCRIPTION_LAG_EVENTS,
        "durable events a client's stream has not yet been sent"
    );
}

/// The middleware around every request: a `request` span (method, route, client, status), one
/// log line with the latency, and the latency histogram.
pub async fn trace_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().to_string();
    let span = tracing::info_span!(
        "request",
        method = %method,
        route = %route,
        client = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    span.record("status", status);
    let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(latency_us, "answered");
        } else if status >= 400 {
            tracing::warn!(latency_us, "answered");
        } else {
            tracing::info!(latency_us, "answered");
        }
    });
    metrics::histogram!(
        REQUEST_SECONDS,
        "route" => route,
        "method" => method,
        "status" => status.to_string()
    )
    .record(elapsed.as_secs_f64());
    response
}
