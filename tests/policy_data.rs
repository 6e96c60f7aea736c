//! The policy model as data: each concept of docs/RULES.md §12 is validated at load with the file,
//! the place and the reason, and bounded so that no value can overflow date or decimal arithmetic
//! later; `policy check` and `policy explain` read it from the command line.

use std::process::Command;

use member_ledger::policy::{PolicyError, PolicySet};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_member-ledger");

fn file(path: &str) -> Value {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    serde_json::from_str(&std::fs::read_to_string(full).expect("read")).expect("json")
}

/// Loads an edited copy of `path` (named after its region) and returns (place, reason).
fn refused(path: &str, edit: impl FnOnce(&mut Value)) -> (String, String) {
    let mut v = file(path);
    edit(&mut v);
    let name = format!("{}.json", v["region"].as_str().expect("region"));
    let e = PolicySet::from_files([(name.clone(), v.to_string())]).expect_err("refused");
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
            assert_eq!(file, name, "the refusal names the file");
            (place, reason)
        }
        other => panic!("unexpected refusal {other}"),
    }
}

#[test]
fn r5_the_old_mutual_aid_key_is_refused_saying_how_to_write_it() {
    let (place, reason) = refused("policy/luzhou.json", |v| {
        v["mutual_aid"] = json!([{"effective_from":"1997-01-01","value":{"employer_rate":"0.01","personal_monthly":"2.00"},"source":"x"}]);
    });
    assert_eq!(place, "mutual_aid");
    assert!(reason.contains("surcharges"), "{reason}");
}

#[test]
fn r5_a_surcharge_is_a_rate_for_those_in_service_or_a_flat_amount_per_period() {
    let (place, reason) = refused("policy/chongqing.json", |v| {
        v["surcharges"][0]["value"][0]["applies_to"] = json!(["in_service", "retiree"]);
    });
    assert_eq!(place, "surcharges[0] (from 1997-01-01)");
    assert!(reason.contains("in_service only"), "{reason}");
    let (_, reason) = refused("policy/chongqing.json", |v| {
        v["surcharges"][0]["value"][1]
            .as_object_mut()
            .expect("surcharge")
            .remove("per");
    });
    assert!(reason.contains("needs 'per'"), "{reason}");
    let (_, reason) = refused("policy/chongqing.json", |v| {
        v["surcharges"][0]["value"][1]["amount"] = json!("2000000.00");
    });
    assert!(reason.contains("above 1000000.00"), "{reason}");
}

#[test]
fn r4_an_allocation_band_is_a_flat_amount_or_a_share_of_the_pension_not_both() {
    let (place, reason) = refused("policy/luzhou.json", |v| {
        v["retiree_allocation"][1]["value"][0]["pension_rate"] = json!("0.02");
    });
    assert_eq!(place, "retiree_allocation[1] (from 2023-01-01)");
    assert!(reason.contains("either 'amount'"), "{reason}");
}

#[test]
fn r9_the_resident_wait_is_bounded_and_reads_gap_years_as_0_or_1() {
    let (place, reason) = refused("policy/luzhou.json", |v| {
        v["resident_wait"][0]["value"]["gap_years_free"] = json!(2);
    });
    assert_eq!(place, "resident_wait[0] (from 2025-01-01)");
    assert!(reason.contains("not 0 or 1"), "{reason}");
    let (_, reason) = refused("policy/luzhou.json", |v| {
        v["resident_wait"][0]["value"]["fixed_months"] = json!(100_000);
    });
    assert!(reason.contains("above 120"), "{reason}");
    let (place, reason) = refused("policy/luzhou.json", |v| {
        v["resident"][0]["value"]["window_end"] = json!("02-30");
    });
    assert_eq!(place, "resident[0].value.window_end");
    assert!(reason.contains("MM-DD"), "{reason}");
}

