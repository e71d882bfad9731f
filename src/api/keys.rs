use super::json::{Json, OptionalJson};
use crate::{
    auth::ClientAddr,
    caller::Principal,
    error::{Error, Result},
    keys::{listing::KeyQuery, ApiKey, KeyChanges, NewApiKey, RawApiKey},
    secret::SecretString,
    state::AppState,
    wire::keys::{
        Activation, ApiKeyList, CreatedApiKey, KeyListQuery, LeakReceipt, LeakReport, Rotation,
        UsageDay, UsageQuery,
    },
};
use axum::{
    extract::{rejection::QueryRejection, Path, Query, State},
    http::StatusCode,
    response::IntoResponse,
};
use std::time::{Duration, Instant};

/// The caller's organization's keys (admins only). Without parameters: all of them, as a plain
/// array (what hoop's clients read). With any: one page, filtered and sorted as asked, with
/// the cursor of the next.
#[utoipa::path(get, path = "/api-keys", operation_id = "list_api_keys", tag = "api-keys", security(("bearer" = []), ("api_key" = [])),
    params(KeyListQuery),
    responses((status = 200, description = "A plain array without parameters; a page with any", body = ApiKeyList),
        (status = 400, description = "The query string cannot be read", body = crate::error::ErrorBody),
        (status = 422, description = "A parameter's value is invalid (the field names it)", body = crate::error::ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    caller: Principal,
    query: std::result::Result<Query<KeyListQuery>, QueryRejection>,
) -> Result<Json<ApiKeyList>> {
    let Query(query) = query.map_err(|e| Error::BadRequest(e.body_text()))?;
    if !query.wants_page() {
        return Ok(Json(ApiKeyList::All(s.keys.list(&caller).await?)));
    }
    // Admins only, before a parameter's error could tell anyone else anything.
    caller.require_admin()?;
    let query = KeyQuery::parse(&query).map_err(Error::Invalid)?;
    Ok(Json(ApiKeyList::Page(s.keys.page(&caller, &query).await?)))
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
    with_secret(StatusCode::CREATED, api_key, secret)
}

/// A key's use per UTC day, oldest first, zeros included: requests accepted, requests refused
/// because it was deactivated or expired, and execs. Counts reach the database within about a
/// second, summed over every replica (admins only).
#[utoipa::path(get, path = "/api-keys/{name_or_id}/usage", operation_id = "api_key_usage", tag = "api-keys", security(("bearer" = []), ("api_key" = [])),
    params(("name_or_id" = String, Path, description = "The key's name or id"), UsageQuery),
    responses((status = 200, body = [UsageDay]), (status = 404, body = crate::error::ErrorBody),
        (status = 422, description = "days out of range", body = crate::error::ErrorBody)))]
pub async fn usage(
    State(s): State<AppState>,
    caller: Principal,
    Path(name_or_id): Path<String>,
    query: std::result::Result<Query<UsageQuery>, QueryRejection>,
) -> Result<Json<Vec<UsageDay>>> {
    let Query(query) = query.map_err(|e| Error::BadRequest(e.body_text()))?;
    let days = query.days.unwrap_or(DEFAULT_USAGE_DAYS);
    Ok(Json(s.keys.usage(&caller, &name_or_id, days).await?))
}

const DEFAULT_USAGE_DAYS: u32 = 30;

/// A key with its new secret: the one answer that carries one.
fn with_secret(
    status: StatusCode,
    api_key: ApiKey,
    secret: RawApiKey,
) -> Result<impl IntoResponse> {
    let body = serde_json::to_vec(&CreatedApiKey {
        api_key,
        key: SecretString::new(secret.expose().to_owned()),
    })
    .map_err(|e| Error::Internal(e.into()))?;
    Ok((
        status,
        [
            ("content-type", "application/json"),
            ("cache-control", "no-store"),
        ],
        body,
    ))
}

/// Gives a key a new secret, shown this once; the old one keeps working for `grace_seconds`.
/// Same id, name, groups and expiry (admins only).
#[utoipa::path(post, path = "/api-keys/{name_or_id}/rotate", operation_id = "rotate_api_key", tag = "api-keys", security(("bearer" = []), ("api_key" = [])), params(("name_or_id" = String, Path, description = "The key's name or id")),
    request_body(content = Option<Rotation>, description = "Optional: without a body the old secret ends at once"),
    responses((status = 200, body = CreatedApiKey), (status = 404, body = crate::error::ErrorBody),
        (status = 422, description = "grace_seconds out of range, or the key is deactivated or expired", body = crate::error::ErrorBody)))]
