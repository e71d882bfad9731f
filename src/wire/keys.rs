//! Managed API keys.

use super::expose;
use crate::{
    domain::{ApiKeyName, GroupName},
    secret::SecretString,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Admitted on every request.
    Active,
    /// Refused; `activate` admits the same secret again.
    Deactivated,
}

/// A key as callers see it: never its hash, never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: Uuid,
    /// The organization the key belongs to.
    pub org_id: Uuid,
    /// Unique within the organization.
    pub name: String,
    /// The first 8 characters of the secret, then `*`: enough to recognise it.
    #[schema(example = "hpk_AbCd***************************************")]
    pub masked_key: String,
    pub status: KeyStatus,
    /// The groups whose rights the key has, sorted.
    pub groups: Vec<String>,
    /// Who created it: an email, a key's name, or `legacy-api-key`.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Who deactivated it; null while it is active.
    pub deactivated_by: Option<String>,
    /// When it was deactivated; null while it is active.
    pub deactivated_at: Option<DateTime<Utc>>,
    /// When it last authenticated a request (written about once a second); null if never.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The create response: the key plus, this once, its secret.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The key itself: shown this once, never again.
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String, pattern = "^hpk_[A-Za-z0-9_-]{43}$")]
    pub key: SecretString,
}

/// What a create request asks for, before parsing.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewApiKey {
    #[schema(value_type = ApiKeyName)]
    pub name: String,
    /// At least one; each must exist in the organization.
    #[schema(value_type = Vec<GroupName>, min_items = 1)]
    pub groups: Vec<String>,
}

/// A configure request: absent fields stay as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<ApiKeyName>)]
    pub name: Option<String>,
    /// At least one; each must exist in the organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<GroupName>>, min_items = 1)]
    pub groups: Option<Vec<String>>,
}
