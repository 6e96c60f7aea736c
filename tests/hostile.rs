//! Hostile input: malformed, oversized, out-of-range and non-UTF-8 command lines, through
//! `Ledger::submit_json` and through the binary's `submit`. Each is refused with the contract's
//! code (`invalid_input` for anything malformed), the head does not move, nothing panics, and the
//! binary's exit status follows the contract (1 when a command was rejected, 2 on a usage error).

use std::io::Write;
use std::process::{Command, Stdio};

use member_ledger::{Ledger, SubmitError};
use proptest::prelude::*;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_member-ledger");
/// An active employee with a balance of 160.00.
const EMPLOYEE: &str = "00000000-0000-4000-8000-00000000ee01";
/// A deceased employee with a balance of 160.00, not yet settled.
const DECEASED: &str = "00000000-0000-4000-8000-00000000ee02";
/// Not enrolled.
const NEWCOMER: &str = "00000000-0000-4000-8000-00000000ee03";
/// The binary's line limit (`SUBMIT_LINE_BYTES_MAX`), in bytes.
const LINE_BYTES_MAX: usize = 64 * 1024;
/// Nesting well past serde_json's recursion limit (128): must be refused, not overflow the stack.
const NESTING_DEPTH: usize = 100_000;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn options() -> member_ledger::store::StoreOptions {
    member_ledger::store::StoreOptions {
        fsync: false, // not a durability test
        ..Default::default()
    }
}

