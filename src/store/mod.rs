//! SQL. One store, two backends: SQLite (the embedded default) and PostgreSQL (production).
//!
//! Every query is written once, with `$N` placeholders that both backends accept, and run on
//! whichever pool the URL chose ([`on_pool!`], [`in_tx!`]). Each backend has its own migrations.

pub mod audit;
pub mod connections;
pub mod feed;
mod file_lock;
pub mod identity;
pub mod key_list;
mod key_status;
pub mod keys;
pub mod own;
pub mod sessions;
mod text_enum;
pub mod usage;
pub mod webhooks;

pub use file_lock::{FileId, LockError};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use file_lock::DatabaseLock;
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    PgPool, SqlitePool,
};
use std::{path::Path, str::FromStr, sync::Arc, time::Duration};

/// How long a PostgreSQL session of the gateway may sit idle inside a transaction before the
/// server ends it (see [`Store::connect`]).
pub const IDLE_IN_TRANSACTION_LIMIT: &str = "10s";

#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgPool),
}

/// The SQLite file through two pools: one for everything, whose commits wait for the disk, and
/// one connection for the exec session log, whose commits do not (see
/// [`connections::insert_session`]). In SQLite durability is a setting of the connection.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pub pool: SqlitePool,
    pub log: SqlitePool,
    /// This process's claim on the file (none for an in-memory database): see [`file_lock`].
    lock: Option<Arc<DatabaseLock>>,
}

