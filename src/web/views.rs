//! The UI's types made from the services' answers: errors as the forms show them, times as
//! the pages read them, keys, events, sessions and clients. Pure conversions, so the files that
//! call the services (`gateway`, `activity`) share them without depending on each other.

use crate::{
    error::Error,
    keys::{expiry, ApiKey, KeyStatus},
    policy::KeyPolicy,
    wire::{
        audit::{Detail, DetailValue, Event},
        keys::{RecentClient, UsageDay},
        sessions::{Session, SessionStatus},
    },
};
use app::{
    error::UiError,
    types::{
        AuditEventView, ClientView, DetailView, KeyState, KeyView, SessionView, UsageDayView, When,
        WARN_DAYS,
    },
};
use chrono::{DateTime, Utc};

pub(super) fn ui_error(e: Error) -> UiError {
    match e {
        Error::Unauthenticated | Error::Revoked(_) => UiError::Unauthenticated,
        Error::Forbidden(m) => UiError::Forbidden(m),
        Error::NotFound(m) => UiError::NotFound(m),
        // The services name the request field a rejected value came from; the forms use
        // the same field names, so the error lands under the input that holds the value.
        Error::Conflict(v) | Error::Invalid(v) => match v.field {
            Some(field) => UiError::Field {
                field: field.into_owned(),
                message: v.message,
            },
            None => UiError::Other(v.message),
        },
        Error::BadRequest(m) | Error::TooLarge(m) => UiError::Other(m),
        e @ Error::TooSlow => UiError::Other(e.to_string()),
        Error::TooManyFailures { retry_after } => {
            let secs = crate::error::whole_secs(retry_after);
            UiError::TryLater {
                message: format!(
                    "Too many failed sign-in attempts from your address. Try again in {secs} \
                     second{}.",
                    if secs == 1 { "" } else { "s" }
                ),
                retry_after_secs: secs,
            }
        }
        Error::Busy(message) => UiError::TryLater {
            message,
            retry_after_secs: 1,
        },
        Error::TooManyReports { retry_after } => UiError::TryLater {
            message: e.to_string(),
            retry_after_secs: crate::error::whole_secs(retry_after),
        },
        Error::Unavailable(_) | Error::Internal(_) => {
            // Server functions never turn this into an HTTP response: the cause is logged
            // here, and the page gets no internals.
            e.report();
            UiError::Other("Something went wrong on the server. Try again.".into())
        }
    }
}

pub(super) fn when(at: DateTime<Utc>, now: DateTime<Utc>) -> When {
    When {
        exact: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        relative: relative(at, now),
    }
}

fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds();
    // Ahead: up to the whole minute, so a key made to expire in 7 days reads "in 7 days"
    // rather than the "in 6 days" its first seconds would floor to.
    let (secs, future) = if secs < 0 {
        ((-secs + 59) / 60 * 60, true)
    } else {
        (secs, false)
    };
    let plural = |n: i64, unit: &str| {
        let s = if n == 1 { "" } else { "s" };
        if future {
            format!("in {n} {unit}{s}")
        } else {
            format!("{n} {unit}{s} ago")
        }
    };
    match secs {
        0..=59 => "just now".into(),
        60..=3599 => plural(secs / 60, "minute"),
        3600..=86_399 => plural(secs / 3600, "hour"),
        86_400..=2_591_999 => plural(secs / 86_400, "day"),
        _ => at.format("%Y-%m-%d").to_string(),
    }
}

pub(super) fn key_view(key: ApiKey, now: DateTime<Utc>, policy: KeyPolicy) -> KeyView {
    let horizon = expiry::in_days(now, WARN_DAYS);
    let status = match key.status {
        KeyStatus::Active => KeyState::Active,
        KeyStatus::Deactivated => KeyState::Deactivated,
        KeyStatus::Expired => KeyState::Expired,
    };
    let active = status == KeyState::Active;
    // The unused-key policy counts from the last use, or from the creation of a key never
    // used; the hourly check deactivates it once that many days have passed.
    let unused_deactivation = policy
        .deactivate_unused_days
        .filter(|_| active)
        .map(|days| expiry::in_days(key.last_used_at.unwrap_or(key.created_at), days))
        .filter(|due| *due <= horizon)
        .map(|due| when(due.max(now), now));
    KeyView {
        id: key.id.to_string(),
        name: key.name,
        masked_key: key.masked_key,
        status,
        groups: key.groups,
        created_by: key.created_by,
        created_at: when(key.created_at, now),
        deactivated_by: key.deactivated_by,
        deactivated_at: key.deactivated_at.map(|t| when(t, now)),
        last_used_at: key.last_used_at.map(|t| when(t, now)),
        expires_at: key.expires_at.map(|t| when(t, now)),
        expired: key.expires_at.is_some_and(|t| t <= now),
        expires_soon: active && key.expires_at.is_some_and(|t| t <= horizon),
        unused_deactivation,
        previous_masked_key: key.previous_masked_key,
        previous_expires_at: key.previous_expires_at.map(|t| when(t, now)),
        leak_reported_at: key.leak_reported_at.map(|t| when(t, now)),
    }
}

pub(super) fn client(c: &RecentClient, now: DateTime<Utc>) -> ClientView {
    ClientView {
        ip: c.ip.clone(),
        user_agent: c.user_agent.clone(),
        last_seen: when(c.last_seen_at, now),
    }
}

pub(super) fn usage_day(day: UsageDay) -> UsageDayView {
    UsageDayView {
        date: day.date.to_string(),
        requests: day.requests,
        refused: day.refused,
        execs: day.execs,
    }
}

pub(super) fn session(s: Session, now: DateTime<Utc>) -> SessionView {
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

pub(super) fn event(e: Event, now: DateTime<Utc>) -> AuditEventView {
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
    fn relative_times() {
        let now = Utc::now();
        assert_eq!(relative(now, now), "just now");
        assert_eq!(
            relative(now - chrono::Duration::seconds(61), now),
            "1 minute ago"
        );
        assert_eq!(
            relative(now - chrono::Duration::minutes(150), now),
            "2 hours ago"
        );
        assert_eq!(relative(now - chrono::Duration::days(3), now), "3 days ago");
        assert_eq!(relative(now + chrono::Duration::days(7), now), "in 7 days");
        assert_eq!(
            relative(now + chrono::Duration::minutes(61), now),
            "in 1 hour"
        );
    }

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
}
