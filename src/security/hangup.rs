//! A client that hangs up cannot cut a state change short.
//!
//! When a connection closes, hyper drops the request's future at whatever `.await` it is parked
//! on, and nothing after that point runs: a key deactivated in the database but still trusted
//! by the cache, a row without its audit event, a pooled connection left inside a transaction.
//! So every request that may change state runs in a task of its own, which a hang-up does not
//! reach: the handler's future is dropped, the task is not. Reads (GET, HEAD, OPTIONS) change
//! nothing and are cancelled as usual.

use crate::error::Error;
use axum::{extract::Request, middleware::Next, response::IntoResponse, response::Response};

pub async fn run_to_completion(request: Request, next: Next) -> Response {
    if request.method().is_safe() {
        return next.run(request).await;
    }
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        // A panic in the handler propagates as it would have without the task.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => {
            Error::Internal(anyhow::Error::new(e).context("request task cancelled")).into_response()
        }
    }
}
