//! The store contract, checked the same way on every backend: sled always; PostgreSQL when
//! `MEMBER_LEDGER_PG_URL` is set (a test binary built with `--features postgres`; set without
//! the feature, every test fails rather than skipping it quietly). Each PostgreSQL test works in
//! a schema of its own.
//!
//! Given a fresh store, when these appends, then these positions, versions, outcomes, hashes,
//! projections and reads; then a few ledger-level checks (submit, account, verify) on top.

use std::sync::Arc;

use chrono::NaiveDate;
use member_ledger::policy::PolicySet;
use member_ledger::projection::ViewAt;
use member_ledger::store::{
    settled_head, AppendOutcome, AppendRequest, EventStore, Head, IdempotencyClaim, NewEvent,
    SledStore, StoreOptions, StoredEvent, GENESIS_HASH,
};
use member_ledger::Ledger;
use uuid::Uuid;

/// The environment variable naming a PostgreSQL database to test against.
const PG_URL_VAR: &str = "MEMBER_LEDGER_PG_URL";

/// A fresh store of one backend, with whatever keeps it alive.
struct Fixture {
    backend: &'static str,
    store: Arc<dyn EventStore>,
    _dir: Option<tempfile::TempDir>,
}

fn sled_fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions {
        fsync: false, // contract tests, not durability tests
        ..StoreOptions::default()
    };
    let store = SledStore::open_with(dir.path(), options).expect("open sled");
    Fixture {
        backend: "sled",
        store: Arc::new(store),
        _dir: Some(dir),
    }
}

#[cfg(feature = "postgres")]
fn pg_fixture(url: &str) -> Fixture {
    use member_ledger::store::{PgOptions, PgStore};
    let options = PgOptions {
        schema: Some(unique_schema()),
        ..PgOptions::default()
    };
    let store = PgStore::open_with(url, options).expect("open PostgreSQL");
    Fixture {
        backend: "postgres",
        store: Arc::new(store),
        _dir: None,
    }
}

#[cfg(feature = "postgres")]
fn unique_schema() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "conformance_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// One fresh store per backend under test.
fn fixtures() -> Vec<Fixture> {
    let pg = std::env::var(PG_URL_VAR).ok().map(|url| pg_fixture(&url));
    std::iter::once(sled_fixture()).chain(pg).collect()
}

#[cfg(not(feature = "postgres"))]
fn pg_fixture(url: &str) -> Fixture {
    panic!("{PG_URL_VAR}={url} is set, but this test was built without --features postgres");
}

fn member(i: u8) -> Uuid {
    Uuid::from_bytes([0, 0, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0x0c, i])
}

fn new_event(member: Uuid, n: u32) -> NewEvent {
    NewEvent {
        member,
        event_type: "contribution_posted".into(),
        schema_version: 1,
        effective_date: NaiveDate::from_ymd_opt(2024, 1, 1).expect("date"),
        policy_version: "test-1".into(),
        data: format!("{{\"n\":{n},\"amount\":\"1.00\"}}").into_bytes(),
    }
}

fn request(events: Vec<NewEvent>, expected: Vec<(Uuid, u64)>) -> AppendRequest {
    AppendRequest {
        events,
        expected,
        sync: true,
        ..AppendRequest::default()
    }
}

fn claim(key: &str, payload: u8) -> Option<IdempotencyClaim> {
    Some(IdempotencyClaim {
        key: key.into(),
        payload_hash: [payload; 32],
    })
}

/// Appends and waits for both answers.
fn append(store: &dyn EventStore, request: AppendRequest) -> AppendOutcome {
    let ticket = store.append(request);
    let outcome = ticket
        .applied
        .blocking_recv()
        .expect("an answer")
        .expect("applied");
    ticket
        .durable
        .blocking_recv()
        .expect("an answer")
        .expect("durable");
    // On PostgreSQL, readers show an acknowledged event once every transaction that began
    // before it has ended (other tests' included): wait for that before reading.
    settled_head(store).expect("readers reach the last commit");
    outcome
}

