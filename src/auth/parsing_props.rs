//! Property tests of everything that reads a credential from a request: whatever bytes arrive,
//! parsing never panics, and only a value in the exact key format is ever taken for a key.
//! (4000 cases each in the test command; `scripts/fuzz` runs them far longer.)

use super::*;
use axum::http::HeaderValue;
use proptest::prelude::*;

/// 4000 cases a property in the test command; `PROPTEST_CASES` asks for more.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000)
}

fn header_map(name: &'static str, value: &[u8]) -> Option<HeaderMap> {
    let value = HeaderValue::from_bytes(value).ok()?;
    let mut headers = HeaderMap::new();
    headers.insert(name, value);
    Some(headers)
}

fn is_key_format(s: &str) -> bool {
    s.len() == 47
        && s.starts_with("hpk_")
        && s[4..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Strings near the key format: the prefix, a body of the right alphabet, a length around 43.
fn almost_keys() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("hpk_"), Just("HPK_"), Just("hpk"), Just("")],
        "[A-Za-z0-9_\\-+/=. ]{40,46}",
    )
        .prop_map(|(p, b)| format!("{p}{b}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn key_parsing_accepts_exactly_the_format(s in prop_oneof![almost_keys(), any::<String>()]) {
        match RawApiKey::parse(&s) {
            Some(key) => {
                prop_assert!(is_key_format(&s));
                prop_assert_eq!(key.expose(), s.as_str());
                let debug = format!("{:?}", key);
                prop_assert!(!debug.contains(&s[8..]));
            }
            None => prop_assert!(!is_key_format(&s)),
        }
    }

    #[test]
    fn authorization_header_never_panics_and_never_invents_a_key(
        value in prop_oneof![
            almost_keys().prop_map(|k| format!("Bearer {k}").into_bytes()),
            ("[bB][eE][aA][rR][eE][rR]", "[ \t]{0,3}", almost_keys(), "[ \t]{0,3}")
                .prop_map(|(s, a, k, b)| format!("{s} {a}{k}{b}").into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..120),
        ]
    ) {
        let Some(headers) = header_map("authorization", &value) else { return Ok(()) };
        match Credential::from_headers(&headers) {
            Credential::ApiKey(key) => {
                let text = std::str::from_utf8(&value).unwrap();
                let (scheme, token) = text.trim().split_once(' ').unwrap();
                prop_assert!(scheme.eq_ignore_ascii_case("bearer"));
                prop_assert_eq!(key.expose(), token.trim());
                prop_assert!(is_key_format(key.expose()));
            }
            Credential::Bearer(token) => prop_assert!(!token.expose().starts_with("hpk_")),
            Credential::MalformedApiKey => {}
            other => prop_assert!(false, "Authorization read as {:?}", other),
        }
    }

    #[test]
    fn api_key_header_is_only_ever_the_legacy_credential(
        value in proptest::collection::vec(any::<u8>(), 0..120)
    ) {
        let Some(headers) = header_map("api-key", &value) else { return Ok(()) };
        match Credential::from_headers(&headers) {
            Credential::Legacy(v) => prop_assert_eq!(v.expose().as_bytes(), &value[..]),
            // Header values that are not visible ASCII are not read at all.
            Credential::None => prop_assert!(headers["api-key"].to_str().is_err()),
            other => prop_assert!(false, "Api-Key read as {:?}", other),
        }
    }

    #[test]
    fn legacy_key_parsing_never_panics_and_matches_only_itself(
        org in prop_oneof![Just("6f1c2a9e-1b7d-4d35-9a55-6c5f0d2b7e11".to_owned()), any::<String>()],
        sep in prop_oneof![Just("|"), Just(""), Just("||")],
        random in any::<String>(),
        other in any::<String>(),
    ) {
        let value = format!("{org}{sep}{random}");
        if let Ok(key) = LegacyApiKey::parse(&value) {
            prop_assert!(key.matches(&value));
            prop_assert_eq!(key.matches(&other), other == value);
            let debug = format!("{:?}", key);
            prop_assert!(!debug.contains(random.as_str()));
        }
    }
}
