//! `hoop admin get sessions`.

use crate::cli::{
    client::{CliError, Client},
    output::{self, cell, Columns, Format},
};
use crate::wire::sessions::Session;

impl Columns for Session {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "actor",
        "auth_method",
        "connection",
        "status",
        "execution_time_ms",
        "created_at",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            cell(&self.id),
            cell(&self.actor),
            cell(&self.auth_method),
            cell(&self.connection),
            cell(&self.status),
            cell(&self.execution_time_ms),
            cell(&self.created_at),
        ]
    }
}

pub async fn list(c: &Client, format: Format) -> Result<(), CliError> {
    let sessions: Vec<Session> = c.get("/api/sessions").await?;
    output::print_list(&sessions, format);
    Ok(())
}
