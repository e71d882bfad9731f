//! Every change the audit log records, as one type: each kind knows its action, the type of its
//! target, and how its details render, so the same change is audited the same way wherever it
//! is made. Details are built from public fields only: no variant holds a secret (a raw key, a
//! password hash, a connection's target, which may carry a password).

use super::super::key_status::KeyStatus;
use crate::domain::{ApiKeyName, ConnectionName, Email, GroupName};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

/// One field's change, rendered `{"from": …, "to": …}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FromTo<T> {
    pub from: T,
    pub to: T,
}

#[derive(Debug, Clone)]
pub enum Change<'a> {
    ApiKeyCreated {
        id: Uuid,
        name: &'a ApiKeyName,
        groups: &'a [GroupName],
        masked_key: &'a str,
        expires_at: Option<DateTime<Utc>>,
    },
    /// A rename, a regrouping or both; `name` is the key's name after the change.
    ApiKeyUpdated {
        id: Uuid,
        name: &'a str,
        renamed: Option<FromTo<&'a str>>,
        regrouped: Option<FromTo<&'a [String]>>,
        expiry: Option<FromTo<Option<DateTime<Utc>>>>,
        /// A later expiry brought back a secret reported leaked, as the admin said it may.
        accepted_reported_secret: bool,
    },
    /// `expiry`: an expired key is activated with a new expiry.
    ApiKeyActivated {
        id: Uuid,
        name: &'a str,
        expiry: Option<FromTo<Option<DateTime<Utc>>>>,
        /// It brought back a secret reported leaked, as the admin said it may.
        accepted_reported_secret: bool,
    },
    /// `reason`: why, when the gateway did it on its own (an unused key).
    ApiKeyDeactivated {
        id: Uuid,
        name: &'a str,
        reason: Option<&'a str>,
    },
    /// A new secret; the old one works until `previous_expires_at` (none: ended at once).
    ApiKeyRotated {
        id: Uuid,
        name: &'a str,
        masked_key: &'a str,
        grace_seconds: u64,
        previous_masked_key: &'a str,
        previous_expires_at: Option<DateTime<Utc>>,
    },
    /// Its `expires_at` passed (written once per expiry, by the gateway).
    ApiKeyExpired {
        id: Uuid,
        name: &'a str,
        expires_at: DateTime<Utc>,
    },
    /// Its `expires_at` is less than 7 days away (written once per expiry).
    ApiKeyExpiring {
        id: Uuid,
        name: &'a str,
        expires_at: DateTime<Utc>,
    },
    /// Someone reported one of its secrets as leaked: it was deactivated (`deactivated`; or it
    /// was already) and marked. `reporter` is the reporting client's address; `masked_key`
    /// says which secret matched, by its preview.
    ApiKeyLeakReported {
        id: Uuid,
        name: &'a str,
        reporter: &'a str,
        masked_key: &'a str,
        deactivated: bool,
    },
    /// First use from an address the key had not been used from in 30 days.
    ApiKeyNewClient {
        id: Uuid,
        name: &'a str,
        ip: &'a str,
        user_agent: Option<&'a str>,
    },
    UserCreated {
        id: Uuid,
        email: &'a Email,
        name: &'a str,
        groups: &'a [GroupName],
    },
    GroupCreated {
        name: &'a GroupName,
    },
    /// The connection's settings, without its target.
    ConnectionCreated {
        id: Uuid,
        name: &'a ConnectionName,
        kind: &'a str,
        access_groups: &'a [GroupName],
        privileged: bool,
    },
    /// The settings after the change, as for a creation (the target left out).
    ConnectionUpdated {
        id: Uuid,
        name: &'a ConnectionName,
        kind: &'a str,
        access_groups: &'a [GroupName],
        privileged: bool,
    },
    ConnectionDeleted {
        id: Uuid,
        name: &'a str,
    },
}

