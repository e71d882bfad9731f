//! The one error type of the server, and the one place it becomes an HTTP response.

use crate::domain::Violation;
use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Missing or invalid credentials. Deliberately carries no detail: the caller must not learn
    /// whether a key exists, is deactivated or was mistyped.
    #[error("not authenticated")]
    Unauthenticated,
    /// The caller's key stopped working while its request ran: the work was stopped. Tells
    /// the caller no more than it knew (it held the key a moment ago): how it stopped.
    #[error("not authenticated: {0}")]
    Revoked(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The value is taken (a name or email another one already has).
    #[error("{0}")]
    Conflict(Violation),
    /// Well-formed request whose content breaks a rule (name format, unknown group, ...).
    #[error("{0}")]
    Invalid(#[from] Violation),
    /// The request itself could not be read (malformed JSON, bad query string).
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    TooLarge(String),
    /// The request body did not arrive at the pace every body must keep (see
    /// `security::paced_body`).
    #[error("request body too slow: send it at once")]
    TooSlow,
    /// Too many failed authentications from this client address; try again after the wait.
    #[error("too many failed authentications from this address: try again later")]
    TooManyFailures { retry_after: std::time::Duration },
    /// Too many leak reports from this client address; try again after the wait.
    #[error("too many leak reports from this address: try again later")]
    TooManyReports { retry_after: std::time::Duration },
    /// The gateway is busy for this caller (too many execs at once); try again shortly.
    #[error("{0}")]
    Busy(String),
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A request body past `limit` bytes, however it was sent.
    pub fn body_too_large(limit: usize) -> Self {
        Error::TooLarge(format!(
            "request body too large: the limit is {limit} bytes"
        ))
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Error::Unavailable(e)
            }
            other => Error::Internal(other.into()),
        }
    }
}

pub use crate::wire::errors::ErrorBody;

impl Error {
    /// A broken rule that belongs to no single field.
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid(Violation::general(message))
    }

    /// Logs the cause of a fault of the gateway's own (the database down, an internal error):
    /// the caller is told nothing of it, so this is where an operator learns it. Every place
    /// that turns an error into an answer (REST, server functions, MCP tools) calls it.
    pub fn report(&self) {
        match self {
            Error::Unavailable(e) => tracing::error!(error = ?e, "database unavailable"),
            Error::Internal(e) => tracing::error!(error = ?e, "internal error"),
            _ => {}
        }
    }

    /// The request field this error is about, if it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Invalid(v) | Error::Conflict(v) => v.field(),
            _ => None,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = match &self {
            Error::Unauthenticated | Error::Revoked(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::TooSlow => StatusCode::REQUEST_TIMEOUT,
            Error::TooManyFailures { .. } | Error::TooManyReports { .. } | Error::Busy(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        self.report();
        let message = match &self {
            Error::Unauthenticated => {
                "not authenticated: missing, unknown, expired or deactivated credentials".to_owned()
            }
            other => other.to_string(),
        };
        let field = self.field().map(str::to_owned);
        let mut response = (status, Json(ErrorBody { message, field })).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        let retry_after = match self {
            Error::TooManyFailures { retry_after } | Error::TooManyReports { retry_after } => {
                Some(retry_after)
            }
            Error::Busy(_) => Some(std::time::Duration::from_secs(1)),
            _ => None,
        };
        if let Some(wait) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after_secs(wait));
        }
        response
    }
}

/// A `Retry-After` value: a client that waits exactly this long is let in.
pub fn retry_after_secs(wait: std::time::Duration) -> HeaderValue {
    HeaderValue::from(whole_secs(wait))
}

/// Whole seconds, rounded up, at least one.
pub fn whole_secs(wait: std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}
