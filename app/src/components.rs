//! Small pieces shared by the pages.

use crate::{error::UiError, types::When};
use leptos::prelude::*;

/// True once the wasm client has taken over the page. Effects run only in the browser, so on
/// the server (and without JavaScript) this stays false.
pub fn use_hydrated() -> ReadSignal<bool> {
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    hydrated
}

#[component]
pub fn StatusBadge(active: bool) -> impl IntoView {
    if active {
        view! { <span class="badge badge-active">"Active"</span> }
    } else {
        view! { <span class="badge badge-inactive">"Deactivated"</span> }
    }
}

/// A relative time with the exact time on hover (and for screen readers, via `datetime`).
#[component]
pub fn Time(when: When) -> impl IntoView {
    view! {
        <time datetime=when.exact.clone() title=when.exact>
            {when.relative}
        </time>
    }
}

/// The inline message for one form field, taken from the last result of an action.
#[component]
pub fn FieldError(
    #[prop(into)] error: Signal<Option<UiError>>,
    field: &'static str,
) -> impl IntoView {
    let id = format!("{field}-error");
    move || {
        error.get().and_then(|e| e.for_field(field)).map(|message| {
            view! { <p class="field-error" id=id.clone() role="alert">{message}</p> }
        })
    }
}

/// An error that belongs to none of the form's `fields` (those show their own
/// [`FieldError`]), shown above the form: nothing the server says is ever hidden.
#[component]
pub fn FormError(
    #[prop(into)] error: Signal<Option<UiError>>,
    #[prop(optional)] fields: &'static [&'static str],
) -> impl IntoView {
    move || {
        error
            .get()
            .filter(|e| !fields.iter().any(|f| e.for_field(f).is_some()))
            .map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })
    }
}

/// What a non-admin sees on an admin page. The server also answers 403.
#[component]
pub fn Forbidden() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::FORBIDDEN);
    }
    view! {
        <section class="panel forbidden">
            <h1>"403 — admins only"</h1>
            <p>"This page is for members of the admin group. Ask an admin if you need access."</p>
            <a href="/connections">"Back to connections"</a>
        </section>
    }
}

/// The error of an action's last result, for [`FieldError`] and [`FormError`].
pub fn action_error<S>(action: ServerAction<S>) -> Signal<Option<UiError>>
where
    S: leptos::server_fn::ServerFn<Error = UiError> + Send + Sync + Clone + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    Signal::derive(move || action.value().get().and_then(|r| r.err()))
}
