//! The key list one page at a time, and the counts the list page's notices need, so neither
//! reads every key of an organization.
//!
//! Pages are keyset pages: each continues after the last key of the one before (its sort value
//! and id), read from an index in order, so page 2 000 costs what page 1 does. Keys never used
//! sort as if used before any key that was (first ascending, last descending), on both
//! backends: the sort expression replaces a missing `last_used_at` with the lowest value.
//! Names sort by their lower case, byte by byte (names are ASCII), on both backends alike.

use super::{
    keys::{KeyRecord, KeyRow, KeyStatus, COLUMNS},
    on_pool, Store,
};
use crate::error::Error;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Column {
    Name,
    #[default]
    CreatedAt,
    LastUsedAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Order {
    pub column: Column,
    pub descending: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortValue {
    Name(String),
    /// `None`: a key never used.
    Time(Option<DateTime<Utc>>),
}

/// The key a page continues after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    pub value: SortValue,
    pub id: Uuid,
}

impl After {
    pub fn of(row: &KeyRow, column: Column) -> Self {
        let value = match column {
            Column::Name => SortValue::Name(row.name.clone()),
            Column::CreatedAt => SortValue::Time(Some(row.created_at)),
            Column::LastUsedAt => SortValue::Time(row.last_used_at),
        };
        Self { value, id: row.id }
    }
}

/// A key's state as callers see it: "expired" is an active key past its expiry at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateIs {
    Active,
    Deactivated,
    Expired,
}

#[derive(Debug, Clone, Default)]
pub struct Filter<'a> {
    /// Matched literally, ignoring (ASCII) case.
    pub name_contains: Option<&'a str>,
    pub state: Option<StateIs>,
    pub group: Option<&'a str>,
}

/// A value bound to the query being built.
enum Arg {
    Id(Uuid),
    Time(DateTime<Utc>),
    MaybeTime(Option<DateTime<Utc>>),
    Text(String),
    Status(KeyStatus),
}

/// A query's text with its `$N` placeholders numbered as the values are pushed.
#[derive(Default)]
struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    fn arg(&mut self, arg: Arg) -> &mut Self {
        let placeholder = self.bind(arg);
        self.text.push_str(&placeholder);
        self
    }

    /// Binds `arg` and answers its placeholder, to be written (once or more) later.
    fn bind(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }
}

macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                Arg::Id(v) => query.bind(*v),
                Arg::Time(v) => query.bind(*v),
                Arg::MaybeTime(v) => query.bind(*v),
                Arg::Text(v) => query.bind(v.as_str()),
                Arg::Status(v) => query.bind(*v),
            };
        }
        query
    }};
}

/// The expression a column sorts by, and the same applied to a bound value.
fn sort_expr(postgres: bool, column: Column) -> (&'static str, &'static str, &'static str) {
    // (expression on the row, before the placeholder, after it)
    match (postgres, column) {
        (false, Column::Name) => ("lower(name)", "lower(", ")"),
        (true, Column::Name) => (
            "lower(name) COLLATE \"C\"",
            "lower(",
            "::text) COLLATE \"C\"",
        ),
        (_, Column::CreatedAt) => ("created_at", "", ""),
        // The lowest value of each backend's time column: SQLite keeps RFC 3339 text.
        (false, Column::LastUsedAt) => ("COALESCE(last_used_at, '')", "COALESCE(", ", '')"),
        (true, Column::LastUsedAt) => (
            "COALESCE(last_used_at, '-infinity'::timestamptz)",
            "COALESCE(",
            "::timestamptz, '-infinity'::timestamptz)",
        ),
    }
}

