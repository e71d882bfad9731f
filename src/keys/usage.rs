//! Key use without a database write per request: a request adds to its cached key's tally
//! (see [`super::tally`]); every interval the flusher writes what each key saw, one
//! transaction per key at most.

use super::{cache::KeyCache, tally::Tally};
use crate::clock;
use crate::store::{
    self,
    usage::{ClientSeen, KeyUse},
    Store,
};
use chrono::{DateTime, NaiveDate};
use std::{collections::HashMap, sync::Weak, time::Duration};
use uuid::Uuid;

pub async fn flush(store: &Store, cache: &KeyCache) {
    let _turn = cache.flush_turn().await;
    let uses = cache.take_uses();
    let mut by_key: HashMap<Uuid, Tally> = uses.by_key.into_iter().collect();
    // Refusals of retired secrets were counted by digest prefix: find their keys.
    for (prefix, tally) in uses.by_prefix {
        match store::usage::keys_with_prefix(store, &format!("{prefix:016x}")).await {
            Ok(ids) => {
                for id in ids {
                    by_key.entry(id).or_default().merge(tally.clone());
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not record refused key uses"),
        }
    }
    let uses: Vec<_> = by_key
        .iter()
        .map(|(id, tally)| (*id, key_use(tally)))
        .collect();
    if uses.is_empty() {
        return;
    }
    if let Err(e) = store::usage::record(store, &uses).await {
        // Losing counts is better than failing requests over them.
        tracing::warn!(error = %e, keys = uses.len(), "could not record key use");
    }
}

fn key_use(tally: &Tally) -> KeyUse {
    let day =
        |n: i64| DateTime::from_timestamp(n.saturating_mul(86_400), 0).map(|t| t.date_naive());
    KeyUse {
        days: tally
            .days
            .iter()
            .filter_map(|d| {
                let date: NaiveDate = day(d.day)?;
                Some((date, count(d.requests), count(d.refused)))
            })
            .collect(),
        clients: tally
            .clients
            .iter()
            .filter_map(|c| {
                Some(ClientSeen {
                    ip: c.ip.to_canonical().to_string(),
                    user_agent: c.user_agent.as_deref().map(str::to_owned),
                    at: DateTime::from_timestamp_millis(c.last_seen_ms)?,
                })
            })
            .collect(),
    }
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
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
