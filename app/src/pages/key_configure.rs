//! Rename and regroup a key. The secret stays the same.

use crate::{
    components::{action_error, FieldError, Forbidden, FormError},
    pages::{key_new::GroupChoices, layout::use_me},
    server_fns::{get_key, list_groups, ConfigureKey},
    types::NAME_RULE,
};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

#[component]
pub fn ConfigureKeyPage() -> impl IntoView {
    if !use_me().is_admin {
        return view! { <Forbidden/> }.into_any();
    }
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let key = Resource::new(id, get_key);
    let groups = OnceResource::new(list_groups());
    let configure = ServerAction::<ConfigureKey>::new();
    let error = action_error(configure);
    view! {
        <header class="page-header"><h1>"Configure API key"</h1></header>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let (key, groups) = match (key.await, groups.await) {
                    (Ok(k), Ok(g)) => (k, g),
                    (Err(e), _) | (_, Err(e)) => {
                        return view! { <p class="form-error">{e.to_string()}</p> }.into_any()
                    }
                };
                view! {
                    <section class="panel narrow">
                        <p class="notice">
                            "Changing the name or groups does not change the secret: the key keeps "
                            "working, with the new settings from its next request."
                        </p>
                        <FormError error fields=&["name", "groups"]/>
                        <ActionForm action=configure attr:class="stack">
                            <input type="hidden" name="id" value=key.id.clone()/>
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
                            <p class="muted small">"Key: " <code>{key.masked_key.clone()}</code></p>
                            <div class="form-actions">
                                <a href="/settings/api-keys" class="button">"Cancel"</a>
                                <button type="submit" class="button primary"
                                    disabled=move || configure.pending().get()>"Save"</button>
                            </div>
                        </ActionForm>
                    </section>
                }.into_any()
            })}
        </Suspense>
    }
    .into_any()
}