impl Change<'_> {
    /// What happened, as stored and sent: `<target type>.<verb>`.
    pub fn action(&self) -> &'static str {
        match self {
            Change::ApiKeyCreated { .. } => "api_key.created",
            Change::ApiKeyUpdated { .. } => "api_key.updated",
            Change::ApiKeyActivated { .. } => "api_key.activated",
            Change::ApiKeyDeactivated { .. } => "api_key.deactivated",
            Change::ApiKeyRotated { .. } => "api_key.rotated",
            Change::ApiKeyExpired { .. } => "api_key.expired",
            Change::ApiKeyExpiring { .. } => "api_key.expiring",
            Change::ApiKeyLeakReported { .. } => "api_key.leak_reported",
            Change::ApiKeyNewClient { .. } => "api_key.new_client",
            Change::UserCreated { .. } => "user.created",
            Change::GroupCreated { .. } => "group.created",
            Change::ConnectionCreated { .. } => "connection.created",
            Change::ConnectionUpdated { .. } => "connection.updated",
            Change::ConnectionDeleted { .. } => "connection.deleted",
        }
    }

    pub fn target_type(&self) -> &'static str {
        match self {
            Change::ApiKeyCreated { .. }
            | Change::ApiKeyUpdated { .. }
            | Change::ApiKeyActivated { .. }
            | Change::ApiKeyDeactivated { .. }
            | Change::ApiKeyRotated { .. }
            | Change::ApiKeyExpired { .. }
            | Change::ApiKeyExpiring { .. }
            | Change::ApiKeyLeakReported { .. }
            | Change::ApiKeyNewClient { .. } => "api_key",
            Change::UserCreated { .. } => "user",
            Change::GroupCreated { .. } => "group",
            Change::ConnectionCreated { .. }
            | Change::ConnectionUpdated { .. }
            | Change::ConnectionDeleted { .. } => "connection",
        }
    }

    /// The target's id: a UUID, or the name for groups (which have no other).
    pub fn target_id(&self) -> String {
        match self {
            Change::ApiKeyCreated { id, .. }
            | Change::ApiKeyUpdated { id, .. }
            | Change::ApiKeyActivated { id, .. }
            | Change::ApiKeyDeactivated { id, .. }
            | Change::ApiKeyRotated { id, .. }
            | Change::ApiKeyExpired { id, .. }
            | Change::ApiKeyExpiring { id, .. }
            | Change::ApiKeyLeakReported { id, .. }
            | Change::ApiKeyNewClient { id, .. }
            | Change::UserCreated { id, .. }
            | Change::ConnectionCreated { id, .. }
            | Change::ConnectionUpdated { id, .. }
            | Change::ConnectionDeleted { id, .. } => id.to_string(),
            Change::GroupCreated { name } => name.to_string(),
        }
    }

    /// The target's name: a user's is their email.
    pub fn target_name(&self) -> &str {
        match self {
            Change::ApiKeyCreated { name, .. } => name.as_str(),
            Change::ApiKeyUpdated { name, .. }
            | Change::ApiKeyActivated { name, .. }
            | Change::ApiKeyDeactivated { name, .. }
            | Change::ApiKeyRotated { name, .. }
            | Change::ApiKeyExpired { name, .. }
            | Change::ApiKeyExpiring { name, .. }
            | Change::ApiKeyLeakReported { name, .. }
            | Change::ApiKeyNewClient { name, .. }
            | Change::ConnectionDeleted { name, .. } => name,
            Change::UserCreated { email, .. } => email.as_str(),
            Change::GroupCreated { name } => name.as_str(),
            Change::ConnectionCreated { name, .. } | Change::ConnectionUpdated { name, .. } => {
                name.as_str()
            }
        }
    }

    /// What changed: a creation's public fields, an update's `{"field": {"from", "to"}}`.
    pub fn details(&self) -> Value {
        match self {
            Change::ApiKeyCreated {
                groups,
                masked_key,
                expires_at,
                ..
            } => {
                let mut details = json!({ "groups": groups, "masked_key": masked_key });
                if let Some(expires_at) = expires_at {
                    details["expires_at"] = json!(expires_at);
                }
                details
            }
            Change::ApiKeyUpdated {
                renamed,
                regrouped,
                expiry,
                accepted_reported_secret,
                ..
            } => {
                let mut changes = serde_json::Map::new();
                if let Some(renamed) = renamed {
                    changes.insert("name".into(), json!(renamed));
                }
                if let Some(regrouped) = regrouped {
                    changes.insert("groups".into(), json!(regrouped));
                }
                if let Some(expiry) = expiry {
                    changes.insert("expires_at".into(), json!(expiry));
                }
                if *accepted_reported_secret {
                    changes.insert("accepted_reported_secret".into(), json!(true));
                }
                Value::Object(changes)
            }
            Change::ApiKeyActivated {
                expiry,
                accepted_reported_secret,
                ..
            } => {
                let mut details = status_change(KeyStatus::Active);
                if let Some(expiry) = expiry {
                    details["expires_at"] = json!(expiry);
                }
                if *accepted_reported_secret {
                    details["accepted_reported_secret"] = json!(true);
                }
                details
            }
            Change::ApiKeyDeactivated { reason, .. } => {
                let mut details = status_change(KeyStatus::Deactivated);
                if let Some(reason) = reason {
                    details["reason"] = json!(reason);
                }
                details
            }
            Change::ApiKeyRotated {
                masked_key,
                grace_seconds,
                previous_masked_key,
                previous_expires_at,
                ..
            } => json!({
                "masked_key": FromTo { from: previous_masked_key, to: masked_key },
                "grace_seconds": grace_seconds,
                "previous_expires_at": previous_expires_at,
            }),
            Change::ApiKeyExpired { expires_at, .. }
            | Change::ApiKeyExpiring { expires_at, .. } => json!({ "expires_at": expires_at }),
            Change::ApiKeyNewClient { ip, user_agent, .. } => {
                json!({ "ip": ip, "user_agent": user_agent })
            }
            Change::ApiKeyLeakReported {
                reporter,
                masked_key,
                deactivated,
                ..
            } => {
                let mut details = json!({ "reporter_ip": reporter, "masked_key": masked_key });
                if *deactivated {
                    details["status"] = status_change(KeyStatus::Deactivated)["status"].take();
                }
                details
            }
            Change::UserCreated { name, groups, .. } => json!({ "name": name, "groups": groups }),
            Change::GroupCreated { .. } | Change::ConnectionDeleted { .. } => json!({}),
            Change::ConnectionCreated {
                kind,
                access_groups,
                privileged,
                ..
            }
            | Change::ConnectionUpdated {
                kind,
                access_groups,
                privileged,
                ..
            } => json!({ "type": kind, "access_groups": access_groups, "privileged": privileged }),
        }
    }
}

