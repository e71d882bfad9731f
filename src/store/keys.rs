//! API key rows. Only hashes and masked previews are stored here, never a raw key.

pub use super::usage::ClientRow;
use super::{
    audit::{self, Change, FromTo},
    identity::require_groups,
    in_tx, on_pool, or_taken, Store,
};
use crate::{
    domain::{ApiKeyName, GroupName},
    error::Error,
};
use chrono::{DateTime, Utc};
use sqlx::FromRow;
use std::collections::HashMap;
use uuid::Uuid;

/// The PostgreSQL channel key changes are announced on, inside the transaction that makes them
/// (so only committed changes are heard); every replica's key feed listens to it.
pub const CHANGE_CHANNEL: &str = "hoop_keys";
pub const STATE_ACTIVE: &str = "active:";
pub const STATE_INACTIVE: &str = "inactive:";

/// The announcement of a key's new state: `active:` or `inactive:` and its 16-hex-digit
/// digest prefix. Sent besides the plain `<uuid>` (which replicas that predate the set act on).
pub fn state_message(hash_prefix: &str, active: bool) -> String {
    let tag = if active { STATE_ACTIVE } else { STATE_INACTIVE };
    format!("{tag}{hash_prefix}")
}

pub use super::key_status::KeyStatus;

#[derive(Debug, Clone, FromRow)]
pub struct KeyRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub masked_key: String,
    pub status: KeyStatus,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub deactivated_by: Option<String>,
    pub deactivated_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    pub last_used_user_agent: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub previous_masked_key: Option<String>,
    pub previous_expires_at: Option<DateTime<Utc>>,
    pub version: i64,
    /// The first 16 hex digits of the key's hash: what the set of active keys holds.
    pub hash_prefix: String,
    /// The same of the previous secret's hash, during a rotation's overlap.
    pub previous_hash_prefix: Option<String>,
    /// When one of its secrets was reported leaked, until a rotation or an accepted revival.
    pub leak_reported_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub row: KeyRow,
    pub groups: Vec<String>,
    /// The addresses it was used from most recently, newest first.
    pub clients: Vec<ClientRow>,
}

/// What authentication needs to know about the key behind a hash.
#[derive(Debug, Clone, FromRow)]
pub struct KeyIdentity {
    pub id: Uuid,
    pub org_id: Uuid,
    pub org_name: String,
    pub name: String,
    pub key_hash: String,
    pub status: KeyStatus,
    pub expires_at: Option<DateTime<Utc>>,
    /// Set when the hash presented is the previous secret's (`key_hash` is then that one).
    pub previous_expires_at: Option<DateTime<Utc>>,
    pub is_previous: bool,
    #[sqlx(skip)]
    pub groups: Vec<String>,
}

pub struct NewKey<'a> {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: &'a ApiKeyName,
    pub key_hash: String,
    pub masked_key: String,
    pub groups: &'a [GroupName],
    pub created_by: &'a str,
    pub expires_at: Option<DateTime<Utc>>,
}

pub(super) const COLUMNS: &str = "id, org_id, name, masked_key, status, created_by, created_at, \
                       deactivated_by, deactivated_at, last_used_at, last_used_ip, \
                       last_used_user_agent, expires_at, \
                       previous_masked_key, previous_expires_at, version, \
                       substr(key_hash, 1, 16) AS hash_prefix, \
                       substr(previous_key_hash, 1, 16) AS previous_hash_prefix, \
                       leak_reported_at";
const GROUPS_OF: &str =
    "SELECT group_name FROM api_key_groups WHERE api_key_id = $1 ORDER BY group_name";
const CLIENTS_OF: &str = "SELECT api_key_id, ip, user_agent, last_seen_at FROM api_key_clients \
                          WHERE api_key_id = $1 ORDER BY last_seen_at DESC, ip LIMIT $2";

