//! What an exec is given (a job, within limits) and what it gives back (an outcome, or why
//! there is none): shared by the executor and the drivers it runs.

use std::time::Duration;
use uuid::Uuid;

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
    pub(super) fn done(output: String) -> Self {
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

    pub(super) fn timed_out(limits: &Limits) -> Self {
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

    pub(super) fn cancelled(why: String) -> Self {
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
