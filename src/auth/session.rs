//! Browser sessions (tower-sessions) stored in the gateway's own database, so they survive
//! restarts and work across replicas.
//!
//! A session is stored under a digest of the id its cookie carries, never the id itself: whoever
//! can read the sessions table (a backup, a replica, a leaked dump) finds nothing to present as a
//! cookie, just as stored API keys are digests.

use crate::store::{sessions::SessionTable, Store};
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::time::Duration;
use tower_sessions::{
    cookie::{time, SameSite},
    session::{Id, Record},
    session_store::{self, ExpiredDeletion},
    Expiry, SessionManagerLayer, SessionStore,
};

/// The session key holding the logged-in user's id.
pub const USER_ID: &str = "user_id";
pub const COOKIE_NAME: &str = "hoop_session";
const IDLE_TIMEOUT: time::Duration = time::Duration::hours(12);

/// The gateway's session store: the database's table, keyed by [`stored_id`].
#[derive(Debug, Clone)]
pub struct Sessions(SessionTable);

/// The id a session is stored under: SHA-256 of the cookie's id (128 random bits, so a digest
/// needs no key or salt to be irreversible), cut to an id's 128 bits.
fn stored_id(id: &Id) -> Id {
    let digest = Sha256::new()
        .chain_update(b"hoop session id\0")
        .chain_update(id.0.to_le_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Id(i128::from_le_bytes(bytes))
}

/// `record` as stored: under the digest of its id, which the serialized record repeats.
fn stored(record: &Record) -> Record {
    Record {
        id: stored_id(&record.id),
        ..record.clone()
    }
}

impl Sessions {
    /// Creates the session table if needed and starts sweeping expired sessions.
    pub async fn new(store: &Store) -> Result<Self, sqlx::Error> {
        let table = SessionTable::open(store).await?;
        let sweeper = table.clone();
        tokio::spawn(async move {
            let every = Duration::from_secs(600);
            if let Err(e) = sweeper.continuously_delete_expired(every).await {
                tracing::warn!(error = %e, "expired-session sweeper stopped");
            }
        });
        Ok(Sessions(table))
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

/// tower-sessions hands the store the cookie's id; the backend only ever sees its digest, and
/// what it loads is handed back under the cookie's id.
#[async_trait]
impl SessionStore for Sessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let mut row = stored(record);
            let wanted = row.id;
            self.0.create(&mut row).await?;
            if row.id == wanted {
                return Ok(());
            }
            // The digest was taken, so the backend stored the session under an id of its own
            // choosing, which no cookie id leads to: remove that and start from a new cookie id.
            self.0.delete(&row.id).await?;
            record.id = Id::default();
        }
    }
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.0.save(&stored(record)).await
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let record = self.0.load(&stored_id(id)).await?;
        Ok(record.map(|record| Record { id: *id, ..record }))
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.0.delete(&stored_id(id)).await
    }
}
