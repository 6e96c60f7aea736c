//! The guard on [`STATE_FORMAT`]: a member snapshot stores a [`MemberState`] as this build
//! serialises it, and a build reads back only snapshots of its own `STATE_FORMAT`.
//!
//! **Invariant**: for a fixed log of events, the states this build folds from them serialise
//! exactly as the states recorded in `tests/golden/member_states.json` whenever `STATE_FORMAT`
//! equals the number recorded there. A change to `MemberState` (or anything inside it: a field
//! added, removed or renamed, a value kept differently) or to what `MemberState::apply` makes of
//! an event changes those states, and the test fails until `STATE_FORMAT` is bumped, so that no
//! build trusts a snapshot written by another shape of the state. The golden then has to be
//! regenerated (`UPDATE_GOLDEN=1 cargo test --test snapshots`).
//!
//! The golden records each member's events (their fields, with event ids made canonical) beside
//! its state: the guard folds the recorded events, so a change in what the rules decide (new
//! events from the same commands) is no shape change. A second test checks that the recorded
//! history is still what the ledger decides from the fixed commands (most of the shipped demo,
//! with its reversal, a death and inheritance, an in-ledger transfer and a year's statements,
//! and the README's example regions for interest, pensions, tiers and surcharges); when it is
//! not, the golden is regenerated, and regeneration refuses to overwrite states that the old
//! events no longer fold to unless `STATE_FORMAT` was bumped. A third test checks that every
//! field of the state is set by some member of the history, so that a change to it shows.
//!
//! Last, a snapshot of another `STATE_FORMAT` is ignored: the member is folded from its events.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use member_ledger::codec;
use member_ledger::domain::MemberState;
use member_ledger::policy::PolicySet;
use member_ledger::projection::snapshot::{self, STATE_FORMAT};
use member_ledger::projection::ViewAt;
use member_ledger::store::{EventStore, SledStore, StoredEvent};
use member_ledger::{Ledger, MemberId, Money};
use serde_json::{json, Value};

mod common;
use common::example_policies;

/// The shipped demo (`samples/demo.jsonl`).
const DEMO: &str = include_str!("../samples/demo.jsonl");
/// The demo's double posting, reversed as `member-ledger demo` reverses it.
const POSTED_TWICE_KEY: &str = "demo-li-pharmacy-posted-twice";

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/member_states.json")
}

const REGENERATE: &str = "UPDATE_GOLDEN=1 cargo test --test snapshots";

// ---- The fixed history ----

/// A member of the README's example regions (`samples/policy-examples/`).
fn ex(n: u32) -> String {
    format!("00000000-0000-4000-8000-00000000e{n:03x}")
}

fn line(v: Value) -> String {
    v.to_string()
}

fn enroll(member: &str, region: &str, birth: &str, date: &str) -> Value {
    json!({"type":"enroll","member":member,"region":region,"scheme":"employee","sex":"male",
           "birth_date":birth,"date":date})
}

/// 360 deemed and 120 bought months: enough to retire.
fn retirable(member: &str, region: &str, date: &str) -> Vec<String> {
    vec![
        line(enroll(member, region, "1960-06-15", date)),
        line(
            json!({"type":"recognize_deemed","member":member,"date":date,"months":360,
                    "basis":"pre_1997_service"}),
        ),
        line(json!({"type":"lump_sum_makeup","member":member,"date":date,"months":120})),
    ]
}

fn allocate(member: &str, month: &str) -> String {
    line(json!({"type":"credit_retiree_allocation","month":month,"member":member}))
}

