//! Organizations, users, groups and user access tokens.

use super::{
    audit::{self, Change},
    in_tx, on_pool, or_taken, Store,
};
use crate::{
    domain::{Email, GroupName, Violation},
    error::Error,
};
use chrono::{DateTime, Utc};
use sqlx::FromRow;
use std::collections::HashMap;
use uuid::Uuid;

/// Fails with 422 naming any of `$groups` that the organization does not have, reading the
/// groups inside the caller's transaction so none can vanish before the insert that needs it.
macro_rules! require_groups {
    ($tx:ident, $org_id:expr, $groups:expr, field = $field:literal) => {{
        let known: Vec<String> = sqlx::query_scalar("SELECT name FROM groups WHERE org_id = $1")
            .bind($org_id)
            .fetch_all(&mut *$tx)
            .await?;
        $crate::store::identity::check_groups_exist(&known, $groups, $field)?;
    }};
}
pub(crate) use require_groups;

#[derive(Debug, Clone, FromRow)]
pub struct Org {
    pub id: Uuid,
    pub name: String,
}

/// A user with what authentication needs. The password hash stays inside the auth module.
#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub org_name: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
}

/// A user as the store reads it (the API sends `wire::identity::User`).
#[derive(Debug, Clone, FromRow)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, FromRow)]
pub struct Group {
    pub name: String,
}

pub struct NewUser {
    pub email: Email,
    pub name: String,
    pub password_hash: String,
    pub groups: Vec<GroupName>,
}

const USER_ROW: &str =
    "SELECT u.id, u.org_id, o.name AS org_name, u.email, u.name, u.password_hash \
                        FROM users u JOIN orgs o ON o.id = u.org_id";

pub async fn user_count(store: &Store) -> Result<i64, Error> {
    Ok(
        on_pool!(store, pool => sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(pool)
        .await)?,
    )
}

