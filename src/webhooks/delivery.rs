//! The delivery loop: every second, lease the due events, POST them oldest first, settle each.

use super::{payload, signature, target::Target};
use crate::store::{
    self,
    webhooks::{Claim, Queued},
    Store,
};
use chrono::{DateTime, TimeDelta, Utc};
use metrics::Counter;
use rand::Rng;
use std::time::Duration;
use tokio::sync::watch;

/// How often the outbox is read: one indexed query when nothing is due.
const POLL: Duration = Duration::from_secs(1);
/// How long a claim holds its rows against other replicas.
const LEASE: TimeDelta = TimeDelta::seconds(30);
/// The longest one delivery may take; a receiver that has not answered by then failed.
const TIMEOUT: Duration = Duration::from_secs(10);
/// No delivery starts unless it can end (TIMEOUT) with this much of the lease left, so no other
/// replica takes an event while it is being sent.
const LEASE_MARGIN: TimeDelta = TimeDelta::seconds(5);
/// Events leased at a time.
const BATCH: i64 = 20;
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// What a gateway that sends no webhooks keeps in the outbox, and how often it looks.
const KEEP_UNSENT: TimeDelta = TimeDelta::days(7);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// `hoop_webhook_deliveries_total{outcome}`, each series registered once.
struct Counts {
    delivered: Counter,
    rejected: Counter,
    unreachable: Counter,
}

impl Counts {
    fn new() -> Self {
        let counter = |outcome: &'static str| metrics::counter!("hoop_webhook_deliveries_total", "outcome" => outcome);
        Counts {
            delivered: counter("delivered"),
            rejected: counter("rejected"),
            unreachable: counter("unreachable"),
        }
    }
}

/// Why an attempt failed, as recorded in the outbox and the log (never the URL).
enum Failure {
    /// The receiver answered, but not 2xx.
    Rejected(reqwest::StatusCode),
    /// No answer: no connection, a timeout, a broken response.
    Unreachable(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Rejected(status) => write!(f, "the receiver answered {status}"),
            Failure::Unreachable(why) => write!(f, "no answer from the receiver: {why}"),
        }
    }
}

/// How a claim ended.
enum Settled {
    /// Every event delivered.
    All,
    /// Stopped early (a failure, a lease too short for one more): the rest waits.
    Partly,
    /// The gateway is stopping.
    Stopping,
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The sender gone (the worker dropped) means stop as well.
    let _ = stop.wait_for(|stop| *stop).await;
}

pub(super) async fn run(store: Store, target: Target, mut stop: watch::Receiver<bool>) {
    let client = match reqwest::Client::builder()
        .timeout(TIMEOUT)
        // A receiver is one URL: a redirect elsewhere is a misconfiguration or an attack, and
        // would carry the signed event to whoever it names.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("hoop-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook client: no webhooks are sent");
            return;
        }
    };
    let counts = Counts::new();
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tick.tick() => {}
        }
        // A full batch may leave more due: take the next one at once.
        loop {
            let now = store::now();
            match store::webhooks::any_due(&store, now).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the webhook outbox");
                    break;
                }
            }
            let claim = match store::webhooks::claim(&store, now, now + LEASE, BATCH).await {
                Ok(claim) => claim,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the webhook outbox");
                    break;
                }
            };
            if claim.events.is_empty() {
                break;
            }
            let full = claim.events.len() as i64 == BATCH;
            let settled = settle(&store, &client, &target, &counts, &claim, &mut stop).await;
            if !matches!(settled, Settled::All) {
                if let Err(e) = store::webhooks::release(&store, claim.owner).await {
                    // Its lease runs out by itself.
                    tracing::warn!(error = %e, "could not give webhook events back to the outbox");
                }
            }
            match settled {
                Settled::Stopping => return,
                Settled::All if full => continue,
                _ => break,
            }
        }
    }
}

