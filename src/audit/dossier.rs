//! The dispute dossier: one self-contained JSON file with a member's events (each as the bytes
//! the ledger stores, hex, beside their readable JSON), the account at each year end, the
//! statement, and the ledger's head when it was exported. [`verify_dossier`] checks it offline,
//! without the database:
//!
//! - every event's hash is computed from its stored bytes, and its readable JSON must say what
//!   the bytes say, so no field of any event was edited after it was written;
//! - member versions run 1, 2, 3… without a gap, so no event of the member was left out;
//! - the events form the member's own hash chain: the first one's `prev_hash` is the genesis
//!   hash and each later one's is the previous event's `hash`, with rising positions; the last
//!   event, when it is the ledger's head, carries the head's hash;
//! - the year-end accounts and the statement are recomputed from the events and must equal the
//!   ones in the file;
//! - the file's digest (SHA-256 of its canonical JSON, keys sorted, whatever serializer wrote
//!   it) covers everything else, so an edit anywhere shows.
//!
//! Offline, a forger who recomputes every hash could still build a consistent file: the head
//! hash and the events' hashes are the anchors to compare with the bureau's ledger (which
//! [`crate::Ledger::check_dossier`] does).

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::witness::{check_seal, EventSeal};
use crate::codec::EventJson;
use crate::domain::MemberId;
use crate::policy::PolicySet;
use crate::projection::{fold_member, AccountView, Statement};
use crate::store::{canonical_json, ChainWalk, Head, StoreError, StoredEvent};

/// The format tag of this version of the dossier.
pub const DOSSIER_FORMAT: &str = "member-ledger-dossier/2";

/// One event of a dossier: its readable JSON and the bytes the ledger stores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DossierEvent {
    /// The event as JSON (what a person reads).
    pub event: EventJson,
    /// The stored record, hex: what the hash covers.
    pub record: String,
}

impl DossierEvent {
    /// The event of a stored record.
    pub fn of(stored: &StoredEvent) -> Result<DossierEvent, StoreError> {
        Ok(DossierEvent {
            event: EventJson::of(stored)?,
            record: hex::encode(stored.record()),
        })
    }

    /// The stored event its record holds, checked against its readable JSON.
    pub fn stored(&self) -> Result<StoredEvent, DossierError> {
        let at = self.event.position;
        let bytes = hex::decode(&self.record)
            .map_err(|_| DossierError(format!("event at position {at}: its record is not hex")))?;
        let stored = StoredEvent::decode_any(bytes)
            .map_err(|e| DossierError(format!("event at position {at}: {e}")))?;
        let shown = EventJson::of(&stored)
            .map_err(|e| DossierError(format!("event at position {at}: {e}")))?;
        if shown != self.event {
            return Err(DossierError(format!(
                "event at position {at}: its readable fields differ from its stored bytes: it was altered"
            )));
        }
        Ok(stored)
    }
}

/// The ledger's head when the dossier was exported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DossierHead {
    /// Position of the last event in the ledger.
    pub position: u64,
    /// Its hash (hex).
    pub hash: String,
}

/// A member's dispute file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dossier {
    /// [`DOSSIER_FORMAT`].
    pub format: String,
    /// The member.
    pub member: MemberId,
    /// When it was exported (RFC 3339, UTC).
    pub exported_at: String,
    /// The ledger's head then.
    pub ledger_head: DossierHead,
    /// The policy versions the member's events were decided under.
    pub policy_versions: Vec<String>,
    /// The member's events, as stored, in log order.
    pub events: Vec<DossierEvent>,
    /// The account in force at the end of each year of the member's history.
    pub year_ends: Vec<AccountView>,
    /// The full statement.
    pub statement: Statement,
    /// An inclusion proof of the member's last event under a checkpoint the ledger signed
    /// (absent when the ledger signs none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<EventSeal>,
    /// Hex SHA-256 of this file's canonical JSON with `digest` empty.
    pub digest: String,
}

/// What a dossier check found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DossierReport {
    /// The member.
    pub member: MemberId,
    /// Events whose hashes recompute.
    pub events: usize,
    /// Year-end accounts recomputed.
    pub year_ends: usize,
    /// The ledger head it claims, to compare with the bureau's ledger.
    pub ledger_head: DossierHead,
    /// When the dossier is sealed: the size of the signed checkpoint its member's last event is
    /// proven under, and the public key (hex) that signed it (compare it with the bureau's).
    pub sealed: Option<(u64, String)>,
}

/// Why a dossier does not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("dossier does not verify: {0}")]
pub struct DossierError(pub String);

impl Dossier {
    /// Builds the dossier of `member` from its events (in log order) and the ledger's head.
    pub fn build(
        member: MemberId,
        events: Vec<StoredEvent>,
        head: Head,
        exported_at: String,
        policies: &PolicySet,
        seal: Option<EventSeal>,
    ) -> Result<Dossier, StoreError> {
        let (year_ends, statement) = derived(member, &events, head.position, policies)?;
        let mut policy_versions: Vec<String> =
            events.iter().map(|e| e.policy_version.clone()).collect();
        policy_versions.sort();
        policy_versions.dedup();
        let mut dossier = Dossier {
            format: DOSSIER_FORMAT.to_string(),
            member,
            exported_at,
            ledger_head: DossierHead {
                position: head.position,
                hash: hex::encode(head.hash),
            },
            policy_versions,
            events: events
                .iter()
                .map(DossierEvent::of)
                .collect::<Result<_, _>>()?,
            year_ends,
            statement,
            seal,
            digest: String::new(),
        };
        dossier.digest = dossier.compute_digest();
        Ok(dossier)
    }