pub async fn rotate(
    State(s): State<AppState>,
    caller: Principal,
    Path(name_or_id): Path<String>,
    OptionalJson(rotation): OptionalJson<Rotation>,
) -> Result<impl IntoResponse> {
    let (api_key, secret) = s.keys.rotate(&caller, &name_or_id, rotation).await?;
    with_secret(StatusCode::OK, api_key, secret)
}

/// How long every leak report takes to answer: the work is done meanwhile (in a task the
/// reporter cannot cancel), so the answer comes at the same time whether or not a key matched.
const LEAK_ANSWER_AFTER: Duration = Duration::from_millis(300);

/// Reports keys found where they should not be. No authentication: what a secret scanner calls.
/// Every live secret among them stops working (its key is deactivated by `leak-report`). The
/// answer is always the same 202, at the same time, whether or not anything matched.
#[utoipa::path(post, path = "/api-keys/leaked", operation_id = "report_leaked_api_keys", tag = "api-keys", request_body = LeakReport,
    responses((status = 202, body = LeakReceipt), (status = 422, description = "Not 1 to 100 strings", body = crate::error::ErrorBody),
        (status = 429, description = "Too many reports from this address", body = crate::error::ErrorBody)))]
pub async fn report_leaked(
    State(s): State<AppState>,
    ClientAddr(from): ClientAddr,
    Json(report): Json<LeakReport>,
) -> Result<(StatusCode, Json<LeakReceipt>)> {
    let started = Instant::now();
    if report.keys.is_empty() || report.keys.len() > 100 {
        return Err(Error::Invalid(crate::domain::Violation::of(
            "keys",
            "keys must hold 1 to 100 strings",
        )));
    }
    if let Some(retry_after) = s.leak_reports.fail(from, started) {
        return Err(Error::TooManyReports { retry_after });
    }
    let received = report.keys.len();
    let keys = s.keys.clone();
    let work = tokio::spawn(async move { keys.report_leaks(&report.keys, from).await });
    // Both: the answer waits for the work up to the fixed time, and never answers sooner.
    let deadline = tokio::time::Instant::from_std(started + LEAK_ANSWER_AFTER);
    let _ = tokio::time::timeout_at(deadline, work).await;
    tokio::time::sleep_until(deadline).await;
    Ok((StatusCode::ACCEPTED, Json(LeakReceipt { received })))
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

/// Activates a deactivated key; the same secret works again (a rotation's old one does not).
/// An expired key needs a new `expires_at`. Idempotent.
#[utoipa::path(post, path = "/api-keys/{name_or_id}/activate", operation_id = "activate_api_key", tag = "api-keys", security(("bearer" = []), ("api_key" = [])), params(("name_or_id" = String, Path, description = "The key's name or id")),
    request_body(content = Option<Activation>, description = "Optional: a new expiry, which an expired key needs"),
    responses((status = 200, body = ApiKey), (status = 404, body = crate::error::ErrorBody),
        (status = 422, description = "The key has expired and no new expires_at was given, or it is not allowed", body = crate::error::ErrorBody)))]
pub async fn activate(
    State(s): State<AppState>,
    caller: Principal,
    Path(name_or_id): Path<String>,
    OptionalJson(activation): OptionalJson<Activation>,
) -> Result<Json<ApiKey>> {
    Ok(Json(
        s.keys.activate(&caller, &name_or_id, activation).await?,
    ))
}

/// The same as `activate`, under the name hoop's published API uses.
#[utoipa::path(post, path = "/api-keys/{name_or_id}/reactivate", operation_id = "reactivate_api_key", tag = "api-keys", security(("bearer" = []), ("api_key" = [])), params(("name_or_id" = String, Path, description = "The key's name or id")),
    responses((status = 200, body = ApiKey), (status = 404, body = crate::error::ErrorBody)))]
pub async fn reactivate(
    state: State<AppState>,
    caller: Principal,
    name_or_id: Path<String>,
    activation: OptionalJson<Activation>,
) -> Result<Json<ApiKey>> {
    activate(state, caller, name_or_id, activation).await
}
