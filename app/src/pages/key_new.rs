//! Create a key, then reveal it once. The secret lives only in this page's memory: reload,
//! back, or any other page, and it is gone for good.

use crate::{
    components::{action_error, use_hydrated, ExpiryPicker, FieldError, Forbidden, FormError},
    error::UiError,
    pages::layout::use_me,
    server_fns::{key_policy, list_groups, CreateKey},
    types::{CreatedKey, GroupView, NAME_RULE},
};
use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn NewKeyPage() -> impl IntoView {
    if !use_me().is_admin {
        return view! { <Forbidden/> }.into_any();
    }
    let create = ServerAction::<CreateKey>::new();
    // Owned here, not by the form: the form goes when the key is created, and the expiry
    // picker's error (inside a Suspense) may still read this once after that.
    let error = action_error(create);
    // A memo, so a failed attempt does not rebuild the form and lose what was typed.
    let created = Memo::new(move |_| create.value().get().and_then(|r| r.ok()));
    view! {
        <header class="page-header">
            <h1>"Create new API key"</h1>
        </header>
        {move || match created.get() {
            Some(created) => {
                let heading = format!("API key {} created", created.key.name);
                view! { <Reveal created heading/> }.into_any()
            }
            None => view! { <CreateForm create error/> }.into_any(),
        }}
    }
    .into_any()
}

#[component]
fn CreateForm(create: ServerAction<CreateKey>, error: Signal<Option<UiError>>) -> impl IntoView {
    let groups = OnceResource::new(list_groups());
    let policy = OnceResource::new(key_policy());
    let hydrated = use_hydrated();
    view! {
        <section class="panel narrow">
            // Hidden from the first paint when scripts run (see `shell`), so nothing moves when
            // hydration finishes.
            <p class="notice needs-js">
                "Creating a key needs JavaScript: the key is shown once, in this page, and is "
                "never stored anywhere it could be shown again."
            </p>
            <FormError error fields=&["name", "groups", "expires_at"]/>
            <ActionForm action=create attr:class="stack">
                <label for="name">"Name"</label>
                <input id="name" name="name" required maxlength="64" autocomplete="off"
                    aria-describedby="name-rule name-error"/>
                <p class="hint" id="name-rule">{NAME_RULE}</p>
                <FieldError error field="name"/>
                <fieldset aria-describedby="groups-error">
                    <legend>"Groups"</legend>
                    <p class="hint">"The key can do what these groups can. Choose at least one."</p>
                    <Suspense fallback=|| view! { <p class="loading">"Loading groups…"</p> }>
                        {move || Suspend::new(async move {
                            match groups.await {
                                Ok(groups) => view! { <GroupChoices groups checked=vec![]/> }.into_any(),
                                Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                            }
                        })}
                    </Suspense>
                    <FieldError error field="groups"/>
                </fieldset>
                <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match policy.await {
                            Ok(policy) => view! { <ExpiryPicker policy error/> }.into_any(),
                            Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Suspense>
                <div class="form-actions">
                    <a href="/settings/api-keys" class="button">"Cancel"</a>
                    <button type="submit" class="button primary"
                        disabled=move || !hydrated.get() || create.pending().get()>
                        "Save"
                    </button>
                </div>
            </ActionForm>
        </section>
    }
}

/// Checkboxes named `groups[]`, so a plain form post sends them as a list.
#[component]
pub fn GroupChoices(groups: Vec<GroupView>, checked: Vec<String>) -> impl IntoView {
    view! {
        <div class="choices">
            {groups.into_iter().map(|g| {
                let input_id = format!("group-{}", g.name);
                let label_for = input_id.clone();
                let is_checked = checked.contains(&g.name);
                view! {
                    <label class="choice" for=label_for>
                        <input type="checkbox" id=input_id name="groups[]" value=g.name.clone() checked=is_checked/>
                        <span>{g.name}</span>
                    </label>
                }
            }).collect_view()}
        </div>
    }
}

/// A `.mcp.json` that connects an MCP client (an AI agent) to this gateway with the new key.
fn mcp_config(origin: &str, key: &str) -> String {
    format!(
        "{{\n  \"mcpServers\": {{\n    \"hoop\": {{\n      \"type\": \"http\",\n      \
         \"url\": \"{origin}/api/mcp\",\n      \"headers\": {{\n        \
         \"Authorization\": \"Bearer {key}\"\n      }}\n    }}\n  }}\n}}\n"
    )
}

/// The gateway's origin as the browser reached it. The reveal only ever renders in the
/// browser (creating a key needs the hydrated page), so the server's answer is never used.
fn origin() -> String {
    #[cfg(feature = "hydrate")]
    {
        window().location().origin().unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        String::new()
    }
}

/// Copies `text` to the clipboard and says so on the button.
fn copier(text: String, set_copied: WriteSignal<bool>) -> impl Fn(leptos::ev::MouseEvent) {
    move |_| {
        #[cfg(feature = "hydrate")]
        {
            let clipboard = window().navigator().clipboard();
            let _ = clipboard.write_text(&text);
            set_copied.set(true);
        }
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = (&text, set_copied);
        }
    }
}