/// Reads one key and its groups on `$conn` (a pool or a transaction).
macro_rules! fetch_record {
    ($conn:expr, $org_id:expr, $id:expr) => {{
        let row: Option<KeyRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE org_id = $1 AND id = $2"
        ))
        .bind($org_id)
        .bind($id)
        .fetch_optional(&mut *$conn)
        .await?;
        match row {
            Some(row) => {
                let groups: Vec<String> = sqlx::query_scalar(GROUPS_OF)
                    .bind(row.id)
                    .fetch_all(&mut *$conn)
                    .await?;
                let clients: Vec<ClientRow> = sqlx::query_as(CLIENTS_OF)
                    .bind(row.id)
                    .bind(super::usage::RECENT_CLIENTS)
                    .fetch_all(&mut *$conn)
                    .await?;
                Some(KeyRecord {
                    row,
                    groups,
                    clients,
                })
            }
            None => None,
        }
    }};
}

pub async fn list(store: &Store, org_id: Uuid) -> Result<Vec<KeyRecord>, Error> {
    let (rows, memberships): (Vec<KeyRow>, Vec<(Uuid, String)>) = on_pool!(store, pool => {
        let rows = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE org_id = $1 ORDER BY created_at, name"))
            .bind(org_id).fetch_all(pool).await?;
        let memberships = sqlx::query_as(
            "SELECT api_key_id, group_name FROM api_key_groups WHERE org_id = $1 ORDER BY group_name")
            .bind(org_id).fetch_all(pool).await?;
        (rows, memberships)
    });
    let mut by_key: HashMap<Uuid, Vec<String>> = HashMap::new();
    for (key_id, group) in memberships {
        by_key.entry(key_id).or_default().push(group);
    }
    let mut clients = super::usage::recent_clients_in_org(store, org_id).await?;
    Ok(rows
        .into_iter()
        .map(|row| KeyRecord {
            groups: by_key.remove(&row.id).unwrap_or_default(),
            clients: clients.remove(&row.id).unwrap_or_default(),
            row,
        })
        .collect())
}

/// A key by UUID or, failing that, by name.
pub async fn find(
    store: &Store,
    org_id: Uuid,
    name_or_id: &str,
) -> Result<Option<KeyRecord>, Error> {
    let id = Uuid::parse_str(name_or_id).ok();
    Ok(on_pool!(store, pool => {
        let mut conn = pool.acquire().await?;
        let mut found = None;
        if let Some(id) = id {
            found = fetch_record!(conn, org_id, id);
        }
        if found.is_none() {
            let by_name: Option<Uuid> =
                sqlx::query_scalar("SELECT id FROM api_keys WHERE org_id = $1 AND name = $2")
                    .bind(org_id).bind(name_or_id).fetch_optional(&mut *conn).await?;
            if let Some(id) = by_name {
                found = fetch_record!(conn, org_id, id);
            }
        }
        found
    }))
}

/// The key whose current or previous secret has this hash.
pub async fn by_hash(store: &Store, key_hash: &str) -> Result<Option<KeyIdentity>, Error> {
    Ok(on_pool!(store, pool => {
        let found: Option<KeyIdentity> = sqlx::query_as(
            "SELECT k.id, k.org_id, o.name AS org_name, k.name, k.key_hash, k.status, k.expires_at, \
                    NULL AS previous_expires_at, FALSE AS is_previous \
             FROM api_keys k JOIN orgs o ON o.id = k.org_id WHERE k.key_hash = $1 \
             UNION ALL \
             SELECT k.id, k.org_id, o.name, k.name, k.previous_key_hash, k.status, k.expires_at, \
                    k.previous_expires_at, TRUE \
             FROM api_keys k JOIN orgs o ON o.id = k.org_id WHERE k.previous_key_hash = $1")
            .bind(key_hash).fetch_optional(pool).await?;
        match found {
            Some(mut key) => {
                key.groups = sqlx::query_scalar(GROUPS_OF).bind(key.id).fetch_all(pool).await?;
                Some(key)
            }
            None => None,
        }
    }))
}

/// The first 16 hex digits of the hash of every secret of an active key (expired or not: the
/// expiry is checked in memory), for the set that keeps unknown keys off the database.
pub async fn active_hash_prefixes(store: &Store) -> Result<Vec<String>, Error> {
    Ok(on_pool!(store, pool => {
        sqlx::query_scalar(
            "SELECT substr(key_hash, 1, 16) FROM api_keys WHERE status = $1 \
             UNION ALL \
             SELECT substr(previous_key_hash, 1, 16) FROM api_keys \
             WHERE status = $1 AND previous_key_hash IS NOT NULL")
            .bind(KeyStatus::Active).fetch_all(pool).await?
    }))
}

