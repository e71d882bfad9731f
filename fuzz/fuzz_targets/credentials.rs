//! Whatever bytes arrive in `Authorization` or `Api-Key`, reading the credential never panics,
//! and only a value in the exact managed-key format is ever taken for a key.
#![no_main]

use axum::http::{HeaderMap, HeaderValue};
use hoop::{
    auth::{Credential, LegacyApiKey},
    keys::RawApiKey,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (selector, bytes) = data.split_first().unwrap_or((&0, &[]));
    if let Ok(text) = std::str::from_utf8(bytes) {
        if let Some(key) = RawApiKey::parse(text) {
            assert_eq!(key.expose(), text);
            assert!(text.len() == 47 && text.starts_with("hpk_"));
        }
        if let Ok(legacy) = LegacyApiKey::parse(text) {
            assert!(legacy.matches(text));
        }
    }
    let Ok(value) = HeaderValue::from_bytes(bytes) else {
        return;
    };
    let name = if selector % 2 == 0 { "authorization" } else { "api-key" };
    let mut headers = HeaderMap::new();
    headers.insert(name, value);
    if let Credential::ApiKey(key) = Credential::from_headers(&headers) {
        assert_eq!(name, "authorization");
        let text = std::str::from_utf8(bytes).expect("a key is ASCII");
        assert!(text.contains(key.expose()));
    }
});
