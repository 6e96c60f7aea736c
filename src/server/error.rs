//! The service's error answer, `{"ok":false,"error":{"code":…,"message":…}}`, and the status
//! each kind of failure gets (docs/CONTRACT.md "HTTP service"): 400 invalid input, 401/403 access,
//! 404 nothing there, 408 a client too slow, 409 a rejection, 413 too large, 503 storage.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::domain::Rejection;
use crate::store::StoreError;
use crate::{QueryError, SubmitError};

/// An error answer: its status, contract code and a message a clerk or an operator can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable snake_case code.
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
        }
    }

    /// 400 `invalid_input`.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", message)
    }

    /// 401 `unauthorized`: no token, or one the tokens file does not hold.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 413 `too_large`.
    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }

    /// 503 `storage_error`: the ledger's storage failed; nothing was acknowledged.
    pub fn storage(e: &StoreError) -> ApiError {
        let message = match e {
            // An operator's problem, not the caller's: the caller may retry with the same key.
            StoreError::Busy(_) | StoreError::Postgres(_) | StoreError::Closed => e.to_string(),
            other => format!("{other}; nothing was acknowledged, retry with the same key later"),
        };
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage_error", message)
    }

    /// The answer to a command the ledger refused or could not store.
    pub fn of_submit(e: &SubmitError) -> ApiError {
        match e {
            SubmitError::Rejected(r) => ApiError::of_rejection(r),
            SubmitError::Storage(s) => ApiError::storage(s),
        }
    }

    /// A rejection: 400 for `invalid_input`, 409 for every other code.
    pub fn of_rejection(r: &Rejection) -> ApiError {
        let code = r.code.as_str();
        ApiError::new(status_of_code(code), code, r.message.clone())
    }

    /// The answer to a failed query.
    pub fn of_query(e: &QueryError) -> ApiError {
        match e {
            QueryError::UnknownMember(m) => ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_member",
                format!("member {m} is not enrolled (at that point)"),
            ),
            QueryError::Storage(s) => ApiError::storage(s),
        }
    }

    /// The body: `{"ok":false,"error":{"code":…,"message":…}}`, in that order.
    pub fn body_text(&self) -> String {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            ok: bool,
            error: Object<'a>,
        }
        #[derive(serde::Serialize)]
        struct Object<'a> {
            code: &'a str,
            message: &'a str,
        }
        let body = Body {
            ok: false,
            error: Object {
                code: &self.code,
                message: &self.message,
            },
        };
        serde_json::to_string(&body).unwrap_or_else(|_| {
            r#"{"ok":false,"error":{"code":"internal","message":"unprintable error"}}"#.into()
        })
    }
}

/// The status of a command result's code: 200 accepted, 400 invalid input, 503 storage, 409
/// every other rejection.
pub fn status_of_code(code: &str) -> StatusCode {
    match code {
        "invalid_input" => StatusCode::BAD_REQUEST,
        "storage_error" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::CONFLICT,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body_text(),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
