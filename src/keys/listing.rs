//! The key list's query, parsed once: what `GET /api/api-keys` and the web list accept. Each
//! rejected value is a [`Violation`] naming its parameter.

use crate::{
    domain::{given, GroupName, Violation},
    store::key_list::{After, Column, Order, SortValue, StateIs},
    wire::keys::{KeyListQuery, KeyStatus},
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;
/// A search longer than any name cannot match; refusing it keeps patterns small.
const MAX_Q: usize = 64;

/// A parsed list query.
#[derive(Debug, Clone)]
pub struct KeyQuery {
    pub name_contains: Option<String>,
    pub status: Option<KeyStatus>,
    pub group: Option<GroupName>,
    pub order: Order,
    pub limit: u32,
    pub after: Option<After>,
}

impl Default for KeyQuery {
    fn default() -> Self {
        Self {
            name_contains: None,
            status: None,
            group: None,
            order: Order::default(),
            limit: DEFAULT_LIMIT,
            after: None,
        }
    }
}

impl KeyQuery {
    pub fn parse(raw: &KeyListQuery) -> Result<Self, Violation> {
        let limit = match given(&raw.limit) {
            None => DEFAULT_LIMIT,
            Some(l) => l
                .parse::<u32>()
                .ok()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or_else(|| {
                    Violation::of("limit", format!("limit must be between 1 and {MAX_LIMIT}"))
                })?,
        };
        let name_contains = match given(&raw.q) {
            Some(q) if q.chars().count() > MAX_Q => {
                return Err(Violation::of(
                    "q",
                    format!("q must be at most {MAX_Q} characters"),
                ))
            }
            q => q.map(str::to_owned),
        };
        let status = given(&raw.status)
            .map(|s| {
                serde_json::from_value::<KeyStatus>(serde_json::Value::String(s.to_owned()))
                    .map_err(|_| {
                        Violation::of(
                            "status",
                            "status must be one of active, deactivated, expired",
                        )
                    })
            })
            .transpose()?;
        let group = given(&raw.group)
            .map(|g| GroupName::parse(g).map_err(|v| v.in_field("group")))
            .transpose()?;
        let order = match given(&raw.sort) {
            None => Order::default(),
            Some(s) => parse_order(s).ok_or_else(|| {
                Violation::of(
                    "sort",
                    "sort must be name, created_at or last_used_at, with an optional leading -",
                )
            })?,
        };
        let after = given(&raw.cursor)
            .map(|c| Cursor::decode(c, order))
            .transpose()?;
        Ok(Self {
            name_contains,
            status,
            group,
            order,
            limit,
            after,
        })
    }

    /// Whether anything narrows the list (a page of nothing then means "no match", not "no
    /// keys").
    pub fn is_filtered(&self) -> bool {
        self.name_contains.is_some() || self.status.is_some() || self.group.is_some()
    }

    pub fn state(&self) -> Option<StateIs> {
        self.status.map(|s| match s {
            KeyStatus::Active => StateIs::Active,
            KeyStatus::Deactivated => StateIs::Deactivated,
            KeyStatus::Expired => StateIs::Expired,
        })
    }
}

pub fn parse_order(s: &str) -> Option<Order> {
    let (descending, column) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let column = match column {
        "name" => Column::Name,
        "created_at" => Column::CreatedAt,
        "last_used_at" => Column::LastUsedAt,
        _ => return None,
    };
    Some(Order { column, descending })
}

pub fn order_param(order: Order) -> String {
    let column = match order.column {
        Column::Name => "name",
        Column::CreatedAt => "created_at",
        Column::LastUsedAt => "last_used_at",
    };
    format!("{}{column}", if order.descending { "-" } else { "" })
}

/// Where a page ended: the last key's sort value and id, and the order they belong to (a
/// cursor of another order would skip or repeat keys, so it is refused).
#[derive(Serialize, Deserialize)]
struct Cursor {
    /// The order, as the `sort` parameter spells it.
    s: String,
    /// The name, or the time (RFC 3339), or null for a key never used.
    v: Option<String>,
    i: Uuid,
}

fn bad_cursor() -> Violation {
    Violation::of(
        "cursor",
        "cursor is not one this list gave for this sort order; start again without it",
    )
}

impl Cursor {
    pub fn encode(order: Order, after: &After) -> String {
        let v = match &after.value {
            SortValue::Name(n) => Some(n.clone()),
            SortValue::Time(t) => t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        };
        let cursor = Cursor {
            s: order_param(order),
            v,
            i: after.id,
        };
        // Serializing this plain struct cannot fail; an empty cursor would only restart.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).unwrap_or_default())
    }

    fn decode(raw: &str, order: Order) -> Result<After, Violation> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad_cursor())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad_cursor())?;
        if parse_order(&cursor.s) != Some(order) {
            return Err(bad_cursor());
        }
        let value = match (order.column, cursor.v) {
            (Column::Name, Some(name)) => SortValue::Name(name),
            (Column::CreatedAt, Some(t)) => SortValue::Time(Some(time(&t)?)),
            (Column::LastUsedAt, Some(t)) => SortValue::Time(Some(time(&t)?)),
            (Column::LastUsedAt, None) => SortValue::Time(None),
            _ => return Err(bad_cursor()),
        };
        Ok(After {
            value,
            id: cursor.i,
        })
    }
}

fn time(s: &str) -> Result<DateTime<Utc>, Violation> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| bad_cursor())
}

/// The cursor that continues after `after` in `order`.
pub fn cursor_after(order: Order, after: &After) -> String {
    Cursor::encode(order, after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> KeyListQuery {
        let mut q = KeyListQuery::default();
        for (k, v) in pairs {
            let v = Some((*v).to_owned());
            match *k {
                "limit" => q.limit = v,
                "cursor" => q.cursor = v,
                "q" => q.q = v,
                "status" => q.status = v,
                "group" => q.group = v,
                "sort" => q.sort = v,
                _ => unreachable!(),
            }
        }
        q
    }

    fn field(r: Result<KeyQuery, Violation>) -> Option<String> {
        r.err().and_then(|v| v.field.map(|f| f.into_owned()))
    }

    #[test]
    fn bad_values_name_their_parameter() {
        for (k, v) in [
            ("limit", "0"),
            ("limit", "501"),
            ("limit", "ten"),
            ("status", "gone"),
            ("sort", "id"),
            ("sort", "--name"),
            ("group", "no spaces"),
            ("cursor", "!!"),
            ("cursor", "e30"),
        ] {
            assert_eq!(
                field(KeyQuery::parse(&query(&[(k, v)]))),
                Some(k.into()),
                "{k}={v}"
            );
        }
    }

    #[test]
    fn a_cursor_round_trips_only_in_its_order() {
        let order = parse_order("-last_used_at").unwrap();
        let after = After {
            value: SortValue::Time(None),
            id: Uuid::new_v4(),
        };
        let c = cursor_after(order, &after);
        let q = KeyQuery::parse(&query(&[("sort", "-last_used_at"), ("cursor", &c)])).unwrap();
        assert_eq!(q.after.map(|a| a.id), Some(after.id));
        assert_eq!(
            field(KeyQuery::parse(&query(&[
                ("sort", "last_used_at"),
                ("cursor", &c)
            ]))),
            Some("cursor".into())
        );
    }

    #[test]
    fn empty_values_are_absent() {
        let q = KeyQuery::parse(&query(&[("q", ""), ("status", ""), ("sort", "")])).unwrap();
        assert!(!q.is_filtered());
        assert_eq!(q.order, Order::default());
    }
}
