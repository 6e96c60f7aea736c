//! The async facade other services use: [`Ledger`].
//!
//! A thin layer: every call runs the synchronous core ([`core`], [`submit`], [`batch`],
//! [`queries`]) on tokio's blocking threads, so that no call blocks the caller's runtime, even a
//! current-thread one, while storage works. `submit` parses nothing and trusts nothing: it loads
//! the states a command reads, decides, and appends the events with the member versions it
//! decided on, and answers once they are durable.

mod batch;
mod core;
mod group;
mod queries;
mod submit;
mod subscribe;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;

pub use self::batch::PIPELINE_GROUP_COMMANDS;
pub use self::core::STATE_CACHE_MEMBERS;
pub use self::group::PendingBatch;
pub use self::submit::DECIDE_ATTEMPTS_MAX;
pub use self::subscribe::{Subscription, SubscriptionCheckpoint, SUBSCRIPTION_READ_EVENTS};

use self::batch::BatchInput;
use self::core::Core;
use self::group::AppliedBatch;
use crate::audit::diff::Diff;
use crate::audit::dossier::{Dossier, DossierError, DossierReport};
use crate::audit::witness::{self, WitnessError, WitnessReport};
use crate::codec::EventJson;
use crate::domain::{parse_command, Command, MemberId, MemberState, Rejection};
use crate::policy::PolicySet;
use crate::projection::annual::{AnnualStatement, IssuedRef};
use crate::projection::{rebuild, AccountView, Statement, ViewAt};
use crate::projection::{Point, PointSpec};
use crate::store::seal::Signer;
use crate::store::{
    DataLocation, EventStore, Head, LogReader, SledStore, StoreError, StoreOptions, StoredEvent,
};

/// Why a submit did not go through.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The command was refused; nothing was written. Show the message; fix the command.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// Storage failed; the command was not acknowledged. Retry with the same key after the
    /// ledger is reopened: the key makes the retry safe.
    #[error(transparent)]
    Storage(#[from] StoreError),
}

impl SubmitError {
    /// The contract code (`storage_error` for storage failures).
    pub fn code(&self) -> &'static str {
        match self {
            SubmitError::Rejected(r) => r.code.as_str(),
            SubmitError::Storage(_) => "storage_error",
        }
    }
}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The member has no enrolment (at that point, for a past view).
    #[error("member {0} is not enrolled")]
    UnknownMember(MemberId),
    /// Storage failed or the log is damaged.
    #[error(transparent)]
    Storage(#[from] StoreError),
}

/// A command to submit, with the idempotency key it carries (a retry with the same key and
/// command answers the first result and writes nothing).
#[derive(Clone, Debug, PartialEq)]
pub struct Submission {
    /// The command.
    pub command: Command,
    /// Its idempotency key, if any.
    pub key: Option<String>,
}

impl Submission {
    /// A command without a key.
    pub fn new(command: Command) -> Submission {
        Submission { command, key: None }
    }

    /// A command under an idempotency key.
    pub fn keyed(command: Command, key: impl Into<String>) -> Submission {
        Submission {
            command,
            key: Some(key.into()),
        }
    }
}

/// What an accepted command did: the position of its last event and the events.
#[derive(Clone, Debug, PartialEq)]
pub struct Receipt {
    /// Log position after the command (the head when it appended nothing).
    pub position: u64,
    /// The events it appended.
    pub events: Vec<StoredEvent>,
}

impl Receipt {
    /// The events as JSON, as the command line and the wire show them.
    pub fn events_json(&self) -> Result<Vec<EventJson>, StoreError> {
        self.events.iter().map(EventJson::of).collect()
    }
}

