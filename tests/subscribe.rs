//! Catch-up subscriptions and the async API's manners: a subscription delivers the log in
//! order, then live events as they become durable, resumes from its checkpoint with nothing
//! missed or repeated; and no call blocks the caller's runtime, even a current-thread one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use member_ledger::{Ledger, SubscriptionCheckpoint};

mod common;

fn enroll(i: u32) -> String {
    format!(
        r#"{{"type":"enroll","member":"00000000-0000-4000-8000-{i:012}","region":"luzhou","scheme":"employee","sex":"male","birth_date":"1980-01-01","date":"2024-01-01"}}"#
    )
}

#[tokio::test]
async fn a_subscription_catches_up_then_follows_live_events_and_resumes_from_its_checkpoint() {
    let (dir, ledger) = common::given(&(1..=5).map(enroll).collect::<Vec<_>>()).await;
    let mut sub = ledger.subscribe(1);
    for expected in 1..=5 {
        let event = sub.next().await.expect("event");
        assert_eq!(event.position, expected, "catch-up in order");
    }
    assert_eq!(sub.checkpoint(), 6);
    assert!(
        sub.try_next().await.expect("read").is_none(),
        "nothing more yet"
    );

    // Live: a submit from another task wakes the subscription.
    let writer = ledger.clone();
    let live = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        writer.submit_json(&enroll(6)).await.expect("submit")
    });
    let event = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("woken by the live event")
        .expect("event");
    let receipt = live.await.expect("task");
    assert_eq!(event.position, 6);
    assert_eq!(
        event.hash(),
        receipt.events[0].hash(),
        "the acknowledged event"
    );

    // The checkpoint persists; a new subscription from it sees only what came after.
    let saved = SubscriptionCheckpoint::at(dir.path().join("consumer.checkpoint"));
    assert_eq!(
        saved.load().expect("load"),
        1,
        "nothing saved: from the start"
    );
    saved.save(sub.checkpoint()).expect("save");
    ledger.submit_json(&enroll(7)).await.expect("submit");
    let mut resumed = ledger.subscribe(saved.load().expect("load"));
    let event = resumed.next().await.expect("event");
    assert_eq!(
        event.position, 7,
        "resumed after the last event delivered, none repeated"
    );
}

#[test]
fn no_call_blocks_a_current_thread_runtime_while_storage_works() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::open(dir.path()).await.expect("open");
        let p = member_ledger::synthetic::Population {
            seed: 3,
            members: 40,
            years: 20,
            start_year: 2000,
        };
        let lines: Vec<String> = (0..p.members).flat_map(|i| p.career(i)).collect();
        let ticks = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&ticks);
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        // Each of these runs for many milliseconds on storage; the timer keeps ticking.
        let before = ticks.load(Ordering::Relaxed);
        let started = std::time::Instant::now();
        assert!(ledger
            .submit_json_batch(&lines)
            .await
            .iter()
            .all(Result::is_ok));
        ledger.replay_all().await.expect("replay");
        let report = ledger.verify(|_, _| {}).await.expect("verify");
        assert!(report.is_clean(), "{report}");
        let elapsed = started.elapsed();
        let ticked = ticks.load(Ordering::Relaxed) - before;
        ticker.abort();
        // A blocked runtime would tick at most once or twice over the whole run.
        let expected = u64::try_from(elapsed.as_millis() / 10)
            .unwrap_or(u64::MAX)
            .max(2);
        assert!(
            ticked >= expected,
            "the timer ticked {ticked} times in {elapsed:?}: the runtime was blocked"
        );
    });
}
