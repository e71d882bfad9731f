//! Connections: who may reach which database, and running scripts there under the caller's
//! identity. Used by the REST API, the web app and (through the API) the CLI.

mod exec;

use crate::{
    auth::{Identity, Principal},
    domain::{parse_groups_allow_empty, ConnectionName, GroupName},
    error::{Error, Result},
    store::{
        self,
        connections::{ConnectionRow, NewConnection, SessionRow},
        Store,
    },
};
use chrono::{DateTime, Utc};
pub use exec::Limits;
use exec::PgIdentity;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use uuid::Uuid;

/// The databases a connection can reach (documentation only: the service parses strings).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum ConnectionType {
    Postgres,
    Sqlite,
}

/// A connection as callers see it. `target` (which may hold a password) only for admins.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Connection {
    pub id: Uuid,
    pub name: String,
    #[serde(rename = "type")]
    #[schema(value_type = ConnectionType)]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub access_groups: Vec<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ConnectionSpec {
    #[schema(value_type = ConnectionName)]
    pub name: String,
    #[serde(rename = "type")]
    #[schema(value_type = ConnectionType)]
    pub kind: String,
    /// A `postgres://` URL, or the path of an existing SQLite file.
    #[schema(min_length = 1, pattern = "\\S")]
    pub target: String,
    /// None: admins only. Each must exist in the organization.
    #[serde(default)]
    #[schema(value_type = Vec<GroupName>)]
    pub access_groups: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct ConnectionChanges {
    #[schema(value_type = Option<ConnectionName>)]
    pub name: Option<String>,
    #[serde(rename = "type")]
    #[schema(value_type = Option<ConnectionType>)]
    pub kind: Option<String>,
    /// A `postgres://` URL, or the path of an existing SQLite file.
    #[schema(min_length = 1, pattern = "\\S")]
    pub target: Option<String>,
    /// None: admins only. Each must exist in the organization.
    #[schema(value_type = Option<Vec<GroupName>>)]
    pub access_groups: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExecResult {
    pub session_id: Uuid,
    pub output: String,
    #[schema(value_type = String)]
    pub output_status: &'static str,
    pub exit_code: i32,
    pub execution_time_ms: u64,
}

#[derive(Clone)]
pub struct ConnectionService {
    store: Store,
    limits: Limits,
    own_database: OwnDatabase,
}

/// The gateway's own database, which no connection may reach: a script there could give any key
/// the admin group, or read the browser sessions.
#[derive(Clone, Debug)]
pub struct OwnDatabase {
    /// Its file, through links and `..` (SQLite).
    sqlite: Option<std::path::PathBuf>,
    /// Its cluster and name, whatever host name or port a URL reaches it by (PostgreSQL).
    postgres: Option<PgIdentity>,
}

impl OwnDatabase {
    /// Identifies the database the gateway stores its own data in (`url` is how it connected).
    pub async fn of(store: &Store, url: &str) -> Self {
        match store {
            Store::Sqlite(_) => Self {
                sqlite: sqlite_file(url).and_then(|p| std::fs::canonicalize(p).ok()),
                postgres: None,
            },
            Store::Postgres(pool) => {
                let postgres = match pool.acquire().await {
                    Ok(mut conn) => PgIdentity::of(&mut conn).await,
                    Err(_) => None,
                };
                if postgres.is_none() {
                    tracing::warn!(
                        "cannot identify the gateway's own PostgreSQL database \
                         (pg_control_system() refused?): connections to it cannot be refused"
                    );
                }
                Self {
                    sqlite: None,
                    postgres,
                }
            }
        }
    }
}

fn own_database_reached() -> Error {
    Error::Invalid("target is the gateway's own database: no connection may reach it".into())
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
        created_by: row.created_by,
        created_at: row.created_at,
    }
}

/// The identity a session is recorded under: stable across renames of a key.
fn actor_id(caller: &Principal) -> String {
    match &caller.identity {
        Identity::User { id, .. } | Identity::ApiKey { id, .. } => id.to_string(),
        Identity::LegacyApiKey => crate::auth::LEGACY_ACTOR.to_owned(),
    }
}

/// The file behind a `sqlite:` URL (`None` for anything else).
pub fn sqlite_file(url: &str) -> Option<&std::path::Path> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    Some(std::path::Path::new(path.split('?').next().unwrap_or(path)))
}

fn parse_kind(kind: &str) -> Result<&'static str> {
    match kind {
        "postgres" => Ok("postgres"),
        "sqlite" => Ok("sqlite"),
        _ => Err(Error::Invalid(
            "type must be \"postgres\" or \"sqlite\"".into(),
        )),
    }
}

