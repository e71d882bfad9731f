//! Login, "who am I", users and groups.

use super::expose;
use crate::{domain::GroupName, secret::SecretString};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Email and password, for a user access token.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Login {
    pub email: String,
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// A user access token (`hut_…`), valid 12 hours.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Token {
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String)]
    pub token: SecretString,
}

/// Who the caller is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserInfo {
    /// The user's or the key's id; null for the legacy static key.
    pub id: Option<Uuid>,
    /// The user's name, or the key's.
    pub name: String,
    /// Users only.
    pub email: Option<String>,
    pub org_id: Uuid,
    pub org_name: String,
    /// The groups whose rights the caller has, sorted.
    pub groups: Vec<String>,
    /// A member of the `admin` group (or the legacy static key).
    pub is_admin: bool,
    /// `api_key`, `user_token`, `session` or `legacy_api_key`.
    pub auth_method: String,
}

/// A group of the organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Group {
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewGroup {
    #[schema(value_type = GroupName)]
    pub name: String,
}

/// A user of the organization: never the password or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    pub id: Uuid,
    /// Lower case, unique within the gateway.
    pub email: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Sorted.
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewUserRequest {
    #[schema(format = Email)]
    pub email: String,
    /// Surrounding whitespace is dropped.
    #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
    pub name: String,
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String, format = Password, min_length = 8)]
    pub password: SecretString,
    /// At least one; each must exist in the organization.
    #[schema(value_type = Vec<GroupName>, min_items = 1)]
    pub groups: Vec<String>,
}
