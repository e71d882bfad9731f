//! The key service: the one implementation of managed API keys. The bearer-auth middleware,
//! the REST handlers and the web app's server functions all call this and nothing else.

mod cache;
mod feed;
pub mod secret;
mod usage;

use crate::{
    auth::{Caller, Identity, Principal},
    domain::{parse_groups, ApiKeyName, GroupName},
    error::{Error, Result},
    store::{self, keys::KeyRecord, Store},
};
use cache::{CachedKey, KeyCache};
use chrono::{DateTime, Utc};
pub use feed::CHANNEL as CHANGE_CHANNEL;
pub use secret::RawApiKey;
use serde::{Deserialize, Serialize};
use std::{sync::Arc, time::Duration};
use subtle::ConstantTimeEq;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Deactivated,
}

/// A key as callers see it: never its hash, never its secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    #[schema(example = "hpk_AbCd***************************************")]
    pub masked_key: String,
    pub status: KeyStatus,
    pub groups: Vec<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub deactivated_by: Option<String>,
    pub deactivated_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<KeyRecord> for ApiKey {
    fn from(r: KeyRecord) -> Self {
        let status = if store::keys::is_active(&r.row.status) {
            KeyStatus::Active
        } else {
            KeyStatus::Deactivated
        };
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
        }
    }
}

/// What a create request asks for, before parsing.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewApiKey {
    #[schema(value_type = ApiKeyName)]
    pub name: String,
    /// At least one; each must exist in the organization.
    #[schema(value_type = Vec<GroupName>, min_items = 1)]
    pub groups: Vec<String>,
}

/// A configure request: absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct KeyChanges {
    #[schema(value_type = Option<ApiKeyName>)]
    pub name: Option<String>,
    /// At least one; each must exist in the organization.
    #[schema(value_type = Option<Vec<GroupName>>, min_items = 1)]
    pub groups: Option<Vec<String>>,
}

#[derive(Clone)]
pub struct KeyService {
    store: Store,
    cache: Arc<KeyCache>,
}

/// How often recorded key use is written to the database.
const USAGE_FLUSH_EVERY: Duration = Duration::from_secs(1);

impl KeyService {
    /// Also starts the background tasks: writing `last_used_at`, and on PostgreSQL following
    /// key changes made by other replicas. Until that feed is up, every request reads the
    /// database.
    pub fn new(store: Store) -> Self {
        let cache = match &store {
            // One process owns an SQLite file: every change goes through this cache.
            Store::Sqlite(_) => Arc::new(KeyCache::new(true)),
            Store::Postgres(pool) => {
                let cache = Arc::new(KeyCache::new(false));
                feed::spawn(pool.clone(), Arc::downgrade(&cache));
                cache
            }
        };
        usage::spawn_flusher(store.clone(), Arc::downgrade(&cache), USAGE_FLUSH_EVERY);
        Self { store, cache }
    }

    /// Whether verification is currently served from memory (false while the change feed
    /// between replicas is down).
    pub fn cache_is_trusted(&self) -> bool {
        self.cache.is_trusted()
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
        let record = store::keys::insert(
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
        .await?;
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
        let record = store::keys::configure(
            &self.store,
            caller.org_id,
            key.row.id,
            name.as_ref(),
            groups.as_deref(),
            caller.actor(),
        )
        .await?;
        self.cache.invalidate(record.row.id);
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
        let record = store::keys::set_active(
            &self.store,
            caller.org_id,
            key.row.id,
            active,
            caller.actor(),
        )
        .await?;
        self.cache.invalidate(record.row.id);
        tracing::info!(key = %record.row.name, active, actor = caller.actor(), "API key status set");
        Ok(record.into())
    }

    /// Who a presented key belongs to. Unknown and deactivated keys fail alike, so a caller
    /// cannot probe which keys exist. The hot path: a hash and a map lookup, no database.
    pub async fn verify(&self, key: &RawApiKey) -> Result<Principal> {
        let digest = key.digest();
        if let Some(answer) = self.cache.get_with(&digest, admit) {
            return answer;
        }
        // Boxed: the database read is a large future, and inlining it would make every call,
        // cache hits included, set up and move that much state.
        let cached = Box::pin(self.load(digest)).await?;
        admit(&cached)
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
        let active = store::keys::is_active(&found.status);
        let cached = Arc::new(CachedKey::new(found.id, principal, active));
        if !self.cache.fill(ticket, digest, cached.clone()) && cached.active {
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

/// The caller a known key stands for, if it is active; records the use.
fn admit(key: &CachedKey) -> Result<Principal> {
    if !key.active {
        return Err(Error::Unauthenticated);
    }
    key.touch(usage::now_ms());
    Ok(key.principal.clone())
}