/// What the demo leaves out: interest credited (R8), a pension and its change (R4), the
/// pool-only tier (R3), a retiree's yearly surcharge (R5).
fn example_history() -> Vec<String> {
    let (interest, pension, tier, surcharged) = (ex(1), ex(2), ex(3), ex(4));
    let mut lines = vec![
        line(enroll(&interest, "interest", "1990-01-01", "2024-01-01")),
        line(
            json!({"type":"transfer_in","member":interest,"date":"2024-12-01",
                    "from_region":"elsewhere","balance":"10000.00","months":0}),
        ),
        line(
            json!({"type":"contribute","member":interest,"month":"2025-06","wage":"50000.00",
                    "payer":"employer","date":"2025-07-01"}),
        ),
        line(
            json!({"type":"spend","member":interest,"date":"2025-10-01","amount":"5000.00",
                    "purpose":"inpatient"}),
        ),
        line(json!({"type":"credit_interest","year":2024,"member":interest})),
        line(json!({"type":"credit_interest","year":2025,"member":interest})),
    ];
    lines.extend(retirable(&pension, "pension_allocation", "2024-01-01"));
    lines.push(line(
        json!({"type":"retire","member":pension,"date":"2025-03-15",
                           "pension":"3456.78"}),
    ));
    lines.push(allocate(&pension, "2025-04"));
    lines.push(line(
        json!({"type":"set_pension","member":pension,"date":"2025-07-01",
                           "pension":"3333.25"}),
    ));
    lines.push(allocate(&pension, "2025-07"));
    let mut pool_only = enroll(&tier, "flexible_workers", "1990-01-01", "2024-01-01");
    pool_only["tier"] = json!("pool_only");
    lines.push(line(pool_only));
    lines.push(line(
        json!({"type":"contribute","member":tier,"month":"2024-01",
                           "wage":"5000.00","payer":"individual"}),
    ));
    lines.extend(retirable(&surcharged, "surcharges", "2024-01-01"));
    lines.push(line(
        json!({"type":"retire","member":surcharged,"date":"2024-03-15"}),
    ));
    lines.push(allocate(&surcharged, "2024-03"));
    lines.push(allocate(&surcharged, "2024-04"));
    lines
}

/// A fresh sled ledger in a temporary directory (keep the directory alive as long as it).
async fn fresh(policies: PolicySet) -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::open_with_policies(dir.path(), policies)
        .await
        .expect("open");
    (dir, ledger)
}

/// Submits `lines` in one batch; each must be accepted. Returns the receipts' first event ids
/// by idempotency key.
async fn submit_all(ledger: &Ledger, lines: &[String]) -> BTreeMap<String, uuid::Uuid> {
    let mut by_key = BTreeMap::new();
    for (line, result) in lines.iter().zip(ledger.submit_json_batch(lines).await) {
        let receipt = result.unwrap_or_else(|e| panic!("{line}: {e}"));
        let key = serde_json::from_str::<Value>(line).expect("json")["key"].clone();
        if let (Some(key), Some(first)) = (key.as_str(), receipt.events.first()) {
            by_key.insert(key.to_string(), first.event_id);
        }
    }
    by_key
}

/// Members of the demo kept in the fixed history: Li (suspension, individual payments, a
/// duplicate refunded, a relative, the double posting reversed), Wang (transfer in, lump sum,
/// retirement), Chen (transfer out), and the residents Sun, Wu, Zheng, Feng and He. The long
/// careers (Zhang, Zhao, Qian, Zhou) are left out to keep the golden small; short ones stand in
/// for what they show ([`stand_ins`]).
const DEMO_MEMBERS: [&str; 8] = [
    "d002", "d003", "d004", "d006", "d00a", "d00b", "d00c", "d00d",
];

fn demo_lines() -> Vec<String> {
    DEMO.lines()
        .filter(|l| {
            let v: Value = serde_json::from_str(l).expect("the demo is JSON");
            v["member"]
                .as_str()
                .is_some_and(|m| DEMO_MEMBERS.iter().any(|d| m.ends_with(d)))
        })
        .map(str::to_string)
        .collect()
}

