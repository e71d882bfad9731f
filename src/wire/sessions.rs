//! Running scripts, and the record of each run (a session).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    /// The script ran to its end.
    Success,
    /// The database refused or failed it; `output` says why.
    Failed,
    /// Stopped while it ran because the caller's key stopped working (deactivated, expired,
    /// rotated out): its database work was cancelled, `reason` says why, and the caller was
    /// answered 401.
    Cancelled,
}

impl SessionStatus {
    pub fn from_success(success: bool) -> Self {
        if success {
            Self::Success
        } else {
            Self::Failed
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Script {
    /// Not blank.
    #[schema(min_length = 1, pattern = "\\S")]
    pub script: String,
}

/// hoop's published API runs scripts by creating a session.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewSession {
    /// The connection's name.
    pub connection: String,
    /// Not blank.
    #[schema(min_length = 1, pattern = "\\S")]
    pub script: String,
}

/// The answer to a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExecResult {
    /// The session that records this run.
    pub session_id: Uuid,
    /// TSV with a header row on success; the database's message on failure.
    pub output: String,
    pub output_status: SessionStatus,
    /// 0 on success, 1 on failure.
    pub exit_code: i32,
    pub execution_time_ms: u64,
}

/// `GET /sessions` parameters: a page of runs, newest first, narrowed by any of the filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionQuery {
    /// Only runs by this caller: its name (an email, a key's name) or its id (a key's id).
    pub caller: Option<String>,
    /// Only runs on this connection (its name when they ran).
    pub connection: Option<String>,
    /// Runs per page (default 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Only runs older than this session (the last `id` of the previous page).
    pub before: Option<Uuid>,
}

/// A recorded run: who ran what where, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Session {
    pub id: Uuid,
    /// Who ran it: an email, a key's name, or `legacy-api-key`.
    pub actor: String,
    /// `api_key`, `user_token`, `session` or `legacy_api_key`.
    pub auth_method: String,
    /// The connection's name when it ran.
    pub connection: String,
    pub script: String,
    pub status: SessionStatus,
    /// 0 on success, 1 on failure.
    pub exit_code: i64,
    pub execution_time_ms: i64,
    pub created_at: DateTime<Utc>,
    /// Why a `cancelled` session was stopped; null otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
