//! API key rows. Only hashes and masked previews are stored here, never a raw key.

use super::{
    audit::{self, Change, FromTo},
    in_tx, on_pool, or_taken, require_groups,
    text_enum::text_enum,
    Store,
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

text_enum! {
    /// Whether a key authenticates. Deactivation keeps the row (and its audit history).
    pub enum KeyStatus {
        Active = "active",
        Deactivated = "deactivated",
    }
}

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
    pub version: i64,
    /// The first 16 hex digits of the key's hash: what the set of active keys holds.
    pub hash_prefix: String,
}

#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub row: KeyRow,
    pub groups: Vec<String>,
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
}

const COLUMNS: &str = "id, org_id, name, masked_key, status, created_by, created_at, \
                       deactivated_by, deactivated_at, last_used_at, version, \
                       substr(key_hash, 1, 16) AS hash_prefix";
const GROUPS_OF: &str =
    "SELECT group_name FROM api_key_groups WHERE api_key_id = $1 ORDER BY group_name";

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
                Some(KeyRecord { row, groups })
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
    Ok(rows
        .into_iter()
        .map(|row| KeyRecord {
            groups: by_key.remove(&row.id).unwrap_or_default(),
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

pub async fn by_hash(store: &Store, key_hash: &str) -> Result<Option<KeyIdentity>, Error> {
    Ok(on_pool!(store, pool => {
        let found: Option<KeyIdentity> = sqlx::query_as(
            "SELECT k.id, k.org_id, o.name AS org_name, k.name, k.key_hash, k.status \
             FROM api_keys k JOIN orgs o ON o.id = k.org_id WHERE k.key_hash = $1")
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

/// The first 16 hex digits of the hash of every active key, for the set that keeps unknown
/// keys off the database.
pub async fn active_hash_prefixes(store: &Store) -> Result<Vec<String>, Error> {
    Ok(on_pool!(store, pool => {
        sqlx::query_scalar("SELECT substr(key_hash, 1, 16) FROM api_keys WHERE status = $1")
            .bind(KeyStatus::Active).fetch_all(pool).await?
    }))
}

pub async fn insert(store: &Store, key: NewKey<'_>) -> Result<KeyRecord, Error> {
    let at = super::now();
    let change = Change::ApiKeyCreated {
        id: key.id,
        name: key.name,
        groups: key.groups,
        masked_key: &key.masked_key,
    };
    let record = in_tx!(store, tx => {
        require_groups!(tx, key.org_id, key.groups, field = "groups");
        sqlx::query(
            "INSERT INTO api_keys (id, org_id, name, key_hash, masked_key, status, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(key.id).bind(key.org_id).bind(key.name.as_str()).bind(&key.key_hash)
            .bind(&key.masked_key).bind(KeyStatus::Active).bind(key.created_by).bind(at)
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

/// Renames and/or regroups a key. The hash is untouched, so the secret keeps working.
pub async fn configure(
    store: &Store,
    org_id: Uuid,
    id: Uuid,
    name: Option<&ApiKeyName>,
    groups: Option<&[GroupName]>,
    actor: &str,
) -> Result<KeyRecord, Error> {
    let at = super::now();
    let (record, audited) = in_tx!(store, tx => {
        (*tx).lock_key(id).await?;
        let before = fetch_record!(tx, org_id, id).ok_or_else(not_found)?;
        let mut renamed = None;
        if let Some(name) = name.filter(|n| n.as_str() != before.row.name) {
            sqlx::query("UPDATE api_keys SET name = $1 WHERE id = $2")
                .bind(name.as_str()).bind(id)
                .execute(&mut *tx).await
                .map_err(or_taken(|| name.taken()))?;
            renamed = Some(FromTo { from: before.row.name.as_str(), to: name.as_str() });
        }
        let new_groups: Option<Vec<String>> = groups.map(|g| g.iter().map(|g| g.to_string()).collect());
        let mut regrouped = None;
        if let (Some(groups), Some(new_groups)) = (groups, new_groups.as_deref().filter(|g| *g != before.groups)) {
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
        if renamed.is_none() && regrouped.is_none() {
            (before, None)
        } else {
            sqlx::query("UPDATE api_keys SET version = version + 1 WHERE id = $1")
                .bind(id).execute(&mut *tx).await?;
            (*tx).announce_key_change(id).await?;
            let after = fetch_record!(tx, org_id, id).ok_or_else(not_found)?;
            let change = Change::ApiKeyUpdated { id, name: &after.row.name, renamed, regrouped };
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

/// Deactivates (`active == false`) or activates a key. Idempotent: a key already in the
/// wanted state is returned unchanged and no audit event is written.
pub async fn set_active(
    store: &Store,
    org_id: Uuid,
    id: Uuid,
    active: bool,
    actor: &str,
) -> Result<KeyRecord, Error> {
    let at = super::now();
    let status = if active {
        KeyStatus::Active
    } else {
        KeyStatus::Deactivated
    };
    // Activation clears who deactivated the key and when: the record shows the current state,
    // the audit log keeps the history.
    let (by, when) = if active {
        (None, None)
    } else {
        (Some(actor), Some(at))
    };
    let (record, audited) = in_tx!(store, tx => {
        (*tx).lock_key(id).await?;
        let before = fetch_record!(tx, org_id, id).ok_or_else(not_found)?;
        if before.row.status == status {
            (before, None)
        } else {
            sqlx::query(
                "UPDATE api_keys SET status = $1, deactivated_by = $2, deactivated_at = $3, \
                 version = version + 1 WHERE id = $4")
                .bind(status).bind(by).bind(when).bind(id)
                .execute(&mut *tx).await?;
            (*tx).announce_key_change(id).await?;
            (*tx).announce_key_state(&before.row.hash_prefix, active).await?;
            let name = &before.row.name;
            let change = match status {
                KeyStatus::Active => Change::ApiKeyActivated { id, name },
                KeyStatus::Deactivated => Change::ApiKeyDeactivated { id, name },
            };
            audit::insert(org_id, at, actor, &change).execute(&mut *tx).await?;
            (fetch_record!(tx, org_id, id).ok_or_else(not_found)?, Some(change.action()))
        }
    });
    if let Some(action) = audited {
        audit::committed(action);
    }
    Ok(record)
}

/// Records use of keys. Never moves `last_used_at` backwards, whichever writer comes last.
pub async fn touch(store: &Store, uses: &[(Uuid, DateTime<Utc>)]) -> Result<(), Error> {
    on_pool!(store, pool => {
        for (id, at) in uses {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = $1 \
                 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)")
                .bind(at).bind(id).execute(pool).await?;
        }
    });
    Ok(())
}

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

fn not_found() -> Error {
    Error::NotFound("API key not found".into())
}
