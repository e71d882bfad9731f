//! `hoop admin … group(s)`.

use crate::cli::{
    client::{CliError, Client},
    output::{self, cell, Columns, Format},
};
use crate::wire::identity::{Group, NewGroup};
use reqwest::Method;

impl Columns for Group {
    const COLUMNS: &'static [&'static str] = &["name"];
    fn cells(&self) -> Vec<String> {
        vec![cell(&self.name)]
    }
}

pub async fn list(c: &Client, format: Format) -> Result<(), CliError> {
    let groups: Vec<Group> = c.get("/api/groups").await?;
    output::print_list(&groups, format);
    Ok(())
}

pub async fn create(c: &Client, name: String) -> Result<(), CliError> {
    let created: Group = c
        .send(Method::POST, "/api/groups", &NewGroup { name })
        .await?;
    println!("Created group {}", created.name);
    Ok(())
}
