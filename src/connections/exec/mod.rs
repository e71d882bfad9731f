//! Runs scripts on connections' databases: pooled connections per target, checked once per
//! physical connection (which database, which powers); every exec bounded in time, output and
//! concurrency, stopped in the database itself at its deadline, and leaving nothing behind for
//! the next caller.

mod admission;
mod pools;
mod postgres;
mod sqlite;
mod sqlite_functions;
mod table;

use crate::store::{own::OwnIdentity, Store};
use admission::Admission;
use pools::{Pools, TargetPool};
pub use postgres::{PgIdentity, PgTarget};
pub use sqlite::{OwnSqlite, SqliteTarget};
use std::{future::Future, time::Duration};
use uuid::Uuid;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Duration,
    pub max_rows: usize,
    pub max_bytes: usize,
    pub max_concurrent: usize,
    pub max_per_caller: usize,
    pub pool_size: usize,
    pub pool_idle: Duration,
}

/// What a script produced: the text, and whether it ran to the end without error.
#[derive(Debug)]
pub struct Outcome {
    pub output: String,
    pub success: bool,
    pub timed_out: bool,
    /// Stopped because the exec's `stop` resolved (its caller's key stopped working); the
    /// output is why.
    pub cancelled: bool,
}

impl Outcome {
    fn done(output: String) -> Self {
        Self {
            output,
            success: true,
            timed_out: false,
            cancelled: false,
        }
    }

    /// Also for a database that could not be reached: the session is recorded as failed, with
    /// why.
    pub(crate) fn failed(output: String) -> Self {
        Self {
            output,
            success: false,
            timed_out: false,
            cancelled: false,
        }
    }

    fn timed_out(limits: &Limits) -> Self {
        Self {
            output: format!(
                "cancelled: the script ran longer than {} s (HOOP_EXEC_TIMEOUT_SECS)",
                limits.timeout.as_secs()
            ),
            success: false,
            timed_out: true,
            cancelled: false,
        }
    }

    fn cancelled(why: String) -> Self {
        Self {
            output: why,
            success: false,
            timed_out: false,
            cancelled: true,
        }
    }
}

/// Why an exec did not give an outcome.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The database could not be reached or opened: reported as a failed exec.
    #[error("{0}")]
    Failed(String),
    #[error("target is the gateway's own database: no connection may reach it")]
    OwnDatabase,
    /// It cannot be told whether the target is the gateway's own database: refused.
    #[error("{0}")]
    Unidentified(String),
    /// The target's role has powers over the database server's host.
    #[error(
        "the connection's database role is privileged (it is, or can become, a superuser or a \
         role that may create roles, bypass row security, read or write the server's files, run \
         programs there or reach other databases): only admins may run it, unless an admin \
         marks the connection \"privileged\""
    )]
    Privileged,
    /// Too many execs at once, for the caller or the gateway.
    #[error("{0}")]
    Busy(String),
}

/// The gateway's own database, which no connection may reach: a script there could give any key
/// the admin group, or read the browser sessions.
#[derive(Debug, Clone, Default)]
pub struct OwnDatabase {
    sqlite: Option<OwnSqlite>,
    /// `None`: the gateway does not store its data in PostgreSQL. `Err`: it does, but the
    /// server will not say which database it is, so no PostgreSQL target can be told apart
    /// from it.
    postgres: Option<Result<PgIdentity, String>>,
}

impl OwnDatabase {
    /// Identifies the database the gateway stores its own data in.
    pub async fn of(store: &Store) -> anyhow::Result<Self> {
        Ok(match store.own_identity().await? {
            OwnIdentity::SqliteFile(file) => {
                // Fails closed: an in-memory database has no file to compare targets with.
                let path = file.ok_or_else(|| anyhow::anyhow!("SQLite opened no file"))?;
                Self {
                    sqlite: Some(OwnSqlite::of(&path)?),
                    postgres: None,
                }
            }
            OwnIdentity::Postgres(known) => {
                let postgres = known.map_err(|e| {
                    tracing::warn!(
                        error = %e,
                        "cannot identify the gateway's own PostgreSQL database: execs on \
                         PostgreSQL targets are refused until its role may run \
                         pg_catalog.pg_control_system()"
                    );
                    "the gateway cannot tell its own PostgreSQL database apart from this \
                     target: the gateway's role needs EXECUTE on \
                     pg_catalog.pg_control_system()"
                        .to_owned()
                });
                Self {
                    sqlite: None,
                    postgres: Some(postgres),
                }
            }
        })
    }

    /// Whether a SQLite target names the gateway's own file (through any link): the early
    /// answer at create and update. Exec decides again by the file SQLite opened.
    pub fn is_own_sqlite_path(&self, target: &SqliteTarget) -> bool {
        self.sqlite
            .as_ref()
            .is_some_and(|own| own.names(std::path::Path::new(&target.path)))
    }
}

