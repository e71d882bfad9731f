//! Open database connections per target, so an exec does not pay a new connection (a few
//! milliseconds on PostgreSQL). Bounded per target, closed when idle, and dropped when the
//! connection's target changes (checked at every exec against the stored row, so a change made
//! on another replica counts too) or the connection is deleted.

use super::{
    job::{ExecError, Job, Limits},
    own_database::OwnDatabase,
    postgres::{self, PgConn, PgIdentity, PgTarget},
    sqlite::{self, Handle, OwnSqlite, SqliteTarget},
};
use deadpool::{
    managed::{self, Manager, Metrics, Object, Pool, PoolError, RecycleError, RecycleResult},
    Runtime,
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};
use uuid::Uuid;

pub struct SqliteManager {
    target: SqliteTarget,
    own: Option<OwnSqlite>,
    limits: Limits,
}

impl Manager for SqliteManager {
    type Type = Handle;
    type Error = ExecError;

    async fn create(&self) -> Result<Handle, ExecError> {
        let (target, own, limits) = (self.target.clone(), self.own.clone(), self.limits);
        tokio::task::spawn_blocking(move || sqlite::open(&target, own.as_ref(), &limits))
            .await
            .map_err(|e| ExecError::Failed(format!("opening the database failed: {e}")))?
    }

    async fn recycle(&self, _: &mut Handle, _: &Metrics) -> RecycleResult<ExecError> {
        // Reset when the exec ended, on its own thread.
        Ok(())
    }
}

pub struct PgManager {
    target: PgTarget,
    own: Option<Result<PgIdentity, String>>,
}

impl Manager for PgManager {
    type Type = PgConn;
    type Error = ExecError;

    async fn create(&self) -> Result<PgConn, ExecError> {
        postgres::connect(&self.target, self.own.as_ref()).await
    }

    async fn recycle(&self, conn: &mut PgConn, _: &Metrics) -> RecycleResult<ExecError> {
        if conn.is_closed() {
            return Err(RecycleError::message("the server closed the connection"));
        }
        Ok(())
    }
}

#[derive(Clone)]
pub enum TargetPool {
    Sqlite(Pool<SqliteManager>),
    Postgres(Pool<PgManager>),
}

impl TargetPool {
    fn close(&self) {
        match self {
            Self::Sqlite(p) => p.close(),
            Self::Postgres(p) => p.close(),
        }
    }

    /// Closes connections unused for `idle`; false once the pool holds none.
    fn close_idle(&self, idle: Duration) -> bool {
        match self {
            Self::Sqlite(p) => {
                p.retain(|_, m| m.last_used() < idle);
                p.status().size > 0
            }
            Self::Postgres(p) => {
                p.retain(|_, m| m.last_used() < idle);
                p.status().size > 0
            }
        }
    }
}

struct Entry {
    kind: String,
    target: String,
    pool: TargetPool,
}

pub struct Pools {
    limits: Limits,
    entries: Arc<Mutex<HashMap<Uuid, Entry>>>,
}

impl Pools {
    pub fn new(limits: Limits) -> Self {
        let entries: Arc<Mutex<HashMap<Uuid, Entry>>> = Arc::default();
        let weak = Arc::downgrade(&entries);
        let idle = limits.pool_idle;
        let every = (idle / 2).clamp(Duration::from_millis(100), Duration::from_secs(10));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                // Ends with the gateway that owns the pools.
                let Some(entries) = weak.upgrade() else { break };
                let mut entries = entries.lock().unwrap_or_else(PoisonError::into_inner);
                entries.retain(|_, e| e.pool.close_idle(idle));
            }
        });
        Self { limits, entries }
    }

    /// The pool for a job's target: the one kept for this connection if its target is the
    /// same, else a new one (and the old one closed).
    pub fn get(&self, job: &Job<'_>, own: &OwnDatabase) -> Result<TargetPool, ExecError> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = entries.get(&job.connection_id) {
            if e.kind == job.kind && e.target == job.target {
                return Ok(e.pool.clone());
            }
        }
        let pool = self.build(job, own)?;
        let entry = Entry {
            kind: job.kind.to_owned(),
            target: job.target.to_owned(),
            pool: pool.clone(),
        };
        if let Some(old) = entries.insert(job.connection_id, entry) {
            old.pool.close();
        }
        Ok(pool)
    }

    pub fn forget(&self, connection_id: Uuid) {
        let removed = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&connection_id);
        if let Some(e) = removed {
            e.pool.close();
        }
    }

    fn build(&self, job: &Job<'_>, own: &OwnDatabase) -> Result<TargetPool, ExecError> {
        let limits = self.limits;
        Ok(match job.kind {
            "sqlite" => TargetPool::Sqlite(finish(
                Pool::builder(SqliteManager {
                    target: SqliteTarget::parse(job.target).map_err(ExecError::Failed)?,
                    own: own.sqlite.clone(),
                    limits,
                }),
                limits,
            )?),
            _ => TargetPool::Postgres(finish(
                Pool::builder(PgManager {
                    target: PgTarget::parse(job.target, &limits).map_err(ExecError::Failed)?,
                    own: own.postgres.clone(),
                }),
                limits,
            )?),
        })
    }
}

fn finish<M: Manager>(
    builder: managed::PoolBuilder<M>,
    limits: Limits,
) -> Result<Pool<M>, ExecError> {
    builder
        .max_size(limits.pool_size.max(1))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| ExecError::Failed(format!("cannot make a connection pool: {e}")))
}

/// A connection from the pool, waiting no later than the exec's deadline.
pub async fn checkout<M: Manager<Error = ExecError>>(
    pool: &Pool<M>,
    deadline: tokio::time::Instant,
) -> Result<Object<M>, ExecError> {
    match tokio::time::timeout_at(deadline, pool.get()).await {
        Ok(Ok(object)) => Ok(object),
        Ok(Err(PoolError::Backend(e))) => Err(e),
        Ok(Err(PoolError::Closed)) => Err(ExecError::Busy(
            "the connection was changed while this exec waited: try again".into(),
        )),
        Ok(Err(e)) => Err(ExecError::Failed(e.to_string())),
        Err(_) => Err(ExecError::Busy(format!(
            "every pooled connection to this target stayed busy until the exec's deadline \
             (HOOP_EXEC_POOL_SIZE is {})",
            pool.status().max_size
        ))),
    }
}
