//! Browser sessions' table, kept by tower-sessions' store for whichever backend the gateway runs
//! on. What goes in (the digests of session ids) is decided above, in `auth::session`.

use super::Store;
use async_trait::async_trait;
use tower_sessions::{
    session::{Id, Record},
    session_store::{self, ExpiredDeletion},
    SessionStore,
};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

#[derive(Debug, Clone)]
pub struct SessionTable(Backend);

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl SessionTable {
    /// Creates the table if needed.
    pub async fn open(store: &Store) -> Result<Self, sqlx::Error> {
        Ok(SessionTable(match store {
            Store::Sqlite(sqlite) => {
                let s = SqliteStore::new(sqlite.pool.clone());
                s.migrate().await?;
                Backend::Sqlite(s)
            }
            Store::Postgres(pool) => {
                let s = PostgresStore::new(pool.clone());
                s.migrate().await?;
                Backend::Postgres(s)
            }
        }))
    }
}

#[async_trait]
impl ExpiredDeletion for SessionTable {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match &self.0 {
            Backend::Sqlite(s) => s.delete_expired().await,
            Backend::Postgres(s) => s.delete_expired().await,
        }
    }
}

#[async_trait]
impl SessionStore for SessionTable {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match &self.0 {
            Backend::Sqlite(s) => s.create(record).await,
            Backend::Postgres(s) => s.create(record).await,
        }
    }
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match &self.0 {
            Backend::Sqlite(s) => s.save(record).await,
            Backend::Postgres(s) => s.save(record).await,
        }
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match &self.0 {
            Backend::Sqlite(s) => s.load(id).await,
            Backend::Postgres(s) => s.load(id).await,
        }
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match &self.0 {
            Backend::Sqlite(s) => s.delete(id).await,
            Backend::Postgres(s) => s.delete(id).await,
        }
    }
}
