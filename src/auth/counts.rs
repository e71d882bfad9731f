//! Authentications in the metrics (`hoop_authentications_total{method, outcome}`), every
//! counter registered once when the [`super::Authenticator`] is built: the managed-key path
//! adds to a counter it already holds, with no lookup by name or label.
//!
//! A deactivated managed key counts as `unknown`: it takes the path of an unknown key on
//! purpose (no database read, the same answer, the same cost), so nothing on that path can
//! tell the two apart, and adding a read to tell them would give back what the path saves.

use crate::error::Error;
use metrics::Counter;

#[derive(Debug, Clone, Copy)]
pub enum Method {
    ApiKey,
    UserToken,
    Session,
    LegacyApiKey,
    Password,
}

#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    Ok,
    /// No such credential, a wrong password, or a deactivated key (see the module's note).
    Unknown,
    /// A user token past its expiry.
    Expired,
    /// A bearer value that is neither a managed key nor a token.
    Malformed,
    /// Refused unchecked, or failed once too often: the address is over its failure limit.
    Throttled,
    /// The check itself failed (the database unavailable, say).
    Error,
}

const METHODS: [(Method, &str); 5] = [
    (Method::ApiKey, "api_key"),
    (Method::UserToken, "user_token"),
    (Method::Session, "session"),
    (Method::LegacyApiKey, "legacy_api_key"),
    (Method::Password, "password"),
];

const OUTCOMES: [(Outcome, &str); 6] = [
    (Outcome::Ok, "ok"),
    (Outcome::Unknown, "unknown"),
    (Outcome::Expired, "expired"),
    (Outcome::Malformed, "malformed"),
    (Outcome::Throttled, "throttled"),
    (Outcome::Error, "error"),
];

/// Which outcomes a method can have: only those get a series.
fn possible(method: Method, outcome: Outcome) -> bool {
    match outcome {
        Outcome::Expired => matches!(method, Method::UserToken),
        Outcome::Malformed => matches!(method, Method::ApiKey),
        _ => true,
    }
}

pub struct AuthCounts {
    by: [[Counter; OUTCOMES.len()]; METHODS.len()],
}

impl AuthCounts {
    pub fn new() -> Self {
        Self {
            by: METHODS.map(|(method, method_label)| {
                OUTCOMES.map(|(outcome, outcome_label)| {
                    if possible(method, outcome) {
                        metrics::counter!(
                            "hoop_authentications_total",
                            "method" => method_label,
                            "outcome" => outcome_label
                        )
                    } else {
                        Counter::noop()
                    }
                })
            }),
        }
    }

    pub fn add(&self, method: Method, outcome: Outcome) {
        self.by[method as usize][outcome as usize].increment(1);
    }

    /// Counts a check's result; `failed` is what an `Unauthenticated` meant for this method.
    pub fn result<T>(&self, method: Method, failed: Outcome, checked: &Result<T, Error>) {
        let outcome = match checked {
            Ok(_) => Outcome::Ok,
            Err(Error::Unauthenticated) => failed,
            Err(Error::TooManyFailures { .. }) => Outcome::Throttled,
            Err(_) => Outcome::Error,
        };
        self.add(method, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `add` indexes by the enums' order: the tables must list them in it.
    #[test]
    fn the_tables_list_methods_and_outcomes_in_order() {
        for (i, (method, _)) in METHODS.iter().enumerate() {
            assert_eq!(*method as usize, i);
        }
        for (i, (outcome, _)) in OUTCOMES.iter().enumerate() {
            assert_eq!(*outcome as usize, i);
        }
    }
}
