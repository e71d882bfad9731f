//! The key service: the one implementation of managed API keys. The bearer-auth middleware,
//! the REST handlers and the web app's server functions all call this and nothing else.

mod active;
mod cache;
pub mod expiry;
mod feed;
mod leaks;
mod lifecycle;
pub mod listing;
pub mod revocation;
pub mod secret;
mod tally;
mod usage;

pub use tally::Seen;

use crate::{
    caller::{Caller, Identity, Principal},
    clock::Clock,
    domain::{parse_groups, ApiKeyName, Violation},
    error::{Error, Result},
    policy::KeyPolicy,
    store::{
        self,
        keys::{KeyRecord, Transition},
        Store,
    },
};
use active::{ActiveKeys, Presence};
use cache::{CachedKey, KeyCache};
use chrono::{DateTime, TimeDelta, Utc};
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
pub use crate::wire::keys::{
    Activation, ApiKey, KeyChanges, KeyStatus, NewApiKey, RecentClient, Rotation, UsageDay,
    MAX_GRACE_SECONDS,
};

pub use crate::wire::keys::ApiKeyPage as KeyPage;

/// How many names of keys the unused-key policy is about to deactivate the notice lists.
const NOTICE_NAMES: u32 = 10;

/// See [`KeyService::notices`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyNotices {
    pub expiring: u64,
    pub unused: u64,
    /// The first [`NOTICE_NAMES`] of them, longest idle first (the first to go).
    pub unused_names: Vec<String>,
}

/// The longest usage history one can ask for (and what is kept).
pub const MAX_USAGE_DAYS: u32 = 365;

/// A key as callers see it at `now`: "expired" is read from the time, and the previous secret
/// of a rotation is shown while it still works.
fn api_key(r: KeyRecord, now: DateTime<Utc>) -> ApiKey {
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
    clock: Clock,
    policy: KeyPolicy,
}

/// The key service as its background tasks hold it: they end once the service is dropped.
pub(crate) struct WeakKeyService {
    store: Store,
    cache: Weak<KeyCache>,
    active: Weak<ActiveKeys>,
    barrier: Option<Weak<Barrier>>,
    state_changes: Weak<Mutex<()>>,
    misses: metrics::Counter,
    clock: Clock,
    policy: KeyPolicy,
}

impl WeakKeyService {
    fn upgrade(&self) -> Option<KeyService> {
        let barrier = match &self.barrier {
            Some(b) => Some(b.upgrade()?),
            None => None,
        };
        Some(KeyService {
            store: self.store.clone(),
            cache: self.cache.upgrade()?,
            active: self.active.upgrade()?,
            barrier,
            state_changes: self.state_changes.upgrade()?,
            misses: self.misses.clone(),
            clock: self.clock.clone(),
            policy: self.policy,
        })
    }
}