/// The prefixes of secrets that worked once and no longer do: deactivated keys' and old
/// secrets of rotations (some of which may still be in their overlap, and active as well).
pub async fn retired_hash_prefixes(store: &Store) -> Result<Vec<String>, Error> {
    Ok(on_pool!(store, pool => {
        sqlx::query_scalar(
            "SELECT substr(key_hash, 1, 16) FROM api_keys WHERE status = $1 \
             UNION ALL \
             SELECT substr(previous_key_hash, 1, 16) FROM api_keys \
             WHERE previous_key_hash IS NOT NULL")
            .bind(KeyStatus::Deactivated).fetch_all(pool).await?
    }))
}

pub async fn insert(store: &Store, key: NewKey<'_>) -> Result<KeyRecord, Error> {
    let at = super::now();
    let change = Change::ApiKeyCreated {
        id: key.id,
        name: key.name,
        groups: key.groups,
        masked_key: &key.masked_key,
        expires_at: key.expires_at,
    };
    let record = in_tx!(store, tx => {
        require_groups!(tx, key.org_id, key.groups, field = "groups");
        sqlx::query(
            "INSERT INTO api_keys (id, org_id, name, key_hash, masked_key, status, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(key.id).bind(key.org_id).bind(key.name.as_str()).bind(&key.key_hash)
            .bind(&key.masked_key).bind(KeyStatus::Active).bind(key.created_by).bind(at)
            .bind(key.expires_at)
            .execute(&mut *tx).await
            .map_err(or_taken(|| key.name.taken()))?;
        for g in key.groups {
            sqlx::query("INSERT INTO api_key_groups (api_key_id, org_id, group_name) VALUES ($1, $2, $3)")
                .bind(key.id).bind(key.org_id).bind(g.as_str())
                .execute(&mut *tx).await?;
        }
        audit::insert(key.org_id, at, key.created_by, &change).execute(&mut *tx).await?;
        let record = fetch_record!(tx, key.org_id, key.id).ok_or_else(|| Error::Internal(anyhow::anyhow!("inserted key vanished")))?;
        (*tx).announce_key_state(&record.row.hash_prefix, true).await?;
        record
    });
    audit::committed(change.action());
    Ok(record)
}

/// What a configure changes; `None` fields stay as they are.
pub struct KeyEdit<'a> {
    pub name: Option<&'a ApiKeyName>,
    pub groups: Option<&'a [GroupName]>,
    /// `Some(None)`: never expires.
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// See [`Revival`]: a later expiry of an expired key makes its secret work again.
    pub revival: Revival,
}

/// A change that could make a key's secret work again (an activation, a later expiry of an
/// expired key), judged under the key's lock: if one of its secrets was reported leaked, it
/// needs `accept_reported_secret` (which clears the report); a rotation clears it otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Revival {
    /// The gateway's time, which says whether the key had expired.
    pub now: DateTime<Utc>,
    pub accept_reported_secret: bool,
}

