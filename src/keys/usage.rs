//! `last_used_at` without a database write per request: uses are collected in memory and
//! written in batches, at most one write per key per interval.

use crate::store::{self, Store};
use chrono::{DateTime, Utc};
use std::{
    collections::HashMap,
    sync::{Mutex, Weak},
    time::Duration,
};
use uuid::Uuid;

#[derive(Default)]
pub struct Usage {
    pending: Mutex<HashMap<Uuid, DateTime<Utc>>>,
}

impl Usage {
    pub fn record(&self, key_id: Uuid, at: DateTime<Utc>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let slot = pending.entry(key_id).or_insert(at);
        if *slot < at {
            *slot = at;
        }
    }

    fn take(&self) -> Vec<(Uuid, DateTime<Utc>)> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.drain().collect()
    }
}

pub async fn flush(store: &Store, usage: &Usage) {
    let uses = usage.take();
    if uses.is_empty() {
        return;
    }
    if let Err(e) = store::keys::touch(store, &uses).await {
        // Losing a usage timestamp is better than failing requests over it; put them back so
        // the next flush retries.
        tracing::warn!(error = %e, "could not record key use; will retry");
        for (id, at) in uses {
            usage.record(id, at);
        }
    }
}

/// Flushes every `every` until the service is dropped.
pub fn spawn_flusher(store: Store, usage: Weak<Usage>, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(usage) = usage.upgrade() else { break };
            flush(&store, &usage).await;
        }
    });
}
