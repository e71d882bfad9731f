//! `/api/mcp`: the Model Context Protocol over streamable HTTP (POST, GET, DELETE), served by
//! the official SDK (`rmcp`) behind the API's own layers (body limit, route log, cross-origin
//! refusal, failure limit). Agents authenticate as on REST, with a key or a user token in
//! `Authorization`; a browser session is not accepted here. Every HTTP request is
//! authenticated anew and its caller handed to the tool it calls, so a key deactivated in the
//! middle of an MCP session is refused on its next call: the MCP session holds no identity.

mod sessions;
mod tools;

use crate::{auth::Credential, config::HttpConfig, error::Error, state::AppState};
use axum::{
    extract::{Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
    Router,
};
use rmcp::transport::streamable_http_server::{
    session::local::{LocalSessionManager, SessionConfig},
    StreamableHttpServerConfig, StreamableHttpService,
};
use sessions::{BoundedSessions, Owner};
use std::{sync::Arc, time::Duration};

/// The route, relative to `/api`, with its authentication in front.
pub fn router(state: AppState, http: &HttpConfig) -> Router<AppState> {
    let mut session_config = SessionConfig::default();
    session_config.keep_alive = Some(Duration::from_secs(http.mcp_session_idle_secs.max(1)));
    let mut local = LocalSessionManager::default();
    local.session_config = session_config;
    let sessions = Arc::new(BoundedSessions::new(
        local,
        http.mcp_max_sessions,
        http.mcp_max_sessions_per_caller,
    ));
    // A bearer credential, which a browser does not send by itself, and the cross-origin layer
    // outside answer cross-site requests; the Host list answers DNS rebinding, where a page of
    // another site reaches a gateway on the user's machine under a name of its own.
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(http.mcp_allowed_hosts.iter().cloned())
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
    /// The sessions, and who opened each: only that caller may use or close it.
    sessions: Arc<BoundedSessions>,
}

const SESSION_HEADER: &str = "mcp-session-id";

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
        .authenticate_request(&credential, &parts)
        .await
    {
        Ok(principal) => principal,
        Err(e) => return e.into_response(),
    };
    drop(credential);
    // The secret has done its work: rmcp keeps the request's parts for the tool call, and
    // nothing past here should hold it.
    parts.headers.remove(header::AUTHORIZATION);
    parts.headers.remove("api-key");
    parts.headers.remove(header::COOKIE);
    let owner = Owner::of(&principal);
    parts.extensions.insert(principal);
    let session = parts
        .headers
        .get(SESSION_HEADER)
        .map(|v| v.as_bytes().to_vec());
    let Some(session) = session else {
        // `initialize`, which opens a session as this caller (or a malformed request, which
        // rmcp refuses).
        let request = Request::from_parts(parts, body);
        return sessions::opened_by(owner, next.run(request)).await;
    };
    // Another caller's session is no session of yours: not to use, not to close. A session id
    // with no owner recorded was never handed out here: refused too (every session records
    // its owner as it is created, before the client learns the id).
    let owned = match String::from_utf8(session) {
        Ok(id) => gate.sessions.use_as(&id, &owner).await,
        Err(_) => false,
    };
    if !owned {
        return Error::NotFound("no such MCP session".into()).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}
