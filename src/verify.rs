//! Whole-log verification: positions, hash chain, decoding, member versions, and every checkpoint
//! against a replay from scratch.

use std::fmt;

use crate::ledger::Ledger;
use crate::store::StoreError;

/// What `verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events checked.
    pub events: u64,
    /// Members replayed.
    pub members: usize,
    /// Members whose checkpoint differs from the replay.
    pub checkpoint_mismatches: Vec<String>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.checkpoint_mismatches.is_empty()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_clean() {
            write!(
                f,
                "verify: ok: {} events, hash chain intact, {} members' checkpoints equal a replay",
                self.events, self.members
            )
        } else {
            write!(
                f,
                "verify: {} checkpoints differ from a replay: {}",
                self.checkpoint_mismatches.len(),
                self.checkpoint_mismatches.join(", ")
            )
        }
    }
}

/// Walks the whole log (chain, positions, decoding, versions) and compares checkpoints with a
/// replay. A damaged log is an `Err` naming the first broken position.
pub async fn verify(ledger: &Ledger) -> Result<VerifyReport, StoreError> {
    let replayed = ledger.replay_all().await?;
    let checkpoints = ledger.checkpoints()?;
    let mut mismatches = Vec::new();
    for (member, state) in &replayed {
        if checkpoints.get(member) != Some(state) {
            mismatches.push(member.to_string());
        }
    }
    for member in checkpoints.keys().filter(|m| !replayed.contains_key(m)) {
        mismatches.push(format!("{member} (checkpoint without events)"));
    }
    Ok(VerifyReport {
        events: ledger.head()?.position,
        members: replayed.len(),
        checkpoint_mismatches: mismatches,
    })
}
