//! Properties of the login's `next` (app::server_fns::safe_next): whatever it is sent, the
//! redirect it makes is a valid header and lands on this site as a browser reads it.

use app::server_fns::safe_next;
use axum::http::HeaderValue;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000)
}

/// Strings made of what tricks URL parsers: slashes both ways, tabs, newlines, controls,
/// schemes, hosts, percent signs, and anything else.
fn crafted() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/".to_owned()),
        Just("\\".to_owned()),
        Just("\t".to_owned()),
        Just("\n".to_owned()),
        Just("\r".to_owned()),
        Just("%09".to_owned()),
        Just("%2F".to_owned()),
        Just(":".to_owned()),
        Just("@".to_owned()),
        Just("evil.example".to_owned()),
        Just("https:".to_owned()),
        Just("javascript:".to_owned()),
        Just(".".to_owned()),
        Just("?".to_owned()),
        Just("#".to_owned()),
        any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn next_is_a_header_that_stays_on_this_site(next in crafted()) {
        let to = safe_next(Some(&next));
        prop_assert!(HeaderValue::from_str(&to).is_ok(), "{to:?}");
        // As a browser resolves the redirect against any page of this site.
        let site = url::Url::parse("https://gateway.example/settings/api-keys").unwrap();
        let landed = site.join(&to).unwrap();
        prop_assert_eq!(landed.origin(), site.origin(), "{:?} -> {:?}", next, to);
    }
}
