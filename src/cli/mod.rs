//! Argument parsing and dispatch. The arguments parse into plain structs (clap), then each
//! subcommand validates them into typed values before touching the ledger.

mod annual;
mod audit;
mod browser;
mod common;
mod demo;
mod load;
mod migrate;
mod page_table;
mod policy;
mod query;
mod remote;
mod seal;
mod serve;
mod submit;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;

use clap::{Parser, Subcommand};
use member_ledger::policy::PolicySet;
use member_ledger::server::LogFormat;
use member_ledger::store::{DataLocation, StoreError};
use member_ledger::Ledger;

/// The policies every subcommand decides with: chosen once at start (`--policy-dir` or the
/// shipped ones) and validated before any ledger opens.
static POLICIES: OnceLock<PolicySet> = OnceLock::new();

/// The key checkpoints are signed with (`--signing-key` or the environment), read at start.
static SIGNER: OnceLock<Option<member_ledger::store::seal::Signer>> = OnceLock::new();

/// The policies chosen at start.
pub(crate) fn policies() -> PolicySet {
    POLICIES.get_or_init(PolicySet::shipped).clone()
}

/// Opens the ledger at `data` (a directory or a PostgreSQL URL) with the policies chosen at
/// start.
pub(crate) async fn open_ledger(data: &Path) -> Result<Ledger, StoreError> {
    let policies = POLICIES.get_or_init(PolicySet::shipped).clone();
    let signer = SIGNER.get().cloned().flatten();
    Ledger::open_sealed(&data.to_string_lossy(), policies, signer).await
}

/// `data` for messages: a PostgreSQL URL without its password.
pub(crate) fn shown(data: &Path) -> String {
    DataLocation::from_path(data).to_string()
}

