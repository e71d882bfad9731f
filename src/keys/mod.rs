//! The key service: the one implementation of managed API keys. The bearer-auth middleware,
//! the REST handlers and the web app's server functions all call this and nothing else.

mod active;
mod cache;
mod feed;
pub mod secret;
mod usage;

use crate::{
    caller::{Caller, Identity, Principal},
    domain::{parse_groups, ApiKeyName},
    error::{Error, Result},
    store::{self, keys::KeyRecord, Store},
};
use active::{ActiveKeys, Presence};
use cache::{CachedKey, KeyCache};
use feed::Barrier;
pub use secret::RawApiKey;
use std::{
    sync::{Arc, Weak},
    time::Duration,
};
use subtle::ConstantTimeEq;
use tokio::sync::{Mutex, MutexGuard};
use uuid::Uuid;

/// The key service speaks the API's own types: a key as callers see it is what it returns.
pub use crate::wire::keys::{ApiKey, KeyChanges, KeyStatus, NewApiKey};

impl From<store::keys::KeyStatus> for KeyStatus {
    fn from(status: store::keys::KeyStatus) -> Self {
        match status {
            store::keys::KeyStatus::Active => KeyStatus::Active,
            store::keys::KeyStatus::Deactivated => KeyStatus::Deactivated,
        }
    }
}

impl From<KeyRecord> for ApiKey {
    fn from(r: KeyRecord) -> Self {
        ApiKey {
            id: r.row.id,
            org_id: r.row.org_id,
            name: r.row.name,
            masked_key: r.row.masked_key,
            status: r.row.status.into(),
            groups: r.groups,
            created_by: r.row.created_by,
            created_at: r.row.created_at,
            deactivated_by: r.row.deactivated_by,
            deactivated_at: r.row.deactivated_at,
            last_used_at: r.row.last_used_at,
        }
    }
}

#[derive(Clone)]
pub struct KeyService {
    store: Store,
    cache: Arc<KeyCache>,
    active: Arc<ActiveKeys>,
    /// PostgreSQL: waits until changes made on other replicas have arrived.
    barrier: Option<Arc<Barrier>>,
    /// SQLite: the set of active keys is updated here after each commit, and concurrent
    /// changes of one key must reach it in the order they committed.
    state_changes: Arc<Mutex<()>>,
    /// Keys not verified from memory (hits and fills are counted by the cache).
    misses: metrics::Counter,
}

/// How often recorded key use is written to the database.
const USAGE_FLUSH_EVERY: Duration = Duration::from_secs(1);
const RELOAD_AFTER: Duration = Duration::from_secs(1);

impl KeyService {
    /// Also starts the background tasks: loading the set of active keys, writing
    /// `last_used_at`, and on PostgreSQL following key changes made by other replicas. Until
    /// the set is loaded (and while that feed is down), every request reads the database.
    pub fn new(store: Store) -> Self {
        let cache = Arc::new(KeyCache::new(false));
        let active = Arc::new(ActiveKeys::default());
        let state_changes = Arc::new(Mutex::new(()));
        let barrier = match store.feed() {
            // This process alone changes the database: every change goes through this service.
            None => {
                spawn_loader(
                    store.clone(),
                    Arc::downgrade(&cache),
                    Arc::downgrade(&active),
                    state_changes.clone(),
                );
                None
            }
            Some(changes) => Some(feed::spawn(store.clone(), changes, &cache, &active)),
        };
        usage::spawn_flusher(store.clone(), Arc::downgrade(&cache), USAGE_FLUSH_EVERY);
        Self {
            store,
            cache,
            active,
            barrier,
            state_changes,
            misses: metrics::counter!("hoop_key_cache_misses_total"),
        }
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
    async fn ordered(&self) -> Option<MutexGuard<'_, ()>> {
        match self.barrier {
            None => Some(self.state_changes.lock().await),
            Some(_) => None,
        }
    }

    pub async fn list(&self, caller: &Principal) -> Result<Vec<ApiKey>> {
        caller.require_admin()?;
        let keys = store::keys::list(&self.store, caller.org_id).await?;
        Ok(keys.into_iter().map(ApiKey::from).collect())
    }

