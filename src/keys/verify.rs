//! The hot path: a presented secret to a caller, from memory when the cache is trusted, from
//! the database otherwise; and the use it saw, written back in batches.

use super::active::{ActiveKeys, Presence};
use super::cache::{CachedKey, KeyCache};
use super::{active, secret::RawApiKey, service::KeyService, tally::Seen, usage};
use crate::{
    caller::{Caller, Identity, Principal},
    clock::Clock,
    error::{Error, Result},
    store::{self, Store},
};
use chrono::{DateTime, Utc};
use std::{
    sync::{Arc, Weak},
    time::Duration,
};
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;

/// How long the loader waits before trying again to read the active keys.
const RELOAD_AFTER: Duration = Duration::from_secs(1);

impl KeyService {
    /// Who a presented key belongs to. Unknown and deactivated keys fail alike, so a caller
    /// cannot probe which keys exist. The hot path: a hash and a map lookup, no database.
    pub async fn verify(&self, key: &RawApiKey, seen: &Seen<'_>) -> Result<Principal> {
        let digest = key.digest();
        if let Some(admitted) = self
            .cache
            .get_with(&digest, |k| admit(k, &self.clock, seen))
        {
            return admitted;
        }
        self.misses.increment(1);
        // Boxed: the slow path is a large future, and inlining it would make every call,
        // cache hits included, set up and move that much state.
        Box::pin(self.verify_uncached(digest, seen)).await
    }

    /// A key not in the cache: only one the set of active keys may hold reaches the database.
    /// Unknown and deactivated keys are absent alike and take the same path to the same 401.
    pub(super) async fn verify_uncached(
        &self,
        digest: [u8; 32],
        seen: &Seen<'_>,
    ) -> Result<Principal> {
        if self.active.check(&digest) == Presence::Absent {
            if let Some(barrier) = &self.barrier {
                // Possibly created on another replica a moment ago: wait for the feed to bring
                // every change committed before this request, then ask again.
                barrier.catch_up().await;
            }
            if self.active.check(&digest) == Presence::Absent {
                if self.active.is_retired(&digest) {
                    let now = self.clock.now_ms();
                    self.cache.refused_prefix(active::prefix_of(&digest), now);
                }
                return Err(Error::Unauthenticated);
            }
        }
        let (cached, kept) = self.load(digest).await?;
        let admitted = admit(&cached, &self.clock, seen);
        if !kept {
            // Not in the map, so the flusher would not find this use there.
            self.cache.orphan_use(&cached);
        }
        admitted
    }

    /// Reads a key from the database and caches it, unless it changed meanwhile. Says whether
    /// the cache kept it.
    pub(super) async fn load(&self, digest: [u8; 32]) -> Result<(Arc<CachedKey>, bool)> {
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
        if found.status != store::keys::KeyStatus::Active {
            // Not cached: a deactivated key takes the path of an unknown one every time.
            self.cache.refused(found.id, self.clock.now_ms());
            return Err(Error::Unauthenticated);
        }
        // When this secret stops working: the key's expiry, or for the previous secret of a
        // rotation the end of its overlap if that comes first. Cached even when it has passed,
        // so an expired key is refused from memory from then on.
        let ends = secret_ends(&found);
        let principal = Principal::from(Caller {
            org_id: found.org_id,
            org_name: Arc::from(found.org_name),
            identity: Identity::ApiKey {
                id: found.id,
                name: Arc::from(found.name),
                expires_at: ends,
                secret_prefix: active::prefix_of(&digest),
            },
            groups: Arc::from(found.groups),
        });
        let live_until_ms = ends.map_or(i64::MAX, |at| at.timestamp_millis());
        let cached = Arc::new(CachedKey::new(found.id, principal, live_until_ms));
        let kept = self.cache.fill(ticket, digest, cached.clone());
        Ok((cached, kept))
    }

    /// Writes every use recorded so far, waiting for a background flush already writing;
    /// called on graceful shutdown.
    pub async fn flush_usage(&self) {
        usage::flush(&self.store, &self.cache).await;
    }

    /// Removes ended secrets from the set of active keys (SQLite: after the commit, in order).
    pub(super) fn forget_prefixes(&self, hex_prefixes: &[String]) {
        for hex in hex_prefixes {
            if let Some(prefix) = active::prefix_of_hex(hex) {
                self.active.retire(prefix);
            }
        }
    }
}

/// SQLite: loads the set of active keys, then serves keys from memory. Holds `order` while it
/// reads, so no change lands between the read and the install.
pub(super) fn spawn_loader(
    store: Store,
    cache: Weak<KeyCache>,
    set: Weak<ActiveKeys>,
    order: Arc<Mutex<()>>,
) {
    tokio::spawn(async move {
        loop {
            let loaded = {
                let _order = order.lock().await;
                match active::read(&store).await {
                    Ok(loaded) => {
                        let (Some(cache), Some(set)) = (cache.upgrade(), set.upgrade()) else {
                            return;
                        };
                        set.install(loaded);
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

/// When the secret a lookup matched stops working: the key's expiry, or for the previous
/// secret of a rotation the end of its overlap if that comes first.
pub(super) fn secret_ends(found: &store::keys::KeyIdentity) -> Option<DateTime<Utc>> {
    if !found.is_previous {
        return found.expires_at;
    }
    // A previous secret always has an overlap; without one it does not work (fail closed).
    let overlap = found
        .previous_expires_at
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    Some(found.expires_at.map_or(overlap, |at| at.min(overlap)))
}

/// The caller an active key stands for (only active keys are cached), if its secret has not
/// expired by the gateway's clock (which "last used" is recorded in too); records the use.
pub(super) fn admit(key: &CachedKey, clock: &Clock, seen: &Seen<'_>) -> Result<Principal> {
    if !key.is_live(clock) {
        key.refused(clock.now_ms());
        return Err(Error::Unauthenticated);
    }
    key.served(clock.now_ms(), seen);
    Ok(key.principal.clone())
}
