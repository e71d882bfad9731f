//! Which keys are active, in memory: the first 8 bytes of each active key's SHA-256, so that a
//! key that is not active (unknown or deactivated alike) is refused without the database.
//!
//! It only has to be a superset of the active keys: an extra entry (a stale one, or two keys
//! sharing 8 bytes of digest, one chance in 2^64 per key) costs a database read, which then
//! answers correctly. A missing entry would refuse a good key, so entries are added before the
//! change that activates a key commits, and removed only once a deactivation has committed.
//!
//! Until it is loaded, and whenever the change feed between replicas is down, the set is not
//! trusted and every key the cache does not hold is read from the database, as before.

use crate::{
    error::{Error, Result},
    store::{self, Store},
};
use std::{
    collections::HashSet,
    hash::{BuildHasher, Hasher},
    sync::{
        atomic::{AtomicBool, Ordering},
        RwLock,
    },
};

/// What the set says about a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Possibly active: read the database.
    Maybe,
    /// Not active (or the change that activated it has not reached this replica yet).
    Absent,
    /// The set is not trusted now: read the database.
    Unknown,
}

/// The part of a digest the set keeps. A prefix of a stored hash: no secret.
pub type Prefix = u64;

pub fn prefix_of(digest: &[u8; 32]) -> Prefix {
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    Prefix::from_be_bytes(first)
}

/// The prefix of a stored hex hash (its first 16 hex digits), as the database returns it.
pub fn prefix_of_hex(hex_hash: &str) -> Option<Prefix> {
    let head = hex_hash.get(..16)?;
    if !head.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Prefix::from_str_radix(head, 16).ok()
}

/// The set as the database has it.
pub struct Loaded {
    pub active: Vec<Prefix>,
    pub retired: Vec<Prefix>,
}

/// The prefixes of every active key, and of every retired secret, from the database.
pub async fn read(store: &Store) -> Result<Loaded> {
    let parse = |hex: Vec<String>| -> Result<Vec<Prefix>> {
        hex.iter()
            .map(|h| {
                // Left out, an active key would be refused for good: fail the load instead.
                prefix_of_hex(h)
                    .ok_or_else(|| Error::Internal(anyhow::anyhow!("a stored key hash is not hex")))
            })
            .collect()
    };
    Ok(Loaded {
        active: parse(store::keys::active_hash_prefixes(store).await?)?,
        retired: parse(store::keys::retired_hash_prefixes(store).await?)?,
    })
}

#[derive(Default)]
pub struct ActiveKeys {
    prefixes: RwLock<HashSet<Prefix, Identity>>,
    /// Secrets that worked once (deactivated keys, old secrets of rotations): a request that
    /// still presents one is counted as refused for its key, which is worth knowing. Only
    /// consulted for a digest already found absent above.
    retired: RwLock<HashSet<Prefix, Identity>>,
    trusted: AtomicBool,
    /// Woken on every change that can end a secret (see [`super::revocation`]).
    changed: tokio::sync::Notify,
}

impl ActiveKeys {
    pub fn check(&self, digest: &[u8; 32]) -> Presence {
        if !self.trusted.load(Ordering::Acquire) {
            return Presence::Unknown;
        }
        let set = self.prefixes.read().unwrap_or_else(|e| e.into_inner());
        if set.contains(&prefix_of(digest)) {
            Presence::Maybe
        } else {
            Presence::Absent
        }
    }

    pub fn insert(&self, prefix: Prefix) {
        self.write().insert(prefix);
        self.retired_mut().remove(&prefix);
    }

    /// A secret nobody ever had (a creation that failed).
    pub fn remove(&self, prefix: Prefix) {
        self.write().remove(&prefix);
    }

    /// A secret that stopped working (deactivation, the end of a rotation's overlap).
    pub fn retire(&self, prefix: Prefix) {
        self.write().remove(&prefix);
        self.retired_mut().insert(prefix);
        self.changed.notify_waiters();
    }

    /// Whether the secret with this prefix is known not to work: `None` while the set is not
    /// trusted (the database must say).
    pub fn known_absent(&self, prefix: Prefix) -> Option<bool> {
        if !self.trusted.load(Ordering::Acquire) {
            return None;
        }
        let set = self.prefixes.read().unwrap_or_else(|e| e.into_inner());
        Some(!set.contains(&prefix))
    }

    /// Resolves at the next change that can end a secret (create it before looking at the set,
    /// so a change in between is not missed).
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    /// Whether an absent digest is a secret that once worked.
    pub fn is_retired(&self, digest: &[u8; 32]) -> bool {
        let retired = self.retired.read().unwrap_or_else(|e| e.into_inner());
        retired.contains(&prefix_of(digest))
    }

    /// Replaces the contents with a fresh read of the database and trusts them.
    pub fn install(&self, loaded: Loaded) {
        let fresh: HashSet<Prefix, Identity> = loaded.active.into_iter().collect();
        *self.retired_mut() = loaded.retired.into_iter().collect();
        let mut set = self.write();
        *set = fresh;
        self.trusted.store(true, Ordering::Release);
        drop(set);
        self.changed.notify_waiters();
    }

    /// Changes may have been missed: answer nothing from memory until reloaded.
    pub fn distrust(&self) {
        self.trusted.store(false, Ordering::Release);
        self.changed.notify_waiters();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.prefixes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashSet<Prefix, Identity>> {
        self.prefixes.write().unwrap_or_else(|e| e.into_inner())
    }

    fn retired_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashSet<Prefix, Identity>> {
        self.retired.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The prefixes are bytes of SHA-256 digests of server-generated secrets: uniform already, and
/// nobody can choose which ones are stored, so they are their own hash.
#[derive(Default, Clone, Copy)]
struct Identity;

impl BuildHasher for Identity {
    type Hasher = Itself;
    fn build_hasher(&self) -> Itself {
        Itself(0)
    }
}

struct Itself(u64);

impl Hasher for Itself {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_until_installed_then_answers_from_memory() {
        let set = ActiveKeys::default();
        let digest = [7u8; 32];
        assert_eq!(set.check(&digest), Presence::Unknown);
        set.install(Loaded {
            active: vec![prefix_of(&digest)],
            retired: vec![],
        });
        assert_eq!(set.check(&digest), Presence::Maybe);
        assert_eq!(set.check(&[8u8; 32]), Presence::Absent);
        set.retire(prefix_of(&digest));
        assert_eq!(set.check(&digest), Presence::Absent);
        assert!(set.is_retired(&digest));
        assert!(
            !set.is_retired(&[8u8; 32]),
            "an unknown secret is not a retired one"
        );
        set.insert(prefix_of(&digest));
        assert!(!set.is_retired(&digest), "reactivated");
        set.distrust();
        assert_eq!(set.check(&digest), Presence::Unknown);
        set.install(Loaded {
            active: vec![],
            retired: vec![],
        });
        assert_eq!(set.len(), 0);
    }

    #[test]
    fn the_hex_prefix_is_the_digest_prefix() {
        let digest: [u8; 32] = std::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(
            prefix_of_hex(&hex::encode(digest)),
            Some(prefix_of(&digest))
        );
        assert_eq!(prefix_of_hex("abc"), None);
        assert_eq!(prefix_of_hex("zzzzzzzzzzzzzzzz"), None);
        assert_eq!(prefix_of_hex("+123456789abcdef"), None);
    }
}
