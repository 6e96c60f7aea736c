//! End to end against a spawned `member-ledger serve` (docs/CONTRACT.md "HTTP service"), by a real
//! HTTP client: access control, batches, idempotency through the header, the event stream
//! resumed after a disconnect, SIGTERM during load, hostile requests, and the command line
//! talking to the server.

mod serverkit;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serverkit::*;

#[test]
fn requests_without_a_valid_token_get_401_and_without_the_role_403() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(&dir.path().join("ledger"));
    let m = member(1);
    let account = format!("/v1/members/{m}/account");
    // Health needs no token; everything else does.
    assert_eq!(get(&server, "/v1/health", None).0, 200);
    for token in [None, Some("not-a-token"), Some("")] {
        let (status, body) = get(&server, &account, token);
        assert_eq!(status, 401, "{token:?}: {body}");
        assert_eq!(json(&body)["error"]["code"], "unauthorized");
        assert_eq!(json(&body)["ok"], false);
    }
    assert_eq!(get(&server, "/metrics", None).0, 401);
    // A reader may not submit, nor read the log; nothing is written.
    let (status, body) = post(&server, &enroll(&m), READER, None);
    assert_eq!(
        (status, json(&body)["error"]["code"].clone()),
        (403, "forbidden".into())
    );
    assert_eq!(post(&server, &enroll(&m), NOBODY, None).0, 403);
    assert_eq!(post(&server, &enroll(&m), AUDITOR, None).0, 403);
    assert_eq!(get(&server, "/v1/events", Some(READER)).0, 403);
    assert_eq!(get(&server, &account, Some(AUDITOR)).0, 403);
    assert_eq!(head(&server), 0, "refused requests wrote nothing");
    // Granted: the submitter writes, the reader reads, the event names the submitter.
    let (status, body) = post(&server, &enroll(&m), SUBMITTER, None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["events"][0]["actor"], "claims-service");
    let (status, body) = get(&server, &account, Some(READER));
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["status"], "waiting");
    // Any valid token reads the metrics.
    let (status, text) = get(&server, "/metrics", Some(NOBODY));
    assert_eq!(status, 200);
    assert!(
        text.contains("member_ledger_http_request_seconds"),
        "{text}"
    );
    assert!(text.contains("member_ledger_flush_seconds"), "{text}");
    assert!(
        text.contains("member_ledger_appended_events_total"),
        "{text}"
    );
}