fn committed(outcome: AppendOutcome) -> Vec<StoredEvent> {
    match outcome {
        AppendOutcome::Committed(events) => events,
        other => panic!("expected a commit, got {other:?}"),
    }
}

/// The head once readers show everything committed so far (see [`all_events`]).
fn settled(store: &dyn EventStore) -> Head {
    settled_head(store).expect("readers reach the last commit")
}

/// Every event of the log, read once readers show everything committed so far: on PostgreSQL
/// a reader stops below the oldest write transaction in flight anywhere in the cluster
/// (POSTGRES.md), and the other tests of this file write in parallel on the same server.
fn all_events(store: &dyn EventStore) -> Vec<StoredEvent> {
    settled(store);
    store.read_from(1, usize::MAX).expect("read log")
}

#[test]
fn positions_count_from_one_in_append_order_and_the_head_is_the_last_event() {
    for f in fixtures() {
        let store = f.store.as_ref();
        assert_eq!(settled(store).position, 0, "{}", f.backend);
        assert_eq!(settled(store).hash, GENESIS_HASH);
        let (a, b) = (member(1), member(2));
        committed(append(store, request(vec![new_event(a, 1)], vec![(a, 0)])));
        let two = committed(append(
            store,
            request(vec![new_event(a, 2), new_event(b, 1)], vec![(a, 1), (b, 0)]),
        ));
        assert_eq!(
            two.iter().map(|e| e.position).collect::<Vec<_>>(),
            [2, 3],
            "{}",
            f.backend
        );
        let events = all_events(store);
        let positions: Vec<u64> = events.iter().map(|e| e.position).collect();
        assert_eq!(positions, [1, 2, 3], "{}", f.backend);
        assert_eq!(
            events[1..],
            two[..],
            "{}: what was answered is what is stored",
            f.backend
        );
        let head = settled(store);
        assert_eq!(head.position, 3);
        assert_eq!(head.hash, events[2].hash(), "{}", f.backend);
        let window = store.read_from(2, 1).expect("read");
        assert_eq!(window.len(), 1);
        assert_eq!(window[0].position, 2);
        assert!(store.read_from(4, 10).expect("read").is_empty());

        // A refused append writes nothing; the next one lands after the head: right after it
        // where the backend promises gapless positions (sled), or later (PostgreSQL claims
        // positions before its checks, so a refused append may leave its claim unused).
        let stale = append(store, request(vec![new_event(a, 3)], vec![(a, 0)]));
        assert!(matches!(stale, AppendOutcome::VersionConflict { .. }));
        assert_eq!(settled(store).position, 3, "{}", f.backend);
        let next = committed(append(store, request(vec![new_event(a, 4)], vec![(a, 2)])));
        if store.positions_gapless().expect("gapless") {
            assert_eq!(next[0].position, 4, "{}", f.backend);
        } else {
            assert!(next[0].position > 3, "{}", f.backend);
        }
        assert_eq!(settled(store).position, next[0].position);
    }
}

#[test]
fn each_members_events_form_one_hash_chain_from_genesis() {
    for f in fixtures() {
        let store = f.store.as_ref();
        let (a, b) = (member(1), member(2));
        // The two members' appends interleave in the log; each chain skips the other's events.
        for n in 0..5u32 {
            for m in [a, b] {
                let events = (0..=n)
                    .map(|k| new_event(m, n * 10 + k))
                    .collect::<Vec<_>>();
                let version = store.member_version(m).expect("version");
                committed(append(store, request(events, vec![(m, version)])));
            }
        }
        let mut last: std::collections::HashMap<Uuid, [u8; 32]> = Default::default();
        for e in all_events(store) {
            let prev = last.get(&e.member).copied().unwrap_or(GENESIS_HASH);
            assert_eq!(e.prev_hash, prev, "{} at {}", f.backend, e.position);
            assert_eq!(e.hash(), e.computed_hash(), "{}", f.backend);
            last.insert(e.member, e.hash());
        }
        assert_eq!(last.len(), 2);
        let end = all_events(store).last().cloned().expect("events");
        let head = settled(store);
        assert_eq!(
            (head.position, head.hash),
            (end.position, end.hash()),
            "{}: the head is the last event",
            f.backend
        );
    }
}

