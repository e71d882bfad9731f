//! Refuses state-changing requests a browser sends on behalf of another site (CSRF).
//!
//! Browsers say where a request comes from: `Sec-Fetch-Site` (all current browsers) or, failing
//! that, `Origin`. A request with neither did not come from a browser form or script of another
//! site (curl, the CLI, agents), so it passes. The same rule as Go's `CrossOriginProtection`.

use crate::error::Error;
use axum::{
    extract::Request,
    http::{header, HeaderMap, Method},
    middleware::Next,
    response::{IntoResponse, Response},
};

pub async fn refuse_cross_origin(request: Request, next: Next) -> Response {
    if is_safe(request.method()) || !is_cross_origin(&request) {
        return next.run(request).await;
    }
    Error::Forbidden("forbidden: cross-origin request refused".into()).into_response()
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn is_cross_origin(request: &Request) -> bool {
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site") {
        // "none": typed in the address bar or a bookmark; never a cross-site form.
        return !(site == "same-origin" || site == "none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = host(headers).or_else(|| request.uri().authority().map(|a| a.as_str()));
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, h)| h);
    match (origin_host, host) {
        (Some(o), Some(h)) => !o.eq_ignore_ascii_case(h),
        // `Origin: null` (sandboxed frames, some redirects) or no Host to compare with.
        _ => true,
    }
}

fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|h| h.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn post(headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::post("/ui/fn/logout");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[test]
    fn browsers_say_where_a_request_comes_from() {
        let host = ("host", "gw.example:8009");
        assert!(!is_cross_origin(&post(&[host])), "curl, CLI, agents");
        assert!(!is_cross_origin(&post(&[
            host,
            ("sec-fetch-site", "same-origin")
        ])));
        assert!(!is_cross_origin(&post(&[host, ("sec-fetch-site", "none")])));
        assert!(is_cross_origin(&post(&[
            host,
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(is_cross_origin(&post(&[
            host,
            ("sec-fetch-site", "same-site")
        ])));
        // Sec-Fetch-Site decides even when Origin looks right.
        assert!(is_cross_origin(&post(&[
            host,
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://gw.example:8009")
        ])));
    }

    #[test]
    fn without_fetch_metadata_origin_must_match_host() {
        let host = ("host", "gw.example:8009");
        assert!(!is_cross_origin(&post(&[
            host,
            ("origin", "http://gw.example:8009")
        ])));
        assert!(!is_cross_origin(&post(&[
            host,
            ("origin", "https://GW.example:8009")
        ])));
        assert!(is_cross_origin(&post(&[
            host,
            ("origin", "http://evil.example")
        ])));
        assert!(is_cross_origin(&post(&[
            host,
            ("origin", "http://gw.example")
        ])));
        assert!(is_cross_origin(&post(&[host, ("origin", "null")])));
        assert!(is_cross_origin(&post(&[(
            "origin",
            "http://gw.example:8009"
        )])));
    }
}
