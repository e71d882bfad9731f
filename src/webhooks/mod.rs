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

use crate::{config::WebhookConfig, secret::SecretString, store::Store};
use anyhow::{bail, Context};
use tokio::{sync::watch, task::JoinHandle};

/// Where events go, checked at start-up.
pub struct Target {
    url: reqwest::Url,
    secret: Option<SecretString>,
}

// By hand: a webhook URL often carries a token of the receiver's, so it is never logged whole.
impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("host", &self.url.host_str())
            .field("signed", &self.secret.is_some())
            .finish()
    }
}

impl Target {
    /// The configured receiver, if any; an unusable URL stops start-up. The error never
    /// repeats the URL, which may hold a token.
    pub fn from_config(config: &WebhookConfig) -> anyhow::Result<Option<Self>> {
        let Some(url) = &config.url else {
            return Ok(None);
        };
        let url = reqwest::Url::parse(url.expose())
            .ok()
            .context("HOOP_WEBHOOK_URL is not a URL: give an absolute http:// or https:// URL")?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!(
                "HOOP_WEBHOOK_URL must be an http:// or https:// URL, not {}://",
                url.scheme()
            );
        }
        if url.host_str().is_none_or(str::is_empty) {
            bail!("HOOP_WEBHOOK_URL has no host");
        }
        if !url.username().is_empty() || url.password().is_some() {
            // reqwest would send them as Basic credentials; say so rather than guess.
            bail!("HOOP_WEBHOOK_URL must not hold a user name or password");
        }
        let secret = config.secret.clone().filter(|s| !s.expose().is_empty());
        Ok(Some(Target { url, secret }))
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> anyhow::Result<Option<Target>> {
        Target::from_config(&WebhookConfig {
            url: Some(SecretString::new(url.to_owned())),
            secret: None,
        })
    }

    #[test]
    fn only_http_and_https_urls_with_a_host_are_taken() {
        assert!(Target::from_config(&WebhookConfig::default())
            .unwrap()
            .is_none());
        for good in [
            "https://hooks.example.com/hoop?t=1",
            "http://127.0.0.1:9000/x",
        ] {
            assert!(target(good).unwrap().is_some(), "{good}");
        }
        for (bad, says) in [
            ("ftp://hooks.example.com/", "http:// or https://"),
            ("file:///etc/passwd", "http:// or https://"),
            ("hooks.example.com/path", "not a URL"),
            (
                "https://user:pw@hooks.example.com/",
                "user name or password",
            ),
        ] {
            let message = format!("{:#}", target(bad).unwrap_err());
            assert!(message.contains(says), "{bad}: {message}");
            assert!(
                !message.contains("hooks.example.com"),
                "{bad}: the URL repeated"
            );
        }
    }
}