impl Revival {
    /// Whether a key going from `before` to (`status`, `expires_at`) may, and what its leak
    /// report becomes: `Ok(true)` when an accepted revival clears it.
    fn judge(
        &self,
        before: &KeyRow,
        status: KeyStatus,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<bool, Error> {
        let live = |status, expires_at: Option<DateTime<Utc>>| {
            status == KeyStatus::Active && expires_at.is_none_or(|at| at > self.now)
        };
        let revives = !live(before.status, before.expires_at) && live(status, expires_at);
        match before.leak_reported_at {
            Some(at) if revives && !self.accept_reported_secret => {
                Err(Error::Invalid(crate::domain::Violation::of(
                    "accept_reported_secret",
                    format!(
                        "a secret of this key was reported leaked at {}: rotate the key for a \
                         new secret, or set accept_reported_secret to bring the reported one back",
                        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ),
                )))
            }
            Some(_) => Ok(revives),
            None => Ok(false),
        }
    }
}

/// Renames, regroups and/or sets the expiry of a key. The hash is untouched, so the secret keeps
/// working (until the new expiry, if it is sooner).
pub async fn configure(
    store: &Store,
    org_id: Uuid,
    id: Uuid,
    edit: KeyEdit<'_>,
    actor: &str,
) -> Result<KeyRecord, Error> {
    let at = super::now();
    let (record, audited) = in_tx!(store, tx => {
        (*tx).lock_key(id).await?;
        let before = fetch_record!(tx, org_id, id).ok_or_else(not_found)?;
        let mut renamed = None;
        if let Some(name) = edit.name.filter(|n| n.as_str() != before.row.name) {
            sqlx::query("UPDATE api_keys SET name = $1 WHERE id = $2")
                .bind(name.as_str()).bind(id)
                .execute(&mut *tx).await
                .map_err(or_taken(|| name.taken()))?;
            renamed = Some(FromTo { from: before.row.name.as_str(), to: name.as_str() });
        }
        let new_groups: Option<Vec<String>> = edit.groups.map(|g| g.iter().map(|g| g.to_string()).collect());
        let mut regrouped = None;
        if let (Some(groups), Some(new_groups)) = (edit.groups, new_groups.as_deref().filter(|g| *g != before.groups)) {
            require_groups!(tx, org_id, groups, field = "groups");
            sqlx::query("DELETE FROM api_key_groups WHERE api_key_id = $1")
                .bind(id).execute(&mut *tx).await?;
            for g in groups {
                sqlx::query("INSERT INTO api_key_groups (api_key_id, org_id, group_name) VALUES ($1, $2, $3)")
                    .bind(id).bind(org_id).bind(g.as_str())
                    .execute(&mut *tx).await?;
            }
            regrouped = Some(FromTo { from: before.groups.as_slice(), to: new_groups });
        }
        let mut expiry = None;
        let mut accepted = false;
        if let Some(expires_at) = edit.expires_at.filter(|e| *e != before.row.expires_at) {
            accepted = edit.revival.judge(&before.row, before.row.status, expires_at)?;
            sqlx::query(
                "UPDATE api_keys SET expires_at = $1, \
                 leak_reported_at = CASE WHEN $2 THEN NULL ELSE leak_reported_at END WHERE id = $3")
                .bind(expires_at).bind(accepted).bind(id).execute(&mut *tx).await?;
            expiry = Some(FromTo { from: before.row.expires_at, to: expires_at });
        }
        if renamed.is_none() && regrouped.is_none() && expiry.is_none() {
            (before, None)
        } else {
            sqlx::query("UPDATE api_keys SET version = version + 1 WHERE id = $1")
                .bind(id).execute(&mut *tx).await?;
            (*tx).announce_key_change(id).await?;
            let after = fetch_record!(tx, org_id, id).ok_or_else(not_found)?;
            let change = Change::ApiKeyUpdated {
                id, name: &after.row.name, renamed, regrouped, expiry,
                accepted_reported_secret: accepted,
            };
            audit::insert(org_id, at, actor, &change).execute(&mut *tx).await?;
            let action = change.action();
            (after, Some(action))
        }
    });
    if let Some(action) = audited {
        audit::committed(action);
    }
    Ok(record)
}

/// Where a key goes: deactivated (why, when the gateway decided it), or active again (with a
/// new expiry, which an expired key needs).
#[derive(Debug, Clone, Copy)]
pub enum Transition<'a> {
    Deactivate {
        reason: Option<&'a str>,
    },
    /// One of its secrets was reported leaked, from this address: deactivated if it is not
    /// already, and marked, so that it does not come back unnoticed (see [`Revival`]).
    Leaked {
        reporter: &'a str,
        masked_key: &'a str,
    },
    Activate {
        expires_at: Option<DateTime<Utc>>,
        revival: Revival,
    },
}

