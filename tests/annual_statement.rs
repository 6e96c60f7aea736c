//! docs/RULES.md §12 R15, the annual statement (年度对账单): its figures, issuing it, corrections after
//! it, its page, the command line, and the page in a real headless browser.

mod common;

use common::{event_json, given};
use member_ledger::domain::{parse_command, Command};
use member_ledger::policy::PolicySet;
use member_ledger::projection::annual::digest::canonical_text;
use member_ledger::projection::annual::page::{render_html, template_version, Register};
use member_ledger::projection::annual::LineKind;
use member_ledger::projection::Point;
use member_ledger::projection::{AnnualStatement, ViewAt};
use member_ledger::{Ledger, SubmitError};
use sha2::{Digest, Sha256};

const A: &str = "00000000-0000-4000-8000-0000000a0001";
const B: &str = "00000000-0000-4000-8000-0000000a0002";
const C: &str = "00000000-0000-4000-8000-0000000a0003";
const D: &str = "00000000-0000-4000-8000-0000000a0004";
const E: &str = "00000000-0000-4000-8000-0000000a0005";

fn id(member: &str) -> member_ledger::domain::MemberId {
    member.parse().expect("member id")
}

fn enroll(member: &str, region: &str, date: &str) -> String {
    format!(
        r#"{{"type":"enroll","member":"{member}","region":"{region}","scheme":"employee","sex":"female","birth_date":"1990-01-01","date":"{date}"}}"#
    )
}

/// An employer's contribution on a wage of 8,000.00 (Luzhou since 2023: 160.00 to the account).
fn contribute(member: &str, month: &str) -> String {
    format!(
        r#"{{"type":"contribute","member":"{member}","month":"{month}","wage":"8000.00","payer":"employer"}}"#
    )
}

fn contribute_posted(member: &str, month: &str, date: &str) -> String {
    format!(
        r#"{{"type":"contribute","member":"{member}","month":"{month}","wage":"8000.00","payer":"employer","date":"{date}"}}"#
    )
}

fn spend(member: &str, date: &str, amount: &str, key: &str) -> String {
    format!(
        r#"{{"type":"spend","member":"{member}","date":"{date}","amount":"{amount}","purpose":"pharmacy","key":"{key}"}}"#
    )
}

