//! Lifecycle webhooks: every API-key event (the audit log's `api_key.*` events) POSTed to
//! HOOP_WEBHOOK_URL, signed, retried with backoff until the receiver answers 2xx.
//!
//! Delivery is at least once, across restarts and replicas: a trigger queues each event in the
//! `webhook_outbox` table in the transaction that writes it (migration 0005), and a row leaves
//! the outbox only once its delivery was answered 2xx. A gateway takes due rows under a 30 s
//! lease, so replicas on one PostgreSQL do not send the same event at the same time; an event
//! whose answer was lost (a crash mid-request, a lease that ran out) is sent again, with the
//! same `webhook-id`, for the receiver to drop.
//!
//! A gateway without a URL sends nothing and deletes outbox rows older than 7 days, hourly,
//! so the table does not grow forever on a database nobody delivers from.

mod delivery;
mod payload;
mod signature;
mod target;

use crate::store::Store;
pub use target::Target;
use tokio::{sync::watch, task::JoinHandle};

/// The background task: delivering when there is a target, pruning otherwise.
pub struct Worker {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Worker {
    /// Starts the task. Call once the metrics recorder is installed: it registers its counter.
    pub fn start(store: Store, target: Option<Target>) -> Self {
        let (stop, stopping) = watch::channel(false);
        let task = match target {
            Some(target) => {
                tracing::info!(
                    host = target.url.host_str().unwrap_or_default(),
                    "sending API-key events to the webhook receiver"
                );
                if target.secret.is_none() {
                    tracing::warn!(
                        "HOOP_WEBHOOK_URL is set without HOOP_WEBHOOK_SECRET: webhook deliveries \
                         are not signed, and receivers cannot tell them from forgeries"
                    );
                }
                tokio::spawn(delivery::run(store, target, stopping))
            }
            None => tokio::spawn(delivery::prune(store, stopping)),
        };
        Worker { stop, task }
    }

    /// Stops the task and waits for it. A delivery in flight is abandoned and its event stays
    /// queued (sent again later: at least once).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
