//! `hoop admin … apikey(s)`.

use crate::cli::{
    client::{CliError, Client},
    output::{self, cell, Columns, Format},
    path_segment,
};
use crate::wire::keys::{ApiKey, CreatedApiKey, KeyChanges, NewApiKey};
use reqwest::Method;

impl Columns for ApiKey {
    const COLUMNS: &'static [&'static str] = &[
        "name",
        "masked_key",
        "status",
        "groups",
        "created_by",
        "last_used_at",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            cell(&self.name),
            cell(&self.masked_key),
            cell(&self.status),
            cell(&self.groups),
            cell(&self.created_by),
            cell(&self.last_used_at),
        ]
    }
}

pub async fn list(c: &Client, format: Format) -> Result<(), CliError> {
    let keys: Vec<ApiKey> = c.get("/api/api-keys").await?;
    output::print_list(&keys, format);
    Ok(())
}

pub async fn create(
    c: &Client,
    name: String,
    groups: Vec<String>,
    format: Format,
) -> Result<(), CliError> {
    let request = NewApiKey {
        name,
        groups,
        expires_at: None,
    };
    let created: CreatedApiKey = c.send(Method::POST, "/api/api-keys", &request).await?;
    match format {
        Format::Json => output::print_json(&created),
        // The key alone on stdout, ready to pipe into a secrets manager; the rest to stderr.
        Format::Table => {
            eprintln!(
                "Created API key {}. It is shown once: store it now.",
                created.api_key.name
            );
            println!("{}", created.key.expose());
        }
    }
    Ok(())
}

/// One key, by name or id.
pub async fn show(c: &Client, name: &str, format: Format) -> Result<(), CliError> {
    let key: ApiKey = c
        .get(&format!("/api/api-keys/{}", path_segment(name)))
        .await?;
    output::print_one(&key, format);
    Ok(())
}

pub async fn configure(
    c: &Client,
    name: &str,
    new_name: Option<String>,
    groups: Option<Vec<String>>,
    format: Format,
) -> Result<(), CliError> {
    let changes = KeyChanges {
        name: new_name,
        groups,
        expires_at: None,
    };
    let path = format!("/api/api-keys/{}", path_segment(name));
    let key: ApiKey = c.send(Method::PUT, &path, &changes).await?;
    match format {
        Format::Json => output::print_json(&key),
        Format::Table => println!(
            "Configured API key {} (groups: {})",
            key.name,
            key.groups.join(",")
        ),
    }
    Ok(())
}

/// Deactivates (refused from the next request on) or activates again (same secret).
pub async fn set_active(
    c: &Client,
    name: &str,
    active: bool,
    format: Format,
) -> Result<(), CliError> {
    let action = if active { "activate" } else { "deactivate" };
    let key: ApiKey = c
        .post(&format!("/api/api-keys/{}/{action}", path_segment(name)))
        .await?;
    match format {
        Format::Json => output::print_json(&key),
        Format::Table if active => println!("Activated API key {name}"),
        Format::Table => println!("Deactivated API key {name}"),
    }
    Ok(())
}
