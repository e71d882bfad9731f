//! `hoop admin get userinfo`: who the saved credential is.

use crate::cli::{
    client::{CliError, Client},
    output::{self, cell, Columns, Format},
};
use crate::wire::identity::UserInfo;

impl Columns for UserInfo {
    const COLUMNS: &'static [&'static str] = &[
        "name",
        "email",
        "org_name",
        "groups",
        "is_admin",
        "auth_method",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            cell(&self.name),
            cell(&self.email),
            cell(&self.org_name),
            cell(&self.groups),
            cell(&self.is_admin),
            cell(&self.auth_method),
        ]
    }
}

pub async fn show(c: &Client, format: Format) -> Result<(), CliError> {
    let me: UserInfo = c.get("/api/userinfo").await?;
    output::print_one(&me, format);
    Ok(())
}
