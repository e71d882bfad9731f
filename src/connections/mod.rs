//! Connections: who may reach which database, and running scripts there under the caller's
//! identity. Used by the REST API, the web app and (through the API) the CLI.

mod exec;

use crate::{
    caller::{Identity, Principal},
    domain::{parse_group_list, ConnectionName, Violation},
    error::{Error, Result},
    store::{
        self,
        connections::{ConnectionRow, NewConnection, SessionRow},
        Store,
    },
};
use exec::{ExecError, Executor, Job, PgTarget, SqliteTarget};
pub use exec::{Limits, OwnDatabase};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use uuid::Uuid;

/// The service speaks the API's own types: a connection as callers see it is what it returns.
pub use crate::wire::{
    connections::{Connection, ConnectionChanges, ConnectionSpec},
    sessions::{ExecResult, Session, SessionQuery, SessionStatus},
};

/// Without a limit, a page of sessions is as long as the whole list used to be.
const DEFAULT_SESSIONS: i64 = 500;

/// The record without whom it is filed under (`actor_id`, the store's key for "own sessions").
impl From<SessionRow> for Session {
    fn from(row: SessionRow) -> Self {
        Session {
            id: row.id,
            actor: row.actor,
            auth_method: row.auth_method,
            connection: row.connection,
            script: row.script,
            status: row.status.into(),
            exit_code: row.exit_code,
            execution_time_ms: row.execution_time_ms,
            created_at: row.created_at,
            reason: row.reason,
        }
    }
}

impl From<store::connections::SessionStatus> for SessionStatus {
    fn from(status: store::connections::SessionStatus) -> Self {
        match status {
            store::connections::SessionStatus::Success => SessionStatus::Success,
            store::connections::SessionStatus::Failed => SessionStatus::Failed,
            store::connections::SessionStatus::Cancelled => SessionStatus::Cancelled,
        }
    }
}

#[derive(Clone)]
pub struct ConnectionService {
    store: Store,
    executor: Arc<Executor>,
    /// Says when a caller's key stops working, which stops its execs in flight.
    keys: crate::keys::KeyService,
}

fn refused(e: ExecError) -> Error {
    match e {
        ExecError::Failed(m) | ExecError::Unidentified(m) => Error::invalid(m),
        ExecError::OwnDatabase => Error::invalid(e.to_string()),
        ExecError::Privileged => Error::Forbidden(e.to_string()),
        ExecError::Busy(m) => Error::Busy(m),
    }
}

/// An exec in the metrics, by connection type and outcome (`success`, `failed`, `refused`);
/// how long it ran unless it was refused before running.
fn count_exec(kind: &str, outcome: &'static str, ran: Option<Duration>) {
    let kind = match kind {
        "postgres" => "postgres",
        "sqlite" => "sqlite",
        _ => "other",
    };
    let labels = [("type", kind), ("outcome", outcome)];
    metrics::counter!("hoop_exec_total", &labels).increment(1);
    if let Some(ran) = ran {
        metrics::histogram!("hoop_exec_duration_seconds", &labels).record(ran);
    }
}

/// Admins reach everything; others a connection that shares one of their groups.
fn reaches(caller: &Principal, conn: &ConnectionRow) -> bool {
    caller.is_admin() || conn.access_groups.iter().any(|g| caller.groups.contains(g))
}

fn view(row: ConnectionRow, caller: &Principal) -> Connection {
    Connection {
        id: row.id,
        name: row.name,
        kind: row.kind,
        target: caller.is_admin().then_some(row.target),
        access_groups: row.access_groups,
        privileged: row.privileged,
        created_by: row.created_by,
        created_at: row.created_at,
    }
}

/// What an exec runs: the caller's script, or the gateway's own catalog query.
enum Run<'a> {
    Script(&'a str),
    Schema,
}

/// Every table and view the connection's role can see, with its columns in order. The
/// leading comment stays in the session record: whoever reads the history sees the gateway
/// wrote this query (the MCP tool `describe_schema`), not the caller.
fn catalog_query(kind: &str) -> &'static str {
    match kind {
        "postgres" => {
            "-- describe_schema: the gateway's catalog query\n\
             SELECT table_schema || '.' || table_name AS \"table\", column_name AS \"column\", \
             data_type AS \"type\" FROM information_schema.columns \
             WHERE table_schema NOT IN ('pg_catalog', 'information_schema') \
             AND table_schema NOT LIKE 'pg\\_%' \
             ORDER BY table_schema, table_name, ordinal_position"
        }
        _ => {
            "-- describe_schema: the gateway's catalog query\n\
             SELECT m.name AS \"table\", p.name AS \"column\", p.type AS \"type\" \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
             ORDER BY m.name, p.cid"
        }
    }
}

/// The identity a session is recorded under: stable across renames of a key.
fn actor_id(caller: &Principal) -> String {
    match &caller.identity {
        Identity::User { id, .. } | Identity::ApiKey { id, .. } => id.to_string(),
        Identity::LegacyApiKey => crate::caller::LEGACY_ACTOR.to_owned(),
    }
}

