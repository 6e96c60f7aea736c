//! `annual-statement`: a member's annual statement (年度对账单) as text, JSON, an HTML page or a
//! PDF, or every statement of a region's members into a directory; `--issue` records each as
//! issued (`issue_statement`, docs/RULES.md §12 R15).

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::browser::{find_chromium, print_pdf};
use super::common::progress_bar;
use super::common::{open, parse_date, parse_member, query_failed};
use super::{fail, EXIT_OK, EXIT_REJECTED};
use member_ledger::domain::{Command, MemberId};
use member_ledger::projection::annual::page::{render_html, render_text, Register};
use member_ledger::projection::AnnualStatement;
use member_ledger::{Ledger, QueryError};

/// The arguments of `annual-statement`.
#[derive(clap::Args, Debug)]
pub(super) struct AnnualArgs {
    /// The member id (UUID); leave it out with --region.
    member: Option<String>,
    /// The calendar year of the statement.
    #[arg(long)]
    year: i32,
    /// Every member of this region who has a statement of the year (with --out).
    #[arg(long, conflicts_with = "member", requires = "out")]
    region: Option<String>,
    /// The directory the region's statements are written to (MEMBER.html, and .pdf / .json).
    #[arg(long, value_name = "DIR", requires = "region")]
    out: Option<PathBuf>,
    /// Write the page (HTML, A4, Chinese) to FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "region")]
    html: Option<PathBuf>,
    /// Print the page to a PDF FILE with headless Chromium; with --region, no FILE: a PDF beside
    /// each page.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pdf: Option<Option<PathBuf>>,
    /// Print the statement as JSON (with --region: a MEMBER.json beside each page).
    #[arg(long)]
    json: bool,
    /// The deployment's register: a JSON map of member id to {"name", "id_card", "address"},
    /// shown in the page's holder slots.
    #[arg(long, value_name = "FILE")]
    register: Option<PathBuf>,
    /// Record the statement as issued (append `statement_issued` unless this statement, same
    /// figures and template, was issued before).
    #[arg(long)]
    issue: bool,
    /// The issue date (YYYY-MM-DD; default today).
    #[arg(long, value_name = "DATE", requires = "issue")]
    date: Option<String>,
}

/// What the statement is printed to, for one member.
struct Outputs<'a> {
    html: Option<&'a Path>,
    pdf: Option<&'a Path>,
    json: bool,
}

pub(super) async fn run(data: &Path, args: AnnualArgs) -> u8 {
    let register = match load_register(args.register.as_deref()) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let date = match args.date.as_deref().map(|d| parse_date(d, "--date")) {
        Some(Ok(d)) => d,
        Some(Err(e)) => return fail(e),
        None => chrono::Local::now().date_naive(),
    };
    let ledger = match open(data).await {
        Ok(l) => l,
        Err(status) => return status,
    };
    match (&args.member, &args.region, &args.out) {
        (Some(member), None, None) => {
            let member = match parse_member(member) {
                Ok(m) => m,
                Err(e) => return fail(e),
            };
            let outputs = Outputs {
                html: args.html.as_deref(),
                pdf: match &args.pdf {
                    Some(Some(file)) => Some(file.as_path()),
                    Some(None) => return fail("--pdf needs a FILE for one member"),
                    None => None,
                },
                json: args.json,
            };
            let issue = args.issue.then_some(date);
            one(&ledger, member, args.year, issue, &register, &outputs).await
        }
        (None, Some(region), Some(out)) => {
            let batch = Batch {
                region,
                year: args.year,
                out,
                pdf: args.pdf.is_some(),
                json: args.json,
                issue: args.issue.then_some(date),
            };
            region_run(&ledger, &batch, &register).await
        }
        _ => fail("give a MEMBER, or --region R with --out DIR"),
    }
}

