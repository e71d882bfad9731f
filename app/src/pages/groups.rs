//! Settings → Groups: list and create, so keys can be scoped to new groups.

use crate::{
    components::{action_error, FieldError, Forbidden, FormError},
    pages::layout::use_me,
    server_fns::{list_groups, CreateGroup},
    types::NAME_RULE,
};
use leptos::prelude::*;

#[component]
pub fn GroupsPage() -> impl IntoView {
    if !use_me().is_admin {
        return view! { <Forbidden/> }.into_any();
    }
    let create = ServerAction::<CreateGroup>::new();
    let groups = Resource::new(move || create.version().get(), |_| list_groups());
    let error = action_error(create);
    view! {
        <header class="page-header">
            <div>
                <h1>"Groups"</h1>
                <p class="muted">"A key or user can do what its groups can; admin can do anything."</p>
            </div>
        </header>
        <section class="panel narrow">
            <h2>"New group"</h2>
            <FormError error fields=&["name"]/>
            <ActionForm action=create attr:class="inline-form">
                <label for="group-name">"Name"</label>
                <input id="group-name" name="name" required maxlength="64" aria-describedby="name-rule name-error"/>
                <button type="submit" class="button primary">"Create group"</button>
            </ActionForm>
            <p class="hint" id="name-rule">{NAME_RULE}</p>
            <FieldError error field="name"/>
        </section>
        <Transition fallback=|| view! { <p class="loading">"Loading groups…"</p> }>
            {move || Suspend::new(async move {
                match groups.await {
                    Ok(groups) => view! {
                        <ul class="panel group-list">
                            {groups.into_iter().map(|g| view! { <li>{g.name}</li> }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
    .into_any()
}
