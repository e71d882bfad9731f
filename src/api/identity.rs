//! Login, "who am I", users and groups.

use super::Json;
use crate::{
    auth::{password, Identity, Principal},
    domain::{parse_groups, Email, GroupName},
    error::{Error, Result},
    secret::SecretString,
    startup::AppState,
    store::{
        self,
        identity::{Group, NewUser, User},
    },
};
use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const MIN_PASSWORD_LEN: usize = 8;

#[derive(Deserialize)]
pub struct Login {
    email: String,
    password: SecretString,
}

#[derive(Serialize)]
pub struct Token {
    token: String,
}

pub async fn login(State(s): State<AppState>, Json(req): Json<Login>) -> Result<Json<Token>> {
    let token = s.auth.login(&req.email, &req.password).await?;
    Ok(Json(Token {
        token: token.expose().to_owned(),
    }))
}

#[derive(Serialize)]
pub struct UserInfo {
    id: Option<Uuid>,
    name: String,
    email: Option<String>,
    org_id: Uuid,
    org_name: String,
    groups: Vec<String>,
    is_admin: bool,
    auth_method: &'static str,
}

pub async fn userinfo(caller: Principal) -> Json<UserInfo> {
    let (id, name, email) = match &caller.identity {
        Identity::User {
            id, email, name, ..
        } => (Some(*id), name.clone(), Some(email.clone())),
        Identity::ApiKey { id, name } => (Some(*id), name.clone(), None),
        Identity::LegacyApiKey => (None, caller.actor().to_owned(), None),
    };
    Json(UserInfo {
        id,
        name,
        email,
        is_admin: caller.is_admin(),
        auth_method: caller.auth_method(),
        org_id: caller.org_id,
        org_name: caller.org_name,
        groups: caller.groups,
    })
}

pub async fn list_groups(State(s): State<AppState>, caller: Principal) -> Result<Json<Vec<Group>>> {
    Ok(Json(
        store::identity::list_groups(&s.store, caller.org_id).await?,
    ))
}

#[derive(Deserialize)]
pub struct NewGroup {
    name: String,
}

pub async fn create_group(
    State(s): State<AppState>,
    caller: Principal,
    Json(req): Json<NewGroup>,
) -> Result<(StatusCode, Json<Group>)> {
    caller.require_admin()?;
    let name = GroupName::parse(&req.name)?;
    let group =
        store::identity::create_group(&s.store, caller.org_id, &name, caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(group)))
}

pub async fn list_users(State(s): State<AppState>, caller: Principal) -> Result<Json<Vec<User>>> {
    caller.require_admin()?;
    Ok(Json(
        store::identity::list_users(&s.store, caller.org_id).await?,
    ))
}

#[derive(Deserialize)]
pub struct CreateUser {
    email: String,
    name: String,
    password: SecretString,
    groups: Vec<String>,
}

pub async fn create_user(
    State(s): State<AppState>,
    caller: Principal,
    Json(req): Json<CreateUser>,
) -> Result<(StatusCode, Json<User>)> {
    caller.require_admin()?;
    let email = Email::parse(&req.email)?;
    let name = req.name.trim();
    if name.is_empty() || name.len() > 128 {
        return Err(Error::Invalid("name must be 1-128 characters".into()));
    }
    if req.password.expose().chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::Invalid(format!(
            "password must be at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    let groups = parse_groups(&req.groups)?;
    let password_hash = password::hash(req.password)
        .await
        .map_err(Error::Internal)?;
    let user = NewUser {
        email,
        name: name.to_owned(),
        password_hash,
        groups,
    };
    let user = store::identity::create_user(&s.store, caller.org_id, user, caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(user)))
}
