//! Who is calling, once the authenticator has decided: a [`Principal`]. Below the key service
//! and the authenticator, which both make principals, and everything that reads one.

use crate::{
    domain::ADMIN_GROUP,
    error::{Error, Result},
};
use axum::http::request::Parts;
use std::sync::{Arc, OnceLock};
use uuid::Uuid;

/// The actor recorded for changes made with the legacy static key.
pub const LEGACY_ACTOR: &str = "legacy-api-key";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    User {
        id: Uuid,
        email: String,
        name: String,
        via: UserAuth,
    },
    ApiKey {
        id: Uuid,
        name: Arc<str>,
        /// When the secret presented stops working (the key's expiry, or the end of a
        /// rotation's overlap for the old secret); none: never.
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
        /// The first 8 bytes of the presented secret's SHA-256 (what the set of active keys
        /// holds; no secret): which of the key's secrets this is, so work in flight can be
        /// stopped when that one stops working.
        secret_prefix: u64,
    },
    LegacyApiKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserAuth {
    Token,
    Session,
}

/// An authenticated caller. Its permissions are the union of its groups'. One shared
/// allocation: a cached key hands the same one to every request that presents it.
#[derive(Debug, Clone)]
pub struct Principal(Arc<Caller>);

#[derive(Debug)]
pub struct Caller {
    pub org_id: Uuid,
    pub org_name: Arc<str>,
    pub identity: Identity,
    pub groups: Arc<[String]>,
}

impl From<Caller> for Principal {
    fn from(caller: Caller) -> Self {
        Self(Arc::new(caller))
    }
}

impl std::ops::Deref for Principal {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        matches!(self.identity, Identity::LegacyApiKey)
            || self.groups.iter().any(|g| g == ADMIN_GROUP)
    }

    pub fn require_admin(&self) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "forbidden: this requires membership of the admin group".into(),
            ))
        }
    }

    /// How changes made by this caller are attributed (`created_by`, `deactivated_by`, audit).
    pub fn actor(&self) -> &str {
        match &self.identity {
            Identity::User { email, .. } => email,
            Identity::ApiKey { name, .. } => name,
            Identity::LegacyApiKey => LEGACY_ACTOR,
        }
    }

    pub fn auth_method(&self) -> &'static str {
        match self.identity {
            Identity::User {
                via: UserAuth::Token,
                ..
            } => "user_token",
            Identity::User {
                via: UserAuth::Session,
                ..
            } => "session",
            Identity::ApiKey { .. } => "api_key",
            Identity::LegacyApiKey => "legacy_api_key",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_and_actor() {
        let p = Principal::from(Caller {
            org_id: Uuid::nil(),
            org_name: "o".into(),
            identity: Identity::ApiKey {
                id: Uuid::nil(),
                name: "bot".into(),
                expires_at: None,
                secret_prefix: 0,
            },
            groups: Arc::from(["engineering".to_owned()]),
        });
        assert!(!p.is_admin());
        assert!(p.require_admin().is_err());
        assert_eq!(p.actor(), "bot");
        let legacy = Principal::from(Caller {
            org_id: p.org_id,
            org_name: p.org_name.clone(),
            identity: Identity::LegacyApiKey,
            groups: Arc::from([]),
        });
        assert!(legacy.is_admin());
        assert_eq!(legacy.actor(), LEGACY_ACTOR);
    }
}

/// What kind of caller a request turned out to be (`api_key`, `session`, …), filled in where
/// the request is authenticated ([`crate::auth::Authenticator::authenticate_request`]) and read
/// by the request's log line; and, for a key that stops working within a week, when, which the
/// answer tells its caller (`Hoop-Key-Expires`). Shared: Leptos hands server functions a copy
/// of the request's parts.
#[derive(Debug, Clone, Default)]
pub struct CallerNote(Arc<OnceLock<Noted>>);

#[derive(Debug)]
struct Noted {
    kind: &'static str,
    expires_soon: Option<chrono::DateTime<chrono::Utc>>,
}

/// How far ahead a key's expiry is announced to its caller.
pub const EXPIRY_WARNING: chrono::TimeDelta = chrono::TimeDelta::days(7);

impl CallerNote {
    /// Records `principal` as the request's caller (at `now_ms`, unix milliseconds), if the
    /// request carries a note.
    pub fn record(parts: &Parts, principal: &Principal, now_ms: i64) {
        if let Some(note) = parts.extensions.get::<CallerNote>() {
            let expires_soon = match &principal.identity {
                Identity::ApiKey {
                    expires_at: Some(at),
                    ..
                } if at.timestamp_millis() - now_ms <= EXPIRY_WARNING.num_milliseconds() => {
                    Some(*at)
                }
                _ => None,
            };
            let _ = note.0.set(Noted {
                kind: principal.auth_method(),
                expires_soon,
            });
        }
    }

    pub fn kind(&self) -> Option<&'static str> {
        self.0.get().map(|n| n.kind)
    }

    /// When the caller's key stops working, if that is within [`EXPIRY_WARNING`].
    pub fn expires_soon(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.0.get().and_then(|n| n.expires_soon)
    }
}
