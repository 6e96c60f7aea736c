//! `account`, `statement` and `verify`.

use std::path::Path;

use chrono::NaiveDate;

use super::{fail, EXIT_OK, EXIT_REJECTED};
use member_ledger::domain::MemberId;
use member_ledger::projection::{AccountView, ViewAt};
use member_ledger::{Ledger, QueryError};

fn parse_member(text: &str) -> Result<MemberId, String> {
    text.parse()
        .map_err(|_| format!("'{text}' is not a member id (a UUID)"))
}

fn parse_date(text: &str, flag: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("{flag} '{text}' is not a date YYYY-MM-DD"))
}

async fn open(data: &Path) -> Result<Ledger, u8> {
    if !data.exists() {
        return Err(fail(format!("no ledger at {}", data.display())));
    }
    Ledger::open(data)
        .await
        .map_err(|e| fail(format!("cannot open the ledger at {}: {e}", data.display())))
}

fn query_failed(e: QueryError) -> u8 {
    match e {
        QueryError::UnknownMember(m) => {
            eprintln!("member-ledger: member {m} is not enrolled (at that point)");
            EXIT_REJECTED
        }
        other => fail(other),
    }
}

pub(super) async fn account(
    data: &Path,
    member: &str,
    as_of: Option<&str>,
    at: Option<u64>,
    json: bool,
) -> u8 {
    let member = match parse_member(member) {
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    let view_at = match (as_of, at) {
        (Some(_), Some(_)) => return fail("give --as-of or --at, not both"),
        (Some(d), None) => match parse_date(d, "--as-of") {
            Ok(d) => ViewAt::AsOf(d),
            Err(e) => return fail(e),
        },
        (None, Some(p)) => ViewAt::Position(p),
        (None, None) => ViewAt::Head,
    };
    let ledger = match open(data).await {
        Ok(l) => l,
        Err(status) => return status,
    };
    match ledger.account(member, view_at).await {
        Ok(view) if json => {
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

fn account_text(v: &AccountView) -> String {
    let mut out = format!(
        "member    {}\nregion    {} ({:?} scheme)\n",
        v.member, v.region, v.scheme
    );
    let from = v
        .benefits_from
        .map_or_else(|| "-".to_string(), |d| d.to_string());
    out.push_str(&format!(
        "status    {:?} on {}, benefits from {from}\n",
        v.status, v.as_of
    ));
    out.push_str(&format!(
        "balance   {} (credited {}, debited {})\n",
        v.balance, v.credited, v.debited
    ));
    out.push_str(&format!(
        "months    {} actual + {} deemed = {}\n",
        v.months.actual, v.months.deemed, v.months.total
    ));
    out.push_str("year  months        base    employee    employer     account    refunded\n");
    for y in &v.years {
        out.push_str(&format!(
            "{}  {:>6} {:>11} {:>11} {:>11} {:>11} {:>11}\n",
            y.year, y.months, y.base, y.employee, y.employer, y.personal_account, y.refunded
        ));
    }
    out.push_str(&format!("position  {}\n", v.position));
    out
}

pub(super) async fn statement(
    data: &Path,
    member: &str,
    from: Option<&str>,
    to: Option<&str>,
    json: bool,
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
    let ledger = match open(data).await {
        Ok(l) => l,
        Err(status) => return status,
    };
    match ledger.statement(member, from, to).await {
        Ok(s) if json => {
            println!("{}", serde_json::to_string(&s).unwrap_or_default());
            EXIT_OK
        }
        Ok(s) => {
            print!("{}", s.to_text());
            EXIT_OK
        }
        Err(e) => query_failed(e),
    }
}

pub(super) async fn verify(data: &Path) -> u8 {
    let ledger = match open(data).await {
        Ok(l) => l,
        Err(status) => return status,
    };
    match member_ledger::verify::verify(&ledger).await {
        Ok(report) => {
            println!("{report}");
            if report.is_clean() {
                EXIT_OK
            } else {
                EXIT_REJECTED
            }
        }
        Err(e) => {
            println!("verify: the log is damaged: {e}");
            EXIT_REJECTED
        }
    }
}