#[test]
fn sighup_reads_the_tokens_file_again_and_a_bad_file_changes_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(&dir.path().join("ledger"));
    let path = format!("/v1/members/{}/account", member(1));
    assert_eq!(get(&server, &path, Some("rotated-token")).0, 401);
    std::fs::write(
        &server.tokens,
        tokens_file(&[("front-desk", "rotated-token", &["read"])]),
    )
    .expect("write");
    server.signal("HUP");
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while get(&server, &path, Some("rotated-token")).0 == 401 {
        assert!(
            std::time::Instant::now() < until,
            "the reload did not happen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // 404: the token is valid now (the member is unknown); the old token is gone.
    assert_eq!(get(&server, &path, Some("rotated-token")).0, 404);
    assert_eq!(get(&server, &path, Some(READER)).0, 401);
    std::fs::write(&server.tokens, "[{\"name\":").expect("write");
    server.signal("HUP");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(get(&server, &path, Some("rotated-token")).0, 404);
    assert!(server.stderr_text().contains("tokens file refused"));
}

#[test]
fn a_batch_answers_each_command_in_order_as_submit_prints_it() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(&dir.path().join("ledger"));
    let m = member(2);
    let commands = [
        enroll(&m),
        contribute(&m, 1),
        format!(
            r#"{{"type":"spend","member":"{m}","date":"2000-02-01","amount":"1000.00","purpose":"pharmacy"}}"#
        ),
        r#"{"type":"enroll","member":"not-a-uuid"}"#.to_string(),
        format!(
            r#"{{"type":"spend","member":"{m}","date":"2000-02-01","amount":"1.00","amount":"2.00","purpose":"pharmacy"}}"#
        ),
        contribute(&m, 2),
    ];
    let (status, body) = post(
        &server,
        &format!("[{}]", commands.join(",")),
        SUBMITTER,
        None,
    );
    assert_eq!(status, 200, "{body}");
    let results = json(&body);
    let results = results.as_array().expect("an array");
    assert_eq!(results.len(), 6);
    let oks: Vec<bool> = results.iter().map(|r| r["ok"] == true).collect();
    assert_eq!(oks, [true, true, false, false, false, true]);
    assert_eq!(results[2]["error"]["code"], "insufficient_balance");
    assert_eq!(results[3]["error"]["code"], "invalid_input");
    assert_eq!(results[4]["error"]["code"], "invalid_input");
    assert!(results[4]["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("\"amount\" is given twice"));
    assert_eq!(results[0]["position"], 1);
    assert_eq!(results[1]["position"], 2);
    assert_eq!(results[5]["position"], 3);
    // 2000-01 at 5,000.00: own 2 % plus 0.8 % of the employer's share under 35 (Luzhou before
    // its 2023 reform) = 140.00, so 1,000.00 cannot be spent.
    assert_eq!(results[1]["events"][0]["data"]["account_credit"], "140.00");
    assert_eq!(head(&server), 3);

    // The same lines through `submit` on a fresh directory: the same results, event for event
    // (less the repeated key, which only the server's edge refuses: the library's parser keeps
    // the last value).
    let mut results = results.clone();
    results.remove(4);
    let mut commands = commands.to_vec();
    commands.remove(4);
    let other = dir.path().join("local");
    let mut child = Command::new(BIN)
        .arg("--data")
        .arg(&other)
        .arg("submit")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("submit");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(commands.join("\n").as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("output");
    let local: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(json)
        .collect();
    assert_eq!(local.len(), 5);
    for (remote, local) in results.iter().zip(&local) {
        assert_eq!(remote["ok"], local["ok"]);
        assert_eq!(remote["position"], local["position"]);
        assert_eq!(remote["error"]["code"], local["error"]["code"]);
        for (r, l) in remote["events"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(local["events"].as_array().into_iter().flatten())
        {
            assert_eq!((&r["type"], &r["data"]), (&l["type"], &l["data"]));
            assert_eq!(r["actor"], "claims-service");
            assert!(
                l.get("actor").is_none(),
                "the command line records no client"
            );
        }
    }

    // Over the batch limit: 413, nothing written.
    let many: Vec<String> = (0..513).map(|i| contribute(&member(100 + i), 1)).collect();
    let (status, body) = post(&server, &format!("[{}]", many.join(",")), SUBMITTER, None);
    assert_eq!(
        (status, json(&body)["error"]["code"].clone()),
        (413, "too_large".into())
    );
    assert_eq!(head(&server), 3);
    let (status, body) = post(&server, "[]", SUBMITTER, None);
    assert_eq!((status, body.as_str()), (200, "[]"));
}

#[test]
fn the_idempotency_key_header_makes_a_retry_safe() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(&dir.path().join("ledger"));
    let m = member(3);
    assert_eq!(post(&server, &enroll(&m), SUBMITTER, None).0, 200);
    let (status, first) = post(&server, &contribute(&m, 1), SUBMITTER, Some("receipt-77"));
    assert_eq!(status, 200, "{first}");
    let first = json(&first);
    assert_eq!(first["events"][0]["idempotency_key"], "receipt-77");
    // The retry gets the first answer (same position and hash); nothing more is written.
    let (status, again) = post(&server, &contribute(&m, 1), SUBMITTER, Some("receipt-77"));
    assert_eq!(status, 200);
    let again = json(&again);
    assert_eq!(again["position"], first["position"]);
    assert_eq!(again["events"][0]["hash"], first["events"][0]["hash"]);
    assert_eq!(head(&server), 2);
    // The key in the body is the same key.
    let body_keyed = contribute(&m, 1).replace("\"payer\"", "\"key\":\"receipt-77\",\"payer\"");
    let (status, third) = post(&server, &body_keyed, SUBMITTER, None);
    assert_eq!(
        (status, json(&third)["position"].clone()),
        (200, first["position"].clone())
    );
    // Another command under the key: 409 key_reused; header and body disagreeing: 400.
    let (status, body) = post(&server, &contribute(&m, 2), SUBMITTER, Some("receipt-77"));
    assert_eq!(
        (status, json(&body)["error"]["code"].clone()),
        (409, "key_reused".into())
    );
    let (status, _) = post(&server, &body_keyed, SUBMITTER, Some("receipt-78"));
    assert_eq!(status, 400);
    let (status, _) = post(
        &server,
        &format!("[{}]", contribute(&m, 2)),
        SUBMITTER,
        Some("k"),
    );
    assert_eq!(status, 400, "a header key cannot name a batch");
    // A rejection is kept under its key too: the retry is refused the same way, 409.
    let overdraw = format!(
        r#"{{"type":"spend","member":"{m}","date":"2000-02-01","amount":"500.00","purpose":"pharmacy"}}"#
    );
    let (s1, b1) = post(&server, &overdraw, SUBMITTER, Some("sale-1"));
    let (s2, b2) = post(&server, &overdraw, SUBMITTER, Some("sale-1"));
    assert_eq!((s1, s2), (409, 409));
    assert_eq!(json(&b1), json(&b2));
    assert_eq!(head(&server), 2);
}

#[test]
fn the_event_stream_resumes_after_a_disconnect_with_nothing_missed_or_repeated() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(&dir.path().join("ledger"));
    let members: Vec<String> = (0..4).map(|i| member(10 + i)).collect();
    let mut hashes = BTreeMap::new();
    let mut record = |body: &str| {
        for result in json(body)
            .as_array()
            .cloned()
            .unwrap_or_else(|| vec![json(body)])
        {
            for e in result["events"].as_array().into_iter().flatten() {
                hashes.insert(e["position"].as_u64().expect("position"), e["hash"].clone());
            }
        }
    };
    let batch: Vec<String> = members.iter().map(|m| enroll(m)).collect();
    record(&post(&server, &format!("[{}]", batch.join(",")), SUBMITTER, None).1);
    for i in 1..=5 {
        let batch: Vec<String> = members.iter().map(|m| contribute(m, i)).collect();
        record(&post(&server, &format!("[{}]", batch.join(",")), SUBMITTER, None).1);
    }
    assert_eq!(head(&server), 24);
    // Read ten events, then drop the connection.
    let mut seen = Vec::new();
    {
        let mut stream = EventStream::open(&server, Some(1), None);
        for _ in 0..10 {
            seen.push(stream.next().expect("an event"));
        }
    }
    // More events commit while no one listens, and while the resumed stream reads.
    let writer = {
        let addr = server.url("/v1/commands");
        let members = members.clone();
        std::thread::spawn(move || {
            let mut bodies = Vec::new();
            for i in 6..=15 {
                let batch: Vec<String> = members.iter().map(|m| contribute(m, i)).collect();
                let request = agent()
                    .post(&addr)
                    .set("Authorization", &format!("Bearer {SUBMITTER}"));
                bodies.push(call(request, Some(&format!("[{}]", batch.join(",")))).1);
                std::thread::sleep(Duration::from_millis(20));
            }
            bodies
        })
    };
    let last = seen.last().map(|e| e.id).expect("ten read");
    let mut stream = EventStream::open(&server, Some(1), Some(last));
    while seen.last().map(|e| e.id) != Some(64) {
        seen.push(
            stream
                .next()
                .expect("the stream goes on until the last event"),
        );
    }
    for body in writer.join().expect("writer") {
        record(&body);
    }
    let ids: Vec<u64> = seen.iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        (1..=64).collect::<Vec<u64>>(),
        "every event once, in order"
    );
    for event in &seen {
        assert_eq!(event.data["position"], event.id);
        assert_eq!(
            Some(&event.data["hash"]),
            hashes.get(&event.id),
            "the acknowledged event"
        );
    }
    // `from` past the head waits for new events; a bad Last-Event-ID is refused.
    let (status, _) = {
        let request = agent()
            .get(&server.url("/v1/events"))
            .set("Authorization", &format!("Bearer {AUDITOR}"))
            .set("Last-Event-ID", "seven");
        call(request, None)
    };
    assert_eq!(status, 400);
}

