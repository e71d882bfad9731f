use super::Json;
use crate::{
    auth::Principal,
    error::Result,
    keys::{ApiKey, KeyChanges, NewApiKey},
    startup::AppState,
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::IntoResponse,
};
use serde::Serialize;

pub async fn list(State(s): State<AppState>, caller: Principal) -> Result<Json<Vec<ApiKey>>> {
    Ok(Json(s.keys.list(&caller).await?))
}

/// The create response: the key plus, this once, its secret.
#[derive(Serialize)]
struct Created<'a> {
    #[serde(flatten)]
    api_key: ApiKey,
    key: &'a str,
}

pub async fn create(
    State(s): State<AppState>,
    caller: Principal,
    Json(req): Json<NewApiKey>,
) -> Result<impl IntoResponse> {
    let (api_key, secret) = s.keys.create(&caller, req).await?;
    let body = serde_json::to_vec(&Created {
        api_key,
        key: secret.expose(),
    })
    .map_err(|e| crate::error::Error::Internal(e.into()))?;
    Ok((
        StatusCode::CREATED,
        [
            ("content-type", "application/json"),
            ("cache-control", "no-store"),
        ],
        body,
    ))
}

pub async fn get(
    State(s): State<AppState>,
    caller: Principal,
    Path(name_or_id): Path<String>,
) -> Result<Json<ApiKey>> {
    Ok(Json(s.keys.get(&caller, &name_or_id).await?))
}

pub async fn configure(
    State(s): State<AppState>,
    caller: Principal,
    Path(name_or_id): Path<String>,
    Json(changes): Json<KeyChanges>,
) -> Result<Json<ApiKey>> {
    Ok(Json(s.keys.configure(&caller, &name_or_id, changes).await?))
}

pub async fn deactivate(
    State(s): State<AppState>,
    caller: Principal,
    Path(name_or_id): Path<String>,
) -> Result<Json<ApiKey>> {
    Ok(Json(s.keys.deactivate(&caller, &name_or_id).await?))
}

/// hoop's published API deletes keys with DELETE; here that is the same soft deactivation.
pub async fn delete(
    State(s): State<AppState>,
    caller: Principal,
    Path(name_or_id): Path<String>,
) -> Result<StatusCode> {
    s.keys.deactivate(&caller, &name_or_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn activate(
    State(s): State<AppState>,
    caller: Principal,
    Path(name_or_id): Path<String>,
) -> Result<Json<ApiKey>> {
    Ok(Json(s.keys.activate(&caller, &name_or_id).await?))
}
