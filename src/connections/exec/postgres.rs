//! Scripts on PostgreSQL targets: each physical connection is checked once (which database it
//! reaches, which powers its role holds) and pooled; each exec is stopped on the server at the
//! deadline by a cancel request, and the session is reset before the next caller gets it.

use super::{
    job::{ExecError, Limits, Outcome},
    table::Table,
};
use futures_util::{pin_mut, TryStreamExt};
use std::{str::FromStr, time::Duration};
use tokio::time::Instant;
use tokio_postgres::{Client, Config, NoTls, SimpleQueryMessage};

/// Targets are asked who they are in the words the gateway asks its own database.
pub use crate::store::own::PgIdentity;
use crate::store::own::IDENTITY_SQL;

/// Whether the session could reach the server's host or other databases, judged by every role
/// it can act as: the session user (which a URL's `-c role=…` does not change, and which a
/// script's `RESET ROLE` brings back) and every role it is a member of, directly or through
/// others, since `SET ROLE` reaches them all (PostgreSQL 16 lets a membership lack `SET`: it
/// counts all the same, erring on the side of refusing).
/// Any such role that is a superuser, may create roles (and so grant itself the file roles),
/// bypasses row security, holds a server-file role, or may create an extension that opens
/// connections to other databases makes the session privileged. Schema-qualified for the same
/// reason as the identity; an error or no answer counts as privileged.
const POWERS_SQL: &str = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r \
     WHERE (r.rolname = pg_catalog.session_user() \
            OR pg_catalog.pg_has_role(pg_catalog.session_user(), r.oid, 'MEMBER')) \
       AND (r.rolsuper OR r.rolcreaterole OR r.rolbypassrls \
            OR r.rolname IN ('pg_read_server_files', 'pg_write_server_files', \
                             'pg_execute_server_program') \
            OR EXISTS (SELECT 1 FROM pg_catalog.pg_available_extension_versions v \
                        WHERE v.name IN ('dblink', 'postgres_fdw') AND v.trusted \
                          AND pg_catalog.has_database_privilege(r.oid, \
                                pg_catalog.current_database(), 'CREATE'))))";

/// A target URL parsed once, with the settings every exec connection gets.
#[derive(Clone)]
pub struct PgTarget {
    config: Config,
}

impl PgTarget {
    /// Whether a URL can be connected to at all (checked when a connection is saved).
    pub fn validate(url: &str) -> Result<(), String> {
        Config::from_str(url.trim())
            .map(drop)
            .map_err(|e| format!("invalid target: {e}"))
    }

    pub fn parse(url: &str, limits: &Limits) -> Result<Self, String> {
        let mut config =
            Config::from_str(url.trim()).map_err(|e| format!("invalid target: {e}"))?;
        // The server's own timeout first; the cancel request below is for scripts that turn it
        // off. Set at start-up, so `RESET ALL` and `DISCARD ALL` come back to it.
        let timeout_ms = limits.timeout.as_millis().min(i32::MAX as u128);
        let options = match config.get_options() {
            Some(o) => format!("{o} -c statement_timeout={timeout_ms}"),
            None => format!("-c statement_timeout={timeout_ms}"),
        };
        config.options(options);
        if config.get_application_name().is_none() {
            config.application_name("hoop-exec");
        }
        config.connect_timeout(limits.timeout.min(Duration::from_secs(10)));
        Ok(Self { config })
    }
}

/// One physical connection, and what was learnt of it when it opened.
pub struct PgConn {
    client: Client,
    /// A role it can act as has powers over the server's host or other databases (see
    /// POWERS_SQL).
    pub privileged: bool,
}

/// Connects, and refuses the connection when it reaches the gateway's own database or cannot
/// say which database it reaches while that matters (`own` is the gateway's, when it stores
/// its data in PostgreSQL).
pub async fn connect(
    target: &PgTarget,
    own: Option<&Result<PgIdentity, String>>,
) -> Result<PgConn, ExecError> {
    let (client, connection) = target
        .config
        .connect(NoTls)
        .await
        .map_err(|e| ExecError::Failed(message(&e)))?;
    tokio::spawn(async move {
        // Ends when the client is dropped or the server goes away; either way nothing to do.
        let _ = connection.await;
    });
    if let Some(own) = own {
        let own = own
            .as_ref()
            .map_err(|why| ExecError::Unidentified(why.clone()))?;
        let unidentified = |why: String| {
            ExecError::Unidentified(format!(
                "cannot tell which database this connection reaches ({why}): its role needs \
                 EXECUTE on pg_catalog.pg_control_system() (GRANT EXECUTE ON FUNCTION \
                 pg_catalog.pg_control_system() TO <role>)"
            ))
        };
        let theirs = identity(&client)
            .await
            .map_err(|e| unidentified(message(&e)))?
            .ok_or_else(|| unidentified("no answer".into()))?;
        if &theirs == own {
            return Err(ExecError::OwnDatabase);
        }
    }
    let privileged = match client.simple_query(POWERS_SQL).await {
        Ok(messages) => first_row(&messages)
            .and_then(|row| row.get(0))
            .is_none_or(|v| v != "f"),
        // Unknown powers are treated as powers.
        Err(_) => true,
    };
    Ok(PgConn { client, privileged })
}