pub async fn org(store: &Store, id: Uuid) -> Result<Option<Org>, Error> {
    Ok(
        on_pool!(store, pool => sqlx::query_as("SELECT id, name FROM orgs WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await)?,
    )
}

/// Makes sure the organization and its `admin` group exist. Idempotent, so a start-up that
/// died half-way through bootstrapping simply does it again.
pub async fn ensure_org(store: &Store, org: &Org) -> Result<(), Error> {
    let at = super::now();
    on_pool!(store, pool => {
        sqlx::query("INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
            .bind(org.id).bind(&org.name).bind(at)
            .execute(pool).await?;
        sqlx::query("INSERT INTO groups (org_id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(org.id).bind(GroupName::admin().as_str()).bind(at)
            .execute(pool).await?;
    });
    Ok(())
}

pub async fn user_by_email(store: &Store, email: &Email) -> Result<Option<UserRow>, Error> {
    Ok(
        on_pool!(store, pool => sqlx::query_as(&format!("{USER_ROW} WHERE u.email = $1"))
        .bind(email.as_str())
        .fetch_optional(pool)
        .await)?,
    )
}

pub async fn user_by_id(store: &Store, id: Uuid) -> Result<Option<UserRow>, Error> {
    Ok(
        on_pool!(store, pool => sqlx::query_as(&format!("{USER_ROW} WHERE u.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await)?,
    )
}

/// What a user token stands for at `now`.
#[derive(Debug)]
pub enum TokenUser {
    Valid(UserRow),
    /// Known, but past its expiry: refused like an unknown one (only the metrics tell).
    Expired,
    Unknown,
}

#[derive(FromRow)]
struct TokenRow {
    #[sqlx(flatten)]
    user: UserRow,
    expires_at: DateTime<Utc>,
}

/// The user holding an access token, looked up by the token's hash. The expiry is compared
/// here rather than in the query: the same one indexed read, and an expired token can be told
/// from an unknown one.
pub async fn user_by_token(
    store: &Store,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<TokenUser, Error> {
    let sql = "SELECT u.id, u.org_id, o.name AS org_name, u.email, u.name, u.password_hash, \
               t.expires_at FROM users u JOIN orgs o ON o.id = u.org_id \
               JOIN user_tokens t ON t.user_id = u.id WHERE t.token_hash = $1";
    let row: Option<TokenRow> = on_pool!(store, pool => sqlx::query_as(sql)
        .bind(token_hash)
        .fetch_optional(pool)
        .await)?;
    Ok(match row {
        Some(row) if row.expires_at > now => TokenUser::Valid(row.user),
        Some(_) => TokenUser::Expired,
        None => TokenUser::Unknown,
    })
}

pub async fn user_groups(store: &Store, user_id: Uuid) -> Result<Vec<String>, Error> {
    Ok(on_pool!(store, pool => sqlx::query_scalar(
        "SELECT group_name FROM user_groups WHERE user_id = $1 ORDER BY group_name")
        .bind(user_id)
        .fetch_all(pool)
        .await)?)
}

pub async fn insert_token(
    store: &Store,
    token_hash: &str,
    user_id: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<(), Error> {
    let now = super::now();
    on_pool!(store, pool => {
        // Expired tokens are useless; sweeping them here keeps the table small without a job.
        sqlx::query("DELETE FROM user_tokens WHERE expires_at <= $1").bind(now).execute(pool).await?;
        sqlx::query("INSERT INTO user_tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash).bind(user_id).bind(now).bind(expires_at)
            .execute(pool).await?;
    });
    Ok(())
}

pub async fn list_users(store: &Store, org_id: Uuid) -> Result<Vec<User>, Error> {
    let (mut users, memberships): (Vec<User>, Vec<(Uuid, String)>) = on_pool!(store, pool => {
        let users = sqlx::query_as(
            "SELECT id, email, name, created_at FROM users WHERE org_id = $1 ORDER BY email")
            .bind(org_id).fetch_all(pool).await?;
        let memberships = sqlx::query_as(
            "SELECT user_id, group_name FROM user_groups WHERE org_id = $1 ORDER BY group_name")
            .bind(org_id).fetch_all(pool).await?;
        (users, memberships)
    });
    let mut by_user: HashMap<Uuid, Vec<String>> = HashMap::new();
    for (user_id, group) in memberships {
        by_user.entry(user_id).or_default().push(group);
    }
    for u in &mut users {
        u.groups = by_user.remove(&u.id).unwrap_or_default();
    }
    Ok(users)
}

pub async fn create_user(
    store: &Store,
    org_id: Uuid,
    user: NewUser,
    actor: &str,
) -> Result<User, Error> {
    let at = super::now();
    let id = Uuid::new_v4();
    let change = Change::UserCreated {
        id,
        email: &user.email,
        name: &user.name,
        groups: &user.groups,
    };
    in_tx!(store, tx => {
        require_groups!(tx, org_id, &user.groups, field = "groups");
        sqlx::query(
            "INSERT INTO users (id, org_id, email, name, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(id).bind(org_id).bind(user.email.as_str()).bind(&user.name)
            .bind(&user.password_hash).bind(at)
            .execute(&mut *tx).await
            .map_err(or_taken(|| user.email.taken()))?;
        for g in &user.groups {
            sqlx::query("INSERT INTO user_groups (user_id, org_id, group_name) VALUES ($1, $2, $3)")
                .bind(id).bind(org_id).bind(g.as_str())
                .execute(&mut *tx).await?;
        }
        audit::insert(org_id, at, actor, &change).execute(&mut *tx).await?;
    });
    audit::committed(change.action());
    Ok(User {
        id,
        email: user.email.as_str().to_owned(),
        name: user.name,
        created_at: at,
        groups: user.groups.iter().map(|g| g.to_string()).collect(),
    })
}

pub async fn list_groups(store: &Store, org_id: Uuid) -> Result<Vec<Group>, Error> {
    Ok(on_pool!(store, pool => sqlx::query_as(
        "SELECT name FROM groups WHERE org_id = $1 ORDER BY name")
        .bind(org_id).fetch_all(pool).await)?)
}

pub async fn create_group(
    store: &Store,
    org_id: Uuid,
    name: &GroupName,
    actor: &str,
) -> Result<Group, Error> {
    let at = super::now();
    let change = Change::GroupCreated { name };
    in_tx!(store, tx => {
        sqlx::query("INSERT INTO groups (org_id, name, created_at) VALUES ($1, $2, $3)")
            .bind(org_id).bind(name.as_str()).bind(at)
            .execute(&mut *tx).await
            .map_err(or_taken(|| name.taken()))?;
        audit::insert(org_id, at, actor, &change).execute(&mut *tx).await?;
    });
    audit::committed(change.action());
    Ok(Group {
        name: name.to_string(),
    })
}

/// 422 naming every group that does not exist in the organization, against the request
/// field that named them.
pub(crate) fn check_groups_exist(
    known: &[String],
    wanted: &[GroupName],
    field: &'static str,
) -> Result<(), Error> {
    let unknown: Vec<&str> = wanted
        .iter()
        .map(GroupName::as_str)
        .filter(|g| !known.iter().any(|k| k == g))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(Violation::of(
            field,
            format!("unknown group: {}", unknown.join(", ")),
        )))
    }
}

pub async fn first_org(store: &Store) -> Result<Option<Org>, Error> {
    Ok(
        on_pool!(store, pool => sqlx::query_as("SELECT id, name FROM orgs ORDER BY created_at LIMIT 1")
        .fetch_optional(pool)
        .await)?,
    )
}
