//! What the key page, the audit log and the sessions list show: the same service calls the
//! REST API makes, turned into the UI's types. Pages ask for one row more than they show, so
//! they know whether an "Older" page exists without a second query.

use super::views::{client, event, key_view, session, ui_error, usage_day};
use crate::{
    caller::Principal,
    state::AppState,
    wire::{audit::AuditQuery, sessions::SessionQuery},
};
use app::{
    error::UiError,
    gateway::Result,
    types::{
        AuditFilter, AuditPage, KeyDetailView, SessionFilter, SessionsPage, KEY_PAGE_ROWS,
        PAGE_ROWS, USAGE_DAYS,
    },
};

pub(super) async fn key_page(
    state: &AppState,
    caller: &Principal,
    id: String,
) -> Result<KeyDetailView> {
    let key = state.keys.get(caller, &id).await.map_err(ui_error)?;
    let key_id = key.id.to_string();
    let usage = state
        .keys
        .usage(caller, &key_id, USAGE_DAYS)
        .await
        .map_err(ui_error)?;
    let events = state
        .audit
        .events(
            caller,
            &AuditQuery {
                target: Some(key_id.clone()),
                limit: Some(KEY_PAGE_ROWS),
                ..Default::default()
            },
        )
        .await
        .map_err(ui_error)?;
    let sessions = state
        .connections
        .sessions(
            caller,
            &SessionQuery {
                caller: Some(key_id),
                limit: Some(KEY_PAGE_ROWS),
                ..Default::default()
            },
        )
        .await
        .map_err(ui_error)?;
    let now = state.keys.now();
    Ok(KeyDetailView {
        last_used_ip: key.last_used_ip.clone(),
        last_used_user_agent: key.last_used_user_agent.clone(),
        recent_clients: key.recent_clients.iter().map(|c| client(c, now)).collect(),
        usage: usage.into_iter().map(usage_day).collect(),
        events: events.into_iter().map(|e| event(e, now)).collect(),
        sessions: sessions.into_iter().map(|s| session(s, now)).collect(),
        key: key_view(key, now, state.keys.policy()),
    })
}

pub(super) async fn audit_log(
    state: &AppState,
    caller: &Principal,
    filter: AuditFilter,
) -> Result<AuditPage> {
    let query = AuditQuery {
        actor: filter.actor,
        action: filter.action,
        target: filter.target,
        limit: Some(PAGE_ROWS + 1),
        before: filter.before,
    };
    let mut events = state.audit.events(caller, &query).await.map_err(ui_error)?;
    let older = more(&mut events).map(|last| last.id);
    let now = state.keys.now();
    Ok(AuditPage {
        events: events.into_iter().map(|e| event(e, now)).collect(),
        older,
    })
}

pub(super) async fn sessions(
    state: &AppState,
    caller: &Principal,
    filter: SessionFilter,
) -> Result<SessionsPage> {
    // A blank field filters nothing: the service reads the text filters so; `before`, parsed
    // here, by the same rule.
    let before = match crate::domain::given(&filter.before) {
        Some(b) => Some(uuid::Uuid::parse_str(b).map_err(|_| UiError::Field {
            field: "before".into(),
            message: "The address names no session to page from: start from the newest.".into(),
        })?),
        None => None,
    };
    let query = SessionQuery {
        caller: filter.caller,
        connection: filter.connection,
        limit: Some(PAGE_ROWS + 1),
        before,
    };
    let mut sessions = state
        .connections
        .sessions(caller, &query)
        .await
        .map_err(ui_error)?;
    let older = more(&mut sessions).map(|last| last.id.to_string());
    let now = state.keys.now();
    Ok(SessionsPage {
        sessions: sessions.into_iter().map(|s| session(s, now)).collect(),
        older,
    })
}

/// Drops the extra row a page asked for; if it was there, the last row shown is where the
/// next page starts.
fn more<T>(rows: &mut Vec<T>) -> Option<&T> {
    let page = usize::try_from(PAGE_ROWS).unwrap_or(usize::MAX);
    if rows.len() > page {
        rows.truncate(page);
        rows.last()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_page_has_an_older_one() {
        let mut rows: Vec<i64> = (0..=PAGE_ROWS).collect();
        assert_eq!(more(&mut rows).copied(), Some(PAGE_ROWS - 1));
        assert_eq!(rows.len() as i64, PAGE_ROWS);
        let mut rows: Vec<i64> = (0..PAGE_ROWS).collect();
        assert_eq!(more(&mut rows), None);
    }
}
