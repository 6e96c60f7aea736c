//! What several test files share: a fresh ledger given some commands.

use member_ledger::Ledger;

/// A fresh sled ledger in a temporary directory, after `lines` (each must be accepted). Keep
/// the directory alive as long as the ledger.
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
