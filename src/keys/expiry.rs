//! The rules a key's expiry follows: in the future, and within the operator's maximum lifetime.

use crate::{domain::Violation, error::Result, policy::KeyPolicy};
use chrono::{DateTime, DurationRound, NaiveDate, NaiveTime, TimeDelta, Utc};

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

/// The expiry a change leaves a key with, under the policy, for every change that gives a
/// secret life (create, configure, activate, rotate): `Some(wanted)` is checked as a new expiry
/// and returned to be stored; `None` keeps `current`, which must then meet the maximum lifetime
/// as a new one would, so a key from before the limit cannot be revived or rotated past it.
/// A `current` already past is left to the caller (a key that stays expired gains no life).
pub fn after_change(
    wanted: Option<Option<DateTime<Utc>>>,
    current: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    policy: KeyPolicy,
) -> Result<Option<Option<DateTime<Utc>>>> {
    if let Some(wanted) = wanted {
        return check(wanted, now, policy).map(Some);
    }
    let Some(days) = policy.max_lifetime_days else {
        return Ok(None);
    };
    let latest = in_days(now, days);
    let why = match current {
        Some(at) if at <= latest => return Ok(None),
        Some(at) => format!(
            "this key expires at {}, past the maximum lifetime",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        None => "this key never expires, past the maximum lifetime".to_owned(),
    };
    Err(Violation::of(
        "expires_at",
        format!("{why} of {days} days here ({POLICY}): give it an expires_at"),
    )
    .into())
}

/// A date as an expiry: 00:00:00 UTC at the start of that day. The web app's date input and
/// the CLI's `--expires 2027-01-31` read a date this one way.
pub fn start_of_day(date: &str) -> Result<DateTime<Utc>> {
    NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
        .map(|d| d.and_time(NaiveTime::MIN).and_utc())
        .map_err(|_| {
            Violation::of(
                "expires_at",
                format!("{date:?} is not a date: give it as YYYY-MM-DD"),
            )
            .into()
        })
}

/// `days` whole days after `now` ("expires in 30 days").
pub fn in_days(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    now + TimeDelta::days(i64::from(days))
}

/// The latest date [`start_of_day`] may give under the policy at `now`, if there is a limit.
pub fn latest_date(now: DateTime<Utc>, policy: KeyPolicy) -> Option<NaiveDate> {
    policy
        .max_lifetime_days
        .map(|days| in_days(now, days).date_naive())
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

    /// A change that keeps the expiry keeps it only within the limit: a key from before the
    /// limit, without an expiry or with one too far, must be given one.
    #[test]
    fn a_kept_expiry_meets_the_limit_too() {
        let now = Utc::now();
        let limited = KeyPolicy {
            max_lifetime_days: Some(30),
            ..KeyPolicy::default()
        };
        let kept = |current| after_change(None, current, now, limited);
        let message = |r: Result<Option<Option<DateTime<Utc>>>>| field_message(r.map(|_| None));
        assert!(message(kept(None)).contains("never expires"));
        assert!(message(kept(Some(now + TimeDelta::days(31)))).contains("30 days"));
        assert_eq!(kept(Some(now + TimeDelta::days(30))).ok(), Some(None));
        assert_eq!(kept(Some(now - TimeDelta::days(1))).ok(), Some(None));
        assert_eq!(
            after_change(None, None, now, KeyPolicy::default()).ok(),
            Some(None)
        );
        let wanted = now + TimeDelta::days(3);
        let set = after_change(Some(Some(wanted)), None, now, limited).unwrap();
        assert_eq!(
            set.flatten().map(|at| at.timestamp()),
            Some(wanted.timestamp())
        );
        assert!(after_change(Some(None), None, now, limited).is_err());
    }

    #[test]
    fn a_date_is_the_start_of_that_day_in_utc() {
        let at = start_of_day("2027-01-31").unwrap();
        assert_eq!(at.to_rfc3339(), "2027-01-31T00:00:00+00:00");
        assert!(start_of_day("31/01/2027").is_err());
        let now = DateTime::parse_from_rfc3339("2026-12-02T15:00:00Z")
            .unwrap()
            .to_utc();
        let limited = KeyPolicy {
            max_lifetime_days: Some(30),
            ..KeyPolicy::default()
        };
        let latest = latest_date(now, limited).unwrap();
        assert_eq!(latest.to_string(), "2027-01-01");
        // The latest date is allowed, the day after is not.
        let latest_at = start_of_day(&latest.to_string()).unwrap();
        assert!(check(Some(latest_at), now, limited).is_ok());
        assert!(check(Some(latest_at + TimeDelta::days(1)), now, limited).is_err());
    }
}
