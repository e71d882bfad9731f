//! The change feed between replicas: PostgreSQL LISTEN/NOTIFY on one channel. Every key change
//! is announced inside the transaction that makes it (so it is sent only if it commits), and
//! every replica drops that key from its cache when the announcement arrives.
//!
//! A listener that dies or goes quiet makes the cache untrusted until it is listening again:
//! announcements sent meanwhile are lost, so nothing cached before can be believed.

use super::cache::KeyCache;
use sqlx::{postgres::PgListener, PgPool};
use std::{sync::Weak, time::Duration};
use uuid::Uuid;

pub const CHANNEL: &str = "hoop_keys";
/// Every replica pings the channel this often, so a listener hears something regularly...
const PING_EVERY: Duration = Duration::from_millis(500);
/// ...and one that hears nothing for this long is presumed cut off.
const QUIET_LIMIT: Duration = Duration::from_secs(2);
const RETRY_AFTER: Duration = Duration::from_millis(200);
const PING: &str = "ping";

pub fn spawn(pool: PgPool, cache: Weak<KeyCache>) {
    tokio::spawn(ping(pool.clone(), cache.clone()));
    tokio::spawn(listen(pool, cache));
}

async fn listen(pool: PgPool, cache: Weak<KeyCache>) {
    loop {
        match subscribe(&pool).await {
            Ok(mut listener) => {
                let Some(c) = cache.upgrade() else { return };
                c.trust();
                drop(c);
                tracing::debug!("key change feed listening");
                follow(&mut listener, &cache).await;
            }
            Err(e) => tracing::warn!(error = %e, "key change feed: cannot listen; retrying"),
        }
        let Some(c) = cache.upgrade() else { return };
        c.distrust();
        drop(c);
        tokio::time::sleep(RETRY_AFTER).await;
    }
}

async fn subscribe(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Applies announcements until the connection fails or goes quiet.
async fn follow(listener: &mut PgListener, cache: &Weak<KeyCache>) {
    loop {
        let notification = match tokio::time::timeout(QUIET_LIMIT, listener.try_recv()).await {
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
        let Some(cache) = cache.upgrade() else { return };
        match Uuid::parse_str(notification.payload()) {
            Ok(id) => cache.invalidate(id),
            Err(_) if notification.payload() == PING => {}
            Err(_) => tracing::warn!("key change feed: unexpected payload"),
        }
    }
}

async fn ping(pool: PgPool, cache: Weak<KeyCache>) {
    let mut tick = tokio::time::interval(PING_EVERY);
    while cache.strong_count() > 0 {
        tick.tick().await;
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(PING)
            .execute(&pool)
            .await;
        if let Err(e) = sent {
            tracing::debug!(error = %e, "key change feed: ping failed");
        }
    }
}
