//! Connections: the databases the gateway reaches for its callers.

use crate::domain::{ConnectionName, GroupName};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The databases a connection can reach (documentation only: the service parses strings, so
/// an unknown type is a 422 that says which types there are).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum ConnectionType {
    Postgres,
    Sqlite,
}

/// A connection as callers see it. `target` (which may hold a password) only for admins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Connection {
    pub id: Uuid,
    pub name: String,
    #[serde(rename = "type")]
    #[schema(value_type = ConnectionType)]
    pub kind: String,
    /// A `postgres://` URL or the path of a SQLite file; absent unless the caller is an admin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The groups that may use it; none: admins only.
    pub access_groups: Vec<String>,
    /// An admin marked it privileged on purpose: non-admins may run it although its database
    /// role has powers over the server's host (superuser, server files, programs).
    pub privileged: bool,
    /// Who created it: an email, a key's name, or `legacy-api-key`.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// Let non-admins run it even when its database role is privileged (a PostgreSQL
    /// superuser, or a member of pg_read_server_files, pg_write_server_files or
    /// pg_execute_server_program, or CREATEROLE). Default false.
    #[serde(default)]
    pub privileged: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConnectionChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<ConnectionName>)]
    pub name: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<ConnectionType>)]
    pub kind: Option<String>,
    /// A `postgres://` URL, or the path of an existing SQLite file.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, pattern = "\\S")]
    pub target: Option<String>,
    /// None: admins only. Each must exist in the organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<GroupName>>)]
    pub access_groups: Option<Vec<String>>,
    /// See the connection's `privileged`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
}
