//! Browser sessions (tower-sessions) stored in the gateway's own database, so they survive
//! restarts and work across replicas.

use crate::store::Store;
use async_trait::async_trait;
use std::time::Duration;
use tower_sessions::{
    cookie::{time, SameSite},
    session::{Id, Record},
    session_store::{self, ExpiredDeletion},
    Expiry, SessionManagerLayer, SessionStore,
};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

/// The session key holding the logged-in user's id.
pub const USER_ID: &str = "user_id";
pub const COOKIE_NAME: &str = "hoop_session";
const IDLE_TIMEOUT: time::Duration = time::Duration::hours(12);

/// The session store of whichever backend the gateway runs on.
#[derive(Debug, Clone)]
pub enum Sessions {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Sessions {
    /// Creates the session table if needed and starts sweeping expired sessions.
    pub async fn new(store: &Store) -> Result<Self, sqlx::Error> {
        let sessions = match store {
            Store::Sqlite(sqlite) => {
                let s = SqliteStore::new(sqlite.pool.clone());
                s.migrate().await?;
                Sessions::Sqlite(s)
            }
            Store::Postgres(pool) => {
                let s = PostgresStore::new(pool.clone());
                s.migrate().await?;
                Sessions::Postgres(s)
            }
        };
        let sweeper = sessions.clone();
        tokio::spawn(async move {
            let every = Duration::from_secs(600);
            let result = match sweeper {
                Sessions::Sqlite(s) => s.continuously_delete_expired(every).await,
                Sessions::Postgres(s) => s.continuously_delete_expired(every).await,
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "expired-session sweeper stopped");
            }
        });
        Ok(sessions)
    }

    /// HttpOnly, SameSite=Lax, Secure when the gateway is reached over TLS.
    pub fn layer(self, secure: bool) -> SessionManagerLayer<Sessions> {
        SessionManagerLayer::new(self)
            .with_name(COOKIE_NAME)
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_secure(secure)
            .with_path("/")
            .with_expiry(Expiry::OnInactivity(IDLE_TIMEOUT))
    }
}

#[async_trait]
impl SessionStore for Sessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Sessions::Sqlite(s) => s.create(record).await,
            Sessions::Postgres(s) => s.create(record).await,
        }
    }
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Sessions::Sqlite(s) => s.save(record).await,
            Sessions::Postgres(s) => s.save(record).await,
        }
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Sessions::Sqlite(s) => s.load(id).await,
            Sessions::Postgres(s) => s.load(id).await,
        }
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Sessions::Sqlite(s) => s.delete(id).await,
            Sessions::Postgres(s) => s.delete(id).await,
        }
    }
}
