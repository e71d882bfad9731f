//! Rename and regroup a key, and change its expiry. The secret stays the same.
//!
//! "Activate API key" on a key past its expiry leads here too (`?activate=1`): activating it
//! needs a new expiry, which this form gives before it activates the key.

use crate::{
    components::{action_error, ExpiryPicker, FieldError, Forbidden, FormError, Time},
    pages::{key_new::GroupChoices, layout::use_me},
    server_fns::{get_key, key_policy, list_groups, ConfigureKey},
    types::{KeyState, NAME_RULE},
};
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn ConfigureKeyPage() -> impl IntoView {
    if !use_me().is_admin {
        return view! { <Forbidden/> }.into_any();
    }
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let key = Resource::new(id, get_key);
    let groups = OnceResource::new(list_groups());
    let policy = OnceResource::new(key_policy());
    let configure = ServerAction::<ConfigureKey>::new();
    let error = action_error(configure);
    let activating = move || query.read().get("activate").is_some();
    view! {
        <header class="page-header">
            <h1>{move || if activating() { "Activate API key" } else { "Configure API key" }}</h1>
        </header>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let (key, groups, policy) = match (key.await, groups.await, policy.await) {
                    (Ok(k), Ok(g), Ok(p)) => (k, g, p),
                    (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                        return view! { <p class="form-error">{e.to_string()}</p> }.into_any()
                    }
                };
                // Activating only means something for a key that is not active; an expired
                // one (active or not) must get a new expiry, so "keep" is not the default.
                let activate = activating() && key.status != KeyState::Active;
                let notice = match (&key.expires_at, key.expired, activate) {
                    (Some(at), true, _) => view! {
                        <p class="warning" role="note">
                            "This key expired " <Time when=at.clone()/> ". Choose a new expiry: "
                            {if key.status == KeyState::Deactivated && activate {
                                "saving activates the key with it."
                            } else {
                                "saving makes the key work again."
                            }}
                        </p>
                    }.into_any(),
                    (_, _, true) => view! {
                        <p class="notice">
                            "Saving activates the key: the same secret works again, from its next request."
                        </p>
                    }.into_any(),
                    _ => view! {
                        <p class="notice">
                            "Changing the name, groups or expiry does not change the secret: the "
                            "key keeps working, with the new settings from its next request."
                        </p>
                    }.into_any(),
                };
                // A secret reported leaked comes back only when the admin says so.
                let reported = key.leak_reported_at.clone().filter(|_| !key.is_active());
                let rotate_href = format!("/settings/api-keys/{}/rotate", key.id);
                // An expiry that has passed is nothing to keep.
                let current = (!key.expired).then(|| key.expires_at.clone());
                view! {
                    <section class="panel narrow">
                        {notice}
                        {reported.clone().map(|at| view! {
                            <p class="warning danger" role="note">
                                "A secret of this key was reported leaked " <Time when=at/> ". "
                                <a href=rotate_href.clone()>"Rotate it"</a>
                                " for a new secret instead of bringing the reported one back."
                            </p>
                        })}
                        <FormError error fields=&["name", "groups", "expires_at", "accept_reported_secret"]/>
                        <ActionForm action=configure attr:class="stack">
                            <input type="hidden" name="id" value=key.id.clone()/>
                            {activate.then(|| view! { <input type="hidden" name="activate" value="1"/> })}
                            <label for="name">"Name"</label>
                            <input id="name" name="name" required maxlength="64" value=key.name.clone()
                                aria-describedby="name-rule name-error"/>
                            <p class="hint" id="name-rule">{NAME_RULE}</p>
                            <FieldError error field="name"/>
                            <fieldset aria-describedby="groups-error">
                                <legend>"Groups"</legend>
                                <GroupChoices groups checked=key.groups.clone()/>
                                <FieldError error field="groups"/>
                            </fieldset>
                            <ExpiryPicker policy current error/>
                            {reported.map(|_| view! {
                                <label class="choice" for="accept_reported_secret">
                                    <input type="checkbox" id="accept_reported_secret"
                                        name="accept_reported_secret" value="1"
                                        aria-describedby="accept_reported_secret-error"/>
                                    <span>"Bring back the reported secret anyway"</span>
                                </label>
                                <FieldError error field="accept_reported_secret"/>
                            })}
                            <p class="muted small">"Key: " <code class="masked">{key.masked_key.clone()}</code></p>
                            <div class="form-actions">
                                <a href="/settings/api-keys" class="button">"Cancel"</a>
                                <button type="submit" class="button primary"
                                    disabled=move || configure.pending().get()>
                                    {if activate { "Save and activate" } else { "Save" }}
                                </button>
                            </div>
                        </ActionForm>
                    </section>
                }.into_any()
            })}
        </Suspense>
    }
    .into_any()
}
