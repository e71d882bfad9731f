//! Login, "who am I", users and groups.

use super::json::Json;
use crate::{
    auth::ClientAddr,
    caller::{Identity, Principal},
    directory::{self, NewUserRequest},
    error::Result,
    secret::SecretString,
    state::AppState,
    store::identity::{Group, User},
};
use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Login {
    email: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// A user access token (`hut_…`), valid 12 hours.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Token {
    token: String,
}

/// Email and password → a user access token.
#[utoipa::path(post, path = "/localauth/login", tag = "identity", request_body = Login,
    responses((status = 200, body = Token)))]
pub async fn login(
    State(s): State<AppState>,
    ClientAddr(from): ClientAddr,
    Json(req): Json<Login>,
) -> Result<Json<Token>> {
    let token = s.auth.login(&req.email, &req.password, from).await?;
    Ok(Json(Token {
        token: token.expose().to_owned(),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserInfo {
    id: Option<Uuid>,
    name: String,
    email: Option<String>,
    org_id: Uuid,
    org_name: String,
    groups: Vec<String>,
    is_admin: bool,
    /// `api_key`, `user_token`, `session` or `legacy_api_key`.
    #[schema(value_type = String)]
    auth_method: &'static str,
}

/// Who the caller is.
#[utoipa::path(get, path = "/userinfo", tag = "identity", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = UserInfo)))]
pub async fn userinfo(caller: Principal) -> Json<UserInfo> {
    let (id, name, email) = match &caller.identity {
        Identity::User {
            id, email, name, ..
        } => (Some(*id), name.clone(), Some(email.clone())),
        Identity::ApiKey { id, name } => (Some(*id), name.to_string(), None),
        Identity::LegacyApiKey => (None, caller.actor().to_owned(), None),
    };
    Json(UserInfo {
        id,
        name,
        email,
        is_admin: caller.is_admin(),
        auth_method: caller.auth_method(),
        org_id: caller.org_id,
        org_name: caller.org_name.to_string(),
        groups: caller.groups.to_vec(),
    })
}

/// The organization's groups.
#[utoipa::path(get, path = "/groups", tag = "identity", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = [Group])))]
pub async fn list_groups(State(s): State<AppState>, caller: Principal) -> Result<Json<Vec<Group>>> {
    Ok(Json(directory::list_groups(&s.store, &caller).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewGroup {
    #[schema(value_type = crate::domain::GroupName)]
    name: String,
}

/// Creates a group (admins only).
#[utoipa::path(post, path = "/groups", tag = "identity", security(("bearer" = []), ("api_key" = [])), request_body = NewGroup,
    responses((status = 201, body = Group), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_group(
    State(s): State<AppState>,
    caller: Principal,
    Json(req): Json<NewGroup>,
) -> Result<(StatusCode, Json<Group>)> {
    let group = directory::create_group(&s.store, &caller, &req.name).await?;
    Ok((StatusCode::CREATED, Json(group)))
}

/// The organization's users (admins only).
#[utoipa::path(get, path = "/users", tag = "identity", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = [User])))]
pub async fn list_users(State(s): State<AppState>, caller: Principal) -> Result<Json<Vec<User>>> {
    Ok(Json(directory::list_users(&s.store, &caller).await?))
}

/// Creates a user with a password and groups (admins only).
#[utoipa::path(post, path = "/users", tag = "identity", security(("bearer" = []), ("api_key" = [])), request_body = NewUserRequest,
    responses((status = 201, body = User), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_user(
    State(s): State<AppState>,
    caller: Principal,
    Json(req): Json<NewUserRequest>,
) -> Result<(StatusCode, Json<User>)> {
    let user = directory::create_user(&s.store, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(user)))
}