/// `$1, $2, …, $n`: the markers of an `IN (…)` list of `n` bound values, on either backend.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `$body` with `$pool` bound to the concrete pool, once per backend.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite(sqlite) => {
                let $pool = &sqlite.pool;
                $body
            }
            $crate::store::Store::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` (which may use `?`) inside a transaction bound to `$tx`, committing when it
/// succeeds. SQLite transactions start IMMEDIATE: a deferred one that reads before it writes
/// fails with SQLITE_BUSY instead of waiting when another writer got there first. The
/// connection goes back to the pool only after a commit (see [`CloseUnlessCommitted`]).
macro_rules! in_tx {
    ($store:expr, $tx:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite(sqlite) => {
                let mut conn =
                    $crate::store::CloseUnlessCommitted::new(sqlite.pool.acquire().await?);
                #[allow(unused_mut)]
                let mut $tx = sqlx::Connection::begin_with(&mut **conn, "BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                conn.committed();
                out
            }
            $crate::store::Store::Postgres(pool) => {
                let mut conn = $crate::store::CloseUnlessCommitted::new(pool.acquire().await?);
                #[allow(unused_mut)]
                let mut $tx = sqlx::Connection::begin(&mut **conn).await?;
                let out = $body;
                $tx.commit().await?;
                conn.committed();
                out
            }
        }
    };
}

/// A pooled connection that is closed, not returned to the pool, unless the transaction on it
/// committed. sqlx 0.8 can lose track of a transaction whose `BEGIN` was in flight when its
/// future was dropped (upstream issues #3932, #4385): the connection would go back to the pool
/// still inside it, and the next borrower would run in it, or wait on its locks. Closing the
/// connection ends the transaction on the server, whatever sqlx believes. Requests already run
/// to completion ([`crate::security::hangup`]); this holds for any other future that is dropped.
pub struct CloseUnlessCommitted<DB: sqlx::Database> {
    conn: sqlx::pool::PoolConnection<DB>,
    committed: bool,
}

impl<DB: sqlx::Database> CloseUnlessCommitted<DB> {
    pub fn new(conn: sqlx::pool::PoolConnection<DB>) -> Self {
        Self {
            conn,
            committed: false,
        }
    }

    pub fn committed(&mut self) {
        self.committed = true;
    }
}

impl<DB: sqlx::Database> std::ops::Deref for CloseUnlessCommitted<DB> {
    type Target = sqlx::pool::PoolConnection<DB>;
    fn deref(&self) -> &Self::Target {
        &self.conn
    }
}

impl<DB: sqlx::Database> std::ops::DerefMut for CloseUnlessCommitted<DB> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.conn
    }
}

impl<DB: sqlx::Database> Drop for CloseUnlessCommitted<DB> {
    fn drop(&mut self) {
        if !self.committed {
            self.conn.close_on_drop();
        }
    }
}

pub(crate) use {in_tx, on_pool};

/// One pool's use: `main` for everything, on SQLite also `log` for the exec session log.
#[derive(Debug, Clone, Copy)]
pub struct PoolUse {
    pub name: &'static str,
    /// Connections open, in use or idle.
    pub size: u32,
    pub idle: usize,
    pub max: u32,
}

/// Migrations a newer version applied are no reason to stop: during a rolling upgrade the
/// replicas still on the old version must (re)start on the database the first upgraded one
/// migrated. Migrations are additive for that reason (docs/deploy.md, "Upgrades"); one this
/// version knows must still be the one it applied (sqlx compares checksums).
fn tolerant(mut migrator: sqlx::migrate::Migrator) -> sqlx::migrate::Migrator {
    migrator.set_ignore_missing(true);
    migrator
}

impl Store {
    /// Connects by URL scheme and runs the migrations; a failed migration stops start-up.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let store = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            // Before any connection: a second gateway must not touch the file at all. Never
            // released on an error path (see `DatabaseLock`'s `Drop`).
            let lock = match sqlite_in_memory(url) {
                true => None,
                false => Some(Arc::new(DatabaseLock::acquire(options.get_filename())?)),
            };
            // A SQLite connection is a handle on a local file: nothing to ping before each use.
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(5))
                .test_before_acquire(false)
                .after_release(|conn, _| Box::pin(is_idle(conn)))
                .connect_with(options.clone())
                .await?;
            check_locked_file(&pool, lock.as_deref()).await?;
            tolerant(sqlx::migrate!("./migrations/sqlite"))
                .run(&pool)
                .await?;
            let log = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(5))
                .test_before_acquire(false)
                .after_release(|conn, _| Box::pin(is_idle(conn)))
                .connect_with(options.synchronous(SqliteSynchronous::Normal))
                .await?;
            Store::Sqlite(SqliteStore { pool, log, lock })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            // No ping before each use: it was a round trip on every query (two per exec). A
            // connection that broke fails its query with an I/O error (503) and is replaced.
            // The gateway's transactions run their statements back to back: one that sits idle
            // was abandoned (a dropped future, whatever dropped it) and holds its row locks
            // for nothing. The server ends it, so no lock outlives it by more than this.
            let options = PgConnectOptions::from_str(url)?.options([(
                "idle_in_transaction_session_timeout",
                IDLE_IN_TRANSACTION_LIMIT,
            )]);
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .test_before_acquire(false)
                .connect_with(options)
                .await?;
            tolerant(sqlx::migrate!("./migrations/postgres"))
                .run(&pool)
                .await?;
            Store::Postgres(pool)
        } else {
            anyhow::bail!("unsupported database URL: it must start with sqlite:// or postgres://");
        };
        Ok(store)
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// How the gateway's own pools are used now (the metrics read it at each scrape).
    pub fn pools(&self) -> Vec<PoolUse> {
        fn of<DB: sqlx::Database>(name: &'static str, pool: &sqlx::Pool<DB>) -> PoolUse {
            PoolUse {
                name,
                size: pool.size(),
                idle: pool.num_idle(),
                max: pool.options().get_max_connections(),
            }
        }
        match self {
            Store::Sqlite(sqlite) => vec![of("main", &sqlite.pool), of("log", &sqlite.log)],
            Store::Postgres(pool) => vec![of("main", pool)],
        }
    }

    /// Closes every connection; on SQLite then gives the file up to the next gateway.
    pub async fn close(&self) {
        if let Store::Sqlite(sqlite) = self {
            sqlite.log.close().await;
        }
        on_pool!(self, pool => pool.close().await);
        if let Store::Sqlite(SqliteStore {
            lock: Some(lock), ..
        }) = self
        {
            lock.release();
        }
    }
}

/// Whether a SQLite connection coming back to the pool is outside any transaction; one that is
/// not is closed (which rolls it back) rather than handed to the next borrower, whatever left
/// it so. A flag read in memory, no I/O: cheap enough for every release.
async fn is_idle(conn: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    // SAFETY: the handle is locked for us and valid for this call.
    let autocommit =
        unsafe { libsqlite3_sys::sqlite3_get_autocommit(handle.as_raw_handle().as_ptr()) };
    if autocommit == 0 {
        tracing::warn!(
            "a SQLite connection came back to the pool inside a transaction; closing it"
        );
    }
    Ok(autocommit != 0)
}

/// Whether a `sqlite:` URL names an in-memory database (nothing to lock), read as sqlx reads it.
/// A misreading either way is caught by [`check_locked_file`].
fn sqlite_in_memory(url: &str) -> bool {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    database == ":memory:"
        || form_urlencoded::parse(params.as_bytes()).any(|(k, v)| k == "mode" && v == "memory")
}

/// Fails unless the file SQLite opened is the one locked (by device and inode), or SQLite opened
/// no file and none was locked.
async fn check_locked_file(pool: &SqlitePool, lock: Option<&DatabaseLock>) -> anyhow::Result<()> {
    let opened: String =
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(pool)
            .await?;
    match (lock, opened.is_empty()) {
        (Some(lock), false) => lock.check_is(Path::new(&opened))?,
        (None, true) => {}
        (Some(_), true) => anyhow::bail!("SQLite opened an in-memory database, not the file"),
        (None, false) => anyhow::bail!(
            "SQLite opened a file for a URL read as an in-memory database: give DATABASE_URL as a \
             plain sqlite:// path"
        ),
    }
    Ok(())
}

/// The current time as stored: UTC, truncated to milliseconds. SQLite keeps timestamps as
/// RFC 3339 text, which sorts correctly only when every value has the same precision.
pub fn now() -> DateTime<Utc> {
    let t = Utc::now();
    t.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(t)
}

/// The one mapping of unique-constraint violations, for `map_err` on a write: a duplicate is
/// the 409 `taken` (which the value's domain type words), anything else stays a database error.
pub fn or_taken(
    taken: impl FnOnce() -> crate::domain::Violation,
) -> impl FnOnce(sqlx::Error) -> crate::error::Error {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            crate::error::Error::Conflict(taken())
        }
        _ => e.into(),
    }
}
