//! Accepting connections: at most [`super::CONNECTIONS_MAX`] at once (one more is answered 503
//! and closed), headers within [`super::HEADER_READ_TIMEOUT_MS`], and a graceful shutdown that
//! stops accepting, lets every request in flight finish (a command acknowledged is durable),
//! ends the event streams and waits up to [`super::SHUTDOWN_GRACE_MS`] for the connections to
//! close.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use super::{router, AppState, Limits, Tokens};
use crate::Ledger;

/// Gauge: connections open.
pub const CONNECTIONS_OPEN: &str = "member_ledger_http_connections_open";
/// Counter: connections refused because [`super::CONNECTIONS_MAX`] were open.
pub const CONNECTIONS_REFUSED_TOTAL: &str = "member_ledger_http_connections_refused_total";

/// How long an accept error (out of file descriptors, say) pauses accepting, ms.
const ACCEPT_PAUSE_MS: u64 = 50;
/// How long the answer to a connection over the limit may take to write, ms.
const REFUSAL_WRITE_MS: u64 = 1_000;
/// Seconds between the metrics recorder's upkeep runs.
const METRICS_UPKEEP_SECONDS: u64 = 5;

/// Serves the ledger on `listener` until `shutdown` resolves, then shuts down gracefully.
/// Returns once every connection has closed (or the grace period ran out).
pub async fn serve(
    ledger: Ledger,
    listener: TcpListener,
    tokens: Arc<Tokens>,
    shutdown: impl Future<Output = ()>,
) {
    serve_with(ledger, listener, tokens, Limits::default(), shutdown).await;
}

/// [`serve`] with other limits.
pub async fn serve_with(
    ledger: Ledger,
    listener: TcpListener,
    tokens: Arc<Tokens>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let (closing_tx, closing_rx) = watch::channel(false);
    let metrics = super::telemetry::metrics_handle();
    let upkeep = tokio::spawn(upkeep(metrics.clone()));
    let state = AppState {
        ledger,
        tokens,
        limits,
        metrics,
        closing: closing_rx,
    };
    let app = router(state);
    let permits = Arc::new(Semaphore::new(limits.connections_max));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms));
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed; pausing");
                    tokio::time::sleep(Duration::from_millis(ACCEPT_PAUSE_MS)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            metrics::counter!(CONNECTIONS_REFUSED_TOTAL).increment(1);
            tokio::spawn(refuse_busy(stream, limits.connections_max));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        metrics::gauge!(CONNECTIONS_OPEN).increment(1.0);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            metrics::gauge!(CONNECTIONS_OPEN).decrement(1.0);
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("shutting down: accepting no more connections, finishing requests in flight");
    let _ = closing_tx.send(true);
    let grace = Duration::from_millis(limits.shutdown_grace_ms);
    match tokio::time::timeout(grace, graceful.shutdown()).await {
        Ok(()) => tracing::info!("every connection closed"),
        Err(_) => tracing::warn!(
            grace_ms = limits.shutdown_grace_ms,
            "connections still open after the grace period are dropped"
        ),
    }
    upkeep.abort();
}

/// Keeps the recorder's histograms bounded.
async fn upkeep(handle: metrics_exporter_prometheus::PrometheusHandle) {
    let mut tick = tokio::time::interval(Duration::from_secs(METRICS_UPKEEP_SECONDS));
    loop {
        tick.tick().await;
        handle.run_upkeep();
    }
}

/// Answers a connection over the limit with 503 and closes it.
async fn refuse_busy(mut stream: TcpStream, connections_max: usize) {
    let body = super::error::ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "too_many_connections",
        format!("the server holds {connections_max} connections already; retry shortly"),
    )
    .body_text();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_millis(REFUSAL_WRITE_MS), write).await;
}
