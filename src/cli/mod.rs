//! Argument parsing and dispatch. The arguments parse into plain structs (clap), then each
//! subcommand validates them into typed values before touching the ledger.

mod demo;
mod query;
mod submit;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status: every command accepted / the query answered.
pub const EXIT_OK: u8 = 0;
/// Exit status: some command was rejected, or the query found nothing.
pub const EXIT_REJECTED: u8 = 1;
/// Exit status: a usage or storage error.
pub const EXIT_FAILURE: u8 = 2;

/// Event-sourced ledger of personal accounts in China's basic medical insurance.
#[derive(Parser, Debug)]
#[command(name = "member-ledger", version, about)]
struct Args {
    /// Directory of the embedded sled database.
    #[arg(long, global = true, default_value = "./ledger-data")]
    data: PathBuf,
    #[command(subcommand)]
    command: Sub,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// Read commands as JSON Lines (a FILE, or standard input for `-` or none); print one JSON
    /// result line per command.
    Submit {
        /// The file of commands; `-` or nothing for standard input.
        file: Option<PathBuf>,
    },
    /// Show a member's account view.
    Account {
        /// The member id (UUID).
        member: String,
        /// What was in force on this date (YYYY-MM-DD).
        #[arg(long = "as-of")]
        as_of: Option<String>,
        /// What the ledger knew after this log position.
        #[arg(long)]
        at: Option<u64>,
        /// Print JSON (the contract's view) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show a member's statement: every event with its effect and running balance.
    Statement {
        /// The member id (UUID).
        member: String,
        /// First effective date (YYYY-MM-DD).
        #[arg(long)]
        from: Option<String>,
        /// Last effective date (YYYY-MM-DD).
        #[arg(long)]
        to: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check the whole log: positions, hash chain, decoding, and checkpoints against a replay.
    Verify,
    /// Build a ledger from the shipped sample, print statements and a summary (safe to rerun).
    Demo,
}

/// Parses the arguments, runs the subcommand, and returns its exit status.
pub fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("member-ledger: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let status = runtime.block_on(async move {
        match args.command {
            Sub::Submit { file } => submit::run(&args.data, file).await,
            Sub::Account {
                member,
                as_of,
                at,
                json,
            } => query::account(&args.data, &member, as_of.as_deref(), at, json).await,
            Sub::Statement {
                member,
                from,
                to,
                json,
            } => query::statement(&args.data, &member, from.as_deref(), to.as_deref(), json).await,
            Sub::Verify => query::verify(&args.data).await,
            Sub::Demo => demo::run(&args.data).await,
        }
    });
    ExitCode::from(status)
}

/// Prints an error for the operator and returns the failure status.
fn fail(message: impl std::fmt::Display) -> u8 {
    eprintln!("member-ledger: {message}");
    EXIT_FAILURE
}