/// Deactivates or activates a key. Idempotent: a key already in the wanted state is returned
/// unchanged and no audit event is written (an activation that also sets a new expiry sets it;
/// a leak report of a deactivated key not reported yet marks it). Deactivation ends both
/// secrets of a rotation's overlap; activation brings back the current.
pub async fn set_active(
    store: &Store,
    org_id: Uuid,
    id: Uuid,
    to: Transition<'_>,
    actor: &str,
) -> Result<Changed, Error> {
    let at = super::now();
    let (status, new_expiry) = match to {
        Transition::Activate { expires_at, .. } => (KeyStatus::Active, expires_at),
        _ => (KeyStatus::Deactivated, None),
    };
    let active = status == KeyStatus::Active;
    let (record, audited) = in_tx!(store, tx => {
        (*tx).lock_key(id).await?;
        let before = fetch_record!(tx, org_id, id).ok_or_else(not_found)?;
        let expiry = new_expiry
            .filter(|e| Some(*e) != before.row.expires_at)
            .map(|e| FromTo { from: before.row.expires_at, to: Some(e) });
        let moves = before.row.status != status;
        let (leak_mark, accepted) = match to {
            Transition::Leaked { .. } => (before.row.leak_reported_at.or(Some(at)), false),
            Transition::Activate { revival, .. } => {
                let expires_at = new_expiry.or(before.row.expires_at);
                let accepted = revival.judge(&before.row, status, expires_at)?;
                (before.row.leak_reported_at.filter(|_| !accepted), accepted)
            }
            Transition::Deactivate { .. } => (before.row.leak_reported_at, false),
        };
        if !moves && expiry.is_none() && leak_mark == before.row.leak_reported_at {
            (Changed { record: before, ended: Vec::new() }, None)
        } else {
            // Activation clears who deactivated the key and when: the record shows the current
            // state, the audit log keeps the history. A deactivated key keeps its first ones.
            let (by, when) = match (moves, active) {
                (true, false) => (Some(actor), Some(at)),
                (true, true) => (None, None),
                (false, _) => (before.row.deactivated_by.as_deref(), before.row.deactivated_at),
            };
            sqlx::query(
                "UPDATE api_keys SET status = $1, deactivated_by = $2, deactivated_at = $3, \
                 expires_at = COALESCE($4, expires_at), leak_reported_at = $5, \
                 previous_key_hash = NULL, previous_masked_key = NULL, previous_expires_at = NULL, \
                 version = version + 1 WHERE id = $6")
                .bind(status).bind(by).bind(when).bind(new_expiry).bind(leak_mark).bind(id)
                .execute(&mut *tx).await?;
            (*tx).announce_key_change(id).await?;
            (*tx).announce_key_state(&before.row.hash_prefix, active).await?;
            let mut ended: Vec<String> = before.row.previous_hash_prefix.iter().cloned().collect();
            for previous in &ended {
                (*tx).announce_key_state(previous, false).await?;
            }
            if !active {
                ended.push(before.row.hash_prefix.clone());
            }
            let name = &before.row.name;
            let change = match to {
                Transition::Activate { .. } => Change::ApiKeyActivated {
                    id, name, expiry, accepted_reported_secret: accepted,
                },
                Transition::Deactivate { reason } => Change::ApiKeyDeactivated { id, name, reason },
                Transition::Leaked { reporter, masked_key } => Change::ApiKeyLeakReported {
                    id, name, reporter, masked_key, deactivated: moves,
                },
            };
            audit::insert(org_id, at, actor, &change).execute(&mut *tx).await?;
            let record = fetch_record!(tx, org_id, id).ok_or_else(not_found)?;
            (Changed { record, ended }, Some(change.action()))
        }
    });
    if let Some(action) = audited {
        audit::committed(action);
    }
    Ok(record)
}

/// A key after a change, and the hash prefixes of the secrets the change ended (for the set of
/// active keys, which on SQLite the key service updates itself after the commit).
#[derive(Debug)]
pub struct Changed {
    pub record: KeyRecord,
    pub ended: Vec<String>,
}

/// A new secret for a key, given as its hash and preview.
pub struct NewSecret {
    pub key_hash: String,
    pub masked_key: String,
}

