//! `GET /v1/members/{member}/account` and `GET /v1/members/{member}/statement`: the views of
//! docs/CONTRACT.md, as `account --json` and `statement --json` print them.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use std::time::Duration;

use axum::http::StatusCode;
use axum::Json;
use chrono::NaiveDate;
use serde::Deserialize;

use super::auth::{Caller, Role};
use super::error::ApiError;
use super::AppState;
use crate::domain::MemberId;
use crate::projection::{AccountView, Statement, ViewAt};
use crate::QueryError;

/// `?as_of=DATE&at=POSITION` (at most one).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountParams {
    as_of: Option<String>,
    at: Option<String>,
}

/// `?from=DATE&to=DATE`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementParams {
    from: Option<String>,
    to: Option<String>,
}

/// The account view.
pub async fn account(
    State(state): State<AppState>,
    caller: Caller,
    member: Result<Path<String>, PathRejection>,
    params: Result<Query<AccountParams>, QueryRejection>,
) -> Result<Json<AccountView>, ApiError> {
    caller.require(Role::Read)?;
    let member = member_of(member)?;
    let Query(params) = params.map_err(|e| ApiError::invalid(e.body_text()))?;
    let as_of = params
        .as_of
        .map(|date| date_of(&date, "as_of"))
        .transpose()?;
    let position = params
        .at
        .map(|position| {
            position
                .parse::<u64>()
                .map_err(|_| ApiError::invalid(format!("at '{position}' is not a log position")))
        })
        .transpose()?;
    let at = ViewAt::from_options(as_of, position);
    let view = within(&state, state.ledger.account(member, at)).await?;
    Ok(Json(view))
}

/// The statement.
pub async fn statement(
    State(state): State<AppState>,
    caller: Caller,
    member: Result<Path<String>, PathRejection>,
    params: Result<Query<StatementParams>, QueryRejection>,
) -> Result<Json<Statement>, ApiError> {
    caller.require(Role::Read)?;
    let member = member_of(member)?;
    let Query(params) = params.map_err(|e| ApiError::invalid(e.body_text()))?;
    let from = params.from.map(|d| date_of(&d, "from")).transpose()?;
    let to = params.to.map(|d| date_of(&d, "to")).transpose()?;
    let statement = within(&state, state.ledger.statement(member, from, to)).await?;
    Ok(Json(statement))
}

/// A query answered within [`super::Limits::request_timeout_ms`], else 503.
async fn within<T>(
    state: &AppState,
    query: impl std::future::Future<Output = Result<T, QueryError>>,
) -> Result<T, ApiError> {
    let timeout_ms = state.limits.request_timeout_ms;
    match tokio::time::timeout(Duration::from_millis(timeout_ms), query).await {
        Ok(answer) => answer.map_err(|e| ApiError::of_query(&e)),
        Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!("no answer within {timeout_ms} ms; try again"),
        )),
    }
}

fn member_of(path: Result<Path<String>, PathRejection>) -> Result<MemberId, ApiError> {
    let Path(text) = path.map_err(|e| ApiError::invalid(e.body_text()))?;
    text.parse()
        .map_err(|_| ApiError::invalid(format!("'{text}' is not a member id (a UUID)")))
}

/// A date exactly `YYYY-MM-DD`.
fn date_of(text: &str, name: &str) -> Result<NaiveDate, ApiError> {
    let refuse = || ApiError::invalid(format!("{name} '{text}' is not a date YYYY-MM-DD"));
    let shape_ok = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shape_ok {
        return Err(refuse());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| refuse())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_must_be_exactly_yyyy_mm_dd_and_real() {
        assert!(date_of("2024-02-29", "from").is_ok());
        for bad in [
            "2023-02-29",
            "2024-1-01",
            "+2024-01-01",
            "20240101",
            "2024-13-01",
            "",
        ] {
            assert!(date_of(bad, "from").is_err(), "{bad}");
        }
    }
}
