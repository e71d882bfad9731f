//! Whatever `next` a login is sent, choosing where to go afterwards never panics, and the
//! answer is a redirect a browser keeps on the gateway, whichever origin it is reached at: a
//! valid `Location` header that is a path (no scheme, no host, no `//`, no backslash in the
//! path, no control character or space), and that reads the same when checked again.
#![no_main]

use app::server_fns::safe_next;
use axum::http::HeaderValue;
use libfuzzer_sys::fuzz_target;
use url::Url;

/// Where the browser is when it follows the redirect: the login's server function.
const SITES: [&str; 3] = [
    "http://gateway.example/ui/fn/login",
    "https://gateway.example:8443/ui/fn/login",
    "http://127.0.0.1:3000/login?next=%2F",
];

fuzz_target!(|data: &[u8]| {
    let Ok(next) = std::str::from_utf8(data) else {
        return;
    };
    let to = safe_next(Some(next));
    assert!(HeaderValue::from_str(&to).is_ok(), "not a header: {to:?}");
    assert!(
        to.starts_with('/') && !to.starts_with("//"),
        "{next:?} -> {to:?}"
    );
    assert!(
        to.bytes().all(|b| b.is_ascii_graphic()),
        "{next:?} -> {to:?}"
    );
    // A backslash in the path would be read as `/` (the query and fragment keep theirs, which
    // cannot change where the browser goes).
    let path = to.split(['?', '#']).next().unwrap_or_default();
    assert!(!path.contains('\\'), "{next:?} -> {to:?}");
    for site in SITES {
        let site = Url::parse(site).expect("a valid site URL");
        let landed = site.join(&to).expect("a path always resolves");
        assert_eq!(landed.origin(), site.origin(), "{next:?} -> {to:?}");
    }
    assert_eq!(safe_next(Some(&to)), to, "checked again, {next:?}");
});
