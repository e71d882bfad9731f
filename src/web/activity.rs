//! What the key page, the audit log and the sessions list show: the same service calls the
//! REST API makes, turned into the UI's types. Pages ask for one row more than they show, so
//! they know whether an "Older" page exists without a second query.

use super::gateway::{ui_error, when, WebGateway};
use crate::wire::{
    audit::{AuditQuery, Detail, DetailValue, Event},
    keys::{RecentClient, UsageDay},
    sessions::{Session, SessionQuery, SessionStatus},
};
use app::{
    error::UiError,
    gateway::Result,
    types::{
        AuditEventView, AuditFilter, AuditPage, ClientView, DetailView, KeyDetailView,
        SessionFilter, SessionView, SessionsPage, UsageDayView, KEY_PAGE_ROWS, PAGE_ROWS,
        USAGE_DAYS,
    },
};
use chrono::{DateTime, Utc};

pub(super) async fn key_page(web: &WebGateway, id: String) -> Result<KeyDetailView> {
    let caller = web.caller().await?;
    let state = &web.state;
    let key = state.keys.get(&caller, &id).await.map_err(ui_error)?;
    let key_id = key.id.to_string();
    let usage = state
        .keys
        .usage(&caller, &key_id, USAGE_DAYS)
        .await
        .map_err(ui_error)?;
    let events = crate::audit::events(
        &state.store,
        &caller,
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
            &caller,
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
        key: web.view(key),
    })
}

pub(super) async fn audit_log(web: &WebGateway, filter: AuditFilter) -> Result<AuditPage> {
    let caller = web.caller().await?;
    let query = AuditQuery {
        actor: filter.actor,
        action: filter.action,
        target: filter.target,
        limit: Some(PAGE_ROWS + 1),
        before: filter.before,
    };
    let mut events = crate::audit::events(&web.state.store, &caller, &query)
        .await
        .map_err(ui_error)?;
    let older = more(&mut events).map(|last| last.id);
    let now = web.state.keys.now();
    Ok(AuditPage {
        events: events.into_iter().map(|e| event(e, now)).collect(),
        older,
    })
}

pub(super) async fn sessions(web: &WebGateway, filter: SessionFilter) -> Result<SessionsPage> {
    let caller = web.caller().await?;
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
    let mut sessions = web
        .state
        .connections
        .sessions(&caller, &query)
        .await
        .map_err(ui_error)?;
    let older = more(&mut sessions).map(|last| last.id.to_string());
    let now = web.state.keys.now();
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

fn client(c: &RecentClient, now: DateTime<Utc>) -> ClientView {
    ClientView {
        ip: c.ip.clone(),
        user_agent: c.user_agent.clone(),
        last_seen: when(c.last_seen_at, now),
    }
}

fn usage_day(day: UsageDay) -> UsageDayView {
    UsageDayView {
        date: day.date.to_string(),
        requests: day.requests,
        refused: day.refused,
        execs: day.execs,
    }
}

fn session(s: Session, now: DateTime<Utc>) -> SessionView {
    SessionView {
        id: s.id.to_string(),
        actor: s.actor,
        auth_method: s.auth_method,
        connection: s.connection,
        succeeded: s.status == SessionStatus::Success,
        cancelled: s.reason.filter(|_| s.status == SessionStatus::Cancelled),
        exit_code: s.exit_code,
        duration_ms: s.execution_time_ms,
        at: when(s.created_at, now),
    }
}

fn event(e: Event, now: DateTime<Utc>) -> AuditEventView {
    let target_href = target_href(&e.target.kind, &e.target.id);
    AuditEventView {
        id: e.id,
        at: when(e.at, now),
        actor: e.actor,
        action: e.action,
        target_kind: e.target.kind,
        target_id: e.target.id,
        target_name: e.target.name,
        target_href,
        details: e
            .details
            .into_iter()
            .map(|(field, detail)| match detail {
                Detail::Change(c) => DetailView::Change {
                    field,
                    from: text(c.from),
                    to: text(c.to),
                },
                Detail::Value(v) => DetailView::Value {
                    field,
                    value: text(v),
                },
            })
            .collect(),
    }
}

/// Where an event's target is shown. Users have no page of their own: theirs is the log's
/// events about them.
fn target_href(kind: &str, id: &str) -> String {
    let encoded = || form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>();
    match kind {
        "api_key" => format!("/settings/api-keys/{}", encoded()),
        "connection" => "/connections".into(),
        "group" => "/settings/groups".into(),
        _ => format!("/settings/audit?target={}", encoded()),
    }
}

fn text(value: DetailValue) -> String {
    match value {
        // Times (an expiry) read as the rest of the page shows them.
        DetailValue::Text(s) => match DateTime::parse_from_rfc3339(&s) {
            Ok(at) => at
                .with_timezone(&Utc)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string(),
            Err(_) => s,
        },
        DetailValue::Number(n) => n.to_string(),
        DetailValue::Flag(true) => "yes".into(),
        DetailValue::Flag(false) => "no".into(),
        DetailValue::List(items) if items.is_empty() => "none".into(),
        DetailValue::List(items) => items.join(", "),
        DetailValue::Null => "none".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_link_to_their_page() {
        assert_eq!(
            target_href("api_key", "0b6c0c8e-1"),
            "/settings/api-keys/0b6c0c8e-1"
        );
        assert_eq!(target_href("connection", "x"), "/connections");
        assert_eq!(
            target_href("user", "a b&c"),
            "/settings/audit?target=a+b%26c"
        );
    }

    #[test]
    fn values_read_as_text() {
        assert_eq!(text(DetailValue::List(vec![])), "none");
        assert_eq!(text(["a", "b"].into()), "a, b");
        assert_eq!(text(DetailValue::Null), "none");
        assert_eq!(text(DetailValue::Flag(true)), "yes");
        assert_eq!(text("2027-01-02T07:36:32Z".into()), "2027-01-02 07:36 UTC");
        assert_eq!(text("deploy-bot".into()), "deploy-bot");
    }

    #[test]
    fn a_full_page_has_an_older_one() {
        let mut rows: Vec<i64> = (0..=PAGE_ROWS).collect();
        assert_eq!(more(&mut rows).copied(), Some(PAGE_ROWS - 1));
        assert_eq!(rows.len() as i64, PAGE_ROWS);
        let mut rows: Vec<i64> = (0..PAGE_ROWS).collect();
        assert_eq!(more(&mut rows), None);
    }
}
