//! What a log line may say of a request's URL. The gateway never takes a credential from a URL,
//! but clients put them there anyway (`?access_token=hpk_…`); the refusal must not write the
//! secret into the log, whatever level the log runs at.

use axum::http::Uri;
use std::fmt::Write;

const REDACTED: &str = "[redacted]";

/// Parameter names that carry credentials in the APIs clients copy from, as parts of a name
/// (`access_token`, `api_key`, `X-Amz-Signature`, `client_secret`, …).
const CREDENTIAL_NAMES: &[&str] = &[
    "token",
    "key",
    "secret",
    "pass",
    "auth",
    "credential",
    "session",
    "signature",
    "sig",
    "code",
    "jwt",
    "assertion",
];

/// Prefixes of this gateway's own secrets: a value that starts with one is redacted under any
/// name.
const SECRET_PREFIXES: &[&str] = &["hpk_", "hut_"];

/// The URL as it may be logged: path as sent, each query value that looks like a credential
/// (by its name or its value, both read decoded) replaced by `[redacted]`.
pub fn uri(uri: &Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.to_string();
    };
    let mut out = String::with_capacity(uri.path().len() + query.len() + 1);
    if let Some(scheme) = uri.scheme_str() {
        let _ = write!(out, "{scheme}://");
    }
    if let Some(authority) = uri.authority() {
        out.push_str(authority.as_str());
    }
    out.push_str(uri.path());
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        out.push_str(name);
        if pair.contains('=') {
            out.push('=');
            out.push_str(if is_credential(name, value) {
                REDACTED
            } else {
                value
            });
        }
    }
    out
}

fn is_credential(name: &str, value: &str) -> bool {
    let decoded = |s: &str| -> String {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let name = decoded(name).to_ascii_lowercase();
    let value = decoded(value);
    let value = value.trim();
    CREDENTIAL_NAMES.iter().any(|n| name.contains(n))
        || SECRET_PREFIXES
            .iter()
            .any(|p| value.len() >= p.len() && value[..p.len()].eq_ignore_ascii_case(p))
        // The legacy key's shape: `<org-id>|<random>`.
        || value.contains('|')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(s: &str) -> String {
        uri(&s.parse().unwrap())
    }

    #[test]
    fn credentials_in_the_query_are_redacted_by_name_or_value() {
        // Made up here, so no key-shaped literal sits in the source.
        let key = format!("hpk_{}", "A1b2".repeat(11)[..43].to_owned());
        assert_eq!(
            redacted(&format!("/api/userinfo?access_token={key}")),
            "/api/userinfo?access_token=[redacted]"
        );
        // Under any name, encoded or not.
        assert_eq!(
            redacted(&format!("/x?q={key}&limit=5")),
            "/x?q=[redacted]&limit=5"
        );
        assert_eq!(
            redacted("/x?q=hp%6B_AbCdEfGh&sort=name"),
            "/x?q=[redacted]&sort=name"
        );
        assert_eq!(
            redacted("/x?Api%2DKey=org%7Csecret"),
            "/x?Api%2DKey=[redacted]"
        );
        assert_eq!(redacted("/x?password=hunter2"), "/x?password=[redacted]");
        assert_eq!(
            redacted("/x?code=abc&state=xyz"),
            "/x?code=[redacted]&state=xyz"
        );
    }

    #[test]
    fn everything_else_is_kept_as_sent() {
        for plain in [
            "/api/api-keys",
            "/api/api-keys?limit=2&sort=-created_at&q=bot",
            "/sessions?caller=deploy&connection=pg",
            "/x?flag&y=",
            "http://example.test:8009/p?limit=1",
        ] {
            assert_eq!(redacted(plain), plain);
        }
    }
}