async fn given_members(dir: &std::path::Path) -> Ledger {
    let store = member_ledger::store::SledStore::open_with(dir, options()).expect("open");
    let ledger = Ledger::with_store(
        std::sync::Arc::new(store),
        member_ledger::policy::PolicySet::shipped(),
    );
    for m in [EMPLOYEE, DECEASED] {
        for line in [
            format!(
                r#"{{"type":"enroll","member":"{m}","region":"luzhou","scheme":"employee","sex":"male","birth_date":"1970-01-01","date":"2022-01-01"}}"#
            ),
            format!(
                r#"{{"type":"contribute","member":"{m}","month":"2024-01","wage":"8000.00","payer":"employer"}}"#
            ),
        ] {
            ledger.submit_json(&line).await.expect("setup");
        }
    }
    let death = format!(r#"{{"type":"record_death","member":"{DECEASED}","date":"2024-06-30"}}"#);
    ledger.submit_json(&death).await.expect("death");
    ledger
}

/// Submits `line` and checks it is refused with `code` and leaves the head where it was.
async fn assert_refused(ledger: &Ledger, line: &str, code: &str) {
    let head = ledger.head().expect("head");
    let result = ledger.submit_json(line).await;
    let shown: String = line.chars().take(200).collect();
    match result {
        Err(SubmitError::Rejected(r)) => assert_eq!(r.code.as_str(), code, "{shown}: {r}"),
        other => panic!("{shown}: expected {code}, got {other:?}"),
    }
    assert_eq!(ledger.head().expect("head"), head, "{shown} moved the head");
}

fn nested(depth: usize, open: &str, close: &str, inner: &str) -> String {
    let mut s = String::with_capacity(depth * (open.len() + close.len()) + inner.len());
    for _ in 0..depth {
        s.push_str(open);
    }
    s.push_str(inner);
    for _ in 0..depth {
        s.push_str(close);
    }
    s
}

fn spend(amount: &str) -> String {
    format!(
        r#"{{"type":"spend","member":"{EMPLOYEE}","date":"2024-06-01","amount":{amount},"purpose":"pharmacy"}}"#
    )
}

fn settle(shares: &[&str]) -> String {
    let heirs: Vec<Value> = shares
        .iter()
        .map(|s| json!({"heir": EMPLOYEE, "name": "heir", "share": s}))
        .collect();
    json!({"type": "settle_inheritance", "member": DECEASED, "date": "2024-07-01", "heirs": heirs})
        .to_string()
}

/// Hand-picked hostile lines, each with the code it must get.
fn hand_picked() -> Vec<(String, &'static str)> {
    let enroll = |birth: &str, date: &str| {
        format!(
            r#"{{"type":"enroll","member":"{NEWCOMER}","region":"luzhou","scheme":"employee","sex":"male","birth_date":"{birth}","date":"{date}"}}"#
        )
    };
    let contribute = |month: &str, wage: &str| {
        format!(
            r#"{{"type":"contribute","member":"{EMPLOYEE}","month":"{month}","wage":{wage},"payer":"employer"}}"#
        )
    };
    let max = "79228162514264337593543950335";
    vec![
        // Not a command at all.
        (String::new(), "invalid_input"),
        ("null".into(), "invalid_input"),
        ("[]".into(), "invalid_input"),
        ("\u{feff}{}".into(), "invalid_input"),
        (r#"{"type":null}"#.into(), "invalid_input"),
        (r#"{"type":"withdraw_cash"}"#.into(), "invalid_input"),
        (r#"{"type":"spend","key":42}"#.into(), "invalid_input"),
        (format!(r#"{{"type":"spend","key":"{}"}}"#, "k".repeat(257)), "invalid_input"),
        // Wrong types.
        (spend("true"), "invalid_input"),
        (spend("[]"), "invalid_input"),
        (spend(r#"{"yuan":1}"#), "invalid_input"),
        (r#"{"type":"spend","member":7,"date":"2024-06-01","amount":"1.00","purpose":"pharmacy"}"#.into(), "invalid_input"),
        (format!(r#"{{"type":"recognize_deemed","member":"{EMPLOYEE}","date":"2024-06-01","months":"12","basis":"military"}}"#), "invalid_input"),
        // Huge numbers.
        (spend("1e400"), "invalid_input"),
        (spend(&format!("\"{max}\"")), "invalid_input"),
        (spend("\"100000000000.01\""), "invalid_input"),
        (contribute("2024-02", "18446744073709551616"), "invalid_input"),
        (format!(r#"{{"type":"recognize_deemed","member":"{EMPLOYEE}","date":"2024-06-01","months":4294967296,"basis":"military"}}"#), "invalid_input"),
        (format!(r#"{{"type":"recognize_deemed","member":"{EMPLOYEE}","date":"2024-06-01","months":1201,"basis":"military"}}"#), "invalid_input"),
        (format!(r#"{{"type":"pay_premium","member":"{EMPLOYEE}","coverage_year":2147483648,"personal":"1.00","subsidy":"1.00","date":"2024-06-01"}}"#), "invalid_input"),
        (r#"{"type":"credit_interest","year":2147483648}"#.into(), "invalid_input"),
        (r#"{"type":"credit_interest","year":-2147483648}"#.into(), "invalid_input"),
        (r#"{"type":"credit_interest","year":99999}"#.into(), "invalid_input"),
        (format!(r#"{{"type":"spend","member":"{EMPLOYEE}","date":"2024-06-01","amount":"1.00","purpose":"relative_premium","beneficiary":"x","coverage_year":2147483647}}"#), "invalid_input"),
        (format!(r#"{{"type":"set_pension","member":"{EMPLOYEE}","date":"2024-06-01","pension":"-1.00"}}"#), "invalid_input"),
        (format!(r#"{{"type":"set_pension","member":"{EMPLOYEE}","date":"2024-06-01","pension":"{max}"}}"#), "invalid_input"),
        (format!(r#"{{"type":"register_relative","member":"{EMPLOYEE}","date":"2024-06-01","relation":"spouse","relative":null,"name":"{}"}}"#, "名".repeat(80)), "invalid_input"),
        (format!(r#"{{"type":"register_relative","member":"{EMPLOYEE}","date":"2024-06-01","relation":"cousin","relative":null,"name":"x"}}"#), "invalid_input"),
        // Three decimals, negative money, float-only numbers.
        (spend("\"1.234\""), "invalid_input"),
        (spend("1.005"), "invalid_input"),
        (spend("\"-5.00\""), "invalid_input"),
        (spend("\"-0.00\""), "invalid_input"),
        (spend("\"0.00\""), "invalid_input"),
        (spend("\"1e2\""), "invalid_input"),
        (spend("\"NaN\""), "invalid_input"),
        (contribute("2024-02", "\"-8000.00\""), "invalid_input"),
        (format!(r#"{{"type":"transfer_in","member":"{EMPLOYEE}","date":"2024-06-01","from_region":"chongqing","balance":"-1.00","months":1}}"#), "invalid_input"),
        // Out-of-range dates and months.
        (enroll("1970-01-01", "2024-02-30"), "invalid_input"),
        (enroll("1899-12-31", "2024-01-01"), "invalid_input"),
        (enroll("1970-01-01", "2201-01-01"), "invalid_input"),
        (enroll("+99999-01-01", "2024-01-01"), "invalid_input"),
        // Dates are YYYY-MM-DD exactly, as the contract writes them.
        (enroll("1970-1-1", "2024-01-01"), "invalid_input"),
        (enroll("1970-01-01", "2024-1-01"), "invalid_input"),
        (enroll("1970-01", "2024-01-01"), "invalid_input"),
        (enroll("2024-01-02", "2024-01-01"), "invalid_input"),
        (contribute("2024-13", "\"8000.00\""), "invalid_input"),
        (contribute("2201-01", "\"8000.00\""), "invalid_input"),
        // Before the member's enrolment month (2022-01): R1's code, whoever pays.
        (contribute("1996-12", "\"8000.00\""), "before_enrolment"),
        (format!(r#"{{"type":"spend","member":"{EMPLOYEE}","date":"2201-01-01","amount":"1.00","purpose":"pharmacy"}}"#), "invalid_input"),
        // Unknown fields, top level and nested.
        (format!(r#"{{"type":"record_death","member":"{EMPLOYEE}","date":"2024-06-01","cause":"x"}}"#), "invalid_input"),
        (settle(&["1"]).replace(r#""name""#, r#""colour":"red","name""#), "invalid_input"),
        // Hostile shares: more than the whole, overflowing sums, negative, not a fraction.
        (settle(&[max, max]), "invalid_input"),
        (settle(&["2", "-1"]), "invalid_input"),
        (settle(&["0.5", "0.5000000000000000000000000001"]), "invalid_input"),
        (settle(&["1e1"]), "invalid_input"),
        // Deep nesting, at the top and inside a field.
        (nested(NESTING_DEPTH, "[", "]", ""), "invalid_input"),
        (nested(NESTING_DEPTH, r#"{"a":"#, "}", "1"), "invalid_input"),
        (spend(&nested(NESTING_DEPTH, "[", "]", "")), "invalid_input"),
        (spend(&nested(120, "[", "]", "")), "invalid_input"),
    ]
}

#[test]
fn hand_picked_hostile_lines_are_refused_without_moving_the_head() {
    let dir = tempfile::tempdir().expect("tempdir");
    rt().block_on(async {
        let ledger = given_members(dir.path()).await;
        for (line, code) in hand_picked() {
            assert_refused(&ledger, &line, code).await;
        }
        // A line far beyond the binary's limit: the library has no line limit of its own, and
        // refuses it as malformed rather than falling over.
        let huge = format!(
            r#"{{"type":"spend","member":"{EMPLOYEE}","date":"2024-06-01","amount":"1.00","purpose":"pharmacy","pad":"{}"}}"#,
            "x".repeat(4 * LINE_BYTES_MAX)
        );
        assert_refused(&ledger, &huge, "invalid_input").await;
        let report = ledger.verify(|_, _| {}).await.expect("verify");
        assert!(report.is_clean(), "{report}");
    });
}

// ---- proptest: mutations of valid commands ----

/// Valid commands (before mutation) with the fields a mutation may touch.
fn templates() -> Vec<Value> {
    vec![
        json!({"type":"enroll","member":NEWCOMER,"region":"luzhou","scheme":"employee","sex":"female","birth_date":"1990-01-01","date":"2024-01-01"}),
        json!({"type":"contribute","member":EMPLOYEE,"month":"2024-03","wage":"8000.00","payer":"employer"}),
        json!({"type":"spend","member":EMPLOYEE,"date":"2024-06-01","amount":"10.00","purpose":"pharmacy"}),
        json!({"type":"transfer_in","member":EMPLOYEE,"date":"2024-06-01","from_region":"chongqing","balance":"100.00","months":12}),
        json!({"type":"recognize_deemed","member":EMPLOYEE,"date":"2024-06-01","months":12,"basis":"military"}),
        json!({"type":"suspend","member":EMPLOYEE,"date":"2024-06-01","reason":"left_employer"}),
        json!({"type":"settle_inheritance","member":DECEASED,"date":"2024-07-01","heirs":[{"heir":EMPLOYEE,"name":"heir","share":"1"}]}),
    ]
}

const MONEY_FIELDS: &[&str] = &["wage", "amount", "balance"];
const DATE_FIELDS: &[&str] = &["birth_date", "date"];

/// A mutation that makes any template invalid input.
#[derive(Clone, Debug)]
enum Mutation {
    /// An extra field no command has.
    UnknownField(String, Value),
    /// A required field becomes a value of the wrong JSON type.
    WrongType(usize, Value),
    /// A required field disappears.
    Missing(usize),
    /// A money field becomes a negative, three-decimal, huge or non-numeric amount.
    BadMoney(Value),
    /// A date becomes out of range or malformed.
    BadDate(String),
    /// A field nests far too deep.
    Deep(usize, usize),
}

fn wrong_type() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        Just(json!([1, "x"])),
        Just(json!({"x": 1})),
        any::<f64>().prop_map(|f| json!([f])),
        Just(Value::Null),
    ]
}

fn bad_money() -> impl Strategy<Value = Value> {
    prop_oneof![
        (1i64..i64::MAX).prop_map(|n| json!(format!("-{}.{:02}", n / 100, n % 100))),
        // A third decimal that is not zero ("1.230" is exact and accepted: see RELIABILITY.md).
        (0u64..1_000_000, 0u32..100, 1u32..10)
            .prop_map(|(y, f, d)| json!(format!("{y}.{f:02}{d}"))),
        (100_000_000_001u64..u64::MAX).prop_map(|n| json!(n.to_string())),
        (100_000_000_001u64..u64::MAX).prop_map(|n| json!(n)),
        "[a-zA-Z ,_+]{1,12}".prop_map(|s| json!(s)),
    ]
}

fn bad_date() -> impl Strategy<Value = String> {
    prop_oneof![
        (0i32..1900, 1u32..13, 1u32..29).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
        (2201i32..9999, 1u32..13, 1u32..29).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
        (1990i32..2030, 13u32..100, 1u32..29).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
        (1990i32..2030, 1u32..13, 32u32..100).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
        "[0-9/.-]{0,12}",
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        ("[a-z]{1,10}_x", wrong_type()).prop_map(|(k, v)| Mutation::UnknownField(k, v)),
        (
            any::<usize>(),
            wrong_type().prop_filter("null", |v| !v.is_null())
        )
            .prop_map(|(i, v)| Mutation::WrongType(i, v)),
        any::<usize>().prop_map(Mutation::Missing),
        bad_money().prop_map(Mutation::BadMoney),
        bad_date().prop_map(Mutation::BadDate),
        (any::<usize>(), 129usize..5_000).prop_map(|(i, d)| Mutation::Deep(i, d)),
    ]
}

/// Applies `m` to a template; `None` when the mutation does not fit this template.
fn mutate(template: &Value, m: &Mutation) -> Option<String> {
    let mut v = template.clone();
    let obj = v.as_object_mut()?;
    let fields: Vec<String> = obj.keys().filter(|k| *k != "type").cloned().collect();
    match m {
        Mutation::UnknownField(k, x) => {
            obj.insert(k.clone(), x.clone());
        }
        Mutation::WrongType(i, x) => {
            let f = &fields[i % fields.len()];
            obj.insert(f.clone(), x.clone());
        }
        Mutation::Missing(i) => {
            obj.remove(&fields[i % fields.len()]);
        }
        Mutation::BadMoney(x) => {
            let f = MONEY_FIELDS.iter().find(|f| obj.contains_key(**f))?;
            obj.insert((*f).to_string(), x.clone());
        }
        Mutation::BadDate(d) => {
            let f = DATE_FIELDS.iter().find(|f| obj.contains_key(**f))?;
            obj.insert((*f).to_string(), json!(d));
        }
        Mutation::Deep(i, depth) => {
            let f = fields[i % fields.len()].clone();
            let text = v.to_string();
            let value = v[&f].to_string();
            let deep = nested(*depth, "[", "]", &value);
            let from = format!("\"{f}\":{value}");
            return Some(text.replacen(&from, &format!("\"{f}\":{deep}"), 1));
        }
    }
    Some(v.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    /// Whatever the mutation, the command is refused as invalid input and writes nothing.
    #[test]
    fn mutated_commands_are_invalid_input(
        which in 0usize..7,
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let template = &templates()[which];
        let lines: Vec<String> = mutations.iter().filter_map(|m| mutate(template, m)).collect();
        prop_assume!(!lines.is_empty());
        let dir = tempfile::tempdir().expect("tempdir");
        rt().block_on(async {
            let ledger = given_members(dir.path()).await;
            for line in &lines {
                assert_refused(&ledger, line, "invalid_input").await;
            }
        });
    }

    /// Arbitrary text (lossy UTF-8 of arbitrary bytes) is refused as invalid input.
    #[test]
    fn arbitrary_text_is_invalid_input(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let line = String::from_utf8_lossy(&bytes).into_owned();
        let dir = tempfile::tempdir().expect("tempdir");
        rt().block_on(async {
            let ledger = given_members(dir.path()).await;
            assert_refused(&ledger, &line, "invalid_input").await;
        });
    }
}

// ---- the binary ----

fn submit_bytes(data: &std::path::Path, input: &[u8]) -> (i32, Vec<Value>) {
    let mut child = Command::new(BIN)
        .args(["--data", data.to_str().expect("utf8"), "submit", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    // Written from a thread: the binary answers while it reads, so a large input must not block.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("writer");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "the binary panicked: {stderr}"
    );
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON result line"))
        .collect();
    (out.status.code().unwrap_or(-1), lines)
}

fn head_of(data: &std::path::Path) -> u64 {
    let out = Command::new(BIN)
        .args(["--data", data.to_str().expect("utf8"), "verify"])
        .output()
        .expect("verify");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let after = text.split("ok: ").nth(1).expect("verify: ok: N events");
    after
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("event count")
}

#[test]
fn the_binary_refuses_hostile_lines_one_result_each_and_keeps_going() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("ledger");
    let enroll = format!(
        r#"{{"type":"enroll","member":"{EMPLOYEE}","region":"luzhou","scheme":"employee","sex":"male","birth_date":"1970-01-01","date":"2022-01-01"}}"#
    );
    let pay = format!(
        r#"{{"type":"contribute","member":"{EMPLOYEE}","month":"2024-01","wage":"8000.00","payer":"employer"}}"#
    );
    // A valid command padded with spaces to exactly the limit (the newline not counted) is
    // accepted; one byte more is refused.
    let at_limit = |extra: usize| {
        let mut l = format!(
            r#"{{"type":"contribute","member":"{EMPLOYEE}","month":"2024-02","wage":"8000.00","payer":"employer"}}"#
        );
        l.insert_str(1, &" ".repeat(LINE_BYTES_MAX + extra - l.len()));
        l
    };
    let mut input: Vec<u8> = Vec::new();
    let mut expected: Vec<&str> = Vec::new();
    let mut push = |line: &[u8], code: &'static str| {
        input.extend_from_slice(line);
        input.push(b'\n');
        expected.push(code);
    };
    push(enroll.as_bytes(), "ok");
    push(at_limit(1).as_bytes(), "invalid_input");
    push(
        b"{\"type\":\"spend\",\"member\":\"\xff\xfe\"}",
        "invalid_input",
    );
    push(b"\xc3\x28", "invalid_input");
    push(
        nested(NESTING_DEPTH, "[", "]", "").as_bytes(),
        "invalid_input",
    );
    push(spend("\"1.234\"").as_bytes(), "invalid_input");
    push(spend("\"-1.00\"").as_bytes(), "invalid_input");
    push(
        b"{\"type\":\"enroll\",\"member\":\"x\",\"extra\":[1,2,3]}",
        "invalid_input",
    );
    push(b"   ", "skipped");
    push(pay.as_bytes(), "ok");
    // Shares whose sum overflows a decimal: once a panic that killed the whole batch.
    let max = "79228162514264337593543950335";
    push(enroll.replace(EMPLOYEE, DECEASED).as_bytes(), "ok");
    let death = format!(r#"{{"type":"record_death","member":"{DECEASED}","date":"2024-06-30"}}"#);
    push(death.as_bytes(), "ok");
    push(settle(&[max, max]).as_bytes(), "invalid_input");
    push(at_limit(0).as_bytes(), "ok");
    push(&vec![b'x'; 3 * LINE_BYTES_MAX], "invalid_input");
    // The last line has no newline and is too long: refused, not half-read.
    input.extend_from_slice(&vec![b'{'; LINE_BYTES_MAX + 10]);
    expected.push("invalid_input");
    let expected: Vec<&str> = expected.into_iter().filter(|c| *c != "skipped").collect();

    let (status, lines) = submit_bytes(&data, &input);
    assert_eq!(status, 1, "a rejected line makes the exit status 1");
    assert_eq!(
        lines.len(),
        expected.len(),
        "one result line per non-blank line"
    );
    for (i, (line, code)) in lines.iter().zip(&expected).enumerate() {
        if *code == "ok" {
            assert_eq!(line["ok"], true, "line {i}: {line}");
        } else {
            assert_eq!(line["error"]["code"], *code, "line {i}: {line}");
        }
    }
    let positions: Vec<u64> = lines
        .iter()
        .filter_map(|l| l["position"].as_u64())
        .collect();
    assert_eq!(
        positions,
        vec![1, 2, 3, 4, 5],
        "refused lines do not move the head"
    );
    assert_eq!(head_of(&data), 5);

    // Only hostile lines: exit 1, and still nothing more written.
    let (status, lines) = submit_bytes(&data, b"\xff\n{}\n[[[[\n");
    assert_eq!(status, 1);
    assert!(lines.iter().all(|l| l["error"]["code"] == "invalid_input"));
    assert_eq!(head_of(&data), 5);
}

#[test]
fn the_binary_exits_2_on_a_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("ledger");
    let missing = dir.path().join("no-such-file.jsonl");
    let cases: Vec<Vec<String>> = vec![
        vec!["submit".into(), missing.to_string_lossy().into_owned()],
        vec!["no-such-subcommand".into()],
        vec!["submit".into(), "a".into(), "b".into()],
    ];
    for args in cases {
        let out = Command::new(BIN)
            .arg("--data")
            .arg(&data)
            .args(&args)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}