fn load_register(path: Option<&Path>) -> Result<Register, String> {
    let Some(path) = path else {
        return Ok(Register::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the register {}: {e}", path.display()))?;
    Register::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Submits `issue_statement`; returns how many statements it recorded, or the exit status.
async fn issue(ledger: &Ledger, command: Command) -> Result<usize, u8> {
    match ledger.submit(command, None).await {
        Ok(receipt) => Ok(receipt.events.len()),
        Err(e) => {
            eprintln!(
                "member-ledger: the statement was not issued ({}): {e}",
                e.code()
            );
            Err(EXIT_REJECTED)
        }
    }
}

async fn one(
    ledger: &Ledger,
    member: MemberId,
    year: i32,
    issue_on: Option<NaiveDate>,
    register: &Register,
    outputs: &Outputs<'_>,
) -> u8 {
    if let Some(date) = issue_on {
        let command = Command::IssueStatement {
            member: Some(member),
            region: None,
            year,
            date: Some(date),
        };
        match issue(ledger, command).await {
            Ok(0) => println!("annual-statement: this statement of {year} was issued before, as it stands; nothing recorded"),
            Ok(_) => println!("annual-statement: the statement of {year} is recorded as issued on {date}"),
            Err(status) => return status,
        }
    }
    let statement = match ledger.annual_statement(member, year).await {
        Ok(s) => s,
        Err(QueryError::UnknownMember(m)) => {
            eprintln!(
                "member-ledger: member {m} has no statement of {year} (not enrolled by its end)"
            );
            return EXIT_REJECTED;
        }
        Err(e) => return query_failed(e),
    };
    match write_one(&statement, register, outputs) {
        Ok(()) => EXIT_OK,
        Err(e) => fail(e),
    }
}

fn write_one(
    statement: &AnnualStatement,
    register: &Register,
    outputs: &Outputs<'_>,
) -> Result<(), String> {
    if outputs.json {
        let text = serde_json::to_string(statement).map_err(|e| e.to_string())?;
        println!("{text}");
    }
    let pdf = outputs.pdf;
    if outputs.html.is_none() && pdf.is_none() {
        if !outputs.json {
            print!(
                "{}",
                render_text(statement, register).map_err(|e| e.to_string())?
            );
        }
        return Ok(());
    }
    let page = render_html(statement, register).map_err(|e| e.to_string())?;
    if let Some(path) = outputs.html {
        write(path, &page)?;
        println!("annual-statement: page written to {}", path.display());
    }
    if let Some(path) = pdf {
        to_pdf(&page, outputs.html, path)?;
        println!("annual-statement: PDF written to {}", path.display());
    }
    Ok(())
}

/// Prints `page` to `pdf`, from the HTML file already written or from one beside the PDF.
fn to_pdf(page: &str, html: Option<&Path>, pdf: &Path) -> Result<(), String> {
    let chromium = find_chromium().ok_or(
        "no Chromium found (install the package `chromium`, or set MEMBER_LEDGER_CHROMIUM); write --html and print it instead",
    )?;
    let (source, temporary) = match html {
        Some(h) => (h.to_path_buf(), false),
        None => (pdf.with_extension("print.html"), true),
    };
    if temporary {
        write(&source, page)?;
    }
    let printed = print_pdf(&chromium, &source, pdf);
    if temporary {
        let _ = std::fs::remove_file(&source);
    }
    printed
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The batch form's settings.
struct Batch<'a> {
    region: &'a str,
    year: i32,
    out: &'a Path,
    pdf: bool,
    json: bool,
    issue: Option<NaiveDate>,
}

async fn region_run(ledger: &Ledger, batch: &Batch<'_>, register: &Register) -> u8 {
    let (region, year) = (batch.region, batch.year);
    if let Err(e) = std::fs::create_dir_all(batch.out) {
        return fail(format!("cannot make {}: {e}", batch.out.display()));
    }
    let mut issued = 0;
    if let Some(date) = batch.issue {
        let command = Command::IssueStatement {
            member: None,
            region: Some(region.to_string()),
            year,
            date: Some(date),
        };
        issued = match issue(ledger, command).await {
            Ok(n) => n,
            Err(status) => return status,
        };
    }
    let members = match ledger.annual_members(region, year).await {
        Ok(m) => m,
        Err(e) => return query_failed(e),
    };
    let bar = progress_bar("annual statements");
    bar.set_length(u64::try_from(members.len()).unwrap_or(u64::MAX));
    for member in &members {
        if let Err(e) = region_member(ledger, batch, register, *member).await {
            bar.finish_and_clear();
            return fail(e);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "annual-statement: {} statements of {year} for region {region} written to {}{}",
        members.len(),
        batch.out.display(),
        batch.issue.map_or_else(String::new, |d| format!(
            "; {issued} recorded as issued on {d} (the others were issued before as they stand)"
        ))
    );
    EXIT_OK
}

async fn region_member(
    ledger: &Ledger,
    batch: &Batch<'_>,
    register: &Register,
    member: MemberId,
) -> Result<(), String> {
    let statement = ledger
        .annual_statement(member, batch.year)
        .await
        .map_err(|e| e.to_string())?;
    let base = batch.out.join(member.to_string());
    let html = base.with_extension("html");
    let page = render_html(&statement, register).map_err(|e| e.to_string())?;
    write(&html, &page)?;
    if batch.json {
        let text = serde_json::to_string_pretty(&statement).map_err(|e| e.to_string())?;
        write(&base.with_extension("json"), &text)?;
    }
    if batch.pdf {
        to_pdf(&page, Some(&html), &base.with_extension("pdf"))?;
    }
    Ok(())
}
