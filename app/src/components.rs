//! Small pieces shared by the pages.

use crate::{
    error::UiError,
    types::{KeyPolicyView, KeyState, When},
};
use leptos::prelude::*;

/// True once the wasm client has taken over the page. Effects run only in the browser, so on
/// the server (and without JavaScript) this stays false.
pub fn use_hydrated() -> ReadSignal<bool> {
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    hydrated
}

#[component]
pub fn StatusBadge(status: KeyState) -> impl IntoView {
    match status {
        KeyState::Active => view! { <span class="badge badge-active">"Active"</span> },
        KeyState::Deactivated => {
            view! { <span class="badge badge-inactive">"Deactivated"</span> }
        }
        KeyState::Expired => view! { <span class="badge badge-expired">"Expired"</span> },
    }
}

/// A `<select>`'s `<option>`s as HTML, for its `inner_html`, so that the `<select>` has no
/// children to hydrate. Hydrating dynamic `<option>`s panicked now and then (a hydration
/// mismatch at an `<option>`: the marker Leptos expects after a list of children was not
/// there), which left the page dead; seen on the key list's filters and the expiry picker.
/// The options never change once rendered, so nothing is lost.
pub fn options_html<'a>(
    options: impl IntoIterator<Item = (&'a str, &'a str)>,
    selected: &str,
) -> String {
    let mut html = String::new();
    for (value, label) in options {
        let mark = if value == selected { " selected" } else { "" };
        html.push_str(&format!(
            "<option value=\"{}\"{mark}>{}</option>",
            escape_html(value),
            escape_html(label)
        ));
    }
    html
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// When a key expires: a `<select>` (never, 7/30/90/365 days, a date; with `current`, also
/// "keep the current expiry") and a date input read only when the select says "date". Without
/// JavaScript both are plain form fields; with it, CSS shows the date input only for "date".
/// The choices are those the operator's lifetime limit allows, and the hint says why.
#[component]
pub fn ExpiryPicker(
    policy: KeyPolicyView,
    /// Configure: the key's expiry now (`Some(None)`: never), offered as "keep" when the
    /// policy allows keeping it. `None` on create, and for a key whose expiry has passed.
    #[prop(default = None)]
    current: Option<Option<When>>,
    #[prop(into)] error: Signal<Option<UiError>>,
) -> impl IntoView {
    let limit = policy.max_lifetime_days;
    let keep = current
        .clone()
        .filter(|now| now.is_some() || limit.is_none());
    let selected = match &keep {
        // Configure changes nothing unless told to.
        Some(_) => "keep".to_owned(),
        _ => policy.default_choice(),
    };
    // The current expiry itself is the "Now:" line above the select (which describes it):
    // in the option it was cut off on a phone.
    let mut choices: Vec<(String, String)> = Vec::new();
    if keep.is_some() {
        choices.push(("keep".into(), "Keep the current expiry".into()));
    }
    if limit.is_none() {
        choices.push(("never".into(), "Never".into()));
    }
    for days in policy.preset_days() {
        choices.push((days.to_string(), format!("In {days} days")));
    }
    choices.push(("date".into(), "On a date…".into()));
    let options = options_html(
        choices.iter().map(|(v, l)| (v.as_str(), l.as_str())),
        &selected,
    );
    let hint = match limit {
        Some(days) => format!(
            "Keys may live at most {days} days here (the operator set \
             HOOP_API_KEY_MAX_LIFETIME_DAYS), so every key needs an expiry within that. \
             A key stops working at its expiry; you can give it a new one later."
        ),
        None => "A key stops working at its expiry; you can give it a new one later.".into(),
    };
    let current_text = current.map(|now| match now {
        Some(at) => {
            let exact = short_utc(&at.exact);
            // Far off, the relative time is the date itself: said once is enough.
            let relative =
                (!exact.starts_with(&at.relative)).then(|| view! { " (" <Time when=at/> ")" });
            view! { <p class="hint" id="expires-now">"Now: expires " {exact} {relative}</p> }
                .into_any()
        }
        None => view! { <p class="hint" id="expires-now">"Now: never expires"</p> }.into_any(),
    });
    view! {
        <div class="expiry">
            <label for="expires">"Expires"</label>
            {current_text}
            <select id="expires" name="expires" inner_html=options
                aria-describedby="expires-now expires-hint expires_at-error">
            </select>
            <p class="hint" id="expires-hint">{hint}</p>
            <div class="expiry-date">
                <label for="expires-date">"Date"</label>
                <input type="date" id="expires-date" name="expires_date" min=policy.min_date.clone()
                    max=policy.max_date.clone() aria-describedby="expires-date-hint"/>
                <p class="hint" id="expires-date-hint">
                    "Used when “On a date…” is chosen. The key expires at 00:00 UTC at the start of that day"
                    {policy.max_date.clone().map(|d| format!("; {d} at the latest"))}
                    "."
                </p>
            </div>
            <FieldError error field="expires_at"/>
        </div>
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

/// "2027-03-02T16:41:12Z" as "2027-03-02 16:41 UTC".
pub fn short_utc(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => rfc3339.to_owned(),
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

/// One text filter of a list's search form: its label, the input the URL fills, and a hint
/// the input is described by. `list` names a `<datalist>` of suggestions, passed as children.
#[component]
pub fn FilterField(
    name: &'static str,
    label: &'static str,
    hint: &'static str,
    value: Option<String>,
    #[prop(optional)] list: Option<&'static str>,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    let id = format!("filter-{name}");
    let hint_id = format!("filter-{name}-hint");
    view! {
        <div class="filter-field">
            <label for=id.clone()>{label}</label>
            <input id=id name=name list=list value=value aria-describedby=hint_id.clone()/>
            {children.map(|c| c())}
            <p class="hint" id=hint_id>{hint}</p>
        </div>
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

#[cfg(test)]
mod tests {
    use super::options_html;

    #[test]
    fn options_are_escaped_and_one_is_selected() {
        let html = options_html([("", "Any"), ("a\"b", "<x> & 'y'")], "a\"b");
        assert_eq!(
            html,
            "<option value=\"\">Any</option>\
             <option value=\"a&quot;b\" selected>&lt;x&gt; &amp; &#39;y&#39;</option>"
        );
    }
}