/// A retiree who dies and whose balance goes to Li and to a son (Zhao's part of the demo), and
/// a move from Chongqing to a Shenyang account within the ledger (Qian's).
fn stand_ins() -> Vec<String> {
    let (zhao, li) = (
        "00000000-0000-4000-8000-0000000005d5",
        "00000000-0000-4000-8000-00000000d002",
    );
    let mut lines = retirable(zhao, "luzhou", "2023-01-01");
    lines.push(line(
        json!({"type":"retire","member":zhao,"date":"2023-02-15"}),
    ));
    for month in ["2023-03", "2023-04", "2023-05"] {
        lines.push(allocate(zhao, month));
    }
    lines.push(line(
        json!({"type":"spend","member":zhao,"date":"2023-05-09","amount":"80.00",
                           "purpose":"outpatient"}),
    ));
    lines.push(line(
        json!({"type":"record_death","member":zhao,"date":"2025-05-20"}),
    ));
    lines.push(line(json!({"type":"settle_inheritance","member":zhao,"date":"2025-06-02",
        "heirs":[{"heir":li,"name":"Li Na","share":"0.5"},{"heir":null,"name":"Zhao Lei","share":"0.5"}]})));
    let (qian, qian_sy) = (
        "00000000-0000-4000-8000-0000000005c7",
        "00000000-0000-4000-8000-0000000005c8",
    );
    lines.push(line(
        json!({"type":"enroll","member":qian,"region":"chongqing","scheme":"employee",
        "sex":"female","birth_date":"1988-04-12","date":"2024-01-01"}),
    ));
    for n in 1..=6 {
        lines.push(line(
            json!({"type":"contribute","member":qian,"month":format!("2024-{n:02}"),
                               "wage":"7200.00","payer":"employer"}),
        ));
    }
    lines.push(line(
        json!({"type":"suspend","member":qian,"date":"2024-06-30","reason":"transfer_out"}),
    ));
    lines.push(line(
        json!({"type":"enroll","member":qian_sy,"region":"shenyang","scheme":"employee",
        "sex":"female","birth_date":"1988-04-12","date":"2024-07-05"}),
    ));
    lines.push(line(
        json!({"type":"transfer_out","member":qian,"date":"2024-07-15",
                           "to_region":"shenyang","to_member":qian_sy}),
    ));
    lines.push(line(
        json!({"type":"contribute","member":qian_sy,"month":"2024-07",
                           "wage":"3500.00","payer":"employer"}),
    ));
    lines
}

/// Part of the demo, with its reversal, the stand-ins, and the Luzhou statements of 2024
/// issued (R15), under the shipped policies.
async fn shipped_ledger() -> (tempfile::TempDir, Ledger) {
    let (dir, ledger) = fresh(PolicySet::shipped()).await;
    let ids = submit_all(&ledger, &demo_lines()).await;
    let twice = ids[POSTED_TWICE_KEY];
    ledger
        .reverse(twice, "posted twice", None)
        .await
        .expect("the reversal");
    submit_all(&ledger, &stand_ins()).await;
    let issue = json!({"type":"issue_statement","region":"luzhou","year":2024}).to_string();
    ledger.submit_json(&issue).await.expect("the statements");
    (dir, ledger)
}

async fn example_ledger() -> (tempfile::TempDir, Ledger) {
    let (dir, ledger) = fresh(example_policies()).await;
    submit_all(&ledger, &example_history()).await;
    (dir, ledger)
}

// ---- The golden's form ----

/// An event as the golden records it: its schema version, type and fields.
fn event_entry(stored: &StoredEvent) -> Value {
    json!({
        "schema_version": stored.schema_version,
        "type": stored.event_type,
        "data": codec::fields_json(stored).expect("fields"),
    })
}

/// Replaces every string equal to a key of `ids` by its value, throughout `v`.
fn canonical(v: &mut Value, ids: &BTreeMap<String, String>) {
    match v {
        Value::String(s) => {
            if let Some(c) = ids.get(s.as_str()) {
                *s = c.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| canonical(i, ids)),
        Value::Object(map) => map.values_mut().for_each(|i| canonical(i, ids)),
        _ => {}
    }
}

/// Every member of `ledger` with its events and its state folded from scratch, event ids
/// replaced by `prefix` and the event's position (a ledger's ids carry a random tag).
async fn members_of(ledger: &Ledger, prefix: u128) -> BTreeMap<String, Value> {
    let log = ledger.log();
    let head = log.head().expect("head").position;
    let events = log
        .read_from(1, usize::try_from(head).expect("small"))
        .expect("log");
    let ids: BTreeMap<String, String> = events
        .iter()
        .map(|e| {
            let id = uuid::Uuid::from_u128((prefix << 64) | u128::from(e.position));
            (e.event_id.to_string(), id.to_string())
        })
        .collect();
    let states = ledger.replay_all().await.expect("replay");
    let mut members = BTreeMap::new();
    for (member, state) in states {
        let mut events: Vec<Value> = events
            .iter()
            .filter(|e| e.member == member)
            .map(event_entry)
            .collect();
        events.iter_mut().for_each(|e| canonical(e, &ids));
        let mut state = serde_json::to_value(&state).expect("state serialises");
        canonical(&mut state, &ids);
        members.insert(
            member.to_string(),
            json!({"events": events, "state": state}),
        );
    }
    members
}

/// The golden as the fixed history makes it with this build.
async fn decided_golden() -> Value {
    let (_d, shipped) = shipped_ledger().await;
    let (_e, examples) = example_ledger().await;
    let mut members = members_of(&shipped, 1).await;
    members.extend(members_of(&examples, 2).await);
    json!({
        "state_format": STATE_FORMAT,
        "about": "Events of a fixed history and the member states they fold to; see tests/snapshots.rs.",
        "members": members,
    })
}

fn recorded_golden() -> Value {
    let text = std::fs::read_to_string(golden_path()).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; generate it with {REGENERATE}",
            golden_path().display()
        )
    });
    serde_json::from_str(&text).expect("the golden is JSON")
}

