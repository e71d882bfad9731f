//! Runs scripts on connections' databases: pooled connections per target, checked once per
//! physical connection (which database, which powers); every exec bounded in time, output and
//! concurrency, stopped in the database itself at its deadline, and leaving nothing behind for
//! the next caller.

mod admission;
mod job;
mod own_database;
mod pools;
mod postgres;
mod sqlite;
mod sqlite_functions;
mod table;

use admission::Admission;
pub use job::{ExecError, Job, Limits, Outcome};
pub use own_database::OwnDatabase;
use pools::{Pools, TargetPool};
pub use postgres::PgTarget;
pub use sqlite::SqliteTarget;
use std::{future::Future, time::Duration};
use uuid::Uuid;

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
