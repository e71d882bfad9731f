//! The error every server function returns. Field errors say which form field they belong to,
//! so the page can show them inline.

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum UiError {
    #[error("Your session has ended. Log in again.")]
    Unauthenticated,
    #[error("Wrong email or password.")]
    WrongCredentials,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// A rejected value: `field` names the form field (`name`, `groups`, …).
    #[error("{message}")]
    Field { field: String, message: String },
    /// Refused for now (too many failed sign-ins from this address, or too busy): try again
    /// after the wait.
    #[error("{message}")]
    TryLater {
        message: String,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    Other(String),
}

impl UiError {
    /// The message for `field`, if this error belongs to it.
    pub fn for_field(&self, name: &str) -> Option<String> {
        match self {
            UiError::Field { field, message } if field == name => Some(message.clone()),
            _ => None,
        }
    }
}

impl FromServerFnError for UiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        UiError::Other(value.to_string())
    }
}
