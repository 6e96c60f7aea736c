//! Witnesses: signed checkpoints handed out of the ledger, and the checks against them.
//!
//! - [`export_checkpoint`]: the latest signed checkpoint of the durable log (signed now when
//!   events arrived since), for a witness to keep (another machine, an auditor, a letter).
//! - [`verify_witness`]: whether today's log continues a checkpoint a witness kept: not shorter
//!   (a rollback: a directory restored from yesterday), and the same first events (a rewrite:
//!   records edited and chains re-hashed), shown by an RFC 6962 consistency proof.
//! - [`seal_member`]: an inclusion proof of a member's last event under a signed checkpoint,
//!   which a dossier carries, so that a dossier proves its member's history is the ledger's.
//!
//! What a witness cannot show: a forger who holds the signing key can sign a checkpoint of a
//! rewritten log; only a checkpoint a witness kept from before the rewrite then shows it.

use serde::{Deserialize, Serialize};

use crate::store::merkle::{self, leaf_hash};
use crate::store::seal::SignedCheckpoint;
use crate::store::{EventStore, StoreError, StoredEvent};

/// Why a checkpoint cannot be made or checked here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    /// No signing key was given to the ledger (`--signing-key`), so no checkpoint is signed.
    #[error("no checkpoint is signed without a key: open the ledger with --signing-key FILE (see `member-ledger keygen`)")]
    NoKey,
    /// The backend keeps no Merkle tree of its log (PostgreSQL, or a log whose positions skip).
    #[error("this ledger's log keeps no Merkle tree (PostgreSQL, or positions that skip): checkpoints are made for embedded ledgers")]
    NoTree,
    /// The checkpoint text is not one, or its signature does not hold.
    #[error("the checkpoint does not read: {0}")]
    Unreadable(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StoreError),
}

/// What a check against a witness's checkpoint found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessReport {
    /// The checkpoint's size.
    pub witnessed_size: u64,
    /// The log's size now.
    pub size: u64,
    /// The public key that signed the checkpoint (hex).
    pub key: String,
    /// `None` when the log continues the checkpoint; else what is wrong.
    pub broken: Option<String>,
}

impl std::fmt::Display for WitnessReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.broken {
            None => write!(
                f,
                "witness: ok: the log of {} events continues the checkpoint of {} events signed by {} (consistency proof verified)",
                self.size, self.witnessed_size, self.key
            ),
            Some(why) => write!(f, "witness: NOT A CONTINUATION: {why}"),
        }
    }
}

/// The latest signed checkpoint covering the whole durable log.
pub fn export_checkpoint(store: &dyn EventStore) -> Result<String, WitnessError> {
    let (size, _) = store.tree()?.ok_or(WitnessError::NoTree)?;
    if let Some(text) = store.latest_checkpoint()? {
        let signed = SignedCheckpoint::parse(&text).map_err(WitnessError::Unreadable)?;
        if signed.checkpoint.size == size {
            return Ok(text);
        }
    }
    store.seal_now()?.ok_or(WitnessError::NoKey)
}

/// Checks today's log against a checkpoint a witness kept.
pub fn verify_witness(store: &dyn EventStore, text: &str) -> Result<WitnessReport, WitnessError> {
    let signed = SignedCheckpoint::parse(text).map_err(WitnessError::Unreadable)?;
    signed
        .verify_signature()
        .map_err(WitnessError::Unreadable)?;
    let (size, source) = store.tree()?.ok_or(WitnessError::NoTree)?;
    let checkpoint = &signed.checkpoint;
    let origin = format!("{:016x}", store.event_ids()?.tag());
    let mut report = WitnessReport {
        witnessed_size: checkpoint.size,
        size,
        key: hex::encode(signed.key),
        broken: None,
    };
    if checkpoint.origin != origin {
        report.broken = Some(format!(
            "the checkpoint is of ledger {}, this is ledger {origin}",
            checkpoint.origin
        ));
        return Ok(report);
    }
    if checkpoint.size > size {
        report.broken = Some(format!(
            "the log holds {size} events but a checkpoint signed at {} witnessed {}: it was rolled back (restored from an older copy?), and events acknowledged before the checkpoint are gone",
            checkpoint.time, checkpoint.size
        ));
        return Ok(report);
    }
    let old_root = merkle::root(source.as_ref(), checkpoint.size)?;
    let root = merkle::root(source.as_ref(), size)?;
    let proof = merkle::consistency_proof(source.as_ref(), checkpoint.size, size)?;
    if old_root != checkpoint.root
        || !merkle::verify_consistency(checkpoint.size, size, &checkpoint.root, &root, &proof)
    {
        report.broken = Some(format!(
            "the first {} events are not the ones the checkpoint signed at {} witnessed: history was rewritten",
            checkpoint.size, checkpoint.time
        ));
    }
    Ok(report)
}

/// An inclusion proof of one event under a signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSeal {
    /// The signed checkpoint (its text).
    pub checkpoint: String,
    /// The event's leaf index (its position − 1).
    pub leaf_index: u64,
    /// The audit path, hex, leaf side first.
    pub proof: Vec<String>,
}

/// The seal of a member's last event (`last`) under the latest checkpoint (signed now when the
/// latest does not cover it); `None` where no checkpoint is signed.
pub fn seal_member(
    store: &dyn EventStore,
    last: &StoredEvent,
) -> Result<Option<EventSeal>, StoreError> {
    let Some((_, source)) = store.tree()? else {
        return Ok(None);
    };
    let covering = |text: &String| {
        SignedCheckpoint::parse(text).is_ok_and(|s| s.checkpoint.size >= last.position)
    };
    let text = match store.latest_checkpoint()?.filter(covering) {
        Some(text) => text,
        None => match store.seal_now()?.filter(covering) {
            Some(text) => text,
            None => return Ok(None),
        },
    };
    let size = SignedCheckpoint::parse(&text)
        .map(|s| s.checkpoint.size)
        .unwrap_or(0);
    let index = last.position - 1;
    let proof = merkle::inclusion_proof(source.as_ref(), index, size)?;
    Ok(Some(EventSeal {
        checkpoint: text,
        leaf_index: index,
        proof: proof.iter().map(hex::encode).collect(),
    }))
}

/// Checks a seal of `event`: the checkpoint's signature, and the event's inclusion under it.
/// Returns the checkpoint.
pub fn check_seal(seal: &EventSeal, event: &StoredEvent) -> Result<SignedCheckpoint, String> {
    let signed = SignedCheckpoint::parse(&seal.checkpoint)?;
    signed.verify_signature()?;
    if seal.leaf_index + 1 != event.position {
        return Err(format!(
            "the seal is for position {}, not the event at {}",
            seal.leaf_index + 1,
            event.position
        ));
    }
    let proof = seal
        .proof
        .iter()
        .map(|h| hex::decode(h).ok().and_then(|b| b.try_into().ok()))
        .collect::<Option<Vec<[u8; 32]>>>()
        .ok_or("the seal's proof is not hashes")?;
    let leaf = leaf_hash(&event.hash());
    if !merkle::verify_inclusion(
        &leaf,
        seal.leaf_index,
        signed.checkpoint.size,
        &proof,
        &signed.checkpoint.root,
    ) {
        return Err("the event is not under the checkpoint the seal names: it was altered".into());
    }
    Ok(signed)
}