/// How often recorded key use is written to the database.
const USAGE_FLUSH_EVERY: Duration = Duration::from_secs(1);
const RELOAD_AFTER: Duration = Duration::from_secs(1);

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
        let service = Self {
            store,
            cache,
            active,
            barrier,
            state_changes,
            misses: metrics::counter!("hoop_key_cache_misses_total"),
            clock,
            policy,
        };
        lifecycle::spawn(service.downgrade());
        service
    }

    fn downgrade(&self) -> WeakKeyService {
        WeakKeyService {
            store: self.store.clone(),
            cache: Arc::downgrade(&self.cache),
            active: Arc::downgrade(&self.active),
            barrier: self.barrier.as_ref().map(Arc::downgrade),
            state_changes: Arc::downgrade(&self.state_changes),
            misses: self.misses.clone(),
            clock: self.clock.clone(),
            policy: self.policy,
        }
    }

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
    async fn ordered(&self) -> Option<MutexGuard<'_, ()>> {
        match self.barrier {
            None => Some(self.state_changes.lock().await),
            Some(_) => None,
        }
    }

    pub async fn list(&self, caller: &Principal) -> Result<Vec<ApiKey>> {
        caller.require_admin()?;
        let keys = store::keys::list(&self.store, caller.org_id).await?;
        let now = self.now();
        Ok(keys.into_iter().map(|k| api_key(k, now)).collect())
    }

    /// One page of the organization's keys: those `query` selects, in its order, after its
    /// cursor; with the cursor of the next page when there is one.
    pub async fn page(&self, caller: &Principal, query: &listing::KeyQuery) -> Result<KeyPage> {
        caller.require_admin()?;
        let now = self.now();
        let filter = store::key_list::Filter {
            name_contains: query.name_contains.as_deref(),
            state: query.state(),
            group: query.group.as_ref().map(|g| g.as_str()),
        };
        // One more than asked for says whether another page follows.
        let mut records = store::key_list::page(
            &self.store,
            caller.org_id,
            &filter,
            query.order,
            query.after.as_ref(),
            query.limit + 1,
            now,
        )
        .await?;
        let more = records.len() > query.limit as usize;
        records.truncate(query.limit as usize);
        let next_cursor = match records.last() {
            Some(last) if more => Some(listing::cursor_after(
                query.order,
                &store::key_list::After::of(&last.row, query.order.column),
            )),
            _ => None,
        };
        Ok(KeyPage {
            items: records.into_iter().map(|k| api_key(k, now)).collect(),
            next_cursor,
        })
    }

    /// What the list page warns about, counted without reading every key: how many active keys
    /// expire within `days`, and how many (with the first few names) the unused-key policy
    /// deactivates by then.
    pub async fn notices(&self, caller: &Principal, days: u32) -> Result<KeyNotices> {
        caller.require_admin()?;
        let now = self.now();
        let horizon = expiry::in_days(now, days);
        let expiring =
            store::key_list::count_expiring(&self.store, caller.org_id, now, horizon).await?;
        let (unused, unused_names) = match self.policy.deactivate_unused_days {
            Some(unused_days) => {
                let idle_since = horizon - TimeDelta::days(i64::from(unused_days));
                store::key_list::idle(&self.store, caller.org_id, now, idle_since, NOTICE_NAMES)
                    .await?
            }
            None => (0, Vec::new()),
        };
        Ok(KeyNotices {
            expiring: u64::try_from(expiring).unwrap_or_default(),
            unused: u64::try_from(unused).unwrap_or_default(),
            unused_names,
        })
    }

    pub async fn get(&self, caller: &Principal, name_or_id: &str) -> Result<ApiKey> {
        caller.require_admin()?;
        let key = self.find(caller, name_or_id).await?;
        Ok(api_key(key, self.now()))
    }

    /// A key's use per UTC day, the `days` ending today, oldest first, days without use
    /// included as zeros. Counts reach the database with each replica's usage flush.
    pub async fn usage(
        &self,
        caller: &Principal,
        name_or_id: &str,
        days: u32,
    ) -> Result<Vec<UsageDay>> {
        caller.require_admin()?;
        if !(1..=MAX_USAGE_DAYS).contains(&days) {
            return Err(Violation::of(
                "days",
                format!("days must be between 1 and {MAX_USAGE_DAYS}"),
            )
            .into());
        }
        let key = self.find(caller, name_or_id).await?;
        let today = self.now().date_naive();
        let first = today - chrono::Days::new(u64::from(days - 1));
        let counted = store::usage::daily(&self.store, caller.org_id, key.row.id, first).await?;
        let execs = store::usage::daily_execs(
            &self.store,
            caller.org_id,
            key.row.id,
            first.and_time(chrono::NaiveTime::MIN).and_utc(),
        )
        .await?;
        let mut out: Vec<UsageDay> = first
            .iter_days()
            .take_while(|d| *d <= today)
            .map(|date| UsageDay {
                date,
                requests: 0,
                refused: 0,
                execs: 0,
            })
            .collect();
        let at = |date: chrono::NaiveDate| usize::try_from((date - first).num_days()).ok();
        for (date, requests, refused) in counted {
            if let Some(day) = at(date).and_then(|i| out.get_mut(i)) {
                day.requests = u64::try_from(requests).unwrap_or(0);
                day.refused = u64::try_from(refused).unwrap_or(0);
            }
        }
        for (date, n) in execs {
            if let Some(day) = at(date).and_then(|i| out.get_mut(i)) {
                day.execs = u64::try_from(n).unwrap_or(0);
            }
        }
        Ok(out)
    }

    /// Creates a key. The returned secret is the only copy that will ever exist.
    pub async fn create(&self, caller: &Principal, req: NewApiKey) -> Result<(ApiKey, RawApiKey)> {
        caller.require_admin()?;
        let name = ApiKeyName::parse(&req.name)?;
        let groups = parse_groups(&req.groups)?;
        let expires_at = self.expiry(req.expires_at)?;
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
                expires_at,
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
        Ok((api_key(record, self.now()), secret))
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
        let expires_at = self.expiry_after(changes.expires_at, &key)?;
        let change = self.cache.begin_change(key.row.id);
        let record = store::keys::configure(
            &self.store,
            caller.org_id,
            key.row.id,
            store::keys::KeyEdit {
                name: name.as_ref(),
                groups: groups.as_deref(),
                expires_at,
                revival: self.revival(changes.accept_reported_secret),
            },
            caller.actor(),
        )
        .await?;
        drop(change);
        Ok(api_key(record, self.now()))
    }

    pub async fn deactivate(&self, caller: &Principal, name_or_id: &str) -> Result<ApiKey> {
        caller.require_admin()?;
        let key = self.find(caller, name_or_id).await?;
        let to = Transition::Deactivate { reason: None };
        self.transition(key, to, caller.actor()).await
    }

    /// Activates a key. An expired one needs a new `expires_at`; the secret is the same, and a
    /// rotation's previous secret does not come back.
    pub async fn activate(
        &self,
        caller: &Principal,
        name_or_id: &str,
        activation: Activation,
    ) -> Result<ApiKey> {
        caller.require_admin()?;
        let key = self.find(caller, name_or_id).await?;
        let reviving = key.row.status != store::keys::KeyStatus::Active;
        let expires_at = match activation.expires_at {
            Some(at) => self.expiry(Some(at))?,
            None => {
                if reviving {
                    self.expiry_after(None, &key)?;
                }
                if let Some(at) = key.row.expires_at.filter(|at| *at <= self.now()) {
                    return Err(Error::Invalid(Violation::of(
                        "expires_at",
                        format!(
                            "this key expired at {}: give a new expires_at to activate it",
                            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        ),
                    )));
                }
                None
            }
        };
        let to = Transition::Activate {
            expires_at,
            revival: self.revival(activation.accept_reported_secret),
        };
        self.transition(key, to, caller.actor()).await
    }

    /// Moves a key to another state, keeping the cache and the set of active keys in step.
    async fn transition(&self, key: KeyRecord, to: Transition<'_>, actor: &str) -> Result<ApiKey> {
        let activating = matches!(to, Transition::Activate { .. });
        let order = self.ordered().await;
        // The secret to let in is the one the key has now, under the lock: a rotation that
        // committed since `key` was read changed it, and letting in the one read before would
        // leave the set without the current secret (refused until a restart).
        let key = self.as_ordered(&order, key).await?;
        let prefix = active::prefix_of_hex(&key.row.hash_prefix)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("a stored key hash is not hex")))?;
        let change = self.cache.begin_change(key.row.id);
        if activating {
            // Before the commit, as for a new key.
            self.active.insert(prefix);
        }
        let changed =
            store::keys::set_active(&self.store, key.row.org_id, key.row.id, to, actor).await;
        // On SQLite this process is the only writer and applies its own changes, in commit
        // order (`order`). On PostgreSQL every replica, this one included, applies them as
        // the feed delivers them, in commit order; until then the set holds the key, which
        // only costs a lookup. After a failure the set may keep a key it need not: harmless.
        if let (Some(_), Ok(changed)) = (&order, &changed) {
            self.forget_prefixes(&changed.ended);
        }
        drop(change);
        drop(order);
        let record = changed?.record;
        tracing::info!(key = %record.row.name, activating, actor, "API key status set");
        Ok(api_key(record, self.now()))
    }

    /// Gives a key a new secret, shown this once. The old one keeps working for
    /// `grace_seconds` (0: not at all), so its users can move over without an outage.
    pub async fn rotate(
        &self,
        caller: &Principal,
        name_or_id: &str,
        rotation: Rotation,
    ) -> Result<(ApiKey, RawApiKey)> {
        caller.require_admin()?;
        if rotation.grace_seconds > MAX_GRACE_SECONDS {
            return Err(Error::Invalid(Violation::of(
                "grace_seconds",
                format!("grace_seconds must be 0 to {MAX_GRACE_SECONDS} (30 days)"),
            )));
        }
        let key = self.find(caller, name_or_id).await?;
        let now = self.now();
        // The new secret lives as long as the key: within the policy, like any new secret.
        self.expiry_after(None, &key)?;
        let overlap = (rotation.grace_seconds > 0).then(|| {
            let secs = i64::try_from(rotation.grace_seconds).unwrap_or(i64::MAX);
            (now + TimeDelta::seconds(secs), rotation.grace_seconds)
        });
        // An expired key's secret works no longer either: nothing to overlap with. (The store
        // says the same of a deactivated key, under the key's lock.)
        if overlap.is_some() && key.row.expires_at.is_some_and(|at| at <= now) {
            return Err(store::keys::inert_grace());
        }
        let secret = RawApiKey::generate();
        let prefix = active::prefix_of(&secret.digest());
        let order = self.ordered().await;
        // As in `transition`: the state that counts is the one under the lock (SQLite).
        let key = self.as_ordered(&order, key).await?;
        let change = self.cache.begin_change(key.row.id);
        // Before the commit: the new secret must work as soon as its owner has it. A
        // deactivated key's must not (on PostgreSQL the feed follows the committed state).
        let admitted = key.row.status == store::keys::KeyStatus::Active;
        if admitted {
            self.active.insert(prefix);
        }
        let changed = store::keys::rotate(
            &self.store,
            caller.org_id,
            key.row.id,
            store::keys::NewSecret {
                key_hash: secret.hash(),
                masked_key: secret.masked(),
            },
            overlap,
            caller.actor(),
        )
        .await;
        match (&order, &changed) {
            (Some(_), Ok(changed)) => self.forget_prefixes(&changed.ended),
            (_, Err(_)) if admitted => self.active.remove(prefix),
            _ => {}
        }
        drop(change);
        drop(order);
        let record = changed?.record;
        tracing::info!(key = %record.row.name, grace_seconds = rotation.grace_seconds, actor = caller.actor(), "API key rotated");
        Ok((api_key(record, self.now()), secret))
    }

    /// Removes ended secrets from the set of active keys (SQLite: after the commit, in order).
    fn forget_prefixes(&self, hex_prefixes: &[String]) {
        for hex in hex_prefixes {
            if let Some(prefix) = active::prefix_of_hex(hex) {
                self.active.retire(prefix);
            }
        }
    }

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
    async fn verify_uncached(&self, digest: [u8; 32], seen: &Seen<'_>) -> Result<Principal> {
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
    async fn load(&self, digest: [u8; 32]) -> Result<(Arc<CachedKey>, bool)> {
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

    /// A new expiry as the rules allow it: in the future, and within the maximum lifetime if
    /// there is one (which also makes `None`, never, unacceptable).
    fn expiry(&self, wanted: Option<DateTime<Utc>>) -> Result<Option<DateTime<Utc>>> {
        expiry::check(wanted, self.now(), self.policy)
    }

    /// The expiry `key` is left with by a change that gives its secret life (configure,
    /// activate, rotate): see [`expiry::after_change`], the one place the policy is applied.
    fn expiry_after(
        &self,
        wanted: Option<Option<DateTime<Utc>>>,
        key: &KeyRecord,
    ) -> Result<Option<Option<DateTime<Utc>>>> {
        expiry::after_change(wanted, key.row.expires_at, self.now(), self.policy)
    }

    fn revival(&self, accept_reported_secret: bool) -> store::keys::Revival {
        store::keys::Revival {
            now: self.now(),
            accept_reported_secret,
        }
    }

    /// `key` as it stands now, read again when `order` is held (SQLite): a change that
    /// committed since it was read may have given it another secret or state.
    async fn as_ordered(
        &self,
        order: &Option<MutexGuard<'_, ()>>,
        key: KeyRecord,
    ) -> Result<KeyRecord> {
        match order {
            Some(_) => self.find_by_id(key.row.org_id, key.row.id).await,
            None => Ok(key),
        }
    }

    async fn find_by_id(&self, org_id: Uuid, id: Uuid) -> Result<KeyRecord> {
        self.find_in(org_id, &id.to_string()).await
    }

    async fn find(&self, caller: &Principal, name_or_id: &str) -> Result<KeyRecord> {
        self.find_in(caller.org_id, name_or_id).await
    }

    async fn find_in(&self, org_id: Uuid, name_or_id: &str) -> Result<KeyRecord> {
        store::keys::find(&self.store, org_id, name_or_id)
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
fn secret_ends(found: &store::keys::KeyIdentity) -> Option<DateTime<Utc>> {
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
fn admit(key: &CachedKey, clock: &Clock, seen: &Seen<'_>) -> Result<Principal> {
    if !key.is_live(clock) {
        key.refused(clock.now_ms());
        return Err(Error::Unauthenticated);
    }
    key.served(clock.now_ms(), seen);
    Ok(key.principal.clone())
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
        for status in store::keys::KeyStatus::ALL {
            let sent = match status {
                store::keys::KeyStatus::Active => KeyStatus::Active,
                store::keys::KeyStatus::Deactivated => KeyStatus::Deactivated,
            };
            assert_eq!(serde_json::json!(sent), status.as_str());
        }
    }
}
