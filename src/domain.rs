//! Values that carry their rules: once parsed, they are valid everywhere (parse, don't validate).

use serde::Serialize;
use std::borrow::Cow;

/// The group whose members may do anything.
pub const ADMIN_GROUP: &str = "admin";

/// A rule the input broke, and the request field it belongs to: the REST API answers it as
/// `{"message", "field"}`, the web app shows it under that form field. Produced here, by the
/// types that hold the rules, so no caller has to guess a field from a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Violation {
    pub field: Option<Cow<'static, str>>,
    pub message: String,
}

/// A query parameter left blank (an empty field of a submitted GET form) is not given.
pub fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl Violation {
    /// A rule that belongs to one field of the request.
    pub fn of(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: Some(Cow::Borrowed(field)),
            message: message.into(),
        }
    }

    /// A rule about the request as a whole.
    pub fn general(message: impl Into<String>) -> Self {
        Self {
            field: None,
            message: message.into(),
        }
    }

    /// The same rule, reported against the field that carried the value (a group name read
    /// from `access_groups` rather than `name`).
    pub fn in_field(self, field: &'static str) -> Self {
        Self {
            field: Some(Cow::Borrowed(field)),
            ..self
        }
    }

    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }
}

const NAME_RULE: &str =
    "1-64 characters: ASCII letters, digits, '-', '_' or '.', starting with a letter or digit";

/// [`check_name`]'s rule as a regular expression, for the OpenAPI document (with a length of
/// 1 to 64, and ASCII only, so bytes and characters count the same).
pub const NAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]*$";
const NAME_MAX_LEN: usize = 64;

/// The naming rule shared by API keys, groups and connections; a name is a request's `name`.
fn check_name(kind: &str, s: &str) -> Result<(), Violation> {
    let ok = (1..=NAME_MAX_LEN).contains(&s.len())
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Violation::of(
            "name",
            format!("invalid {kind} name: use {NAME_RULE}"),
        ))
    }
}

