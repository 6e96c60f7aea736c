//! Between domain events and stored envelopes: encoding, decoding and upcasting old schema versions.
//!
//! The only place that knows both [`crate::domain::Event`] and [`crate::store::StoredEvent`].
//! An event of an older schema version is upcast to the current one here, on read, so the domain
//! only ever sees current events; the stored bytes are never rewritten.

use serde::Deserialize;

use crate::domain::{Event, MemberId, EVENT_SCHEMA_VERSION};
use crate::store::{NewEvent, StoreError, StoredEvent};

/// Wraps a decided event for the store.
pub fn encode(member: MemberId, event: &Event, policy_version: &str) -> NewEvent {
    let data = serde_json::to_value(event).expect("events always serialise");
    NewEvent {
        member,
        event_type: event.type_name().to_string(),
        schema_version: EVENT_SCHEMA_VERSION,
        effective_date: event.effective_date(),
        policy_version: policy_version.to_string(),
        data,
    }
}

/// Decodes a stored event, upcasting older schema versions; a mismatch is corruption.
pub fn decode(stored: &StoredEvent) -> Result<Event, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        position: stored.position,
        reason,
    };
    let decoded = if stored.schema_version == EVENT_SCHEMA_VERSION {
        // Current version: read the stored value in place, no copy.
        Event::deserialize(&stored.data)
    } else {
        let data = upcast(
            stored.schema_version,
            &stored.event_type,
            stored.data.clone(),
        )
        .map_err(corrupt)?;
        Event::deserialize(data)
    };
    let event =
        decoded.map_err(|e| corrupt(format!("{} does not decode: {e}", stored.event_type)))?;
    if event.type_name() != stored.event_type {
        return Err(corrupt(format!(
            "envelope says {} but the data is {}",
            stored.event_type,
            event.type_name()
        )));
    }
    if event.effective_date() != stored.effective_date {
        return Err(corrupt(format!(
            "envelope date {} differs from the event's {}",
            stored.effective_date,
            event.effective_date()
        )));
    }
    Ok(event)
}

/// Brings `data` of `schema_version` to [`EVENT_SCHEMA_VERSION`]. Version 1 is current, so this
/// only refuses versions it does not know; a version 2 adds its step here (v1 → v2), never edits v1.
pub fn upcast(
    schema_version: u32,
    event_type: &str,
    data: serde_json::Value,
) -> Result<serde_json::Value, String> {
    match schema_version {
        EVENT_SCHEMA_VERSION => Ok(data),
        other => Err(format!("{event_type} has schema version {other}; this build reads version {EVENT_SCHEMA_VERSION}")),
    }
}
