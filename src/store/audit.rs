//! The audit log: one row per change, written in the same transaction as the change.

mod change;

pub use change::{Change, FromTo};

use super::{on_pool, Store};
use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, FromRow, Type};
use uuid::Uuid;

/// The insert recording `change`, made by `actor` at `at`, ready to run on either backend's
/// transaction (the one that makes the change).
pub fn insert<'q, DB: Database>(
    org_id: Uuid,
    at: DateTime<Utc>,
    actor: &'q str,
    change: &Change<'_>,
) -> sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>
where
    Uuid: Encode<'q, DB> + Type<DB>,
    DateTime<Utc>: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    String: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(
        "INSERT INTO audit_events \
         (org_id, occurred_at, actor, action, target_type, target_id, target_name, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(org_id)
    .bind(at)
    .bind(actor)
    .bind(change.action())
    .bind(change.target_type())
    .bind(change.target_id())
    .bind(change.target_name().to_owned())
    .bind(change.details().to_string())
}

/// Counts an audit event in the metrics. Called once its transaction has committed: a change
/// that rolled back left no event to count.
pub(super) fn committed(action: &'static str) {
    metrics::counter!("hoop_audit_events_total", "action" => action).increment(1);
}

#[derive(Debug, FromRow)]
struct EventRow {
    id: i64,
    occurred_at: DateTime<Utc>,
    actor: String,
    action: String,
    target_type: String,
    target_id: String,
    target_name: String,
    details: String,
}

#[derive(Debug)]
pub struct Target {
    pub kind: String,
    pub id: String,
    pub name: String,
}

/// An event as the store reads it (the API sends `wire::audit::Event`).
#[derive(Debug)]
pub struct Event {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: Target,
    /// The JSON the writer recorded; null if it no longer parses.
    pub details: serde_json::Value,
}

/// Which events a page holds; `None` leaves a field out. Text filters match exactly.
#[derive(Debug, Default)]
pub struct Filter<'a> {
    pub actor: Option<&'a str>,
    pub action: Option<&'a str>,
    /// The target's id or its recorded name.
    pub target: Option<&'a str>,
    /// An event id from a previous page: only older events.
    pub before: Option<i64>,
}

/// Newest first. The SQL names only the filters given, so each query can use its own index
/// (`0008_audit_filters.sql`) rather than one generic plan for every combination.
pub async fn list(
    store: &Store,
    org_id: Uuid,
    filter: &Filter<'_>,
    limit: i64,
) -> Result<Vec<Event>, sqlx::Error> {
    let mut sql = String::from(
        "SELECT id, occurred_at, actor, action, target_type, target_id, target_name, details \
         FROM audit_events WHERE org_id = $1 AND id < $2",
    );
    let mut texts = Vec::new();
    for (clause, value) in [("actor = ", filter.actor), ("action = ", filter.action)] {
        if let Some(value) = value {
            texts.push(value);
            sql.push_str(&format!(" AND {clause}${}", texts.len() + 2));
        }
    }
    if let Some(target) = filter.target {
        texts.push(target);
        let n = texts.len() + 2;
        sql.push_str(&format!(" AND (target_id = ${n} OR target_name = ${n})"));
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", texts.len() + 3));
    let rows: Vec<EventRow> = on_pool!(store, pool => {
        let mut query = sqlx::query_as(&sql)
            .bind(org_id)
            .bind(filter.before.unwrap_or(i64::MAX));
        for text in &texts {
            query = query.bind(*text);
        }
        query.bind(limit).fetch_all(pool).await
    })?;
    Ok(rows
        .into_iter()
        .map(|r| Event {
            id: r.id,
            at: r.occurred_at,
            actor: r.actor,
            action: r.action,
            target: Target {
                kind: r.target_type,
                id: r.target_id,
                name: r.target_name,
            },
            details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
        })
        .collect())
}
