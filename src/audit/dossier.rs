//! The dispute dossier: one self-contained JSON file with a member's events (full envelopes,
//! hashes included), the account at each year end, the statement, and the ledger's head when it
//! was exported. [`verify_dossier`] checks it offline, without the database:
//!
//! - every event's hash recomputes from its `prev_hash` and its canonical bytes, so no field of
//!   any event was edited after it was written;
//! - member versions run 1, 2, 3… without a gap, so no event of the member was left out;
//! - the events form the member's own hash chain: the first one's `prev_hash` is the genesis
//!   hash and each later one's is the previous event's `hash`, with rising positions; the last
//!   event, when it is the ledger's head, carries the head's hash;
//! - the year-end accounts and the statement are recomputed from the events and must equal the
//!   ones in the file;
//! - the file's digest covers everything else, so an edit anywhere shows.
//!
//! Offline, a forger who recomputes every hash could still build a consistent file: the head
//! hash and the events' hashes are the anchors to compare with the bureau's ledger (which
//! [`crate::Ledger::check_dossier`] does).

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::MemberId;
use crate::policy::PolicySet;
use crate::projection::{fold_member, AccountView, Statement};
use crate::store::{Head, StoreError, StoredEvent, GENESIS_HASH};

/// The format tag of this version of the dossier.
pub const DOSSIER_FORMAT: &str = "member-ledger-dossier/1";

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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    pub events: Vec<StoredEvent>,
    /// The account in force at the end of each year of the member's history.
    pub year_ends: Vec<AccountView>,
    /// The full statement.
    pub statement: Statement,
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
            events,
            year_ends,
            statement,
            digest: String::new(),
        };
        dossier.digest = dossier.compute_digest();
        Ok(dossier)
    }

    /// SHA-256 of the canonical JSON with the digest left empty.
    pub fn compute_digest(&self) -> String {
        let mut copy = self.clone();
        copy.digest = String::new();
        let bytes = serde_json::to_vec(&copy).unwrap_or_default();
        hex::encode(Sha256::digest(bytes))
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
    // Each year end's status as now known: the dossier's events (DOMAIN §12 R2).
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
    let mut previous: Option<&StoredEvent> = None;
    for (i, e) in dossier.events.iter().enumerate() {
        let at = e.position;
        if e.member != dossier.member {
            return fail(format!("event at position {at} is of member {}", e.member));
        }
        if e.member_version != i as u64 + 1 {
            return fail(format!(
                "event at position {at} is member version {}, expected {} (an event is missing)",
                e.member_version,
                i + 1
            ));
        }
        let Some(prev) = e.prev_hash_bytes() else {
            return fail(format!("event at position {at} has no valid prev_hash"));
        };
        if e.hash_bytes() != Some(e.compute_hash(&prev)) {
            return fail(format!(
                "event at position {at} does not match its hash: it was altered"
            ));
        }
        match previous {
            None if prev != GENESIS_HASH => {
                return fail(format!(
                    "the first event (position {at}) does not start the member's chain: \
                     an earlier event is missing"
                ));
            }
            Some(p) if e.position <= p.position => {
                return fail(format!("positions out of order at {at}"));
            }
            Some(p) if e.prev_hash != p.hash => {
                return fail(format!(
                    "event at position {at} does not link to the member's event before it"
                ));
            }
            _ => {}
        }
        previous = Some(e);
    }
    let last = previous.expect("non-empty");
    if last.position > dossier.ledger_head.position {
        return fail("an event lies beyond the ledger head it claims".into());
    }
    if last.position == dossier.ledger_head.position && last.hash != dossier.ledger_head.hash {
        return fail("the last event is the head but its hash is not the head's".into());
    }
    let (year_ends, statement) = derived(
        dossier.member,
        &dossier.events,
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
    Ok(DossierReport {
        member: dossier.member,
        events: dossier.events.len(),
        year_ends: year_ends.len(),
        ledger_head: dossier.ledger_head.clone(),
    })
}
