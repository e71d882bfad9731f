//! The rules a key's expiry follows: in the future, and within the operator's maximum lifetime.

use crate::{domain::Violation, error::Result, policy::KeyPolicy};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};

const POLICY: &str = "HOOP_API_KEY_MAX_LIFETIME_DAYS";

/// `wanted` as a key may have it at `now`; `None` is "never".
pub fn check(
    wanted: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    policy: KeyPolicy,
) -> Result<Option<DateTime<Utc>>> {
    let invalid = |message: String| Err(Violation::of("expires_at", message).into());
    let limit = policy
        .max_lifetime_days
        .map(|days| (days, now + TimeDelta::days(i64::from(days))));
    match (wanted, limit) {
        (None, None) => Ok(None),
        (None, Some((days, _))) => invalid(format!(
            "keys may live at most {days} days here ({POLICY}): give an expires_at"
        )),
        (Some(at), _) if at <= now => invalid("expires_at must be in the future".into()),
        (Some(at), Some((days, latest))) if at > latest => invalid(format!(
            "expires_at is past the maximum lifetime of {days} days ({POLICY}): {} at the latest",
            latest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )),
        // Stored to the millisecond, as every time is (see `store::now`).
        (Some(at), _) => Ok(Some(
            at.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(at),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn field_message(r: Result<Option<DateTime<Utc>>>) -> String {
        match r {
            Err(Error::Invalid(v)) => {
                assert_eq!(v.field.as_deref(), Some("expires_at"));
                v.message
            }
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    #[test]
    fn never_is_allowed_only_without_a_limit() {
        let now = Utc::now();
        assert_eq!(check(None, now, KeyPolicy::default()).ok(), Some(None));
        let limited = KeyPolicy {
            max_lifetime_days: Some(90),
            ..KeyPolicy::default()
        };
        assert!(field_message(check(None, now, limited)).contains("90 days"));
        assert!(field_message(check(None, now, limited)).contains(POLICY));
    }

    #[test]
    fn the_past_and_past_the_limit_are_refused() {
        let now = Utc::now();
        let limited = KeyPolicy {
            max_lifetime_days: Some(30),
            ..KeyPolicy::default()
        };
        assert!(field_message(check(Some(now), now, KeyPolicy::default())).contains("future"));
        let too_far = now + TimeDelta::days(31);
        assert!(field_message(check(Some(too_far), now, limited)).contains("30 days"));
        let fine = now + TimeDelta::days(30);
        assert!(check(Some(fine), now, limited).is_ok());
    }
}
