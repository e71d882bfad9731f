//! How keys are used: written by each replica's usage flush (one transaction per key and
//! interval, never one per request), read by the key views and the usage endpoint.

use super::{
    audit::{self, Change},
    in_tx, on_pool, Store,
};
use crate::error::Error;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use sqlx::FromRow;
use std::collections::HashMap;
use uuid::Uuid;

/// A first use from an address unseen for this long is a new client (and its row, older than
/// this, is pruned).
pub const NEW_CLIENT_AFTER: TimeDelta = TimeDelta::days(30);
/// How many addresses a key object lists.
pub const RECENT_CLIENTS: i64 = 5;

/// One client address as seen in one interval.
#[derive(Debug, Clone)]
pub struct ClientSeen {
    pub ip: String,
    pub user_agent: Option<String>,
    pub at: DateTime<Utc>,
}

/// What one replica saw of one key since its last flush.
#[derive(Debug, Clone, Default)]
pub struct KeyUse {
    /// `(day, requests, refused)`.
    pub days: Vec<(NaiveDate, i64, i64)>,
    pub clients: Vec<ClientSeen>,
}

/// One key's share of [`record`], on `$tx` (either backend's transaction).
macro_rules! record_one {
    ($tx:ident, $id:expr, $used:expr, $events:ident) => {{
        let id: Uuid = $id;
        let used: &KeyUse = $used;
        let key: Option<(Uuid, String)> =
            sqlx::query_as("SELECT org_id, name FROM api_keys WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *$tx)
                .await?;
        // Deleted meanwhile: its uses go with it.
        if let Some((org_id, name)) = key {
            if let Some(last) = used.clients.iter().max_by_key(|c| c.at) {
                // `<=`: the clock ticks every 10 ms, so two flushes can carry one instant;
                // a replica's flushes land in the order they were taken, the later wins.
                sqlx::query(
                    "UPDATE api_keys SET last_used_at = $1, last_used_ip = $2, \
                     last_used_user_agent = $3 \
                     WHERE id = $4 AND (last_used_at IS NULL OR last_used_at <= $1)",
                )
                .bind(last.at)
                .bind(&last.ip)
                .bind(&last.user_agent)
                .bind(id)
                .execute(&mut *$tx)
                .await?;
            }
            for (day, requests, refused) in &used.days {
                sqlx::query(
                    "INSERT INTO api_key_usage (api_key_id, day, requests, refused) \
                     VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (api_key_id, day) DO UPDATE SET \
                     requests = api_key_usage.requests + excluded.requests, \
                     refused = api_key_usage.refused + excluded.refused",
                )
                .bind(id)
                .bind(day)
                .bind(requests)
                .bind(refused)
                .execute(&mut *$tx)
                .await?;
            }
            for client in &used.clients {
                let cutoff = client.at - NEW_CLIENT_AFTER;
                // Known and seen recently: move its sighting forward (never back).
                let known = sqlx::query(&format!("{SEEN_AGAIN} AND last_seen_at >= $5"))
                    .bind(id)
                    .bind(&client.ip)
                    .bind(client.at)
                    .bind(&client.user_agent)
                    .bind(cutoff)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected()
                    > 0;
                if known {
                    continue;
                }
                // New, or back after a long absence: whoever inserts or revives the row says so.
                let fresh = sqlx::query(
                    "INSERT INTO api_key_clients (api_key_id, ip, user_agent, last_seen_at) \
                     VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (api_key_id, ip) DO UPDATE SET \
                     user_agent = excluded.user_agent, last_seen_at = excluded.last_seen_at \
                     WHERE api_key_clients.last_seen_at < $5",
                )
                .bind(id)
                .bind(&client.ip)
                .bind(&client.user_agent)
                .bind(client.at)
                .bind(cutoff)
                .execute(&mut *$tx)
                .await?
                .rows_affected()
                    > 0;
                if fresh {
                    let change = Change::ApiKeyNewClient {
                        id,
                        name: &name,
                        ip: &client.ip,
                        user_agent: client.user_agent.as_deref(),
                    };
                    audit::insert(org_id, client.at, &name, &change)
                        .execute(&mut *$tx)
                        .await?;
                    $events.push(change.action());
                } else {
                    // Another replica made it known a moment ago.
                    sqlx::query(SEEN_AGAIN)
                        .bind(id)
                        .bind(&client.ip)
                        .bind(client.at)
                        .bind(&client.user_agent)
                        .execute(&mut *$tx)
                        .await?;
                }
            }
        }
    }};
}

/// Adds what one flush saw to the database, in one transaction: per key its last use, daily
/// counts, clients, and an `api_key.new_client` event for each address the key had not used
/// in [`NEW_CLIENT_AFTER`]. Concurrent flushes of two replicas seeing one new address write
/// one event: the row that makes an address known is inserted (or revived) by exactly one.
/// Should the batch fail (a key deleted at that very moment), each key is tried on its own.
pub async fn record(store: &Store, uses: &[(Uuid, KeyUse)]) -> Result<(), Error> {
    match record_batch(store, uses).await {
        Err(e) if uses.len() > 1 => {
            tracing::debug!(error = %e, "usage batch failed; recording key by key");
            let mut last = Ok(());
            for one in uses {
                if let Err(e) = record_batch(store, std::slice::from_ref(one)).await {
                    last = Err(e);
                }
            }
            last
        }
        done => done,
    }
}

async fn record_batch(store: &Store, uses: &[(Uuid, KeyUse)]) -> Result<(), Error> {
    let mut new_clients = Vec::new();
    in_tx!(store, tx => {
        for (id, used) in uses {
            record_one!(tx, *id, used, new_clients);
        }
    });
    for action in new_clients {
        audit::committed(action);
    }
    Ok(())
}

/// Moves a known address's sighting to `$3` with agent `$4`, unless it was seen later already.
const SEEN_AGAIN: &str = "UPDATE api_key_clients SET \
     user_agent = CASE WHEN last_seen_at <= $3 THEN $4 ELSE user_agent END, \
     last_seen_at = CASE WHEN last_seen_at <= $3 THEN $3 ELSE last_seen_at END \
     WHERE api_key_id = $1 AND ip = $2";

/// The keys whose current or previous secret starts with this 16-hex-digit prefix (normally
/// one; two keys sharing 8 bytes of digest is a one in 2^64 chance per key).
pub async fn keys_with_prefix(store: &Store, hex_prefix: &str) -> Result<Vec<Uuid>, Error> {
    // A range on the hash, so the unique indexes answer: hex digits sort before `g`.
    let upper = format!("{hex_prefix}g");
    Ok(on_pool!(store, pool => sqlx::query_scalar(
        "SELECT id FROM api_keys WHERE key_hash >= $1 AND key_hash < $2 \
         UNION SELECT id FROM api_keys WHERE previous_key_hash >= $1 AND previous_key_hash < $2")
        .bind(hex_prefix).bind(&upper).fetch_all(pool).await)?)
}

/// A key's counts from `from` on, by day (days without any are absent).
pub async fn daily(
    store: &Store,
    org_id: Uuid,
    id: Uuid,
    from: NaiveDate,
) -> Result<Vec<(NaiveDate, i64, i64)>, Error> {
    Ok(on_pool!(store, pool => sqlx::query_as(
        "SELECT u.day, u.requests, u.refused FROM api_key_usage u \
         JOIN api_keys k ON k.id = u.api_key_id \
         WHERE k.org_id = $1 AND u.api_key_id = $2 AND u.day >= $3 ORDER BY u.day")
        .bind(org_id).bind(id).bind(from).fetch_all(pool).await)?)
}

/// A key's execs (its recorded sessions) from `from` on, by UTC day.
pub async fn daily_execs(
    store: &Store,
    org_id: Uuid,
    id: Uuid,
    from: DateTime<Utc>,
) -> Result<Vec<(NaiveDate, i64)>, Error> {
    let actor_id = id.to_string();
    // The day of a stored time: SQLite keeps RFC 3339 text in UTC, PostgreSQL a timestamptz.
    let rows: Vec<(String, i64)> = match store {
        Store::Sqlite(sqlite) => {
            sqlx::query_as(
                "SELECT substr(created_at, 1, 10) AS day, COUNT(*) FROM sessions \
                 WHERE org_id = $1 AND actor_id = $2 AND created_at >= $3 GROUP BY day",
            )
            .bind(org_id)
            .bind(&actor_id)
            .bind(from)
            .fetch_all(&sqlite.pool)
            .await?
        }
        Store::Postgres(pool) => {
            sqlx::query_as(
                "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, COUNT(*) \
                 FROM sessions WHERE org_id = $1 AND actor_id = $2 AND created_at >= $3 \
                 GROUP BY day",
            )
            .bind(org_id)
            .bind(&actor_id)
            .bind(from)
            .fetch_all(pool)
            .await?
        }
    };
    Ok(rows
        .into_iter()
        .filter_map(|(day, n)| day.parse().ok().map(|day| (day, n)))
        .collect())
}

#[derive(Debug, Clone, FromRow)]
pub struct ClientRow {
    pub api_key_id: Uuid,
    pub ip: String,
    pub user_agent: Option<String>,
    pub last_seen_at: DateTime<Utc>,
}

/// The [`RECENT_CLIENTS`] most recently seen addresses of each of these keys, newest first.
pub async fn recent_clients(
    store: &Store,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<ClientRow>>, Error> {
    let mut by_key: HashMap<Uuid, Vec<ClientRow>> = HashMap::new();
    // Bounded batches: both backends limit the number of bound parameters.
    for chunk in ids.chunks(500) {
        let marks = super::placeholders(chunk.len());
        let sql = format!(
            "SELECT api_key_id, ip, user_agent, last_seen_at FROM ( \
               SELECT api_key_id, ip, user_agent, last_seen_at, ROW_NUMBER() OVER \
                 (PARTITION BY api_key_id ORDER BY last_seen_at DESC, ip) AS n \
               FROM api_key_clients WHERE api_key_id IN ({marks})) recent \
             WHERE n <= {RECENT_CLIENTS} ORDER BY api_key_id, last_seen_at DESC, ip"
        );
        let rows: Vec<ClientRow> = on_pool!(store, pool => {
            let mut query = sqlx::query_as(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            query.fetch_all(pool).await?
        });
        for row in rows {
            by_key.entry(row.api_key_id).or_default().push(row);
        }
    }
    Ok(by_key)
}

/// [`recent_clients`] for every key of an organization, in one query.
pub async fn recent_clients_in_org(
    store: &Store,
    org_id: Uuid,
) -> Result<HashMap<Uuid, Vec<ClientRow>>, Error> {
    let sql = format!(
        "SELECT api_key_id, ip, user_agent, last_seen_at FROM ( \
           SELECT c.api_key_id, c.ip, c.user_agent, c.last_seen_at, ROW_NUMBER() OVER \
             (PARTITION BY c.api_key_id ORDER BY c.last_seen_at DESC, c.ip) AS n \
           FROM api_key_clients c JOIN api_keys k ON k.id = c.api_key_id \
           WHERE k.org_id = $1) recent \
         WHERE n <= {RECENT_CLIENTS} ORDER BY api_key_id, last_seen_at DESC, ip"
    );
    let rows: Vec<ClientRow> =
        on_pool!(store, pool => sqlx::query_as(&sql).bind(org_id).fetch_all(pool).await?);
    let mut by_key: HashMap<Uuid, Vec<ClientRow>> = HashMap::new();
    for row in rows {
        by_key.entry(row.api_key_id).or_default().push(row);
    }
    Ok(by_key)
}

/// Forgets addresses unseen for [`NEW_CLIENT_AFTER`] and counts older than `keep_days`.
pub async fn prune(store: &Store, now: DateTime<Utc>, keep_days: i64) -> Result<(), Error> {
    let oldest_day = (now - TimeDelta::days(keep_days)).date_naive();
    on_pool!(store, pool => {
        sqlx::query("DELETE FROM api_key_clients WHERE last_seen_at < $1")
            .bind(now - NEW_CLIENT_AFTER).execute(pool).await?;
        sqlx::query("DELETE FROM api_key_usage WHERE day < $1")
            .bind(oldest_day).execute(pool).await?;
    });
    Ok(())
}