#[test]
fn sigterm_during_load_keeps_every_acknowledged_command_and_closes_streams() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("ledger");
    let mut server = Server::start(&data);
    const CLIENTS: u32 = 8;
    let batch: Vec<String> = (0..CLIENTS).map(|c| enroll(&member(200 + c))).collect();
    assert_eq!(
        post(&server, &format!("[{}]", batch.join(",")), SUBMITTER, None).0,
        200
    );
    let acknowledged = Arc::new(Mutex::new(Vec::<(u64, String, String)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let url = server.url("/v1/commands");
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (acknowledged, stop, url) =
                (Arc::clone(&acknowledged), Arc::clone(&stop), url.clone());
            std::thread::spawn(move || {
                let m = member(200 + c);
                for i in 1..=600 {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let key = format!("c{c}-m{i}");
                    let request = agent()
                        .post(&url)
                        .set("Authorization", &format!("Bearer {SUBMITTER}"))
                        .set("Idempotency-Key", &key);
                    let Ok(response) = request.send_string(&contribute(&m, i)) else {
                        return; // refused or cut: the server is going away
                    };
                    let body = json(&response.into_string().expect("body"));
                    let event = &body["events"][0];
                    let position = event["position"].as_u64().expect("position");
                    let hash = event["hash"].as_str().expect("hash").to_string();
                    acknowledged
                        .lock()
                        .expect("lock")
                        .push((position, hash, key));
                }
            })
        })
        .collect();
    let mut stream = EventStream::open(&server, Some(1), None);
    std::thread::sleep(Duration::from_millis(1500));
    server.signal("TERM");
    // The open stream ends (after what it had to send) instead of holding the shutdown.
    let streamed = std::thread::spawn(move || {
        let mut count = 0u64;
        while stream.next().is_some() {
            count += 1;
        }
        count
    });
    let status = server.wait(60);
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client");
    }
    assert!(status.success(), "serve exits 0 after SIGTERM: {status:?}");
    assert!(streamed.join().expect("stream reader") > 0);
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(acknowledged.len() > 20, "load ran: {}", acknowledged.len());
    // Every acknowledged command is in the log, at its position, with its hash.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let ledger = member_ledger::Ledger::open(&data).await.expect("reopens");
        for (position, hash, key) in &acknowledged {
            let stored = ledger
                .log()
                .event_at(*position)
                .expect("read")
                .expect("present");
            assert_eq!(&hex::encode(stored.hash()), hash, "position {position}");
            assert_eq!(stored.idempotency_key.as_deref(), Some(key.as_str()));
            assert_eq!(stored.actor.as_deref(), Some("claims-service"));
        }
    });
    let verify = Command::new(BIN)
        .arg("--data")
        .arg(&data)
        .arg("verify")
        .output()
        .expect("verify");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

