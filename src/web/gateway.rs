//! The web app's server functions land here: each authenticates the request, calls the same
//! services the REST API calls, and turns the answer into the UI's types.

use super::views::{key_view, ui_error};
use crate::{
    auth::{client_addr, Credential},
    caller::Principal,
    error::Error,
    keys::{
        expiry, listing::KeyQuery, Activation, ApiKey, KeyChanges, KeyStatus, NewApiKey, Rotation,
    },
    secret::SecretString,
    state::AppState,
    wire::keys::KeyListQuery,
};
use app::{
    error::UiError,
    gateway::{Gateway, Result},
    types::{
        AuditFilter, AuditPage, ConnectionView, CreatedKey, ExpiryChoice, GroupView, KeyDetailView,
        KeyFilter, KeyNoticesView, KeyPageView, KeyPolicyView, KeyView, Me, SessionFilter,
        SessionsPage, WARN_DAYS,
    },
};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use leptos::prelude::use_context;

/// Who the page guard found calling, handed on to the page's server functions so that a
/// page is authenticated once, not again by each function it renders. Private to `web`:
/// only its guard can put one on a request.
#[derive(Clone)]
pub(super) struct PageCaller(pub(super) Principal);

pub struct WebGateway {
    pub state: AppState,
}

fn parts() -> Result<Parts> {
    use_context::<Parts>().ok_or_else(|| UiError::Other("no request in context".into()))
}

fn session() -> Result<tower_sessions::Session> {
    parts()?
        .extensions
        .get::<tower_sessions::Session>()
        .cloned()
        .ok_or_else(|| UiError::Other("no session layer".into()))
}

impl WebGateway {
    pub(super) fn view(&self, key: ApiKey) -> KeyView {
        key_view(key, self.state.keys.now(), self.state.keys.policy())
    }

    /// The picker's choice as an `expires_at`, from the key service's clock (the one its
    /// limits are checked by). `None`: keep the current expiry.
    fn expires_at(&self, choice: ExpiryChoice) -> Result<Option<Option<DateTime<Utc>>>> {
        let now = self.state.keys.now();
        Ok(match choice {
            ExpiryChoice::Keep => None,
            ExpiryChoice::Never => Some(None),
            ExpiryChoice::Days(days) => Some(Some(expiry::in_days(now, days))),
            ExpiryChoice::Date(date) => Some(Some(expiry::start_of_day(&date).map_err(ui_error)?)),
        })
    }

    /// Who is calling: on a page, whom the guard found; for a server function called on its
    /// own, the one check of its request.
    pub(super) async fn caller(&self) -> Result<Principal> {
        let parts = parts()?;
        if let Some(PageCaller(principal)) = parts.extensions.get() {
            return Ok(principal.clone());
        }
        let credential = Credential::collect(&parts).await.map_err(ui_error)?;
        self.state
            .auth
            .authenticate_request(&credential, &parts)
            .await
            .map_err(ui_error)
    }
}

