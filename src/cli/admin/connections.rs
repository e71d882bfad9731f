//! `hoop admin … connection(s)`.

use crate::cli::{
    client::{CliError, Client},
    output::{self, cell, Columns, Format},
};
use crate::wire::connections::{Connection, ConnectionSpec};
use reqwest::Method;

impl Columns for Connection {
    const COLUMNS: &'static [&'static str] = &["name", "type", "access_groups", "privileged"];
    fn cells(&self) -> Vec<String> {
        vec![
            cell(&self.name),
            cell(&self.kind),
            cell(&self.access_groups),
            cell(&self.privileged),
        ]
    }
}

pub async fn list(c: &Client, format: Format) -> Result<(), CliError> {
    let connections: Vec<Connection> = c.get("/api/connections").await?;
    output::print_list(&connections, format);
    Ok(())
}

pub async fn create(c: &Client, spec: ConnectionSpec) -> Result<(), CliError> {
    let created: Connection = c.send(Method::POST, "/api/connections", &spec).await?;
    println!("Created connection {}", created.name);
    Ok(())
}
