//! `serve`: the ledger over HTTP (docs/CONTRACT.md "HTTP service") until SIGTERM or Ctrl-C, the
//! tokens file read again on SIGHUP.

use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

use super::{fail, EXIT_OK};
use member_ledger::server::{self, Tokens};

pub(super) async fn run(data: &Path, listen: &str, tokens: Option<&Path>) -> u8 {
    let tokens = match Tokens::load(tokens) {
        Ok(t) => Arc::new(t),
        Err(e) => return fail(e),
    };
    if tokens.is_empty() {
        tracing::warn!(
            "no tokens (give --tokens FILE): every request but /v1/health is refused with 401"
        );
    }
    let ledger = match super::common::open_or_create(data).await {
        Ok(l) => l,
        Err(status) => return status,
    };
    let listener = match TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => return fail(format!("cannot listen on {listen}: {e}")),
    };
    let address = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => return fail(format!("cannot listen on {listen}: {e}")),
    };
    tracing::info!(%address, clients = tokens.len(), data = %super::shown(data), "listening");
    println!("listening on {address}");
    let reload = tokio::spawn(reload_on_hangup(Arc::clone(&tokens)));
    let before = ledger.head().map(|h| h.position).unwrap_or(0);
    let log = ledger.log();
    server::serve(ledger, listener, tokens, shutdown_signal()).await;
    let after = log.head().map(|h| h.position).unwrap_or(before);
    drop(log);
    super::page_table::note_appended(data, after.saturating_sub(before));
    reload.abort();
    tracing::info!("stopped");
    EXIT_OK
}

/// Resolves at SIGTERM or SIGINT.
async fn shutdown_signal() {
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; stop with Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => tracing::info!("SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
    }
}

/// Reads the tokens file again at every SIGHUP; a file that does not validate changes nothing.
async fn reload_on_hangup(tokens: Arc<Tokens>) {
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGHUP; the tokens file is read once");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        match tokens.reload() {
            Ok(clients) => tracing::info!(clients, "tokens file reloaded"),
            Err(e) => {
                tracing::error!(error = %e, "tokens file refused; the tokens in force are kept")
            }
        }
    }
}