fn parse_kind(kind: &str) -> Result<&'static str> {
    match kind {
        "postgres" => Ok("postgres"),
        "sqlite" => Ok("sqlite"),
        _ => Err(Violation::of("type", "type must be \"postgres\" or \"sqlite\"").into()),
    }
}

fn check_target(kind: &str, target: &str, own: &OwnDatabase) -> Result<()> {
    let bad_target = |message: String| Error::Invalid(Violation::of("target", message));
    if target.trim().is_empty() {
        return Err(bad_target("target must not be empty".into()));
    }
    match kind {
        "postgres" => {
            let url = target.trim();
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(bad_target("target must be a postgres:// URL".into()));
            }
            PgTarget::validate(url).map_err(bad_target)
        }
        _ => {
            let parsed = SqliteTarget::parse(target).map_err(bad_target)?;
            // The early answer for the names that lead there now; every exec decides again
            // by the file SQLite opened.
            if own.is_own_sqlite_path(&parsed) {
                return Err(bad_target(ExecError::OwnDatabase.to_string()));
            }
            Ok(())
        }
    }
}

impl ConnectionService {
    /// Must be called within the runtime (the exec pools close idle connections in a task).
    pub fn new(
        store: Store,
        keys: crate::keys::KeyService,
        limits: Limits,
        own_database: OwnDatabase,
    ) -> Self {
        Self {
            store,
            executor: Arc::new(Executor::new(limits, own_database)),
            keys,
        }
    }

    pub async fn list(&self, caller: &Principal) -> Result<Vec<Connection>> {
        let rows = store::connections::list(&self.store, caller.org_id).await?;
        Ok(rows
            .into_iter()
            .filter(|c| reaches(caller, c))
            .map(|c| view(c, caller))
            .collect())
    }

    pub async fn create(&self, caller: &Principal, spec: ConnectionSpec) -> Result<Connection> {
        caller.require_admin()?;
        let name = ConnectionName::parse(&spec.name)?;
        let kind = parse_kind(&spec.kind)?;
        check_target(kind, &spec.target, self.executor.own_database())?;
        let groups = parse_group_list(&spec.access_groups, "access_groups")?;
        let new = NewConnection {
            name: &name,
            kind,
            target: spec.target.trim(),
            privileged: spec.privileged,
            access_groups: &groups,
        };
        store::connections::insert(&self.store, caller.org_id, new, caller.actor()).await?;
        self.get_row(caller, name.as_str())
            .await
            .map(|c| view(c, caller))
    }

    pub async fn update(
        &self,
        caller: &Principal,
        name: &str,
        changes: ConnectionChanges,
    ) -> Result<Connection> {
        caller.require_admin()?;
        let current = self.get_row(caller, name).await?;
        let new_name = ConnectionName::parse(changes.name.as_deref().unwrap_or(&current.name))?;
        let kind = parse_kind(changes.kind.as_deref().unwrap_or(&current.kind))?;
        let target = changes.target.unwrap_or_else(|| current.target.clone());
        check_target(kind, &target, self.executor.own_database())?;
        let groups = parse_group_list(
            changes
                .access_groups
                .as_ref()
                .unwrap_or(&current.access_groups),
            "access_groups",
        )?;
        let new = NewConnection {
            name: &new_name,
            kind,
            target: target.trim(),
            privileged: changes.privileged.unwrap_or(current.privileged),
            access_groups: &groups,
        };
        store::connections::update(&self.store, caller.org_id, current.id, new, caller.actor())
            .await?;
        self.executor.forget(current.id);
        self.get_row(caller, new_name.as_str())
            .await
            .map(|c| view(c, caller))
    }

    pub async fn delete(&self, caller: &Principal, name: &str) -> Result<()> {
        caller.require_admin()?;
        let current = self.get_row(caller, name).await?;
        store::connections::delete(&self.store, caller.org_id, &current, caller.actor()).await?;
        self.executor.forget(current.id);
        Ok(())
    }

