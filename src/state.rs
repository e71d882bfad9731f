//! What every handler and server function reaches: the services, built once by
//! [`crate::startup`]. Below the REST API and the web app, which take it; above the services.

use crate::{
    audit::AuditLog, auth::Authenticator, connections::ConnectionService, directory::Directory,
    keys::KeyService, store::Store,
};
use std::sync::Arc;

/// What every handler and server function reaches. One shared allocation: axum clones the
/// state for every request (several times, through the layers), and one reference count is
/// cheaper than the dozen the services hold between them.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

pub struct Services {
    pub store: Store,
    pub keys: KeyService,
    pub auth: Authenticator,
    pub connections: ConnectionService,
    pub directory: Directory,
    pub audit: AuditLog,
    /// Leak reports per client address (unauthenticated, so bounded like failed logins).
    pub leak_reports: Arc<crate::security::throttle::FailureLimiter>,
}

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}