#[test]
fn member_versions_count_up_and_a_stale_expectation_is_a_conflict_that_writes_nothing() {
    for f in fixtures() {
        let store = f.store.as_ref();
        let (a, b) = (member(1), member(2));
        let events = committed(append(
            store,
            request(
                vec![new_event(a, 1), new_event(a, 2), new_event(b, 1)],
                vec![(a, 0), (b, 0)],
            ),
        ));
        let versions: Vec<u64> = events.iter().map(|e| e.member_version).collect();
        assert_eq!(versions, [1, 2, 1], "{}", f.backend);
        assert_eq!(store.member_version(a).expect("version"), 2);
        assert_eq!(store.member_version(member(9)).expect("version"), 0);
        let head = settled(store);
        let mut stale = request(vec![new_event(b, 2)], vec![(a, 1), (b, 1)]);
        stale.projections = vec![(b"Pstale".to_vec(), Some(b"x".to_vec()))];
        match append(store, stale) {
            AppendOutcome::VersionConflict {
                member: m,
                expected,
                actual,
            } => assert_eq!((m, expected, actual), (a, 1, 2), "{}", f.backend),
            other => panic!("{}: expected a conflict, got {other:?}", f.backend),
        }
        assert_eq!(settled(store), head, "{}: nothing written", f.backend);
        assert_eq!(store.projection(b"Pstale").expect("read"), None);
        assert_eq!(store.member_version(b).expect("version"), 1);
    }
}

#[test]
fn a_repeated_key_is_a_duplicate_with_its_first_record_and_a_reused_key_is_refused() {
    for f in fixtures() {
        let store = f.store.as_ref();
        let a = member(1);
        let mut first = request(vec![new_event(a, 1), new_event(a, 2)], vec![(a, 0)]);
        first.idempotency = claim("k-1", 7);
        let events = committed(append(store, first));
        let record = store.idempotency("k-1").expect("read").expect("a record");
        assert_eq!(record.positions(), [1, 2], "{}", f.backend);
        assert_eq!(record.payload_hash, [7u8; 32]);
        assert!(events
            .iter()
            .all(|e| e.idempotency_key.as_deref() == Some("k-1")));
        let mut again = request(vec![new_event(a, 3)], vec![(a, 2)]);
        again.idempotency = claim("k-1", 7);
        match append(store, again) {
            AppendOutcome::Duplicate(r) => assert_eq!(r, record, "{}", f.backend),
            other => panic!("{}: expected a duplicate, got {other:?}", f.backend),
        }
        let mut reused = request(vec![new_event(a, 3)], vec![(a, 2)]);
        reused.idempotency = claim("k-1", 8);
        assert!(
            matches!(append(store, reused), AppendOutcome::KeyReused),
            "{}",
            f.backend
        );
        assert_eq!(settled(store).position, 2, "{}", f.backend);
        assert_eq!(store.idempotency("k-2").expect("read"), None);
    }
}