fn name_schema(kind: &str) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(format!("The {kind} name: {NAME_RULE}")))
        .min_length(Some(1))
        .max_length(Some(NAME_MAX_LEN))
        .pattern(Some(NAME_PATTERN))
        .into()
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $kind:literal, taken = $taken:literal $(, also = $also:path)?) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $ty(String);

        impl $ty {
            pub fn parse(s: &str) -> Result<Self, Violation> {
                check_name($kind, s)?;
                $($also(s)?;)?
                Ok(Self(s.to_owned()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        /// Request bodies carry names as strings; documented with this type, the OpenAPI
        /// document states the rule `parse` enforces.
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                name_schema($kind)
            }
        }
        impl utoipa::ToSchema for $ty {}

        impl $ty {
            /// The answer when another of its kind already has this name.
            pub fn taken(&self) -> Violation {
                Violation::of("name", format!($taken, self.0))
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(
    /// An API key's name, unique within its organization, and never shaped like a key id.
    ApiKeyName,
    "API key",
    taken = "an API key named {} already exists",
    also = not_an_id
);

/// Keys are addressed by name or id (`/api/api-keys/{nameOrID}`): a name that reads as an id
/// (in any case, with or without dashes) would make one address mean two keys, and the id wins.
fn not_an_id(s: &str) -> Result<(), Violation> {
    match uuid::Uuid::parse_str(s) {
        Ok(_) => Err(Violation::of(
            "name",
            "invalid API key name: it reads as a key id (a UUID), which would make \
             /api/api-keys/{nameOrID} ambiguous; choose another name",
        )),
        Err(_) => Ok(()),
    }
}
name_type!(
    /// A group's name, unique within its organization.
    GroupName,
    "group",
    taken = "group {} already exists"
);

name_type!(
    /// A connection's name, unique within its organization.
    ConnectionName,
    "connection",
    taken = "a connection named {} already exists"
);

impl GroupName {
    pub fn admin() -> Self {
        Self(ADMIN_GROUP.to_owned())
    }
}

/// A non-empty, de-duplicated, sorted set of groups, read from a request's `groups`: a key or
/// user always has at least one.
pub fn parse_groups(raw: &[String]) -> Result<Vec<GroupName>, Violation> {
    if raw.is_empty() {
        return Err(Violation::of(
            "groups",
            "groups: at least one group is required",
        ));
    }
    parse_group_list(raw, "groups")
}

/// Groups that may be empty, read from the request field `field` (a connection without
/// access groups is admin-only).
pub fn parse_group_list(raw: &[String], field: &'static str) -> Result<Vec<GroupName>, Violation> {
    let mut groups = raw
        .iter()
        .map(|g| GroupName::parse(g).map_err(|v| v.in_field(field)))
        .collect::<Result<Vec<_>, _>>()?;
    groups.sort();
    groups.dedup();
    Ok(groups)
}

/// Characters that make a name display as something other than what it is: control
/// characters (NUL, ESC and the rest, which also reach terminals through the CLI) and the
/// Unicode marks that reorder or hide text (bidi overrides and isolates, U+202E among them).
pub fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200E}' | '\u{200F}' | '\u{061C}' // direction marks
            | '\u{202A}'..='\u{202E}'           // embeddings and overrides
            | '\u{2066}'..='\u{2069}'           // isolates
            | '\u{2028}' | '\u{2029}'           // line and paragraph separators
            | '\u{FEFF}' | '\u{200B}'..='\u{200D}') // invisible
}

/// A person's display name: shown in lists, audit entries and the CLI's tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 128;

    pub fn parse(s: &str) -> Result<Self, Violation> {
        let s = s.trim();
        if s.is_empty() || s.chars().count() > Self::MAX_CHARS {
            return Err(Violation::of(
                "name",
                format!("name must be 1-{} characters", Self::MAX_CHARS),
            ));
        }
        if s.chars().any(is_deceptive) {
            return Err(Violation::of(
                "name",
                "name must not hold control characters or marks that reorder or hide text",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A login email: lower-cased so that one person cannot hold two accounts by case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, Violation> {
        let s = s.trim();
        let valid = s.len() <= 254
            && !s.chars().any(|c| c.is_whitespace() || is_deceptive(c))
            && matches!(s.split_once('@'), Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
        if valid {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(Violation::of("email", "invalid email address"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The answer when another user already signs in with this address.
    pub fn taken(&self) -> Violation {
        Violation::of(
            "email",
            format!("a user with email {} already exists", self.0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn display_names_refuse_what_displays_as_something_else() {
        assert_eq!(
            DisplayName::parse("  Ada Lovelace ").unwrap().into_string(),
            "Ada Lovelace"
        );
        assert!(DisplayName::parse("Zoë Ørsted 山田").is_ok());
        for bad in [
            "",
            "   ",
            "a\u{202E}txt.exe",
            "nul\0",
            "esc\u{1b}[31m",
            "a\u{2066}b",
            "x\u{200B}y",
        ] {
            let refused = DisplayName::parse(bad).unwrap_err();
            assert_eq!(refused.field.as_deref(), Some("name"), "{bad:?}");
        }
        assert!(DisplayName::parse(&"a".repeat(129)).is_err());
        assert!(Email::parse("ad\u{202E}a@example.com").is_err());
    }

    proptest! {
        /// The OpenAPI document tells clients (and the API fuzzer) the rule; it must be the
        /// one `parse` applies, or valid requests are documented as invalid and vice versa.
        #[test]
        fn the_documented_name_pattern_is_the_rule(
            s in prop_oneof!["[A-Za-z0-9._ /-]{0,70}", "[a-z]{60,68}", any::<String>()]
        ) {
            let pattern = regex::Regex::new(NAME_PATTERN).unwrap();
            let documented = pattern.is_match(&s) && (1..=NAME_MAX_LEN).contains(&s.chars().count());
            prop_assert_eq!(documented, GroupName::parse(&s).is_ok(), "{:?}", s);
        }
    }

    #[test]
    fn names_follow_the_rule() {
        for ok in ["a", "ci-bot", "deploy_2", "x.y", "9lives", &"a".repeat(64)] {
            assert!(ApiKeyName::parse(ok).is_ok(), "{ok} should be valid");
        }
        for bad in [
            "",
            "-lead",
            "_x",
            ".x",
            "has space",
            "ümlaut",
            "a/b",
            &"a".repeat(65),
        ] {
            assert!(ApiKeyName::parse(bad).is_err(), "{bad} should be invalid");
        }
        // Whatever case or dashes: a key name never reads as a key id.
        let id = uuid::Uuid::new_v4();
        for id_shaped in [
            id.to_string(),
            id.to_string().to_uppercase(),
            id.simple().to_string(),
        ] {
            assert!(ApiKeyName::parse(&id_shaped).is_err(), "{id_shaped}");
        }
        assert!(ApiKeyName::parse(&format!("{id}-old")).is_ok());
    }

    /// The web app and REST clients place an error by its field, never by its wording.
    #[test]
    fn each_rule_names_the_field_that_broke_it() {
        let field = |r: Result<(), Violation>| r.unwrap_err().field.map(|f| f.into_owned());
        assert_eq!(
            field(ApiKeyName::parse("a b").map(drop)),
            Some("name".into())
        );
        let id = uuid::Uuid::new_v4().to_string();
        assert_eq!(field(ApiKeyName::parse(&id).map(drop)), Some("name".into()));
        assert_eq!(field(GroupName::parse("").map(drop)), Some("name".into()));
        assert_eq!(field(Email::parse("x").map(drop)), Some("email".into()));
        assert_eq!(field(parse_groups(&[]).map(drop)), Some("groups".into()));
        assert_eq!(
            field(parse_groups(&["ok".into(), "not ok".into()]).map(drop)),
            Some("groups".into())
        );
        assert_eq!(
            field(parse_group_list(&["not ok".into()], "access_groups").map(drop)),
            Some("access_groups".into())
        );
        let name = ApiKeyName::parse("ci").unwrap();
        assert_eq!(name.taken().field(), Some("name"));
        assert_eq!(name.taken().message, "an API key named ci already exists");
    }

    #[test]
    fn groups_need_one_and_are_deduplicated() {
        assert!(parse_groups(&[]).is_err());
        let g = parse_groups(&["b".into(), "a".into(), "b".into()]).unwrap();
        assert_eq!(
            g,
            vec![
                GroupName::parse("a").unwrap(),
                GroupName::parse("b").unwrap()
            ]
        );
        assert!(parse_groups(&["ok".into(), "not ok".into()]).is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Ann@Example.com ").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in ["", "ann", "@x", "ann@", "a@b@c", "a b@c"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
