//! Server functions: each gets the gateway from context and calls it, nothing more. They
//! live under `/ui/fn/…`, clear of the REST API under `/api`.

use crate::{
    error::UiError,
    types::{
        AuditPage, ConnectionView, CreatedKey, GroupView, KeyDetailView, KeyFilter, KeyNoticesView,
        KeyPageView, KeyPolicyView, KeyView, Me, SessionsPage,
    },
};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::{
    gateway::gateway,
    types::{AuditFilter, ExpiryChoice, SessionFilter},
};

/// Where to go after logging in. `next` comes from the URL and must not send users elsewhere,
/// so it is read the way a browser will read the redirect (WHATWG URL parsing: tabs and newlines
/// dropped, `\` taken for `/`) against this site, and kept only if it stays on this site. The
/// answer is the parser's own rendering of the path, query and fragment: what was checked is
/// what the browser gets, and control characters come out percent-encoded, a valid header.
#[cfg(feature = "ssr")]
pub fn safe_next(next: Option<&str>) -> String {
    let home = || "/".to_owned();
    let Ok(site) = url::Url::parse("http://this-gateway.invalid/") else {
        return home();
    };
    let Some(Ok(to)) = next.map(|n| site.join(n)) else {
        return home();
    };
    let path = &to[url::Position::BeforePath..];
    // The path alone must lead where the whole URL did: `.//evil.example` resolves to the
    // path `//evil.example`, which on its own names another host.
    match site.join(path) {
        Ok(again) if to.origin() == site.origin() && again == to => path.to_owned(),
        _ => home(),
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

/// Whether a form's checkbox was ticked (sent, with any value but empty).
#[cfg(feature = "ssr")]
fn checked(field: Option<String>) -> bool {
    field.is_some_and(|v| !v.is_empty())
}

/// After a form post made without JavaScript, go to `path`; with JavaScript the page updates
/// in place instead.
#[cfg(feature = "ssr")]
fn redirect_plain_form_to(path: &str) {
    if is_plain_form() {
        leptos_axum::redirect(path);
    }
}

/// Gives a failed call the HTTP status that says what went wrong (a plain form post keeps its
/// redirect back to the form, which shows the error).
#[cfg(feature = "ssr")]
fn answer<T>(result: Result<T, UiError>) -> Result<T, UiError> {
    if let (
        Err(UiError::TryLater {
            retry_after_secs, ..
        }),
        Some(response),
    ) = (&result, use_context::<leptos_axum::ResponseOptions>())
    {
        response.insert_header(http::header::RETRY_AFTER, (*retry_after_secs).into());
    }
    if let (Err(e), false) = (&result, is_plain_form()) {
        let status = match e {
            UiError::Unauthenticated | UiError::WrongCredentials => http::StatusCode::UNAUTHORIZED,
            UiError::Forbidden(_) => http::StatusCode::FORBIDDEN,
            UiError::NotFound(_) => http::StatusCode::NOT_FOUND,
            UiError::Field { .. } => http::StatusCode::UNPROCESSABLE_ENTITY,
            UiError::TryLater { .. } => http::StatusCode::TOO_MANY_REQUESTS,
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

#[server(prefix = "/ui/fn", endpoint = "list_key_page")]
pub async fn list_key_page(filter: KeyFilter) -> Result<KeyPageView, UiError> {
    answer(gateway()?.list_key_page(filter).await)
}

#[server(prefix = "/ui/fn", endpoint = "key_notices")]
pub async fn key_notices() -> Result<KeyNoticesView, UiError> {
    answer(gateway()?.key_notices().await)
}

#[server(prefix = "/ui/fn", endpoint = "get_key")]
pub async fn get_key(id: String) -> Result<KeyView, UiError> {
    answer(gateway()?.get_key(id).await)
}

/// The expiry picker's fields (see `ExpiryPicker`), as the service's `expires_at` field.
#[cfg(feature = "ssr")]
fn expiry(
    choice: Option<String>,
    date: Option<String>,
    absent: ExpiryChoice,
) -> Result<ExpiryChoice, UiError> {
    ExpiryChoice::from_form(choice.as_deref(), date.as_deref(), absent).map_err(|message| {
        UiError::Field {
            field: "expires_at".into(),
            message,
        }
    })
}

/// `expires` is the picker's choice (`never`, a number of days, `date`); `expires_date` is read
/// only for `date`. Without them the key never expires, as before expiry existed.
#[server(prefix = "/ui/fn", endpoint = "create_key")]
pub async fn create_key(
    name: String,
    groups: Option<Vec<String>>,
    expires: Option<String>,
    expires_date: Option<String>,
) -> Result<CreatedKey, UiError> {
    let result = match expiry(expires, expires_date, ExpiryChoice::Never) {
        Ok(expiry) => {
            gateway()?
                .create_key(name, groups.unwrap_or_default(), expiry)
                .await
        }
        Err(e) => Err(e),
    };
    answer(result)
}

/// As [`create_key`], with `keep` (the default) for the current expiry; `activate` (sent by
/// the page reached through "Activate API key") activates a deactivated key as well.
#[server(prefix = "/ui/fn", endpoint = "configure_key")]
pub async fn configure_key(
    id: String,
    name: String,
    groups: Option<Vec<String>>,
    expires: Option<String>,
    expires_date: Option<String>,
    activate: Option<String>,
    accept_reported_secret: Option<String>,
) -> Result<KeyView, UiError> {
    let result = match expiry(expires, expires_date, ExpiryChoice::Keep) {
        Ok(expiry) => {
            gateway()?
                .configure_key(
                    id,
                    name,
                    groups.unwrap_or_default(),
                    expiry,
                    checked(activate),
                    checked(accept_reported_secret),
                )
                .await
        }
        Err(e) => Err(e),
    };
    let key = answer(result)?;
    leptos_axum::redirect("/settings/api-keys");
    Ok(key)
}

/// Rotation shows the new secret once, in the page: like creating, it needs JavaScript.
#[server(prefix = "/ui/fn", endpoint = "rotate_key")]
pub async fn rotate_key(id: String, grace_seconds: Option<u64>) -> Result<CreatedKey, UiError> {
    answer(gateway()?.rotate_key(id, grace_seconds.unwrap_or(0)).await)
}

#[server(prefix = "/ui/fn", endpoint = "key_policy")]
pub async fn key_policy() -> Result<KeyPolicyView, UiError> {
    answer(gateway()?.key_policy().await)
}

#[server(prefix = "/ui/fn", endpoint = "deactivate_key")]
pub async fn deactivate_key(id: String) -> Result<KeyView, UiError> {
    let key = answer(gateway()?.deactivate_key(id).await)?;
    redirect_plain_form_to("/settings/api-keys");
    Ok(key)
}

/// `accept_reported_secret`: the checkbox a key reported leaked shows.
#[server(prefix = "/ui/fn", endpoint = "activate_key")]
pub async fn activate_key(
    id: String,
    accept_reported_secret: Option<String>,
) -> Result<KeyView, UiError> {
    let accept = checked(accept_reported_secret);
    let key = answer(gateway()?.activate_key(id, accept).await)?;
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

#[server(prefix = "/ui/fn", endpoint = "key_page")]
pub async fn key_page(id: String) -> Result<KeyDetailView, UiError> {
    answer(gateway()?.key_page(id).await)
}

/// The filters come from the page's URL: blank ones are no filter. Flat arguments, each
/// optional, so a call with none of them is a valid request.
#[server(prefix = "/ui/fn", endpoint = "audit_log")]
pub async fn audit_log(
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    before: Option<i64>,
) -> Result<AuditPage, UiError> {
    let filter = AuditFilter {
        actor,
        action,
        target,
        before,
    };
    answer(gateway()?.audit_log(filter).await)
}

#[server(prefix = "/ui/fn", endpoint = "list_sessions")]
pub async fn list_sessions(
    caller: Option<String>,
    connection: Option<String>,
    before: Option<String>,
) -> Result<SessionsPage, UiError> {
    let filter = SessionFilter {
        caller,
        connection,
        before,
    };
    answer(gateway()?.sessions(filter).await)
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(
            safe_next(Some("/settings/api-keys?x=1#top")),
            "/settings/api-keys?x=1#top"
        );
        for outside in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "\t//evil.example",
            "javascript:alert(1)",
            ".//evil.example",
            "/.//evil.example",
        ] {
            assert_eq!(safe_next(Some(outside)), "/", "{outside:?}");
        }
        assert_eq!(safe_next(None), "/");
        // Control characters come out percent-encoded: a header value can hold the answer.
        assert_eq!(safe_next(Some("/a\u{1}b")), "/a%01b");
    }
}
