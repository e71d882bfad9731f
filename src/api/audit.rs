use super::json::Json;
use crate::{
    caller::Principal,
    domain::Violation,
    error::{Error, Result},
    state::AppState,
    store,
    wire::audit::{Event, Target},
};
use axum::extract::{Query, State};
use serde::Deserialize;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Events per page (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// Only events older than this event id (the last `id` of the previous page).
    before: Option<i64>,
}

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

/// The audit log, newest first (admins only).
#[utoipa::path(get, path = "/audit", operation_id = "list_audit_events", tag = "audit", security(("bearer" = []), ("api_key" = [])), params(Page),
    responses((status = 200, body = [Event]), (status = 422, body = crate::error::ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    caller: Principal,
    page: std::result::Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<Event>>> {
    caller.require_admin()?;
    let Query(page) = page.map_err(|e| Error::BadRequest(e.body_text()))?;
    let limit = page.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(
            Violation::of("limit", format!("limit must be between 1 and {MAX_LIMIT}")).into(),
        );
    }
    let rows = store::audit::list(&s.store, caller.org_id, limit, page.before).await?;
    Ok(Json(rows.into_iter().map(event).collect::<Result<_>>()?))
}

/// Fails on details of a shape the document does not promise (a writer recording something
/// new): the log says which event, and the client is not sent what its schema cannot read.
fn event(row: store::audit::Event) -> Result<Event> {
    let details = serde_json::from_value(row.details).map_err(|e| {
        Error::Internal(anyhow::anyhow!(
            "audit event {} ({}): details of an undocumented shape: {e}",
            row.id,
            row.action
        ))
    })?;
    Ok(Event {
        id: row.id,
        at: row.at,
        actor: row.actor,
        action: row.action,
        target: Target {
            kind: row.target.kind,
            id: row.target.id,
            name: row.target.name,
        },
        details,
    })
}