/// `%` and `_` are LIKE's wildcards and `\` the escape character named in the query: a search
/// for them finds them.
fn like_pattern(contains: &str) -> String {
    let mut pattern = String::from("%");
    for c in contains.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Appends the filter's conditions (each starting with ` AND `).
fn push_filter(sql: &mut Sql, filter: &Filter<'_>, now: DateTime<Utc>, postgres: bool) {
    if let Some(contains) = filter.name_contains {
        // SQLite's LIKE ignores ASCII case (names are ASCII); PostgreSQL's does not.
        let name = if postgres { "lower(name)" } else { "name" };
        sql.push(&format!(" AND {name} LIKE "))
            .arg(Arg::Text(like_pattern(contains)))
            .push(" ESCAPE '\\'");
    }
    match filter.state {
        None => {}
        Some(StateIs::Deactivated) => {
            sql.push(" AND status = ")
                .arg(Arg::Status(KeyStatus::Deactivated));
        }
        Some(StateIs::Active) => {
            sql.push(" AND status = ")
                .arg(Arg::Status(KeyStatus::Active))
                .push(" AND (expires_at IS NULL OR expires_at > ")
                .arg(Arg::Time(now))
                .push(")");
        }
        Some(StateIs::Expired) => {
            sql.push(" AND status = ")
                .arg(Arg::Status(KeyStatus::Active))
                .push(" AND expires_at <= ")
                .arg(Arg::Time(now));
        }
    }
    if let Some(group) = filter.group {
        sql.push(
            " AND EXISTS (SELECT 1 FROM api_key_groups g \
             WHERE g.api_key_id = api_keys.id AND g.group_name = ",
        )
        .arg(Arg::Text(group.to_owned()))
        .push(")");
    }
}

/// Up to `limit` keys of the organization that pass `filter`, in `order`, after `after`.
pub async fn page(
    store: &Store,
    org_id: Uuid,
    filter: &Filter<'_>,
    order: Order,
    after: Option<&After>,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<Vec<KeyRecord>, Error> {
    let postgres = matches!(store, Store::Postgres(_));
    let (expr, before, behind) = sort_expr(postgres, order.column);
    let mut sql = Sql::default();
    sql.push(&format!("SELECT {COLUMNS} FROM api_keys WHERE org_id = "))
        .arg(Arg::Id(org_id));
    push_filter(&mut sql, filter, now, postgres);
    if let Some(after) = after {
        let beyond = if order.descending { "<" } else { ">" };
        let value = sql.bind(match &after.value {
            SortValue::Name(name) => Arg::Text(name.clone()),
            SortValue::Time(t) => Arg::MaybeTime(*t),
        });
        let bound = format!("{before}{value}{behind}");
        let id = sql.bind(Arg::Id(after.id));
        // Not the row value `(expr, id) > (bound, id)`: SQLite would not start its index
        // scan there but at the organization's first key, making deep pages slow. The first
        // condition is a range on the index; the second drops the ties already shown.
        sql.push(&format!(
            " AND {expr} {beyond}= {bound} AND ({expr} {beyond} {bound} OR id {beyond} {id})"
        ));
    }
    let direction = if order.descending { "DESC" } else { "ASC" };
    sql.push(&format!(
        " ORDER BY {expr} {direction}, id {direction} LIMIT {limit}"
    ));
    let rows: Vec<KeyRow> = on_pool!(store, pool => {
        bind_all!(sqlx::query_as(&sql.text), &sql.args).fetch_all(pool).await?
    });
    records(store, rows).await
}

/// The rows with their groups and recent clients: one query each for the whole page.
async fn records(store: &Store, rows: Vec<KeyRow>) -> Result<Vec<KeyRecord>, Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut groups = groups_of(store, &ids).await?;
    let mut clients = super::usage::recent_clients(store, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| KeyRecord {
            groups: groups.remove(&row.id).unwrap_or_default(),
            clients: clients.remove(&row.id).unwrap_or_default(),
            row,
        })
        .collect())
}

async fn groups_of(store: &Store, ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<String>>, Error> {
    let mut by_key: HashMap<Uuid, Vec<String>> = HashMap::new();
    // A page is at most 501 keys; chunks keep within both backends' parameter limits anyway.
    for chunk in ids.chunks(500) {
        let marks = super::placeholders(chunk.len());
        let sql = format!(
            "SELECT api_key_id, group_name FROM api_key_groups \
             WHERE api_key_id IN ({marks}) ORDER BY group_name"
        );
        let rows: Vec<(Uuid, String)> = on_pool!(store, pool => {
            let mut query = sqlx::query_as(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            query.fetch_all(pool).await?
        });
        for (id, group) in rows {
            by_key.entry(id).or_default().push(group);
        }
    }
    Ok(by_key)
}

/// Active keys that expire after `now` and by `horizon`.
pub async fn count_expiring(
    store: &Store,
    org_id: Uuid,
    now: DateTime<Utc>,
    horizon: DateTime<Utc>,
) -> Result<i64, Error> {
    Ok(on_pool!(store, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM api_keys WHERE org_id = $1 AND status = $2 \
         AND expires_at > $3 AND expires_at <= $4")
        .bind(org_id).bind(KeyStatus::Active).bind(now).bind(horizon)
        .fetch_one(pool).await?))
}

/// Active, unexpired keys last used (or, never used, created) at or before `idle_since`: how
/// many, and the names of the first `names` of them, longest idle first.
pub async fn idle(
    store: &Store,
    org_id: Uuid,
    now: DateTime<Utc>,
    idle_since: DateTime<Utc>,
    names: u32,
) -> Result<(i64, Vec<String>), Error> {
    // The expression of index api_keys_idle (0007), so both queries read a range of it: the
    // count without visiting the table, the names in index order, stopping at the limit.
    const IDLE: &str = "FROM api_keys WHERE org_id = $1 AND status = $2 \
         AND COALESCE(last_used_at, created_at) <= $4 \
         AND (expires_at IS NULL OR expires_at > $3)";
    Ok(on_pool!(store, pool => {
        let count: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) {IDLE}"))
            .bind(org_id).bind(KeyStatus::Active).bind(now).bind(idle_since)
            .fetch_one(pool).await?;
        let first: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT name {IDLE} ORDER BY COALESCE(last_used_at, created_at), id LIMIT {names}"))
            .bind(org_id).bind(KeyStatus::Active).bind(now).bind(idle_since)
            .fetch_all(pool).await?;
        (count, first)
    }))
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn wildcards_are_literal() {
        assert_eq!(like_pattern("A_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
