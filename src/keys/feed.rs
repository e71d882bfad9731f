//! The change feed between replicas: PostgreSQL LISTEN/NOTIFY on one channel. Every key change
//! is announced inside the transaction that makes it (so it is sent only if it commits), and
//! every replica drops that key from its cache when the announcement arrives; changes of a
//! key's state also say which key (its digest prefix) is active now, for the set of active keys.
//!
//! A listener that dies or goes quiet makes the cache and the set untrusted until it is
//! listening again and has reloaded the set: announcements sent meanwhile are lost, so nothing
//! held before can be believed.
//!
//! A key this replica has not heard of may have been created on another replica a moment ago,
//! its announcement still on its way. Before refusing it, a replica waits until it has heard
//! its own *barrier*: a NOTIFY on a channel of its own, sent after the key arrived. PostgreSQL
//! delivers notifications in commit order, whatever their channel, so by then every change
//! committed before the key was presented has been applied here. Barriers are shared by every
//! request waiting at the time and sent at most once per [`BARRIER_GAP`]: a flood of unknown
//! keys costs the database at most that many `pg_notify` calls, and never a table read.

use super::{
    active::{self, prefix_of_hex, ActiveKeys, Prefix},
    cache::KeyCache,
};
use crate::store::{
    feed::{Feed, Subscription},
    keys::{CHANGE_CHANNEL as CHANNEL, STATE_ACTIVE, STATE_INACTIVE},
    Store,
};
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Weak,
    },
    time::Duration,
};
use tokio::sync::{watch, Notify};
use uuid::Uuid;

/// Every replica pings the channel this often, so a listener hears something regularly...
const PING_EVERY: Duration = Duration::from_millis(500);
/// ...and one that hears nothing for this long is presumed cut off.
const QUIET_LIMIT: Duration = Duration::from_secs(2);
const RETRY_AFTER: Duration = Duration::from_millis(200);
const PING: &str = "ping";
/// At most one barrier per this interval: bounds what a flood of unknown keys costs the
/// database (≤ 100 `pg_notify` a second), and adds at most this much to refusing one.
const BARRIER_GAP: Duration = Duration::from_millis(10);
/// A barrier not heard by then means the listener is failing (it gives up after
/// [`QUIET_LIMIT`]); the waiter looks at the set again, by then untrusted.
const BARRIER_WAIT: Duration = Duration::from_millis(2_500);

fn parse_state(payload: &str) -> Option<(Prefix, bool)> {
    let (hex, active) = if let Some(hex) = payload.strip_prefix(STATE_ACTIVE) {
        (hex, true)
    } else {
        (payload.strip_prefix(STATE_INACTIVE)?, false)
    };
    (hex.len() == 16)
        .then(|| prefix_of_hex(hex))
        .flatten()
        .map(|p| (p, active))
}

/// What the listener has heard of this replica's barriers.
#[derive(Clone, Copy, Default)]
struct Heard {
    /// One more than the highest barrier heard.
    upto: u64,
    /// Moves whenever the listener stops: waiters look at the set again.
    epoch: u64,
}

pub struct Barrier {
    channel: String,
    next: AtomicU64,
    wanted: Notify,
    heard: watch::Sender<Heard>,
}

impl Barrier {
    fn new() -> Self {
        Self {
            channel: format!("{CHANNEL}_{}", Uuid::new_v4().simple()),
            next: AtomicU64::new(0),
            wanted: Notify::new(),
            heard: watch::Sender::new(Heard::default()),
        }
    }

    /// Returns once every change committed before the call has been applied here, or the
    /// listener stopped meanwhile, or after [`BARRIER_WAIT`]. The caller then asks the set again.
    pub async fn catch_up(&self) {
        let mut heard = self.heard.subscribe();
        let epoch = heard.borrow().epoch;
        // The barrier numbered `target` is sent after this load (the sender takes its number
        // first): after every commit the caller could have seen.
        let target = self.next.load(Ordering::SeqCst);
        self.wanted.notify_one();
        let caught_up = heard.wait_for(|h| h.upto > target || h.epoch != epoch);
        let _ = tokio::time::timeout(BARRIER_WAIT, caught_up).await;
    }

    fn heard(&self, seq: u64) {
        self.heard.send_if_modified(|h| {
            let moved = seq >= h.upto;
            h.upto = h.upto.max(seq + 1);
            moved
        });
    }

    fn stopped(&self) {
        self.heard.send_modify(|h| h.epoch += 1);
    }
}

/// What the feed keeps up to date. Held weakly: the tasks end when the key service is dropped.
pub struct Followers {
    pub cache: Weak<KeyCache>,
    pub active: Weak<ActiveKeys>,
    pub barrier: Weak<Barrier>,
}