/// Replaces a key's secret. The old one keeps working until `overlap_until` (none: it ends
/// now); an older previous secret, from a rotation still in its overlap, ends now. A
/// deactivated key may be rotated too (its new secret works once it is activated): that is how
/// a key reported leaked comes back with a secret nobody has seen. Either way the report is
/// cleared with the secret it was about.
pub async fn rotate(
    store: &Store,
    org_id: Uuid,
    id: Uuid,
    secret: NewSecret,
    overlap: Option<(DateTime<Utc>, u64)>,
    actor: &str,
) -> Result<Changed, Error> {
    let at = super::now();
    let record = in_tx!(store, tx => {
        (*tx).lock_key(id).await?;
        let before = fetch_record!(tx, org_id, id).ok_or_else(not_found)?;
        let active = before.row.status == KeyStatus::Active;
        if !active && overlap.is_some() {
            return Err(inert_grace());
        }
        let (previous_until, grace_seconds) = match overlap {
            Some((until, secs)) => (Some(until), secs),
            None => (None, 0),
        };
        sqlx::query(
            "UPDATE api_keys SET \
             previous_key_hash = CASE WHEN $1 IS NULL THEN NULL ELSE key_hash END, \
             previous_masked_key = CASE WHEN $1 IS NULL THEN NULL ELSE masked_key END, \
             previous_expires_at = $1, key_hash = $2, masked_key = $3, leak_reported_at = NULL, \
             version = version + 1 WHERE id = $4")
            .bind(previous_until).bind(&secret.key_hash).bind(&secret.masked_key).bind(id)
            .execute(&mut *tx).await?;
        (*tx).announce_key_change(id).await?;
        let after = fetch_record!(tx, org_id, id).ok_or_else(not_found)?;
        (*tx).announce_key_state(&after.row.hash_prefix, active).await?;
        let mut ended: Vec<String> = before.row.previous_hash_prefix.iter().cloned().collect();
        if previous_until.is_none() {
            ended.push(before.row.hash_prefix.clone());
        }
        for prefix in &ended {
            (*tx).announce_key_state(prefix, false).await?;
        }
        let change = Change::ApiKeyRotated {
            id,
            name: &after.row.name,
            masked_key: &after.row.masked_key,
            grace_seconds,
            previous_masked_key: &before.row.masked_key,
            previous_expires_at: previous_until,
        };
        audit::insert(org_id, at, actor, &change).execute(&mut *tx).await?;
        Changed { record: after, ended }
    });
    audit::committed("api_key.rotated");
    Ok(record)
}

/// A key noticed by a sweep: enough to act on it and name it.
#[derive(Debug, Clone, FromRow)]
pub struct Noticed {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Writes `api_key.expired` once for each active key whose expiry has passed by `now` and was
/// not announced yet; whichever replica gets here first writes it.
pub async fn note_expired(store: &Store, now: DateTime<Utc>) -> Result<Vec<Noticed>, Error> {
    note_expiry(store, now, now, Notice::Expired).await
}

/// Writes `api_key.expiring` once for each active key that expires before `horizon`.
pub async fn note_expiring(
    store: &Store,
    now: DateTime<Utc>,
    horizon: DateTime<Utc>,
) -> Result<Vec<Noticed>, Error> {
    note_expiry(store, now, horizon, Notice::Expiring).await
}

/// Which announcement of an expiry: each has the column recording the expiry it announced.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Notice {
    Expired,
    Expiring,
}

async fn note_expiry(
    store: &Store,
    now: DateTime<Utc>,
    before: DateTime<Utc>,
    notice: Notice,
) -> Result<Vec<Noticed>, Error> {
    let at = super::now();
    let expired = notice == Notice::Expired;
    let column = if expired {
        "expired_noted"
    } else {
        "expiring_noted"
    };
    let noticed = in_tx!(store, tx => {
        // The row lock of the UPDATE settles a race between replicas: the second finds the
        // expiry noted already.
        let noticed: Vec<Noticed> = sqlx::query_as(&format!(
            "UPDATE api_keys SET {column} = expires_at \
             WHERE status = $1 AND expires_at IS NOT NULL AND expires_at <= $2 \
             AND ({column} IS NULL OR {column} <> expires_at) \
             AND ($3 OR expires_at > $4) \
             RETURNING id, org_id, name, expires_at"))
            .bind(KeyStatus::Active).bind(before).bind(expired).bind(now)
            .fetch_all(&mut *tx).await?;
        for key in &noticed {
            let Some(expires_at) = key.expires_at else { continue };
            let change = if expired {
                Change::ApiKeyExpired { id: key.id, name: &key.name, expires_at }
            } else {
                Change::ApiKeyExpiring { id: key.id, name: &key.name, expires_at }
            };
            audit::insert(key.org_id, at, SYSTEM_ACTOR, &change).execute(&mut *tx).await?;
        }
        noticed
    });
    for _ in &noticed {
        audit::committed(if expired {
            "api_key.expired"
        } else {
            "api_key.expiring"
        });
    }
    Ok(noticed)
}

