//! What crosses between the server and the browser. Plain data, no secrets except the one
//! [`CreatedKey::secret`], which exists only in the create response.

use serde::{Deserialize, Serialize};

/// The logged-in caller, as the layout needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Me {
    pub name: String,
    pub email: Option<String>,
    pub org_name: String,
    pub is_admin: bool,
}

/// A moment shown as "3 minutes ago" with the exact RFC 3339 time on hover. The relative text
/// is computed on the server, so the hydrated page shows exactly what was rendered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct When {
    pub exact: String,
    pub relative: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub masked_key: String,
    pub active: bool,
    pub groups: Vec<String>,
    pub created_by: String,
    pub created_at: When,
    pub deactivated_by: Option<String>,
    pub deactivated_at: Option<When>,
    pub last_used_at: Option<When>,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedKey {
    pub key: KeyView,
    /// The raw `hpk_…` key: shown once, never stored, never sent again.
    pub secret: String,
}

impl std::fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKey")
            .field("key", &self.key)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// A connection the caller can reach. Never its target: that may hold a password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionView {
    pub name: String,
    pub kind: String,
    pub access_groups: Vec<String>,
    /// Marked by an admin: runs for its groups although its database role is privileged.
    pub privileged: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupView {
    pub name: String,
}

/// Shown next to the name field wherever keys, groups or connections are named.
pub const NAME_RULE: &str =
    "1–64 characters: letters, digits, '-', '_' or '.', starting with a letter or digit.";