pub fn spawn(
    store: Store,
    feed: Feed,
    cache: &Arc<KeyCache>,
    active: &Arc<ActiveKeys>,
) -> Arc<Barrier> {
    let barrier = Arc::new(Barrier::new());
    let followers = Followers {
        cache: Arc::downgrade(cache),
        active: Arc::downgrade(active),
        barrier: Arc::downgrade(&barrier),
    };
    tokio::spawn(ping(feed.clone(), followers.cache.clone()));
    tokio::spawn(send_barriers(feed.clone(), followers.barrier.clone()));
    tokio::spawn(listen(store, feed, followers));
    barrier
}

async fn listen(store: Store, feed: Feed, to: Followers) {
    loop {
        let Some(own) = to.barrier.upgrade().map(|b| b.channel.clone()) else {
            return;
        };
        match feed.subscribe(&[CHANNEL, &own]).await {
            // Read after LISTEN: whatever commits from now on is announced to us as well.
            Ok(mut listener) => match active::read(&store).await {
                Ok(loaded) => {
                    let (Some(cache), Some(active)) = (to.cache.upgrade(), to.active.upgrade())
                    else {
                        return;
                    };
                    active.install(loaded);
                    cache.trust();
                    drop((cache, active));
                    tracing::debug!("key change feed listening");
                    follow(&mut listener, &to, &own).await;
                }
                Err(e) => tracing::warn!(error = %e, "key change feed: cannot load active keys"),
            },
            Err(e) => tracing::warn!(error = %e, "key change feed: cannot listen; retrying"),
        }
        let (Some(cache), Some(active)) = (to.cache.upgrade(), to.active.upgrade()) else {
            return;
        };
        cache.distrust();
        active.distrust();
        if let Some(barrier) = to.barrier.upgrade() {
            barrier.stopped();
        }
        drop((cache, active));
        tokio::time::sleep(RETRY_AFTER).await;
    }
}

/// Applies announcements until the connection fails or goes quiet.
async fn follow(listener: &mut Subscription, to: &Followers, own: &str) {
    loop {
        let notification = match tokio::time::timeout(QUIET_LIMIT, listener.next()).await {
            Ok(Ok(Some(n))) => n,
            Ok(Ok(None)) => {
                tracing::warn!("key change feed: connection lost");
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "key change feed failed");
                return;
            }
            Err(_) => {
                tracing::warn!("key change feed went quiet");
                return;
            }
        };
        let payload = notification.payload();
        if notification.channel() == own {
            let Some(barrier) = to.barrier.upgrade() else {
                return;
            };
            match payload.parse() {
                Ok(seq) => barrier.heard(seq),
                Err(_) => tracing::warn!("key change feed: unexpected barrier"),
            }
            continue;
        }
        if let Ok(id) = Uuid::parse_str(payload) {
            let Some(cache) = to.cache.upgrade() else {
                return;
            };
            cache.invalidate(id);
        } else if let Some((prefix, active)) = parse_state(payload) {
            let Some(set) = to.active.upgrade() else {
                return;
            };
            if active {
                set.insert(prefix);
            } else {
                set.retire(prefix);
            }
        } else if payload != PING {
            tracing::warn!("key change feed: unexpected payload");
        }
    }
}

/// Sends a barrier whenever a request waits for one, one at a time, [`BARRIER_GAP`] apart.
async fn send_barriers(feed: Feed, barrier: Weak<Barrier>) {
    loop {
        let Some(b) = barrier.upgrade() else { return };
        // Wakes now and then without demand, to end once the service is gone.
        if tokio::time::timeout(Duration::from_secs(1), b.wanted.notified())
            .await
            .is_err()
        {
            continue;
        }
        let seq = b.next.fetch_add(1, Ordering::SeqCst);
        let sent = feed.notify(&b.channel, &seq.to_string()).await;
        if let Err(e) = sent {
            tracing::debug!(error = %e, "key change feed: barrier failed");
            // The waiters still wait: try again after the gap.
            b.wanted.notify_one();
        }
        drop(b);
        tokio::time::sleep(BARRIER_GAP).await;
    }
}

async fn ping(feed: Feed, cache: Weak<KeyCache>) {
    let mut tick = tokio::time::interval(PING_EVERY);
    while cache.strong_count() > 0 {
        tick.tick().await;
        let sent = feed.notify(CHANNEL, PING).await;
        if let Err(e) = sent {
            tracing::debug!(error = %e, "key change feed: ping failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::keys::state_message;

    #[test]
    fn state_messages_read_back() {
        let hex = "00ff00ff00ff00ff";
        assert_eq!(
            parse_state(&state_message(hex, true)),
            Some((0x00ff00ff00ff00ff, true))
        );
        assert_eq!(
            parse_state(&state_message(hex, false)),
            Some((0x00ff00ff00ff00ff, false))
        );
        assert_eq!(parse_state("active:+0ff00ff00ff00ff"), None);
        assert_eq!(parse_state("active:00ff"), None);
        assert_eq!(parse_state("ping"), None);
    }
}
