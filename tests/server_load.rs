//! The server under load on loopback (ignored by default; `scripts/server-load.sh` runs it in
//! release): `SERVER_LOAD_CLIENTS` clients (64) submit keyed commands for `SERVER_LOAD_SECONDS`
//! (60) while a consumer follows `/v1/events`. Prints commands/s and p50/p99 latency; checks
//! that the stream delivered every event exactly once, in order, every acknowledged command
//! among them with its hash, and that `verify` is clean afterwards.

mod serverkit;

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serverkit::*;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Months each member contributes before the client enrols the next one.
const MONTHS_PER_MEMBER: u32 = 120;

/// One client's loop: enrol a member, contribute 120 months, next member; until `stop`.
/// Returns (latency µs, position, hash) of each acknowledged command.
fn client(url: String, c: u32, stop: Arc<AtomicBool>) -> Vec<(u64, u64, String)> {
    let agent = agent();
    let mut acked = Vec::new();
    let mut n = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let m = member(1_000_000 + c * 10_000 + n / (MONTHS_PER_MEMBER + 1));
        let i = n % (MONTHS_PER_MEMBER + 1);
        let body = if i == 0 {
            enroll(&m)
        } else {
            contribute(&m, i)
        };
        let key = format!("load-{c}-{n}");
        let started = Instant::now();
        let request = agent
            .post(&url)
            .set("Authorization", &format!("Bearer {SUBMITTER}"))
            .set("Idempotency-Key", &key);
        let (status, text) = call(request, Some(&body));
        let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        assert_eq!(status, 200, "{body}: {text}");
        let event = &json(&text)["events"][0];
        acked.push((
            latency_us,
            event["position"].as_u64().expect("position"),
            event["hash"].as_str().expect("hash").to_string(),
        ));
        n += 1;
    }
    acked
}

fn percentile(sorted: &[u64], per_mille: usize) -> u64 {
    sorted[(sorted.len() - 1) * per_mille / 1000]
}

#[test]
#[ignore = "a 60-second load run; scripts/server-load.sh"]
fn sixty_four_clients_for_a_minute_lose_and_repeat_nothing() {
    let clients = u32::try_from(env_u64("SERVER_LOAD_CLIENTS", 64)).expect("clients");
    let seconds = env_u64("SERVER_LOAD_SECONDS", 60);
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("ledger");
    let mut server = Server::start(&data);
    let stop = Arc::new(AtomicBool::new(false));
    let consumer = {
        let mut stream = EventStream::open(&server, Some(1), None);
        std::thread::spawn(move || {
            let mut seen: HashMap<u64, String> = HashMap::new();
            let mut last = 0u64;
            while let Some(event) = stream.next() {
                assert_eq!(event.id, last + 1, "in order, none missed or repeated");
                last = event.id;
                let hash = event.data["hash"].as_str().expect("hash").to_string();
                assert!(seen.insert(event.id, hash).is_none());
            }
            seen
        })
    };
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|c| {
            let (url, stop) = (server.url("/v1/commands"), Arc::clone(&stop));
            std::thread::spawn(move || client(url, c, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<(u64, u64, String)> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("client"))
        .collect();
    let elapsed = started.elapsed();
    let head = head(&server);
    // Let the consumer reach the head, then shut down (which ends its stream).
    std::thread::sleep(Duration::from_secs(2));
    assert!(server.stop().success());
    let seen = consumer.join().expect("consumer");
    let mut latencies: Vec<u64> = acked.iter().map(|a| a.0).collect();
    latencies.sort_unstable();
    let positions: std::collections::HashSet<u64> = acked.iter().map(|a| a.1).collect();
    assert_eq!(
        positions.len(),
        acked.len(),
        "each acknowledged command has its own event"
    );
    assert_eq!(seen.len() as u64, head, "the stream delivered every event");
    for (_, position, hash) in &acked {
        assert_eq!(
            seen.get(position),
            Some(hash),
            "acknowledged event {position}"
        );
    }
    let verify = Command::new(BIN)
        .arg("--data")
        .arg(&data)
        .arg("verify")
        .output()
        .expect("verify");
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{report}");
    let millis = elapsed.as_millis().max(1);
    println!(
        "server load: {clients} clients, {:.1} s: {} commands acknowledged ({} per s), {} events, \
         latency p50 {} µs, p99 {} µs, max {} µs; stream: {} events, none missed or repeated; \
         verify: {}",
        elapsed.as_secs_f32(),
        acked.len(),
        acked.len() as u128 * 1000 / millis,
        head,
        percentile(&latencies, 500),
        percentile(&latencies, 990),
        latencies.last().copied().unwrap_or(0),
        seen.len(),
        report.lines().next().unwrap_or("")
    );
}
