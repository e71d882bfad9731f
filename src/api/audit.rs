use super::Json;
use crate::{
    auth::Principal,
    error::{Error, Result},
    startup::AppState,
    store::{self, audit::Event},
};
use axum::extract::{Query, State};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct Page {
    limit: Option<i64>,
    before: Option<i64>,
}

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

pub async fn list(
    State(s): State<AppState>,
    caller: Principal,
    page: std::result::Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<Event>>> {
    caller.require_admin()?;
    let Query(page) = page.map_err(|e| Error::BadRequest(e.body_text()))?;
    let limit = page.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::Invalid(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    Ok(Json(
        store::audit::list(&s.store, caller.org_id, limit, page.before).await?,
    ))
}
