//! Rule tests, given / when / then, each named for its DOMAIN.md rule and tag.

use member_ledger::projection::ViewAt;
use member_ledger::Ledger;

const M: &str = "00000000-0000-4000-8000-000000000001";

async fn given(lines: &[String]) -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::open(dir.path()).await.expect("open");
    for line in lines {
        ledger
            .submit_json(line)
            .await
            .unwrap_or_else(|e| panic!("given {line}: {e}"));
    }
    (dir, ledger)
}

fn enroll(sex: &str, birth: &str, date: &str) -> String {
    format!(
        r#"{{"type":"enroll","member":"{M}","region":"luzhou","scheme":"employee","sex":"{sex}","birth_date":"{birth}","date":"{date}"}}"#
    )
}

fn contribute(month: &str, wage: &str, payer: &str) -> String {
    format!(
        r#"{{"type":"contribute","member":"{M}","month":"{month}","wage":"{wage}","payer":"{payer}"}}"#
    )
}

#[tokio::test]
async fn s2_post_reform_credit_is_own_two_percent_000_q43_nat_2021() {
    let (_d, l) = given(&[
        enroll("female", "1990-01-01", "2024-01-01"),
        contribute("2024-01", "8000.00", "employer"),
    ])
    .await;
    let v = l
        .account(M.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view");
    assert_eq!(v.balance.to_string(), "160.00");
    assert_eq!(v.years[0].employer.to_string(), "620.00"); // 7.75 %
}

#[tokio::test]
async fn s2_pre_reform_credit_adds_age_band_nat_1998_ill() {
    // Age 45+ in 2015: own 2 % + 2 % of the employer share.
    let (_d, l) = given(&[
        enroll("male", "1960-01-01", "2015-01-01"),
        contribute("2015-01", "5000.00", "employer"),
    ])
    .await;
    let v = l
        .account(M.parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view");
    assert_eq!(v.balance.to_string(), "200.00");
}

#[tokio::test]
async fn s3_one_month_counts_once_duplicate_is_rejected() {
    let (_d, l) = given(&[
        enroll("female", "1990-01-01", "2024-01-01"),
        contribute("2024-01", "8000.00", "employer"),
    ])
    .await;
    let err = l
        .submit_json(&contribute("2024-01", "8000.00", "employer"))
        .await
        .expect_err("duplicate");
    assert_eq!(err.code(), "duplicate_month");
    assert_eq!(
        l.head().expect("head").position,
        2,
        "a rejection writes nothing"
    );
}

#[tokio::test]
async fn s4_late_rejoin_waits_six_months_000_q27() {
    let mut lines = vec![
        enroll("female", "1980-01-01", "2020-01-01"),
        contribute("2020-01", "5000.00", "employer"),
    ];
    lines.push(format!(
        r#"{{"type":"suspend","member":"{M}","date":"2020-01-31","reason":"left_employer"}}"#
    ));
    for m in ["2020-06", "2020-07", "2020-08", "2020-09", "2020-10"] {
        lines.push(contribute(m, "5000.00", "individual"));
    }
    let (_d, l) = given(&lines).await;
    let id = M.parse().expect("uuid");
    assert!(l
        .account(id, ViewAt::Head)
        .await
        .expect("view")
        .benefits_from
        .is_none());
    l.submit_json(&contribute("2020-11", "5000.00", "individual"))
        .await
        .expect("sixth month");
    let v = l.account(id, ViewAt::Head).await.expect("view");
    assert_eq!(
        v.benefits_from.map(|d| d.to_string()).as_deref(),
        Some("2020-12-01")
    );
}

#[tokio::test]
async fn s5_retirement_needs_360_months_for_men_000_q28() {
    let (_d, l) = given(&[
        enroll("male", "1960-01-01", "2015-01-01"),
        contribute("2015-01", "5000.00", "employer"),
    ])
    .await;
    let err = l
        .submit_json(&format!(
            r#"{{"type":"retire","member":"{M}","date":"2020-01-01"}}"#
        ))
        .await
        .expect_err("short");
    assert_eq!(err.code(), "insufficient_years");
}

#[tokio::test]
async fn s8_spending_never_below_zero() {
    let (_d, l) = given(&[
        enroll("female", "1990-01-01", "2024-01-01"),
        contribute("2024-01", "8000.00", "employer"),
    ])
    .await;
    let spend = format!(
        r#"{{"type":"spend","member":"{M}","date":"2024-02-05","amount":"160.01","purpose":"pharmacy"}}"#
    );
    assert_eq!(
        l.submit_json(&spend).await.expect_err("too much").code(),
        "insufficient_balance"
    );
}

#[tokio::test]
async fn idempotency_same_key_same_result_other_payload_key_reused() {
    let (_d, l) = given(&[enroll("female", "1990-01-01", "2024-01-01")]).await;
    let with_key = |m: &str| {
        format!(
            r#"{{"type":"contribute","member":"{M}","month":"{m}","wage":"8000.00","payer":"employer","key":"k1"}}"#
        )
    };
    let first = l.submit_json(&with_key("2024-01")).await.expect("first");
    let again = l.submit_json(&with_key("2024-01")).await.expect("again");
    assert_eq!(first, again);
    assert_eq!(
        l.submit_json(&with_key("2024-02"))
            .await
            .expect_err("reused")
            .code(),
        "key_reused"
    );
    assert_eq!(l.head().expect("head").position, 2);
}

#[tokio::test]
async fn replay_equals_checkpoints_after_the_demo_sample() {
    let lines: Vec<String> = include_str!("../samples/demo.jsonl")
        .lines()
        .map(str::to_string)
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let l = Ledger::open(dir.path()).await.expect("open");
    assert!(l.submit_batch(&lines).await.iter().all(Result::is_ok));
    let report = member_ledger::verify::verify(&l).await.expect("verify");
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        l.replay_all().await.expect("replay"),
        l.checkpoints().expect("checkpoints")
    );
}
