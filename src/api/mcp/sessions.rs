//! MCP sessions, bounded: rmcp's in-memory session manager (which forgets a session after its
//! idle time) with a ceiling on how many exist at once, so no client can grow the map without
//! end, and a ceiling per caller, so no caller can take them all. A new session never waits
//! for room: past its caller's ceiling it replaces that caller's least recently used session,
//! and on a full gateway the least recently used session of the caller holding the most. So
//! one caller pinging its sessions cannot lock everyone else out, and the bounds hold even
//! when several `initialize`s race (creations run one at a time).
//!
//! Each session belongs to the caller that opened it (recorded here, as it is created, from
//! the request being served): only that caller may use or close it.

use crate::caller::{Identity, Principal};
use futures_util::Stream;
use rmcp::{
    model::{ClientJsonRpcMessage, ServerJsonRpcMessage},
    transport::{
        streamable_http_server::session::{
            local::{LocalSessionManager, LocalSessionManagerError},
            ServerSseMessage, SessionId, SessionManager,
        },
        WorkerTransport,
    },
};
use std::{collections::HashMap, time::Instant};
use tokio::sync::Mutex;

/// The identity a session belongs to: the key, or the user, that opened it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    Key(uuid::Uuid),
    User(uuid::Uuid),
    Legacy,
}

impl Owner {
    pub fn of(principal: &Principal) -> Self {
        match principal.identity {
            Identity::ApiKey { id, .. } => Owner::Key(id),
            Identity::User { id, .. } => Owner::User(id),
            Identity::LegacyApiKey => Owner::Legacy,
        }
    }
}

tokio::task_local! {
    /// Who is opening a session: set around the request being served, read by
    /// `create_session`, which rmcp calls in that request's own future.
    static OPENER: Owner;
}

/// Runs `serve` (a request without a session) with `owner` as the opener of any session it
/// creates.
pub async fn opened_by<F: std::future::Future>(owner: Owner, serve: F) -> F::Output {
    OPENER.scope(owner, serve).await
}

struct Held {
    owner: Owner,
    used: Instant,
}

pub struct BoundedSessions {
    inner: LocalSessionManager,
    max: usize,
    per_caller: usize,
    /// Every live session's owner and last use; creations hold it throughout, so counting,
    /// evicting and inserting cannot interleave.
    held: Mutex<HashMap<String, Held>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    /// Never expected: every request that can open a session runs under `opened_by`. Refused
    /// rather than opening a session nobody could be checked against.
    #[error("an MCP session was opened outside a request")]
    NoOpener,
    #[error(transparent)]
    Local(#[from] LocalSessionManagerError),
}

impl BoundedSessions {
    pub fn new(inner: LocalSessionManager, max: usize, per_caller: usize) -> Self {
        Self {
            inner,
            max: max.max(1),
            per_caller: per_caller.max(1),
            held: Mutex::default(),
        }
    }

    /// Whether `owner` holds session `id`; if so, records its use now.
    pub async fn use_as(&self, id: &str, owner: &Owner) -> bool {
        match self.held.lock().await.get_mut(id) {
            Some(held) if held.owner == *owner => {
                held.used = Instant::now();
                true
            }
            _ => false,
        }
    }

    /// Forgets sessions that idled out or were closed.
    async fn prune(&self, held: &mut HashMap<String, Held>) {
        let live = self.inner.sessions.read().await;
        held.retain(|id, _| live.contains_key(id.as_str()));
    }

    /// Closes the least recently used session of `owner`.
    async fn evict_from(&self, held: &mut HashMap<String, Held>, owner: &Owner) {
        let oldest = held
            .iter()
            .filter(|(_, h)| h.owner == *owner)
            .min_by_key(|(_, h)| h.used)
            .map(|(id, _)| id.clone());
        if let Some(id) = oldest {
            held.remove(&id);
            if let Err(e) = self.inner.close_session(&SessionId::from(id)).await {
                tracing::warn!(error = %e, "could not close an evicted MCP session");
            }
        }
    }

    /// The caller holding the most sessions; among equals, the one whose least recently used
    /// session has been idle longest.
    fn biggest_holder(held: &HashMap<String, Held>) -> Option<Owner> {
        let mut by_owner: HashMap<&Owner, (usize, Instant)> = HashMap::new();
        for h in held.values() {
            let entry = by_owner.entry(&h.owner).or_insert((0, h.used));
            entry.0 += 1;
            entry.1 = entry.1.min(h.used);
        }
        by_owner
            .into_iter()
            .max_by(|(_, (n1, lru1)), (_, (n2, lru2))| n1.cmp(n2).then(lru2.cmp(lru1)))
            .map(|(owner, _)| owner.clone())
    }
}

impl SessionManager for BoundedSessions {
    type Error = SessionsError;
    type Transport = WorkerTransport<
        rmcp::transport::streamable_http_server::session::local::LocalSessionWorker,
    >;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let owner = OPENER
            .try_with(Owner::clone)
            .map_err(|_| SessionsError::NoOpener)?;
        let mut held = self.held.lock().await;
        self.prune(&mut held).await;
        let own = held.values().filter(|h| h.owner == owner).count();
        if own >= self.per_caller {
            self.evict_from(&mut held, &owner).await;
        }
        while held.len() >= self.max {
            let Some(biggest) = Self::biggest_holder(&held) else {
                break;
            };
            self.evict_from(&mut held, &biggest).await;
        }
        let (id, transport) = self.inner.create_session().await?;
        let used = Instant::now();
        held.insert(id.to_string(), Held { owner, used });
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        Ok(self.inner.initialize_session(id, message).await?)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.inner.has_session(id).await?)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.held.lock().await.remove(id.as_ref());
        Ok(self.inner.close_session(id).await?)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.create_stream(id, message).await?)
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        Ok(self.inner.accept_message(id, message).await?)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.create_standalone_stream(id).await?)
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.resume(id, last_event_id).await?)
    }
}
