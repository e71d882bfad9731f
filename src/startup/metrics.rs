//! `GET /metrics`: the scrape of the process's recorder ([`crate::telemetry::exporter`]), with
//! what is a state rather than an event (the key cache's trust, the database pools) read from
//! the services when asked for. Here, not in `telemetry`, because it reads the services, and
//! `telemetry` sits below them.

use crate::state::AppState;
use axum::{extract::State, http::header, response::IntoResponse, routing::get, Router};
use metrics_exporter_prometheus::PrometheusHandle;

/// `GET /metrics` and nothing else.
pub fn router(handle: PrometheusHandle, state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state((handle, state))
}

async fn scrape(State((handle, state)): State<(PrometheusHandle, AppState)>) -> impl IntoResponse {
    // What is a state rather than an event is read when asked for.
    metrics::gauge!("hoop_key_cache_trusted")
        .set(f64::from(u8::from(state.keys.cache_is_trusted())));
    for pool in state.store.pools() {
        let labels = [("pool", pool.name)];
        metrics::gauge!("hoop_db_pool_connections", &labels).set(pool.size);
        metrics::gauge!("hoop_db_pool_idle_connections", &labels).set(pool.idle as f64);
        metrics::gauge!("hoop_db_pool_max_connections", &labels).set(pool.max);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
}
