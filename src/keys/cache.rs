//! The in-memory view of keys that makes verification a hash and a map lookup.
//!
//! Coherence: every change to a key invalidates it here (locally at once, on other replicas
//! through the change feed). A fill that read the database before an invalidation must not
//! bring the old state back afterwards, so fills are dropped whenever the generation moved
//! while they were in flight. While the feed is down the cache is not trusted at all and every
//! request goes to the database.

use super::{
    active::Prefix,
    tally::{Seen, Tally},
};
use crate::caller::Principal;
use std::{
    collections::HashMap,
    hash::{BuildHasher, Hasher},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, RwLock,
    },
};
use uuid::Uuid;

/// What verification needs about a key, shared by every request that presents it. Only active
/// keys are cached: a deactivated one takes the path of an unknown one every time.
#[derive(Debug)]
pub struct CachedKey {
    pub id: Uuid,
    /// Handed (as a reference count) to every request that presents the key.
    pub principal: Principal,
    /// When the secret stops working (unix ms; `i64::MAX`: never). A change of the key's
    /// expiry invalidates it like any other change.
    live_until_ms: i64,
    /// Uses since the last flush (see [`Tally`]).
    tally: Mutex<Tally>,
}

impl CachedKey {
    pub fn new(id: Uuid, principal: Principal, live_until_ms: i64) -> Self {
        Self {
            id,
            principal,
            live_until_ms,
            tally: Mutex::new(Tally::default()),
        }
    }

    /// Whether the secret still works now. A key that never expires costs nothing to ask; one
    /// that does reads the precise clock, not the ticker's (which may lag under load), so it
    /// stops at its second exactly.
    pub fn is_live(&self, clock: &crate::clock::Clock) -> bool {
        self.live_until_ms == i64::MAX || clock.precise_now_ms() < self.live_until_ms
    }

    /// Records a request the key was admitted for.
    pub fn served(&self, now_ms: i64, seen: &Seen<'_>) {
        self.tally().served(now_ms, seen);
    }

    /// Records a request that presented the key after its secret stopped working.
    pub fn refused(&self, now_ms: i64) {
        self.tally().refused(now_ms);
    }

    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The uses not yet written, if any; they are the flusher's from now on.
    fn unflushed(&self) -> Option<(Uuid, Tally)> {
        let mut tally = self.tally();
        (!tally.is_empty()).then(|| (self.id, std::mem::take(&mut *tally)))
    }
}

#[derive(Default)]
struct Maps {
    by_hash: HashMap<[u8; 32], Arc<CachedKey>, DigestHasher>,
    /// Every cached secret of a key: two during a rotation's overlap, and a change of the key
    /// must forget both.
    hashes_of: HashMap<Uuid, Vec<[u8; 32]>>,
}

/// Keys of `by_hash` are SHA-256 digests of server-generated secrets: already uniformly
/// distributed, and nobody outside can choose which ones are stored, so their first eight
/// bytes are as good a hash as SipHash and cost nothing.
#[derive(Default, Clone, Copy)]
struct DigestHasher;

impl BuildHasher for DigestHasher {
    type Hasher = FirstBytes;
    fn build_hasher(&self) -> FirstBytes {
        FirstBytes(0)
    }
}

struct FirstBytes(u64);

