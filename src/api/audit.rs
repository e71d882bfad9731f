use super::json::Json;
use crate::{
    caller::Principal,
    error::{Error, Result},
    state::AppState,
    wire::audit::{AuditQuery, Event},
};
use axum::extract::{rejection::QueryRejection, Query, State};

/// The audit log, newest first, narrowed by actor, action and target (admins only).
#[utoipa::path(get, path = "/audit", operation_id = "list_audit_events", tag = "audit", security(("bearer" = []), ("api_key" = [])), params(AuditQuery),
    responses((status = 200, body = [Event]), (status = 400, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    caller: Principal,
    query: std::result::Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Vec<Event>>> {
    let Query(query) = query.map_err(|e| Error::BadRequest(e.body_text()))?;
    Ok(Json(s.audit.events(&caller, &query).await?))
}