    pub async fn get(&self, caller: &Principal, name_or_id: &str) -> Result<ApiKey> {
        caller.require_admin()?;
        Ok(self.find(caller, name_or_id).await?.into())
    }

    /// Creates a key. The returned secret is the only copy that will ever exist.
    pub async fn create(&self, caller: &Principal, req: NewApiKey) -> Result<(ApiKey, RawApiKey)> {
        caller.require_admin()?;
        let name = ApiKeyName::parse(&req.name)?;
        let groups = parse_groups(&req.groups)?;
        let secret = RawApiKey::generate();
        let prefix = active::prefix_of(&secret.digest());
        let _order = self.ordered().await;
        // Before the commit: the key must work as soon as its owner has it.
        self.active.insert(prefix);
        let inserted = store::keys::insert(
            &self.store,
            store::keys::NewKey {
                id: Uuid::new_v4(),
                org_id: caller.org_id,
                name: &name,
                key_hash: secret.hash(),
                masked_key: secret.masked(),
                groups: &groups,
                created_by: caller.actor(),
            },
        )
        .await;
        let record = match inserted {
            Ok(record) => record,
            Err(e) => {
                // Nobody has this secret: leaving its prefix would only cost a lookup, but
                // the set should hold active keys.
                self.active.remove(prefix);
                return Err(e);
            }
        };
        tracing::info!(key = %name, actor = caller.actor(), "API key created");
        Ok((record.into(), secret))
    }

    pub async fn configure(
        &self,
        caller: &Principal,
        name_or_id: &str,
        changes: KeyChanges,
    ) -> Result<ApiKey> {
        caller.require_admin()?;
        let name = changes.name.as_deref().map(ApiKeyName::parse).transpose()?;
        let groups = changes.groups.as_deref().map(parse_groups).transpose()?;
        let key = self.find(caller, name_or_id).await?;
        let change = self.cache.begin_change(key.row.id);
        let record = store::keys::configure(
            &self.store,
            caller.org_id,
            key.row.id,
            name.as_ref(),
            groups.as_deref(),
            caller.actor(),
        )
        .await?;
        drop(change);
        Ok(record.into())
    }

    pub async fn deactivate(&self, caller: &Principal, name_or_id: &str) -> Result<ApiKey> {
        self.set_active(caller, name_or_id, false).await
    }

    pub async fn activate(&self, caller: &Principal, name_or_id: &str) -> Result<ApiKey> {
        self.set_active(caller, name_or_id, true).await
    }

