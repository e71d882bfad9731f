//! The webhook outbox: API-key events queued by a trigger on `audit_events` (migration 0005) in
//! the transaction that wrote them, taken by one gateway at a time under a lease, deleted once
//! delivered.

use super::{in_tx, on_pool, Store};
use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

/// A queued event with what its delivery sends.
#[derive(Debug, FromRow)]
pub struct Queued {
    pub event_id: i64,
    /// Failed attempts so far.
    pub attempts: i64,
    pub org_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target_id: String,
    pub target_name: String,
    /// The audit event's details, as stored (JSON text).
    pub details: String,
}

/// Events leased to one gateway until `until`, oldest first.
#[derive(Debug)]
pub struct Claim {
    /// Names this claim's rows: only its holder settles them.
    pub owner: Uuid,
    pub until: DateTime<Utc>,
    pub events: Vec<Queued>,
}

/// Whether any event is due and free: the poll's one read when there is nothing to send (the
/// claim's write transaction runs only after it).
pub async fn any_due(store: &Store, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let due: Option<i64> = on_pool!(store, pool => sqlx::query_scalar(
        "SELECT event_id FROM webhook_outbox \
         WHERE next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1) LIMIT 1",
    )
    .bind(now)
    .fetch_optional(pool)
    .await)?;
    Ok(due.is_some())
}

/// Leases up to `limit` due events that nobody holds (or whose lease ran out) until `until`.
/// On PostgreSQL rows another replica is claiming at the same moment are skipped, not waited
/// for, so concurrent replicas take disjoint batches.
pub async fn claim(
    store: &Store,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: i64,
) -> Result<Claim, sqlx::Error> {
    let owner = Uuid::new_v4();
    // SQLite has no row locks (nor the syntax): one gateway serves a file, and its write
    // transaction excludes any other writer anyway.
    let lock = match store {
        Store::Sqlite(_) => "",
        Store::Postgres(_) => " FOR UPDATE SKIP LOCKED",
    };
    let claim = format!(
        "UPDATE webhook_outbox SET lease_until = $2, lease_owner = $3 \
         WHERE event_id IN (SELECT event_id FROM webhook_outbox \
         WHERE next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1) \
         ORDER BY event_id LIMIT $4{lock})"
    );
    in_tx!(store, tx => {
        sqlx::query(&claim)
            .bind(now)
            .bind(until)
            .bind(owner)
            .bind(limit)
            .execute(&mut *tx)
            .await?;
    });
    let events = on_pool!(store, pool => sqlx::query_as(
        "SELECT o.event_id, o.attempts, a.org_id, a.occurred_at, a.actor, a.action, \
         a.target_id, a.target_name, a.details \
         FROM webhook_outbox o JOIN audit_events a ON a.id = o.event_id \
         WHERE o.lease_owner = $1 ORDER BY o.event_id",
    )
    .bind(owner)
    .fetch_all(pool)
    .await)?;
    Ok(Claim {
        owner,
        until,
        events,
    })
}

/// The receiver took the event: it leaves the outbox.
pub async fn delivered(store: &Store, event_id: i64) -> Result<(), sqlx::Error> {
    on_pool!(store, pool => sqlx::query("DELETE FROM webhook_outbox WHERE event_id = $1")
        .bind(event_id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(())
}

/// The attempt failed: counted, tried again at `retry_at`, the lease given up. Nothing happens
/// if `owner` no longer holds the row (its lease ran out and another gateway took it).
pub async fn failed(
    store: &Store,
    event_id: i64,
    owner: Uuid,
    retry_at: DateTime<Utc>,
    error: &str,
) -> Result<(), sqlx::Error> {
    on_pool!(store, pool => sqlx::query(
        "UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = $3, \
         last_error = $4, lease_until = NULL, lease_owner = NULL \
         WHERE event_id = $1 AND lease_owner = $2",
    )
    .bind(event_id)
    .bind(owner)
    .bind(retry_at)
    .bind(error)
    .execute(pool)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(())
}

/// Gives up what is left of a claim without counting an attempt: due again at once.
pub async fn release(store: &Store, owner: Uuid) -> Result<(), sqlx::Error> {
    on_pool!(store, pool => sqlx::query(
        "UPDATE webhook_outbox SET lease_until = NULL, lease_owner = NULL WHERE lease_owner = $1",
    )
    .bind(owner)
    .execute(pool)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(())
}

/// Deletes events queued before `before` (a gateway that sends no webhooks keeps the outbox
/// from growing); returns how many.
pub async fn prune(store: &Store, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let done = on_pool!(store, pool => sqlx::query(
        "DELETE FROM webhook_outbox WHERE enqueued_at < $1",
    )
    .bind(before)
    .execute(pool)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(done)
}
