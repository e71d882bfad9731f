use super::json::Json;
use crate::{
    caller::Principal,
    error::Result,
    keys::{ApiKey, KeyChanges, NewApiKey},
    secret::SecretString,
    state::AppState,
    wire::keys::CreatedApiKey,
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::IntoResponse,
};

/// All keys of the caller's organization (admins only).
#[utoipa::path(get, path = "/api-keys", operation_id = "list_api_keys", tag = "api-keys", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = [ApiKey])))]
pub async fn list(State(s): State<AppState>, caller: Principal) -> Result<Json<Vec<ApiKey>>> {
    Ok(Json(s.keys.list(&caller).await?))
}

/// Creates a key; the answer carries its secret, the only time it is sent (admins only).
#[utoipa::path(post, path = "/api-keys", operation_id = "create_api_key", tag = "api-keys", security(("bearer" = []), ("api_key" = [])), request_body = NewApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 409, description = "A key with this name exists", body = crate::error::ErrorBody),
        (status = 422, description = "Invalid name or groups", body = crate::error::ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    caller: Principal,
    Json(req): Json<NewApiKey>,
) -> Result<impl IntoResponse> {
    let (api_key, secret) = s.keys.create(&caller, req).await?;
    let body = serde_json::to_vec(&CreatedApiKey {
        api_key,
        key: SecretString::new(secret.expose().to_owned()),
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

/// One key, by name or id (admins only).
#[utoipa::path(get, path = "/api-keys/{name_or_id}", operation_id = "get_api_key", tag = "api-keys", security(("bearer" = []), ("api_key" = [])), params(("name_or_id" = String, Path, description = "The key's name or id")),
    responses((status = 200, body = ApiKey), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(s): State<AppState>,
    caller: Principal,
    Path(name_or_id): Path<String>,
) -> Result<Json<ApiKey>> {
    Ok(Json(s.keys.get(&caller, &name_or_id).await?))
}

/// Renames and/or regroups a key; its secret is unchanged.
#[utoipa::path(put, path = "/api-keys/{name_or_id}", operation_id = "configure_api_key", tag = "api-keys", security(("bearer" = []), ("api_key" = [])), params(("name_or_id" = String, Path, description = "The key's name or id")),
    request_body = KeyChanges,
    responses((status = 200, body = ApiKey), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn configure(
    State(s): State<AppState>,
    caller: Principal,
    Path(name_or_id): Path<String>,
    Json(changes): Json<KeyChanges>,
) -> Result<Json<ApiKey>> {
    Ok(Json(s.keys.configure(&caller, &name_or_id, changes).await?))
}

/// Deactivates a key: refused from the next request on. Idempotent.
#[utoipa::path(post, path = "/api-keys/{name_or_id}/deactivate", operation_id = "deactivate_api_key", tag = "api-keys", security(("bearer" = []), ("api_key" = [])), params(("name_or_id" = String, Path, description = "The key's name or id")),
    responses((status = 200, body = ApiKey), (status = 404, body = crate::error::ErrorBody)))]
pub async fn deactivate(
    State(s): State<AppState>,
    caller: Principal,
    Path(name_or_id): Path<String>,
) -> Result<Json<ApiKey>> {
    Ok(Json(s.keys.deactivate(&caller, &name_or_id).await?))
}

/// hoop's published API deletes keys with DELETE; here that is the same soft deactivation.
#[utoipa::path(delete, path = "/api-keys/{name_or_id}", operation_id = "delete_api_key", tag = "api-keys", security(("bearer" = []), ("api_key" = [])), params(("name_or_id" = String, Path, description = "The key's name or id")),
    responses((status = 204, description = "Deactivated"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete(
    State(s): State<AppState>,
    caller: Principal,
    Path(name_or_id): Path<String>,
) -> Result<StatusCode> {
    s.keys.deactivate(&caller, &name_or_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Activates a deactivated key; the same secret works again. Idempotent.
#[utoipa::path(post, path = "/api-keys/{name_or_id}/activate", operation_id = "activate_api_key", tag = "api-keys", security(("bearer" = []), ("api_key" = [])), params(("name_or_id" = String, Path, description = "The key's name or id")),
    responses((status = 200, body = ApiKey), (status = 404, body = crate::error::ErrorBody)))]
pub async fn activate(
    State(s): State<AppState>,
    caller: Principal,
    Path(name_or_id): Path<String>,
) -> Result<Json<ApiKey>> {
    Ok(Json(s.keys.activate(&caller, &name_or_id).await?))
}

/// The same as `activate`, under the name hoop's published API uses.
#[utoipa::path(post, path = "/api-keys/{name_or_id}/reactivate", operation_id = "reactivate_api_key", tag = "api-keys", security(("bearer" = []), ("api_key" = [])), params(("name_or_id" = String, Path, description = "The key's name or id")),
    responses((status = 200, body = ApiKey), (status = 404, body = crate::error::ErrorBody)))]
pub async fn reactivate(
    state: State<AppState>,
    caller: Principal,
    name_or_id: Path<String>,
) -> Result<Json<ApiKey>> {
    activate(state, caller, name_or_id).await
}
