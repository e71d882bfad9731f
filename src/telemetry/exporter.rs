//! Prometheus metrics, served at `GET /metrics` on an address of their own
//! (`HOOP_METRICS_LISTEN`), never on the gateway's: an operator who opens the gateway to the
//! world does not open its metrics with it.
//!
//! The `metrics` facade has one recorder per process. It is installed once, by the first
//! gateway configured to serve metrics; every later one in the process (the in-process tests
//! build many) shares it. Without it every metric is a no-op: on the request path (the request
//! line, authentication, the key cache) counting costs a branch and nothing else.
//!
//! Labels hold only what an admin already sees, and never anything a client chooses freely:
//! routes as declared (not paths as sent), methods from a fixed list, no key name, no key id.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::{sync::OnceLock, time::Duration};

static RECORDER: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Seconds, from a fast key check to a slow script (the exec deadline defaults to 30 s).
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// How often histogram samples are folded into their buckets when nobody scrapes: without it
/// they would pile up in memory between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Installs the process's recorder (once) and returns the handle that renders it.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .map_err(|e| e.to_string())?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                })
                .map_err(|e| e.to_string())?;
            describe();
            Ok(handle)
        })
        .clone()
        .map_err(|e| anyhow::anyhow!("cannot set up metrics: {e}"))
}

/// Whether metrics are kept in this process: code that would build labels per request asks
/// first, so a gateway without metrics does not pay for them.
pub fn enabled() -> bool {
    RECORDER.get().is_some_and(Result::is_ok)
}

/// The HELP lines of the scrape.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "hoop_http_requests_total",
        "Requests answered, by method, route (as declared) and status"
    );
    describe_histogram!(
        "hoop_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer a request, by method, route (as declared) and status"
    );
    describe_counter!(
        "hoop_authentications_total",
        "Credentials checked, by method and outcome (a deactivated key counts as unknown)"
    );
    describe_counter!(
        "hoop_key_cache_hits_total",
        "Managed keys verified from memory"
    );
    describe_counter!(
        "hoop_key_cache_misses_total",
        "Managed keys not found in memory (unknown, deactivated, not yet loaded, or the cache not trusted)"
    );
    describe_counter!(
        "hoop_key_cache_fills_total",
        "Managed keys read from the database and kept in memory"
    );
    describe_gauge!(
        "hoop_key_cache_trusted",
        "1 while keys are verified from memory (on PostgreSQL: while the change feed is live), 0 while every check reads the database"
    );
    describe_counter!(
        "hoop_exec_total",
        "Scripts run on connections, by connection type and outcome (success, failed, refused)"
    );
    describe_histogram!(
        "hoop_exec_duration_seconds",
        Unit::Seconds,
        "Time scripts ran, by connection type and outcome (refused ones did not run)"
    );
    describe_gauge!(
        "hoop_db_pool_connections",
        "Open connections of the gateway's database pools"
    );
    describe_gauge!(
        "hoop_db_pool_idle_connections",
        "Open connections of the gateway's database pools not in use"
    );
    describe_gauge!(
        "hoop_db_pool_max_connections",
        "Most connections each of the gateway's database pools opens"
    );
    describe_counter!(
        "hoop_audit_events_total",
        "Audit events committed, by action"
    );
    describe_counter!(
        "hoop_webhook_deliveries_total",
        "Webhook delivery attempts, by outcome (delivered, rejected: answered but not 2xx, unreachable: no answer)"
    );
}
