//! Refuses state-changing requests a browser sends on behalf of another site (CSRF).
//!
//! Browsers say where a request comes from: `Sec-Fetch-Site` (all current browsers) or, failing
//! that, `Origin`. A request with neither did not come from a browser form or script of another
//! site (curl, the CLI, agents), so it passes. The same rule as Go's `CrossOriginProtection`.
//!
//! An origin is scheme, host and port: `Origin` must name the gateway's own scheme as well as its
//! `Host`. A page served over https by another service on this host name is another origin to
//! the plain-http gateway, and the other way round.

use crate::error::Error;
use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, Method},
    middleware::Next,
    response::{IntoResponse, Response},
};

/// The scheme browsers reach the gateway by. The gateway itself speaks plain HTTP; it is reached
/// over https exactly when the operator says so with `HOOP_SECURE_COOKIES` (TLS ends at a proxy
/// in front). Nothing a request says (such as `X-Forwarded-Proto`) decides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn reached_over_tls(tls: bool) -> Self {
        if tls {
            Scheme::Https
        } else {
            Scheme::Http
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

pub async fn refuse_cross_origin(
    State(scheme): State<Scheme>,
    request: Request,
    next: Next,
) -> Response {
    if is_safe(request.method()) || !is_cross_origin(&request, scheme) {
        return next.run(request).await;
    }
    Error::Forbidden("forbidden: cross-origin request refused".into()).into_response()
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn is_cross_origin(request: &Request, scheme: Scheme) -> bool {
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site") {
        // "none": typed in the address bar or a bookmark; never a cross-site form.
        return !(site == "same-origin" || site == "none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = host(headers).or_else(|| request.uri().authority().map(|a| a.as_str()));
    let origin = origin.to_str().ok().and_then(|o| o.split_once("://"));
    match (origin, host) {
        (Some((origin_scheme, origin_host)), Some(host)) => {
            !(origin_scheme.eq_ignore_ascii_case(scheme.as_str())
                && origin_host.eq_ignore_ascii_case(host))
        }
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

    fn is_cross_origin(request: &Request) -> bool {
        super::is_cross_origin(request, Scheme::Http)
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
            ("origin", "HTTP://GW.example:8009")
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

    #[test]
    fn the_scheme_is_part_of_the_origin() {
        let host = ("host", "gw.example:8009");
        let http = post(&[host, ("origin", "http://gw.example:8009")]);
        let https = post(&[host, ("origin", "https://gw.example:8009")]);
        assert!(!super::is_cross_origin(&http, Scheme::Http));
        assert!(super::is_cross_origin(&https, Scheme::Http));
        assert!(!super::is_cross_origin(&https, Scheme::Https));
        assert!(super::is_cross_origin(&http, Scheme::Https));
        for odd in [
            "gw.example:8009",
            "ws://gw.example:8009",
            "://gw.example:8009",
        ] {
            let request = post(&[host, ("origin", odd)]);
            assert!(super::is_cross_origin(&request, Scheme::Http), "{odd}");
        }
    }
}
