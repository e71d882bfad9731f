use crate::{
    components::{action_error, FormError},
    server_fns::Login,
};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let error = action_error(login);
    let next = move || use_query_map().read().get("next").unwrap_or_default();
    view! {
        <div class="login-page">
            <section class="panel login-panel">
                <h1>"Sign in to hoop"</h1>
                <p class="muted">"The access gateway for people, automation and AI agents."</p>
                <FormError error/>
                <ActionForm action=login attr:class="stack">
                    <input type="hidden" name="next" value=next/>
                    <label for="email">"Email"</label>
                    <input id="email" type="email" name="email" autocomplete="username" required autofocus/>
                    <label for="password">"Password"</label>
                    <input id="password" type="password" name="password" autocomplete="current-password" required/>
                    <button type="submit" class="button primary" disabled=move || login.pending().get()>
                        "Sign in"
                    </button>
                </ActionForm>
            </section>
        </div>
    }
}
