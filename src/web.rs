//! The Leptos web app, rendered on the server and hydrated by the wasm client in `pkg/`.

use crate::{config::ServeConfig, startup::AppState};
use app::{shell, App};
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};

pub fn router(config: &ServeConfig, state: AppState) -> Router {
    let options = LeptosOptions::builder()
        .output_name("hoop")
        .site_root(config.site_root.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .build();
    let routes = generate_route_list(App);
    Router::new()
        .leptos_routes_with_context(&options, routes, move || provide_context(state.clone()), {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler(shell))
        .with_state(options)
}
