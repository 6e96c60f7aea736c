//! `account` and `statement`.

use std::path::Path;

use chrono::NaiveDate;

use super::common::{open, parse_date, parse_member, query_failed};
use super::remote::{Remote, RemoteError};
use super::{fail, EXIT_OK, EXIT_REJECTED};
use member_ledger::domain::{wire_name, MemberId};
use member_ledger::projection::{AccountView, Statement, ViewAt};
use member_ledger::Ledger;

/// What `account` was asked.
pub(super) struct AccountArgs<'a> {
    /// The member id as typed.
    pub member: &'a str,
    /// `--as-of`.
    pub as_of: Option<&'a str>,
    /// `--at`.
    pub at: Option<u64>,
    /// `--json`.
    pub json: bool,
}

pub(super) async fn account(data: &Path, args: AccountArgs<'_>, remote: Option<&Remote>) -> u8 {
    let member = match parse_member(args.member) {
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    let as_of = match args.as_of.map(|d| parse_date(d, "--as-of")).transpose() {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let view_at = ViewAt::from_options(as_of, args.at);
    if let Some(remote) = remote {
        return remote_account(remote, member, view_at, args.json).await;
    }
    let ledger = match open(data).await {
        Ok(l) => l,
        Err(status) => return status,
    };
    match ledger.account(member, view_at).await {
        Ok(view) if args.json => {
            println!("{}", serde_json::to_string(&view).unwrap_or_default());
            EXIT_OK
        }
        Ok(view) => {
            print!("{}", account_text(&view));
            EXIT_OK
        }
        Err(e) => query_failed(e),
    }
}

/// `account` through a server: the JSON as the server sent it, or the same text.
async fn remote_account(remote: &Remote, member: MemberId, at: ViewAt, json: bool) -> u8 {
    let query = match at {
        ViewAt::Head => String::new(),
        ViewAt::AsOf(d) => format!("?as_of={d}"),
        ViewAt::Position(p) => format!("?at={p}"),
        ViewAt::AsOfAt(d, p) => format!("?as_of={d}&at={p}"),
    };
    let body = match remote_get(remote, format!("/v1/members/{member}/account{query}")).await {
        Ok(b) => b,
        Err(status) => return status,
    };
    if json {
        println!("{}", body.trim_end());
        return EXIT_OK;
    }
    match serde_json::from_str::<AccountView>(&body) {
        Ok(view) => {
            print!("{}", account_text(&view));
            EXIT_OK
        }
        Err(e) => fail(format!("the server's account view does not read: {e}")),
    }
}

/// A GET on the server, off the runtime; an unknown member is exit 1, any other failure 2.
async fn remote_get(remote: &Remote, path: String) -> Result<String, u8> {
    let remote = remote.clone();
    let answer = tokio::task::spawn_blocking(move || remote.get(&path)).await;
    match answer {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(RemoteError::Refused { code, message, .. })) if code == "unknown_member" => {
            eprintln!("member-ledger: {message}");
            Err(EXIT_REJECTED)
        }
        Ok(Err(e)) => Err(fail(e)),
        Err(e) => Err(fail(format!("the client failed: {e}"))),
    }
}

fn account_text(v: &AccountView) -> String {
    let mut out = format!(
        "member    {}\nregion    {} ({} scheme)\n",
        v.member,
        v.region,
        wire_name(&v.scheme)
    );
    let from = v
        .benefits_from
        .map_or_else(|| "-".to_string(), |d| d.to_string());
    out.push_str(&format!(
        "status    {} on {}, benefits from {from}\n",
        wire_name(&v.status),
        v.as_of
    ));
    out.push_str(&format!(
        "balance   {} (credited {}, debited {})\n",
        v.balance, v.credited, v.debited
    ));
    out.push_str(&format!(
        "months    {} actual + {} deemed = {}\n",
        v.months.actual, v.months.deemed, v.months.total
    ));
    if v.tier != member_ledger::terms::Tier::WithAccount {
        out.push_str(&format!("tier      {}\n", wire_name(&v.tier)));
    }
    if let Some(pension) = v.pension {
        out.push_str(&format!("pension   {pension} a month\n"));
    }
    if let Some(years) = v.consecutive_years {
        out.push_str(&format!("paid      {years} consecutive years\n"));
    }
    let interest = v.years.iter().any(|y| !y.totals.interest.is_zero());
    out.push_str("year  months        base    employee    employer     account    refunded");
    out.push_str(if interest { "    interest\n" } else { "\n" });
    for y in &v.years {
        out.push_str(&format!(
            "{}  {:>6} {:>11} {:>11} {:>11} {:>11} {:>11}",
            y.year,
            y.months,
            y.totals.base,
            y.totals.employee,
            y.totals.employer,
            y.totals.personal_account,
            y.totals.refunded
        ));
        if interest {
            out.push_str(&format!(" {:>11}", y.totals.interest));
        }
        out.push('\n');
    }
    out.push_str(&format!("position  {}\n", v.position));
    out
}

pub(super) async fn statement(
    data: &Path,
    member: &str,
    (from, to): (Option<&str>, Option<&str>),
    format: StatementFormat<'_>,
    remote: Option<&Remote>,
) -> u8 {
    let member = match parse_member(member) {
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    let parse = |d: Option<&str>, flag: &str| d.map(|d| parse_date(d, flag)).transpose();
    let (from, to) = match (parse(from, "--from"), parse(to, "--to")) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => return fail(e),
    };
    let source = match remote {
        Some(remote) => Source::Remote(remote),
        None => match open(data).await {
            Ok(l) => Source::Local(l),
            Err(status) => return status,
        },
    };
    let statement = match source.statement(member, from, to).await {
        Ok(s) => s,
        Err(status) => return status,
    };
    match format {
        StatementFormat::Json => {
            println!("{}", serde_json::to_string(&statement).unwrap_or_default());
        }
        StatementFormat::Text { explain: false } => print!("{}", statement.to_text()),
        StatementFormat::Text { explain: true } => print!("{}", statement.to_explained_text()),
        StatementFormat::Html(path) => {
            let view = match source.account(member).await {
                Ok(v) => v,
                Err(status) => return status,
            };
            let page = member_ledger::audit::html::statement_page(&view, &statement);
            if let Err(e) = std::fs::write(path, page) {
                return fail(format!("cannot write {}: {e}", path.display()));
            }
            println!("statement page written to {}", path.display());
        }
    }
    EXIT_OK
}

/// Where a statement's figures come from.
enum Source<'a> {
    /// The ledger opened here.
    Local(Ledger),
    /// A running server.
    Remote(&'a Remote),
}

impl Source<'_> {
    async fn statement(
        &self,
        member: MemberId,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Statement, u8> {
        match self {
            Source::Local(ledger) => ledger
                .statement(member, from, to)
                .await
                .map_err(query_failed),
            Source::Remote(remote) => {
                let range: Vec<String> = [("from", from), ("to", to)]
                    .iter()
                    .filter_map(|(name, d)| d.map(|d| format!("{name}={d}")))
                    .collect();
                let query = if range.is_empty() {
                    String::new()
                } else {
                    format!("?{}", range.join("&"))
                };
                let path = format!("/v1/members/{member}/statement{query}");
                let body = remote_get(remote, path).await?;
                serde_json::from_str(&body)
                    .map_err(|e| fail(format!("the server's statement does not read: {e}")))
            }
        }
    }

    async fn account(&self, member: MemberId) -> Result<AccountView, u8> {
        match self {
            Source::Local(ledger) => ledger
                .account(member, ViewAt::Head)
                .await
                .map_err(query_failed),
            Source::Remote(remote) => {
                let body = remote_get(remote, format!("/v1/members/{member}/account")).await?;
                serde_json::from_str(&body)
                    .map_err(|e| fail(format!("the server's account view does not read: {e}")))
            }
        }
    }
}

/// How `statement` prints.
pub(super) enum StatementFormat<'a> {
    /// Text for a clerk, with the rules under each line when explaining.
    Text {
        /// Show each event's rule, effect and running totals.
        explain: bool,
    },
    /// JSON for services (the explanation is in the fields).
    Json,
    /// A static page written to a file.
    Html(&'a Path),
}