fn check_target(kind: &str, target: &str) -> Result<()> {
    let target = target.trim();
    let ok = match kind {
        "postgres" => target.starts_with("postgres://") || target.starts_with("postgresql://"),
        _ => !target.is_empty(),
    };
    if ok {
        Ok(())
    } else if kind == "postgres" {
        Err(Error::Invalid("target must be a postgres:// URL".into()))
    } else {
        Err(Error::Invalid(
            "target must be the path of a SQLite file".into(),
        ))
    }
}

impl ConnectionService {
    pub fn new(store: Store, limits: Limits, own_database: OwnDatabase) -> Self {
        Self {
            store,
            limits,
            own_database,
        }
    }

    /// Whatever path or `sqlite:` URL names the file, through links and `..` alike. A
    /// PostgreSQL target is identified once connected, at every exec (see `exec::run`).
    fn refuse_own_database(&self, kind: &str, target: &str) -> Result<()> {
        let Some(own) = &self.own_database.sqlite else {
            return Ok(());
        };
        let target = target.trim();
        let path = sqlite_file(target).unwrap_or(std::path::Path::new(target));
        let same = std::fs::canonicalize(path).is_ok_and(|p| &p == own);
        if kind == "sqlite" && same {
            return Err(own_database_reached());
        }
        Ok(())
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
        check_target(kind, &spec.target)?;
        self.refuse_own_database(kind, &spec.target)?;
        let groups = parse_groups_allow_empty(&spec.access_groups)?;
        let new = NewConnection {
            name: &name,
            kind,
            target: spec.target.trim(),
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
        check_target(kind, &target)?;
        self.refuse_own_database(kind, &target)?;
        let groups = parse_groups_allow_empty(
            changes
                .access_groups
                .as_ref()
                .unwrap_or(&current.access_groups),
        )?;
        let new = NewConnection {
            name: &new_name,
            kind,
            target: target.trim(),
            access_groups: &groups,
        };
        store::connections::update(&self.store, caller.org_id, current.id, new, caller.actor())
            .await?;
        self.get_row(caller, new_name.as_str())
            .await
            .map(|c| view(c, caller))
    }

    pub async fn delete(&self, caller: &Principal, name: &str) -> Result<()> {
        caller.require_admin()?;
        let current = self.get_row(caller, name).await?;
        store::connections::delete(&self.store, caller.org_id, &current, caller.actor()).await
    }

    /// Runs `script` on the connection as the caller, and records the session.
    pub async fn exec(&self, caller: &Principal, name: &str, script: &str) -> Result<ExecResult> {
        let conn = self.get_row(caller, name).await?;
        if !reaches(caller, &conn) {
            let needs = if conn.access_groups.is_empty() {
                "the admin group".to_owned()
            } else {
                format!("one of the groups {}", conn.access_groups.join(", "))
            };
            return Err(Error::Forbidden(format!(
                "forbidden: connection {} needs membership of {needs}",
                conn.name
            )));
        }
        if script.trim().is_empty() {
            return Err(Error::Invalid("script is empty".into()));
        }
        // Checked again here: the file a path names can change after the connection was made.
        self.refuse_own_database(&conn.kind, &conn.target)?;
        let started = Instant::now();
        let own = self.own_database.postgres.as_ref();
        let outcome = exec::run(&conn.kind, &conn.target, script, self.limits, own)
            .await
            .map_err(|exec::OwnDatabaseReached| own_database_reached())?;
        let elapsed = started.elapsed().as_millis() as u64;
        let (status, exit_code) = if outcome.success {
            ("success", 0)
        } else {
            ("failed", 1)
        };
        let session = SessionRow {
            id: Uuid::new_v4(),
            actor: caller.actor().to_owned(),
            actor_id: actor_id(caller),
            auth_method: caller.auth_method().to_owned(),
            connection: conn.name.clone(),
            script: script.to_owned(),
            status: status.to_owned(),
            exit_code: exit_code.into(),
            execution_time_ms: elapsed as i64,
            created_at: store::now(),
        };
        store::connections::insert_session(&self.store, caller.org_id, &session).await?;
        tracing::info!(connection = %conn.name, actor = caller.actor(), status, "exec");
        Ok(ExecResult {
            session_id: session.id,
            output: outcome.output,
            output_status: status,
            exit_code,
            execution_time_ms: elapsed,
        })
    }

    /// Admins see every session of the organization, others their own.
    pub async fn sessions(&self, caller: &Principal) -> Result<Vec<SessionRow>> {
        let only = (!caller.is_admin()).then(|| actor_id(caller));
        store::connections::list_sessions(&self.store, caller.org_id, only.as_deref(), 500).await
    }

    pub async fn session(&self, caller: &Principal, id: &str) -> Result<SessionRow> {
        let not_found = || Error::NotFound("session not found".into());
        let id = Uuid::parse_str(id).map_err(|_| not_found())?;
        let session = store::connections::get_session(&self.store, caller.org_id, id)
            .await?
            .ok_or_else(not_found)?;
        if caller.is_admin() || session.actor_id == actor_id(caller) {
            Ok(session)
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
