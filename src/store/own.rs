//! Which database the gateway keeps its own data in, as that database tells it: exec compares
//! every target with it, so that no connection reaches the keys, users and sessions.

use super::Store;
use std::path::PathBuf;

/// Asked of every server in the same words, schema-qualified so that no function a role put on
/// its search path can answer in place of the catalog's.
pub const IDENTITY_SQL: &str =
    "SELECT (SELECT system_identifier FROM pg_catalog.pg_control_system())::text, \
     pg_catalog.current_database()::text";

/// A PostgreSQL database as the server itself knows it: the cluster's system identifier and
/// the database's name. Two URLs that differ in host name, address or port but reach the same
/// database have the same identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgIdentity {
    pub system: String,
    pub database: String,
}

#[derive(Debug)]
pub enum OwnIdentity {
    /// The file SQLite opened; `None` for an in-memory database.
    SqliteFile(Option<PathBuf>),
    /// What the server says, or why it would not (the role may not run
    /// `pg_control_system()`).
    Postgres(Result<PgIdentity, sqlx::Error>),
}

impl Store {
    /// Which database this is. An error only when SQLite cannot say which file it opened.
    pub async fn own_identity(&self) -> Result<OwnIdentity, sqlx::Error> {
        Ok(match self {
            Store::Sqlite(sqlite) => {
                let file: String =
                    sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                        .fetch_one(&sqlite.pool)
                        .await?;
                OwnIdentity::SqliteFile((!file.is_empty()).then(|| PathBuf::from(file)))
            }
            Store::Postgres(pool) => OwnIdentity::Postgres(
                sqlx::query_as(IDENTITY_SQL)
                    .fetch_one(pool)
                    .await
                    .map(|(system, database)| PgIdentity { system, database }),
            ),
        })
    }
}