/// The states this build folds from the golden's recorded events, by member.
fn folded_from_recorded(golden: &Value) -> BTreeMap<String, Value> {
    let members = golden["members"].as_object().expect("members");
    members
        .iter()
        .map(|(id, m)| {
            let member: MemberId = id.parse().expect("a member id");
            let mut state = MemberState::new(member);
            for e in m["events"].as_array().expect("events") {
                let version =
                    u32::try_from(e["schema_version"].as_u64().expect("version")).expect("small");
                let kind = e["type"].as_str().expect("type");
                let event = codec::from_json(version, kind, e["data"].clone())
                    .unwrap_or_else(|err| panic!("a recorded event of {id}: {err}"));
                state.apply(&event);
            }
            (
                id.clone(),
                serde_json::to_value(&state).expect("serialises"),
            )
        })
        .collect()
}

fn recorded_states(golden: &Value) -> BTreeMap<String, Value> {
    let members = golden["members"].as_object().expect("members");
    members
        .iter()
        .map(|(id, m)| (id.clone(), m["state"].clone()))
        .collect()
}

/// The members whose states differ, with the first differing top-level field.
fn differences(a: &BTreeMap<String, Value>, b: &BTreeMap<String, Value>) -> Vec<String> {
    let ids: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    ids.into_iter()
        .filter(|id| a.get(*id) != b.get(*id))
        .map(|id| {
            let (x, y) = (&a.get(id).cloned(), &b.get(id).cloned());
            let field = match (x, y) {
                (Some(Value::Object(x)), Some(Value::Object(y))) => x
                    .keys()
                    .chain(y.keys())
                    .find(|k| x.get(*k) != y.get(*k))
                    .map_or_else(String::new, |k| format!(" (field `{k}`)")),
                _ => " (present on one side only)".to_string(),
            };
            format!("{id}{field}")
        })
        .collect()
}

fn recorded_format(golden: &Value) -> u64 {
    golden["state_format"].as_u64().expect("state_format")
}

// ---- The tests ----

#[test]
fn the_recorded_events_fold_to_the_recorded_states_until_state_format_is_bumped() {
    let golden = recorded_golden();
    let recorded = recorded_format(&golden);
    assert_eq!(
        recorded,
        u64::from(STATE_FORMAT),
        "STATE_FORMAT is {STATE_FORMAT} but tests/golden/member_states.json was recorded with \
         {recorded}: regenerate it with {REGENERATE}"
    );
    let changed = differences(&folded_from_recorded(&golden), &recorded_states(&golden));
    assert!(
        changed.is_empty(),
        "the state's shape or meaning changed: the same events fold to other states for {} \
         member(s): {}.\nSnapshots written by earlier builds would be read as this shape. Bump \
         STATE_FORMAT in src/projection/snapshot.rs and regenerate with {REGENERATE}.",
        changed.len(),
        changed.join(", ")
    );
}

#[tokio::test]
async fn the_recorded_history_is_what_the_ledger_decides_today() {
    let decided = decided_golden().await;
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        refuse_to_hide_a_shape_change();
        let text = golden_text(&decided);
        std::fs::create_dir_all(golden_path().parent().expect("dir")).expect("mkdir");
        std::fs::write(golden_path(), text).expect("write the golden");
        return;
    }
    let golden = recorded_golden();
    let members = |g: &Value| g["members"].as_object().cloned().unwrap_or_default();
    let (now, then) = (members(&decided), members(&golden));
    let changed: std::collections::BTreeSet<&String> = now
        .keys()
        .chain(then.keys())
        .filter(|id| now.get(*id) != then.get(*id))
        .collect();
    assert!(
        changed.is_empty(),
        "the fixed history no longer gives the recorded events and states for {changed:?}: the \
         rules decide differently, the history changed, or the state changed shape. Regenerate \
         with {REGENERATE} (it refuses while the recorded events fold to other states and \
         STATE_FORMAT was not bumped)."
    );
}