#[test]
fn hostile_requests_get_4xx_and_write_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(&dir.path().join("ledger"));
    let m = member(4);
    assert_eq!(post(&server, &enroll(&m), SUBMITTER, None).0, 200);
    let huge = format!("[{}]", vec![contribute(&m, 1); 40_000].join(","));
    let deep = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let long_key = "k".repeat(257);
    let bodies: Vec<(String, Option<&str>, u16, &str)> = vec![
        ("{".into(), None, 400, "invalid_input"),
        ("".into(), None, 400, "invalid_input"),
        ("42".into(), None, 400, "invalid_input"),
        ("[1,".into(), None, 400, "invalid_input"),
        (deep, None, 400, "invalid_input"),
        (
            format!(
                r#"{{"type":"spend","member":"{m}","member":"{}","date":"2000-02-01","amount":"1.00","purpose":"pharmacy"}}"#,
                member(5)
            ),
            None,
            400,
            "invalid_input",
        ),
        (
            contribute("00000000-0000-4000-8000-00000000000g", 1),
            None,
            400,
            "invalid_input",
        ),
        (
            contribute(&m, 1).replace("2000-01", "2000-13"),
            None,
            400,
            "invalid_input",
        ),
        (
            format!(r#"{{"type":"retire","member":"{m}","date":"2024-02-30"}}"#),
            None,
            400,
            "invalid_input",
        ),
        (
            contribute(&m, 1).replace("5000.00", "1e400"),
            None,
            400,
            "invalid_input",
        ),
        (
            contribute(&m, 1),
            Some(long_key.as_str()),
            400,
            "invalid_input",
        ),
        (huge, None, 413, "too_large"),
        (
            contribute(&m, 1).replace(
                "\"employer\"",
                &format!("\"employer\",\"x\":\"{}\"", "x".repeat(70_000)),
            ),
            None,
            413,
            "too_large",
        ),
    ];
    for (body, key, status, code) in &bodies {
        let (got, answer) = post(&server, body, SUBMITTER, *key);
        let shown: String = body.chars().take(80).collect();
        assert_eq!(got, *status, "{shown}: {answer}");
        assert_eq!(json(&answer)["error"]["code"], *code, "{shown}");
    }
    // Not UTF-8.
    let request = agent()
        .post(&server.url("/v1/commands"))
        .set("Authorization", &format!("Bearer {SUBMITTER}"));
    let (status, _) = match request.send_bytes(&[0x7b, 0xff, 0xfe, 0x7d]) {
        Ok(r) => (r.status(), ()),
        Err(ureq::Error::Status(s, _)) => (s, ()),
        Err(e) => panic!("{e}"),
    };
    assert_eq!(status, 400);
    // Reads with bad members, dates, positions and parameters.
    for path in [
        "/v1/members/not-a-uuid/account".to_string(),
        format!("/v1/members/{m}/account?as_of=2024-02-30"),
        format!("/v1/members/{m}/account?as_of=2024-1-1"),
        format!("/v1/members/{m}/account?at=-1"),
        format!("/v1/members/{m}/account?as_of=2024-01-01&at=x"),
        format!("/v1/members/{m}/account?color=red"),
        format!("/v1/members/{m}/statement?from=yesterday"),
        format!("/v1/members/{m}/statement?to=2024-01-01&to=2024-02-01"),
    ] {
        let (status, body) = get(&server, &path, Some(READER));
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(json(&body)["error"]["code"], "invalid_input", "{path}");
    }
    assert_eq!(
        get(
            &server,
            &format!("/v1/members/{}/account", member(6)),
            Some(READER)
        )
        .0,
        404
    );
    assert_eq!(get(&server, "/v1/nothing", Some(READER)).0, 404);
    assert_eq!(get(&server, "/v1/events?from=x", Some(AUDITOR)).0, 400);
    assert_eq!(
        call(agent().delete(&server.url("/v1/commands")), None).0,
        405
    );
    assert_eq!(head(&server), 1, "nothing was written");
    let stderr = server.stderr_text();
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Runs the binary with `--server` and the token in the environment.
fn client(
    server: &Server,
    token: Option<&str>,
    args: &[&str],
    stdin: &str,
) -> (i32, String, String) {
    use std::io::Write;
    let mut command = Command::new(BIN);
    command.arg("--server").arg(server.url("")).args(args);
    command.env_remove("MEMBER_LEDGER_TOKEN");
    if let Some(t) = token {
        command.env("MEMBER_LEDGER_TOKEN", t);
    }
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("stdin");
    let out = child.wait_with_output().expect("output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_command_line_submits_and_reads_through_the_server() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(&dir.path().join("ledger"));
    let m = member(7);
    let lines = format!(
        "{}\n{}\nnot json\n{}\n",
        enroll(&m),
        contribute(&m, 1),
        contribute(&m, 1)
    );
    let (code, out, err) = client(&server, Some(SUBMITTER), &["submit"], &lines);
    assert_eq!(code, 1, "two lines rejected: {err}");
    let results: Vec<serde_json::Value> = out.lines().map(json).collect();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["events"][0]["actor"], "claims-service");
    assert_eq!(results[2]["error"]["code"], "invalid_input");
    // A second employer payment for 2000-01 is refused, as `submit` refuses it.
    assert_eq!(
        results[3]["error"]["code"], "duplicate_month",
        "{}",
        results[3]
    );
    let (code, out, _) = client(&server, Some(READER), &["account", &m, "--json"], "");
    assert_eq!(code, 0);
    let (_, direct) = get(&server, &format!("/v1/members/{m}/account"), Some(READER));
    assert_eq!(out.trim_end(), direct, "the server's view, as sent");
    assert_eq!(json(&out)["balance"], "140.00");
    let (code, out, _) = client(&server, Some(READER), &["statement", &m, "--explain"], "");
    assert_eq!(code, 0);
    assert!(out.contains("submitted by claims-service"), "{out}");
    assert!(out.contains("of base 5000.00 = 140.00"), "{out}");
    let (code, out, _) = client(
        &server,
        Some(READER),
        &["account", &m, "--as-of", "1999-12-31"],
        "",
    );
    assert_eq!(code, 1, "not enrolled then: {out}");
    // Without the token, with the wrong role, or for a subcommand that reads files: exit 2.
    let (code, _, err) = client(&server, None, &["account", &m], "");
    assert_eq!(code, 2);
    assert!(err.contains("MEMBER_LEDGER_TOKEN"), "{err}");
    let (code, out, err) = client(&server, Some(READER), &["submit"], &contribute(&m, 2));
    assert_eq!(code, 2, "{out} {err}");
    assert_eq!(json(out.trim())["error"]["code"], "forbidden");
    let (code, _, err) = client(&server, Some(SUBMITTER), &["verify"], "");
    assert_eq!(code, 2);
    assert!(err.contains("--server works with"), "{err}");
}

#[test]
fn a_held_directory_is_refused_by_every_subcommand_with_a_message_naming_the_server() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("ledger");
    let server = Server::start(&data);
    let m = member(8);
    assert_eq!(post(&server, &enroll(&m), SUBMITTER, None).0, 200);
    let dossier = dir.path().join("d.json");
    std::fs::write(&dossier, "{}").expect("write");
    let copy = dir.path().join("copy");
    let dossier_arg = dossier.to_string_lossy().into_owned();
    let copy_arg = copy.to_string_lossy().into_owned();
    let data_arg = data.to_string_lossy().into_owned();
    let runs: Vec<Vec<&str>> = vec![
        vec!["submit"],
        vec!["account", &m],
        vec!["statement", &m],
        vec!["verify"],
        vec!["replay"],
        vec!["diff", &m, "--from", "1", "--to", "2"],
        vec!["dossier", &m, "--out", &dossier_arg],
        vec!["demo"],
        vec!["load", "--members", "1", "--years", "1"],
        vec!["migrate", "--from", &data_arg, "--to", &copy_arg],
        vec!["serve", "--listen", "127.0.0.1:0"],
    ];
    for args in runs {
        let out = Command::new(BIN)
            .arg("--data")
            .arg(&data)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout} {stderr}");
        assert!(
            stderr.contains("in use by another process"),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("member-ledger serve"), "{args:?}: {stderr}");
        assert!(
            !stdout.contains("damaged") && !stderr.contains("damaged"),
            "{args:?}: {stdout} {stderr}"
        );
    }
    assert_eq!(head(&server), 1, "the server still serves");
}