/// A handle on a ledger. Cheap to clone; all clones share one store and one writer.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// use member_ledger::Ledger;
/// use member_ledger::projection::ViewAt;
///
/// let ledger = Ledger::open(dir.path()).await?;
/// let member = "00000000-0000-4000-8000-000000000001";
/// ledger.submit_json(&format!(r#"{{"type":"enroll","member":"{member}","region":"luzhou","scheme":"employee","sex":"female","birth_date":"1990-01-01","date":"2024-01-01"}}"#)).await?;
/// ledger.submit_json(&format!(r#"{{"type":"contribute","member":"{member}","month":"2024-01","wage":"8000.00","payer":"employer"}}"#)).await?;
/// let view = ledger.account(member.parse()?, ViewAt::Head).await?;
/// assert_eq!(view.balance.to_string(), "160.00"); // 2 % of 8,000.00, own share only since 2023
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Ledger {
    core: Arc<Core>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field(
                "regions",
                &self.core.policies.region_names().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Runs blocking work off the caller's runtime; a panic in it resumes in the caller.
async fn blocking<T, E>(job: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    match tokio::task::spawn_blocking(job).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(StoreError::Closed.into()),
    }
}

impl Ledger {
    /// Opens (or creates) a sled ledger in directory `path` with the shipped policies.
    pub async fn open(path: impl AsRef<Path>) -> Result<Ledger, StoreError> {
        Ledger::open_with_policies(path, PolicySet::shipped()).await
    }

    /// Opens a sled ledger with the given policies.
    pub async fn open_with_policies(
        path: impl AsRef<Path>,
        policies: PolicySet,
    ) -> Result<Ledger, StoreError> {
        let path = path.as_ref().to_path_buf();
        let store = blocking(move || SledStore::open_with(path, StoreOptions::default())).await?;
        Ok(Ledger::with_store(Arc::new(store), policies))
    }

    /// Opens (or creates) the ledger at `location`: a directory (sled) or, with the feature
    /// `postgres`, a `postgres://` / `postgresql://` URL or a libpq connection string
    /// (see [`DataLocation`]).
    pub async fn open_url(location: &str, policies: PolicySet) -> Result<Ledger, StoreError> {
        let location = DataLocation::parse(location);
        let store = blocking(move || location.open()).await?;
        Ok(Ledger::with_store(store, policies))
    }

    /// Opens (or creates) the ledger at `location`, signing checkpoints of its log with
    /// `signer` (see [`crate::audit::witness`]).
    pub async fn open_sealed(
        location: &str,
        policies: PolicySet,
        signer: Option<Signer>,
    ) -> Result<Ledger, StoreError> {
        let location = DataLocation::parse(location);
        let store = blocking(move || location.open_with(signer)).await?;
        Ok(Ledger::with_store(store, policies))
    }

    /// A ledger over any store.
    pub fn with_store(store: Arc<dyn EventStore>, policies: PolicySet) -> Ledger {
        Ledger {
            core: Arc::new(Core::new(store, policies)),
        }
    }

    /// The policies the ledger decides with.
    pub fn policies(&self) -> &PolicySet {
        &self.core.policies
    }

    /// A read-only handle on the log (events, members, keys). Appends go through the ledger's
    /// rules only: nothing it hands out can append.
    pub fn log(&self) -> LogReader {
        LogReader::new(Arc::clone(&self.core.store))
    }

    /// The end of the log as readers see it (the last durable event).
    pub fn head(&self) -> Result<Head, StoreError> {
        self.core.head()
    }

    /// Parses one JSON command line and submits it.
    pub async fn submit_json(&self, line: &str) -> Result<Receipt, SubmitError> {
        let (command, key) = parse_command(line)?;
        self.submit(command, key).await
    }

    /// Decides and appends one command; returns once its events are durable.
    pub async fn submit(
        &self,
        command: Command,
        key: Option<String>,
    ) -> Result<Receipt, SubmitError> {
        self.submit_as(command, key, None).await
    }

    /// [`Ledger::submit`] on behalf of a client, whose name each event records (`actor`).
    pub async fn submit_as(
        &self,
        command: Command,
        key: Option<String>,
        actor: Option<String>,
    ) -> Result<Receipt, SubmitError> {
        let core = Arc::clone(&self.core);
        blocking(move || {
            let (receipt, durable) = core.submit_one(&command, key, actor, true)?;
            if let Some(durable) = durable {
                submit::wait(durable)?;
            }
            Ok(receipt)
        })
        .await
    }

    /// Submits commands in order, sharing one flush: each result is as if submitted alone, and
    /// all are durable when this returns (see [`batch`]).
    pub async fn submit_batch(
        &self,
        commands: Vec<Submission>,
    ) -> Vec<Result<Receipt, SubmitError>> {
        self.submit_batch_as(commands, None).await
    }

    /// [`Ledger::submit_batch`] on behalf of a client, whose name each event records.
    pub async fn submit_batch_as(
        &self,
        commands: Vec<Submission>,
        actor: Option<String>,
    ) -> Vec<Result<Receipt, SubmitError>> {
        let count = commands.len();
        self.batch(count, move |core| {
            core.submit_batch(BatchInput::Typed(&commands), actor)
        })
        .await
    }

    /// [`Ledger::submit_batch`] of JSON command lines, as `submit` reads them: a line that does
    /// not parse is that line's `invalid_input`, the others go on.
    pub async fn submit_json_batch(&self, lines: &[String]) -> Vec<Result<Receipt, SubmitError>> {
        self.submit_json_batch_as(lines.to_vec(), None).await
    }

    /// [`Ledger::submit_json_batch`] on behalf of a client, whose name each event records.
    pub async fn submit_json_batch_as(
        &self,
        lines: Vec<String>,
        actor: Option<String>,
    ) -> Vec<Result<Receipt, SubmitError>> {
        let count = lines.len();
        self.batch(count, move |core| {
            core.submit_batch(BatchInput::Json(&lines), actor)
        })
        .await
    }

    /// [`Ledger::submit_batch`] up to its flush: returns once every command is decided and
    /// applied, with the flush asked for. [`PendingBatch::wait`] gives the results once the
    /// flush ends (each durable, or the failure). Meanwhile the next batch may be submitted:
    /// it is decided on the states this one leaves and made durable after it (a failed flush
    /// fails both). `submit` uses it to decide a batch while the last one is flushed and printed.
    pub async fn submit_batch_pending(&self, commands: Vec<Submission>) -> PendingBatch {
        let count = commands.len();
        let core = Arc::clone(&self.core);
        let applied = tokio::task::spawn_blocking(move || {
            core.submit_batch_applied(BatchInput::Typed(&commands), None)
        })
        .await;
        let applied = match applied {
            Ok(applied) => applied,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => AppliedBatch::failed(count, || StoreError::Closed.into()),
        };
        PendingBatch {
            core: Arc::clone(&self.core),
            applied,
        }
    }

    /// Runs a batch of `count` commands on a blocking thread; a batch the runtime lost answers
    /// `Closed` for each command.
    async fn batch<F>(&self, count: usize, run: F) -> Vec<Result<Receipt, SubmitError>>
    where
        F: FnOnce(&Core) -> Vec<Result<Receipt, SubmitError>> + Send + 'static,
    {
        let core = Arc::clone(&self.core);
        match blocking(move || Ok::<_, SubmitError>(run(&core))).await {
            Ok(results) => results,
            Err(_) => (0..count).map(|_| Err(StoreError::Closed.into())).collect(),
        }
    }

    /// Reverses a stored event: appends the compensating event. Same as submitting
    /// `{"type":"reverse",…}`.
    pub async fn reverse(
        &self,
        event_id: uuid::Uuid,
        reason: &str,
        key: Option<String>,
    ) -> Result<Receipt, SubmitError> {
        let command = Command::Reverse {
            event: event_id,
            reason: reason.to_string(),
        };
        self.submit(command, key).await
    }

    /// The log from `from_position` on (1: from the start), in order, then new events as they
    /// become durable; see [`Subscription`].
    pub fn subscribe(&self, from_position: u64) -> Subscription {
        Subscription::new(Arc::clone(&self.core.store), from_position)
    }

    /// The stored event with this id, if the log has it.
    pub async fn event(&self, event_id: uuid::Uuid) -> Result<Option<StoredEvent>, StoreError> {
        let core = Arc::clone(&self.core);
        blocking(move || core.event(event_id)).await
    }

    /// A member's current state (from its snapshot and the events after it, or the cache).
    pub async fn checkpoint(&self, member: MemberId) -> Result<MemberState, StoreError> {
        let core = Arc::clone(&self.core);
        blocking(move || core.checkpoint(member)).await
    }

    /// The account view of a member (see [`ViewAt`]).
    pub async fn account(&self, member: MemberId, at: ViewAt) -> Result<AccountView, QueryError> {
        let core = Arc::clone(&self.core);
        blocking(move || core.account(member, at)).await
    }

    /// The member's statement, limited to effective dates in `[from, to]` when given.
    pub async fn statement(
        &self,
        member: MemberId,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Statement, QueryError> {
        let core = Arc::clone(&self.core);
        blocking(move || core.statement(member, from, to)).await
    }

    /// What changed between two points of a member's history (dates or positions).
    pub async fn diff(&self, member: MemberId, from: Point, to: Point) -> Result<Diff, QueryError> {
        let core = Arc::clone(&self.core);
        blocking(move || core.diff(member, from, to)).await
    }

    /// The member's annual statement (年度对账单) of `year` as the ledger knows it now (see
    /// [`AnnualStatement`]); [`QueryError::UnknownMember`] when the member had not enrolled by
    /// the year's end.
    pub async fn annual_statement(
        &self,
        member: MemberId,
        year: i32,
    ) -> Result<AnnualStatement, QueryError> {
        let core = Arc::clone(&self.core);
        blocking(move || core.annual_statement(member, year)).await
    }

    /// The members of `region` who have a statement of `year`, in id order: whom an
    /// `issue_statement` for the region reaches.
    pub async fn annual_members(
        &self,
        region: &str,
        year: i32,
    ) -> Result<Vec<MemberId>, QueryError> {
        let core = Arc::clone(&self.core);
        let region = region.to_string();
        blocking(move || core.annual_members(&region, year)).await
    }

    /// The member's latest statement of `year` as issued, if one was.
    pub async fn issued_statement(
        &self,
        member: MemberId,
        year: i32,
    ) -> Result<Option<IssuedRef>, QueryError> {
        let core = Arc::clone(&self.core);
        blocking(move || core.issued_statement(member, year)).await
    }

    /// The [`Point`] a [`PointSpec`] names for `member`: itself, or where and on what date the
    /// member's latest statement of the year was issued (`None` when none was).
    pub async fn resolve_point(
        &self,
        member: MemberId,
        spec: PointSpec,
    ) -> Result<Option<Point>, QueryError> {
        match spec {
            PointSpec::At(point) => Ok(Some(point)),
            PointSpec::Issued(year) => Ok(self
                .issued_statement(member, year)
                .await?
                .map(|issued| issued.point(year))),
        }
    }

    /// The member's dispute dossier (see [`crate::audit::dossier`]).
    pub async fn dossier(&self, member: MemberId) -> Result<Dossier, QueryError> {
        let core = Arc::clone(&self.core);
        blocking(move || core.dossier(member)).await
    }

    /// Checks a dossier offline and then against this ledger, byte for byte.
    pub async fn check_dossier(&self, dossier: &Dossier) -> Result<DossierReport, DossierError> {
        let core = Arc::clone(&self.core);
        let dossier = dossier.clone();
        match tokio::task::spawn_blocking(move || core.check_dossier(&dossier)).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(DossierError("the check was cancelled".into())),
        }
    }

    /// Rebuilds every projection from the log (snapshots and the retiree index), replacing
    /// what is stored; returns the events folded and the members rebuilt.
    pub async fn rebuild_projections(
        &self,
        progress: impl FnMut(u64, u64) + Send + 'static,
    ) -> Result<(u64, usize), StoreError> {
        let core = Arc::clone(&self.core);
        let mut progress = progress;
        blocking(move || {
            let done = rebuild::rebuild(core.store.as_ref(), &mut progress);
            core.forget();
            done
        })
        .await
    }

    /// Folds each member's own events from scratch (effective on or before `as_of`, when
    /// given), on two threads: memory holds only these members' states.
    pub async fn fold_members(
        &self,
        members: Vec<MemberId>,
        as_of: Option<NaiveDate>,
    ) -> Result<Vec<MemberState>, StoreError> {
        let core = Arc::clone(&self.core);
        blocking(move || rebuild::fold_members(core.store.as_ref(), &members, as_of)).await
    }

    /// Folds the log in position order (events effective on or before `as_of`, when given) into
    /// every member's state, checking each member's chain, calling `progress(done, total)`.
    pub async fn replay_with_progress(
        &self,
        as_of: Option<NaiveDate>,
        progress: impl FnMut(u64, u64) + Send + 'static,
    ) -> Result<BTreeMap<MemberId, MemberState>, StoreError> {
        let core = Arc::clone(&self.core);
        let mut progress = progress;
        blocking(move || rebuild::replay_log(core.store.as_ref(), as_of, &mut progress)).await
    }

    /// Members enrolled, balances and months in force on `date`, over every member (see
    /// [`rebuild::totals_as_of`]). Writes nothing.
    pub async fn totals_as_of(
        &self,
        date: NaiveDate,
        progress: impl FnMut(u64, u64) + Send + 'static,
    ) -> Result<rebuild::TotalsAsOf, StoreError> {
        let core = Arc::clone(&self.core);
        let mut progress = progress;
        blocking(move || rebuild::totals_as_of(core.store.as_ref(), date, &mut progress)).await
    }

    /// Folds the whole log from scratch into member states, checking the chain on the way: the
    /// ground truth the checkpoints must equal.
    pub async fn replay_all(&self) -> Result<BTreeMap<MemberId, MemberState>, StoreError> {
        self.replay_with_progress(None, |_, _| {}).await
    }

    /// Walks the whole log and compares checkpoints with a replay (see [`crate::audit::verify`]),
    /// calling `progress(done, total)` as it goes.
    pub async fn verify(
        &self,
        progress: impl FnMut(u64, u64) + Send + 'static,
    ) -> Result<crate::audit::verify::VerifyReport, StoreError> {
        let core = Arc::clone(&self.core);
        let mut progress = progress;
        blocking(move || {
            crate::audit::verify::verify_with_progress(
                core.store.as_ref(),
                &core.policies,
                &mut progress,
            )
        })
        .await
    }

    /// The latest signed checkpoint of the durable log, signed now when events arrived since
    /// the last one (see [`crate::audit::witness::export_checkpoint`]).
    pub async fn export_checkpoint(&self) -> Result<String, WitnessError> {
        let core = Arc::clone(&self.core);
        match tokio::task::spawn_blocking(move || witness::export_checkpoint(core.store.as_ref()))
            .await
        {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(StoreError::Closed.into()),
        }
    }

    /// Whether the log continues a checkpoint a witness kept (see
    /// [`crate::audit::witness::verify_witness`]).
    pub async fn verify_witness(&self, checkpoint: String) -> Result<WitnessReport, WitnessError> {
        let core = Arc::clone(&self.core);
        match tokio::task::spawn_blocking(move || {
            witness::verify_witness(core.store.as_ref(), &checkpoint)
        })
        .await
        {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(StoreError::Closed.into()),
        }
    }

    /// Every member with events, and its state as the stored projections give it (snapshot plus
    /// the events after it, not the in-memory cache): what `verify` compares with a replay.
    pub async fn checkpoints(&self) -> Result<BTreeMap<MemberId, MemberState>, StoreError> {
        let core = Arc::clone(&self.core);
        blocking(move || rebuild::checkpoints(core.store.as_ref())).await
    }
}
