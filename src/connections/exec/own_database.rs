//! Which database the gateway keeps its own data in, so that no connection reaches it.

use super::{
    postgres::PgIdentity,
    sqlite::{OwnSqlite, SqliteTarget},
};
use crate::store::{own::OwnIdentity, Store};

/// The gateway's own database, which no connection may reach: a script there could give any key
/// the admin group, or read the browser sessions.
#[derive(Debug, Clone, Default)]
pub struct OwnDatabase {
    pub(super) sqlite: Option<OwnSqlite>,
    /// `None`: the gateway does not store its data in PostgreSQL. `Err`: it does, but the
    /// server will not say which database it is, so no PostgreSQL target can be told apart
    /// from it.
    pub(super) postgres: Option<Result<PgIdentity, String>>,
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