#[test]
fn the_client_is_shown_by_statements_explain_and_dossiers_and_covered_by_the_hash() {
    use member_ledger::audit::dossier::verify_dossier;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("dir");
        let ledger = member_ledger::Ledger::open(dir.path()).await.expect("open");
        let m = member(9);
        let id: member_ledger::domain::MemberId = m.parse().expect("id");
        for (line, actor) in [
            (enroll(&m), Some("claims-service")),
            (contribute(&m, 1), None),
        ] {
            let (command, key) = member_ledger::domain::parse_command(&line).expect("command");
            ledger
                .submit_as(command, key, actor.map(str::to_string))
                .await
                .expect("accepted");
        }
        let statement = ledger.statement(id, None, None).await.expect("statement");
        assert_eq!(statement.lines[0].actor.as_deref(), Some("claims-service"));
        assert_eq!(statement.lines[1].actor, None);
        let json = serde_json::to_value(&statement).expect("json");
        assert_eq!(json["lines"][0]["actor"], "claims-service");
        assert!(
            json["lines"][1].get("actor").is_none(),
            "absent when none was recorded"
        );
        let text = statement.to_explained_text();
        assert_eq!(
            text.matches("submitted by claims-service").count(),
            2,
            "{text}"
        );
        let dossier = ledger.dossier(id).await.expect("dossier");
        assert_eq!(
            dossier.events[0].event.actor.as_deref(),
            Some("claims-service")
        );
        assert!(verify_dossier(&dossier).is_ok());
        // The name is in the hashed record: another name shown is caught.
        let mut edited = dossier.clone();
        edited.events[0].event.actor = Some("someone-else".into());
        assert!(verify_dossier(&edited).is_err());
    });
}
