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
/// by the request's log line. Shared: Leptos hands server functions a copy of the request's
/// parts.
#[derive(Debug, Clone, Default)]
pub struct CallerNote(Arc<OnceLock<&'static str>>);

impl CallerNote {
    /// Records `principal` as the request's caller, if the request carries a note.
    pub fn record(parts: &Parts, principal: &Principal) {
        if let Some(note) = parts.extensions.get::<CallerNote>() {
            let _ = note.0.set(principal.auth_method());
        }
    }

    pub fn kind(&self) -> Option<&'static str> {
        self.0.get().copied()
    }
}