/// The new secret, shown this once, with a `.mcp.json` holding it. After a create and after a
/// rotation. `on_done` replaces the "Done" link where the reveal is shown in place (the list).
#[component]
pub fn Reveal(
    created: CreatedKey,
    heading: String,
    /// Said under the heading (a rotation: until when the old secret works).
    #[prop(optional)]
    note: Option<String>,
    #[prop(optional)] on_done: Option<Callback<()>>,
) -> impl IntoView {
    let (copied, set_copied) = signal(false);
    let copy = copier(created.secret.clone(), set_copied);
    let (config_copied, set_config_copied) = signal(false);
    let config = mcp_config(&origin(), &created.secret);
    let copy_config = copier(config.clone(), set_config_copied);
    view! {
        <section class="panel narrow reveal" aria-live="polite">
            <h2 id="reveal-title" tabindex="-1">{heading}</h2>
            {note.map(|note| view! { <p>{note}</p> })}
            <p class="warning" role="note">
                <strong>"Copy this key now. "</strong>
                "It will not be shown again: the gateway keeps only a hash of it. Store it in "
                "a secrets manager; if it is lost, create a new key."
            </p>
            <label for="secret">"Your new API key"</label>
            <div class="copy-row">
                <input id="secret" class="secret" readonly value=created.secret.clone()
                    on:focus=|ev| {
                        #[cfg(feature = "hydrate")]
                        {
                            use wasm_bindgen::JsCast;
                            if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                                input.select();
                            }
                        }
                        #[cfg(not(feature = "hydrate"))]
                        let _ = ev;
                    }/>
                <button type="button" class="button" on:click=copy>
                    {move || if copied.get() { "Copied" } else { "Copy" }}
                </button>
            </div>
            <h3 id="mcp-config-title">"For an AI agent: .mcp.json"</h3>
            <p class="hint">
                "An MCP client (Claude Code, an IDE, your own agent) reaches this gateway as "
                "this key with this file. It holds the key too: it is shown once, like the key."
            </p>
            <div class="copy-block">
                <pre class="secret mcp-config" aria-labelledby="mcp-config-title"><code>{config}</code></pre>
                <button type="button" class="button" on:click=copy_config
                    aria-label="Copy .mcp.json">
                    {move || if config_copied.get() { "Copied" } else { "Copy" }}
                </button>
            </div>
            <div class="form-actions">
                {match on_done {
                    Some(done) => view! {
                        <button type="button" class="button primary" on:click=move |_| done.run(())>
                            "Done"
                        </button>
                    }.into_any(),
                    None => view! {
                        <A href="/settings/api-keys" attr:class="button primary">"Done"</A>
                    }.into_any(),
                }}
            </div>
        </section>
    }
}
