//! The key service: the one implementation of managed API keys. The bearer-auth middleware,
//! the REST handlers and the web app's server functions all call this and nothing else.

mod active;
mod cache;
pub mod expiry;
mod feed;
mod leaks;
mod lifecycle;
pub mod listing;
mod manage;
pub mod revocation;
pub mod secret;
mod service;
mod tally;
mod usage;
mod verify;

use crate::{clock::Clock, policy::KeyPolicy, store::Store};
use active::ActiveKeys;
use cache::KeyCache;
pub use manage::KeyNotices;
pub use secret::RawApiKey;
pub use service::{KeyService, MAX_USAGE_DAYS};
use std::{sync::Arc, time::Duration};
pub use tally::Seen;
use tokio::sync::Mutex;

/// The key service speaks the API's own types: a key as callers see it is what it returns.
pub use crate::wire::keys::{
    Activation, ApiKey, KeyChanges, KeyStatus, NewApiKey, RecentClient, Rotation, UsageDay,
    MAX_GRACE_SECONDS,
};

pub use crate::wire::keys::ApiKeyPage as KeyPage;

/// How often recorded key use is written to the database.
const USAGE_FLUSH_EVERY: Duration = Duration::from_secs(1);

impl KeyService {
    /// Also starts the background tasks: loading the set of active keys, writing
    /// `last_used_at`, and on PostgreSQL following key changes made by other replicas. Until
    /// the set is loaded (and while that feed is down), every request reads the database.
    pub fn new(store: Store, clock: Clock, policy: KeyPolicy) -> Self {
        let cache = Arc::new(KeyCache::new(false));
        let active = Arc::new(ActiveKeys::default());
        let state_changes = Arc::new(Mutex::new(()));
        let barrier = match store.feed() {
            // This process alone changes the database: every change goes through this service.
            None => {
                verify::spawn_loader(
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
        let service = Self::from_parts(service::Inner {
            store,
            cache,
            active,
            barrier,
            state_changes,
            misses: metrics::counter!("hoop_key_cache_misses_total"),
            clock,
            policy,
        });
        lifecycle::spawn(service.downgrade());
        service
    }
}

#[cfg(test)]
mod status_tests {
    use super::*;

    /// The API sends the word the database holds, for every stored status.
    #[test]
    fn a_key_status_reads_as_stored() {
        assert_eq!(serde_json::json!(KeyStatus::Active), "active");
        assert_eq!(serde_json::json!(KeyStatus::Deactivated), "deactivated");
        assert_eq!(serde_json::json!(KeyStatus::Expired), "expired");
        for status in crate::store::keys::KeyStatus::ALL {
            let sent = match status {
                crate::store::keys::KeyStatus::Active => KeyStatus::Active,
                crate::store::keys::KeyStatus::Deactivated => KeyStatus::Deactivated,
            };
            assert_eq!(serde_json::json!(sent), status.as_str());
        }
    }
}
