//! `last_used_at` without a database write per request: a request stores the time in its
//! cached key; every interval the flusher writes what changed, one write per key at most.

use super::cache::KeyCache;
use crate::clock;
use crate::store::{self, Store};
use chrono::DateTime;
use std::{sync::Weak, time::Duration};

pub async fn flush(store: &Store, cache: &KeyCache) {
    let uses = cache.take_uses();
    if uses.is_empty() {
        return;
    }
    let rows: Vec<_> = uses
        .iter()
        .filter_map(|(id, ms)| DateTime::from_timestamp_millis(*ms).map(|at| (*id, at)))
        .collect();
    if let Err(e) = store::keys::touch(store, &rows).await {
        // Losing a usage timestamp is better than failing requests over it: the next use
        // records it again.
        tracing::warn!(error = %e, "could not record key use");
    }
}

/// Keeps the clock fresh and flushes every `every`, until the service is dropped.
pub fn spawn_flusher(store: Store, cache: Weak<KeyCache>, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(clock::TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_flush = tokio::time::Instant::now();
        loop {
            tick.tick().await;
            clock::tick();
            if last_flush.elapsed() < every {
                continue;
            }
            last_flush = tokio::time::Instant::now();
            let Some(cache) = cache.upgrade() else { break };
            flush(&store, &cache).await;
        }
    });
}
