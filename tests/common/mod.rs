//! What several test files share: a fresh ledger given some commands.

use member_ledger::Ledger;

/// A fresh sled ledger in a temporary directory, after `lines` (each must be accepted). Keep
/// the directory alive as long as the ledger.
#[allow(dead_code)] // Not every test file that includes this module uses the shipped policies.
pub async fn given(lines: &[String]) -> (tempfile::TempDir, Ledger) {
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

/// A stored event's fields as JSON (`{"type": …, …}`), decoded through the codec: what tests
/// inspect, whatever bytes the store keeps.
#[allow(dead_code)] // Not every test file that includes this module inspects events.
pub fn event_json(stored: &member_ledger::store::StoredEvent) -> serde_json::Value {
    let event = member_ledger::codec::decode(stored).expect("a stored event decodes");
    serde_json::to_value(&event).expect("events serialise")
}

/// A fresh sled ledger deciding with `policies`, after `lines` (each must be accepted).
#[allow(dead_code)] // Not every test file that includes this module uses other policies.
pub async fn given_with(
    policies: member_ledger::policy::PolicySet,
    lines: &[String],
) -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::open_with_policies(dir.path(), policies)
        .await
        .expect("open");
    for line in lines {
        ledger
            .submit_json(line)
            .await
            .unwrap_or_else(|e| panic!("given {line}: {e}"));
    }
    (dir, ledger)
}

/// The example policy directory of the README's policy section (`samples/policy-examples`).
#[allow(dead_code)]
pub fn example_policies() -> member_ledger::policy::PolicySet {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/policy-examples");
    member_ledger::policy::PolicySet::from_dir(dir).expect("the example policies load")
}

/// `verify` finds nothing wrong: every amount recomputes (and `policy_depth` events of the log
/// were checked against their policy version), every checkpoint equals a replay.
#[allow(dead_code)]
pub async fn verified(ledger: &Ledger, policy_depth: u64) {
    let report = ledger.verify(|_, _| {}).await.expect("verify");
    assert!(report.is_clean(), "{report}");
    assert!(
        report.recomputed_with_policy >= policy_depth,
        "only {} events rechecked against their policy: {report}",
        report.recomputed_with_policy
    );
}
