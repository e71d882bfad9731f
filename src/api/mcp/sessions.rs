//! MCP sessions, bounded: rmcp's in-memory session manager (which forgets a session after its
//! idle time) with a ceiling on how many exist at once, so no client can grow the map without
//! end. The middleware answers 429 before a session is asked for when the map is full; the
//! ceiling here holds even when several `initialize`s race past that check.

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
use tokio::sync::Mutex;

pub struct BoundedSessions {
    inner: LocalSessionManager,
    max: usize,
    /// Creations one at a time, so counting and inserting cannot interleave.
    creating: Mutex<()>,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    #[error("too many MCP sessions are open")]
    Full,
    #[error(transparent)]
    Local(#[from] LocalSessionManagerError),
}

impl BoundedSessions {
    pub fn new(inner: LocalSessionManager, max: usize) -> Self {
        Self {
            inner,
            max,
            creating: Mutex::new(()),
        }
    }

    pub async fn full(&self) -> bool {
        self.inner.sessions.read().await.len() >= self.max
    }

    /// Keeps only the owners of sessions that still exist (others idled out or were closed),
    /// so the owners' map is bounded by the sessions'.
    pub async fn retain_live<V>(&self, owners: &mut std::collections::HashMap<String, V>) {
        let live = self.inner.sessions.read().await;
        owners.retain(|id, _| live.contains_key(id.as_str()));
    }
}

impl SessionManager for BoundedSessions {
    type Error = SessionsError;
    type Transport = WorkerTransport<
        rmcp::transport::streamable_http_server::session::local::LocalSessionWorker,
    >;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let _one_at_a_time = self.creating.lock().await;
        if self.full().await {
            return Err(SessionsError::Full);
        }
        Ok(self.inner.create_session().await?)
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
