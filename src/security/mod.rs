//! Defences every request passes through: refusal of cross-origin writes, throttling of failed
//! authentications, state changes that survive a hang-up, body size limits, and the headers that
//! tell browsers what a page may do.

pub mod cross_origin;
pub mod hangup;
pub mod paced_body;
pub mod proxies;
pub mod redact;
pub mod throttle;

use axum::{
    http::{HeaderName, HeaderValue},
    Router,
};
use tower_http::set_header::SetResponseHeaderLayer;

/// Largest request body the REST API reads (JSON documents and exec scripts).
pub const API_BODY_LIMIT: usize = 1024 * 1024;
/// Largest body a server function or form post may send: forms here are a few fields.
pub const UI_BODY_LIMIT: usize = 64 * 1024;

/// The policy of every answer but the app's pages: nothing inline runs, nothing frames us.
const DEFAULT_POLICY: &str = "default-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// A page's policy: scripts only from us or carrying this response's nonce (Leptos puts it on
/// its hydration and data scripts); the client is WebAssembly, which needs 'wasm-unsafe-eval'.
pub fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// Headers on every answer unless the handler set its own: no MIME sniffing, no framing
/// (clickjacking), no paths leaking to other sites in `Referer`, and a default CSP.
pub fn headers(router: Router) -> Router {
    router
        .layer(always("x-content-type-options", "nosniff"))
        .layer(always("x-frame-options", "DENY"))
        .layer(always("content-security-policy", DEFAULT_POLICY))
        .layer(always("referrer-policy", "same-origin"))
}

fn always(name: &'static str, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(
        HeaderName::from_static(name),
        HeaderValue::from_static(value),
    )
}
