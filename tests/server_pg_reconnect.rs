//! PostgreSQL connections made again (`--features postgres`, with `MEMBER_LEDGER_PG_URL`, as
//! `.ci/postgres` runs it): when the server ends the ledger's connections, the next submit and
//! the next read go through on new ones, and nothing is lost or written twice.
#![cfg(feature = "postgres")]

use std::sync::Arc;
use std::time::Duration;

use member_ledger::policy::PolicySet;
use member_ledger::projection::ViewAt;
use member_ledger::store::{PgOptions, PgStore};
use member_ledger::Ledger;

const APP: &str = "ml_reconnect_test";

fn url() -> String {
    std::env::var("MEMBER_LEDGER_PG_URL")
        .expect("MEMBER_LEDGER_PG_URL names the test database (see .ci/postgres)")
}

/// Ends every connection of the store under test (named by its application_name).
async fn terminate_ours(url: &str) -> i64 {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("admin connection");
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            &[&APP],
        )
        .await
        .expect("terminate");
    row.get(0)
}

#[test]
fn the_store_reconnects_its_writer_and_readers_after_the_server_ends_them() {
    let base = url();
    let separator = if base.contains('?') { '&' } else { '?' };
    let location = format!("{base}{separator}application_name={APP}");
    let schema = format!("server_reconnect_{}", std::process::id());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let options = PgOptions {
            writers: 1,
            schema: Some(schema),
        };
        let store = PgStore::open_with(&location, options).expect("open PostgreSQL");
        let ledger = Ledger::with_store(Arc::new(store), PolicySet::shipped());
        let m = "00000000-0000-4000-8000-000000000501";
        let enroll = format!(r#"{{"type":"enroll","member":"{m}","region":"luzhou","scheme":"employee","sex":"female","birth_date":"1970-01-01","date":"2000-01-01","key":"e"}}"#);
        let pay = |month: u32| format!(r#"{{"type":"contribute","member":"{m}","month":"2000-{month:02}","wage":"5000.00","payer":"employer","key":"p{month}"}}"#);
        ledger.submit_json(&enroll).await.expect("enrolled");
        ledger.submit_json(&pay(1)).await.expect("paid");
        let ended = terminate_ours(&base).await;
        assert!(ended >= 3, "the readers' and the writer's connections were ended: {ended}");
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        // The writer probes its idle connection and connects again; so do the readers.
        ledger.submit_json(&pay(2)).await.expect("paid after the connections were ended");
        let view = ledger
            .account(m.parse().expect("id"), ViewAt::Head)
            .await
            .expect("read after the connections were ended");
        // Two months at 2.8 % of 5,000.00 (own 2 % and 0.8 % of the employer's share under 35).
        assert_eq!(view.balance.to_string(), "280.00");
        assert_eq!(view.months.actual, 2);
        // Ended again mid-use, with no pause: each connection is made again at its next use,
        // so a command may fail once on a reader and once more on the writer whose client has
        // not yet noticed (never acknowledged either time); retries with the same key go
        // through within three attempts and are answered once.
        terminate_ours(&base).await;
        let mut answers = Vec::new();
        for _ in 0..3 {
            let answer = ledger.submit_json(&pay(3)).await;
            let done = answer.is_ok();
            answers.push(answer);
            if done {
                break;
            }
        }
        let positions: Vec<u64> = answers.iter().flatten().map(|r| r.position).collect();
        assert_eq!(positions.len(), 1, "the retry goes through: {answers:?}");
        let again = ledger.submit_json(&pay(3)).await.expect("a repeat is answered");
        assert_eq!(again.position, positions[0], "written once");
        let report = ledger.verify(|_, _| {}).await.expect("verify");
        assert!(report.is_clean(), "{report}");
    });
}
