//! What operators see of each request: an id on every answer (`X-Request-Id`, also in the
//! request's log line) and one log line per request with its method, route, status, latency
//! and what kind of caller made it. Text or JSON ([`LogFormat`]). With metrics on
//! ([`exporter`]), each request is also counted and timed by method, route and status.

pub mod exporter;

use crate::{caller::CallerNote, security::proxies::FromTrustedProxy};
use axum::{
    extract::{MatchedPath, Request},
    http::{HeaderName, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::Response,
};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// How the server writes its log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for humans.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Sets up the server's log on standard error. `RUST_LOG` filters it (default `info`).
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    // The PostgreSQL driver logs every script at debug: scripts are the callers' business and
    // may hold values nobody should find in a log.
    let quiet_driver = tracing_subscriber::filter::Directive::from(tracing::Level::INFO);
    // The MCP SDK logs every message, tool arguments and results included (scripts and the
    // rows they read), from debug on; and a line per session at info.
    let quiet_mcp = tracing_subscriber::filter::Directive::from(tracing::Level::WARN);
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive("tokio_postgres=info".parse().unwrap_or(quiet_driver))
        .add_directive("rmcp=warn".parse().unwrap_or(quiet_mcp));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}

/// This request's id, as sent back in `X-Request-Id`.
#[derive(Debug, Clone)]
pub struct RequestId(pub HeaderValue);

/// The route that answered, as declared (`/api/api-keys/{name_or_id}`): what the log line and
/// metrics name, never the path as sent (which holds key names and ids).
#[derive(Debug, Clone)]
struct Route(Arc<str>);

/// Layered on the routers themselves, where the matched route is known.
pub async fn note_route(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| Route(Arc::from(m.as_str())));
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(route);
    }
    response
}

/// An id a trusted proxy already gave the request is kept (one id across the whole path);
/// anything else gets a new one. Which peers are trusted was decided by
/// [`crate::security::proxies::resolve_client`], outside this layer.
fn request_id(request: &Request) -> HeaderValue {
    let from_proxy = request.extensions().get::<FromTrustedProxy>().is_some();
    let incoming = request.headers().get(&REQUEST_ID).filter(|v| {
        let bytes = v.as_bytes();
        (1..=128).contains(&bytes.len()) && bytes.iter().all(|b| b.is_ascii_graphic())
    });
    match incoming {
        Some(id) if from_proxy => id.clone(),
        // Hex digits: always a valid header value.
        _ => HeaderValue::from_str(&uuid::Uuid::new_v4().simple().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("0")),
    }
}

/// Middleware: gives the request its id and writes its log line once it is answered.
pub async fn log_request(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&request);
    let caller = CallerNote::default();
    request.extensions_mut().insert(RequestId(id.clone()));
    request.extensions_mut().insert(caller.clone());
    let method = request.method().clone();
    let mut response = next.run(request).await;
    let route = response
        .extensions()
        .get::<Route>()
        .map_or_else(|| Arc::from("unmatched"), |r| r.0.clone());
    let status = response.status().as_u16();
    let latency = started.elapsed();
    if exporter::enabled() {
        count_request(&method, &route, response.status(), latency);
    }
    tracing::info!(
        target: "hoop::request",
        request_id = id.to_str().unwrap_or(""),
        method = %method,
        route = &*route,
        status,
        latency_ms = latency.as_secs_f64() * 1000.0,
        caller = caller.kind().unwrap_or("anonymous"),
        "request"
    );
    response.headers_mut().insert(REQUEST_ID.clone(), id);
    if let Some(at) = caller.expires_soon() {
        let at = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        if let Ok(value) = HeaderValue::from_str(&at) {
            response
                .headers_mut()
                .insert(crate::wire::keys::KEY_EXPIRES_HEADER, value);
        }
    }
    response
}

/// A request's series: its method (from a fixed list), status and route.
type Series = (&'static str, u16, Arc<str>);

thread_local! {
    /// The handles of the series this worker thread has counted, so a request adds to two
    /// handles it holds instead of building labels and looking them up by name in the
    /// recorder: that cost 8 % of a key request's server CPU, this 3 % (BENCHMARKS.md).
    static HANDLES: std::cell::RefCell<std::collections::HashMap<Series, (metrics::Counter, metrics::Histogram)>> =
        Default::default();
}

/// A request in the metrics. The method comes from a fixed list: a client may send any token
/// as its method, and each would otherwise become a series of its own.
fn count_request(method: &Method, route: &Arc<str>, status: StatusCode, latency: Duration) {
    let method = match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    HANDLES.with_borrow_mut(|handles| {
        let (requests, duration) = handles
            .entry((method, status.as_u16(), route.clone()))
            .or_insert_with(|| {
                let labels = [
                    ("method", metrics::SharedString::const_str(method)),
                    ("route", metrics::SharedString::from_shared(route.clone())),
                    (
                        "status",
                        metrics::SharedString::from_owned(status.as_str().to_owned()),
                    ),
                ];
                (
                    metrics::counter!("hoop_http_requests_total", &labels),
                    metrics::histogram!("hoop_http_request_duration_seconds", &labels),
                )
            });
        requests.increment(1);
        duration.record(latency);
    });
}