/// A key has two states: it is audited only when it moves from one to the other.
fn status_change(to: KeyStatus) -> Value {
    let from = match to {
        KeyStatus::Active => KeyStatus::Deactivated,
        KeyStatus::Deactivated => KeyStatus::Active,
    };
    json!({ "status": FromTo { from: from.as_str(), to: to.as_str() } })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(names: &[&str]) -> Vec<GroupName> {
        names.iter().map(|g| GroupName::parse(g).unwrap()).collect()
    }

    /// Each kind of change with its action, target and details, as the audit log has always
    /// stored them (the API's consumers read these strings).
    #[test]
    fn every_change_renders_as_stored() {
        let id = Uuid::from_u128(7);
        let key = ApiKeyName::parse("ci").unwrap();
        let conn = ConnectionName::parse("reports").unwrap();
        let ops = groups(&["ops", "admin"]);
        let email = Email::parse("Ada@Example.com").unwrap();
        let before = vec!["admin".to_owned()];
        let after = vec!["ops".to_owned()];
        let cases = [
            (
                Change::ApiKeyCreated {
                    id,
                    name: &key,
                    groups: &ops,
                    masked_key: "hpk_AbCd***",
                    expires_at: None,
                },
                "api_key.created",
                "api_key",
                "ci",
                json!({ "groups": ["ops", "admin"], "masked_key": "hpk_AbCd***" }),
            ),
            (
                Change::ApiKeyUpdated {
                    id,
                    name: "ci-2",
                    renamed: Some(FromTo {
                        from: "ci",
                        to: "ci-2",
                    }),
                    regrouped: Some(FromTo {
                        from: &before,
                        to: &after,
                    }),
                    expiry: None,
                    accepted_reported_secret: false,
                },
                "api_key.updated",
                "api_key",
                "ci-2",
                json!({
                    "name": { "from": "ci", "to": "ci-2" },
                    "groups": { "from": ["admin"], "to": ["ops"] },
                }),
            ),
            (
                Change::ApiKeyUpdated {
                    id,
                    name: "ci",
                    renamed: None,
                    regrouped: Some(FromTo {
                        from: &before,
                        to: &after,
                    }),
                    expiry: None,
                    accepted_reported_secret: false,
                },
                "api_key.updated",
                "api_key",
                "ci",
                json!({ "groups": { "from": ["admin"], "to": ["ops"] } }),
            ),
            (
                Change::ApiKeyActivated {
                    id,
                    name: "ci",
                    expiry: None,
                    accepted_reported_secret: false,
                },
                "api_key.activated",
                "api_key",
                "ci",
                json!({ "status": { "from": "deactivated", "to": "active" } }),
            ),
            (
                Change::ApiKeyActivated {
                    id,
                    name: "ci",
                    expiry: None,
                    accepted_reported_secret: true,
                },
                "api_key.activated",
                "api_key",
                "ci",
                json!({
                    "status": { "from": "deactivated", "to": "active" },
                    "accepted_reported_secret": true,
                }),
            ),
            (
                Change::ApiKeyLeakReported {
                    id,
                    name: "ci",
                    reporter: "192.0.2.1",
                    masked_key: "hpk_AbCd***",
                    deactivated: false,
                },
                "api_key.leak_reported",
                "api_key",
                "ci",
                json!({ "reporter_ip": "192.0.2.1", "masked_key": "hpk_AbCd***" }),
            ),
            (
                Change::ApiKeyDeactivated {
                    id,
                    name: "ci",
                    reason: None,
                },
                "api_key.deactivated",
                "api_key",
                "ci",
                json!({ "status": { "from": "active", "to": "deactivated" } }),
            ),
            (
                Change::UserCreated {
                    id,
                    email: &email,
                    name: "Ada",
                    groups: &ops,
                },
                "user.created",
                "user",
                "ada@example.com",
                json!({ "name": "Ada", "groups": ["ops", "admin"] }),
            ),
            (
                Change::ConnectionCreated {
                    id,
                    name: &conn,
                    kind: "postgres",
                    access_groups: &ops,
                    privileged: false,
                },
                "connection.created",
                "connection",
                "reports",
                json!({ "type": "postgres", "access_groups": ["ops", "admin"], "privileged": false }),
            ),
            (
                Change::ConnectionUpdated {
                    id,
                    name: &conn,
                    kind: "sqlite",
                    access_groups: &[],
                    privileged: true,
                },
                "connection.updated",
                "connection",
                "reports",
                json!({ "type": "sqlite", "access_groups": [], "privileged": true }),
            ),
            (
                Change::ConnectionDeleted {
                    id,
                    name: "reports",
                },
                "connection.deleted",
                "connection",
                "reports",
                json!({}),
            ),
        ];
        for (change, action, target_type, target_name, details) in cases {
            assert_eq!(change.action(), action);
            assert_eq!(change.target_type(), target_type, "{action}");
            assert_eq!(change.target_id(), id.to_string(), "{action}");
            assert_eq!(change.target_name(), target_name, "{action}");
            assert_eq!(change.details(), details, "{action}");
        }
    }

    /// A group has no id but its name.
    #[test]
    fn a_group_is_its_own_id() {
        let name = GroupName::parse("ops").unwrap();
        let change = Change::GroupCreated { name: &name };
        assert_eq!(change.action(), "group.created");
        assert_eq!(change.target_type(), "group");
        assert_eq!(change.target_id(), "ops");
        assert_eq!(change.target_name(), "ops");
        assert_eq!(change.details(), json!({}));
    }
}
