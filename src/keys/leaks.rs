//! Leak reports: anyone who finds a key where it should not be (a secret scanner, a person
//! reading a public repository) may report it, unauthenticated. Every reported string that is a
//! secret of this gateway, working or not, is recorded: a working one stops working (its key is
//! deactivated by `leak-report`), and every such key is marked (`leak_reported_at`), so that
//! activating it or extending its expiry does not bring the secret back unnoticed. The audit
//! log keeps the reporter's address and the secret's preview, never the secret.

use super::{secret::RawApiKey, service::KeyService};
use crate::store::keys::{self, Transition};
use std::net::IpAddr;

/// Who deactivated a key reported as leaked.
pub const LEAK_ACTOR: &str = "leak-report";

impl KeyService {
    /// Deactivates and marks the key of every secret among `reported`; returns how many keys
    /// changed.
    /// Callers must not tell the reporter (see the REST handler): a report must not reveal
    /// whether a key exists.
    pub async fn report_leaks(&self, reported: &[String], reporter: IpAddr) -> usize {
        let reporter = reporter.to_string();
        let mut stopped = 0;
        for candidate in reported {
            let Some(secret) = RawApiKey::parse(candidate.trim()) else {
                continue;
            };
            match self.stop_leaked(&secret, &reporter).await {
                Ok(true) => stopped += 1,
                Ok(false) => {}
                // Logged without the secret; the next report of it tries again.
                Err(e) => e.report(),
            }
        }
        if stopped > 0 {
            tracing::warn!(stopped, %reporter, "API keys reported leaked");
        }
        stopped
    }

    /// Read from the database, not the set of active keys: a key created a moment ago on
    /// another replica must not escape a report, nor one deactivated or expired.
    async fn stop_leaked(&self, secret: &RawApiKey, reporter: &str) -> crate::error::Result<bool> {
        let Some(found) = keys::by_hash(&self.store, &secret.hash()).await? else {
            return Ok(false);
        };
        let Some(key) = keys::find(&self.store, found.org_id, &found.id.to_string()).await? else {
            return Ok(false);
        };
        let masked = secret.masked();
        let to = Transition::Leaked {
            reporter,
            masked_key: &masked,
        };
        // Already deactivated and marked: nothing to do (`set_active` writes nothing either).
        let changes =
            key.row.leak_reported_at.is_none() || key.row.status == keys::KeyStatus::Active;
        self.transition(key, to, LEAK_ACTOR).await?;
        Ok(changes)
    }
}
