//! One command: decided against the states it reads, appended with the versions it read, decided
//! again after a conflict (at most [`DECIDE_ATTEMPTS_MAX`] times). A keyed command's answer,
//! events or rejection, is kept under its key ([`crate::store::KeyOutcome`]) and given again to
//! a retry.

use std::collections::BTreeMap;

use tokio::sync::oneshot;

use super::core::{Core, Refused};
use super::{Receipt, SubmitError};
use crate::codec;
use crate::domain::{
    decide, Command, Context, ErrorCode, MemberId, MemberState, Rejection, ReversalTarget,
};
use crate::projection;
use crate::store::{
    command_digest, AppendOutcome, AppendRequest, IdempotencyClaim, IdempotencyRecord, KeyOutcome,
    StoreError, StoredEvent,
};

/// How many times a command is decided again after a version conflict before giving up.
pub const DECIDE_ATTEMPTS_MAX: u32 = 8;

/// The answer once an append is durable.
pub type Durable = oneshot::Receiver<Result<(), StoreError>>;

/// Waits for a writer's answer on this (blocking) thread.
pub fn wait<T>(rx: oneshot::Receiver<Result<T, StoreError>>) -> Result<T, StoreError> {
    rx.blocking_recv().unwrap_or(Err(StoreError::Closed))
}

/// A command's claim on its key.
pub fn claim(command: &Command, key: Option<String>) -> Option<IdempotencyClaim> {
    key.map(|key| IdempotencyClaim {
        key,
        payload_hash: command_digest(command),
    })
}

/// Whether a rejection is kept under the command's key (a conflict or a reused key is about the
/// moment or the key, not the command's answer).
pub fn recordable(rejection: &Rejection) -> bool {
    !matches!(
        rejection.code,
        ErrorCode::VersionConflict | ErrorCode::KeyReused
    )
}

/// The append that keeps a keyed rejection under its key.
pub fn rejection_request(
    claim: IdempotencyClaim,
    expected: Vec<(MemberId, u64)>,
    rejection: &Rejection,
    actor: Option<String>,
    sync: bool,
) -> AppendRequest {
    AppendRequest {
        expected,
        idempotency: Some(claim),
        rejection: Some((
            rejection.code.as_str().to_string(),
            rejection.message.clone(),
        )),
        actor,
        sync,
        ..AppendRequest::default()
    }
}

impl Core {
    /// Decides and applies one command; returns the receipt and the durability answer still to
    /// await (none when nothing new was written).
    pub fn submit_one(
        &self,
        command: &Command,
        key: Option<String>,
        actor: Option<String>,
        sync: bool,
    ) -> Result<(Receipt, Option<Durable>), SubmitError> {
        super::core::check_inputs(command, key.as_deref())?;
        let claim = claim(command, key);
        for _ in 0..DECIDE_ATTEMPTS_MAX {
            if let Some(claim) = &claim {
                if let Some(record) = self.store.idempotency(&claim.key)? {
                    return self.replayed(claim, record).map(|r| (r, None));
                }
            }
            let target = match command {
                Command::Reverse { event, .. } => self.reversal_target(*event)?,
                _ => None,
            };
            let states = self.states_for(command, target.as_ref().map(|t| t.member))?;
            let expected: Vec<(MemberId, u64)> =
                states.iter().map(|(m, s)| (*m, s.version)).collect();
            // An annual statement's figures come from the members' events up to the versions
            // read, so that the decision and the append's version check agree on what is sealed.
            let seals = projection::annual::seals_for(
                self.store.as_ref(),
                &self.policies,
                command,
                &states,
            )?;
            let ctx = Context {
                states: &states,
                policies: &self.policies,
                target: target.as_ref(),
                seals: seals.as_ref(),
            };
            let request = match decide(&ctx, command) {
                Ok(decision) if decision.is_empty() && claim.is_none() => {
                    self.remember(states);
                    let position = self.store.head()?.position;
                    return Ok((
                        Receipt {
                            position,
                            events: Vec::new(),
                        },
                        None,
                    ));
                }
                Ok(decision) => match self.prepare(states, decision, claim.clone(), sync, None) {
                    Ok(prepared) => Ok(prepared),
                    Err(refused) => Err(refused),
                },
                Err(rejection) => Err(Refused {
                    rejection,
                    expected,
                    states,
                }),
            };
            let (request, after, refusal) = match request {
                Ok(prepared) => (prepared.request, prepared.states, None),
                Err(refused) => {
                    let Some(claim) = claim.clone().filter(|_| recordable(&refused.rejection))
                    else {
                        self.remember(refused.states);
                        return Err(refused.rejection.into());
                    };
                    let request = rejection_request(
                        claim,
                        refused.expected,
                        &refused.rejection,
                        actor.clone(),
                        sync,
                    );
                    (request, refused.states, Some(refused.rejection))
                }
            };
            let request = AppendRequest {
                actor: actor.clone(),
                ..request
            };
            match self.append(request, after, refusal, claim.as_ref())? {
                Some(answer) => return answer,
                None => continue,
            }
        }
        let msg = format!("the members changed {DECIDE_ATTEMPTS_MAX} times while this command was being decided; submit it again");
        Err(Rejection::new(ErrorCode::VersionConflict, msg).into())
    }