#[test]
fn projections_are_written_with_their_events_and_scanned_by_prefix() {
    for f in fixtures() {
        let store = f.store.as_ref();
        let a = member(1);
        let mut req = request(vec![new_event(a, 1)], vec![(a, 0)]);
        req.projections = vec![
            (b"Ca".to_vec(), Some(b"1".to_vec())),
            (b"Cb".to_vec(), Some(b"2".to_vec())),
            (b"Ra".to_vec(), Some(Vec::new())),
            (b"C\xff".to_vec(), Some(b"3".to_vec())),
        ];
        committed(append(store, req));
        assert_eq!(store.projection(b"Ca").expect("read"), Some(b"1".to_vec()));
        let scan = store.projection_scan(b"C").expect("scan");
        let keys: Vec<&[u8]> = scan.iter().map(|(k, _)| k.as_slice()).collect();
        assert_eq!(keys, [&b"Ca"[..], b"Cb", b"C\xff"], "{}", f.backend);
        assert_eq!(store.projection_scan(b"").expect("scan").len(), 4);
        // Key ranges: `from` included, `until` excluded, `None` to the end of every key.
        let ranges: [(&[u8], Option<&[u8]>, Vec<&[u8]>); 5] = [
            (b"C", Some(b"D"), vec![b"Ca", b"Cb", b"C\xff"]),
            (b"Cb", Some(b"C\xff"), vec![b"Cb"]),
            (b"Ca\x00", Some(b"Cb\x00"), vec![b"Cb"]),
            (b"Cc", None, vec![b"C\xff", b"Ra"]),
            (b"", Some(b"Ca"), vec![]),
        ];
        for (from, until, expected) in ranges {
            let keys = store.projection_keys_in(from, until).expect("keys");
            assert_eq!(keys, expected, "{} {from:?}..{until:?}", f.backend);
        }
        let mut req = request(vec![new_event(a, 2)], vec![(a, 1)]);
        req.projections = vec![
            (b"Ca".to_vec(), None),
            (b"Cb".to_vec(), Some(b"22".to_vec())),
        ];
        committed(append(store, req));
        assert_eq!(
            store.projection(b"Ca").expect("read"),
            None,
            "{}",
            f.backend
        );
        assert_eq!(store.projection(b"Cb").expect("read"), Some(b"22".to_vec()));
        store
            .write_projections(vec![
                (b"Cb".to_vec(), None),
                (b"Cc".to_vec(), Some(b"4".to_vec())),
            ])
            .expect("rewrite");
        let scan = store.projection_scan(b"C").expect("scan");
        let keys: Vec<&[u8]> = scan.iter().map(|(k, _)| k.as_slice()).collect();
        assert_eq!(keys, [&b"Cc"[..], b"C\xff"], "{}", f.backend);
    }
}

#[test]
fn member_reads_follow_each_stream_and_the_event_id_index_points_at_its_event() {
    for f in fixtures() {
        let store = f.store.as_ref();
        let (a, b) = (member(1), member(2));
        committed(append(
            store,
            request(vec![new_event(a, 1), new_event(b, 1)], vec![]),
        ));
        committed(append(store, request(vec![new_event(b, 2)], vec![(b, 1)])));
        committed(append(store, request(vec![new_event(a, 2)], vec![(a, 1)])));
        let of_a = store.read_member(a, None).expect("read");
        assert_eq!(
            of_a.iter().map(|e| e.position).collect::<Vec<_>>(),
            [1, 4],
            "{}",
            f.backend
        );
        let up_to_3 = store.read_member(a, Some(3)).expect("read");
        assert_eq!(up_to_3.len(), 1, "{}", f.backend);
        let after = store.read_member_after(b, 1).expect("read");
        assert_eq!(
            after.iter().map(|e| e.member_version).collect::<Vec<_>>(),
            [2]
        );
        // A visit sees what a read returns, borrowed: the same events, in the same order.
        for (who, after_version) in [(a, 0), (a, 1), (b, 0), (b, 2), (member(9), 0)] {
            let read = store.read_member_after(who, after_version).expect("read");
            let mut visited = Vec::new();
            store
                .visit_member_after(who, after_version, &mut |view| {
                    visited.push((view.position, view.member_version, view.data.to_vec()));
                    Ok(())
                })
                .expect("visit");
            let expected: Vec<_> = read
                .iter()
                .map(|e| (e.position, e.member_version, e.data().to_vec()))
                .collect();
            assert_eq!(
                visited, expected,
                "{} {who} after {after_version}",
                f.backend
            );
        }
        assert!(store.read_member(member(9), None).expect("read").is_empty());
        let mut members = store.members().expect("members");
        members.sort();
        assert_eq!(members, [a, b], "{}", f.backend);
        for e in all_events(store) {
            assert_eq!(
                store.event_position(e.event_id).expect("index"),
                Some(e.position)
            );
        }
        assert_eq!(store.event_position(Uuid::new_v4()).expect("index"), None);
        assert!(store.size_on_disk().expect("size") > 0, "{}", f.backend);
    }
}

