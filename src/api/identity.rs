//! Login, "who am I", users and groups.

use super::json::Json;
use crate::{
    auth::ClientAddr,
    caller::{Identity, Principal},
    directory::NewUserRequest,
    error::Result,
    state::AppState,
    wire::identity::{Group, Login, NewGroup, Token, User, UserInfo},
};
use axum::{extract::State, http::StatusCode};

/// Email and password → a user access token.
#[utoipa::path(post, path = "/localauth/login", tag = "identity", request_body = Login,
    responses((status = 200, body = Token)))]
pub async fn login(
    State(s): State<AppState>,
    ClientAddr(from): ClientAddr,
    Json(req): Json<Login>,
) -> Result<Json<Token>> {
    let token = s.auth.login(&req.email, &req.password, from).await?;
    Ok(Json(Token { token }))
}

/// Who the caller is.
#[utoipa::path(get, path = "/userinfo", tag = "identity", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = UserInfo)))]
pub async fn userinfo(caller: Principal) -> Json<UserInfo> {
    let (id, name, email) = match &caller.identity {
        Identity::User {
            id, email, name, ..
        } => (Some(*id), name.clone(), Some(email.clone())),
        Identity::ApiKey { id, name, .. } => (Some(*id), name.to_string(), None),
        Identity::LegacyApiKey => (None, caller.actor().to_owned(), None),
    };
    Json(UserInfo {
        id,
        name,
        email,
        is_admin: caller.is_admin(),
        auth_method: caller.auth_method().to_owned(),
        org_id: caller.org_id,
        org_name: caller.org_name.to_string(),
        groups: caller.groups.to_vec(),
    })
}

/// The organization's groups.
#[utoipa::path(get, path = "/groups", tag = "identity", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = [Group])))]
pub async fn list_groups(State(s): State<AppState>, caller: Principal) -> Result<Json<Vec<Group>>> {
    Ok(Json(s.directory.list_groups(&caller).await?))
}

/// Creates a group (admins only).
#[utoipa::path(post, path = "/groups", tag = "identity", security(("bearer" = []), ("api_key" = [])), request_body = NewGroup,
    responses((status = 201, body = Group), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_group(
    State(s): State<AppState>,
    caller: Principal,
    Json(req): Json<NewGroup>,
) -> Result<(StatusCode, Json<Group>)> {
    let group = s.directory.create_group(&caller, &req.name).await?;
    Ok((StatusCode::CREATED, Json(group)))
}

/// The organization's users (admins only).
#[utoipa::path(get, path = "/users", tag = "identity", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = [User])))]
pub async fn list_users(State(s): State<AppState>, caller: Principal) -> Result<Json<Vec<User>>> {
    Ok(Json(s.directory.list_users(&caller).await?))
}

/// Creates a user with a password and groups (admins only).
#[utoipa::path(post, path = "/users", tag = "identity", security(("bearer" = []), ("api_key" = [])), request_body = NewUserRequest,
    responses((status = 201, body = User), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_user(
    State(s): State<AppState>,
    caller: Principal,
    Json(req): Json<NewUserRequest>,
) -> Result<(StatusCode, Json<User>)> {
    let user = s.directory.create_user(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(user)))
}
