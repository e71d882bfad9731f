use super::Json;
use crate::{
    auth::Principal,
    connections::{Connection, ConnectionChanges, ConnectionSpec, ExecResult},
    error::Result,
    startup::AppState,
    store::connections::SessionRow,
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use serde::Deserialize;

pub async fn list(State(s): State<AppState>, caller: Principal) -> Result<Json<Vec<Connection>>> {
    Ok(Json(s.connections.list(&caller).await?))
}

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

pub async fn update(
    State(s): State<AppState>,
    caller: Principal,
    Path(name): Path<String>,
    Json(changes): Json<ConnectionChanges>,
) -> Result<Json<Connection>> {
    Ok(Json(s.connections.update(&caller, &name, changes).await?))
}

pub async fn delete(
    State(s): State<AppState>,
    caller: Principal,
    Path(name): Path<String>,
) -> Result<StatusCode> {
    s.connections.delete(&caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct Script {
    script: String,
}

pub async fn exec(
    State(s): State<AppState>,
    caller: Principal,
    Path(name): Path<String>,
    Json(req): Json<Script>,
) -> Result<Json<ExecResult>> {
    Ok(Json(s.connections.exec(&caller, &name, &req.script).await?))
}

/// hoop's published API runs scripts by creating a session.
#[derive(Deserialize)]
pub struct NewSession {
    connection: String,
    script: String,
}

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

pub async fn sessions(
    State(s): State<AppState>,
    caller: Principal,
) -> Result<Json<Vec<SessionRow>>> {
    Ok(Json(s.connections.sessions(&caller).await?))
}

pub async fn session(
    State(s): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> Result<Json<SessionRow>> {
    Ok(Json(s.connections.session(&caller, &id).await?))
}