    /// Appends; `None` when a member moved on underneath (decide again).
    fn append(
        &self,
        request: AppendRequest,
        after: BTreeMap<MemberId, MemberState>,
        refusal: Option<Rejection>,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<Option<Result<(Receipt, Option<Durable>), SubmitError>>, SubmitError> {
        let ticket = self.store.append(request);
        let answer = match wait(ticket.applied)? {
            AppendOutcome::Committed(events) => {
                self.remember(after);
                if let Some(rejection) = refusal {
                    wait(ticket.durable)?;
                    return Ok(Some(Err(rejection.into())));
                }
                let position = match events.last() {
                    Some(e) => e.position,
                    None => self.store.head()?.position,
                };
                Ok((Receipt { position, events }, Some(ticket.durable)))
            }
            AppendOutcome::Duplicate(record) => match claim {
                Some(claim) => self.replayed(claim, record).map(|r| (r, None)),
                None => Err(StoreError::Closed.into()),
            },
            AppendOutcome::KeyReused => Err(key_reused(claim).into()),
            AppendOutcome::Invalid(why) => Err(Rejection::invalid(why).into()),
            AppendOutcome::VersionConflict { .. } => return Ok(None),
        };
        Ok(Some(answer))
    }

    /// The first answer of a repeated key: the same command gets it, another is refused.
    pub fn replayed(
        &self,
        claim: &IdempotencyClaim,
        record: IdempotencyRecord,
    ) -> Result<Receipt, SubmitError> {
        if !claim.is_retry_of(&record) {
            return Err(key_reused(Some(claim)).into());
        }
        // The first append may still be waiting for its flush: make sure it is durable before
        // answering as if it were.
        wait(self.store.sync())?;
        match record.outcome {
            KeyOutcome::Appended(positions) => {
                let mut events = Vec::with_capacity(positions.len());
                for position in &positions {
                    events.extend(self.store.event_at(*position)?);
                }
                let position = match positions.last() {
                    Some(p) => *p,
                    None => self.store.head()?.position,
                };
                Ok(Receipt { position, events })
            }
            KeyOutcome::Rejected { code, message } => {
                let code = serde_json::from_value(serde_json::Value::String(code.clone()))
                    .unwrap_or(ErrorCode::InvalidInput);
                Err(Rejection::new(code, message).into())
            }
        }
    }

    /// The stored event with this id, decoded for a reversal.
    fn reversal_target(&self, event_id: uuid::Uuid) -> Result<Option<ReversalTarget>, StoreError> {
        let Some(stored) = self.event(event_id)? else {
            return Ok(None);
        };
        Ok(Some(ReversalTarget {
            event_id,
            position: stored.position,
            member: stored.member,
            event: codec::decode(&stored)?,
        }))
    }

    /// The stored event with this id, if the log has it.
    pub fn event(&self, event_id: uuid::Uuid) -> Result<Option<StoredEvent>, StoreError> {
        let Some(position) = self.store.event_position(event_id)? else {
            return Ok(None);
        };
        let stored = self.store.event_at(position)?;
        match stored {
            Some(e) if e.position == position && e.event_id == event_id => Ok(Some(e)),
            None if position > self.store.head()?.position => Ok(None),
            _ => Err(StoreError::Corrupt {
                position,
                reason: format!(
                    "the index names event {event_id} at this position, but it is not there"
                ),
            }),
        }
    }
}

/// The rejection of a key used before for another command.
pub fn key_reused(claim: Option<&IdempotencyClaim>) -> Rejection {
    let key = claim.map_or("", |c| c.key.as_str());
    Rejection::new(
        ErrorCode::KeyReused,
        format!("key '{key}' was already used for a different command; use a new key"),
    )
}
