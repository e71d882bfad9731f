//! The audit log: one event per change of a key, user, group or connection.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `GET /audit` parameters: a page of the log, newest first, narrowed by any of the filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events by this actor (an email, a key's name, or `legacy-api-key`).
    pub actor: Option<String>,
    /// Only events of this action, such as `api_key.created`.
    pub action: Option<String>,
    /// Only events about this target: its id, or its name when the event happened.
    pub target: Option<String>,
    /// Events per page (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Only events older than this event id (the last `id` of the previous page).
    pub before: Option<i64>,
}

/// What an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Target {
    /// `api_key`, `user`, `group` or `connection`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The key's, user's or connection's id; a group's name.
    pub id: String,
    /// Its name (a user's email) when the event happened.
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    /// Increasing: pass the last one seen as `before` to get the next page.
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Who made the change: an email, a key's name, or `legacy-api-key`.
    pub actor: String,
    /// `<target type>.<verb>`, such as `api_key.created` or `connection.updated`.
    pub action: String,
    pub target: Target,
    /// The fields the event records, by name. A creation records the new values
    /// (`{"groups": ["ops"]}`); a change records each field that changed as a
    /// `Change` (`{"name": {"from": "a", "to": "b"}}`). Never a secret.
    pub details: BTreeMap<String, Detail>,
}

/// One recorded field: a value, or how it changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Detail {
    Change(Change),
    Value(DetailValue),
}

/// A field's value before and after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Change {
    pub from: DetailValue,
    pub to: DetailValue,
}

impl<'de> Deserialize<'de> for Change {
    /// Only from an object: serde's derived struct also reads a two-item array as `[from, to]`,
    /// which would turn a recorded list of two groups into a change.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            from: DetailValue,
            to: DetailValue,
        }
        let value = serde_json::Value::deserialize(deserializer)?;
        if !value.is_object() {
            return Err(D::Error::custom("a change is an object {from, to}"));
        }
        let Fields { from, to } = Fields::deserialize(value).map_err(D::Error::custom)?;
        Ok(Self { from, to })
    }
}

/// A recorded value: never an object, so a `Detail` is a change exactly when it is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum DetailValue {
    /// A name, status or type.
    Text(String),
    Number(i64),
    Flag(bool),
    /// Groups.
    List(Vec<String>),
    /// Not set: an expiry of never, an overlap that ended at once.
    Null,
}

impl From<&str> for DetailValue {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

impl<const N: usize> From<[&str; N]> for DetailValue {
    fn from(items: [&str; N]) -> Self {
        Self::List(items.iter().map(|s| (*s).to_owned()).collect())
    }
}

impl Detail {
    /// A change from `from` to `to`, to compare against.
    pub fn change(from: impl Into<DetailValue>, to: impl Into<DetailValue>) -> Self {
        Self::Change(Change {
            from: from.into(),
            to: to.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every shape the writers record reads back as itself, byte for byte.
    #[test]
    fn details_read_and_write_the_recorded_json() {
        for details in [
            json!({}),
            json!({"groups": ["admin"], "masked_key": "hpk_AbCd****"}),
            json!({"type": "sqlite", "access_groups": [], "privileged": false}),
            json!({"name": {"from": "a", "to": "b"}, "groups": {"from": ["a"], "to": ["b", "c"]}}),
            json!({"status": {"from": "active", "to": "deactivated"}}),
            json!({"count": 3}),
            json!({"groups": ["admin", "ops"]}),
            json!({"expires_at": {"from": null, "to": "2027-01-31T00:00:00Z"}}),
            json!({"masked_key": {"from": "hpk_a***", "to": "hpk_b***"}, "grace_seconds": 3600, "previous_expires_at": null}),
        ] {
            let typed: BTreeMap<String, Detail> = serde_json::from_value(details.clone()).unwrap();
            assert_eq!(serde_json::to_value(&typed).unwrap(), details);
        }
        let typed: BTreeMap<String, Detail> =
            serde_json::from_value(json!({"name": {"from": "a", "to": "b"}})).unwrap();
        assert_eq!(typed["name"], Detail::change("a", "b"));
        let typed: BTreeMap<String, Detail> =
            serde_json::from_value(json!({"groups": ["admin", "ops"]})).unwrap();
        assert_eq!(typed["groups"], Detail::Value(["admin", "ops"].into()));
    }

    /// An object that is not exactly `{from, to}` is not silently read as a change.
    #[test]
    fn only_from_and_to_make_a_change() {
        for odd in [
            json!({"x": {"from": "a", "to": "b", "why": "c"}}),
            json!({"x": {"from": "a"}}),
        ] {
            assert!(serde_json::from_value::<BTreeMap<String, Detail>>(odd).is_err());
        }
    }
}