#[test]
fn a_group_applies_each_append_on_its_own_in_order() {
    for f in fixtures() {
        let store = f.store.as_ref();
        let (a, b, c) = (member(1), member(2), member(3));
        let mut keyed = request(vec![new_event(a, 1)], vec![(a, 0)]);
        keyed.idempotency = claim("g-1", 1);
        let mut same_key = request(vec![new_event(b, 9)], vec![(b, 0)]);
        same_key.idempotency = claim("g-1", 1);
        let group = vec![
            keyed,
            request(vec![new_event(a, 2)], vec![(a, 0)]), // stale: the first moved a to 1
            same_key,                                     // the first's key, same payload
            request(vec![new_event(c, 1), new_event(c, 2)], vec![(c, 0)]),
        ];
        let ticket = store.append_group(group);
        let outcomes = ticket.applied.blocking_recv().expect("an answer");
        ticket
            .durable
            .blocking_recv()
            .expect("an answer")
            .expect("durable");
        assert_eq!(outcomes.len(), 4, "{}", f.backend);
        let outcomes: Vec<AppendOutcome> = outcomes
            .into_iter()
            .map(|o| o.expect("no storage error"))
            .collect();
        assert!(matches!(&outcomes[0], AppendOutcome::Committed(e) if e[0].position == 1));
        assert!(
            matches!(
                outcomes[1],
                AppendOutcome::VersionConflict { actual: 1, .. }
            ),
            "{}: {:?}",
            f.backend,
            outcomes[1]
        );
        assert!(matches!(&outcomes[2], AppendOutcome::Duplicate(r) if r.positions() == [1]));
        assert!(
            matches!(&outcomes[3], AppendOutcome::Committed(e) if e.len() == 2 && e[0].position == 2)
        );
        assert_eq!(all_events(store).len(), 3, "{}", f.backend);
        store
            .sync()
            .blocking_recv()
            .expect("an answer")
            .expect("synced");
    }
}

#[test]
fn a_group_refuses_what_was_decided_on_top_of_a_refused_append_even_when_versions_match() {
    for f in fixtures() {
        let store = f.store.as_ref();
        let (a, b) = (member(1), member(2));
        // Another submitter moves a to version 1 while the group is decided on a at 0.
        committed(append(store, request(vec![new_event(a, 1)], vec![(a, 0)])));
        let group = vec![
            request(vec![new_event(a, 100)], vec![(a, 0)]), // stale: refused
            request(vec![new_event(a, 101)], vec![(a, 1)]), // decided on top of the refused one
            request(vec![new_event(b, 1)], vec![(b, 0)]),   // another member: unaffected
        ];
        let ticket = store.append_group(group);
        let outcomes = ticket.applied.blocking_recv().expect("an answer");
        let outcomes: Vec<AppendOutcome> = outcomes
            .into_iter()
            .map(|o| o.expect("no storage error"))
            .collect();
        assert!(
            matches!(
                outcomes[0],
                AppendOutcome::VersionConflict { actual: 1, .. }
            ),
            "{}",
            f.backend
        );
        assert!(
            matches!(
                outcomes[1],
                AppendOutcome::VersionConflict {
                    expected: 1,
                    actual: 1,
                    ..
                }
            ),
            "{}: the second version matches only by coincidence: {:?}",
            f.backend,
            outcomes[1]
        );
        assert!(matches!(&outcomes[2], AppendOutcome::Committed(e) if e[0].member == b));
        assert_eq!(
            store.member_version(a).expect("version"),
            1,
            "{}",
            f.backend
        );
    }
}