/// Asked with the simple protocol, like everything on exec connections: no prepared statement
/// outlives the call for DISCARD ALL to pull from under the driver.
async fn identity(client: &Client) -> Result<Option<PgIdentity>, tokio_postgres::Error> {
    let messages = client.simple_query(IDENTITY_SQL).await?;
    Ok(first_row(&messages).and_then(|row| {
        Some(PgIdentity {
            system: row.get(0)?.to_owned(),
            database: row.get(1)?.to_owned(),
        })
    }))
}

fn first_row(messages: &[SimpleQueryMessage]) -> Option<&tokio_postgres::SimpleQueryRow> {
    messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    })
}

impl PgConn {
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Runs the script until it ends, its output is cut, the deadline passes or `stop`
    /// resolves (with why); at the deadline or the stop the server is asked to cancel, and the
    /// answer waits until it has. Returns whether the connection may serve another caller
    /// (after `reset`).
    pub async fn run(
        &self,
        script: &str,
        deadline: Instant,
        limits: &Limits,
        stop: impl std::future::Future<Output = String>,
    ) -> (Outcome, bool) {
        let cancel = self.client.cancel_token();
        let work = tabulate(&self.client, script, limits);
        pin_mut!(work);
        pin_mut!(stop);
        let stopped = tokio::select! {
            biased;
            (outcome, complete) = &mut work => return (outcome, complete),
            () = tokio::time::sleep_until(deadline) => Outcome::timed_out(limits),
            why = &mut stop => Outcome::cancelled(why),
        };
        // The server answers a cancelled statement with an error, at once; a connection that
        // does not is closed (dropping it ends the session).
        let until = Instant::now() + CANCEL_WAIT;
        let at_rest = loop {
            let _ = cancel.cancel_query(NoTls).await;
            // A cancel request that reached the server before the statement did (a stop just
            // as the exec began) cancelled nothing: ask again until the script has ended.
            match tokio::time::timeout(RECANCEL_EVERY, &mut work).await {
                Ok(_) => break true,
                Err(_) if Instant::now() >= until => break false,
                Err(_) => {}
            }
        };
        (stopped, at_rest)
    }

    /// Ends any transaction the script left open and everything else it set on the session
    /// (role, search_path, temporary tables, LISTEN, prepared statements, advisory locks).
    pub async fn reset(&self) -> bool {
        // Usually one message. DISCARD ALL cannot run inside a transaction block: when it
        // fails, the script left one open (or failed in one), so roll it back and discard
        // again. A ROLLBACK sent every time would cost the server a WARNING in its log.
        if self.client.simple_query("DISCARD ALL").await.is_ok() {
            return true;
        }
        self.client.simple_query("ROLLBACK").await.is_ok()
            && self.client.simple_query("DISCARD ALL").await.is_ok()
    }
}

const CANCEL_WAIT: Duration = Duration::from_secs(5);
const RECANCEL_EVERY: Duration = Duration::from_millis(250);

/// Reads the results of a script (the simple query protocol: several statements, every value
/// as text). Also says whether the connection is at rest afterwards: a cut output stops
/// reading in the middle of a result, and such a connection is not reused.
async fn tabulate(client: &Client, script: &str, limits: &Limits) -> (Outcome, bool) {
    let mut table = Table::new(limits.max_rows, limits.max_bytes);
    let stream = match client.simple_query_raw(script).await {
        Ok(stream) => stream,
        Err(e) => {
            return (
                Outcome::failed(table.fail(&message(&e))),
                !client.is_closed(),
            )
        }
    };
    pin_mut!(stream);
    let mut names: Vec<String> = Vec::new();
    loop {
        match stream.try_next().await {
            Ok(Some(SimpleQueryMessage::RowDescription(columns))) => {
                names = columns.iter().map(|c| c.name().to_owned()).collect();
            }
            Ok(Some(SimpleQueryMessage::Row(row))) => {
                let cells = (0..row.len()).map(|i| row.get(i));
                if !table.push(names.iter().map(String::as_str), cells) {
                    // Stop the server producing what nobody will read.
                    let _ = client.cancel_token().cancel_query(NoTls).await;
                    return (Outcome::done(table.finish()), false);
                }
            }
            Ok(Some(SimpleQueryMessage::CommandComplete(n))) => table.statement_done(n),
            Ok(Some(_)) => {}
            Ok(None) => return (Outcome::done(table.finish()), true),
            Err(e) => {
                return (
                    Outcome::failed(table.fail(&message(&e))),
                    !client.is_closed(),
                )
            }
        }
    }
}

/// The database's own words, without the driver's wrapping.
fn message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => e.to_string(),
    }
}
