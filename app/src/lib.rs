//! The Leptos UI: pages, components and server functions.
//!
//! Built twice: with `ssr` into the gateway binary, and with `hydrate` into the wasm client.
//! Nothing here depends on sqlx, tokio or the server crate: the server hands what the
//! server functions need through Leptos context ([`gateway::Gateway`]).

// The key page's usage chart is one deeply nested view type; the wasm build's layout query
// for it needs more than the default depth of 128.
#![recursion_limit = "256"]

pub mod components;
pub mod error;
#[cfg(feature = "ssr")]
pub mod gateway;
pub mod pages;
pub mod server_fns;
pub mod types;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes},
    path, SsrMode,
};
use pages::{
    audit::AuditLogPage,
    groups::GroupsPage,
    key_configure::ConfigureKeyPage,
    key_new::NewKeyPage,
    key_page::KeyDetailPage,
    keys::{DeactivatePage, KeysPage, RotatePage},
    layout::{ConnectionsPage, Home, SignedIn},
    login::LoginPage,
    sessions::SessionsListPage,
};

/// The HTML document around every page, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <script nonce=leptos::nonce::use_nonce()>"document.documentElement.classList.add('js')"</script>
                <AutoReload options=options.clone()/>
                // Both name the files by the hashes build-web listed (see src/web/assets.rs).
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Tells browser tests (and curious humans) that the wasm client has taken over.
    Effect::new(|_| {
        #[cfg(feature = "hydrate")]
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    // Pages render whole on the server (SsrMode::Async): they must work before hydration and
    // without JavaScript, which streamed fragments would need to be put in place.
    view! {
        <Title text="hoop"/>
        <Router>
            <Routes fallback=|| view! { <p class="panel">"Page not found."</p> }>
                <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async/>
                <ParentRoute path=path!("") view=SignedIn ssr=SsrMode::Async>
                    <Route path=path!("") view=Home ssr=SsrMode::Async/>
                    <Route path=path!("/connections") view=ConnectionsPage ssr=SsrMode::Async/>
                    <Route path=path!("/settings/api-keys") view=KeysPage ssr=SsrMode::Async/>
                    <Route path=path!("/settings/api-keys/new") view=NewKeyPage ssr=SsrMode::Async/>
                    <Route path=path!("/settings/api-keys/:id") view=KeyDetailPage ssr=SsrMode::Async/>
                    <Route path=path!("/settings/api-keys/:id/configure") view=ConfigureKeyPage ssr=SsrMode::Async/>
                    <Route path=path!("/settings/api-keys/:id/deactivate") view=DeactivatePage ssr=SsrMode::Async/>
                    <Route path=path!("/settings/api-keys/:id/rotate") view=RotatePage ssr=SsrMode::Async/>
                    <Route path=path!("/settings/groups") view=GroupsPage ssr=SsrMode::Async/>
                    <Route path=path!("/settings/audit") view=AuditLogPage ssr=SsrMode::Async/>
                    <Route path=path!("/sessions") view=SessionsListPage ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
