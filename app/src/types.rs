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
    /// When one of its secrets was reported leaked, until it is rotated (or the admin brings
    /// the secret back knowingly).
    pub leak_reported_at: Option<When>,
}

impl KeyView {
    pub fn is_active(&self) -> bool {
        self.status == KeyState::Active
    }

    /// Activating it cannot happen in place: an expired key needs a new expiry, and one whose
    /// secret was reported leaked needs a rotation or a deliberate "bring it back" (both on the
    /// configure page).
    pub fn activates_on_configure(&self) -> bool {
        self.expired || self.leak_reported_at.is_some()
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

/// A place a key was used from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientView {
    pub ip: String,
    pub user_agent: Option<String>,
    pub last_seen: When,
}

/// One UTC day of a key's use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageDayView {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub requests: u64,
    pub refused: u64,
    pub execs: u64,
}

/// One recorded field of an audit event, as text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DetailView {
    Value {
        field: String,
        value: String,
    },
    Change {
        field: String,
        from: String,
        to: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEventView {
    pub id: i64,
    pub at: When,
    pub actor: String,
    pub action: String,
    /// `api_key`, `user`, `group` or `connection`.
    pub target_kind: String,
    pub target_id: String,
    pub target_name: String,
    /// Where the target is shown: its key page, the connections or groups page, or the
    /// events about a user.
    pub target_href: String,
    pub details: Vec<DetailView>,
}

/// A recorded exec run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    pub id: String,
    pub actor: String,
    /// `api_key`, `user_token`, `session` or `legacy_api_key`.
    pub auth_method: String,
    pub connection: String,
    pub succeeded: bool,
    /// Why it was stopped, when the caller's key stopped working while it ran.
    pub cancelled: Option<String>,
    pub exit_code: i64,
    pub duration_ms: i64,
    pub at: When,
}

/// Everything a key's own page shows, in one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyDetailView {
    pub key: KeyView,
    pub last_used_ip: Option<String>,
    pub last_used_user_agent: Option<String>,
    pub recent_clients: Vec<ClientView>,
    /// The last [`USAGE_DAYS`] days, oldest first, ending today (UTC).
    pub usage: Vec<UsageDayView>,
    /// Its newest audit events (at most [`KEY_PAGE_ROWS`]).
    pub events: Vec<AuditEventView>,
    /// Its newest exec sessions (at most [`KEY_PAGE_ROWS`]).
    pub sessions: Vec<SessionView>,
}

pub const USAGE_DAYS: u32 = 30;
pub const KEY_PAGE_ROWS: i64 = 10;
/// Rows per page of the audit log and the sessions list.
pub const PAGE_ROWS: i64 = 50;

/// The audit log's filters, as the page's URL carries them. Blank means no filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    /// Only events older than this event id.
    pub before: Option<i64>,
}

impl AuditFilter {
    /// Whether any filter narrows the log (paging does not).
    pub fn narrows(&self) -> bool {
        self.actor.is_some() || self.action.is_some() || self.target.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub events: Vec<AuditEventView>,
    /// The `before` for the next, older page; `None` on the last one.
    pub older: Option<i64>,
}

/// The sessions list's filters, as the page's URL carries them. Blank means no filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionFilter {
    /// The caller's name, or a key's id.
    pub caller: Option<String>,
    pub connection: Option<String>,
    /// Only sessions older than this session id.
    pub before: Option<String>,
}

impl SessionFilter {
    /// Whether any filter narrows the list (paging does not).
    pub fn narrows(&self) -> bool {
        self.caller.is_some() || self.connection.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionsPage {
    pub sessions: Vec<SessionView>,
    /// The `before` for the next, older page; `None` on the last one.
    pub older: Option<String>,
}

/// The key list's state, as the page's URL carries it (`?q=&status=&group=&sort=&cursor=`):
/// the raw values, parsed by the server. Empty means not given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyFilter {
    pub q: String,
    pub status: String,
    pub group: String,
    pub sort: String,
    pub cursor: String,
}

impl KeyFilter {
    /// Whether anything narrows the list (the sort and the page do not).
    pub fn is_filtered(&self) -> bool {
        !(self.q.trim().is_empty() && self.status.is_empty() && self.group.is_empty())
    }

    /// The list page's URL for this state; `cursor` replaces this one's (`None`: first page).
    pub fn href(&self, cursor: Option<&str>) -> String {
        let pairs = [
            ("q", self.q.as_str()),
            ("status", self.status.as_str()),
            ("group", self.group.as_str()),
            ("sort", self.sort.as_str()),
            ("cursor", cursor.unwrap_or_default()),
        ];
        let query: Vec<String> = pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", encode_component(v)))
            .collect();
        match query.is_empty() {
            true => KEYS_PATH.to_owned(),
            false => format!("{KEYS_PATH}?{}", query.join("&")),
        }
    }
}

pub const KEYS_PATH: &str = "/settings/api-keys";

/// Percent-encodes all but the unreserved characters (RFC 3986), for a query value.
fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One page of the key list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyPageView {
    pub keys: Vec<KeyView>,
    /// The next page's cursor; `None` on the last.
    pub next_cursor: Option<String>,
}

/// What the list page warns about, counted on the server over all keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyNoticesView {
    /// Active keys expiring within [`WARN_DAYS`].
    pub expiring: u64,
    /// Keys the unused-key policy deactivates within [`WARN_DAYS`].
    pub unused: u64,
    /// The first few of them, longest idle first.
    pub unused_names: Vec<String>,
    /// `HOOP_API_KEY_DEACTIVATE_UNUSED_DAYS`.
    pub unused_days: Option<u32>,
}

#[cfg(test)]
mod key_filter_tests {
    use super::KeyFilter;

    #[test]
    fn href_carries_the_state_encoded() {
        let f = KeyFilter {
            q: "a b&c".into(),
            status: "active".into(),
            sort: "-name".into(),
            ..Default::default()
        };
        assert_eq!(
            f.href(Some("eyJ=")),
            "/settings/api-keys?q=a%20b%26c&status=active&sort=-name&cursor=eyJ%3D"
        );
        assert_eq!(KeyFilter::default().href(None), "/settings/api-keys");
    }
}