impl Hasher for FirstBytes {
    fn write(&mut self, bytes: &[u8]) {
        // `[u8; 32]` hashes as its length first, then the bytes: keep the bytes.
        if bytes.len() >= 8 {
            let mut first = [0u8; 8];
            first.copy_from_slice(&bytes[..8]);
            self.0 = u64::from_ne_bytes(first);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub struct KeyCache {
    maps: RwLock<Maps>,
    generation: AtomicU64,
    /// Changes being committed now ([`KeyCache::begin_change`]): no fill is kept meanwhile.
    changing: AtomicU64,
    trusted: AtomicBool,
    /// Uses of keys no longer in the map (evicted, or verified while the cache was not
    /// trusted), and refusals of keys never cached (deactivated), waiting for the flusher.
    orphans: Mutex<HashMap<Uuid, Tally>>,
    /// Refusals of retired secrets known only by their digest prefix (see
    /// [`super::active::ActiveKeys::is_retired`]); the flusher finds their keys.
    refusals: Mutex<HashMap<Prefix, Tally>>,
    /// Held by a flush from taking the uses until they are written: a flush that starts
    /// while another is writing waits for it, so when it returns every earlier use is stored
    /// (shutdown and tests rely on that), and writes land in the order they were taken.
    flushing: tokio::sync::Mutex<()>,
    /// Registered once: the hot path adds to a counter it holds, with no lookup by name.
    hits: metrics::Counter,
    fills: metrics::Counter,
}

/// What the flusher takes: tallies by key, and refusals of retired secrets by digest prefix.
pub struct Uses {
    pub by_key: Vec<(Uuid, Tally)>,
    pub by_prefix: Vec<(Prefix, Tally)>,
}

/// A key change being committed; see [`KeyCache::begin_change`].
pub struct PendingChange<'a> {
    cache: &'a KeyCache,
    id: Uuid,
}

impl Drop for PendingChange<'_> {
    fn drop(&mut self) {
        // Forgotten again before the count drops: a fill that read the state before the
        // commit holds a ticket from before this invalidation, and is refused by it.
        self.cache.invalidate(self.id);
        self.cache.changing.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Proof of when a fill started: hand it back to [`KeyCache::fill`].
#[derive(Clone, Copy)]
pub struct FillTicket(u64);

impl KeyCache {
    /// `trusted` is false for a cache that must wait for its change feed before answering.
    pub fn new(trusted: bool) -> Self {
        Self {
            maps: RwLock::new(Maps::default()),
            generation: AtomicU64::new(0),
            changing: AtomicU64::new(0),
            trusted: AtomicBool::new(trusted),
            orphans: Mutex::new(HashMap::new()),
            refusals: Mutex::new(HashMap::new()),
            flushing: tokio::sync::Mutex::new(()),
            hits: metrics::counter!("hoop_key_cache_hits_total"),
            fills: metrics::counter!("hoop_key_cache_fills_total"),
        }
    }

    /// Keeps the uses of a key that is not (or no longer) in the map.
    pub fn orphan_use(&self, key: &CachedKey) {
        if let Some((id, tally)) = key.unflushed() {
            self.orphan(id, tally);
        }
    }

    fn orphan(&self, id: Uuid, tally: Tally) {
        let mut orphans = self.orphans.lock().unwrap_or_else(|e| e.into_inner());
        orphans.entry(id).or_default().merge(tally);
    }

    /// A refused request for a key read from the database (not cached: deactivated).
    pub fn refused(&self, id: Uuid, now_ms: i64) {
        let mut orphans = self.orphans.lock().unwrap_or_else(|e| e.into_inner());
        orphans.entry(id).or_default().refused(now_ms);
    }

    /// A refused request for a retired secret known by its digest prefix. Only prefixes of
    /// stored secrets reach this (the caller checks), so the map is bounded by the keys.
    pub fn refused_prefix(&self, prefix: Prefix, now_ms: i64) {
        let mut refusals = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        refusals.entry(prefix).or_default().refused(now_ms);
    }

    /// One flush at a time; see `flushing`.
    pub async fn flush_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.flushing.lock().await
    }

    /// Every use not yet written, by key and by retired prefix: the flusher's work list.
    pub fn take_uses(&self) -> Uses {
        let mut by_key =
            std::mem::take(&mut *self.orphans.lock().unwrap_or_else(|e| e.into_inner()));
        {
            let maps = self.maps.read().unwrap_or_else(|e| e.into_inner());
            for (id, tally) in maps.by_hash.values().filter_map(|k| k.unflushed()) {
                by_key.entry(id).or_default().merge(tally);
            }
        }
        let by_prefix =
            std::mem::take(&mut *self.refusals.lock().unwrap_or_else(|e| e.into_inner()));
        Uses {
            by_key: by_key.into_iter().collect(),
            by_prefix: by_prefix.into_iter().collect(),
        }
    }

    fn orphan_all(&self, maps: &Maps) {
        for key in maps.by_hash.values() {
            self.orphan_use(key);
        }
    }

    /// Applies `f` to the cached key for a hash, when the cache may be believed. Working under
    /// the read lock spares the hot path a reference count round trip.
    pub fn get_with<R>(&self, hash: &[u8; 32], f: impl FnOnce(&CachedKey) -> R) -> Option<R> {
        if !self.trusted.load(Ordering::Acquire) {
            return None;
        }
        let maps = self.maps.read().unwrap_or_else(|e| e.into_inner());
        let hit = maps.by_hash.get(hash).map(|k| f(k));
        if hit.is_some() {
            self.hits.increment(1);
        }
        hit
    }

    #[cfg(test)]
    pub fn get(&self, hash: &[u8; 32]) -> Option<Arc<CachedKey>> {
        if !self.trusted.load(Ordering::Acquire) {
            return None;
        }
        let maps = self.maps.read().unwrap_or_else(|e| e.into_inner());
        maps.by_hash.get(hash).cloned()
    }

    /// Take before reading the database for a fill.
    pub fn ticket(&self) -> FillTicket {
        FillTicket(self.generation.load(Ordering::Acquire))
    }

    /// Stores what the database said, unless anything was invalidated since `ticket`.
    /// Returns whether it was kept.
    pub fn fill(&self, ticket: FillTicket, hash: [u8; 32], key: Arc<CachedKey>) -> bool {
        let mut maps = self.maps.write().unwrap_or_else(|e| e.into_inner());
        // Checked under the write lock: invalidations bump the generation under it too.
        if self.generation.load(Ordering::Acquire) != ticket.0
            || self.changing.load(Ordering::Acquire) > 0
            || !self.trusted.load(Ordering::Acquire)
        {
            return false;
        }
        let hashes = maps.hashes_of.entry(key.id).or_default();
        if !hashes.contains(&hash) {
            hashes.push(hash);
        }
        if let Some(old) = maps.by_hash.insert(hash, key) {
            self.orphan_use(&old);
        }
        self.fills.increment(1);
        true
    }

    /// Forgets one key; its next use reads the database.
    pub fn invalidate(&self, id: Uuid) {
        let mut maps = self.maps.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        for hash in maps.hashes_of.remove(&id).unwrap_or_default() {
            if let Some(key) = maps.by_hash.remove(&hash) {
                self.orphan_use(&key);
            }
        }
    }

    /// Take before committing a change of key `id`, and drop after the commit. Invalidating
    /// only after the commit left a window in which the database already said "deactivated"
    /// (and an admin saw it) while this cache still admitted the key. Meanwhile the key is not
    /// cached and nothing is filled, so each use reads the database, which answers in commit
    /// order; the drop forgets the key again, as any fill that read the state before the
    /// commit may have been taken before.
    pub fn begin_change(&self, id: Uuid) -> PendingChange<'_> {
        // Counted first: a fill that starts after the key is forgotten reads the state from
        // before the commit, and must find the change under way.
        self.changing.fetch_add(1, Ordering::AcqRel);
        self.invalidate(id);
        PendingChange { cache: self, id }
    }

    /// The change feed is gone: forget everything and go to the database until it is back.
    pub fn distrust(&self) {
        let mut maps = self.maps.write().unwrap_or_else(|e| e.into_inner());
        self.trusted.store(false, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.orphan_all(&maps);
        *maps = Maps::default();
    }

    /// The change feed is (re)established: changes from now on will reach us.
    pub fn trust(&self) {
        let mut maps = self.maps.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.orphan_all(&maps);
        *maps = Maps::default();
        self.trusted.store(true, Ordering::Release);
    }

    pub fn is_trusted(&self) -> bool {
        self.trusted.load(Ordering::Acquire)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.maps
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_hash
            .len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Arc<CachedKey> {
        let principal = Principal::from(crate::caller::Caller {
            org_id: Uuid::nil(),
            org_name: "o".into(),
            identity: crate::caller::Identity::ApiKey {
                id: Uuid::from_u128(7),
                name: "k".into(),
                expires_at: None,
                secret_prefix: 0,
            },
            groups: Arc::from([]),
        });
        Arc::new(CachedKey::new(Uuid::from_u128(7), principal, i64::MAX))
    }

    #[test]
    fn uses_are_collected_once_and_survive_eviction() {
        let cache = KeyCache::new(true);
        let k = key();
        cache.fill(cache.ticket(), [1; 32], k.clone());
        k.served(1_000, &Seen::NOBODY);
        k.served(900, &Seen::NOBODY); // late and older: the last sighting never moves back
        let uses = cache.take_uses().by_key;
        assert_eq!(uses.len(), 1);
        assert_eq!(uses[0].0, Uuid::from_u128(7));
        assert_eq!(uses[0].1.days[0].requests, 2);
        assert_eq!(uses[0].1.last_client().map(|c| c.last_seen_ms), Some(1_000));
        assert!(
            cache.take_uses().by_key.is_empty(),
            "written uses are not written again"
        );
        k.served(2_000, &Seen::NOBODY);
        cache.invalidate(Uuid::from_u128(7));
        cache.refused(Uuid::from_u128(7), 2_001);
        let uses = cache.take_uses().by_key;
        assert_eq!(
            uses.len(),
            1,
            "an evicted key's uses and its refusals are one entry"
        );
        assert_eq!(
            (uses[0].1.days[0].requests, uses[0].1.days[0].refused),
            (1, 1)
        );
    }

    /// The race a rotation's overlap opened: both secrets of one key cached, and a change
    /// forgetting only the one filled last, so the other kept working after the rotation.
    #[test]
    fn a_change_forgets_every_secret_of_the_key() {
        let cache = KeyCache::new(true);
        cache.fill(cache.ticket(), [1; 32], key());
        cache.fill(cache.ticket(), [2; 32], key());
        cache.invalidate(Uuid::from_u128(7));
        assert!(cache.get(&[1; 32]).is_none());
        assert!(cache.get(&[2; 32]).is_none());
        assert!(cache.is_empty());
    }

    #[test]
    fn fill_then_hit_then_invalidate() {
        let cache = KeyCache::new(true);
        let t = cache.ticket();
        let k = key();
        cache.fill(t, [1; 32], k.clone());
        assert!(cache.get(&[1; 32]).is_some_and(|hit| Arc::ptr_eq(&hit, &k)));
        cache.invalidate(Uuid::from_u128(7));
        assert!(cache.get(&[1; 32]).is_none());
    }

    /// The race other gateways shipped: a fill reads "active", the key is deactivated and
    /// invalidated, then the fill lands. It must not bring the key back.
    #[test]
    fn a_fill_in_flight_during_an_invalidation_is_dropped() {
        let cache = KeyCache::new(true);
        let ticket = cache.ticket(); // fill starts, reads the database: active
        cache.invalidate(Uuid::from_u128(7)); // meanwhile: deactivated elsewhere
        cache.fill(ticket, [1; 32], key()); // the stale fill arrives
        assert!(cache.get(&[1; 32]).is_none());
        // A fill that starts after the invalidation is kept.
        let fresh = cache.ticket();
        let k = key();
        cache.fill(fresh, [1; 32], k.clone());
        assert!(cache.get(&[1; 32]).is_some_and(|hit| Arc::ptr_eq(&hit, &k)));
    }

    /// From before a change commits until after it has, the key is not admitted from memory:
    /// each use asks the database, which answers in commit order.
    #[test]
    fn nothing_is_cached_while_a_change_commits() {
        let cache = KeyCache::new(true);
        cache.fill(cache.ticket(), [1; 32], key());
        let change = cache.begin_change(Uuid::from_u128(7));
        assert!(cache.get(&[1; 32]).is_none(), "forgotten before the commit");
        // A use meanwhile reads the database (still active: not yet committed) ...
        assert!(
            !cache.fill(cache.ticket(), [1; 32], key()),
            "... and is not kept"
        );
        let before_commit = cache.ticket();
        drop(change); // committed
        assert!(
            !cache.fill(before_commit, [1; 32], key()),
            "read before the commit"
        );
        assert!(cache.get(&[1; 32]).is_none());
        assert!(
            cache.fill(cache.ticket(), [1; 32], key()),
            "read after it: kept"
        );
    }

    #[test]
    fn an_untrusted_cache_answers_nothing_and_keeps_nothing() {
        let cache = KeyCache::new(true);
        cache.fill(cache.ticket(), [1; 32], key());
        cache.distrust();
        assert!(cache.get(&[1; 32]).is_none());
        cache.fill(cache.ticket(), [2; 32], key());
        assert!(cache.is_empty());
        let before_trust = cache.ticket();
        cache.trust();
        // A fill begun while untrusted may predate changes the feed never delivered.
        cache.fill(before_trust, [3; 32], key());
        assert!(cache.is_empty());
        cache.fill(cache.ticket(), [3; 32], key());
        assert_eq!(cache.len(), 1);
    }
}