#[test]
fn huge_counts_in_existing_parameters_are_refused_at_load_not_later() {
    let (place, reason) = refused("policy/luzhou.json", |v| {
        v["resident"][0]["value"]["newborn_window_months"] = json!(4_294_967_295u32);
    });
    assert_eq!(place, "resident[0] (from 1997-01-01)");
    assert!(reason.contains("above 120"), "{reason}");
    let (_, reason) = refused("policy/luzhou.json", |v| {
        v["rejoin"][0]["value"]["window_days"] = json!(4_000_000);
    });
    assert!(reason.contains("above 3660"), "{reason}");
    let (_, reason) = refused("policy/luzhou.json", |v| {
        v["retirement"][0]["value"]["months_total_male"] = json!(5000);
    });
    assert!(reason.contains("above 1200"), "{reason}");
    let (_, reason) = refused("policy/luzhou.json", |v| {
        v["employee_rate"][0]["value"] = json!("0.0200000001");
    });
    assert!(reason.contains("more than 8 decimals"), "{reason}");
}

#[test]
fn r8_interest_rates_are_fractions_below_1() {
    let (place, reason) = refused("samples/policy-examples/interest.json", |v| {
        v["interest"][0]["value"]["current_rate"] = json!("1.5");
    });
    assert_eq!(place, "interest[0] (from 2015-10-24)");
    assert!(reason.contains("not below 1"), "{reason}");
}

#[test]
fn r3_an_individuals_credited_part_is_never_above_what_he_pays() {
    let (place, reason) = refused("samples/policy-examples/flexible_workers.json", |v| {
        v["individual_credit_rate"][0]["value"] = json!("0.1");
    });
    assert_eq!(place, "individual_credit_rate");
    assert!(
        reason.contains("above the individual rate 0.08"),
        "{reason}"
    );
}

#[test]
fn r14_close_relatives_come_after_spouse_parents_and_children() {
    let (place, reason) = refused("policy/luzhou.json", |v| {
        v["close_relatives_from"]["value"] = json!("2020-01-01");
    });
    assert_eq!(place, "close_relatives_from");
    assert!(reason.contains("before family_mutual_aid_from"), "{reason}");
}

#[test]
fn r10_and_i9_categories_and_base_years_are_checked() {
    let (place, reason) = refused("policy/luzhou.json", |v| {
        v["premium"][0]["value"]["categories"]["child"]["below_age"] = json!(500);
    });
    assert_eq!(place, "premium[0] (from 2021-01-01)");
    assert!(reason.contains("above 150"), "{reason}");
    let (place, reason) = refused("policy/shenyang.json", |v| {
        v["base_bounds"][1]["value"]["base_year_starts_month"] = json!(13);
    });
    assert_eq!(place, "base_bounds[1] (from 2011-07-01)");
    assert!(reason.contains("between 1 and 12"), "{reason}");
}

#[test]
fn policy_check_validates_a_directory_without_a_ledger() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut good = file("samples/policy-examples/interest.json");
    std::fs::write(dir.path().join("interest.json"), good.to_string()).expect("write");
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["policy", "check", "."])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 region(s) valid: interest"));
    good["interest"][0]["value"]["carried_rate"] = json!("-0.01");
    std::fs::write(dir.path().join("interest.json"), good.to_string()).expect("write");
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["policy", "check", "."])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "interest.json: interest[0] (from 2015-10-24): carried_rate -0.01 is negative"
        ),
        "{err}"
    );
    assert!(
        !dir.path().join("ledger-data").exists(),
        "no ledger was opened (the default --data is ./ledger-data)"
    );
}

#[test]
fn policy_explain_prints_the_figures_in_force_on_a_date_with_their_sources() {
    let explain = |date: &str| {
        let out = Command::new(BIN)
            .args(["policy", "explain", "luzhou", "--date", date])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = explain("2024-12-31");
    let after = explain("2025-01-01");
    assert!(before.contains("new_enrollee_wait_days\":180"), "{before}");
    assert!(
        before.contains("not in force on 2024-12-31:") && before.contains("resident_wait"),
        "{before}"
    );
    assert!(
        after.contains("from 2025-01-01: [nat 2024-38]"),
        "the national wait and its source: {after}"
    );
    let out = Command::new(BIN)
        .args([
            "policy",
            "explain",
            "luzhou",
            "--date",
            "2025-01-01",
            "--json",
        ])
        .output()
        .expect("run");
    let json: Value = serde_json::from_slice(&out.stdout).expect("json");
    let credit = json["figures"]
        .as_array()
        .expect("figures")
        .iter()
        .find(|f| f["parameter"] == "account_credit")
        .expect("account_credit");
    assert_eq!(credit["effective_from"], "2023-01-01");
    let out = Command::new(BIN)
        .args(["policy", "explain", "nowhere"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
}
