//! Managing keys (admins): list, read, create, configure, deactivate, activate, rotate.

use super::{
    active, expiry, listing,
    secret::RawApiKey,
    service::{api_key, KeyService, MAX_USAGE_DAYS},
};
use crate::wire::keys::{
    Activation, ApiKey, ApiKeyPage as KeyPage, KeyChanges, NewApiKey, Rotation, UsageDay,
    MAX_GRACE_SECONDS,
};
use crate::{
    caller::Principal,
    domain::{parse_groups, ApiKeyName, Violation},
    error::{Error, Result},
    store::{
        self,
        keys::{KeyRecord, Transition},
    },
};
use chrono::TimeDelta;
use uuid::Uuid;

/// How many names of keys the unused-key policy is about to deactivate the notice lists.
const NOTICE_NAMES: u32 = 10;

/// See [`KeyService::notices`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyNotices {
    pub expiring: u64,
    pub unused: u64,
    /// The first [`NOTICE_NAMES`] of them, longest idle first (the first to go).
    pub unused_names: Vec<String>,
}

impl KeyService {
    pub async fn list(&self, caller: &Principal) -> Result<Vec<ApiKey>> {
        caller.require_admin()?;
        let keys = store::keys::list(&self.store, caller.org_id).await?;
        let now = self.now();
        Ok(keys.into_iter().map(|k| api_key(k, now)).collect())
    }

    /// One page of the organization's keys: those `query` selects, in its order, after its
    /// cursor; with the cursor of the next page when there is one.
    pub async fn page(&self, caller: &Principal, query: &listing::KeyQuery) -> Result<KeyPage> {
        caller.require_admin()?;
        let now = self.now();
        let filter = store::key_list::Filter {
            name_contains: query.name_contains.as_deref(),
            state: query.state(),
            group: query.group.as_ref().map(|g| g.as_str()),
        };
        // One more than asked for says whether another page follows.
        let mut records = store::key_list::page(
            &self.store,
            caller.org_id,
            &filter,
            query.order,
            query.after.as_ref(),
            query.limit + 1,
            now,
        )
        .await?;
        let more = records.len() > query.limit as usize;
        records.truncate(query.limit as usize);
        let next_cursor = match records.last() {
            Some(last) if more => Some(listing::cursor_after(
                query.order,
                &store::key_list::After::of(&last.row, query.order.column),
            )),
            _ => None,
        };
        Ok(KeyPage {
            items: records.into_iter().map(|k| api_key(k, now)).collect(),
            next_cursor,
        })
    }

    /// What the list page warns about, counted without reading every key: how many active keys
    /// expire within `days`, and how many (with the first few names) the unused-key policy
    /// deactivates by then.
    pub async fn notices(&self, caller: &Principal, days: u32) -> Result<KeyNotices> {
        caller.require_admin()?;
        let now = self.now();
        let horizon = expiry::in_days(now, days);
        let expiring =
            store::key_list::count_expiring(&self.store, caller.org_id, now, horizon).await?;
        let (unused, unused_names) = match self.policy.deactivate_unused_days {
            Some(unused_days) => {
                let idle_since = horizon - TimeDelta::days(i64::from(unused_days));
                store::key_list::idle(&self.store, caller.org_id, now, idle_since, NOTICE_NAMES)
                    .await?
            }
            None => (0, Vec::new()),
        };
        Ok(KeyNotices {
            expiring: u64::try_from(expiring).unwrap_or_default(),
            unused: u64::try_from(unused).unwrap_or_default(),
            unused_names,
        })
    }

    pub async fn get(&self, caller: &Principal, name_or_id: &str) -> Result<ApiKey> {
        caller.require_admin()?;
        let key = self.find(caller, name_or_id).await?;
        Ok(api_key(key, self.now()))
    }

