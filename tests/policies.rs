//! Policy files: every shipped region loads, and a malformed or inconsistent file is refused at
//! open with the file, the place (parameter or entry) and the reason.

use std::io::Write;
use std::process::{Command, Stdio};

use member_ledger::policy::{PolicyError, PolicySet};
use serde_json::{json, Value};

const LUZHOU: &str = include_str!("../policy/luzhou.json");
const BIN: &str = env!("CARGO_BIN_EXE_member-ledger");

fn luzhou() -> Value {
    serde_json::from_str(LUZHOU).expect("luzhou.json")
}

/// Loads one edited copy of luzhou.json and returns the refusal.
fn refusal(edit: impl FnOnce(&mut Value)) -> PolicyError {
    let mut v = luzhou();
    edit(&mut v);
    let text = serde_json::to_string_pretty(&v).expect("json");
    PolicySet::from_files([("luzhou.json".to_string(), text)]).expect_err("refused")
}

fn place_and_reason(e: &PolicyError) -> (String, String) {
    match e {
        PolicyError::Invalid {
            file,
            place,
            reason,
        }
        | PolicyError::Malformed {
            file,
            place,
            reason,
        } => {
            assert_eq!(file, "luzhou.json", "the refusal names the file");
            (place.clone(), reason.clone())
        }
        other => panic!("unexpected refusal {other}"),
    }
}

#[test]
fn every_shipped_region_loads() {
    let set = PolicySet::shipped();
    let names: Vec<&str> = set.region_names().collect();
    assert_eq!(
        names,
        ["chongqing", "fuzhou", "luzhou", "shanghai", "shenyang"]
    );
}

#[test]
fn overlapping_dates_are_refused_naming_the_entry() {
    let e = refusal(|v| {
        let first = v["makeup_base_monthly"][0].clone();
        v["makeup_base_monthly"]
            .as_array_mut()
            .expect("array")
            .insert(1, first);
    });
    let (place, reason) = place_and_reason(&e);
    assert_eq!(place, "makeup_base_monthly[1] (from 1997-01-01)");
    assert!(reason.contains("overlaps"), "{reason}");
}

#[test]
fn unordered_dates_are_refused_naming_the_entry() {
    let e = refusal(|v| v["makeup_base_monthly"][2]["effective_from"] = json!("2001-01-01"));
    let (place, reason) = place_and_reason(&e);
    assert_eq!(place, "makeup_base_monthly[2] (from 2001-01-01)");
    assert!(reason.contains("date order"), "{reason}");
}

#[test]
fn a_negative_rate_is_refused_naming_the_entry() {
    let e = refusal(|v| v["employee_rate"][0]["value"] = json!("-0.02"));
    let (place, reason) = place_and_reason(&e);
    assert_eq!(place, "employee_rate[0] (from 1997-01-01)");
    assert!(reason.contains("negative"), "{reason}");
}

#[test]
fn a_missing_parameter_is_refused_naming_it() {
    let e = refusal(|v| {
        v.as_object_mut().expect("object").remove("retirement");
    });
    assert_eq!(
        place_and_reason(&e),
        (
            "retirement".to_string(),
            "is missing: the employee scheme (listed in 'schemes') needs it".to_string()
        )
    );
    let e = refusal(|v| {
        v["employer_rate"][0]
            .as_object_mut()
            .expect("entry")
            .remove("source");
    });
    let (place, reason) = place_and_reason(&e);
    assert_eq!(place, "employer_rate[0]");
    assert!(reason.contains("missing field `source`"), "{reason}");
}

#[test]
fn an_unknown_key_is_refused_naming_its_place() {
    let e = refusal(|v| v["employer_rate"][0]["value"]["enterprize"] = json!("0.08"));
    let (place, reason) = place_and_reason(&e);
    assert_eq!(place, "employer_rate[0].value.enterprize");
    assert!(reason.contains("unknown field `enterprize`"), "{reason}");
    let e = refusal(|v| v["colour"] = json!("red"));
    let (place, reason) = place_and_reason(&e);
    assert_eq!(place, "colour");
    assert!(reason.contains("unknown field `colour`"), "{reason}");
}

#[test]
fn a_resident_rule_without_its_wait_is_refused() {
    let e = refusal(|v| {
        v["resident"][0]["value"]
            .as_object_mut()
            .expect("value")
            .remove("new_enrollee_wait_days");
    });
    let (place, reason) = place_and_reason(&e);
    assert_eq!(place, "resident[0] (from 1997-01-01)");
    assert!(reason.contains("is missing"), "{reason}");
}

#[test]
fn a_file_named_for_another_region_is_refused() {
    let e = PolicySet::from_files([("chongqing.json".to_string(), LUZHOU.to_string())])
        .expect_err("refused");
    assert!(e.to_string().contains("named luzhou.json"), "{e}");
}

/// A deployment's own directory: one region "testville" with a 3 % employee rate.
fn testville_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut v = luzhou();
    v["region"] = json!("testville");
    v["employee_rate"][0]["value"] = json!("0.03");
    v["account_credit"][1]["value"]["own_rate"] = json!("0.03");
    let text = serde_json::to_string_pretty(&v).expect("json");
    std::fs::write(dir.path().join("testville.json"), text).expect("write");
    dir
}

fn run(args: &[&str], input: &str) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_binary_decides_with_a_user_supplied_policy_dir_end_to_end() {
    let policies = testville_dir();
    let data = tempfile::tempdir().expect("tempdir");
    let (p, d) = (
        policies.path().to_str().expect("utf8"),
        data.path().to_str().expect("utf8"),
    );
    let m = "00000000-0000-4000-8000-0000000000a1";
    let input = format!(
        "{}\n{}\n{}\n",
        format_args!(
            r#"{{"type":"enroll","member":"{m}","region":"testville","scheme":"employee","sex":"female","birth_date":"1990-01-01","date":"2024-01-01"}}"#
        ),
        format_args!(
            r#"{{"type":"contribute","member":"{m}","month":"2024-01","wage":"8000.00","payer":"employer"}}"#
        ),
        format_args!(
            r#"{{"type":"enroll","member":"00000000-0000-4000-8000-0000000000a2","region":"luzhou","scheme":"employee","sex":"female","birth_date":"1990-01-01","date":"2024-01-01"}}"#
        ),
    );
    let (code, out, _) = run(&["--data", d, "--policy-dir", p, "submit"], &input);
    assert_eq!(code, 1, "{out}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(
        (lines[0]["ok"].clone(), lines[1]["ok"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(
        lines[2]["error"]["code"], "unknown_region",
        "the directory replaces the shipped regions"
    );
    let (code, out, err) = run(
        &["--data", d, "--policy-dir", p, "account", m, "--json"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let view: Value = serde_json::from_str(&out).expect("view");
    assert_eq!(
        view["balance"], "240.00",
        "3 % of 8,000.00 from the user's file"
    );
    assert_eq!(view["years"][0]["employee"], "240.00");
}

#[test]
fn the_binary_refuses_a_bad_policy_dir_naming_file_place_and_reason() {
    let policies = testville_dir();
    let path = policies.path().join("testville.json");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, text.replace("\"0.03\"", "\"-0.03\"")).expect("write");
    let data = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = run(
        &[
            "--data",
            data.path().to_str().expect("utf8"),
            "--policy-dir",
            policies.path().to_str().expect("utf8"),
            "submit",
        ],
        "",
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("testville.json")
            && err.contains("employee_rate[0] (from 1997-01-01)")
            && err.contains("negative"),
        "{err}"
    );
}
