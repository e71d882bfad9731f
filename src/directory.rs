//! Users and groups: the operations the REST API and the web app share.

use crate::{
    auth::password,
    caller::Principal,
    domain::{parse_groups, DisplayName, Email, GroupName, Violation},
    error::{Error, Result},
    store::{
        self,
        identity::{Group, NewUser, User},
        Store,
    },
};

pub use crate::wire::identity::NewUserRequest;

const MIN_PASSWORD_LEN: usize = 8;

/// Any caller may list groups: a key needs them to know what it may be scoped to.
pub async fn list_groups(store: &Store, caller: &Principal) -> Result<Vec<Group>> {
    store::identity::list_groups(store, caller.org_id).await
}

pub async fn create_group(store: &Store, caller: &Principal, name: &str) -> Result<Group> {
    caller.require_admin()?;
    let name = GroupName::parse(name)?;
    store::identity::create_group(store, caller.org_id, &name, caller.actor()).await
}

pub async fn list_users(store: &Store, caller: &Principal) -> Result<Vec<User>> {
    caller.require_admin()?;
    store::identity::list_users(store, caller.org_id).await
}

pub async fn create_user(store: &Store, caller: &Principal, req: NewUserRequest) -> Result<User> {
    caller.require_admin()?;
    let email = Email::parse(&req.email)?;
    let name = DisplayName::parse(&req.name)?;
    if req.password.expose().chars().count() < MIN_PASSWORD_LEN {
        return Err(Violation::of(
            "password",
            format!("password must be at least {MIN_PASSWORD_LEN} characters"),
        )
        .into());
    }
    let groups = parse_groups(&req.groups)?;
    let password_hash = password::hash(req.password)
        .await
        .map_err(Error::Internal)?;
    let user = NewUser {
        email,
        name: name.into_string(),
        password_hash,
        groups,
    };
    store::identity::create_user(store, caller.org_id, user, caller.actor()).await
}
