//! `hoop admin … apikey(s)`.

use crate::cli::{
    client::{path_segment, CliError, Client},
    config,
    expiry::Expires,
    output::{self, cell, Columns, Format},
};
use crate::wire::keys::{Activation, ApiKey, CreatedApiKey, KeyChanges, NewApiKey, Rotation};
use chrono::{DateTime, Utc};
use reqwest::Method;
use std::time::Duration;

impl Columns for ApiKey {
    const COLUMNS: &'static [&'static str] = &[
        "name",
        "masked_key",
        "status",
        "groups",
        "expires",
        "created_by",
        "last_used_at",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            cell(&self.name),
            cell(&self.masked_key),
            cell(&self.status),
            cell(&self.groups),
            expiry_cell(self.expires_at),
            cell(&self.created_by),
            cell(&self.last_used_at),
        ]
    }
}

/// `never`, the day when the key ends at its start (as `--expires 2027-01-31` sets it), else
/// the time to the second.
fn expiry_cell(at: Option<DateTime<Utc>>) -> String {
    match at {
        None => "never".into(),
        Some(at) if at.time() == chrono::NaiveTime::MIN => at.format("%Y-%m-%d").to_string(),
        Some(at) => at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

/// The overlap after a rotation has two more columns, shown only when a key has one: most of
/// the time no key has, and the table stays as narrow as before.
const PREVIOUS: [&str; 2] = ["previous_masked_key", "previous_expires_at"];

fn print_keys(keys: &[ApiKey]) {
    let overlap = keys.iter().any(|k| k.previous_masked_key.is_some());
    let mut columns = ApiKey::COLUMNS.to_vec();
    if overlap {
        columns.extend(PREVIOUS);
    }
    let rows = keys.iter().map(|k| {
        let mut cells = k.cells();
        if overlap {
            cells.push(cell(&k.previous_masked_key));
            cells.push(cell(&k.previous_expires_at));
        }
        cells
    });
    output::print_table(&columns, rows);
}

pub async fn list(c: &Client, format: Format) -> Result<(), CliError> {
    let keys: Vec<ApiKey> = c.get("/api/api-keys").await?;
    match format {
        Format::Json => output::print_json(&keys),
        Format::Table => print_keys(&keys),
    }
    Ok(())
}

pub async fn create(
    c: &Client,
    name: String,
    groups: Vec<String>,
    expires: Option<Expires>,
    format: Format,
) -> Result<(), CliError> {
    let request = NewApiKey {
        name,
        groups,
        // `never` is the create body's default: nothing to send.
        expires_at: expires.and_then(Expires::at),
    };
    let created: CreatedApiKey = c.send(Method::POST, "/api/api-keys", &request).await?;
    match format {
        Format::Json => output::print_json(&created),
        // The key alone on stdout, ready to pipe into a secrets manager; the rest to stderr.
        Format::Table => {
            eprintln!(
                "Created API key {} (expires: {}). It is shown once: store it now.",
                created.api_key.name,
                expiry_cell(created.api_key.expires_at)
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
    match format {
        Format::Json => output::print_json(&key),
        Format::Table => print_keys(std::slice::from_ref(&key)),
    }
    Ok(())
}

pub async fn configure(
    c: &Client,
    name: &str,
    changes: KeyChanges,
    format: Format,
) -> Result<(), CliError> {
    let path = format!("/api/api-keys/{}", path_segment(name));
    let key: ApiKey = c.send(Method::PUT, &path, &changes).await?;
    match format {
        Format::Json => output::print_json(&key),
        Format::Table => println!(
            "Configured API key {} (groups: {}; expires: {})",
            key.name,
            key.groups.join(","),
            expiry_cell(key.expires_at)
        ),
    }
    Ok(())
}

/// A new secret, printed once; the old one works `grace` longer.
pub async fn rotate(
    c: &Client,
    name: &str,
    grace: Duration,
    format: Format,
) -> Result<(), CliError> {
    let path = format!("/api/api-keys/{}/rotate", path_segment(name));
    let rotation = Rotation {
        grace_seconds: grace.as_secs(),
    };
    let created: CreatedApiKey = c.send(Method::POST, &path, &rotation).await?;
    // The key this CLI is logged in with: without the new secret saved, the next command
    // would fail once the old one ends, and the only copy of the new one is on screen.
    let resaved = c
        .saved_key()
        .filter(|saved| saved.id == created.api_key.id)
        .map(|_| {
            let key = config::SavedKey {
                id: created.api_key.id,
                name: created.api_key.name.clone(),
            };
            config::save(c.base(), &created.key, Some(key))
        });
    match format {
        Format::Json => output::print_json(&created),
        Format::Table => {
            let old = match created.api_key.previous_expires_at {
                Some(until) => format!(
                    "the old secret works until {}",
                    until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
                None => "the old secret stopped working now".into(),
            };
            eprintln!(
                "Rotated API key {}: {old}. The new key is shown once: store it now.",
                created.api_key.name
            );
            println!("{}", created.key.expose());
        }
    }
    match resaved {
        Some(Ok(path)) => eprintln!(
            "You are logged in with this key: {} now holds the new one.",
            path.display()
        ),
        // Not an error: the rotation is done and its key printed, which is what matters now.
        Some(Err(e)) => eprintln!(
            "warning: you are logged in with this key but the new one could not be saved ({e}): \
             run hoop login --api-key -"
        ),
        None => {}
    }
    Ok(())
}

/// Refused from the next request on.
pub async fn deactivate(c: &Client, name: &str, format: Format) -> Result<(), CliError> {
    let key: ApiKey = c
        .post(&format!("/api/api-keys/{}/deactivate", path_segment(name)))
        .await?;
    match format {
        Format::Json => output::print_json(&key),
        Format::Table => println!("Deactivated API key {name}"),
    }
    Ok(())
}

/// The same secret works again; an expired key needs a new expiry.
pub async fn activate(
    c: &Client,
    name: &str,
    activation: Activation,
    format: Format,
) -> Result<(), CliError> {
    let path = format!("/api/api-keys/{}/activate", path_segment(name));
    let key: ApiKey = c.send(Method::POST, &path, &activation).await?;
    match format {
        Format::Json => output::print_json(&key),
        Format::Table => println!(
            "Activated API key {name} (expires: {})",
            expiry_cell(key.expires_at)
        ),
    }
    Ok(())
}
