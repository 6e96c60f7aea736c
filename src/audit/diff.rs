//! What changed between two points of a member's history: the events one view includes and the
//! other does not, and every figure of the account view that differs.
//!
//! A point is a date (what was in force then: events effective on or before it) or a position
//! (what the ledger knew then: events at or before it). Mixing the two is allowed: it answers
//! "what did the member's statement of position 812 not yet know about 2023?".

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::codec;
use crate::domain::MemberId;
use crate::money::Money;
use crate::policy::PolicySet;
use crate::projection::{describe, fold_member, AccountView, Point};
use crate::store::{StoreError, StoredEvent};

/// An event one side includes and the other does not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffEvent {
    /// Log position.
    pub position: u64,
    /// Event id.
    pub event_id: uuid::Uuid,
    /// Effective date.
    pub date: NaiveDate,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Its effect on the balance.
    pub balance_change: Money,
    /// What happened, in words.
    pub description: String,
}

/// One figure of the account view that differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FigureChange {
    /// The figure's path in the view (`balance`, `months.actual`, `years.2023.base`).
    pub figure: String,
    /// Its value at `from` (`null` when absent).
    pub from: Value,
    /// Its value at `to` (`null` when absent).
    pub to: Value,
}

/// The difference between two points of a member's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    /// The member.
    pub member: MemberId,
    /// The earlier point.
    pub from: Point,
    /// The later point.
    pub to: Point,
    /// Events in the `to` view and not in the `from` view, in log order.
    pub added: Vec<DiffEvent>,
    /// Events in the `from` view and not in the `to` view (going back, or a date after a position).
    pub removed: Vec<DiffEvent>,
    /// Figures that differ.
    pub changes: Vec<FigureChange>,
}

impl Diff {
    /// Compares the views at two points over a member's events (in log order).
    pub fn between(
        member: MemberId,
        events: &[StoredEvent],
        from: Point,
        to: Point,
        head_position: u64,
        policies: &PolicySet,
    ) -> Result<Diff, StoreError> {
        let includes = |p: Point, e: &StoredEvent| match p {
            Point::Date(d) => e.effective_date <= d,
            Point::Position(pos) => e.position <= pos,
            Point::Known { position, date } => e.position <= position && e.effective_date <= date,
        };
        let side = |p: Point| -> BTreeSet<u64> {
            events
                .iter()
                .filter(|e| includes(p, e))
                .map(|e| e.position)
                .collect()
        };
        let (in_from, in_to) = (side(from), side(to));
        let mut added = Vec::new();
        let mut removed = Vec::new();
        for stored in events {
            let (a, b) = (
                in_from.contains(&stored.position),
                in_to.contains(&stored.position),
            );
            if a == b {
                continue;
            }
            let event = codec::decode(stored)?;
            let line = DiffEvent {
                position: stored.position,
                event_id: stored.event_id,
                date: stored.effective_date,
                event_type: stored.event_type.clone(),
                balance_change: event.balance_delta(),
                description: describe(&event),
            };
            if b {
                added.push(line);
            } else {
                removed.push(line);
            }
        }
        let from_view = view(member, events, from, head_position, policies)?;
        let to_view = view(member, events, to, head_position, policies)?;
        let (a, b) = (figures(from_view.as_ref()), figures(to_view.as_ref()));
        let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        let changes = names
            .into_iter()
            .filter(|n| a.get(*n) != b.get(*n))
            .map(|n| FigureChange {
                figure: n.clone(),
                from: a.get(n).cloned().unwrap_or(Value::Null),
                to: b.get(n).cloned().unwrap_or(Value::Null),
            })
            .collect();
        Ok(Diff {
            member,
            from,
            to,
            added,
            removed,
            changes,
        })
    }

    /// Plain text for a clerk.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "member {}: from {} to {}\n",
            self.member, self.from, self.to
        );
        let mut events = |title: &str, list: &[DiffEvent]| {
            if list.is_empty() {
                return;
            }
            out.push_str(&format!("{title}\n"));
            for e in list {
                out.push_str(&format!(
                    "  {:>6}  {}  {:<28} {:>10}  {}\n",
                    e.position, e.date, e.event_type, e.balance_change, e.description
                ));
            }
        };
        events("events added:", &self.added);
        events("events taken away:", &self.removed);
        if self.changes.is_empty() {
            out.push_str("no figure changed\n");
        } else {
            out.push_str("figures changed:\n");
            for c in &self.changes {
                out.push_str(&format!(
                    "  {:<32} {} -> {}\n",
                    c.figure,
                    plain(&c.from),
                    plain(&c.to)
                ));
            }
        }
        out
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// The account view at a point, as [`crate::Ledger::account`] shows it.
fn view(
    member: MemberId,
    events: &[StoredEvent],
    point: Point,
    head_position: u64,
    policies: &PolicySet,
) -> Result<Option<AccountView>, StoreError> {
    let (included, on, position): (Vec<StoredEvent>, Option<NaiveDate>, u64) = match point {
        Point::Date(d) => (
            events
                .iter()
                .filter(|e| e.effective_date <= d)
                .cloned()
                .collect(),
            Some(d),
            head_position,
        ),
        Point::Position(p) => (
            events.iter().filter(|e| e.position <= p).cloned().collect(),
            None,
            p.min(head_position),
        ),
        Point::Known { position, date } => (
            events
                .iter()
                .filter(|e| e.position <= position && e.effective_date <= date)
                .cloned()
                .collect(),
            Some(date),
            position.min(head_position),
        ),
    };
    let state = fold_member(member, &included)?;
    // A date is judged as now known (docs/RULES.md §12 R2); a position as known then (with a date,
    // every event known then, as the statement issued there judged it).
    let known = match point {
        Point::Date(_) => fold_member(member, events)?,
        Point::Position(_) => state.clone(),
        Point::Known { position, .. } => {
            let then: Vec<StoredEvent> = events
                .iter()
                .filter(|e| e.position <= position)
                .cloned()
                .collect();
            fold_member(member, &then)?
        }
    };
    let on = on.or(state.last_event_on).unwrap_or(NaiveDate::MIN);
    Ok(AccountView::of(&state, &known, policies, on, position))
}

/// The view's figures by path; the log's bookkeeping (position, version, the judged date) is
/// left out, since it differs between any two points.
fn figures(view: Option<&AccountView>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let Some(view) = view else {
        return out;
    };
    let Ok(Value::Object(map)) = serde_json::to_value(view) else {
        return out;
    };
    for (name, value) in map {
        match (name.as_str(), value) {
            ("position" | "version" | "as_of", _) => {}
            ("months", Value::Object(m)) => {
                for (k, v) in m {
                    out.insert(format!("months.{k}"), v);
                }
            }
            ("years", Value::Array(rows)) => {
                for row in rows {
                    let Value::Object(row) = row else { continue };
                    let year = row.get("year").map(plain).unwrap_or_default();
                    for (k, v) in row.into_iter().filter(|(k, _)| k != "year") {
                        out.insert(format!("years.{year}.{k}"), v);
                    }
                }
            }
            (_, v) => {
                out.insert(name, v);
            }
        }
    }
    out
}
