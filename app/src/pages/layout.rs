//! The signed-in layout: sidebar and content. Visitors without a session never get here: the
//! server redirects them to /login first.

use crate::{
    server_fns::{get_me, list_connections, Logout},
    types::Me,
};
use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect, A};

#[component]
pub fn SignedIn() -> impl IntoView {
    let me = OnceResource::new(get_me());
    // Not a reactive closure: `me` never changes, and a closure would run again when it
    // resolves, building the page (and its resources) a second time during one server render.
    // The browser hydrates once and would read the first build's serialized data (issue 26).
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {Suspend::new(async move {
                match me.await {
                    Ok(Some(me)) => view! { <Layout me/> }.into_any(),
                    Ok(None) => view! { <Redirect path="/login"/> }.into_any(),
                    Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Layout(me: Me) -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    let is_admin = me.is_admin;
    let who = me.email.clone().unwrap_or_else(|| me.name.clone());
    provide_context(me.clone());
    view! {
        <div class="layout">
            <nav class="sidebar" aria-label="Main">
                <a class="brand" href="/">"hoop"</a>
                <ul>
                    <li><A href="/connections">"Connections"</A></li>
                    <li><A href="/sessions">"Sessions"</A></li>
                    <Show when=move || is_admin>
                        <li class="nav-heading">"Settings"</li>
                        <li><A href="/settings/api-keys">"API Keys"</A></li>
                        <li><A href="/settings/groups">"Groups"</A></li>
                        <li><A href="/settings/audit">"Audit log"</A></li>
                    </Show>
                </ul>
                <div class="whoami">
                    <span class="who" title=who.clone()>{who.clone()}</span>
                    <span class="org muted">{me.org_name.clone()}</span>
                    <ActionForm action=logout>
                        <button type="submit" class="button link">"Log out"</button>
                    </ActionForm>
                </div>
            </nav>
            <main class="content">
                <Outlet/>
            </main>
        </div>
    }
}

/// The signed-in user, provided by the layout.
pub fn use_me() -> Me {
    use_context::<Me>().unwrap_or(Me {
        name: String::new(),
        email: None,
        org_name: String::new(),
        is_admin: false,
    })
}

#[component]
pub fn Home() -> impl IntoView {
    let me = use_me();
    let to = if me.is_admin {
        "/settings/api-keys"
    } else {
        "/connections"
    };
    view! { <Redirect path=to/> }
}

#[component]
pub fn ConnectionsPage() -> impl IntoView {
    let connections = OnceResource::new(list_connections());
    view! {
        <header class="page-header">
            <div>
                <h1>"Connections"</h1>
                <p class="muted">"The databases you can reach through the gateway."</p>
            </div>
        </header>
        <Suspense fallback=|| view! { <p class="loading">"Loading connections…"</p> }>
            {move || Suspend::new(async move {
                match connections.await {
                    Ok(list) if list.is_empty() => view! {
                        <section class="panel empty">
                            <h2>"No connections for you yet"</h2>
                            <p>"An admin can share a connection with one of your groups."</p>
                        </section>
                    }.into_any(),
                    Ok(list) => view! {
                        <ul class="connection-list">
                            {list.into_iter().map(|c| {
                                let example = format!("hoop exec {} -i \"SELECT 1\"", c.name);
                                view! {
                                    <li class="panel connection">
                                        <div class="connection-head">
                                            <h2>{c.name.clone()}</h2>
                                            <span class="chips">
                                                <span class="chip">{c.kind}</span>
                                                {c.privileged.then(|| view! {
                                                    <span
                                                        class="chip chip-warning"
                                                        title="Its database role may read the server's files or run programs there; an admin allowed its groups to use it anyway."
                                                    >"privileged"</span>
                                                })}
                                            </span>
                                        </div>
                                        <p class="muted small">
                                            "Groups: "
                                            {if c.access_groups.is_empty() {
                                                "admins only".to_owned()
                                            } else {
                                                c.access_groups.join(", ")
                                            }}
                                        </p>
                                        <code class="example">{example}</code>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}