    async fn set_active(
        &self,
        caller: &Principal,
        name_or_id: &str,
        active: bool,
    ) -> Result<ApiKey> {
        caller.require_admin()?;
        let key = self.find(caller, name_or_id).await?;
        // The hash never changes, so the prefix read before the change is the key's.
        let prefix = active::prefix_of_hex(&key.row.hash_prefix)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("a stored key hash is not hex")))?;
        let order = self.ordered().await;
        let change = self.cache.begin_change(key.row.id);
        if active {
            // Before the commit, as for a new key.
            self.active.insert(prefix);
        }
        let changed = store::keys::set_active(
            &self.store,
            caller.org_id,
            key.row.id,
            active,
            caller.actor(),
        )
        .await;
        // On SQLite this process is the only writer and applies its own changes, in commit
        // order (`order`). On PostgreSQL every replica, this one included, applies them as
        // the feed delivers them, in commit order; until then the set holds the key, which
        // only costs a lookup. After a failure the set may keep a key it need not: harmless.
        if let (Some(_), Ok(record)) = (&order, &changed) {
            if record.row.status != store::keys::KeyStatus::Active {
                self.active.remove(prefix);
            }
        }
        drop(change);
        drop(order);
        let record = changed?;
        tracing::info!(key = %record.row.name, active, actor = caller.actor(), "API key status set");
        Ok(record.into())
    }

    /// Who a presented key belongs to. Unknown and deactivated keys fail alike, so a caller
    /// cannot probe which keys exist. The hot path: a hash and a map lookup, no database.
    pub async fn verify(&self, key: &RawApiKey) -> Result<Principal> {
        let digest = key.digest();
        if let Some(principal) = self.cache.get_with(&digest, admit) {
            return Ok(principal);
        }
        self.misses.increment(1);
        // Boxed: the slow path is a large future, and inlining it would make every call,
        // cache hits included, set up and move that much state.
        Box::pin(self.verify_uncached(digest)).await
    }

    /// A key not in the cache: only one the set of active keys may hold reaches the database.
    /// Unknown and deactivated keys are absent alike and take the same path to the same 401.
    async fn verify_uncached(&self, digest: [u8; 32]) -> Result<Principal> {
        if self.active.check(&digest) == Presence::Absent {
            let Some(barrier) = &self.barrier else {
                return Err(Error::Unauthenticated);
            };
            // Possibly created on another replica a moment ago: wait for the feed to bring
            // every change committed before this request, then ask again.
            barrier.catch_up().await;
            if self.active.check(&digest) == Presence::Absent {
                return Err(Error::Unauthenticated);
            }
        }
        let cached = self.load(digest).await?;
        Ok(admit(&cached))
    }

    /// Reads a key from the database and caches it, unless it changed meanwhile.
    async fn load(&self, digest: [u8; 32]) -> Result<Arc<CachedKey>> {
        let ticket = self.cache.ticket();
        let hash = hex::encode(digest);
        let found = store::keys::by_hash(&self.store, &hash).await?;
        let Some(found) = found else {
            return Err(Error::Unauthenticated);
        };
        // The index already matched the hash; comparing again in constant time costs nothing
        // and keeps the check independent of how the database compares strings.
        let same: bool = found.key_hash.as_bytes().ct_eq(hash.as_bytes()).into();
        if !same {
            return Err(Error::Unauthenticated);
        }
        let principal = Principal::from(Caller {
            org_id: found.org_id,
            org_name: Arc::from(found.org_name),
            identity: Identity::ApiKey {
                id: found.id,
                name: Arc::from(found.name),
            },
            groups: Arc::from(found.groups),
        });
        if found.status != store::keys::KeyStatus::Active {
            // Not cached: a deactivated key takes the path of an unknown one every time.
            return Err(Error::Unauthenticated);
        }
        let cached = Arc::new(CachedKey::new(found.id, principal));
        if !self.cache.fill(ticket, digest, cached.clone()) {
            // Not kept (the cache is not trusted now): record this use the slow way.
            cached.touch(usage::now_ms());
            self.cache.orphan_use(&cached);
        }
        Ok(cached)
    }

    /// Writes pending `last_used_at` updates now; called on graceful shutdown.
    pub async fn flush_usage(&self) {
        usage::flush(&self.store, &self.cache).await;
    }

    async fn find(&self, caller: &Principal, name_or_id: &str) -> Result<KeyRecord> {
        store::keys::find(&self.store, caller.org_id, name_or_id)
            .await?
            .ok_or_else(|| Error::NotFound("API key not found".into()))
    }
}

/// SQLite: loads the set of active keys, then serves keys from memory. Holds `order` while it
/// reads, so no change lands between the read and the install.
fn spawn_loader(store: Store, cache: Weak<KeyCache>, set: Weak<ActiveKeys>, order: Arc<Mutex<()>>) {
    tokio::spawn(async move {
        loop {
            let loaded = {
                let _order = order.lock().await;
                match active::read(&store).await {
                    Ok(prefixes) => {
                        let (Some(cache), Some(set)) = (cache.upgrade(), set.upgrade()) else {
                            return;
                        };
                        set.install(prefixes);
                        cache.trust();
                        true
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot load the active keys; retrying");
                        false
                    }
                }
            };
            if loaded || cache.strong_count() == 0 {
                return;
            }
            tokio::time::sleep(RELOAD_AFTER).await;
        }
    });
}

/// The caller an active key stands for (only active keys are cached); records the use.
fn admit(key: &CachedKey) -> Principal {
    key.touch(usage::now_ms());
    key.principal.clone()
}

#[cfg(test)]
mod status_tests {
    use super::*;

    /// The API sends the word the database holds, for every status.
    #[test]
    fn a_key_status_reads_as_stored() {
        for status in store::keys::KeyStatus::ALL {
            assert_eq!(serde_json::json!(KeyStatus::from(*status)), status.as_str());
        }
    }
}