    /// SHA-256 of the canonical JSON with the digest left empty.
    pub fn compute_digest(&self) -> String {
        let mut copy = self.clone();
        copy.digest = String::new();
        let value = serde_json::to_value(&copy).unwrap_or_default();
        let mut bytes = Vec::with_capacity(64 * 1024);
        canonical_json(&value, &mut bytes);
        hex::encode(Sha256::digest(bytes))
    }

    /// The stored events its records hold, each checked against its readable JSON.
    pub fn events(&self) -> Result<Vec<StoredEvent>, DossierError> {
        self.events.iter().map(DossierEvent::stored).collect()
    }
}

/// The year-end accounts and the statement, recomputed from the events.
fn derived(
    member: MemberId,
    events: &[StoredEvent],
    head_position: u64,
    policies: &PolicySet,
) -> Result<(Vec<AccountView>, Statement), StoreError> {
    let mut year_ends = Vec::new();
    // Each year end's status as now known: the dossier's events (docs/RULES.md §12 R2).
    let known = fold_member(member, events)?;
    let first = events.iter().map(|e| e.effective_date.year()).min();
    let last = events.iter().map(|e| e.effective_date.year()).max();
    if let (Some(first), Some(last)) = (first, last) {
        for year in first..=last {
            let Some(end) = NaiveDate::from_ymd_opt(year, 12, 31) else {
                continue;
            };
            let included: Vec<StoredEvent> = events
                .iter()
                .filter(|e| e.effective_date <= end)
                .cloned()
                .collect();
            let state = fold_member(member, &included)?;
            year_ends.extend(AccountView::of(
                &state,
                &known,
                policies,
                end,
                head_position,
            ));
        }
    }
    let statement = Statement::build(member, events, None, None)?;
    Ok((year_ends, statement))
}

/// Checks a dossier offline. See the module documentation for what is checked.
pub fn verify_dossier(dossier: &Dossier) -> Result<DossierReport, DossierError> {
    verify_dossier_with(dossier, &PolicySet::shipped())
}

/// [`verify_dossier`] with the policies the year-end statuses were judged with (a deployment's
/// `--policy-dir`).
pub fn verify_dossier_with(
    dossier: &Dossier,
    policies: &PolicySet,
) -> Result<DossierReport, DossierError> {
    let fail = |why: String| Err(DossierError(why));
    if dossier.format != DOSSIER_FORMAT {
        return fail(format!(
            "format '{}' is not {DOSSIER_FORMAT}",
            dossier.format
        ));
    }
    if dossier.events.is_empty() {
        return fail("it holds no events".into());
    }
    let events = dossier.events()?;
    // The member's own chain, from genesis: versions 1, 2, 3…, positions rising (they skip the
    // other members' events), each `prev_hash` the hash of the event before.
    let mut walk = ChainWalk::new(false);
    let mut previous: Option<&StoredEvent> = None;
    for e in &events {
        if e.member != dossier.member {
            return fail(format!(
                "event at position {} is of member {}",
                e.position, e.member
            ));
        }
        walk.check(e)
            .map_err(|e| DossierError(format!("the member's chain breaks: {e}")))?;
        previous = Some(e);
    }
    let Some(last) = previous else {
        return fail("it holds no events".into());
    };
    if last.position > dossier.ledger_head.position {
        return fail("an event lies beyond the ledger head it claims".into());
    }
    if last.position == dossier.ledger_head.position
        && hex::encode(last.hash()) != dossier.ledger_head.hash
    {
        return fail("the last event is the head but its hash is not the head's".into());
    }
    let (year_ends, statement) = derived(
        dossier.member,
        &events,
        dossier.ledger_head.position,
        policies,
    )
    .map_err(|e| DossierError(format!("the events do not replay: {e}")))?;
    if year_ends != dossier.year_ends {
        let year = year_ends
            .iter()
            .zip(&dossier.year_ends)
            .find(|(a, b)| a != b)
            .map_or_else(|| "a year".to_string(), |(a, _)| a.as_of.to_string());
        return fail(format!(
            "the account at {year} differs from a replay of the events"
        ));
    }
    if statement != dossier.statement {
        return fail("the statement differs from a replay of the events".into());
    }
    if dossier.compute_digest() != dossier.digest {
        return fail("the digest does not match the contents: the file was edited".into());
    }
    let sealed = match &dossier.seal {
        Some(seal) => {
            let signed =
                check_seal(seal, last).map_err(|e| DossierError(format!("the seal: {e}")))?;
            Some((signed.checkpoint.size, hex::encode(signed.key)))
        }
        None => None,
    };
    Ok(DossierReport {
        member: dossier.member,
        events: dossier.events.len(),
        year_ends: year_ends.len(),
        ledger_head: dossier.ledger_head.clone(),
        sealed,
    })
}
