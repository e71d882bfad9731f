//! The direct baseline for exec on a SQLite target (scripts/bench-exec): the point query of the
//! gateway benchmark, with the same random ids, on connections opened once.
//!
//! - `sqlite_direct create FILE [--rows N]`: a new file with table `t` (id, abalance, filler) of
//!   N rows (100 000), the shape of the PostgreSQL target's.
//! - `sqlite_direct capi FILE`: one connection through SQLite's C API; each query is prepared
//!   from its text, stepped, its columns read as text, finalized (like `pgbench`'s simple
//!   protocol: the text parsed every time).
//! - `sqlite_direct sqlx FILE [--concurrency N]`: through sqlx, as the gateway runs scripts
//!   (`raw_sql`, rows fetched), with N workers on a pool of N connections.
//!
//! The measuring modes print `requests errors seconds req/s p50_ms p90_ms p99_ms mean_ms`, as
//! `exec_load` does.

use clap::{Parser, Subcommand};
use rand::{rngs::StdRng, Rng, SeedableRng};
use sqlx::{
    sqlite::{SqliteConnectOptions, SqlitePoolOptions},
    ConnectOptions, Connection,
};
use std::{
    ffi::CString,
    path::PathBuf,
    time::{Duration, Instant},
};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    Create {
        file: PathBuf,
        #[arg(long, default_value_t = 100_000)]
        rows: u64,
    },
    Capi {
        file: PathBuf,
        #[command(flatten)]
        run: Run,
    },
    Sqlx {
        file: PathBuf,
        #[command(flatten)]
        run: Run,
        /// Workers, each with a connection of its own from one pool.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
}

#[derive(clap::Args, Clone)]
struct Run {
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    #[arg(long, default_value_t = 100_000)]
    ids: u64,
    #[arg(long, default_value = "SELECT * FROM t WHERE id = :id")]
    query: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    match Args::parse().mode {
        Mode::Create { file, rows } => create(&file, rows).await,
        Mode::Capi { file, run } => {
            let conn = capi::Conn::open(&file)?;
            let mut rng = StdRng::seed_from_u64(0x5eed);
            let mut query = || conn.query(&run.query.replace(":id", &random_id(&mut rng, &run)));
            measure(run.warmup, &mut query)?;
            let start = Instant::now();
            let lat = measure(run.seconds, &mut query)?;
            report(lat, start.elapsed());
            Ok(())
        }
        Mode::Sqlx {
            file,
            run,
            concurrency,
        } => {
            let options = SqliteConnectOptions::new()
                .filename(&file)
                .create_if_missing(false)
                .disable_statement_logging();
            let pool = SqlitePoolOptions::new()
                .min_connections(concurrency as u32)
                .max_connections(concurrency as u32)
                .connect_with(options)
                .await?;
            sqlx_run(&pool, &run, concurrency, run.warmup).await?;
            let start = Instant::now();
            let lat = sqlx_run(&pool, &run, concurrency, run.seconds).await?;
            report(lat, start.elapsed());
            pool.close().await;
            Ok(())
        }
    }
}

async fn create(file: &std::path::Path, rows: u64) -> anyhow::Result<()> {
    let mut conn = SqliteConnectOptions::new()
        .filename(file)
        .create_if_missing(true)
        .connect()
        .await?;
    sqlx::raw_sql(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, abalance INTEGER NOT NULL, filler TEXT NOT NULL)",
    )
    .execute(&mut conn)
    .await?;
    sqlx::query(
        "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ?1)
         INSERT INTO t SELECT i, i % 1000, lower(hex(randomblob(16))) FROM g",
    )
    .bind(rows as i64)
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    Ok(())
}

fn random_id(rng: &mut StdRng, run: &Run) -> String {
    rng.gen_range(1..=run.ids).to_string()
}

/// Runs `query` in a loop for `seconds`; the time of each call in ms.
fn measure(
    seconds: f64,
    query: &mut dyn FnMut() -> anyhow::Result<usize>,
) -> anyhow::Result<Vec<f64>> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut lat = Vec::new();
    while Instant::now() < deadline {
        let start = Instant::now();
        let rows = query()?;
        lat.push(start.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(rows == 1, "the point query returned {rows} rows");
    }
    Ok(lat)
}

