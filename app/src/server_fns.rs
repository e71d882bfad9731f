//! Server functions: each gets the gateway from context and calls it, nothing more. They
//! live under `/ui/fn/…`, clear of the REST API under `/api`.

use crate::{
    error::UiError,
    types::{ConnectionView, CreatedKey, GroupView, KeyView, Me},
};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::gateway::gateway;

/// Only same-site paths: `next` comes from the URL and must not send users elsewhere.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

/// Whether this call is a plain HTML form post (no JavaScript), which expects a redirect.
#[cfg(feature = "ssr")]
fn is_plain_form() -> bool {
    use_context::<http::request::Parts>()
        .and_then(|p| p.headers.get(http::header::ACCEPT).cloned())
        .and_then(|a| a.to_str().ok().map(|a| a.contains("text/html")))
        .unwrap_or(false)
}

/// After a form post made without JavaScript, go to `path`; with JavaScript the page updates
/// in place instead.
#[cfg(feature = "ssr")]
fn redirect_plain_form_to(path: &str) {
    if is_plain_form() {
        leptos_axum::redirect(path);
    }
}

/// Set on a server function's answer when the caller failed to authenticate, whatever the
/// status (a plain form post gets a redirect): the gateway's throttle counts it, then drops it.
#[cfg(feature = "ssr")]
pub const AUTH_FAILED_HEADER: &str = "x-hoop-auth-failed";

/// Gives a failed call the HTTP status that says what went wrong (a plain form post keeps its
/// redirect back to the form, which shows the error).
#[cfg(feature = "ssr")]
fn answer<T>(result: Result<T, UiError>) -> Result<T, UiError> {
    if let (Err(UiError::Unauthenticated | UiError::WrongCredentials), Some(response)) =
        (&result, use_context::<leptos_axum::ResponseOptions>())
    {
        response.insert_header(
            http::HeaderName::from_static(AUTH_FAILED_HEADER),
            http::HeaderValue::from_static("1"),
        );
    }
    if let (Err(e), false) = (&result, is_plain_form()) {
        let status = match e {
            UiError::Unauthenticated | UiError::WrongCredentials => http::StatusCode::UNAUTHORIZED,
            UiError::Forbidden(_) => http::StatusCode::FORBIDDEN,
            UiError::NotFound(_) => http::StatusCode::NOT_FOUND,
            UiError::Field { .. } => http::StatusCode::UNPROCESSABLE_ENTITY,
            UiError::Other(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
        };
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(status);
        }
    }
    result
}

#[server(prefix = "/ui/fn", endpoint = "me")]
pub async fn get_me() -> Result<Option<Me>, UiError> {
    answer(gateway()?.me().await)
}

#[server(prefix = "/ui/fn", endpoint = "login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<(), UiError> {
    answer(gateway()?.login(email, password).await)?;
    leptos_axum::redirect(&safe_next(next.as_deref()));
    Ok(())
}

#[server(prefix = "/ui/fn", endpoint = "logout")]
pub async fn logout() -> Result<(), UiError> {
    gateway()?.logout().await?;
    leptos_axum::redirect("/login");
    Ok(())
}

#[server(prefix = "/ui/fn", endpoint = "list_keys")]
pub async fn list_keys() -> Result<Vec<KeyView>, UiError> {
    answer(gateway()?.list_keys().await)
}

#[server(prefix = "/ui/fn", endpoint = "get_key")]
pub async fn get_key(id: String) -> Result<KeyView, UiError> {
    answer(gateway()?.get_key(id).await)
}

#[server(prefix = "/ui/fn", endpoint = "create_key")]
pub async fn create_key(name: String, groups: Option<Vec<String>>) -> Result<CreatedKey, UiError> {
    answer(
        gateway()?
            .create_key(name, groups.unwrap_or_default())
            .await,
    )
}

#[server(prefix = "/ui/fn", endpoint = "configure_key")]
pub async fn configure_key(
    id: String,
    name: String,
    groups: Option<Vec<String>>,
) -> Result<KeyView, UiError> {
    let key = answer(
        gateway()?
            .configure_key(id, name, groups.unwrap_or_default())
            .await,
    )?;
    leptos_axum::redirect("/settings/api-keys");
    Ok(key)
}

#[server(prefix = "/ui/fn", endpoint = "deactivate_key")]
pub async fn deactivate_key(id: String) -> Result<KeyView, UiError> {
    let key = answer(gateway()?.set_key_active(id, false).await)?;
    redirect_plain_form_to("/settings/api-keys");
    Ok(key)
}

#[server(prefix = "/ui/fn", endpoint = "activate_key")]
pub async fn activate_key(id: String) -> Result<KeyView, UiError> {
    let key = answer(gateway()?.set_key_active(id, true).await)?;
    redirect_plain_form_to("/settings/api-keys");
    Ok(key)
}

#[server(prefix = "/ui/fn", endpoint = "list_groups")]
pub async fn list_groups() -> Result<Vec<GroupView>, UiError> {
    answer(gateway()?.list_groups().await)
}

#[server(prefix = "/ui/fn", endpoint = "create_group")]
pub async fn create_group(name: String) -> Result<GroupView, UiError> {
    answer(gateway()?.create_group(name).await)
}

#[server(prefix = "/ui/fn", endpoint = "list_connections")]
pub async fn list_connections() -> Result<Vec<ConnectionView>, UiError> {
    answer(gateway()?.list_connections().await)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(
            safe_next(Some("/settings/api-keys?x=1")),
            "/settings/api-keys?x=1"
        );
        for outside in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "",
        ] {
            assert_eq!(safe_next(Some(outside)), "/", "{outside}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