/// The golden's text: pretty, except one event a line (a regeneration's diff shows which
/// events and which fields of a state changed).
fn golden_text(golden: &Value) -> String {
    let compact = |v: &Value| serde_json::to_string(v).expect("json");
    let mut out = format!(
        "{{\n  \"state_format\": {},\n  \"about\": {},\n  \"members\": {{\n",
        golden["state_format"],
        compact(&golden["about"])
    );
    let members = golden["members"].as_object().expect("members");
    for (i, (id, m)) in members.iter().enumerate() {
        let events: Vec<String> = m["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| format!("        {}", compact(e)))
            .collect();
        let state = serde_json::to_string_pretty(&m["state"])
            .expect("json")
            .replace('\n', "\n      ");
        let comma = if i + 1 < members.len() { "," } else { "" };
        out += &format!(
            "    {}: {{\n      \"events\": [\n{}\n      ],\n      \"state\": {state}\n    }}{comma}\n",
            compact(&json!(id)),
            events.join(",\n")
        );
    }
    out + "  }\n}\n"
}

/// Regeneration may not paper over a shape change: while `STATE_FORMAT` equals the recorded
/// number, the recorded events must still fold to the recorded states.
fn refuse_to_hide_a_shape_change() {
    let Ok(text) = std::fs::read_to_string(golden_path()) else {
        return;
    };
    let old: Value = serde_json::from_str(&text).expect("the golden is JSON");
    if recorded_format(&old) != u64::from(STATE_FORMAT) {
        return;
    }
    let changed = differences(&folded_from_recorded(&old), &recorded_states(&old));
    assert!(
        changed.is_empty(),
        "not regenerating: the recorded events fold to other states ({}), so the state's shape \
         or meaning changed. Bump STATE_FORMAT in src/projection/snapshot.rs first.",
        changed.join(", ")
    );
}

/// Every field of the state, and of its `rules`, holds something other than its default in
/// some recorded member: a change to any of them shows in the golden.
#[test]
fn the_golden_exercises_every_field_of_the_state() {
    let golden = recorded_golden();
    let states = recorded_states(&golden);
    let blank = serde_json::to_value(MemberState::new(uuid::Uuid::from_u128(1))).expect("json");
    let unused = |path: &[&str]| -> Vec<String> {
        let pick = |v: &Value| path.iter().fold(v.clone(), |v, k| v[*k].clone());
        let Value::Object(fields) = pick(&blank) else {
            return vec![];
        };
        fields
            .iter()
            .filter(|(k, default)| states.values().all(|s| pick(s)[k.as_str()] == **default))
            .map(|(k, _)| {
                format!(
                    "{}{k}",
                    path.iter().map(|p| format!("{p}.")).collect::<String>()
                )
            })
            .collect()
    };
    let mut missing = unused(&[]);
    missing.extend(unused(&["rules"]));
    missing.retain(|f| f != "member");
    assert!(
        missing.is_empty(),
        "no member of the fixed history sets {missing:?}: extend the history in \
         tests/snapshots.rs so that a change to them is caught, and regenerate"
    );
}

// ---- A snapshot of another shape ----

const LONG: &str = "00000000-0000-4000-8000-0000000005a1";

/// A Luzhou employee aged 35 in 2015 with 70 months paid (2015-01 to 2020-10): 71 events, so
/// a snapshot is written (its version crossed 64).
fn long_career() -> Vec<String> {
    let mut lines = vec![line(enroll(LONG, "luzhou", "1980-01-01", "2015-01-01"))];
    for n in 0..70 {
        let month = format!("{}-{:02}", 2015 + n / 12, n % 12 + 1);
        lines.push(line(
            json!({"type":"contribute","member":LONG,"month":month,
                               "wage":"5000.00","payer":"employer"}),
        ));
    }
    lines
}

/// Writes `state` as the member's snapshot, headed by `format`.
fn plant(store: &SledStore, state: &MemberState, format: u32) {
    let mut bytes = snapshot::encode(state).expect("encodes");
    bytes[..4].copy_from_slice(&format.to_le_bytes());
    let key = snapshot::snapshot_key(state.member);
    store
        .write_projections(vec![(key, Some(bytes))])
        .expect("write");
}

/// Given a member whose snapshot is replaced by a state 1,000.00 richer, when the snapshot is
/// headed by another `STATE_FORMAT`, then a fresh ledger folds the member from its events: the
/// view and the stored checkpoint are unchanged. (Headed by this build's format, the same
/// snapshot is believed: the check is not vacuous.)
#[tokio::test]
async fn a_snapshot_of_another_state_format_is_ignored_and_the_member_folded_from_its_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SledStore::open(dir.path()).expect("open"));
    let member: MemberId = LONG.parse().expect("uuid");
    let first = Ledger::with_store(store.clone(), PolicySet::shipped());
    submit_all(&first, &long_career()).await;
    let before = first.account(member, ViewAt::Head).await.expect("view");
    // Luzhou before 2023 credits 2 % own + 1.0 % of the employer share from 35 to 45:
    // 3 % of 5,000.00 = 150.00 a month, 70 × 150.00.
    assert_eq!(before.balance.to_string(), "10500.00");
    let key = snapshot::snapshot_key(member);
    let stored = store
        .projection(&key)
        .expect("read")
        .expect("a snapshot at 64");
    let mut richer = snapshot::decode(&stored)
        .expect("decodes")
        .expect("this format");
    assert!(richer.version >= 64, "written once the version crossed 64");
    let extra: Money = "1000.00".parse().expect("money");
    richer.balance += extra;
    richer.credited += extra;

    plant(&store, &richer, STATE_FORMAT.wrapping_add(1));
    let other = Ledger::with_store(store.clone(), PolicySet::shipped());
    let view = other.account(member, ViewAt::Head).await.expect("view");
    assert_eq!(view, before, "a snapshot of another shape is not read");
    let checkpoints = other.checkpoints().await.expect("checkpoints");
    let replay = other.replay_all().await.expect("replay");
    assert_eq!(checkpoints.get(&member), replay.get(&member));
    assert_eq!(checkpoints[&member].balance.to_string(), "10500.00");

    plant(&store, &richer, STATE_FORMAT);
    let believing = Ledger::with_store(store.clone(), PolicySet::shipped());
    let view = believing.account(member, ViewAt::Head).await.expect("view");
    assert_eq!(
        view.balance.to_string(),
        "11500.00",
        "this format's snapshot is read"
    );
}

