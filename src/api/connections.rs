use super::json::Json;
use crate::{
    caller::Principal,
    connections::{Connection, ConnectionChanges, ConnectionSpec, ExecResult},
    error::{Error, Result},
    state::AppState,
    wire::sessions::{NewSession, Script, Session, SessionQuery},
};
use axum::{
    extract::{rejection::QueryRejection, Path, Query, State},
    http::StatusCode,
};

/// The connections the caller may use (all of them for admins, with their targets).
#[utoipa::path(get, path = "/connections", operation_id = "list_connections", tag = "connections", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = [Connection])))]
pub async fn list(State(s): State<AppState>, caller: Principal) -> Result<Json<Vec<Connection>>> {
    Ok(Json(s.connections.list(&caller).await?))
}

/// Creates a connection: a database scripts run on, and the groups that reach it (admins only).
#[utoipa::path(post, path = "/connections", operation_id = "create_connection", tag = "connections", security(("bearer" = []), ("api_key" = [])), request_body = ConnectionSpec,
    responses((status = 201, body = Connection), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    caller: Principal,
    Json(spec): Json<ConnectionSpec>,
) -> Result<(StatusCode, Json<Connection>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.connections.create(&caller, spec).await?),
    ))
}

/// Changes a connection; absent fields stay as they are (admins only).
#[utoipa::path(put, path = "/connections/{name}", operation_id = "update_connection", tag = "connections", security(("bearer" = []), ("api_key" = [])), params(("name" = String, Path, description = "The connection's name")),
    request_body = ConnectionChanges,
    responses((status = 200, body = Connection), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn update(
    State(s): State<AppState>,
    caller: Principal,
    Path(name): Path<String>,
    Json(changes): Json<ConnectionChanges>,
) -> Result<Json<Connection>> {
    Ok(Json(s.connections.update(&caller, &name, changes).await?))
}

/// Deletes a connection; its recorded sessions stay (admins only).
#[utoipa::path(delete, path = "/connections/{name}", operation_id = "delete_connection", tag = "connections", security(("bearer" = []), ("api_key" = [])), params(("name" = String, Path, description = "The connection's name")),
    responses((status = 204, description = "Deleted"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete(
    State(s): State<AppState>,
    caller: Principal,
    Path(name): Path<String>,
) -> Result<StatusCode> {
    s.connections.delete(&caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Runs a script on a connection as the caller; the output is TSV with a header row.
#[utoipa::path(post, path = "/connections/{name}/exec", operation_id = "exec_connection", tag = "connections", security(("bearer" = []), ("api_key" = [])), params(("name" = String, Path, description = "The connection's name")),
    request_body = Script,
    responses((status = 200, body = ExecResult), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn exec(
    State(s): State<AppState>,
    caller: Principal,
    Path(name): Path<String>,
    Json(req): Json<Script>,
) -> Result<Json<ExecResult>> {
    Ok(Json(s.connections.exec(&caller, &name, &req.script).await?))
}

/// Runs a script, as `exec` does, under the name hoop's published API uses.
#[utoipa::path(post, path = "/sessions", operation_id = "create_session", tag = "connections", security(("bearer" = []), ("api_key" = [])), request_body = NewSession,
    responses((status = 200, body = ExecResult), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_session(
    State(s): State<AppState>,
    caller: Principal,
    Json(req): Json<NewSession>,
) -> Result<Json<ExecResult>> {
    Ok(Json(
        s.connections
            .exec(&caller, &req.connection, &req.script)
            .await?,
    ))
}

/// Recorded script runs, newest first, narrowed by caller and connection: the caller's own, or
/// everyone's for admins.
#[utoipa::path(get, path = "/sessions", operation_id = "list_sessions", tag = "connections", security(("bearer" = []), ("api_key" = [])), params(SessionQuery),
    responses((status = 200, body = [Session]), (status = 400, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn sessions(
    State(s): State<AppState>,
    caller: Principal,
    query: std::result::Result<Query<SessionQuery>, QueryRejection>,
) -> Result<Json<Vec<Session>>> {
    let Query(query) = query.map_err(|e| Error::BadRequest(e.body_text()))?;
    Ok(Json(s.connections.sessions(&caller, &query).await?))
}

/// One recorded script run: the caller's own, or anyone's for admins.
#[utoipa::path(get, path = "/sessions/{id}", operation_id = "get_session", tag = "connections", security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The session id")),
    responses((status = 200, body = Session), (status = 404, body = crate::error::ErrorBody)))]
pub async fn session(
    State(s): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> Result<Json<Session>> {
    Ok(Json(s.connections.session(&caller, &id).await?))
}
