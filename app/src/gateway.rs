//! What the server functions need from the gateway. The server crate implements this on top
//! of its key service and authenticator and hands it to Leptos as context; this crate cannot
//! depend on the server, and its wasm build must not see any of it.

use crate::{
    error::UiError,
    types::{
        AuditFilter, AuditPage, ConnectionView, CreatedKey, ExpiryChoice, GroupView, KeyDetailView,
        KeyFilter, KeyNoticesView, KeyPageView, KeyPolicyView, KeyView, Me, SessionFilter,
        SessionsPage,
    },
};
use std::sync::Arc;

pub type Result<T> = std::result::Result<T, UiError>;

/// Every method authenticates the current request itself and checks permissions in the
/// service it calls: hiding a button in the UI is never the protection.
#[async_trait::async_trait]
pub trait Gateway: Send + Sync + 'static {
    /// `None` when the request carries no valid session.
    async fn me(&self) -> Result<Option<Me>>;
    async fn login(&self, email: String, password: String) -> Result<()>;
    async fn logout(&self) -> Result<()>;

    /// One page of the key list, as the URL's state selects it.
    async fn list_key_page(&self, filter: KeyFilter) -> Result<KeyPageView>;
    /// The list page's warnings, counted without reading every key.
    async fn key_notices(&self) -> Result<KeyNoticesView>;
    async fn get_key(&self, id: String) -> Result<KeyView>;
    async fn create_key(
        &self,
        name: String,
        groups: Vec<String>,
        expiry: ExpiryChoice,
    ) -> Result<CreatedKey>;
    /// With `activate`, a deactivated key is activated too once it has the new expiry (an
    /// expired one needs it). `accept_reported_secret`: bringing back a secret reported
    /// leaked is what the admin wants.
    async fn configure_key(
        &self,
        id: String,
        name: String,
        groups: Vec<String>,
        expiry: ExpiryChoice,
        activate: bool,
        accept_reported_secret: bool,
    ) -> Result<KeyView>;
    async fn deactivate_key(&self, id: String) -> Result<KeyView>;
    async fn activate_key(&self, id: String, accept_reported_secret: bool) -> Result<KeyView>;
    /// A new secret, shown once; the old one keeps working for `grace_seconds`.
    async fn rotate_key(&self, id: String, grace_seconds: u64) -> Result<CreatedKey>;
    async fn key_policy(&self) -> Result<KeyPolicyView>;

    async fn list_groups(&self) -> Result<Vec<GroupView>>;
    async fn create_group(&self, name: String) -> Result<GroupView>;

    /// The connections the caller can reach.
    async fn list_connections(&self) -> Result<Vec<ConnectionView>>;

    /// A key with its clients, its usage, its newest audit events and exec sessions (admins).
    async fn key_page(&self, id: String) -> Result<KeyDetailView>;
    /// A page of the audit log, newest first (admins).
    async fn audit_log(&self, filter: AuditFilter) -> Result<AuditPage>;
    /// A page of exec sessions, newest first: all for admins, their own for others.
    async fn sessions(&self, filter: SessionFilter) -> Result<SessionsPage>;
}

pub type SharedGateway = Arc<dyn Gateway>;

/// The gateway provided by the server for this request.
pub fn gateway() -> Result<SharedGateway> {
    leptos::prelude::use_context::<SharedGateway>()
        .ok_or_else(|| UiError::Other("server misconfigured: no gateway in context".into()))
}
