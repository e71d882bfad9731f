//! Work in flight stops when the secret it was authorized by does. A request is authenticated
//! once, at its start; an exec can run for many seconds after that. `KeyService::revoked`
//! resolves the moment the presented secret stops working, so the exec can be stopped in the
//! database and answered 401 (the seed: "in-flight requests using that key begin receiving
//! 401").
//!
//! What ends a secret is seen on every replica without asking the database: a deactivation or a
//! rotation removes its prefix from the set of active keys (SQLite: after the commit, here;
//! PostgreSQL: when the change feed delivers it, on every replica), and an expiry or the end of
//! an overlap is a time the caller already carries. The database is asked only to say why, and
//! while the set is not trusted (the feed is down), once a second.

use super::{active::Prefix, service::KeyService};
use crate::{
    caller::{Identity, Principal},
    store::keys::{KeyRecord, KeyStatus},
};
use chrono::{DateTime, Utc};
use std::time::Duration;
use uuid::Uuid;

/// How often time is looked at (the gateway's clock, which tests move) and, while the set of
/// active keys is not trusted, the database asked.
const LOOK_EVERY: Duration = Duration::from_millis(100);
const ASK_EVERY: u32 = 10;

/// Why a secret stopped working while a request it authorized ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    Deactivated,
    Expired,
    /// A rotation replaced it, at once or at the end of its overlap.
    RotatedOut,
}

impl std::fmt::Display for Revocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Revocation::Deactivated => "the API key was deactivated",
            Revocation::Expired => "the API key expired",
            Revocation::RotatedOut => "the API key was rotated and this secret's overlap ended",
        })
    }
}

impl KeyService {
    /// Resolves when the secret `caller` presented stops working; never for other callers
    /// (user tokens, the legacy key), whose revocation is not in this service's hands.
    pub async fn revoked(&self, caller: &Principal) -> Revocation {
        let Identity::ApiKey {
            id,
            expires_at,
            secret_prefix,
            ..
        } = caller.identity
        else {
            return std::future::pending().await;
        };
        let mut looks: u32 = 0;
        loop {
            let changed = self.active.changed();
            tokio::pin!(changed);
            changed.as_mut().enable();
            looks = looks.wrapping_add(1);
            let expired = expires_at.is_some_and(|at| at <= self.now());
            let suspect = match self.active.known_absent(secret_prefix) {
                Some(absent) => absent,
                None => looks.is_multiple_of(ASK_EVERY),
            };
            if expired || suspect {
                // The database says whether and why; unreadable, the set's or the clock's
                // word stands (fail closed), except for a mere suspicion.
                match self.why_not(caller.org_id, id, secret_prefix).await {
                    Ok(Some(why)) => return why,
                    Ok(None) => {}
                    Err(e) if expired || self.active.known_absent(secret_prefix).is_some() => {
                        e.report();
                        return if expired {
                            Revocation::Expired
                        } else {
                            Revocation::Deactivated
                        };
                    }
                    Err(e) => e.report(),
                }
            }
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep(LOOK_EVERY) => {}
            }
        }
    }

    /// Why the secret with `prefix` of key `id` does not work now, from the database; `None`
    /// if it does.
    async fn why_not(
        &self,
        org_id: Uuid,
        id: Uuid,
        prefix: Prefix,
    ) -> crate::error::Result<Option<Revocation>> {
        let key = crate::store::keys::find(&self.store, org_id, &id.to_string()).await?;
        Ok(match key {
            Some(key) => judge(&key, prefix, self.now()),
            None => Some(Revocation::Deactivated),
        })
    }
}

/// Whether (and why not) a key's secret with `prefix` works at `now`.
fn judge(key: &KeyRecord, prefix: Prefix, now: DateTime<Utc>) -> Option<Revocation> {
    let row = &key.row;
    if row.status != KeyStatus::Active {
        return Some(Revocation::Deactivated);
    }
    if row.expires_at.is_some_and(|at| at <= now) {
        return Some(Revocation::Expired);
    }
    let is = |hex: Option<&str>| hex.and_then(super::active::prefix_of_hex) == Some(prefix);
    if is(Some(&row.hash_prefix)) {
        return None;
    }
    if is(row.previous_hash_prefix.as_deref())
        && row.previous_expires_at.is_some_and(|until| until > now)
    {
        return None;
    }
    Some(Revocation::RotatedOut)
}