/// Ledger-level checks over each backend: the facade works unchanged on top of the store.
fn ledger(f: &Fixture) -> Ledger {
    Ledger::with_store(Arc::clone(&f.store), PolicySet::shipped())
}

const M: &str = "00000000-0000-4000-8000-00000000cf01";
const HEIR: &str = "00000000-0000-4000-8000-00000000cf02";

fn enroll(member: &str) -> String {
    format!(
        r#"{{"type":"enroll","member":"{member}","region":"luzhou","scheme":"employee","sex":"female","birth_date":"1970-01-01","date":"2023-01-01","key":"enroll-{member}"}}"#
    )
}

fn contribute(month: &str) -> String {
    format!(
        r#"{{"type":"contribute","member":"{M}","month":"{month}","wage":"8000.00","payer":"employer","key":"pay-{month}"}}"#
    )
}

#[test]
fn the_ledger_submits_answers_and_verifies_on_every_backend() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for f in fixtures() {
        let ledger = ledger(&f);
        runtime.block_on(async {
            ledger.submit_json(&enroll(M)).await.expect("enroll");
            ledger.submit_json(&enroll(HEIR)).await.expect("enroll heir");
            let first = ledger.submit_json(&contribute("2024-01")).await.expect("pay");
            let again = ledger.submit_json(&contribute("2024-01")).await.expect("retry");
            assert_eq!(first, again, "{}: a retried key answers the first receipt", f.backend);
            let lines: Vec<String> = ["2024-02", "2024-03", "2024-01"].map(contribute).to_vec();
            let results = ledger.submit_json_batch(&lines).await;
            assert!(results[..2].iter().all(Result::is_ok), "{}", f.backend);
            assert_eq!(results[2].as_ref().ok(), Some(&first), "{}", f.backend);
            let duplicate_month = format!(
                r#"{{"type":"contribute","member":"{M}","month":"2024-02","wage":"9000.00","payer":"employer"}}"#
            );
            let refused = ledger.submit_json(&duplicate_month).await;
            assert_eq!(refused.err().map(|e| e.code()), Some("duplicate_month"));
            let view = ledger.account(M.parse().expect("uuid"), ViewAt::Head).await.expect("view");
            assert_eq!(view.balance.to_string(), "480.00", "{}", f.backend);
            for line in [
                format!(r#"{{"type":"record_death","member":"{M}","date":"2024-06-30"}}"#),
                format!(r#"{{"type":"settle_inheritance","member":"{M}","date":"2024-07-05","heirs":[{{"heir":"{HEIR}","name":"h","share":"1"}}]}}"#),
            ] {
                ledger.submit_json(&line).await.expect("death and settlement");
            }
            let heir = ledger.account(HEIR.parse().expect("uuid"), ViewAt::Head).await.expect("view");
            assert_eq!(heir.balance.to_string(), "480.00", "{}", f.backend);
            let report = ledger.verify(|_, _| {}).await.expect("verify");
            assert!(report.is_clean(), "{}: {report}", f.backend);
            let (events, members) = ledger
                .rebuild_projections(|_, _| {})
                .await
                .expect("rebuild");
            assert_eq!((events, members), (ledger.head().expect("head").position, 2));
            let report = ledger.verify(|_, _| {}).await.expect("verify");
            assert!(report.is_clean(), "{}: {report}", f.backend);
        });
    }
}

#[test]
fn a_dossier_built_on_any_backend_verifies_offline() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for f in fixtures() {
        let ledger = ledger(&f);
        runtime.block_on(async {
            ledger.submit_json(&enroll(M)).await.expect("enroll");
            for month in ["2024-01", "2024-02"] {
                ledger.submit_json(&contribute(month)).await.expect("pay");
            }
            let dossier = ledger
                .dossier(M.parse().expect("uuid"))
                .await
                .expect("dossier");
            member_ledger::audit::dossier::verify_dossier(&dossier).expect("offline check");
            ledger
                .check_dossier(&dossier)
                .await
                .expect("against the ledger");
        });
    }
}
