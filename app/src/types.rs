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

/// A key's state as the API reports it: "expired" is an active key past its expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    Active,
    Deactivated,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub masked_key: String,
    pub status: KeyState,
    pub groups: Vec<String>,
    pub created_by: String,
    pub created_at: When,
    pub deactivated_by: Option<String>,
    pub deactivated_at: Option<When>,
    pub last_used_at: Option<When>,
    /// `None`: never expires.
    pub expires_at: Option<When>,
    /// Its expiry has passed, whatever its status (a deactivated key may have expired too):
    /// activating it needs a new expiry.
    pub expired: bool,
    /// Active and expiring within [`WARN_DAYS`].
    pub expires_soon: bool,
    /// When the unused-key policy will deactivate it, if that is within [`WARN_DAYS`].
    pub unused_deactivation: Option<When>,
    /// The secret a rotation replaced, while its overlap lasts, and until when.
    pub previous_masked_key: Option<String>,
    pub previous_expires_at: Option<When>,
}

impl KeyView {
    pub fn is_active(&self) -> bool {
        self.status == KeyState::Active
    }
}

/// How far ahead the API Keys page warns about expiry and the unused-key policy (the same
/// horizon as the `Hoop-Key-Expires` header).
pub const WARN_DAYS: u32 = 7;

/// What the operator allows, for the expiry picker and the notices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyPolicyView {
    /// `HOOP_API_KEY_MAX_LIFETIME_DAYS`: no "never", nothing further away.
    pub max_lifetime_days: Option<u32>,
    /// `HOOP_API_KEY_DEACTIVATE_UNUSED_DAYS`.
    pub deactivate_unused_days: Option<u32>,
    /// The earliest and latest dates (YYYY-MM-DD, UTC) the date input accepts: a date means
    /// 00:00:00 UTC at its start, which must be in the future and within the lifetime.
    pub min_date: String,
    pub max_date: Option<String>,
}

impl KeyPolicyView {
    /// The "in N days" choices the policy allows.
    pub fn preset_days(&self) -> Vec<u32> {
        EXPIRY_PRESET_DAYS
            .into_iter()
            .filter(|d| self.max_lifetime_days.is_none_or(|max| *d <= max))
            .collect()
    }

    /// What a new key's picker starts at: never when allowed (as before expiry existed),
    /// else the longest allowed preset, else a date.
    pub fn default_choice(&self) -> String {
        match (self.max_lifetime_days, self.preset_days().last()) {
            (None, _) => "never".into(),
            (Some(_), Some(days)) => days.to_string(),
            (Some(_), None) => "date".into(),
        }
    }
}

pub const EXPIRY_PRESET_DAYS: [u32; 4] = [7, 30, 90, 365];

/// An expiry as the picker sends it: the `<select>` value, and the date input, read only
/// when the select says "date".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpiryChoice {
    /// Configure only: leave the expiry as it is.
    Keep,
    Never,
    Days(u32),
    /// YYYY-MM-DD: 00:00:00 UTC at the start of that day.
    Date(String),
}

impl ExpiryChoice {
    /// Reads the picker's two fields; `None` when the select was not sent (`absent`).
    pub fn from_form(
        choice: Option<&str>,
        date: Option<&str>,
        absent: ExpiryChoice,
    ) -> Result<Self, String> {
        match choice.map(str::trim) {
            None | Some("") => Ok(absent),
            Some("keep") => Ok(Self::Keep),
            Some("never") => Ok(Self::Never),
            Some("date") => match date.map(str::trim) {
                Some(d) if !d.is_empty() => Ok(Self::Date(d.to_owned())),
                _ => Err("choose a date for the key to expire on".into()),
            },
            Some(days) => days
                .parse::<u32>()
                .map(Self::Days)
                .map_err(|_| format!("unknown expiry choice {days:?}")),
        }
    }
}

/// Rotation overlaps offered in the dialog: label and seconds.
pub const ROTATION_OVERLAPS: [(&str, u64); 4] = [
    ("None: the old key stops working now", 0),
    ("1 hour", 3600),
    ("24 hours", 86_400),
    ("7 days", 604_800),
];

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