/// Delivers a claim's events in order, until one fails.
async fn settle(
    store: &Store,
    client: &reqwest::Client,
    target: &Target,
    counts: &Counts,
    claim: &Claim,
    stop: &mut watch::Receiver<bool>,
) -> Settled {
    for event in &claim.events {
        let latest_end = Utc::now() + TimeDelta::from_std(TIMEOUT).unwrap_or(LEASE) + LEASE_MARGIN;
        if latest_end > claim.until {
            return Settled::Partly;
        }
        let result = tokio::select! {
            _ = stopped(stop) => return Settled::Stopping,
            result = send(client, target, event) => result,
        };
        match result {
            Ok(()) => {
                counts.delivered.increment(1);
                if let Err(e) = store::webhooks::delivered(store, event.event_id).await {
                    // Sent again later: the receiver sees it twice, never not at all.
                    tracing::warn!(error = %e, event = event.event_id, "could not mark a webhook event delivered");
                    return Settled::Partly;
                }
            }
            Err(failure) => {
                match failure {
                    Failure::Rejected(_) => counts.rejected.increment(1),
                    Failure::Unreachable(_) => counts.unreachable.increment(1),
                }
                let attempts = event.attempts + 1;
                let retry_at = store::now() + backoff(attempts, rand::thread_rng().gen());
                tracing::warn!(
                    event = event.event_id,
                    attempts,
                    retry_at = %retry_at,
                    "webhook delivery failed: {failure}"
                );
                let error = failure.to_string();
                if let Err(e) =
                    store::webhooks::failed(store, event.event_id, claim.owner, retry_at, &error)
                        .await
                {
                    tracing::warn!(error = %e, "could not record a failed webhook delivery");
                }
                // The receiver is failing: the rest of the batch waits for the next round
                // rather than each waiting out a timeout now.
                return Settled::Partly;
            }
        }
    }
    Settled::All
}

/// One attempt: the event's JSON with the Standard Webhooks headers.
async fn send(client: &reqwest::Client, target: &Target, event: &Queued) -> Result<(), Failure> {
    let id = payload::message_id(event);
    let body = payload::body(event);
    // The time of this attempt, which the signature covers: receivers refuse old ones.
    let timestamp = Utc::now().timestamp();
    let mut request = client
        .post(target.url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string());
    if let Some(secret) = &target.secret {
        request = request.header(
            "webhook-signature",
            signature::sign(secret, &id, timestamp, &body),
        );
    }
    let response = request
        .body(body)
        .send()
        .await
        .map_err(|e| Failure::Unreachable(causes(&e.without_url())))?;
    match response.status() {
        status if status.is_success() => Ok(()),
        status => Err(Failure::Rejected(status)),
    }
}

/// An error and its causes on one line (reqwest's own message is only "error sending request").
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The wait before attempt `attempts + 1`: 1 s, 2 s, 4 s … doubling up to an hour, of which a
/// random part (`jitter` in [0, 1)) of the second half is taken, so receivers coming back are
/// not met by every gateway's retries at once.
fn backoff(attempts: i64, jitter: f64) -> TimeDelta {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 31)).unwrap_or(31);
    let full = Duration::from_secs(1u64 << doublings).min(MAX_BACKOFF);
    let wait = full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
    TimeDelta::from_std(wait).unwrap_or(LEASE)
}

/// What a gateway without a receiver does: deletes outbox rows older than 7 days, hourly.
pub(super) async fn prune(store: Store, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tick.tick() => {}
        }
        let before: DateTime<Utc> = store::now() - KEEP_UNSENT;
        match store::webhooks::prune(&store, before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                deleted = n,
                "pruned unsent webhook events older than 7 days"
            ),
            Err(e) => tracing::warn!(error = %e, "could not prune the webhook outbox"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_second_to_an_hour_with_jitter() {
        let secs = |attempts, jitter| backoff(attempts, jitter).num_milliseconds() as f64 / 1000.0;
        assert_eq!(secs(1, 1.0), 1.0);
        assert_eq!(secs(1, 0.0), 0.5);
        assert_eq!(secs(2, 1.0), 2.0);
        assert_eq!(secs(3, 1.0), 4.0);
        assert_eq!(secs(12, 1.0), 2048.0);
        assert_eq!(secs(13, 1.0), 3600.0);
        assert_eq!(secs(1000, 1.0), 3600.0);
        assert_eq!(secs(1000, 0.0), 1800.0);
        for attempts in 1..40 {
            assert!(secs(attempts, 0.3) <= secs(attempts + 1, 0.3));
        }
    }
}
