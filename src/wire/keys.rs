//! Managed API keys.

use super::expose;
use crate::{
    domain::{ApiKeyName, GroupName},
    secret::SecretString,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Admitted on every request.
    Active,
    /// Refused; `activate` admits the same secret again.
    Deactivated,
    /// Past its `expires_at`: refused until a `PUT` or an activation gives it a later one.
    Expired,
}

/// Sent with every answer to a key whose secret stops working within 7 days: when it does.
pub const KEY_EXPIRES_HEADER: &str = "hoop-key-expires";

/// The longest overlap a rotation may give the old secret.
pub const MAX_GRACE_SECONDS: u64 = 30 * 24 * 3600;

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
    /// The client address of that request (behind trusted proxies, the address they
    /// forwarded); null if never used.
    #[serde(default)]
    pub last_used_ip: Option<String>,
    /// The `User-Agent` of that request (control characters replaced, at most 256
    /// characters); null if never used or none was sent.
    #[serde(default)]
    pub last_used_user_agent: Option<String>,
    /// The last 5 distinct addresses it was used from, most recent first.
    #[serde(default)]
    pub recent_clients: Vec<RecentClient>,
    /// When it stops working (RFC 3339, UTC); null: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// After a rotation with an overlap: the old secret's preview, while it still works.
    pub previous_masked_key: Option<String>,
    /// When the old secret stops working; null when there is none.
    pub previous_expires_at: Option<DateTime<Utc>>,
    /// When one of its secrets was reported leaked (`POST /api/api-keys/leaked`); null: never,
    /// or rotated since. Activating it, or giving it a later expiry once expired, needs a
    /// rotation first or `accept_reported_secret`.
    #[serde(default)]
    pub leak_reported_at: Option<DateTime<Utc>>,
}

/// An address a key was used from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecentClient {
    #[schema(example = "203.0.113.7")]
    pub ip: String,
    /// The `User-Agent` last sent from there; null if none.
    pub user_agent: Option<String>,
    /// When the key was last used from there.
    pub last_seen_at: DateTime<Utc>,
}

/// One UTC day of a key's use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsageDay {
    /// The UTC day, `YYYY-MM-DD`.
    #[schema(value_type = String, format = Date, example = "2026-12-02")]
    pub date: NaiveDate,
    /// Requests the key was accepted for.
    pub requests: u64,
    /// Requests that presented it while it was deactivated or expired (or an old secret
    /// after its overlap).
    pub refused: u64,
    /// Scripts run with it (its recorded sessions).
    pub execs: u64,
}

/// `GET /api-keys/{name_or_id}/usage` parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// How many days, ending today (UTC); default 30.
    #[param(minimum = 1, maximum = 365)]
    pub days: Option<u32>,
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
    /// When it stops working (RFC 3339, in the future); absent or null: never, unless the
    /// gateway's maximum lifetime requires one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
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
    /// A new expiry (RFC 3339, in the future), or null for never; absent: unchanged. A later
    /// one makes an expired key work again, an earlier one shortens a live key at once.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    #[schema(value_type = Option<DateTime<Utc>>, nullable)]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// Needed (true) for a later expiry of an expired key whose secret was reported leaked:
    /// it brings that secret back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub accept_reported_secret: bool,
}

/// `POST /api/api-keys/{nameOrID}/activate`, optionally with a body: an expired key needs a new
/// expiry to be activated.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Activation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Needed (true) when a secret of the key was reported leaked and it was not rotated
    /// since: activating brings that secret back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub accept_reported_secret: bool,
}

/// `POST /api/api-keys/{nameOrID}/rotate`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rotation {
    /// How long the old secret keeps working, 0 (default: at once) to 2592000 (30 days); 0
    /// for a deactivated or expired key, whose secret works no longer (its new one works once
    /// it is activated or given a later expiry).
    #[serde(default)]
    #[schema(maximum = 2592000)]
    pub grace_seconds: u64,
}

/// `POST /api/api-keys/leaked`: keys found where they should not be.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeakReport {
    /// 1 to 100 strings; each that is a live secret of this gateway stops working at once.
    #[schema(min_items = 1, max_items = 100)]
    pub keys: Vec<String>,
}

/// The answer to a leak report: how many strings arrived, never whether any matched.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeakReceipt {
    pub received: usize,
}

/// `null` and absent told apart: `Some(None)` is an explicit null.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// `GET /api/api-keys` parameters. Without any of them the answer is the whole list as a plain
/// array (what hoop's clients expect); with any, one page: [`ApiKeyPage`]. Values are read as
/// text and parsed by the key service, so a bad one is a 422 that names its field.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyListQuery {
    /// Keys per page, 1 to 500; default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// The previous page's `next_cursor`: the page after it. Opaque.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Keys whose name contains this, ignoring case; taken literally (`%` and `_` are no
    /// wildcards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Keys in this state: `active`, `deactivated` or `expired`.
    #[param(value_type = Option<KeyStatus>)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Keys in this group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `name`, `created_at` (the default) or `last_used_at`; a leading `-` sorts descending.
    /// Keys never used sort as used before any that were: first ascending, last descending.
    /// Ties are broken by id.
    #[param(pattern = "^-?(name|created_at|last_used_at)$")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
}

impl KeyListQuery {
    /// Whether the caller asked for a page (any parameter given) rather than the plain list.
    pub fn wants_page(&self) -> bool {
        [
            &self.limit,
            &self.cursor,
            &self.q,
            &self.status,
            &self.group,
            &self.sort,
        ]
        .iter()
        .any(|p| p.is_some())
    }
}

/// One page of keys, in the order asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKeyPage {
    pub items: Vec<ApiKey>,
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

/// `GET /api/api-keys`: the plain array without parameters, a page with any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ApiKeyList {
    All(Vec<ApiKey>),
    Page(ApiKeyPage),
}