/// Forgets previous secrets whose overlap has ended by `now` (they no longer work already; this
/// keeps the set of active keys small). Not audited: the rotation said when it would end.
/// Returns the hash prefixes of the secrets forgotten.
pub async fn end_overlaps(store: &Store, now: DateTime<Utc>) -> Result<Vec<String>, Error> {
    Ok(in_tx!(store, tx => {
        let due: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT id, substr(previous_key_hash, 1, 16) FROM api_keys \
             WHERE previous_expires_at IS NOT NULL AND previous_expires_at <= $1")
            .bind(now).fetch_all(&mut *tx).await?;
        let mut ended = Vec::with_capacity(due.len());
        for (id, prefix) in due {
            (*tx).lock_key(id).await?;
            // Checked again under the lock: a rotation may have replaced it meanwhile.
            let done = sqlx::query(
                "UPDATE api_keys SET previous_key_hash = NULL, previous_masked_key = NULL, \
                 previous_expires_at = NULL, version = version + 1 \
                 WHERE id = $1 AND previous_expires_at <= $2 AND substr(previous_key_hash, 1, 16) = $3")
                .bind(id).bind(now).bind(&prefix).execute(&mut *tx).await?;
            if done.rows_affected() == 1 {
                (*tx).announce_key_change(id).await?;
                (*tx).announce_key_state(&prefix, false).await?;
                ended.push(prefix);
            }
        }
        ended
    }))
}

/// Active keys not used since `cutoff` (never used: created before it).
pub async fn unused_since(store: &Store, cutoff: DateTime<Utc>) -> Result<Vec<Noticed>, Error> {
    Ok(on_pool!(store, pool => {
        sqlx::query_as(
            "SELECT id, org_id, name, expires_at FROM api_keys \
             WHERE status = $1 AND COALESCE(last_used_at, created_at) < $2")
            .bind(KeyStatus::Active).bind(cutoff).fetch_all(pool).await?
    }))
}

/// The actor of changes the gateway makes on its own (expiry, the unused-key policy).
pub const SYSTEM_ACTOR: &str = "system";

/// Tells other replicas that a key changed. Runs inside the changing transaction, so the
/// announcement goes out only when the change commits. SQLite has one process: nothing to tell.
pub(crate) trait KeyTx {
    /// Holds the key's row until the transaction ends, so concurrent changes to one key run one
    /// after the other and each sees (and audits) the state the previous one left.
    async fn lock_key(&mut self, id: Uuid) -> Result<(), sqlx::Error>;
    async fn announce_key_change(&mut self, id: Uuid) -> Result<(), sqlx::Error>;
    /// Tells other replicas whether the key with this hash prefix is active now.
    async fn announce_key_state(
        &mut self,
        hash_prefix: &str,
        active: bool,
    ) -> Result<(), sqlx::Error>;
}

impl KeyTx for sqlx::SqliteConnection {
    /// An IMMEDIATE transaction already holds the database's one write lock.
    async fn lock_key(&mut self, _id: Uuid) -> Result<(), sqlx::Error> {
        Ok(())
    }
    async fn announce_key_change(&mut self, _id: Uuid) -> Result<(), sqlx::Error> {
        Ok(())
    }
    async fn announce_key_state(&mut self, _: &str, _: bool) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

impl KeyTx for sqlx::PgConnection {
    async fn lock_key(&mut self, id: Uuid) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1 FROM api_keys WHERE id = $1 FOR UPDATE")
            .bind(id)
            .execute(self)
            .await?;
        Ok(())
    }

    async fn announce_key_change(&mut self, id: Uuid) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANGE_CHANNEL)
            .bind(id.to_string())
            .execute(self)
            .await?;
        Ok(())
    }

    async fn announce_key_state(
        &mut self,
        hash_prefix: &str,
        active: bool,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANGE_CHANNEL)
            .bind(state_message(hash_prefix, active))
            .execute(self)
            .await?;
        Ok(())
    }
}

/// A grace is an overlap with a secret that works: a deactivated or expired key's does not.
pub fn inert_grace() -> Error {
    Error::Invalid(crate::domain::Violation::of(
        "grace_seconds",
        "this key's secret does not work now (it is deactivated or expired): rotate it with \
         grace_seconds 0",
    ))
}

fn not_found() -> Error {
    Error::NotFound("API key not found".into())
}
