//! Times as people type them (`--expires 90d`, `--grace 24h`) and as the CLI says them back
//! ("expires in 3 days").

use crate::wire::keys::MAX_GRACE_SECONDS;
use chrono::{DateTime, TimeDelta, Utc};
use std::time::Duration;

/// What `--expires` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expires {
    At(DateTime<Utc>),
    Never,
}

impl Expires {
    /// The wire's `expires_at`: null for never.
    pub fn at(self) -> Option<DateTime<Utc>> {
        match self {
            Expires::At(at) => Some(at),
            Expires::Never => None,
        }
    }
}

const EXPIRES_FORMS: &str = "expected a duration from now (90d, 12h, 1w), a date (2027-01-31, \
                             from 00:00 UTC), an RFC 3339 time (2027-01-31T12:00:00Z) or never";

/// clap's parser for `--expires`. A duration counts from now, when the command is parsed; a
/// date is the start of that day in UTC, so a key "until 2027-01-31" is refused on that day
/// everywhere at once. Whether the time is in the future is the gateway's to say (422), so a
/// policy such as the maximum lifetime is decided in one place.
pub fn parse_expires(value: &str) -> Result<Expires, String> {
    parse_expires_at(value, Utc::now())
}

fn parse_expires_at(value: &str, now: DateTime<Utc>) -> Result<Expires, String> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("never") {
        return Ok(Expires::Never);
    }
    // The gateway's own rule for a date, which its web app's date input follows too.
    if let Ok(at) = crate::keys::expiry::start_of_day(value) {
        return Ok(Expires::At(at));
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(Expires::At(at.to_utc()));
    }
    let duration = humantime::parse_duration(value)
        .map_err(|_| format!("`{value}` is not an expiry: {EXPIRES_FORMS}"))?;
    if duration.is_zero() {
        return Err(format!("`{value}` is now: {EXPIRES_FORMS}"));
    }
    TimeDelta::from_std(duration)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .map(Expires::At)
        .ok_or_else(|| format!("`{value}` is too far in the future"))
}

/// clap's parser for `activate --expires`: the activation body has no "never" (an expiry is
/// removed with `configure`), so it is refused here rather than sent as no expiry at all.
pub fn parse_new_expiry(value: &str) -> Result<Expires, String> {
    match parse_expires(value)? {
        Expires::Never => Err("activate takes a new expiry, not never: to remove a key's \
                               expiry, run hoop admin configure apikey NAME --expires never"
            .into()),
        at => Ok(at),
    }
}

/// clap's parser for `--grace`: how long the old secret keeps working after a rotation.
pub fn parse_grace(value: &str) -> Result<Duration, String> {
    let grace = humantime::parse_duration(value.trim()).map_err(|_| {
        format!("`{value}` is not a duration: expected 0, or e.g. 30m, 1h, 24h, 7d")
    })?;
    if grace.as_secs() > MAX_GRACE_SECONDS {
        return Err(format!("`{value}` is too long: the overlap is at most 30d"));
    }
    Ok(grace)
}

/// "3 days", "5 hours", "1 minute": rounded to the nearest unit, the largest that is at least
/// one. A key created "3 days" out reads "3 days" a few seconds later, not "2 days".
pub fn in_words(left: TimeDelta) -> String {
    let seconds = left.num_seconds().max(0);
    let (n, unit) = match seconds {
        s if s >= 86_400 => ((s + 43_200) / 86_400, "day"),
        s if s >= 3_600 => ((s + 1_800) / 3_600, "hour"),
        s => (((s + 30) / 60).max(1), "minute"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// The one line printed when an answer carries `Hoop-Key-Expires`. `name` is the key the CLI
/// logged in with, when it knows it (not for a `HOOP_TOKEN` from the environment): finding it
/// would cost a request on every command.
pub fn warning(at: DateTime<Utc>, now: DateTime<Utc>, name: Option<&str>) -> String {
    let when = if at <= now {
        "has expired".to_owned()
    } else {
        format!("expires in {}", in_words(at - now))
    };
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match name {
        Some(name) => {
            format!("this API key {when} ({at}): rotate it with hoop admin rotate apikey {name}")
        }
        None => format!(
            "this API key {when} ({at}): rotate it with hoop admin rotate apikey <its name> \
             (hoop admin get userinfo shows it)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-02T15:00:00Z".parse().unwrap()
    }

    #[test]
    fn expires_takes_a_duration_a_date_a_time_or_never() {
        let at = |v| {
            parse_expires_at(v, now())
                .unwrap()
                .at()
                .unwrap()
                .to_rfc3339()
        };
        assert_eq!(at("90d"), "2027-03-02T15:00:00+00:00");
        assert_eq!(at("12h"), "2026-12-03T03:00:00+00:00");
        assert_eq!(at("1w"), "2026-12-09T15:00:00+00:00");
        assert_eq!(at("2027-01-31"), "2027-01-31T00:00:00+00:00");
        assert_eq!(at("2027-01-31T12:30:00+02:00"), "2027-01-31T10:30:00+00:00");
        assert_eq!(parse_expires_at("never", now()), Ok(Expires::Never));
        assert_eq!(parse_expires_at("Never", now()), Ok(Expires::Never));
        for bad in ["", "soon", "90", "0s", "2027-13-01", "31/01/2027", "-1d"] {
            let e = parse_expires_at(bad, now()).unwrap_err();
            assert!(e.contains("never") || e.contains("is now"), "{bad}: {e}");
        }
    }

    #[test]
    fn grace_is_a_duration_up_to_30_days() {
        assert_eq!(parse_grace("0"), Ok(Duration::ZERO));
        assert_eq!(parse_grace("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(
            parse_grace("30d"),
            Ok(Duration::from_secs(MAX_GRACE_SECONDS))
        );
        assert!(parse_grace("31d").unwrap_err().contains("at most 30d"));
        assert!(parse_grace("a while").unwrap_err().contains("24h"));
    }

    #[test]
    fn time_left_reads_in_its_largest_unit() {
        let words = |s| in_words(TimeDelta::seconds(s));
        assert_eq!(words(3 * 86_400 - 5), "3 days");
        assert_eq!(words(86_400), "1 day");
        assert_eq!(words(5 * 3_600 - 1), "5 hours");
        assert_eq!(words(3_600), "1 hour");
        assert_eq!(words(90), "2 minutes");
        assert_eq!(words(1), "1 minute");
    }

    #[test]
    fn the_warning_names_the_key_when_it_is_known() {
        let at = now() + TimeDelta::days(3);
        assert_eq!(
            warning(at, now(), Some("ci-bot")),
            "this API key expires in 3 days (2026-12-05T15:00:00Z): rotate it with \
             hoop admin rotate apikey ci-bot"
        );
        assert!(warning(at, now(), None).contains("apikey <its name>"));
        assert!(warning(now(), now(), None).starts_with("this API key has expired"));
    }
}