    /// A key's use per UTC day, the `days` ending today, oldest first, days without use
    /// included as zeros. Counts reach the database with each replica's usage flush.
    pub async fn usage(
        &self,
        caller: &Principal,
        name_or_id: &str,
        days: u32,
    ) -> Result<Vec<UsageDay>> {
        caller.require_admin()?;
        if !(1..=MAX_USAGE_DAYS).contains(&days) {
            return Err(Violation::of(
                "days",
                format!("days must be between 1 and {MAX_USAGE_DAYS}"),
            )
            .into());
        }
        let key = self.find(caller, name_or_id).await?;
        let today = self.now().date_naive();
        let first = today - chrono::Days::new(u64::from(days - 1));
        let counted = store::usage::daily(&self.store, caller.org_id, key.row.id, first).await?;
        let execs = store::usage::daily_execs(
            &self.store,
            caller.org_id,
            key.row.id,
            first.and_time(chrono::NaiveTime::MIN).and_utc(),
        )
        .await?;
        let mut out: Vec<UsageDay> = first
            .iter_days()
            .take_while(|d| *d <= today)
            .map(|date| UsageDay {
                date,
                requests: 0,
                refused: 0,
                execs: 0,
            })
            .collect();
        let at = |date: chrono::NaiveDate| usize::try_from((date - first).num_days()).ok();
        for (date, requests, refused) in counted {
            if let Some(day) = at(date).and_then(|i| out.get_mut(i)) {
                day.requests = u64::try_from(requests).unwrap_or(0);
                day.refused = u64::try_from(refused).unwrap_or(0);
            }
        }
        for (date, n) in execs {
            if let Some(day) = at(date).and_then(|i| out.get_mut(i)) {
                day.execs = u64::try_from(n).unwrap_or(0);
            }
        }
        Ok(out)
    }

    /// Creates a key. The returned secret is the only copy that will ever exist.
    pub async fn create(&self, caller: &Principal, req: NewApiKey) -> Result<(ApiKey, RawApiKey)> {
        caller.require_admin()?;
        let name = ApiKeyName::parse(&req.name)?;
        let groups = parse_groups(&req.groups)?;
        let expires_at = self.expiry(req.expires_at)?;
        let secret = RawApiKey::generate();
        let prefix = active::prefix_of(&secret.digest());
        let _order = self.ordered().await;
        // Before the commit: the key must work as soon as its owner has it.
        self.active.insert(prefix);
        let inserted = store::keys::insert(
            &self.store,
            store::keys::NewKey {
                id: Uuid::new_v4(),
                org_id: caller.org_id,
                name: &name,
                key_hash: secret.hash(),
                masked_key: secret.masked(),
                groups: &groups,
                created_by: caller.actor(),
                expires_at,
            },
        )
        .await;
        let record = match inserted {
            Ok(record) => record,
            Err(e) => {
                // Nobody has this secret: leaving its prefix would only cost a lookup, but
                // the set should hold active keys.
                self.active.remove(prefix);
                return Err(e);
            }
        };
        tracing::info!(key = %name, actor = caller.actor(), "API key created");
        Ok((api_key(record, self.now()), secret))
    }

    pub async fn configure(
        &self,
        caller: &Principal,
        name_or_id: &str,
        changes: KeyChanges,
    ) -> Result<ApiKey> {
        caller.require_admin()?;
        let name = changes.name.as_deref().map(ApiKeyName::parse).transpose()?;
        let groups = changes.groups.as_deref().map(parse_groups).transpose()?;
        let key = self.find(caller, name_or_id).await?;
        let expires_at = self.expiry_after(changes.expires_at, &key)?;
        let change = self.cache.begin_change(key.row.id);
        let record = store::keys::configure(
            &self.store,
            caller.org_id,
            key.row.id,
            store::keys::KeyEdit {
                name: name.as_ref(),
                groups: groups.as_deref(),
                expires_at,
                revival: self.revival(changes.accept_reported_secret),
            },
            caller.actor(),
        )
        .await?;
        drop(change);
        Ok(api_key(record, self.now()))
    }

    pub async fn deactivate(&self, caller: &Principal, name_or_id: &str) -> Result<ApiKey> {
        caller.require_admin()?;
        let key = self.find(caller, name_or_id).await?;
        let to = Transition::Deactivate { reason: None };
        self.transition(key, to, caller.actor()).await
    }

    /// Activates a key. An expired one needs a new `expires_at`; the secret is the same, and a
    /// rotation's previous secret does not come back.
    pub async fn activate(
        &self,
        caller: &Principal,
        name_or_id: &str,
        activation: Activation,
    ) -> Result<ApiKey> {
        caller.require_admin()?;
        let key = self.find(caller, name_or_id).await?;
        let reviving = key.row.status != store::keys::KeyStatus::Active;
        let expires_at = match activation.expires_at {
            Some(at) => self.expiry(Some(at))?,
            None => {
                if reviving {
                    self.expiry_after(None, &key)?;
                }
                if let Some(at) = key.row.expires_at.filter(|at| *at <= self.now()) {
                    return Err(Error::Invalid(Violation::of(
                        "expires_at",
                        format!(
                            "this key expired at {}: give a new expires_at to activate it",
                            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        ),
                    )));
                }
                None
            }
        };
        let to = Transition::Activate {
            expires_at,
            revival: self.revival(activation.accept_reported_secret),
        };
        self.transition(key, to, caller.actor()).await
    }

