//! The Leptos web app, rendered on the server and hydrated by the wasm client in `pkg/`.

mod activity;
mod assets;
mod gateway;
#[cfg(test)]
mod next_props;
mod views;

use crate::{auth::Credential, config::ServeConfig, state::AppState};
use app::{gateway::SharedGateway, shell, App};
use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{Html, IntoResponse, Redirect, Response},
    Router,
};
use gateway::{PageCaller, WebGateway};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

/// Paths anyone may load: the login page, the server functions (they check the caller
/// themselves), and the static client files.
fn is_public(path: &str) -> bool {
    path == "/login"
        || path.starts_with("/ui/fn/")
        || path.starts_with("/pkg/")
        || path == "/favicon.svg"
}

pub fn router(config: &ServeConfig, state: AppState) -> Router {
    let hash_file = assets::hash_file(&config.site_root);
    // A site from before hashed names (no hash.txt) still gets the names it has.
    let hash_files = hash_file.is_file();
    if !hash_files {
        tracing::warn!(file = %hash_file.display(), "no hash list for the web client: run scripts/build-web");
    }
    let options = LeptosOptions::builder()
        .output_name("hoop")
        .site_root(config.site_root.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .hash_files(hash_files)
        .hash_file(hash_file.to_string_lossy().as_ref().into())
        .build();
    let routes = routes();
    let web: SharedGateway = Arc::new(WebGateway {
        state: state.clone(),
    });
    Router::new()
        .leptos_routes_with_context(&options, routes, move || context(&web), {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler(shell))
        .with_state(options)
        .merge(assets::router(&config.site_root, "pkg"))
        .layer(middleware::from_fn_with_state(state, guard))
        .layer(middleware::from_fn_with_state(
            Duration::from_secs(config.http.page_timeout_secs.max(1)),
            bound_render,
        ))
        .layer(middleware::from_fn(crate::telemetry::note_route))
        .layer(middleware::from_fn(limit_body))
}

/// The app's routes, listed once per process. Listing them runs the app with resource loading
/// switched off for the whole process (leptos_server's `SuppressResourceLoad` is a global, leptos
/// issue #4773): a page whose data first loaded in that window waited for ever. Listed once, and
/// before any router exists, no page can be rendering while it happens, however many gateways
/// one process starts (the tests start hundreds).
fn routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// A page has `limit` to render; then it is answered 503. One whose rendering cannot finish (a
/// framework fault, a database lock held elsewhere) would otherwise keep its connection, a
/// connection slot and the browser waiting for ever. Only reads are cut short: a server function
/// that may change state runs to completion (see `security::hangup`).
async fn bound_render(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    if !request.method().is_safe() {
        return next.run(request).await;
    }
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(%path, limit_secs = limit.as_secs(), "a page took too long to render and was answered 503");
            let mut response = (
                StatusCode::SERVICE_UNAVAILABLE,
                Html("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Try again</title></head>\
                      <body><h1>This page took too long to load</h1><p>Reload it in a moment.</p></body></html>"),
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            no_store(response)
        }
    }
}

/// Server functions read whole bodies with no limit of their own, and a body that fails while
/// they read it (as a limited one does past its limit when it comes chunked, without a
/// Content-Length) becomes a 500. So the body is read here first: past the limit 413, however it
/// is sent; a body that cannot be read at all, 400.
async fn limit_body(request: Request, next: Next) -> Response {
    let limit = crate::security::UI_BODY_LIMIT;
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => next.run(Request::from_parts(parts, bytes.into())).await,
        Err(e) if too_long(&e) => crate::error::Error::body_too_large(limit).into_response(),
        Err(e) => crate::error::Error::BadRequest(format!("cannot read the request body: {e}"))
            .into_response(),
    }
}

fn too_long(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// What every page render and server function gets: the gateway, and on pages a CSP naming
/// this response's nonce (Leptos generates one per response and puts it on its scripts).
fn context(web: &SharedGateway) {
    provide_context(web.clone());
    if let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) {
        if let Ok(policy) = HeaderValue::from_str(&crate::security::page_policy(&nonce)) {
            response.insert_header(header::CONTENT_SECURITY_POLICY, policy);
        }
    }
}

/// Sends visitors without a valid session to the login page (remembering where they were
/// going), and keeps pages out of every cache: they may show what only this user may see.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if !is_public(&path) {
        let (mut parts, body) = request.into_parts();
        let caller = match Credential::collect(&parts).await {
            Ok(c @ Credential::Session(_)) => {
                state.auth.authenticate_request(&c, &parts).await.ok()
            }
            _ => None,
        };
        let Some(caller) = caller else {
            let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let next = form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>();
            return Redirect::to(&format!("/login?next={next}")).into_response();
        };
        parts.extensions.insert(PageCaller(caller));
        return no_store(next.run(Request::from_parts(parts, body)).await);
    }
    let response = next.run(request).await;
    if path.starts_with("/pkg/") {
        // The client's files carry their own caching (see assets.rs).
        response
    } else if path == "/favicon.svg" && response.status().is_success() {
        // Not hashed, so not for long; small and asked for by every page.
        cache_control(response, "public, max-age=3600")
    } else {
        no_store(response)
    }
}

fn no_store(response: Response) -> Response {
    cache_control(response, "no-store")
}

fn cache_control(mut response: Response, policy: &'static str) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    response
}
