//! Runs a script on a connection's database and renders what it returns as tab-separated text.

use futures_util::{stream::BoxStream, TryStreamExt};
use sqlx::{
    postgres::{PgConnectOptions, PgRow},
    sqlite::{SqliteConnectOptions, SqliteRow},
    Column, ConnectOptions, Connection, Either, Row, TypeInfo, ValueRef,
};
use std::{future::Future, pin::Pin, str::FromStr, time::Duration};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Duration,
    pub max_rows: usize,
}

/// What a script produced: the text, and whether it ran to the end without error.
pub struct Outcome {
    pub output: String,
    pub success: bool,
}

impl Outcome {
    fn failed(message: impl Into<String>) -> Self {
        Self {
            output: message.into(),
            success: false,
        }
    }
}

/// A PostgreSQL database as the server itself knows it: the cluster's system identifier (shared
/// with its physical replicas) and the database's name. Two URLs that differ in host name,
/// address or port but reach the same database have the same identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgIdentity {
    system: String,
    database: String,
}

impl PgIdentity {
    /// `None` where the server will not tell (`pg_control_system()` is open to every role by
    /// default, but a managed service may restrict it).
    pub async fn of(conn: &mut sqlx::PgConnection) -> Option<Self> {
        let (system, database): (String, String) = sqlx::query_as(
            "SELECT (SELECT system_identifier FROM pg_control_system())::text, current_database()::text",
        )
        .fetch_one(conn)
        .await
        .ok()?;
        Some(Self { system, database })
    }
}

/// The script was not run: the target turned out to be the gateway's own database.
#[derive(Debug)]
pub struct OwnDatabaseReached;

pub async fn run(
    kind: &str,
    target: &str,
    script: &str,
    limits: Limits,
    own: Option<&PgIdentity>,
) -> Result<Outcome, OwnDatabaseReached> {
    // Boxed as `dyn Send` here, where the lifetimes are concrete: left to inference, the
    // streams over borrowed connections trip rustc's "Send is not general enough".
    let work: Pin<Box<dyn Future<Output = Result<Ran, sqlx::Error>> + Send + '_>> = match kind {
        "sqlite" => Box::pin(run_sqlite(target, script, limits)),
        _ => Box::pin(run_postgres(target, script, limits, own)),
    };
    // The databases stop the script themselves at the deadline (statement_timeout, a progress
    // handler); this is the backstop for a connection that hangs before it gets that far.
    let started = std::time::Instant::now();
    let outcome = match tokio::time::timeout(limits.timeout + BACKSTOP, work).await {
        Ok(Ok(Ran::Done(outcome))) => outcome,
        Ok(Ok(Ran::OwnDatabase)) => return Err(OwnDatabaseReached),
        Ok(Err(e)) => Outcome::failed(database_message(&e)),
        Err(_) => Outcome::failed(String::new()),
    };
    if !outcome.success && started.elapsed() >= limits.timeout {
        return Ok(Outcome::failed(format!(
            "cancelled: the script ran longer than {} s (HOOP_EXEC_TIMEOUT_SECS)",
            limits.timeout.as_secs()
        )));
    }
    Ok(outcome)
}

enum Ran {
    Done(Outcome),
    OwnDatabase,
}

const BACKSTOP: Duration = Duration::from_secs(2);

/// The database's own words, without sqlx's wrapping.
fn database_message(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => d.message().to_owned(),
        other => other.to_string(),
    }
}

async fn run_sqlite(path: &str, script: &str, limits: Limits) -> Result<Ran, sqlx::Error> {
    // Never create a file a typo pointed at: the target must exist.
    let options = SqliteConnectOptions::from_str(path)
        .or_else(|_| Ok::<_, sqlx::Error>(SqliteConnectOptions::new().filename(path)))?
        .create_if_missing(false)
        // Scripts are the caller's business, and may hold values nobody should find in a log.
        .disable_statement_logging();
    let mut conn = options.connect().await?;
    let deadline = std::time::Instant::now() + limits.timeout;
    {
        let mut handle = conn.lock_handle().await?;
        // ATTACH (and VACUUM INTO, which attaches) would let a script open any file the
        // gateway can reach, its own database included, and give itself the admin group.
        // SAFETY: a live connection whose lock we hold; sqlite3_limit only sets a number
        // on that connection.
        unsafe {
            libsqlite3_sys::sqlite3_limit(
                handle.as_raw_handle().as_ptr(),
                libsqlite3_sys::SQLITE_LIMIT_ATTACHED,
                0,
            );
        }
        // SQLite runs on a thread of its own that would go on after we stop waiting: have it
        // check the clock every few thousand steps and abort past the deadline.
        handle.set_progress_handler(10_000, move || std::time::Instant::now() < deadline);
    }
    let stream = sqlx::raw_sql(script).fetch_many(&mut conn);
    let outcome = tabulate(stream, limits.max_rows, |d| d.rows_affected(), sqlite_cells).await;
    conn.close().await.ok();
    Ok(Ran::Done(outcome))
}

