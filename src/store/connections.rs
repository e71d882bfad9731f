//! Connections (the databases the gateway reaches for its callers) and the sessions run on them.

use super::{
    audit::{self, Change},
    identity::require_groups,
    in_tx, on_pool, or_taken,
    text_enum::text_enum,
    Store,
};
use crate::{
    domain::{ConnectionName, GroupName},
    error::Error,
};
use chrono::{DateTime, Utc};
use sqlx::FromRow;
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct ConnectionRow {
    pub id: Uuid,
    pub name: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub target: String,
    pub privileged: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub access_groups: Vec<String>,
}

pub struct NewConnection<'a> {
    pub name: &'a ConnectionName,
    pub kind: &'a str,
    pub target: &'a str,
    pub privileged: bool,
    pub access_groups: &'a [GroupName],
}

const COLUMNS: &str = "id, name, type, target, privileged, created_by, created_at";

pub async fn list(store: &Store, org_id: Uuid) -> Result<Vec<ConnectionRow>, Error> {
    let (mut rows, memberships): (Vec<ConnectionRow>, Vec<(Uuid, String)>) = on_pool!(store, pool => {
        let rows = sqlx::query_as(&format!("SELECT {COLUMNS} FROM connections WHERE org_id = $1 ORDER BY name"))
            .bind(org_id).fetch_all(pool).await?;
        let memberships = sqlx::query_as(
            "SELECT connection_id, group_name FROM connection_groups WHERE org_id = $1 ORDER BY group_name")
            .bind(org_id).fetch_all(pool).await?;
        (rows, memberships)
    });
    let mut by_conn: HashMap<Uuid, Vec<String>> = HashMap::new();
    for (id, group) in memberships {
        by_conn.entry(id).or_default().push(group);
    }
    for row in &mut rows {
        row.access_groups = by_conn.remove(&row.id).unwrap_or_default();
    }
    Ok(rows)
}

/// One connection with its groups, in one query: every exec reads it.
pub async fn find(store: &Store, org_id: Uuid, name: &str) -> Result<Option<ConnectionRow>, Error> {
    #[derive(FromRow)]
    struct WithGroup {
        #[sqlx(flatten)]
        row: ConnectionRow,
        group_name: Option<String>,
    }
    let rows: Vec<WithGroup> = on_pool!(store, pool => sqlx::query_as(
        "SELECT c.id, c.name, c.type, c.target, c.privileged, c.created_by, c.created_at, g.group_name \
         FROM connections c LEFT JOIN connection_groups g ON g.connection_id = c.id \
         WHERE c.org_id = $1 AND c.name = $2 ORDER BY g.group_name")
        .bind(org_id).bind(name).fetch_all(pool).await?);
    let mut found: Option<ConnectionRow> = None;
    for WithGroup { row, group_name } in rows {
        let conn = found.get_or_insert(row);
        conn.access_groups.extend(group_name);
    }
    Ok(found)
}

