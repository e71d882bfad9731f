//! `/api/mcp`: the Model Context Protocol over streamable HTTP (POST, GET, DELETE), served by
//! the official SDK (`rmcp`) behind the API's own layers (body limit, route log, cross-origin
//! refusal, failure limit). Agents authenticate as on REST, with a key or a user token in
//! `Authorization`; a browser session is not accepted here. Every HTTP request is
//! authenticated anew and its caller handed to the tool it calls, so a key deactivated in the
//! middle of an MCP session is refused on its next call: the MCP session holds no identity.

mod sessions;
mod tools;

use crate::{
    auth::{client_addr, Credential},
    config::HttpConfig,
    error::Error,
    state::AppState,
};
use axum::{
    extract::{Request, State},
    http::{header, Method},
    middleware::Next,
    response::{IntoResponse, Response},
    Router,
};
use rmcp::transport::streamable_http_server::{
    session::local::{LocalSessionManager, SessionConfig},
    StreamableHttpServerConfig, StreamableHttpService,
};
use sessions::BoundedSessions;
use std::{sync::Arc, time::Duration};

/// The route, relative to `/api`, with its authentication in front.
pub fn router(state: AppState, http: &HttpConfig) -> Router<AppState> {
    let mut session_config = SessionConfig::default();
    session_config.keep_alive = Some(Duration::from_secs(http.mcp_session_idle_secs.max(1)));
    let mut local = LocalSessionManager::default();
    local.session_config = session_config;
    let sessions = Arc::new(BoundedSessions::new(local, http.mcp_max_sessions.max(1)));
    let config = StreamableHttpServerConfig::default()
        // The gateway has its own answers to DNS rebinding and cross-site requests: a bearer
        // credential a browser does not send by itself, and the cross-origin layer outside.
        .disable_allowed_hosts()
        .with_max_request_body_bytes(crate::security::API_BODY_LIMIT);
    let tools_state = state.clone();
    let service = StreamableHttpService::new(
        move || Ok(tools::Tools::new(tools_state.clone())),
        sessions.clone(),
        config,
    );
    Router::new()
        .route_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(
            Gate { state, sessions },
            authenticate,
        ))
}

#[derive(Clone)]
struct Gate {
    state: AppState,
    sessions: Arc<BoundedSessions>,
}

/// Authenticates the request as the REST extractor does, minus the browser session, and hands
/// the caller on in the request's extensions (where rmcp passes it to the tool).
async fn authenticate(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    // Headers only: a cookie alone is no credential here, so a page on another site cannot
    // drive an agent session with a user's browser login.
    let credential = Credential::from_headers(&parts.headers);
    let principal = match gate
        .state
        .auth
        .authenticate(&credential, client_addr(&parts))
        .await
    {
        Ok(principal) => principal,
        Err(e) => return e.into_response(),
    };
    drop(credential);
    crate::telemetry::note_caller(&parts, &principal);
    // The secret has done its work: rmcp keeps the request's parts for the tool call, and
    // nothing past here should hold it.
    parts.headers.remove(header::AUTHORIZATION);
    parts.headers.remove("api-key");
    parts.headers.remove(header::COOKIE);
    parts.extensions.insert(principal);
    let opens_session =
        parts.method == Method::POST && !parts.headers.contains_key("mcp-session-id");
    if opens_session && gate.sessions.full().await {
        return Error::Busy(
            "too many MCP sessions are open on this gateway: close one (DELETE /api/mcp) or \
             wait for one to idle out"
                .into(),
        )
        .into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}