/// A snapshot as format 1 wrote it (the format before this build's): the state as MessagePack
/// with named fields in serde's human-readable form (the months as a map of named fields,
/// amounts and dates as text, ids as text), LZ4 with its size first, headed by 1.
fn format_1_snapshot(state: &MemberState) -> Vec<u8> {
    use serde::Serialize;
    let mut raw = Vec::new();
    let mut serializer = rmp_serde::Serializer::new(&mut raw)
        .with_struct_map()
        .with_human_readable();
    state.serialize(&mut serializer).expect("encodes");
    let mut bytes = 1u32.to_le_bytes().to_vec();
    bytes.extend(lz4_flex::block::compress_prepend_size(&raw));
    bytes
}

/// The member's state folded from scratch from the events of the log up to `version`.
fn folded_from_scratch(store: &SledStore, member: MemberId, version: u64) -> MemberState {
    let head = store.head().expect("head").position;
    let events = store
        .read_from(1, usize::try_from(head).expect("small"))
        .expect("log");
    let mut state = MemberState::new(member);
    for stored in events
        .iter()
        .filter(|e| e.member == member && e.member_version <= version)
    {
        state.apply(&codec::decode(stored).expect("decodes"));
    }
    state
}

/// Given a member whose snapshot is replaced by one of the previous format (1) holding a state
/// 1,000.00 richer, then a fresh ledger does not read it, nor misread it as one of its own (its
/// months are a map where this format holds bytes): the account is the fold of the member's
/// events from scratch. When the member next crosses a multiple of `SNAPSHOT_EVERY_EVENTS`,
/// its snapshot is written again in this build's format, and reads back as that fold.
#[tokio::test]
async fn a_snapshot_of_the_previous_format_is_ignored_and_rewritten() {
    assert_eq!(
        STATE_FORMAT, 2,
        "format_1_snapshot writes the format before this one"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SledStore::open(dir.path()).expect("open"));
    let member: MemberId = LONG.parse().expect("uuid");
    let first = Ledger::with_store(store.clone(), PolicySet::shipped());
    submit_all(&first, &long_career()).await;
    let before = first.account(member, ViewAt::Head).await.expect("view");
    let key = snapshot::snapshot_key(member);
    let stored = store.projection(&key).expect("read").expect("a snapshot");
    let mut richer = snapshot::decode(&stored)
        .expect("decodes")
        .expect("this format");
    let extra: Money = "1000.00".parse().expect("money");
    richer.balance += extra;
    richer.credited += extra;

    let old = format_1_snapshot(&richer);
    assert_eq!(snapshot::decode(&old), Ok(None), "another format: not read");
    let mut relabelled = old.clone();
    relabelled[..4].copy_from_slice(&STATE_FORMAT.to_le_bytes());
    assert!(
        snapshot::decode(&relabelled).is_err(),
        "format 1's bytes are no state of this format: never misread"
    );
    store
        .write_projections(vec![(key.clone(), Some(old))])
        .expect("write");
    drop(first);
    let other = Ledger::with_store(store.clone(), PolicySet::shipped());
    let view = other.account(member, ViewAt::Head).await.expect("view");
    assert_eq!(view, before, "the member is folded from its events");
    assert_eq!(view.balance.to_string(), "10500.00");
    let version = store.member_versions(&[member]).expect("versions")[0];
    let scratch = folded_from_scratch(&store, member, version);
    assert_eq!(
        other.checkpoints().await.expect("checkpoints")[&member],
        scratch
    );

    // 2020-11 onwards, up to version 128: a snapshot is due again.
    let more: Vec<String> = (70..127)
        .map(|n| {
            let month = format!("{}-{:02}", 2015 + n / 12, n % 12 + 1);
            line(json!({"type":"contribute","member":LONG,"month":month,
                        "wage":"5000.00","payer":"employer"}))
        })
        .collect();
    submit_all(&other, &more).await;
    let rewritten = store.projection(&key).expect("read").expect("a snapshot");
    assert_eq!(
        rewritten[..4],
        STATE_FORMAT.to_le_bytes(),
        "rewritten in this format"
    );
    let state = snapshot::decode(&rewritten)
        .expect("decodes")
        .expect("this format");
    assert_eq!(state.version, 128);
    assert_eq!(state, folded_from_scratch(&store, member, 128));
}

