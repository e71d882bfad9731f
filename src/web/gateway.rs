//! The web app's server functions land here: each authenticates the request, calls the same
//! services the REST API calls, and turns the answer into the UI's types.

use crate::{
    auth::{client_addr, Credential},
    caller::Principal,
    error::Error,
    keys::{
        expiry, listing::KeyQuery, Activation, ApiKey, KeyChanges, KeyStatus, NewApiKey, Rotation,
    },
    policy::KeyPolicy,
    secret::SecretString,
    state::AppState,
    wire::keys::KeyListQuery,
};
use app::{
    error::UiError,
    gateway::{Gateway, Result},
    types::{
        AuditFilter, AuditPage, ConnectionView, CreatedKey, ExpiryChoice, GroupView, KeyDetailView,
        KeyFilter, KeyNoticesView, KeyPageView, KeyPolicyView, KeyState, KeyView, Me,
        SessionFilter, SessionsPage, When, WARN_DAYS,
    },
};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use leptos::prelude::use_context;

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

pub(super) fn ui_error(e: Error) -> UiError {
    match e {
        Error::Unauthenticated | Error::Revoked(_) => UiError::Unauthenticated,
        Error::Forbidden(m) => UiError::Forbidden(m),
        Error::NotFound(m) => UiError::NotFound(m),
        // The services name the request field a rejected value came from; the forms use
        // the same field names, so the error lands under the input that holds the value.
        Error::Conflict(v) | Error::Invalid(v) => match v.field {
            Some(field) => UiError::Field {
                field: field.into_owned(),
                message: v.message,
            },
            None => UiError::Other(v.message),
        },
        Error::BadRequest(m) | Error::TooLarge(m) => UiError::Other(m),
        e @ Error::TooSlow => UiError::Other(e.to_string()),
        Error::TooManyFailures { retry_after } => {
            let secs = crate::error::whole_secs(retry_after);
            UiError::TryLater {
                message: format!(
                    "Too many failed sign-in attempts from your address. Try again in {secs} \
                     second{}.",
                    if secs == 1 { "" } else { "s" }
                ),
                retry_after_secs: secs,
            }
        }
        Error::Busy(message) => UiError::TryLater {
            message,
            retry_after_secs: 1,
        },
        Error::TooManyReports { retry_after } => UiError::TryLater {
            message: e.to_string(),
            retry_after_secs: crate::error::whole_secs(retry_after),
        },
        Error::Unavailable(_) | Error::Internal(_) => {
            // Server functions never turn this into an HTTP response: the cause is logged
            // here, and the page gets no internals.
            e.report();
            UiError::Other("Something went wrong on the server. Try again.".into())
        }
    }
}

pub(super) fn when(at: DateTime<Utc>, now: DateTime<Utc>) -> When {
    When {
        exact: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        relative: relative(at, now),
    }
}

fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds();
    // Ahead: up to the whole minute, so a key made to expire in 7 days reads "in 7 days"
    // rather than the "in 6 days" its first seconds would floor to.
    let (secs, future) = if secs < 0 {
        ((-secs + 59) / 60 * 60, true)
    } else {
        (secs, false)
    };
    let plural = |n: i64, unit: &str| {
        let s = if n == 1 { "" } else { "s" };
        if future {
            format!("in {n} {unit}{s}")
        } else {
            format!("{n} {unit}{s} ago")
        }
    };
    match secs {
        0..=59 => "just now".into(),
        60..=3599 => plural(secs / 60, "minute"),
        3600..=86_399 => plural(secs / 3600, "hour"),
        86_400..=2_591_999 => plural(secs / 86_400, "day"),
        _ => at.format("%Y-%m-%d").to_string(),
    }
}

fn view(key: ApiKey, now: DateTime<Utc>, policy: KeyPolicy) -> KeyView {
    let horizon = expiry::in_days(now, WARN_DAYS);
    let status = match key.status {
        KeyStatus::Active => KeyState::Active,
        KeyStatus::Deactivated => KeyState::Deactivated,
        KeyStatus::Expired => KeyState::Expired,
    };
    let active = status == KeyState::Active;
    // The unused-key policy counts from the last use, or from the creation of a key never
    // used; the hourly check deactivates it once that many days have passed.
    let unused_deactivation = policy
        .deactivate_unused_days
        .filter(|_| active)
        .map(|days| expiry::in_days(key.last_used_at.unwrap_or(key.created_at), days))
        .filter(|due| *due <= horizon)
        .map(|due| when(due.max(now), now));
    KeyView {
        id: key.id.to_string(),
        name: key.name,
        masked_key: key.masked_key,
        status,
        groups: key.groups,
        created_by: key.created_by,
        created_at: when(key.created_at, now),
        deactivated_by: key.deactivated_by,
        deactivated_at: key.deactivated_at.map(|t| when(t, now)),
        last_used_at: key.last_used_at.map(|t| when(t, now)),
        expires_at: key.expires_at.map(|t| when(t, now)),
        expired: key.expires_at.is_some_and(|t| t <= now),
        expires_soon: active && key.expires_at.is_some_and(|t| t <= horizon),
        unused_deactivation,
        previous_masked_key: key.previous_masked_key,
        previous_expires_at: key.previous_expires_at.map(|t| when(t, now)),
        leak_reported_at: key.leak_reported_at.map(|t| when(t, now)),
    }
}

impl WebGateway {
    pub(super) fn view(&self, key: ApiKey) -> KeyView {
        view(key, self.state.keys.now(), self.state.keys.policy())
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
        if let Some(super::PageCaller(principal)) = parts.extensions.get() {
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

    async fn list_keys(&self) -> Result<Vec<KeyView>> {
        let caller = self.caller().await?;
        let keys = self.state.keys.list(&caller).await.map_err(ui_error)?;
        Ok(keys.into_iter().map(|k| self.view(k)).collect())
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
        let groups = crate::directory::list_groups(&self.state.store, &caller)
            .await
            .map_err(ui_error)?;
        Ok(groups
            .into_iter()
            .map(|g| GroupView { name: g.name })
            .collect())
    }

    async fn create_group(&self, name: String) -> Result<GroupView> {
        let caller = self.caller().await?;
        let group = crate::directory::create_group(&self.state.store, &caller, &name)
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
        super::activity::key_page(self, id).await
    }

    async fn audit_log(&self, filter: AuditFilter) -> Result<AuditPage> {
        super::activity::audit_log(self, filter).await
    }

    async fn sessions(&self, filter: SessionFilter) -> Result<SessionsPage> {
        super::activity::sessions(self, filter).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        let now = Utc::now();
        assert_eq!(relative(now, now), "just now");
        assert_eq!(
            relative(now - chrono::Duration::seconds(61), now),
            "1 minute ago"
        );
        assert_eq!(
            relative(now - chrono::Duration::minutes(150), now),
            "2 hours ago"
        );
        assert_eq!(relative(now - chrono::Duration::days(3), now), "3 days ago");
        assert_eq!(relative(now + chrono::Duration::days(7), now), "in 7 days");
        assert_eq!(
            relative(now + chrono::Duration::minutes(61), now),
            "in 1 hour"
        );
    }
}