#[async_trait::async_trait]
impl Gateway for WebGateway {
    async fn me(&self) -> Result<Option<Me>> {
        match self.caller().await {
            Ok(p) => Ok(Some(Me {
                name: p.actor().to_owned(),
                email: match &p.identity {
                    crate::caller::Identity::User { email, .. } => Some(email.clone()),
                    _ => None,
                },
                org_name: p.org_name.to_string(),
                is_admin: p.is_admin(),
            })),
            Err(UiError::Unauthenticated) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn login(&self, email: String, password: String) -> Result<()> {
        let password = SecretString::new(password);
        match self
            .state
            .auth
            .login_session(&session()?, &email, &password, client_addr(&parts()?))
            .await
        {
            Ok(()) => Ok(()),
            Err(Error::Unauthenticated) => Err(UiError::WrongCredentials),
            Err(e) => Err(ui_error(e)),
        }
    }

    async fn logout(&self) -> Result<()> {
        session()?
            .flush()
            .await
            .map_err(|e| ui_error(Error::Internal(e.into())))
    }

    async fn list_key_page(&self, filter: KeyFilter) -> Result<KeyPageView> {
        let caller = self.caller().await?;
        caller.require_admin().map_err(ui_error)?;
        // Blank fields of the form are read as not given by the parse, as over REST.
        let raw = KeyListQuery {
            limit: None,
            cursor: Some(filter.cursor),
            q: Some(filter.q),
            status: Some(filter.status),
            group: Some(filter.group),
            sort: Some(filter.sort),
        };
        let query = KeyQuery::parse(&raw).map_err(|v| ui_error(Error::Invalid(v)))?;
        let page = self
            .state
            .keys
            .page(&caller, &query)
            .await
            .map_err(ui_error)?;
        Ok(KeyPageView {
            keys: page.items.into_iter().map(|k| self.view(k)).collect(),
            next_cursor: page.next_cursor,
        })
    }

    async fn key_notices(&self) -> Result<KeyNoticesView> {
        let caller = self.caller().await?;
        let notices = self
            .state
            .keys
            .notices(&caller, WARN_DAYS)
            .await
            .map_err(ui_error)?;
        Ok(KeyNoticesView {
            expiring: notices.expiring,
            unused: notices.unused,
            unused_names: notices.unused_names,
            unused_days: self.state.keys.policy().deactivate_unused_days,
        })
    }

    async fn get_key(&self, id: String) -> Result<KeyView> {
        let caller = self.caller().await?;
        let key = self.state.keys.get(&caller, &id).await.map_err(ui_error)?;
        Ok(self.view(key))
    }

    async fn create_key(
        &self,
        name: String,
        groups: Vec<String>,
        expiry: ExpiryChoice,
    ) -> Result<CreatedKey> {
        let caller = self.caller().await?;
        let expires_at = self.expires_at(expiry)?.flatten();
        let (key, secret) = self
            .state
            .keys
            .create(
                &caller,
                NewApiKey {
                    name,
                    groups,
                    expires_at,
                },
            )
            .await
            .map_err(ui_error)?;
        Ok(CreatedKey {
            key: self.view(key),
            secret: secret.expose().to_owned(),
        })
    }

    async fn configure_key(
        &self,
        id: String,
        name: String,
        groups: Vec<String>,
        expiry: ExpiryChoice,
        activate: bool,
        accept_reported_secret: bool,
    ) -> Result<KeyView> {
        let caller = self.caller().await?;
        let changes = KeyChanges {
            name: Some(name),
            groups: Some(groups),
            expires_at: self.expires_at(expiry)?,
            accept_reported_secret,
        };
        // The PUT first: it gives an expired key its new expiry, which makes an active one
        // work again and lets a deactivated one be activated (an activation without a new
        // expiry refuses a key past its old one).
        let key = self
            .state
            .keys
            .configure(&caller, &id, changes)
            .await
            .map_err(ui_error)?;
        let key = if activate && key.status == KeyStatus::Deactivated {
            let id = key.id.to_string();
            self.state
                .keys
                .activate(
                    &caller,
                    &id,
                    Activation {
                        expires_at: None,
                        accept_reported_secret,
                    },
                )
                .await
                .map_err(ui_error)?
        } else {
            key
        };
        Ok(self.view(key))
    }

    async fn deactivate_key(&self, id: String) -> Result<KeyView> {
        let caller = self.caller().await?;
        let key = self.state.keys.deactivate(&caller, &id).await;
        Ok(self.view(key.map_err(ui_error)?))
    }

    async fn activate_key(&self, id: String, accept_reported_secret: bool) -> Result<KeyView> {
        let caller = self.caller().await?;
        let activation = Activation {
            expires_at: None,
            accept_reported_secret,
        };
        let key = self.state.keys.activate(&caller, &id, activation).await;
        Ok(self.view(key.map_err(ui_error)?))
    }

    async fn rotate_key(&self, id: String, grace_seconds: u64) -> Result<CreatedKey> {
        let caller = self.caller().await?;
        let (key, secret) = self
            .state
            .keys
            .rotate(&caller, &id, Rotation { grace_seconds })
            .await
            .map_err(ui_error)?;
        Ok(CreatedKey {
            key: self.view(key),
            secret: secret.expose().to_owned(),
        })
    }

    async fn key_policy(&self) -> Result<KeyPolicyView> {
        self.caller().await?.require_admin().map_err(ui_error)?;
        let policy = self.state.keys.policy();
        let now = self.state.keys.now();
        // 00:00 UTC today has passed: the first date that is still ahead is tomorrow.
        let tomorrow = now.date_naive() + chrono::Days::new(1);
        Ok(KeyPolicyView {
            max_lifetime_days: policy.max_lifetime_days,
            deactivate_unused_days: policy.deactivate_unused_days,
            min_date: tomorrow.to_string(),
            max_date: expiry::latest_date(now, policy).map(|d| d.to_string()),
        })
    }

    async fn list_groups(&self) -> Result<Vec<GroupView>> {
        let caller = self.caller().await?;
        let groups = self
            .state
            .directory
            .list_groups(&caller)
            .await
            .map_err(ui_error)?;
        Ok(groups
            .into_iter()
            .map(|g| GroupView { name: g.name })
            .collect())
    }

    async fn create_group(&self, name: String) -> Result<GroupView> {
        let caller = self.caller().await?;
        let group = self
            .state
            .directory
            .create_group(&caller, &name)
            .await
            .map_err(ui_error)?;
        Ok(GroupView { name: group.name })
    }

    async fn list_connections(&self) -> Result<Vec<ConnectionView>> {
        let caller = self.caller().await?;
        let list = self
            .state
            .connections
            .list(&caller)
            .await
            .map_err(ui_error)?;
        Ok(list
            .into_iter()
            .map(|c| ConnectionView {
                name: c.name,
                kind: c.kind,
                access_groups: c.access_groups,
                privileged: c.privileged,
            })
            .collect())
    }

    async fn key_page(&self, id: String) -> Result<KeyDetailView> {
        super::activity::key_page(&self.state, &self.caller().await?, id).await
    }

    async fn audit_log(&self, filter: AuditFilter) -> Result<AuditPage> {
        super::activity::audit_log(&self.state, &self.caller().await?, filter).await
    }

    async fn sessions(&self, filter: SessionFilter) -> Result<SessionsPage> {
        super::activity::sessions(&self.state, &self.caller().await?, filter).await
    }
}