/// Whether a ledger may be at `data` (a directory that exists, or any database URL).
pub(crate) fn ledger_may_exist(data: &Path) -> bool {
    DataLocation::from_path(data).may_exist()
}

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
    /// Where the ledger lives: a directory (embedded sled database), or a PostgreSQL database as
    /// a `postgres://` / `postgresql://` URL or a `host=… dbname=…` connection string (builds
    /// with the feature `postgres`).
    #[arg(long, global = true, default_value = "./ledger-data")]
    data: PathBuf,
    /// Directory of policy files (one REGION.json per region) to decide with instead of the
    /// shipped ones; every file is validated when the ledger opens.
    #[arg(long = "policy-dir", global = true, value_name = "DIR")]
    policy_dir: Option<PathBuf>,
    /// Talk to a running `member-ledger serve` at URL (`submit`, `account`, `statement`) instead
    /// of opening --data; the token is read from the environment variable MEMBER_LEDGER_TOKEN.
    #[arg(long, global = true, value_name = "URL")]
    server: Option<String>,
    /// How logs are written to standard error: `text` or `json` (the filter is taken from
    /// MEMBER_LEDGER_LOG, e.g. `info`, `member_ledger=debug`).
    #[arg(long = "log-format", global = true, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// The Ed25519 key the ledger signs checkpoints of its log with (`keygen` makes one; keep it
    /// outside the data directory). Default: the file named by MEMBER_LEDGER_SIGNING_KEY.
    #[arg(long = "signing-key", global = true, value_name = "FILE")]
    signing_key: Option<PathBuf>,
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
        #[arg(long, conflicts_with = "html")]
        json: bool,
        /// Show, under each event, the rule that decided it, its effect and running totals.
        #[arg(long)]
        explain: bool,
        /// Write the engineer's audit page (English, log order, rule tags, A4) to FILE; the
        /// member's page is annual-statement.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    /// Check the whole log: positions, hash chain, decoding, member versions, every amount
    /// recomputed, and checkpoints against a replay. Exit 1 names the first broken position.
    /// With --witness FILE, check instead that the log continues a checkpoint exported earlier.
    Verify {
        /// A signed checkpoint exported earlier (`checkpoint export`): exit 1 when the log was
        /// rolled back or rewritten since.
        #[arg(long, value_name = "FILE")]
        witness: Option<PathBuf>,
    },
    /// Write a new Ed25519 signing key to FILE (mode 0600) and print its public key.
    Keygen {
        /// The key file to create (it must not exist).
        file: PathBuf,
    },
    /// Signed checkpoints of the log.
    Checkpoint {
        #[command(subcommand)]
        action: CheckpointAction,
    },
    /// Rebuild every projection from the log (or, with --as-of, fold what was in force on a date
    /// and print totals, writing nothing).
    Replay {
        /// Fold only events effective on or before this date (YYYY-MM-DD).
        #[arg(long = "as-of")]
        as_of: Option<String>,
    },
    /// Which events changed which figure between two points (each a date YYYY-MM-DD, a log
    /// position, both as P@YYYY-MM-DD, or issued:YEAR: the member's statement of YEAR as issued).
    Diff {
        /// The member id (UUID).
        member: String,
        /// The earlier point.
        #[arg(long)]
        from: String,
        /// The later point.
        #[arg(long)]
        to: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write a member's self-contained dispute file (events with hashes, year-end accounts,
    /// statement).
    Dossier {
        /// The member id (UUID).
        member: String,
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// A member's annual statement (年度对账单) of a year: text, --json, an A4 page in Chinese
    /// (--html) or a PDF (--pdf, with Chromium); or every member of --region into --out DIR.
    /// --issue records it as issued (statement_issued).
    AnnualStatement(annual::AnnualArgs),
    /// Check a dossier offline (hashes, versions, replayed figures, digest); with
    /// --against-ledger also against the ledger at --data.
    VerifyDossier {
        /// The dossier file.
        file: PathBuf,
        /// Also check that every event is the one the ledger at --data holds.
        #[arg(long)]
        against_ledger: bool,
    },
    /// Build a ledger from the shipped sample, print statements and a summary (safe to rerun).
    Demo,
    /// Submit a seeded synthetic population (realistic careers) in batches, for scale runs;
    /// prints events/s, disk size and peak memory.
    Load {
        /// Number of members.
        #[arg(long, default_value_t = 1000)]
        members: u32,
        /// Years of contributions per member.
        #[arg(long, default_value_t = 20)]
        years: u32,
        /// Seed of the population.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// First contribution year.
        #[arg(long = "start-year", default_value_t = 1998)]
        start_year: i32,
    },
    /// Read the policy data: every figure in force on a date with its source, or check a
    /// directory of policy files without opening a ledger.
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Serve the ledger over HTTP (docs/CONTRACT.md "HTTP service") until SIGTERM; prints
    /// `listening on ADDR` once it accepts connections. SIGHUP reads the tokens file again.
    Serve {
        /// Address to listen on (`127.0.0.1:0` picks a free port).
        #[arg(long, value_name = "ADDR")]
        listen: String,
        /// The clients: a JSON array of {"name", "token_sha256", "roles"}; without it every
        /// request but /v1/health is refused.
        #[arg(long, value_name = "FILE")]
        tokens: Option<PathBuf>,
    },
    /// Internal: opens and closes the sled database at --data so that sled writes the snapshot
    /// of its page table, then exits with --exit-status (run by the process itself after it
    /// appended many events; see src/cli/page_table.rs).
    #[command(hide = true, name = "snapshot-page-table")]
    SnapshotPageTable {
        /// The status to exit with.
        #[arg(long = "exit-status", default_value_t = EXIT_OK)]
        exit_status: u8,
        /// Print how long it took.
        #[arg(long)]
        report: bool,
    },
    /// Copy a ledger's log to another location (sled directory ↔ PostgreSQL), every event
    /// verbatim with its position and hashes; rebuild the projections there and verify it.
    Migrate {
        /// The ledger to copy (a directory or a PostgreSQL URL).
        #[arg(long, value_name = "DATA")]
        from: PathBuf,
        /// The new ledger, which must hold no event (a directory or a PostgreSQL URL).
        #[arg(long, value_name = "DATA")]
        to: PathBuf,
    },
}

/// What `policy` does.
#[derive(Subcommand, Debug)]
enum PolicyAction {
    /// Print every figure of REGION in force on a date, each with its source (from the shipped
    /// policies, or --policy-dir).
    Explain {
        /// The region key, e.g. luzhou.
        region: String,
        /// The date (YYYY-MM-DD); default today.
        #[arg(long)]
        date: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Validate a directory of policy files (one REGION.json per region) as a ledger would at
    /// open, without opening one. Exit 1 names the file, the place and the reason.
    Check {
        /// The directory.
        dir: PathBuf,
    },
}

/// What `checkpoint` does.
#[derive(Subcommand, Debug)]
enum CheckpointAction {
    /// Write the latest signed checkpoint of the whole log (signed now when events arrived
    /// since), for a witness to keep.
    Export {
        /// The file to write (standard output by default).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// Parses the arguments, runs the subcommand, and returns its exit status.
pub fn main() -> ExitCode {
    let args = Args::parse();
    if let Sub::SnapshotPageTable {
        exit_status,
        report,
    } = args.command
    {
        return ExitCode::from(page_table::run(&args.data, exit_status, report));
    }
    let format = match args.log_format.as_str() {
        "json" => LogFormat::Json,
        _ => LogFormat::Text,
    };
    // The server logs every request; the other subcommands only warnings and errors.
    let default_filter = if matches!(args.command, Sub::Serve { .. }) {
        "info"
    } else {
        "warn"
    };
    member_ledger::server::init_logging(format, default_filter);
    if let Some(dir) = &args.policy_dir {
        match PolicySet::from_dir(dir) {
            Ok(policies) => {
                let _ = POLICIES.set(policies);
            }
            Err(e) => {
                return ExitCode::from(fail(format!(
                    "refusing the policies in {}: {e}",
                    dir.display()
                )))
            }
        }
    }
    match seal::load_signer(args.signing_key.as_deref()) {
        Ok(signer) => {
            let _ = SIGNER.set(signer);
        }
        Err(e) => return ExitCode::from(fail(e)),
    }
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
    // The commands that print their own figures print the page-table step's too.
    let report = matches!(args.command, Sub::Load { .. } | Sub::Replay { .. });
    let status = runtime.block_on(dispatch(args));
    // Every ledger handle is closed once the runtime has stopped.
    drop(runtime);
    ExitCode::from(page_table::after_appends(status, report))
}

/// Runs the subcommand: on a running server with `--server`, else on the ledger at `--data`.
async fn dispatch(args: Args) -> u8 {
    let remote = match args.server.as_deref().map(remote::Remote::new).transpose() {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let data = args.data;
    if remote.is_some()
        && !matches!(
            args.command,
            Sub::Submit { .. } | Sub::Account { .. } | Sub::Statement { .. }
        )
    {
        return fail(
            "--server works with submit, account and statement; the other subcommands read \
             the ledger itself: run them where it lives (on a held directory, stop the server first)",
        );
    }
    match args.command {
        Sub::Submit { file } => submit::run(&data, file, remote).await,
        Sub::Account {
            member,
            as_of,
            at,
            json,
        } => {
            let view = query::AccountArgs {
                member: &member,
                as_of: as_of.as_deref(),
                at,
                json,
            };
            query::account(&data, view, remote.as_ref()).await
        }
        Sub::Statement {
            member,
            from,
            to,
            json,
            explain,
            html,
        } => {
            let format = match (&html, json) {
                (Some(path), _) => query::StatementFormat::Html(path),
                (None, true) => query::StatementFormat::Json,
                (None, false) => query::StatementFormat::Text { explain },
            };
            let range = (from.as_deref(), to.as_deref());
            query::statement(&data, &member, range, format, remote.as_ref()).await
        }
        other => run_local(&data, other).await,
    }
}

/// The subcommands that work on the ledger's own files only.
async fn run_local(data: &Path, command: Sub) -> u8 {
    match command {
        Sub::Verify { witness: None } => audit::verify(data).await,
        Sub::Verify {
            witness: Some(file),
        } => seal::verify_witness(data, &file).await,
        Sub::Keygen { file } => seal::keygen(&file),
        Sub::Checkpoint {
            action: CheckpointAction::Export { out },
        } => seal::export(data, out.as_deref()).await,
        Sub::Replay { as_of } => audit::replay(data, as_of.as_deref()).await,
        Sub::Diff {
            member,
            from,
            to,
            json,
        } => audit::diff(data, &member, &from, &to, json).await,
        Sub::Dossier { member, out } => audit::dossier(data, &member, &out).await,
        Sub::VerifyDossier {
            file,
            against_ledger,
        } => audit::verify_dossier_file(data, &file, against_ledger).await,
        Sub::AnnualStatement(annual_args) => annual::run(data, annual_args).await,
        Sub::Demo => demo::run(data).await,
        Sub::Load {
            members,
            years,
            seed,
            start_year,
        } => {
            let population = member_ledger::synthetic::Population {
                seed,
                members,
                years,
                start_year,
            };
            load::run(data, population).await
        }
        Sub::Policy { action } => match action {
            PolicyAction::Explain { region, date, json } => {
                let policies = POLICIES.get_or_init(PolicySet::shipped);
                policy::explain(policies, &region, date.as_deref(), json)
            }
            PolicyAction::Check { dir } => policy::check(&dir),
        },
        Sub::Migrate { from, to } => {
            let policies = POLICIES.get_or_init(PolicySet::shipped).clone();
            migrate::run(&from, &to, policies).await
        }
        Sub::Serve { listen, tokens } => serve::run(data, &listen, tokens.as_deref()).await,
        Sub::Submit { .. }
        | Sub::Account { .. }
        | Sub::Statement { .. }
        | Sub::SnapshotPageTable { .. } => fail("internal: a query reached the local dispatch"),
    }
}

/// Prints an error for the operator and returns the failure status.
fn fail(message: impl std::fmt::Display) -> u8 {
    eprintln!("member-ledger: {message}");
    EXIT_FAILURE
}
