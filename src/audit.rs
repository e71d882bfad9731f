//! Reading the audit log: the one place the REST API, the web app and the MCP tools ask for
//! events (writing happens in each change's own transaction, `store::audit::insert`).

use crate::{
    caller::Principal,
    domain::{given, Violation},
    error::{Error, Result},
    store::{self, Store},
    wire::audit::{AuditQuery, Event, Target},
};

const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

/// The organization's log, read (admins only).
#[derive(Clone)]
pub struct AuditLog {
    store: Store,
}

impl AuditLog {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// A page of the caller's organization's log, newest first.
    pub async fn events(&self, caller: &Principal, query: &AuditQuery) -> Result<Vec<Event>> {
        caller.require_admin()?;
        let limit = page_limit(query.limit, DEFAULT_LIMIT)?;
        let filter = store::audit::Filter {
            actor: given(&query.actor),
            action: given(&query.action),
            target: given(&query.target),
            before: query.before,
        };
        let rows = store::audit::list(&self.store, caller.org_id, &filter, limit).await?;
        rows.into_iter().map(event).collect()
    }
}

/// `limit`, or `default` without one; out of `1..=MAX_LIMIT` is the caller's error.
pub fn page_limit(limit: Option<i64>, default: i64) -> Result<i64> {
    let limit = limit.unwrap_or(default);
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(Violation::of("limit", format!("limit must be between 1 and {MAX_LIMIT}")).into())
    }
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
