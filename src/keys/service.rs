//! The key service's state: what every part of it shares (the store, the cache of verified
//! keys, the set of active ones, the clock and the policy), and the lookups and rules the hot
//! path and management both use.

use super::active::ActiveKeys;
use super::cache::KeyCache;
use super::expiry;
use super::feed::Barrier;
use crate::wire::keys::{ApiKey, KeyStatus, RecentClient};
use crate::{
    caller::Principal,
    clock::Clock,
    error::{Error, Result},
    policy::KeyPolicy,
    store::{self, keys::KeyRecord, Store},
};
use chrono::{DateTime, Utc};
use std::{
    sync::{Arc, Weak},
    time::Duration,
};
use tokio::sync::{Mutex, MutexGuard};
use uuid::Uuid;

/// The longest usage history one can ask for (and what is kept).
pub const MAX_USAGE_DAYS: u32 = 365;

/// A key as callers see it at `now`: "expired" is read from the time, and the previous secret
/// of a rotation is shown while it still works.
pub(super) fn api_key(r: KeyRecord, now: DateTime<Utc>) -> ApiKey {
    let expired = r.row.expires_at.is_some_and(|e| e <= now);
    let status = match r.row.status {
        store::keys::KeyStatus::Deactivated => KeyStatus::Deactivated,
        store::keys::KeyStatus::Active if expired => KeyStatus::Expired,
        store::keys::KeyStatus::Active => KeyStatus::Active,
    };
    let previous_lives =
        status == KeyStatus::Active && r.row.previous_expires_at.is_some_and(|until| until > now);
    ApiKey {
        id: r.row.id,
        org_id: r.row.org_id,
        name: r.row.name,
        masked_key: r.row.masked_key,
        status,
        groups: r.groups,
        created_by: r.row.created_by,
        created_at: r.row.created_at,
        deactivated_by: r.row.deactivated_by,
        deactivated_at: r.row.deactivated_at,
        last_used_at: r.row.last_used_at,
        last_used_ip: r.row.last_used_ip,
        last_used_user_agent: r.row.last_used_user_agent,
        recent_clients: r
            .clients
            .into_iter()
            .map(|c| RecentClient {
                ip: c.ip,
                user_agent: c.user_agent,
                last_seen_at: c.last_seen_at,
            })
            .collect(),
        expires_at: r.row.expires_at,
        previous_masked_key: r.row.previous_masked_key.filter(|_| previous_lives),
        previous_expires_at: r.row.previous_expires_at.filter(|_| previous_lives),
        leak_reported_at: r.row.leak_reported_at,
    }
}

/// The key service. One shared allocation: clones (and the background tasks' weak handle)
/// share the same state.
#[derive(Clone)]
pub struct KeyService(Arc<Inner>);

/// What the service holds. Public only inside this private module: the rest of `keys` reads
/// the fields through [`KeyService`]'s `Deref`.
pub struct Inner {
    pub(super) store: Store,
    pub(super) cache: Arc<KeyCache>,
    pub(super) active: Arc<ActiveKeys>,
    /// PostgreSQL: waits until changes made on other replicas have arrived.
    pub(super) barrier: Option<Arc<Barrier>>,
    /// SQLite: the set of active keys is updated here after each commit, and concurrent
    /// changes of one key must reach it in the order they committed.
    pub(super) state_changes: Arc<Mutex<()>>,
    /// Keys not verified from memory (hits and fills are counted by the cache).
    pub(super) misses: metrics::Counter,
    pub(super) clock: Clock,
    pub(super) policy: KeyPolicy,
}

impl std::ops::Deref for KeyService {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The key service as its background tasks hold it: they end once the service is dropped.
pub(super) struct WeakKeyService(Weak<Inner>);

impl WeakKeyService {
    pub(super) fn upgrade(&self) -> Option<KeyService> {
        self.0.upgrade().map(KeyService)
    }
}

impl KeyService {
    pub(super) fn from_parts(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    pub(super) fn downgrade(&self) -> WeakKeyService {
        WeakKeyService(Arc::downgrade(&self.0))
    }
}

impl KeyService {
    /// The rules keys follow here (the web app offers only what they allow).
    pub fn policy(&self) -> KeyPolicy {
        self.policy
    }

    /// The time keys expire by.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The same in unix milliseconds, cheaply, for the request path.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Whether verification is currently served from memory (false until the set of active
    /// keys is loaded, and while the change feed between replicas is down).
    pub fn cache_is_trusted(&self) -> bool {
        self.cache.is_trusted()
    }

    /// Waits until keys are verified from memory (benchmarks start measuring then).
    pub async fn until_trusted(&self) {
        while !self.cache_is_trusted() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Held around a change of a key's state and the set's update after it, on SQLite (see
    /// `state_changes`). On PostgreSQL the feed applies changes in commit order instead.
    pub(super) async fn ordered(&self) -> Option<MutexGuard<'_, ()>> {
        match self.barrier {
            None => Some(self.state_changes.lock().await),
            Some(_) => None,
        }
    }

    /// A new expiry as the rules allow it: in the future, and within the maximum lifetime if
    /// there is one (which also makes `None`, never, unacceptable).
    pub(super) fn expiry(&self, wanted: Option<DateTime<Utc>>) -> Result<Option<DateTime<Utc>>> {
        expiry::check(wanted, self.now(), self.policy)
    }

    /// The expiry `key` is left with by a change that gives its secret life (configure,
    /// activate, rotate): see [`expiry::after_change`], the one place the policy is applied.
    pub(super) fn expiry_after(
        &self,
        wanted: Option<Option<DateTime<Utc>>>,
        key: &KeyRecord,
    ) -> Result<Option<Option<DateTime<Utc>>>> {
        expiry::after_change(wanted, key.row.expires_at, self.now(), self.policy)
    }

    pub(super) fn revival(&self, accept_reported_secret: bool) -> store::keys::Revival {
        store::keys::Revival {
            now: self.now(),
            accept_reported_secret,
        }
    }

    /// `key` as it stands now, read again when `order` is held (SQLite): a change that
    /// committed since it was read may have given it another secret or state.
    pub(super) async fn as_ordered(
        &self,
        order: &Option<MutexGuard<'_, ()>>,
        key: KeyRecord,
    ) -> Result<KeyRecord> {
        match order {
            Some(_) => self.find_by_id(key.row.org_id, key.row.id).await,
            None => Ok(key),
        }
    }

    pub(super) async fn find_by_id(&self, org_id: Uuid, id: Uuid) -> Result<KeyRecord> {
        self.find_in(org_id, &id.to_string()).await
    }

    pub(super) async fn find(&self, caller: &Principal, name_or_id: &str) -> Result<KeyRecord> {
        self.find_in(caller.org_id, name_or_id).await
    }

    pub(super) async fn find_in(&self, org_id: Uuid, name_or_id: &str) -> Result<KeyRecord> {
        store::keys::find(&self.store, org_id, name_or_id)
            .await?
            .ok_or_else(|| Error::NotFound("API key not found".into()))
    }
}