pub async fn insert(
    store: &Store,
    org_id: Uuid,
    new: NewConnection<'_>,
    actor: &str,
) -> Result<Uuid, Error> {
    let id = Uuid::new_v4();
    let at = super::now();
    let change = Change::ConnectionCreated {
        id,
        name: new.name,
        kind: new.kind,
        access_groups: new.access_groups,
        privileged: new.privileged,
    };
    in_tx!(store, tx => {
        require_groups!(tx, org_id, new.access_groups, field = "access_groups");
        sqlx::query(
            "INSERT INTO connections (id, org_id, name, type, target, privileged, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(id).bind(org_id).bind(new.name.as_str()).bind(new.kind).bind(new.target)
            .bind(new.privileged).bind(actor).bind(at)
            .execute(&mut *tx).await
            .map_err(or_taken(|| new.name.taken()))?;
        for g in new.access_groups {
            sqlx::query("INSERT INTO connection_groups (connection_id, org_id, group_name) VALUES ($1, $2, $3)")
                .bind(id).bind(org_id).bind(g.as_str()).execute(&mut *tx).await?;
        }
        audit::insert(org_id, at, actor, &change).execute(&mut *tx).await?;
    });
    audit::committed(change.action());
    Ok(id)
}

/// Replaces a connection's settings; `new.name` may rename it.
pub async fn update(
    store: &Store,
    org_id: Uuid,
    id: Uuid,
    new: NewConnection<'_>,
    actor: &str,
) -> Result<(), Error> {
    let at = super::now();
    let change = Change::ConnectionUpdated {
        id,
        name: new.name,
        kind: new.kind,
        access_groups: new.access_groups,
        privileged: new.privileged,
    };
    in_tx!(store, tx => {
        require_groups!(tx, org_id, new.access_groups, field = "access_groups");
        sqlx::query("UPDATE connections SET name = $1, type = $2, target = $3, privileged = $4 WHERE id = $5 AND org_id = $6")
            .bind(new.name.as_str()).bind(new.kind).bind(new.target).bind(new.privileged).bind(id).bind(org_id)
            .execute(&mut *tx).await
            .map_err(or_taken(|| new.name.taken()))?;
        sqlx::query("DELETE FROM connection_groups WHERE connection_id = $1")
            .bind(id).execute(&mut *tx).await?;
        for g in new.access_groups {
            sqlx::query("INSERT INTO connection_groups (connection_id, org_id, group_name) VALUES ($1, $2, $3)")
                .bind(id).bind(org_id).bind(g.as_str()).execute(&mut *tx).await?;
        }
        audit::insert(org_id, at, actor, &change).execute(&mut *tx).await?;
    });
    audit::committed(change.action());
    Ok(())
}

pub async fn delete(
    store: &Store,
    org_id: Uuid,
    row: &ConnectionRow,
    actor: &str,
) -> Result<(), Error> {
    let at = super::now();
    let change = Change::ConnectionDeleted {
        id: row.id,
        name: &row.name,
    };
    in_tx!(store, tx => {
        sqlx::query("DELETE FROM connections WHERE id = $1 AND org_id = $2")
            .bind(row.id).bind(org_id).execute(&mut *tx).await?;
        audit::insert(org_id, at, actor, &change).execute(&mut *tx).await?;
    });
    audit::committed(change.action());
    Ok(())
}

text_enum! {
    /// How an exec ended: `failed` covers an error, the deadline and a database that could not
    /// be reached alike.
    pub enum SessionStatus {
        /// The script ran to its end without error.
        Success = "success",
        Failed = "failed",
        /// Stopped because the caller's credential stopped working (`reason` says how).
        Cancelled = "cancelled",
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id: Uuid,
    pub actor: String,
    pub actor_id: String,
    pub auth_method: String,
    pub connection: String,
    pub script: String,
    pub status: SessionStatus,
    pub exit_code: i64,
    pub execution_time_ms: i64,
    pub created_at: DateTime<Utc>,
    /// Why a `cancelled` session was stopped.
    pub reason: Option<String>,
}

const SESSION_COLUMNS: &str =
    "id, actor, actor_id, auth_method, connection, script, status, exit_code, execution_time_ms, created_at, reason";

/// Session records are the access log of every exec, written on the exec's path: they are
/// committed without waiting for the disk, durable when the gateway crashes but not when the
/// database host loses power. That saves an fsync (4 ms on a VM disk) per exec; key changes and
/// audit events still wait for the disk.
pub async fn insert_session(store: &Store, org_id: Uuid, s: &SessionRow) -> Result<(), Error> {
    match store {
        Store::Sqlite(sqlite) => {
            bind_session(sqlx::query(&format!(
                "INSERT INTO sessions (org_id, {SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")), org_id, s)
                .execute(&sqlite.log).await?;
        }
        Store::Postgres(pool) => {
            // set_config(…, true) lasts until the end of this statement's own transaction, whose
            // commit it relaxes: one round trip.
            bind_session(
                sqlx::query(&format!(
                    "INSERT INTO sessions (org_id, {SESSION_COLUMNS}) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 \
                 FROM (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed"
                )),
                org_id,
                s,
            )
            .execute(pool)
            .await?;
        }
    }
    Ok(())
}

fn bind_session<'q, DB: sqlx::Database>(
    q: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    org_id: Uuid,
    s: &'q SessionRow,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    Uuid: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    SessionStatus: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    q.bind(org_id)
        .bind(s.id)
        .bind(&s.actor)
        .bind(&s.actor_id)
        .bind(&s.auth_method)
        .bind(&s.connection)
        .bind(&s.script)
        .bind(s.status)
        .bind(s.exit_code)
        .bind(s.execution_time_ms)
        .bind(s.created_at)
        .bind(&s.reason)
}

/// Which runs a page of sessions holds; `None` leaves a field out.
#[derive(Debug, Default)]
pub struct SessionFilter<'a> {
    /// Only this caller's own (the rule for non-admins): its `actor_id`.
    pub own: Option<&'a str>,
    /// A caller by name or by id.
    pub caller: Option<&'a str>,
    pub connection: Option<&'a str>,
    /// A session id from a previous page: only older runs (a session that does not exist
    /// leaves nothing older, rather than restarting at the newest).
    pub before: Option<Uuid>,
}

/// Newest first (ties by id). The SQL names only the filters given, so each can use its index.
pub async fn list_sessions(
    store: &Store,
    org_id: Uuid,
    filter: &SessionFilter<'_>,
    limit: i64,
) -> Result<Vec<SessionRow>, Error> {
    let mut sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE org_id = $1");
    let mut texts: Vec<&str> = Vec::new();
    if let Some(own) = filter.own {
        texts.push(own);
        sql.push_str(&format!(" AND actor_id = ${}", texts.len() + 1));
    }
    if let Some(caller) = filter.caller {
        texts.push(caller);
        let n = texts.len() + 1;
        sql.push_str(&format!(" AND (actor = ${n} OR actor_id = ${n})"));
    }
    if let Some(connection) = filter.connection {
        texts.push(connection);
        sql.push_str(&format!(" AND connection = ${}", texts.len() + 1));
    }
    let mut next = texts.len() + 2;
    if filter.before.is_some() {
        sql.push_str(&format!(
            " AND (created_at, id) < (SELECT created_at, id FROM sessions WHERE org_id = $1 AND id = ${next})"
        ));
        next += 1;
    }
    sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT ${next}"));
    Ok(on_pool!(store, pool => {
        let mut query = sqlx::query_as(&sql).bind(org_id);
        for text in &texts {
            query = query.bind(*text);
        }
        if let Some(before) = filter.before {
            query = query.bind(before);
        }
        query.bind(limit).fetch_all(pool).await
    })?)
}

pub async fn get_session(
    store: &Store,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<SessionRow>, Error> {
    Ok(on_pool!(store, pool => sqlx::query_as(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE org_id = $1 AND id = $2"))
        .bind(org_id).bind(id)
        .fetch_optional(pool).await)?)
}
