//! What happens to keys with time, on every replica: expiries are announced (`api_key.expired`
//! within seconds, `api_key.expiring` a week ahead, each once whichever replica notices first),
//! ended overlaps are forgotten, and under `HOOP_API_KEY_DEACTIVATE_UNUSED_DAYS` keys unused that
//! long are deactivated. None of it decides whether a request is admitted: that is read from the
//! time in memory, at the second, with or without these sweeps.

use super::service::{KeyService, WeakKeyService};
use crate::store::keys::{self, Transition, SYSTEM_ACTOR};
use chrono::{DateTime, TimeDelta, Utc};
use std::time::Duration;

/// How often expiries are looked for: "within seconds".
const EVERY: Duration = Duration::from_secs(1);
/// Expiring-soon notices and ended overlaps need no such haste.
const SLOW_EVERY: u32 = 5;
/// How far ahead an expiry is announced: when answers start carrying `Hoop-Key-Expires`.
const WARN_AHEAD: TimeDelta = crate::caller::EXPIRY_WARNING;
/// How often, by the gateway's clock, unused keys are looked for.
const UNUSED_EVERY: TimeDelta = TimeDelta::hours(1);

pub fn spawn(service: WeakKeyService) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut round: u32 = 0;
        let mut unused_checked: Option<DateTime<Utc>> = None;
        loop {
            tick.tick().await;
            let Some(keys) = service.upgrade() else {
                return;
            };
            keys.sweep_expired().await;
            if round.is_multiple_of(SLOW_EVERY) {
                keys.sweep_expiring().await;
                keys.sweep_overlaps().await;
            }
            round = round.wrapping_add(1);
            let now = keys.now();
            if unused_checked.is_none_or(|at| now - at >= UNUSED_EVERY) {
                keys.sweep_unused().await;
                keys.prune_usage().await;
                unused_checked = Some(now);
            }
        }
    });
}

impl KeyService {
    async fn sweep_expired(&self) {
        match keys::note_expired(&self.store, self.now()).await {
            Ok(noticed) => {
                for key in noticed {
                    tracing::info!(key = %key.name, "API key expired");
                }
            }
            Err(e) => e.report(),
        }
    }

    async fn sweep_expiring(&self) {
        let now = self.now();
        if let Err(e) = keys::note_expiring(&self.store, now, now + WARN_AHEAD).await {
            e.report();
        }
    }

    async fn sweep_overlaps(&self) {
        let order = self.ordered().await;
        let ended = keys::end_overlaps(&self.store, self.now()).await;
        match ended {
            Ok(ended) if order.is_some() => self.forget_prefixes(&ended),
            Ok(_) => {}
            Err(e) => e.report(),
        }
    }

    /// Forgets client addresses unseen for 30 days and daily counts past what can be asked.
    async fn prune_usage(&self) {
        let keep = i64::from(super::service::MAX_USAGE_DAYS);
        if let Err(e) = crate::store::usage::prune(&self.store, self.now(), keep).await {
            tracing::warn!(error = %e, "could not prune key usage");
        }
    }

    /// Deactivates active keys unused for the policy's days. A key used on another replica in
    /// the last second (not yet written) could be taken for unused; at a policy counted in days
    /// that is a key idle for all of them but that second.
    async fn sweep_unused(&self) {
        let Some(days) = self.policy.deactivate_unused_days else {
            return;
        };
        let cutoff = self.now() - TimeDelta::days(i64::from(days));
        let unused = match keys::unused_since(&self.store, cutoff).await {
            Ok(unused) => unused,
            Err(e) => return e.report(),
        };
        let reason = format!("unused for {days} days (HOOP_API_KEY_DEACTIVATE_UNUSED_DAYS)");
        for found in unused {
            let key = match keys::find(&self.store, found.org_id, &found.id.to_string()).await {
                Ok(Some(key)) => key,
                Ok(None) => continue,
                Err(e) => {
                    e.report();
                    continue;
                }
            };
            let to = Transition::Deactivate {
                reason: Some(&reason),
            };
            match self.transition(key, to, SYSTEM_ACTOR).await {
                Ok(_) => tracing::info!(key = %found.name, days, "unused API key deactivated"),
                Err(e) => e.report(),
            }
        }
    }
}