/// Invariant: a rebuild leaves exactly one snapshot per member with events, whatever was stored
/// before: a snapshot of a member without events (which the ledger never writes) is removed
/// wherever its key falls among the parts a rebuild writes one after another (before the first
/// member, between two parts, after the last, or too short to name a member).
#[tokio::test]
async fn a_rebuild_removes_every_snapshot_of_a_member_without_events() {
    use member_ledger::projection::rebuild::REBUILD_MEMBERS_PER_WRITE;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SledStore::open(dir.path()).expect("open"));
    let ledger = Ledger::with_store(store.clone(), PolicySet::shipped());
    // Members spread over the key space, enough for three parts.
    let count = u128::try_from(2 * REBUILD_MEMBERS_PER_WRITE + 5).expect("count");
    let members: Vec<MemberId> = (1..=count)
        .map(|i| uuid::Uuid::from_u128(i * (u128::MAX / (count + 2))))
        .collect();
    let lines: Vec<String> = members
        .iter()
        .map(|m| line(enroll(&m.to_string(), "luzhou", "1980-01-01", "2024-01-02")))
        .collect();
    submit_all(&ledger, &lines).await;
    let mut sorted = members.clone();
    sorted.sort();
    let between = uuid::Uuid::from_u128(sorted[REBUILD_MEMBERS_PER_WRITE].as_u128() - 1);
    let forged = [
        snapshot::snapshot_key(uuid::Uuid::nil()),
        snapshot::snapshot_key(between),
        snapshot::snapshot_key(uuid::Uuid::max()),
        vec![snapshot::snapshot_prefix()[0], 1, 2, 3],
    ];
    let planted = forged.iter().map(|k| (k.clone(), Some(b"forged".to_vec())));
    store.write_projections(planted.collect()).expect("plant");

    let (_, rebuilt) = ledger
        .rebuild_projections(|_, _| {})
        .await
        .expect("rebuild");
    assert_eq!(rebuilt, members.len());
    let mut expected: Vec<Vec<u8>> = sorted.iter().map(|m| snapshot::snapshot_key(*m)).collect();
    expected.sort();
    let stored = store
        .projection_keys(&snapshot::snapshot_prefix())
        .expect("keys");
    assert_eq!(
        stored, expected,
        "one snapshot per member, the forged ones gone"
    );
    for key in &forged {
        assert_eq!(store.projection(key).expect("read"), None);
    }
}