/// One exec: where, by whom, what.
pub struct Job<'a> {
    pub connection_id: Uuid,
    pub kind: &'a str,
    pub target: &'a str,
    /// An admin marked the connection privileged on purpose.
    pub privileged: bool,
    /// Who counts against the per-caller limit.
    pub caller: &'a str,
    pub admin: bool,
    pub script: &'a str,
}

pub struct Executor {
    limits: Limits,
    own: OwnDatabase,
    pools: Pools,
    admission: Admission,
}

impl Executor {
    /// Must be called within the runtime: it starts the task that closes idle connections.
    pub fn new(limits: Limits, own: OwnDatabase) -> Self {
        Self {
            limits,
            admission: Admission::new(limits.max_concurrent, limits.max_per_caller),
            pools: Pools::new(limits),
            own,
        }
    }

    /// The database no exec may reach (also checked, by name, when a connection is saved).
    pub fn own_database(&self) -> &OwnDatabase {
        &self.own
    }

    /// Closes the connections kept for a connection that was changed or deleted.
    pub fn forget(&self, connection_id: Uuid) {
        self.pools.forget(connection_id);
    }

    /// Runs `job` until it ends, its deadline passes or `stop` resolves (with why): either of
    /// the latter two stops the script in the database before the answer.
    pub async fn run(
        &self,
        job: Job<'_>,
        stop: impl Future<Output = String> + Send,
    ) -> Result<Outcome, ExecError> {
        let ticket = self.admission.enter(job.caller)?;
        let deadline = tokio::time::Instant::now() + self.limits.timeout;
        let limits = self.limits;
        match self.pools.get(&job, &self.own)? {
            TargetPool::Sqlite(pool) => {
                let handle = pools::checkout(&pool, deadline).await?;
                sqlite_run(
                    handle,
                    job.script.to_owned(),
                    job.admin,
                    deadline,
                    limits,
                    ticket,
                    stop,
                )
                .await
            }
            TargetPool::Postgres(pool) => {
                let conn = pools::checkout(&pool, deadline).await?;
                if conn.privileged && !job.privileged && !job.admin {
                    return Err(ExecError::Privileged);
                }
                let (outcome, at_rest) = conn.run(job.script, deadline, &limits, stop).await;
                // The reset is off the answer's path, and the caller's ticket is held until
                // the connection is back.
                tokio::spawn(async move {
                    if !(at_rest && conn.reset().await) {
                        drop(deadpool::managed::Object::take(conn));
                    }
                    drop(ticket);
                });
                Ok(outcome)
            }
        }
    }
}

/// SQLite works on a thread of its own. At the deadline its progress handler and
/// `sqlite3_interrupt` stop the script between steps (as `sqlite3_interrupt` does when `stop`
/// resolves), and no step runs long (values are bounded by the length limit, and the string
/// functions that SQLite makes quadratic are linear here); the answer waits until the thread
/// has stopped, so nothing runs on after it.
#[allow(clippy::too_many_arguments)]
async fn sqlite_run(
    mut handle: deadpool::managed::Object<pools::SqliteManager>,
    script: String,
    admin: bool,
    deadline: tokio::time::Instant,
    limits: Limits,
    ticket: admission::Ticket,
    stop: impl Future<Output = String> + Send,
) -> Result<Outcome, ExecError> {
    let interrupter = handle.interrupter();
    let std_deadline = deadline.into_std();
    let work = tokio::task::spawn_blocking(move || {
        let (outcome, reusable) = handle.run(&script, admin, std_deadline, &limits);
        if !reusable {
            drop(deadpool::managed::Object::take(handle));
        }
        drop(ticket);
        outcome
    });
    tokio::pin!(work);
    tokio::pin!(stop);
    let ran = tokio::select! {
        biased;
        finished = &mut work => Ok(finished),
        () = tokio::time::sleep_until(deadline) => Err(None),
        why = &mut stop => Err(Some(why)),
    };
    let finished = match ran {
        Ok(finished) => finished,
        Err(Some(why)) => {
            interrupter.interrupt();
            if tokio::time::timeout(STOP_WAIT, &mut work).await.is_err() {
                tracing::warn!("a SQLite script is still running after it was cancelled");
            }
            return Ok(Outcome::cancelled(why));
        }
        Err(None) => {
            interrupter.interrupt();
            match tokio::time::timeout(STOP_WAIT, &mut work).await {
                Ok(finished) => finished,
                Err(_) => {
                    tracing::warn!("a SQLite script is still running after its deadline");
                    return Ok(Outcome::timed_out(&limits));
                }
            }
        }
    };
    finished.map_err(|e| ExecError::Failed(format!("the script's thread failed: {e}")))
}

/// How long past its deadline an exec waits for the database to confirm that it stopped.
const STOP_WAIT: Duration = Duration::from_secs(5);
