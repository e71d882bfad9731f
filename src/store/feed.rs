//! How replicas that share one database hear each other's committed changes: PostgreSQL
//! LISTEN/NOTIFY. A SQLite file is served by one gateway process ([`super::file_lock`]), which
//! makes every change itself: it has no one to hear and no feed.

use super::Store;
use sqlx::{
    postgres::{PgListener, PgNotification},
    PgPool,
};

/// Notices to and from every replica on the database.
#[derive(Debug, Clone)]
pub struct Feed {
    pool: PgPool,
}

/// A connection listening on some channels, until it fails.
pub struct Subscription {
    listener: PgListener,
}

/// One message heard on a channel.
#[derive(Debug)]
pub struct Notice(PgNotification);

impl Store {
    /// The feed other replicas' changes arrive on; `None` when this process is the only one
    /// that can change the database, so that what it knows it learned from itself.
    pub fn feed(&self) -> Option<Feed> {
        match self {
            Store::Sqlite(_) => None,
            Store::Postgres(pool) => Some(Feed { pool: pool.clone() }),
        }
    }
}

impl Feed {
    /// Starts listening on a connection of its own; whatever commits after this returns is
    /// heard.
    pub async fn subscribe(&self, channels: &[&str]) -> Result<Subscription, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen_all(channels.iter().copied()).await?;
        Ok(Subscription { listener })
    }

    /// Sends `payload` on `channel` at once (outside any transaction).
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

impl Subscription {
    /// The next notice, in commit order whatever its channel; `None` when the connection was
    /// lost (what was sent meanwhile is lost with it).
    pub async fn next(&mut self) -> Result<Option<Notice>, sqlx::Error> {
        Ok(self.listener.try_recv().await?.map(Notice))
    }
}

impl Notice {
    pub fn channel(&self) -> &str {
        self.0.channel()
    }

    pub fn payload(&self) -> &str {
        self.0.payload()
    }
}