fn issue(member: &str, year: i32, date: &str) -> String {
    format!(r#"{{"type":"issue_statement","member":"{member}","year":{year},"date":"{date}"}}"#)
}

async fn submit(ledger: &Ledger, line: &str) -> Result<member_ledger::Receipt, SubmitError> {
    ledger.submit_json(line).await
}

/// The id of the event a keyed command appended.
async fn event_of(ledger: &Ledger, line: &str) -> uuid::Uuid {
    let receipt = submit(ledger, line).await.expect("accepted");
    receipt.events[0].event_id
}

async fn statement(ledger: &Ledger, member: &str, year: i32) -> AnnualStatement {
    ledger
        .annual_statement(id(member), year)
        .await
        .expect("statement")
}

fn money(s: &str) -> member_ledger::money::Money {
    member_ledger::money::Money::parse(s).expect("money")
}

/// Given contributions for January to March and a spend, posted out of date order, and a
/// double posting that is reversed, when the 2024 statement is built, then its lines run in
/// effective-date order with the reversed charge and its reversal left out, and the balance
/// after each line is the balance on that date.
#[tokio::test]
async fn r15_lines_run_in_effective_date_order_with_reversals_netted_out() {
    let (_dir, l) = given(&[
        enroll(A, "luzhou", "2024-01-01"),
        contribute(A, "2024-01"),
        contribute(A, "2024-02"),
        spend(A, "2024-02-10", "50.00", "s-1"),
        contribute(A, "2024-03"),
        spend(A, "2024-02-20", "30.00", "s-2"),
    ])
    .await;
    let twice = event_of(&l, &spend(A, "2024-02-10", "50.00", "s-1-again")).await;
    let reverse = format!(r#"{{"type":"reverse","event":"{twice}","reason":"posted twice"}}"#);
    submit(&l, &reverse).await.expect("reversed");

    let s = statement(&l, A, 2024).await;
    assert_eq!(s.opening.balance, money("0.00"));
    let got: Vec<String> = s
        .lines
        .iter()
        .map(|x| {
            format!(
                "{} {} +{} -{} = {}",
                x.date,
                x.kind.as_str(),
                x.credit,
                x.debit,
                x.balance
            )
        })
        .collect();
    let want = [
        "2024-01-31 contribution +160.00 -0.00 = 160.00",
        "2024-02-10 spending +0.00 -50.00 = 110.00",
        "2024-02-20 spending +0.00 -30.00 = 80.00",
        "2024-02-29 contribution +160.00 -0.00 = 240.00",
        "2024-03-31 contribution +160.00 -0.00 = 400.00",
    ];
    assert_eq!(got, want);
    assert_eq!(s.netted.len(), 1);
    assert_eq!(s.netted[0].balance_change, money("-50.00"));
    assert_eq!(s.netted[0].reason, "posted twice");
    assert_eq!(s.totals.credits, money("480.00"));
    assert_eq!(s.totals.debits, money("80.00"));
    let month_ends: Vec<String> = s.months.iter().map(|m| m.balance.to_string()).collect();
    assert_eq!(month_ends[..4], ["160.00", "240.00", "400.00", "400.00"]);
    assert_eq!(month_ends[11], "400.00");
    let year_end = l
        .account(id(A), ViewAt::AsOf("2024-12-31".parse().expect("date")))
        .await
        .expect("as of");
    assert_eq!(s.closing.balance, year_end.balance);
    assert_eq!(s.closing.debited, year_end.debited);
    assert_eq!(s.closing.months_total, 3);
}

/// Given a December contribution posted on 15 January, when the statements are built, then it
/// is on the next year's statement (the balance on 31 December did not have it), labelled with
/// its month, and the page says why.
#[tokio::test]
async fn r15_a_december_contribution_posted_in_january_is_on_the_next_years_statement() {
    let (_dir, l) = given(&[
        enroll(A, "luzhou", "2024-11-01"),
        contribute(A, "2024-11"),
        contribute_posted(A, "2024-12", "2025-01-15"),
    ])
    .await;
    let y2024 = statement(&l, A, 2024).await;
    assert_eq!(y2024.lines.len(), 1);
    assert_eq!(y2024.closing.balance, money("160.00"));
    assert_eq!(y2024.closing.months_actual, 1);
    assert_eq!(y2024.year_row.as_ref().map(|r| r.months), Some(1));
    let y2025 = statement(&l, A, 2025).await;
    assert_eq!(y2025.opening.balance, money("160.00"));
    assert_eq!(y2025.lines.len(), 1);
    assert_eq!(
        y2025.lines[0].month.map(|m| m.to_string()),
        Some("2024-12".into())
    );
    assert_eq!(y2025.lines[0].date.to_string(), "2025-01-15");
    assert_eq!(y2025.closing.balance, money("320.00"));
    assert_eq!(y2025.closing.months_actual - y2025.opening.months_actual, 1);
    let page = render_html(&y2025, &Register::default()).expect("page");
    assert!(
        page.contains("2024年12月单位缴费划入"),
        "the line names its month"
    );
    assert!(page.contains("列在到账的年度"), "the page says why");
    let page_2024 = render_html(&y2024, &Register::default()).expect("page");
    assert!(!page_2024.contains("列在到账的年度"));
}

/// Given the interest example region's history (tests/interest.rs: 10,000.00 in on 2024-12-01,
/// 1,000.00 credited on 2025-07-01, 5,000.00 spent on 2025-10-01) and both years' interest
/// credited (3.01 for 2024, 101.21 for 2025, worked there), when the statements are built, then
/// each year's interest is a line of 利息 on 31 December, counted in the year's totals and in
/// December's row, and the closing balance is the account's on 31 December.
#[tokio::test]
async fn r15_interest_credited_is_a_line_of_its_year_and_in_the_totals() {
    let m = "00000000-0000-4000-8000-0000000a0601";
    let (_dir, l) = common::given_with(
        common::example_policies(),
        &[
            enroll(m, "interest", "2024-01-01"),
            format!(r#"{{"type":"transfer_in","member":"{m}","date":"2024-12-01","from_region":"elsewhere","balance":"10000.00","months":0}}"#),
            format!(r#"{{"type":"contribute","member":"{m}","month":"2025-06","wage":"50000.00","payer":"employer","date":"2025-07-01"}}"#),
            format!(r#"{{"type":"spend","member":"{m}","date":"2025-10-01","amount":"5000.00","purpose":"inpatient"}}"#),
            format!(r#"{{"type":"credit_interest","year":2024,"member":"{m}"}}"#),
            format!(r#"{{"type":"credit_interest","year":2025,"member":"{m}"}}"#),
        ],
    )
    .await;
    let y2024 = statement(&l, m, 2024).await;
    let last = y2024.lines.last().expect("a line");
    assert_eq!(
        (last.date.to_string(), last.kind, last.credit, last.balance),
        (
            "2024-12-31".into(),
            LineKind::Interest,
            money("3.01"),
            money("10003.01")
        )
    );
    assert_eq!(y2024.totals.interest, money("3.01"));
    assert_eq!(y2024.totals.transfers_in, money("10000.00"));
    assert_eq!(y2024.totals.credits, money("10003.01"));

    let y2025 = statement(&l, m, 2025).await;
    assert_eq!(y2025.opening.balance, money("10003.01"));
    let interest: Vec<_> = y2025
        .lines
        .iter()
        .filter(|x| x.kind == LineKind::Interest)
        .map(|x| (x.date.to_string(), x.credit, x.balance))
        .collect();
    assert_eq!(
        interest,
        [("2025-12-31".to_string(), money("101.21"), money("6104.22"))]
    );
    assert_eq!(y2025.totals.interest, money("101.21"));
    assert_eq!(y2025.totals.contributions, money("1000.00"));
    assert_eq!(y2025.totals.credits, money("1101.21"));
    assert_eq!(y2025.totals.debits, money("5000.00"));
    assert_eq!(y2025.months[11].totals.interest, money("101.21"));
    assert_eq!(y2025.closing.balance, money("6104.22"));
    let as_of = chrono::NaiveDate::from_ymd_opt(2025, 12, 31).expect("date");
    let view = l.account(id(m), ViewAt::AsOf(as_of)).await.expect("view");
    assert_eq!(y2025.closing.balance, view.balance);
    let row = y2025.year_row.as_ref().expect("2025 row");
    assert_eq!(row.totals.interest, money("101.21"));
    assert!(canonical_text(&y2025).contains("\nline 2025-12-31 interest - 101.21 0.00 6104.22\n"));
    let page = render_html(&y2025, &Register::default()).expect("page");
    assert!(page.contains("个人账户利息"), "the line says interest");
    assert!(page.contains("¥101.21"));
    assert!(page.contains("按年计息"), "the page explains interest");
}

/// Given contributions for January to April and a death recorded afterwards on 2024-02-10
/// (R11 voids March and April), when the 2024 statement is built, then each voided month is a
/// debit line of its own, dated on its contribution's date and labelled with its month, counted
/// under other debits, and the closing balance is the two months that stand: 320.00.
#[tokio::test]
async fn r15_a_credit_voided_after_death_is_a_debit_line_beside_its_contribution() {
    let (_dir, l) = given(&[
        enroll(A, "luzhou", "2024-01-01"),
        contribute(A, "2024-01"),
        contribute(A, "2024-02"),
        contribute(A, "2024-03"),
        contribute(A, "2024-04"),
        format!(r#"{{"type":"record_death","member":"{A}","date":"2024-02-10"}}"#),
    ])
    .await;
    let s = statement(&l, A, 2024).await;
    let got: Vec<String> = s
        .lines
        .iter()
        .map(|x| {
            let month = x.month.map_or_else(String::new, |m| m.to_string());
            format!(
                "{} {} {month} +{} -{} = {}",
                x.date,
                x.kind.as_str(),
                x.credit,
                x.debit,
                x.balance
            )
        })
        .collect();
    let want = [
        "2024-01-31 contribution 2024-01 +160.00 -0.00 = 160.00",
        "2024-02-29 contribution 2024-02 +160.00 -0.00 = 320.00",
        "2024-03-31 contribution 2024-03 +160.00 -0.00 = 480.00",
        "2024-03-31 voided 2024-03 +0.00 -160.00 = 320.00",
        "2024-04-30 contribution 2024-04 +160.00 -0.00 = 480.00",
        "2024-04-30 voided 2024-04 +0.00 -160.00 = 320.00",
    ];
    assert_eq!(got, want);
    assert_eq!(s.totals.contributions, money("640.00"));
    assert_eq!(s.totals.other_debits, money("320.00"));
    assert_eq!(s.closing.balance, money("320.00"));
    assert_eq!(s.closing.months_actual, 2);
    let page = render_html(&s, &Register::default()).expect("page");
    assert!(
        page.contains("2024年3月划入作废（死亡后的月份）"),
        "the line says why"
    );
}

/// Given a member, when the 2024 statement is issued, then `statement_issued` carries the
/// digest of the statement's canonical figures, the template version and the year-end figures;
/// the account view does not change; issuing it again as it stands records nothing.
#[tokio::test]
async fn r15_issuing_records_the_figures_digest_and_template_and_nothing_else_changes() {
    let (_dir, l) = given(&[
        enroll(A, "luzhou", "2024-01-01"),
        contribute(A, "2024-01"),
        contribute(A, "2024-02"),
    ])
    .await;
    let before = l.account(id(A), ViewAt::Head).await.expect("view");
    let s = statement(&l, A, 2024).await;
    let text = canonical_text(&s);
    assert!(text.starts_with("member-ledger annual statement figures 1\n"));
    assert!(
        text.contains("\nclosing 320.00 320.00 0.00 2 0 2\n"),
        "{text}"
    );
    assert_eq!(s.digest, hex::encode(Sha256::digest(text.as_bytes())));

    let receipt = submit(&l, &issue(A, 2024, "2025-01-10"))
        .await
        .expect("issued");
    assert_eq!(receipt.events.len(), 1);
    let event = event_json(&receipt.events[0]);
    assert_eq!(event["type"], "statement_issued");
    assert_eq!(event["year"], 2024);
    assert_eq!(event["date"], "2025-01-10");
    assert_eq!(event["digest"], s.digest.as_str());
    assert_eq!(event["figures_form"], 1);
    assert_eq!(event["template_version"], template_version());
    assert_eq!(event["closing_balance"], "320.00");
    assert_eq!(event["months_total"], 2);

    let after = l.account(id(A), ViewAt::Head).await.expect("view");
    assert_eq!(
        (
            after.balance,
            after.status,
            after.as_of,
            after.months.clone()
        ),
        (
            before.balance,
            before.status,
            before.as_of,
            before.months.clone()
        ),
        "a statement changes no figure and no date of the account"
    );
    let again = submit(&l, &issue(A, 2024, "2025-02-01"))
        .await
        .expect("again");
    assert!(
        again.events.is_empty(),
        "the same statement is not issued twice"
    );
    let issued = statement(&l, A, 2024).await;
    assert_eq!(issued.issued.len(), 1);
    assert_eq!(issued.digest, s.digest, "issuing changes no figure");
    let page = render_html(&issued, &Register::default()).expect("page");
    assert!(page.contains("本对账单已于2025年1月10日出具并登记"));
}

/// Given a member whose 2024 statement was issued (closing 320.00) and a correction after it,
/// when the log is verified, then the issued statement's digest is rebuilt from the events
/// before it and reproduces (the correction is not among them); and a `statement_issued` forged
/// straight into the store with figures its events do not give is found, at its position.
#[tokio::test]
async fn r15_verify_rebuilds_each_issued_statement_from_the_events_before_it() {
    // The test keeps the store it hands the ledger: only its owner can append past the rules.
    let dir = tempfile::tempdir().expect("tempdir");
    let store: std::sync::Arc<dyn member_ledger::store::EventStore> =
        std::sync::Arc::new(member_ledger::store::SledStore::open(dir.path()).expect("open"));
    let l = Ledger::with_store(std::sync::Arc::clone(&store), PolicySet::shipped());
    for line in [
        enroll(A, "luzhou", "2024-01-01"),
        contribute(A, "2024-01"),
        contribute(A, "2024-02"),
        issue(A, 2024, "2025-01-10"),
        contribute_posted(A, "2024-03", "2024-03-31"),
    ] {
        l.submit_json(&line).await.expect("accepted");
    }
    let report = l.verify(|_, _| {}).await.expect("verify");
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.statements_reproduced, 1);
    assert!(report.to_string().contains("1 issued statements reproduce"));

    // What the 2024 statement now says (3 months, 480.00) sealed with the old digest.
    let now = statement(&l, A, 2024).await;
    assert_eq!(now.closing.balance, money("480.00"));
    let old = now.corrections.restated[0].issued.digest.clone();
    let forged = member_ledger::domain::Event::StatementIssued {
        year: 2024,
        date: chrono::NaiveDate::from_ymd_opt(2025, 2, 1).expect("date"),
        digest: old,
        figures_form: member_ledger::projection::annual::FIGURES_FORM,
        template_version: template_version().to_string(),
        closing_balance: now.closing.balance,
        months_total: now.closing.months_total,
    };
    let version = l.checkpoint(id(A)).await.expect("state").version;
    let request = member_ledger::store::AppendRequest {
        events: vec![member_ledger::codec::encode(id(A), &forged, "luzhou").expect("encode")],
        expected: vec![(id(A), version)],
        sync: true,
        ..Default::default()
    };
    let ticket = store.append(request);
    let outcome = ticket.applied.await.expect("answer").expect("applied");
    let member_ledger::store::AppendOutcome::Committed(events) = outcome else {
        panic!("not appended: {outcome:?}");
    };
    ticket.durable.await.expect("answer").expect("durable");
    let report = l.verify(|_, _| {}).await.expect("verify");
    let broken = report.broken.expect("found");
    assert_eq!(broken.position, events[0].position);
    assert!(
        broken.reason.contains("does not reproduce"),
        "{}",
        broken.reason
    );
    assert!(
        broken.reason.contains("balance 480.00"),
        "{}",
        broken.reason
    );
}

/// Given members in several situations, when statements are issued, then each refusal has its
/// contract code and writes nothing.
#[tokio::test]
async fn r15_issue_statement_is_refused_with_a_code_and_writes_nothing() {
    let (_dir, l) = given(&[
        enroll(A, "luzhou", "2024-01-01"),
        contribute(A, "2024-01"),
        enroll(B, "luzhou", "2025-03-01"),
        enroll(C, "luzhou", "2020-01-01"),
        contribute(C, "2020-01"),
        format!(r#"{{"type":"suspend","member":"{C}","date":"2023-05-01","reason":"transfer_out"}}"#),
        format!(r#"{{"type":"transfer_out","member":"{C}","date":"2023-06-01","to_region":"chongqing"}}"#),
    ])
    .await;
    let head = l.head().expect("head").position;
    let cases = [
        (issue(A, 2024, "2024-12-31"), "invalid_input"),
        (issue(B, 2024, "2025-01-10"), "invalid_input"),
        (issue(C, 2024, "2025-01-10"), "account_closed"),
        (issue(D, 2024, "2025-01-10"), "unknown_member"),
        (issue(A, 1800, "2025-01-10"), "invalid_input"),
        (
            format!(
                r#"{{"type":"issue_statement","member":"{A}","region":"chongqing","year":2024}}"#
            ),
            "invalid_input",
        ),
        (
            r#"{"type":"issue_statement","region":"atlantis","year":2024}"#.to_string(),
            "unknown_region",
        ),
        (
            r#"{"type":"issue_statement","year":2024}"#.to_string(),
            "invalid_input",
        ),
    ];
    for (line, code) in cases {
        let got = submit(&l, &line).await.map(|_| ()).map_err(|e| e.code());
        assert_eq!(got, Err(code), "{line}");
    }
    assert_eq!(
        l.head().expect("head").position,
        head,
        "nothing was written"
    );
    // A member named with the member's own region is that member.
    let both =
        format!(r#"{{"type":"issue_statement","member":"{A}","region":"luzhou","year":2024}}"#);
    let issued = submit(&l, &both).await.expect("its own region");
    assert_eq!(issued.events.len(), 1);
    // The year the account closed gets its last statement.
    let closed = submit(&l, &issue(C, 2023, "2024-01-05"))
        .await
        .expect("2023");
    assert_eq!(closed.events.len(), 1);
    let last = statement(&l, C, 2023).await;
    assert_eq!(
        last.lines.last().map(|x| x.kind),
        Some(LineKind::TransferOut)
    );
    assert_eq!(last.closing.balance, money("0.00"));
}

/// Given members of two regions, some without a statement of 2024, when the statement is issued
/// for Luzhou, then exactly the Luzhou members enrolled by the year's end whose account was open
/// when it began get one, in one append; without a date it is dated 1 January after the year.
#[tokio::test]
async fn r15_issuing_for_a_region_reaches_each_member_who_has_a_statement() {
    let (_dir, l) = given(&[
        enroll(A, "luzhou", "2024-01-01"),
        contribute(A, "2024-01"),
        enroll(B, "luzhou", "2025-03-01"),
        enroll(C, "luzhou", "2020-01-01"),
        format!(r#"{{"type":"suspend","member":"{C}","date":"2023-05-01","reason":"transfer_out"}}"#),
        format!(r#"{{"type":"transfer_out","member":"{C}","date":"2023-06-01","to_region":"chongqing"}}"#),
        enroll(D, "chongqing", "2024-01-01"),
        format!(
            r#"{{"type":"enroll","member":"{E}","region":"fuzhou","scheme":"resident","sex":"male","birth_date":"2000-01-01","date":"2023-10-01"}}"#
        ),
    ])
    .await;
    assert_eq!(
        l.annual_members("luzhou", 2024).await.expect("members"),
        vec![id(A)]
    );
    let receipt = submit(
        &l,
        r#"{"type":"issue_statement","region":"luzhou","year":2024}"#,
    )
    .await
    .expect("issued");
    let members: Vec<String> = receipt
        .events
        .iter()
        .map(|e| e.member.to_string())
        .collect();
    assert_eq!(members, vec![A.to_string()]);
    assert_eq!(event_json(&receipt.events[0])["date"], "2025-01-01");
    let fuzhou = submit(
        &l,
        r#"{"type":"issue_statement","region":"fuzhou","year":2024}"#,
    )
    .await
    .expect("issued");
    assert_eq!(
        fuzhou.events.len(),
        1,
        "a resident member gets a statement too"
    );
    let again = submit(
        &l,
        r#"{"type":"issue_statement","region":"luzhou","year":2024}"#,
    )
    .await
    .expect("again");
    assert!(again.events.is_empty());
}

/// A member whose 2024 statement was issued (closing 380.00, after a spend of 100.00) and the
/// spend reversed afterwards, with a 2025 contribution: the ledger and the reversal's position.
async fn issued_then_corrected() -> (tempfile::TempDir, Ledger, u64) {
    let (dir, l) = given(&[
        enroll(A, "luzhou", "2024-01-01"),
        contribute(A, "2024-01"),
        contribute(A, "2024-02"),
        contribute(A, "2024-03"),
    ])
    .await;
    let charge = event_of(&l, &spend(A, "2024-06-01", "100.00", "s-9")).await;
    submit(&l, &issue(A, 2024, "2025-01-10"))
        .await
        .expect("issued");
    let told = statement(&l, A, 2024).await;
    assert_eq!(told.closing.balance, money("380.00"));
    assert!(told.corrections.entries.is_empty());
    submit(&l, &contribute(A, "2025-01")).await.expect("2025");
    let reverse = format!(r#"{{"type":"reverse","event":"{charge}","reason":"receipt voided"}}"#);
    let reversal = submit(&l, &reverse).await.expect("reversed").position;
    (dir, l, reversal)
}

/// Given a 2024 statement issued and a charge on it reversed afterwards, when the statements
/// are built, then the reissued 2024 statement and the 2025 statement list the reversal against
/// what was told (closing 380.00 then, 480.00 now); once the 2025 statement is issued, the 2026
/// one no longer lists it.
#[tokio::test]
async fn r15_a_correction_after_issue_is_listed_on_the_next_statement() {
    let (_dir, l, reversal) = issued_then_corrected().await;
    let reissued = statement(&l, A, 2024).await;
    assert_eq!(reissued.closing.balance, money("480.00"));
    let positions: Vec<u64> = reissued
        .corrections
        .entries
        .iter()
        .map(|e| e.position)
        .collect();
    assert_eq!(positions, vec![reversal]);
    assert_eq!(
        reissued.corrections.entries[0].balance_change,
        money("100.00")
    );
    let next = statement(&l, A, 2025).await;
    assert_eq!(next.opening.balance, money("480.00"));
    assert_eq!(next.corrections.entries.len(), 1);
    let restated = &next.corrections.restated;
    assert_eq!(restated.len(), 1);
    assert_eq!(restated[0].year, 2024);
    assert_eq!(restated[0].issued.closing_balance, money("380.00"));
    assert_eq!(restated[0].closing_balance, money("480.00"));
    assert_ne!(restated[0].digest, restated[0].issued.digest);
    assert!(
        restated[0].reproduced,
        "the issued digest is reproduced from the log"
    );
    let page = render_html(&next, &Register::default()).expect("page");
    assert!(page.contains("更正事项") && page.contains("receipt voided"));
    assert!(page.contains("¥380.00") && page.contains("¥480.00"));

    submit(&l, &issue(A, 2025, "2026-01-08"))
        .await
        .expect("2025 issued");
    let after = statement(&l, A, 2026).await;
    assert!(
        after.corrections.entries.is_empty(),
        "listed on the next statement only"
    );
    let second = submit(&l, &issue(A, 2024, "2026-01-08"))
        .await
        .expect("reissued");
    assert_eq!(second.events.len(), 1, "changed figures are issued again");
    assert_eq!(statement(&l, A, 2024).await.issued.len(), 2);
}

/// Given the same correction, when `diff` compares the 2024 statement as issued with 2024 as now
/// known, then it shows exactly the reversal and the balance 380.00 -> 480.00.
#[tokio::test]
async fn r15_diff_against_the_issued_statement_shows_the_correction() {
    let (_dir, l, reversal) = issued_then_corrected().await;
    let issued = l
        .issued_statement(id(A), 2024)
        .await
        .expect("read")
        .expect("one");
    assert_eq!(issued.closing_balance, money("380.00"));
    let to = Point::Date("2024-12-31".parse().expect("date"));
    let diff = l.diff(id(A), issued.point(2024), to).await.expect("diff");
    let added: Vec<u64> = diff.added.iter().map(|e| e.position).collect();
    assert_eq!(
        added,
        vec![reversal],
        "the 2025 contribution is not in 2024"
    );
    assert!(diff.removed.is_empty());
    let balance = diff
        .changes
        .iter()
        .find(|c| c.figure == "balance")
        .expect("balance");
    assert_eq!(
        (balance.from.as_str(), balance.to.as_str()),
        (Some("380.00"), Some("480.00"))
    );
    assert_eq!(l.issued_statement(id(A), 2023).await.expect("read"), None);
}

/// Given an issued statement, when a clerk tries to reverse it, then it is refused: it records
/// what the member was told.
#[tokio::test]
async fn r15_a_statement_issued_is_not_reversible() {
    let (_dir, l) = given(&[enroll(A, "luzhou", "2024-01-01"), contribute(A, "2024-01")]).await;
    let issued = event_of(&l, &issue(A, 2024, "2025-01-10")).await;
    let line = format!(r#"{{"type":"reverse","event":"{issued}","reason":"x"}}"#);
    let got = submit(&l, &line).await.map(|_| ()).map_err(|e| e.code());
    assert_eq!(got, Err("not_reversible"));
}

/// The page: simplified Chinese, A4 with page numbers and a repeated table header, amounts as ¥
/// with two decimals, the register's fields escaped and the ID number masked, no rule tags.
#[tokio::test]
async fn r15_the_page_is_chinese_a4_escaped_and_free_of_rule_tags() {
    let (_dir, l) = given(&[
        enroll(A, "luzhou", "2024-01-01"),
        contribute(A, "2024-01"),
        spend(A, "2024-01-31", "12.50", "s-1"),
    ])
    .await;
    let s = statement(&l, A, 2024).await;
    assert!(
        s.lines[0]
            .rule
            .as_deref()
            .is_some_and(|r| r.contains("[000")),
        "tags stay in the data"
    );
    let register = Register::from_json(&format!(
        r#"{{"{A}":{{"name":"<b>李</b>","id_card":"510502199001011234"}}}}"#
    ))
    .expect("register");
    let page = render_html(&s, &register).expect("page");
    assert!(page.contains(r#"<html lang="zh-CN">"#));
    assert!(page.contains("size: A4") && page.contains("counter(pages)"));
    assert!(page.contains("<thead>") && page.contains("display: table-header-group"));
    assert!(page.contains("&lt;b&gt;李&lt;&#x2f;b&gt;") || page.contains("&lt;b&gt;李&lt;/b&gt;"));
    assert!(!page.contains("<b>李</b>"), "register text is escaped");
    assert!(page.contains("510502********1234") && !page.contains("199001011234"));
    for tag in ["[ill", "[000", "[nat", "§", "[004"] {
        assert!(!page.contains(tag), "rule tag {tag} on the page");
    }
    assert!(page.contains("年末余额（2024年12月31日）</td><td class=\"n\">¥147.50</td>"));
    assert!(page.contains("¥12.50") && page.contains("¥160.00"));
    // minijinja escapes '/' too (`&#x2f;`), which a browser shows as '/'.
    let shown_version = template_version().replace('/', "&#x2f;");
    assert!(page.contains(&s.digest) && page.contains(&shown_version));
}

/// For every member of a seeded synthetic population and every year: the statement's closing
/// figures are the account view in force on 31 December, the opening balance is the previous
/// year's closing, and the lines lead from the one to the other in date order without the
/// balance ever going below zero.
#[tokio::test]
async fn r15_every_statement_of_a_synthetic_population_agrees_with_the_account_as_of_year_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let l = Ledger::open(dir.path()).await.expect("open");
    let p = member_ledger::synthetic::Population {
        seed: 17,
        members: 12,
        years: 6,
        start_year: 2018,
    };
    let lines: Vec<String> = (0..p.members).flat_map(|i| p.career(i)).collect();
    assert!(l.submit_json_batch(&lines).await.iter().all(Result::is_ok));
    let mut checked = 0;
    for i in 0..p.members {
        let member = id(&p.member_id(i));
        let mut previous_closing = None;
        for year in p.start_year..p.start_year + 8 {
            let Ok(s) = l.annual_statement(member, year).await else {
                continue;
            };
            let end = format!("{year}-12-31").parse().expect("date");
            let view = l.account(member, ViewAt::AsOf(end)).await.expect("view");
            assert_eq!(
                (s.closing.balance, s.closing.credited, s.closing.debited),
                (view.balance, view.credited, view.debited)
            );
            assert_eq!(s.closing.months_total, view.months.total);
            assert_eq!(
                s.year_row,
                view.years.iter().find(|r| r.year == year).cloned()
            );
            if let Some(before) = previous_closing {
                assert_eq!(s.opening.balance, before);
            }
            let mut running = s.opening.balance;
            for pair in s.lines.windows(2) {
                assert!(pair[0].date <= pair[1].date);
            }
            for line in &s.lines {
                running = running + line.credit - line.debit;
                assert_eq!(line.balance, running);
                assert!(!running.is_negative());
            }
            assert_eq!(running, s.closing.balance);
            previous_closing = Some(s.closing.balance);
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} statements checked");
}

/// `issue_statement` parses with its optional fields.
#[test]
fn r15_issue_statement_parses_as_the_contract_names_it() {
    let (command, _) = parse_command(r#"{"type":"issue_statement","region":"luzhou","year":2024}"#)
        .expect("parse");
    assert_eq!(
        command,
        Command::IssueStatement {
            member: None,
            region: Some("luzhou".into()),
            year: 2024,
            date: None
        }
    );
}

// ---- The command line ------------------------------------------------------------------------

const BIN: &str = env!("CARGO_BIN_EXE_member-ledger");
/// Li, the demo member of the README's dispute.
const LI: &str = "00000000-0000-4000-8000-00000000d002";

fn run(data: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("run member-ledger")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh demo ledger in `dir`/ledger.
fn demo(dir: &std::path::Path) -> std::path::PathBuf {
    let data = dir.join("ledger");
    let out = run(&data, &["demo"]);
    assert!(
        out.status.success(),
        "demo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    data
}

/// The account view in force on 31 December, as the command line prints it.
fn account_at_year_end(data: &std::path::Path, member: &str, year: i32) -> serde_json::Value {
    let as_of = format!("{year}-12-31");
    let out = run(data, &["account", member, "--as-of", &as_of, "--json"]);
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).expect("account json")
}

/// From a fresh demo: Li's statement as text and JSON equals `account --as-of 2024-12-31`, and
/// a year before her enrolment has none.
#[test]
fn r15_the_command_line_prints_the_statement_as_text_and_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = demo(dir.path());
    let view = account_at_year_end(&data, LI, 2024);
    let text = run(&data, &["annual-statement", LI, "--year", "2024"]);
    assert!(text.status.success());
    assert!(
        stdout(&text).contains("年末余额 ¥31,855.50"),
        "{}",
        stdout(&text)
    );
    let json = run(&data, &["annual-statement", LI, "--year", "2024", "--json"]);
    let s: serde_json::Value = serde_json::from_slice(&json.stdout).expect("statement json");
    assert_eq!(s["closing"]["balance"], view["balance"]);
    assert_eq!(s["closing"]["months_total"], view["months"]["total"]);
    assert_eq!(
        s["netted"][0]["balance_change"], "-88.50",
        "the double charge is netted out"
    );
    let early = run(&data, &["annual-statement", LI, "--year", "2010"]);
    assert_eq!(early.status.code(), Some(1), "Li enrolled in 2015");
}

/// From a fresh demo: the region's statements are written and issued once, and `diff` compares
/// with what was issued.
#[test]
fn r15_the_command_line_writes_and_issues_a_regions_statements_and_diffs_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = demo(dir.path());
    let out_dir = dir.path().join("statements");
    let out_arg = out_dir.to_str().expect("utf8");
    let batch = [
        "annual-statement",
        "--region",
        "luzhou",
        "--year",
        "2024",
        "--out",
        out_arg,
        "--issue",
        "--date",
        "2025-01-10",
        "--json",
    ];
    let first = run(&data, &batch);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let summary = stdout(&first);
    // Luzhou's six demo members all have a 2024 statement: d001, d002 (Li) and d003 active or
    // retired, d006 a resident, and d004 (transferred out 2024-01-20) and d005 (inherited
    // 2024-04-02) get the last statement of the year their account closed.
    assert!(summary.contains("6 statements of 2024"), "{summary}");
    assert!(
        summary.contains("6 recorded as issued on 2025-01-10"),
        "{summary}"
    );
    let pages = std::fs::read_dir(&out_dir).expect("dir").count();
    assert_eq!(pages, 12, "a page and a JSON file for each");
    let li_page = std::fs::read_to_string(out_dir.join(format!("{LI}.html"))).expect("page");
    assert!(li_page.contains("本对账单已于2025年1月10日出具并登记"));
    let again = run(&data, &batch);
    assert!(
        stdout(&again).contains("0 recorded as issued"),
        "{}",
        stdout(&again)
    );

    let diff = run(
        &data,
        &["diff", LI, "--from", "issued:2024", "--to", "2024-12-31"],
    );
    assert!(diff.status.success());
    assert!(
        stdout(&diff).contains("no figure changed"),
        "{}",
        stdout(&diff)
    );
    let none = run(
        &data,
        &["diff", LI, "--from", "issued:2023", "--to", "2023-12-31"],
    );
    assert_eq!(none.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("no statement of 2023 was issued"),
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );
}

/// A PDF needs a browser: a missing one is an error that says what to do, not a crash.
#[test]
fn r15_a_pdf_without_a_browser_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("ledger");
    let out = std::process::Command::new(BIN)
        .arg("--data")
        .arg(&data)
        .args(["submit", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            let input = format!(
                "{}\n{}\n",
                enroll(A, "luzhou", "2024-01-01"),
                contribute(A, "2024-01")
            );
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())?;
            child.wait_with_output()
        })
        .expect("submit");
    assert!(out.status.success());
    let pdf = dir.path().join("a.pdf");
    let refused = std::process::Command::new(BIN)
        .env("MEMBER_LEDGER_CHROMIUM", dir.path().join("no-such-browser"))
        .arg("--data")
        .arg(&data)
        .args(["annual-statement", A, "--year", "2024", "--pdf"])
        .arg(&pdf)
        .output()
        .expect("run");
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("cannot start"));
    assert!(!pdf.exists());
}

// ---- In a real headless browser ----------------------------------------------------------------

/// Set (by `.ci/run`) to make a machine without the browser tools fail these tests instead of
/// skipping them.
const REQUIRE_BROWSER: &str = "MEMBER_LEDGER_REQUIRE_BROWSER";
/// The tools the browser tests run: Chromium and poppler's and fontconfig's command-line tools.
const PAGE_TOOLS: [&str; 4] = ["pdfinfo", "pdftotext", "pdffonts", "fc-list"];

fn on_path(name: &str) -> Option<std::path::PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Chromium, when this machine has it and the page tools. Otherwise says so on the terminal
/// itself (a passing test's output is captured) and returns `None`, or fails when
/// `MEMBER_LEDGER_REQUIRE_BROWSER=1`.
fn browser(test: &str) -> Option<std::path::PathBuf> {
    let chromium = std::env::var_os("MEMBER_LEDGER_CHROMIUM")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .find_map(|n| on_path(n))
        });
    let mut missing: Vec<&str> = PAGE_TOOLS
        .iter()
        .copied()
        .filter(|t| on_path(t).is_none())
        .collect();
    if chromium.is_none() {
        missing.insert(0, "chromium");
    }
    let noto = on_path("fc-list").is_some()
        && tool("fc-list", &[":lang=zh".as_ref(), "family".as_ref()]).contains("Noto Sans CJK SC");
    if !noto {
        missing.push("the font Noto Sans CJK SC");
    }
    if missing.is_empty() {
        return chromium;
    }
    let message = format!(
        "\n*** {test} DID NOT RUN: {} missing (apt-get install chromium fonts-noto-cjk poppler-utils) ***\n",
        missing.join(", ")
    );
    if std::env::var(REQUIRE_BROWSER).as_deref() == Ok("1") {
        panic!("{message}{REQUIRE_BROWSER}=1: the browser tests must run here");
    }
    use std::io::Write;
    let _ = std::io::stderr().write_all(message.as_bytes());
    None
}

fn tool(name: &str, args: &[&std::ffi::OsStr]) -> String {
    let out = std::process::Command::new(name)
        .args(args)
        .output()
        .expect(name);
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the binary on `data` with `args`, printing with `chromium`; it must succeed.
fn print_with(chromium: &std::path::Path, data: &std::path::Path, args: &[&std::ffi::OsStr]) {
    let out = std::process::Command::new(BIN)
        .env("MEMBER_LEDGER_CHROMIUM", chromium)
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("member-ledger");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Chromium's screenshot of a page at A4's proportions (1240 × 1754 pixels, 150 dpi).
fn screenshot(chromium: &std::path::Path, html: &std::path::Path, png: &std::path::Path) {
    let profile = tempfile::tempdir().expect("profile");
    let status = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1240,1754",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("chromium");
    assert!(status.success());
}

/// Width and height of a PNG, from its IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (be(16), be(20))
}

/// The first amount (`¥32,739.50`) after `label` in the text, as the contract writes money.
fn amount_after(text: &str, label: &str) -> String {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("'{label}' not on the page"));
    let rest = &text[at + label.len()..];
    let start = rest
        .find('¥')
        .unwrap_or_else(|| panic!("no amount after '{label}'"));
    rest[start + '¥'.len_utf8()..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',' || *c == '.')
        .filter(|c| *c != ',')
        .collect()
}

/// The whole-number fields of the first line that starts with `label`.
fn numbers_after(text: &str, label: &str) -> Vec<String> {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no line starts with '{label}'"));
    line[line.find(label).unwrap_or(0) + label.len()..]
        .split_whitespace()
        .map(|w| w.trim_start_matches('¥').replace(',', ""))
        .collect()
}

/// The demo member Li's 2024 statement, printed by Chromium: A4 pages numbered "第 i 页，共 N
/// 页" matching the PDF's page count, the Chinese text set in an embedded Noto CJK font that has
/// every character of it, the figures on the page equal to `account --as-of 2024-12-31`, and a
/// PNG of the page.
#[test]
fn r15_browser_prints_the_demo_statement_with_cjk_fonts_and_the_accounts_figures() {
    let Some(chromium) = browser("r15_browser_prints_the_demo_statement") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let data = demo(dir.path());
    let register = dir.path().join("register.json");
    std::fs::write(
        &register,
        format!(r#"{{"{LI}":{{"name":"李娜","id_card":"510502199001011234"}}}}"#),
    )
    .expect("register");
    let (html, pdf, png) = (
        dir.path().join("li.html"),
        dir.path().join("li.pdf"),
        dir.path().join("li.png"),
    );
    let args = [
        "annual-statement".as_ref(),
        LI.as_ref(),
        "--year".as_ref(),
        "2024".as_ref(),
        "--register".as_ref(),
        register.as_os_str(),
        "--html".as_ref(),
        html.as_os_str(),
        "--pdf".as_ref(),
        pdf.as_os_str(),
    ];
    print_with(&chromium, &data, &args);

    let info = tool("pdfinfo", &[pdf.as_os_str()]);
    assert!(info.contains("(A4)"), "{info}");
    let pages: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("page count");
    let text = tool(
        "pdftotext",
        &["-layout".as_ref(), pdf.as_os_str(), "-".as_ref()],
    );
    let by_page: Vec<&str> = text
        .split('\u{c}')
        .filter(|p| !p.trim().is_empty())
        .collect();
    assert_eq!(by_page.len(), pages);
    assert!(
        (2..=4).contains(&pages),
        "a year of one member fits on two to four A4 pages: {pages}"
    );
    for (i, page) in by_page.iter().enumerate() {
        let footer = format!("第 {} 页，共 {pages} 页", i + 1);
        assert!(page.contains(&footer), "page {} has no '{footer}'", i + 1);
    }
    check_cjk_fonts(&pdf, &text);
    check_figures(&text, &account_at_year_end(&data, LI, 2024));

    screenshot(&chromium, &html, &png);
    let bytes = std::fs::read(&png).expect("png");
    assert_eq!(png_size(&bytes), (1240, 1754));
    assert!(
        bytes.len() > 30_000,
        "a page of text, not a blank: {} bytes",
        bytes.len()
    );
}

/// Every font in the PDF is an embedded Noto CJK font, and fontconfig says that font has every
/// Chinese character the page shows (no character fell back to a box).
fn check_cjk_fonts(pdf: &std::path::Path, text: &str) {
    let fonts = tool("pdffonts", &[pdf.as_os_str()]);
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(!rows.is_empty());
    for row in &rows {
        let fields: Vec<&str> = row.split_whitespace().collect();
        // name, type (two words for "Type 3"), encoding, emb, sub, uni, object, generation
        assert_eq!(fields[fields.len() - 5], "yes", "not embedded: {row}");
    }
    let raw = std::fs::read(pdf).expect("pdf");
    let raw = String::from_utf8_lossy(&raw);
    let names: Vec<&str> = raw
        .split("/FontName /")
        .skip(1)
        .filter_map(|s| {
            s.split(|c: char| c.is_whitespace() || c == '/' || c == '>')
                .next()
        })
        .collect();
    assert!(!names.is_empty(), "no font descriptor");
    for name in &names {
        assert!(name.contains("NotoSansCJK"), "font {name} is not Noto CJK");
    }
    for heading in [
        "基本医疗保险个人账户年度对账单",
        "年末余额",
        "收支明细",
        "李娜",
        "说明",
    ] {
        assert!(
            text.contains(heading),
            "'{heading}' is not in the PDF's text"
        );
    }
    let mut cjk: Vec<char> = text
        .chars()
        .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c) || ('\u{3000}'..='\u{303f}').contains(c))
        .collect();
    cjk.sort_unstable();
    cjk.dedup();
    assert!(cjk.len() > 100, "only {} Chinese characters", cjk.len());
    let charset: Vec<String> = cjk.iter().map(|c| format!("{:x}", u32::from(*c))).collect();
    let pattern = format!(":charset={}", charset.join(" "));
    let families = tool("fc-list", &[pattern.as_ref(), "family".as_ref()]);
    assert!(
        families.contains("Noto Sans CJK SC"),
        "Noto Sans CJK SC lacks some of {cjk:?}"
    );
}

/// The year-end figures on the page equal the account view in force on 31 December.
fn check_figures(text: &str, view: &serde_json::Value) {
    let s = |v: &serde_json::Value| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    };
    assert_eq!(
        amount_after(text, "年末余额（2024年12月31日）"),
        s(&view["balance"])
    );
    assert_eq!(
        amount_after(text, "累计划入（截至年末）"),
        s(&view["credited"])
    );
    assert_eq!(
        amount_after(text, "累计支出（截至年末）"),
        s(&view["debited"])
    );
    let months = numbers_after(text, "年末（2024年12月31日）");
    assert_eq!(
        months[..3],
        [
            s(&view["months"]["actual"]),
            s(&view["months"]["deemed"]),
            s(&view["months"]["total"])
        ]
    );
    let row = view["years"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["year"] == 2024))
        .expect("2024 row");
    let header = text.find("本年缴费月数").expect("year table");
    let figures: Vec<String> = text[header..]
        .lines()
        .nth(1)
        .expect("year row")
        .split_whitespace()
        .map(|w| w.trim_start_matches('¥').replace(',', ""))
        .collect();
    let want: Vec<String> = [
        "months",
        "base",
        "employee",
        "employer",
        "personal_account",
        "refunded",
    ]
    .iter()
    .map(|k| s(&row[k]))
    .collect();
    assert_eq!(figures, want);
}

/// A member with many lines in a year: the detail table runs over several A4 pages and its header
/// is printed again on each of them.
#[test]
fn r15_browser_repeats_the_table_header_on_every_page() {
    let Some(chromium) = browser("r15_browser_repeats_the_table_header_on_every_page") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("ledger");
    let mut lines = vec![enroll(A, "luzhou", "2024-01-01")];
    lines.extend((1..=12).map(|m| contribute(A, &format!("2024-{m:02}"))));
    let start: chrono::NaiveDate = "2024-03-01".parse().expect("date");
    lines.extend((0..80u64).map(|d| {
        let date = start + chrono::Days::new(d * 3);
        spend(A, &date.to_string(), "2.00", &format!("s-{d}"))
    }));
    let out = std::process::Command::new(BIN)
        .arg("--data")
        .arg(&data)
        .args(["submit", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(lines.join("\n").as_bytes())?;
            child.wait()
        })
        .expect("submit");
    assert!(out.success(), "every command accepted");
    let pdf = dir.path().join("a.pdf");
    let args = [
        "annual-statement".as_ref(),
        A.as_ref(),
        "--year".as_ref(),
        "2024".as_ref(),
        "--pdf".as_ref(),
        pdf.as_os_str(),
    ];
    print_with(&chromium, &data, &args);
    let text = tool(
        "pdftotext",
        &["-layout".as_ref(), pdf.as_os_str(), "-".as_ref()],
    );
    let with_rows: Vec<&str> = text
        .split('\u{c}')
        .filter(|p| p.contains("定点药店购药"))
        .collect();
    assert!(
        with_rows.len() >= 2,
        "the detail table spans {} pages",
        with_rows.len()
    );
    for page in with_rows {
        assert!(
            page.contains("记账日期") && page.contains("摘要"),
            "a page of rows without the header"
        );
    }
}

/// Given a member's enrolment and contributions submitted in one batch with the statement of
/// their year after them (as a batch of commands or a JSON Lines file submits them), then the
/// statement seals the figures those commands left: the same as when issued alone afterwards,
/// and the same as the statement view. (Its figures were once read from durable events only,
/// while the batch's earlier commands were applied but not yet flushed: stale figures, or none.)
#[tokio::test]
async fn r15_a_statement_issued_in_the_batch_of_the_years_commands_seals_them() {
    for round in 0..4 {
        let dir = tempfile::tempdir().expect("tempdir");
        let l = Ledger::open(dir.path()).await.expect("open");
        let batch = vec![
            enroll(A, "luzhou", "2024-01-01"),
            contribute(A, "2024-01"),
            contribute(A, "2024-02"),
            issue(A, 2024, "2025-01-05"),
        ];
        let results = l.submit_json_batch(&batch).await;
        let receipt = match &results[3] {
            Ok(receipt) => receipt.clone(),
            Err(e) => panic!("round {round}: the statement was refused: {e}"),
        };
        let issued = event_json(
            &l.log()
                .event_at(receipt.position)
                .expect("read")
                .expect("the statement's event"),
        );
        assert_eq!(issued["type"], "statement_issued");
        assert_eq!(
            issued["closing_balance"], "320.00",
            "round {round}: {issued}"
        );
        assert_eq!(issued["months_total"], 2, "round {round}: {issued}");
        let view = statement(&l, A, 2024).await;
        assert_eq!(view.closing.balance, money("320.00"));
        assert_eq!(issued["digest"], view.digest.as_str(), "round {round}");
    }
}
