//! Users and groups: the service the REST API and the web app share, answering in wire types.

use crate::{
    auth::password,
    caller::Principal,
    domain::{parse_groups, DisplayName, Email, GroupName, Violation},
    error::{Error, Result},
    store::{
        self,
        identity::{self as rows, NewUser},
        Store,
    },
    wire::identity::{Group, User},
};

pub use crate::wire::identity::NewUserRequest;

const MIN_PASSWORD_LEN: usize = 8;

/// Users and groups of the caller's organization.
#[derive(Clone)]
pub struct Directory {
    store: Store,
}

impl Directory {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Any caller may list groups: a key needs them to know what it may be scoped to.
    pub async fn list_groups(&self, caller: &Principal) -> Result<Vec<Group>> {
        let groups = store::identity::list_groups(&self.store, caller.org_id).await?;
        Ok(groups.into_iter().map(group).collect())
    }

    pub async fn create_group(&self, caller: &Principal, name: &str) -> Result<Group> {
        caller.require_admin()?;
        let name = GroupName::parse(name)?;
        let row = store::identity::create_group(&self.store, caller.org_id, &name, caller.actor())
            .await?;
        Ok(group(row))
    }

    pub async fn list_users(&self, caller: &Principal) -> Result<Vec<User>> {
        caller.require_admin()?;
        let users = store::identity::list_users(&self.store, caller.org_id).await?;
        Ok(users.into_iter().map(user).collect())
    }

    pub async fn create_user(&self, caller: &Principal, req: NewUserRequest) -> Result<User> {
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
        let new_user = NewUser {
            email,
            name: name.into_string(),
            password_hash,
            groups,
        };
        let row =
            store::identity::create_user(&self.store, caller.org_id, new_user, caller.actor())
                .await?;
        Ok(user(row))
    }
}

fn group(row: rows::Group) -> Group {
    Group { name: row.name }
}

fn user(row: rows::User) -> User {
    User {
        id: row.id,
        email: row.email,
        name: row.name,
        created_at: row.created_at,
        groups: row.groups,
    }
}