async fn run_postgres(
    url: &str,
    script: &str,
    limits: Limits,
    own: Option<&PgIdentity>,
) -> Result<Ran, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?.disable_statement_logging();
    let mut conn = options.connect().await?;
    // Asked of the server at every exec: no spelling of a URL, and no change of DNS or of a
    // proxy behind it since the connection was made, hides where it leads.
    if own.is_some() && PgIdentity::of(&mut conn).await.as_ref() == own {
        conn.close().await.ok();
        return Ok(Ran::OwnDatabase);
    }
    // The server stops the query itself, so nothing keeps running after we gave up waiting.
    let timeout_ms = limits.timeout.as_millis().min(i32::MAX as u128);
    sqlx::query("SELECT set_config('statement_timeout', $1, false)")
        .bind(timeout_ms.to_string())
        .execute(&mut conn)
        .await?;
    // The simple query protocol: several statements, every value as text.
    let stream = sqlx::raw_sql(script).fetch_many(&mut conn);
    let outcome = tabulate(
        stream,
        limits.max_rows,
        |d| d.rows_affected(),
        postgres_cells,
    )
    .await;
    conn.close().await.ok();
    Ok(Ran::Done(outcome))
}

/// Reads every result of a script into a table, up to `max_rows` rows.
async fn tabulate<Done, R: Row>(
    mut stream: BoxStream<'_, Result<Either<Done, R>, sqlx::Error>>,
    max_rows: usize,
    affected: impl Fn(&Done) -> u64,
    cells: impl Fn(&R) -> Vec<String>,
) -> Outcome {
    let mut table = Table::new(max_rows);
    loop {
        match stream.try_next().await {
            Ok(Some(Either::Left(done))) => table.statement_done(affected(&done)),
            Ok(Some(Either::Right(row))) => {
                if !table.push(&row, cells(&row)) {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => return table.fail(database_message(&e)),
        }
    }
    table.finish()
}

fn sqlite_cells(row: &SqliteRow) -> Vec<String> {
    (0..row.len())
        .map(|i| {
            let Ok(raw) = row.try_get_raw(i) else {
                return String::new();
            };
            if raw.is_null() {
                return "NULL".into();
            }
            match raw.type_info().name() {
                "INTEGER" | "BOOLEAN" => row.try_get_unchecked::<i64, _>(i).map(|v| v.to_string()),
                "REAL" => row.try_get_unchecked::<f64, _>(i).map(|v| v.to_string()),
                "BLOB" => row
                    .try_get_unchecked::<Vec<u8>, _>(i)
                    .map(|v| format!("\\x{}", hex::encode(v))),
                _ => row.try_get_unchecked::<String, _>(i),
            }
            .unwrap_or_default()
        })
        .collect()
}

fn postgres_cells(row: &PgRow) -> Vec<String> {
    (0..row.len())
        .map(|i| match row.try_get_raw(i) {
            Ok(raw) if raw.is_null() => "NULL".into(),
            Ok(raw) => raw.as_str().map(str::to_owned).unwrap_or_default(),
            Err(_) => String::new(),
        })
        .collect()
}

/// Accumulates result sets as TSV: a header row per result set, then its rows.
struct Table {
    out: String,
    rows: usize,
    max_rows: usize,
    rows_in_statement: usize,
    truncated: bool,
}

impl Table {
    fn new(max_rows: usize) -> Self {
        Self {
            out: String::new(),
            rows: 0,
            max_rows,
            rows_in_statement: 0,
            truncated: false,
        }
    }

    /// Adds a row; false once the row limit is reached.
    fn push<R: Row>(&mut self, row: &R, cells: Vec<String>) -> bool {
        if self.rows >= self.max_rows {
            self.truncated = true;
            return false;
        }
        if self.rows_in_statement == 0 {
            let header: Vec<String> = row.columns().iter().map(|c| escape(c.name())).collect();
            self.out.push_str(&header.join("\t"));
            self.out.push('\n');
        }
        let cells: Vec<String> = cells.iter().map(|c| escape(c)).collect();
        self.out.push_str(&cells.join("\t"));
        self.out.push('\n');
        self.rows += 1;
        self.rows_in_statement += 1;
        true
    }

    fn statement_done(&mut self, affected: u64) {
        if self.rows_in_statement == 0 {
            self.out.push_str(&format!("({affected} rows affected)\n"));
        }
        self.rows_in_statement = 0;
    }

    fn finish(mut self) -> Outcome {
        if self.truncated {
            self.out.push_str(&format!(
                "(output cut at {} rows: HOOP_EXEC_MAX_ROWS)\n",
                self.max_rows
            ));
        }
        Outcome {
            output: self.out,
            success: true,
        }
    }

    fn fail(mut self, message: String) -> Outcome {
        self.out.push_str(&message);
        Outcome {
            output: self.out,
            success: false,
        }
    }
}

/// Tabs and newlines inside a value would break the table.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}
