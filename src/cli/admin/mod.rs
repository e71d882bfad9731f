//! `hoop admin`: one file per resource; this one parses the command and picks the file.

mod connections;
mod groups;
mod keys;
mod sessions;
mod userinfo;

use super::{
    client::{CliError, Client},
    expiry::{parse_expires, parse_grace, parse_new_expiry, Expires},
    output::Format,
};
use crate::wire::keys::{Activation, KeyChanges};
use clap::Subcommand;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Show userinfo, apikeys, connections, sessions or groups; `get apikey NAME` shows one key.
    Get {
        #[arg(value_enum)]
        what: Resource,
        /// One API key, by name or id.
        name: Option<String>,
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
    },
    /// Create an API key (prints the key once, alone) or a connection.
    #[command(subcommand)]
    Create(CreateCommand),
    /// Rename, regroup or change the expiry of an API key; its secret stays the same.
    Configure {
        #[arg(value_parser = ["apikey"])]
        kind: String,
        name: String,
        #[arg(long = "name")]
        new_name: Option<String>,
        #[arg(long, value_delimiter = ',')]
        groups: Option<Vec<String>>,
        /// A new expiry: 90d (from now), 2027-01-31 (00:00 UTC), an RFC 3339 time, or never.
        /// Without it the expiry stays as it is; a later one makes an expired key work again.
        #[arg(long, value_name = "WHEN", value_parser = parse_expires)]
        expires: Option<Expires>,
        /// Let a later expiry bring back a secret reported leaked (rotating is the better way).
        #[arg(long)]
        accept_reported_secret: bool,
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
    },
    /// Give an API key a new secret (printed once, alone); the old one works for --grace more.
    Rotate {
        #[arg(value_parser = ["apikey"])]
        kind: String,
        name: String,
        /// How long the old secret keeps working, e.g. 1h, 24h, 7d (at most 30d; default: it
        /// stops at once).
        #[arg(long, value_name = "DURATION", value_parser = parse_grace, default_value = "0")]
        grace: Duration,
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
    },
    /// Deactivate an API key: it is refused from the next request on.
    Deactivate {
        #[arg(value_parser = ["apikey"])]
        kind: String,
        name: String,
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
    },
    /// Activate a deactivated API key again (same secret), or an expired one with --expires.
    Activate {
        #[arg(value_parser = ["apikey"])]
        kind: String,
        name: String,
        /// A new expiry, which an expired key needs: 90d (from now), 2027-01-31 (00:00 UTC) or
        /// an RFC 3339 time.
        #[arg(long, value_name = "WHEN", value_parser = parse_new_expiry)]
        expires: Option<Expires>,
        /// Bring back a secret reported leaked (rotating the key first is the better way).
        #[arg(long)]
        accept_reported_secret: bool,
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Resource {
    Userinfo,
    #[value(alias = "apikey")]
    Apikeys,
    Connections,
    Sessions,
    Groups,
}

#[derive(Debug, Subcommand)]
pub enum CreateCommand {
    Apikey {
        name: String,
        #[arg(long, value_delimiter = ',', required = true)]
        groups: Vec<String>,
        /// When it stops working: 90d (from now), 2027-01-31 (00:00 UTC), an RFC 3339 time, or
        /// never (the default, unless the gateway sets a maximum lifetime).
        #[arg(long, value_name = "WHEN", value_parser = parse_expires)]
        expires: Option<Expires>,
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
    },
    Connection {
        name: String,
        /// postgres or sqlite
        #[arg(long = "type")]
        kind: String,
        /// A postgres:// URL or the path of a SQLite file.
        #[arg(long)]
        target: String,
        /// Groups that may use it; none means admins only.
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        /// Let its groups run it although its database role is privileged (superuser, server
        /// files or programs): without this only admins may.
        #[arg(long)]
        privileged: bool,
    },
    Group {
        name: String,
    },
}

pub async fn admin(command: AdminCommand) -> Result<(), CliError> {
    let c = Client::from_config()?;
    match command {
        AdminCommand::Get {
            what: Resource::Apikeys,
            name: Some(name),
            output,
        } => keys::show(&c, &name, output).await,
        AdminCommand::Get { name: Some(_), .. } => Err(CliError::Usage(
            "only API keys are shown one by name: hoop admin get apikey NAME".into(),
        )),
        AdminCommand::Get { what, output, .. } => match what {
            Resource::Userinfo => userinfo::show(&c, output).await,
            Resource::Apikeys => keys::list(&c, output).await,
            Resource::Connections => connections::list(&c, output).await,
            Resource::Sessions => sessions::list(&c, output).await,
            Resource::Groups => groups::list(&c, output).await,
        },
        AdminCommand::Create(CreateCommand::Apikey {
            name,
            groups,
            expires,
            output,
        }) => keys::create(&c, name, groups, expires, output).await,
        AdminCommand::Create(CreateCommand::Connection {
            name,
            kind,
            target,
            groups,
            privileged,
        }) => {
            let spec = crate::wire::connections::ConnectionSpec {
                name,
                kind,
                target,
                access_groups: groups,
                privileged,
            };
            connections::create(&c, spec).await
        }
        AdminCommand::Create(CreateCommand::Group { name }) => groups::create(&c, name).await,
        AdminCommand::Configure {
            name,
            new_name,
            groups,
            expires,
            accept_reported_secret,
            output,
            ..
        } => {
            let changes = KeyChanges {
                name: new_name,
                groups,
                // Absent: unchanged; `never` is an explicit null.
                expires_at: expires.map(Expires::at),
                accept_reported_secret,
            };
            keys::configure(&c, &name, changes, output).await
        }
        AdminCommand::Rotate {
            name,
            grace,
            output,
            ..
        } => keys::rotate(&c, &name, grace, output).await,
        AdminCommand::Deactivate { name, output, .. } => keys::deactivate(&c, &name, output).await,
        AdminCommand::Activate {
            name,
            expires,
            accept_reported_secret,
            output,
            ..
        } => {
            let activation = Activation {
                expires_at: expires.and_then(Expires::at),
                accept_reported_secret,
            };
            keys::activate(&c, &name, activation, output).await
        }
    }
}
