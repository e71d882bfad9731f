//! `/api/mcp`: the Model Context Protocol over streamable HTTP (POST, GET, DELETE), served by
//! the official SDK (`rmcp`) behind the API's own layers (body limit, route log, cross-origin
//! refusal, failure limit). Agents authenticate as on REST, with a key or a user token in
//! `Authorization`; a browser session is not accepted here. Every HTTP request is
//! authenticated anew and its caller handed to the tool it calls, so a key deactivated in the
//! middle of an MCP session is refused on its next call: the MCP session holds no identity.

mod sessions;
mod tools;

use crate::{
    auth::Credential,
    caller::{Identity, Principal},
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
use std::{collections::HashMap, sync::Arc, time::Duration};
use tokio::sync::Mutex;

/// The route, relative to `/api`, with its authentication in front.
pub fn router(state: AppState, http: &HttpConfig) -> Router<AppState> {
    let mut session_config = SessionConfig::default();
    session_config.keep_alive = Some(Duration::from_secs(http.mcp_session_idle_secs.max(1)));
    let mut local = LocalSessionManager::default();
    local.session_config = session_config;
    let sessions = Arc::new(BoundedSessions::new(local, http.mcp_max_sessions.max(1)));
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
            Gate {
                state,
                sessions,
                owners: Arc::default(),
            },
            authenticate,
        ))
}

#[derive(Clone)]
struct Gate {
    state: AppState,
    sessions: Arc<BoundedSessions>,
    /// Who opened each session: only that caller may use or close it.
    owners: Arc<Mutex<HashMap<String, Owner>>>,
}

/// The identity a session belongs to: the key, or the user, that opened it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    Key(uuid::Uuid),
    User(uuid::Uuid),
    Legacy,
}

impl Owner {
    fn of(principal: &Principal) -> Self {
        match principal.identity {
            Identity::ApiKey { id, .. } => Owner::Key(id),
            Identity::User { id, .. } => Owner::User(id),
            Identity::LegacyApiKey => Owner::Legacy,
        }
    }
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
        return open_session(&gate, owner, Request::from_parts(parts, body), next).await;
    };
    // Another caller's session is no session of yours: not to use, not to close. A session id
    // with no owner recorded was never handed out here: refused too (every session is opened
    // through `open_session`, which records its owner before the client learns the id).
    let owned = match String::from_utf8(session) {
        Ok(id) => gate.owners.lock().await.get(&id) == Some(&owner),
        Err(_) => false,
    };
    if !owned {
        return Error::NotFound("no such MCP session".into()).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

/// A request without a session: `initialize`, which opens one (or a malformed request, which
/// rmcp refuses). The new session's id is recorded as the caller's.
async fn open_session(gate: &Gate, owner: Owner, request: Request, next: Next) -> Response {
    if request.method() == Method::POST && gate.sessions.full().await {
        return Error::Busy(
            "too many MCP sessions are open on this gateway: close one (DELETE /api/mcp) or \
             wait for one to idle out"
                .into(),
        )
        .into_response();
    }
    let response = next.run(request).await;
    if let Some(id) = response.headers().get(SESSION_HEADER) {
        if let Ok(id) = id.to_str() {
            // Held while pruning: a session opened meanwhile is recorded after this one's
            // pruning, never pruned by a look at the live sessions taken before it existed.
            let mut owners = gate.owners.lock().await;
            gate.sessions.retain_live(&mut owners).await;
            owners.insert(id.to_owned(), owner);
        }
    }
    response
}