async fn sqlx_run(
    pool: &sqlx::SqlitePool,
    run: &Run,
    concurrency: usize,
    seconds: f64,
) -> anyhow::Result<Vec<f64>> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let workers = (0..concurrency).map(|worker| async move {
        let mut rng = StdRng::seed_from_u64(worker as u64 ^ 0x5eed);
        let mut lat = Vec::new();
        while Instant::now() < deadline {
            let script = run.query.replace(":id", &random_id(&mut rng, run));
            let start = Instant::now();
            let mut conn = pool.acquire().await?;
            let rows = sqlx::raw_sql(&script).fetch_all(&mut *conn).await?;
            drop(conn);
            lat.push(start.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(
                rows.len() == 1,
                "the point query returned {} rows",
                rows.len()
            );
        }
        Ok::<_, anyhow::Error>(lat)
    });
    let mut all = Vec::new();
    for lat in futures_util::future::join_all(workers).await {
        all.extend(lat?);
    }
    Ok(all)
}

fn report(mut lat: Vec<f64>, elapsed: Duration) {
    lat.sort_by(f64::total_cmp);
    let n = lat.len().max(1);
    let pct = |p: f64| lat[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
    let secs = elapsed.as_secs_f64();
    println!(
        "{} 0 {:.2} {:.1} {:.4} {:.4} {:.4} {:.4}",
        lat.len(),
        secs,
        lat.len() as f64 / secs,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        lat.iter().sum::<f64>() / n as f64
    );
}

/// The least of SQLite's C API the baseline needs, through the libsqlite3-sys that sqlx links.
mod capi {
    use super::*;
    use libsqlite3_sys as ffi;

    pub struct Conn(*mut ffi::sqlite3);

    impl Conn {
        pub fn open(path: &std::path::Path) -> anyhow::Result<Self> {
            let path = CString::new(path.to_string_lossy().as_bytes())?;
            let mut db = std::ptr::null_mut();
            // SAFETY: a valid C string and out-pointer; the handle is closed in Drop.
            let rc = unsafe {
                ffi::sqlite3_open_v2(
                    path.as_ptr(),
                    &mut db,
                    ffi::SQLITE_OPEN_READWRITE,
                    std::ptr::null(),
                )
            };
            let conn = Self(db);
            anyhow::ensure!(rc == ffi::SQLITE_OK, "cannot open the file (code {rc})");
            Ok(conn)
        }

        /// Prepares, steps to the end reading every column as text, finalizes; the rows.
        pub fn query(&self, sql: &str) -> anyhow::Result<usize> {
            let mut stmt = std::ptr::null_mut();
            // SAFETY: the handle is open; `sql` with its length; the statement is finalized
            // before returning, and column values are read while the statement is current.
            unsafe {
                let rc = ffi::sqlite3_prepare_v2(
                    self.0,
                    sql.as_ptr().cast(),
                    sql.len() as i32,
                    &mut stmt,
                    std::ptr::null_mut(),
                );
                anyhow::ensure!(rc == ffi::SQLITE_OK, "prepare failed (code {rc})");
                let columns = ffi::sqlite3_column_count(stmt);
                let mut rows = 0;
                let mut bytes = 0usize;
                let rc = loop {
                    match ffi::sqlite3_step(stmt) {
                        ffi::SQLITE_ROW => {
                            rows += 1;
                            for c in 0..columns {
                                ffi::sqlite3_column_text(stmt, c);
                                bytes += ffi::sqlite3_column_bytes(stmt, c) as usize;
                            }
                        }
                        rc => break rc,
                    }
                };
                ffi::sqlite3_finalize(stmt);
                std::hint::black_box(bytes);
                anyhow::ensure!(rc == ffi::SQLITE_DONE, "step failed (code {rc})");
                Ok(rows)
            }
        }
    }

    impl Drop for Conn {
        fn drop(&mut self) {
            // SAFETY: the handle came from sqlite3_open_v2 and no statement outlives a query.
            unsafe {
                ffi::sqlite3_close(self.0);
            }
        }
    }
}