    /// Runs `script` on the connection as the caller, and records the session. Runs to its end
    /// in a task of its own: a caller that hangs up does not stop the script half-way or leave
    /// it unrecorded.
    pub async fn exec(&self, caller: &Principal, name: &str, script: &str) -> Result<ExecResult> {
        let (this, caller, name, script) = (
            self.clone(),
            caller.clone(),
            name.to_owned(),
            script.to_owned(),
        );
        tokio::spawn(async move { this.exec_whole(&caller, &name, Run::Script(&script)).await })
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("exec task failed: {e}")))?
    }

    /// The tables and columns of a connection, as TSV (`table`, `column`, `type`): a fixed
    /// catalog query run exactly as [`Self::exec`] runs a script (same group check, limits,
    /// pools), so it shows no more than the caller could read by asking the database itself.
    /// It is recorded like any exec, under a comment that says the gateway wrote the query.
    pub async fn describe_schema(&self, caller: &Principal, name: &str) -> Result<ExecResult> {
        let (this, caller, name) = (self.clone(), caller.clone(), name.to_owned());
        tokio::spawn(async move { this.exec_whole(&caller, &name, Run::Schema).await })
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("exec task failed: {e}")))?
    }

    async fn exec_whole(&self, caller: &Principal, name: &str, run: Run<'_>) -> Result<ExecResult> {
        let conn = self.get_row(caller, name).await?;
        let refuse = |e: Error| {
            count_exec(&conn.kind, "refused", None);
            Err(e)
        };
        if !reaches(caller, &conn) {
            let needs = if conn.access_groups.is_empty() {
                "the admin group".to_owned()
            } else {
                format!("one of the groups {}", conn.access_groups.join(", "))
            };
            return refuse(Error::Forbidden(format!(
                "forbidden: connection {} needs membership of {needs}",
                conn.name
            )));
        }
        let script = match run {
            Run::Script(script) if script.trim().is_empty() => {
                return refuse(Violation::of("script", "script is empty").into());
            }
            Run::Script(script) => script,
            Run::Schema => catalog_query(&conn.kind),
        };
        let started = Instant::now();
        let who = actor_id(caller);
        let job = Job {
            connection_id: conn.id,
            kind: &conn.kind,
            target: &conn.target,
            privileged: conn.privileged,
            caller: &who,
            admin: caller.is_admin(),
            script,
        };
        // The key's secret stopping (deactivated, expired, rotated out, on any replica) stops
        // the script too: the seed's "in-flight requests begin receiving 401".
        let stop = async { self.keys.revoked(caller).await.to_string() };
        let outcome = match self.executor.run(job, stop).await {
            Ok(outcome) => outcome,
            Err(ExecError::Failed(message)) => exec::Outcome::failed(message),
            Err(refusal) => return refuse(refused(refusal)),
        };
        let ran = started.elapsed();
        let (status, exit_code) = if outcome.success {
            (store::connections::SessionStatus::Success, 0)
        } else if outcome.cancelled {
            (store::connections::SessionStatus::Cancelled, 1)
        } else {
            (store::connections::SessionStatus::Failed, 1)
        };
        count_exec(&conn.kind, status.as_str(), Some(ran));
        let elapsed = ran.as_millis() as u64;
        let session = SessionRow {
            id: Uuid::new_v4(),
            actor: caller.actor().to_owned(),
            actor_id: actor_id(caller),
            auth_method: caller.auth_method().to_owned(),
            connection: conn.name.clone(),
            script: script.to_owned(),
            status,
            exit_code: exit_code.into(),
            execution_time_ms: elapsed as i64,
            created_at: store::now(),
            reason: outcome.cancelled.then(|| outcome.output.clone()),
        };
        store::connections::insert_session(&self.store, caller.org_id, &session).await?;
        tracing::info!(connection = %conn.name, actor = caller.actor(), %status, "exec");
        if outcome.cancelled {
            return Err(Error::Revoked(format!(
                "{} while the script ran: it was stopped in the database (session {}, cancelled)",
                outcome.output, session.id
            )));
        }
        Ok(ExecResult {
            session_id: session.id,
            output: outcome.output,
            output_status: status.into(),
            exit_code,
            execution_time_ms: elapsed,
        })
    }

    /// A page of recorded runs, newest first: admins see every session of the organization,
    /// others their own, either narrowed by the query's filters.
    pub async fn sessions(&self, caller: &Principal, query: &SessionQuery) -> Result<Vec<Session>> {
        let limit = crate::audit::page_limit(query.limit, DEFAULT_SESSIONS)?;
        let own = (!caller.is_admin()).then(|| actor_id(caller));
        let filter = store::connections::SessionFilter {
            own: own.as_deref(),
            caller: crate::domain::given(&query.caller),
            connection: crate::domain::given(&query.connection),
            before: query.before,
        };
        let rows =
            store::connections::list_sessions(&self.store, caller.org_id, &filter, limit).await?;
        Ok(rows.into_iter().map(Session::from).collect())
    }

    pub async fn session(&self, caller: &Principal, id: &str) -> Result<Session> {
        let not_found = || Error::NotFound("session not found".into());
        let id = Uuid::parse_str(id).map_err(|_| not_found())?;
        let session = store::connections::get_session(&self.store, caller.org_id, id)
            .await?
            .ok_or_else(not_found)?;
        if caller.is_admin() || session.actor_id == actor_id(caller) {
            Ok(session.into())
        } else {
            Err(not_found())
        }
    }

    async fn get_row(&self, caller: &Principal, name: &str) -> Result<ConnectionRow> {
        store::connections::find(&self.store, caller.org_id, name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("connection {name} not found")))
    }
}

#[cfg(test)]
mod status_tests {
    use super::*;

    /// The API sends the word the database holds, for every status.
    #[test]
    fn a_session_status_reads_as_stored() {
        for status in store::connections::SessionStatus::ALL {
            assert_eq!(
                serde_json::json!(SessionStatus::from(*status)),
                status.as_str()
            );
        }
    }
}