    /// Moves a key to another state, keeping the cache and the set of active keys in step.
    pub(super) async fn transition(
        &self,
        key: KeyRecord,
        to: Transition<'_>,
        actor: &str,
    ) -> Result<ApiKey> {
        let activating = matches!(to, Transition::Activate { .. });
        let order = self.ordered().await;
        // The secret to let in is the one the key has now, under the lock: a rotation that
        // committed since `key` was read changed it, and letting in the one read before would
        // leave the set without the current secret (refused until a restart).
        let key = self.as_ordered(&order, key).await?;
        let prefix = active::prefix_of_hex(&key.row.hash_prefix)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("a stored key hash is not hex")))?;
        let change = self.cache.begin_change(key.row.id);
        if activating {
            // Before the commit, as for a new key.
            self.active.insert(prefix);
        }
        let changed =
            store::keys::set_active(&self.store, key.row.org_id, key.row.id, to, actor).await;
        // On SQLite this process is the only writer and applies its own changes, in commit
        // order (`order`). On PostgreSQL every replica, this one included, applies them as
        // the feed delivers them, in commit order; until then the set holds the key, which
        // only costs a lookup. After a failure the set may keep a key it need not: harmless.
        if let (Some(_), Ok(changed)) = (&order, &changed) {
            self.forget_prefixes(&changed.ended);
        }
        drop(change);
        drop(order);
        let record = changed?.record;
        tracing::info!(key = %record.row.name, activating, actor, "API key status set");
        Ok(api_key(record, self.now()))
    }

    /// Gives a key a new secret, shown this once. The old one keeps working for
    /// `grace_seconds` (0: not at all), so its users can move over without an outage.
    pub async fn rotate(
        &self,
        caller: &Principal,
        name_or_id: &str,
        rotation: Rotation,
    ) -> Result<(ApiKey, RawApiKey)> {
        caller.require_admin()?;
        if rotation.grace_seconds > MAX_GRACE_SECONDS {
            return Err(Error::Invalid(Violation::of(
                "grace_seconds",
                format!("grace_seconds must be 0 to {MAX_GRACE_SECONDS} (30 days)"),
            )));
        }
        let key = self.find(caller, name_or_id).await?;
        let now = self.now();
        // The new secret lives as long as the key: within the policy, like any new secret.
        self.expiry_after(None, &key)?;
        let overlap = (rotation.grace_seconds > 0).then(|| {
            let secs = i64::try_from(rotation.grace_seconds).unwrap_or(i64::MAX);
            (now + TimeDelta::seconds(secs), rotation.grace_seconds)
        });
        // An expired key's secret works no longer either: nothing to overlap with. (The store
        // says the same of a deactivated key, under the key's lock.)
        if overlap.is_some() && key.row.expires_at.is_some_and(|at| at <= now) {
            return Err(store::keys::inert_grace());
        }
        let secret = RawApiKey::generate();
        let prefix = active::prefix_of(&secret.digest());
        let order = self.ordered().await;
        // As in `transition`: the state that counts is the one under the lock (SQLite).
        let key = self.as_ordered(&order, key).await?;
        let change = self.cache.begin_change(key.row.id);
        // Before the commit: the new secret must work as soon as its owner has it. A
        // deactivated key's must not (on PostgreSQL the feed follows the committed state).
        let admitted = key.row.status == store::keys::KeyStatus::Active;
        if admitted {
            self.active.insert(prefix);
        }
        let changed = store::keys::rotate(
            &self.store,
            caller.org_id,
            key.row.id,
            store::keys::NewSecret {
                key_hash: secret.hash(),
                masked_key: secret.masked(),
            },
            overlap,
            caller.actor(),
        )
        .await;
        match (&order, &changed) {
            (Some(_), Ok(changed)) => self.forget_prefixes(&changed.ended),
            (_, Err(_)) if admitted => self.active.remove(prefix),
            _ => {}
        }
        drop(change);
        drop(order);
        let record = changed?.record;
        tracing::info!(key = %record.row.name, grace_seconds = rotation.grace_seconds, actor = caller.actor(), "API key rotated");
        Ok((api_key(record, self.now()), secret))
    }
}
