//! Printing a page to PDF (or PNG) with a headless Chromium from the system's packages.
//!
//! The ledger has no PDF engine of its own: a browser lays out the Chinese text, the A4 page
//! boxes and the repeated table headers exactly as the HTML says. The browser is found as
//! `$MEMBER_LEDGER_CHROMIUM`, else `chromium`, `chromium-browser`, `google-chrome-stable` or
//! `google-chrome` on `PATH`, and runs with a fresh profile, no network services and a time limit.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long one browser run may take before it is stopped.
pub(crate) const BROWSER_SECONDS_MAX: u64 = 120;
/// How often a running browser is checked on.
const BROWSER_POLL_MS: u64 = 50;
/// The names the browser is looked for under, in order.
const BROWSER_NAMES: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome-stable",
    "google-chrome",
];

/// The browser to print with, if the machine has one.
pub(crate) fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MEMBER_LEDGER_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .flat_map(|dir| BROWSER_NAMES.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Prints the HTML file `html` to the PDF file `pdf` (A4 and margins as the page's `@page` says,
/// without the browser's own header and footer).
pub(crate) fn print_pdf(chromium: &Path, html: &Path, pdf: &Path) -> Result<(), String> {
    let target = absolute(pdf)?;
    run(
        chromium,
        &[
            "--no-pdf-header-footer".to_string(),
            format!("--print-to-pdf={}", target.display()),
        ],
        html,
    )?;
    match std::fs::metadata(&target) {
        Ok(m) if m.len() > 0 => Ok(()),
        _ => Err(format!("the browser wrote no PDF to {}", target.display())),
    }
}

/// Runs the browser headless on `html` with `extra` arguments, in a fresh profile that is
/// removed afterwards; stopped after [`BROWSER_SECONDS_MAX`].
fn run(chromium: &Path, extra: &[String], html: &Path) -> Result<(), String> {
    static RUNS: AtomicU32 = AtomicU32::new(0);
    let profile = std::env::temp_dir().join(format!(
        "member-ledger-chromium-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&profile).map_err(|e| {
        format!(
            "cannot make a browser profile in {}: {e}",
            profile.display()
        )
    })?;
    let page = absolute(html)?;
    let mut command = Command::new(chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let outcome = wait_bounded(&mut command, chromium);
    let _ = std::fs::remove_dir_all(&profile);
    outcome
}

fn wait_bounded(command: &mut Command, chromium: &Path) -> Result<(), String> {
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", chromium.display()))?;
    let deadline = Instant::now() + Duration::from_secs(BROWSER_SECONDS_MAX);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("{} failed: {status}", chromium.display())),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} took longer than {BROWSER_SECONDS_MAX} s and was stopped",
                    chromium.display()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(BROWSER_POLL_MS)),
            Err(e) => return Err(format!("cannot wait for {}: {e}", chromium.display())),
        }
    }
}

fn absolute(path: &Path) -> Result<PathBuf, String> {
    std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))
}
