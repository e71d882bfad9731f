//! `hoop admin`: one file per resource; this one parses the command and picks the file.

mod connections;
mod groups;
mod keys;
mod sessions;
mod userinfo;

use super::{client, output::Format, CliError};
use clap::Subcommand;

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
    /// Rename or regroup an API key; its secret stays the same.
    Configure {
        #[arg(value_parser = ["apikey"])]
        kind: String,
        name: String,
        #[arg(long = "name")]
        new_name: Option<String>,
        #[arg(long, value_delimiter = ',')]
        groups: Option<Vec<String>>,
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
    /// Activate a deactivated API key again (same secret).
    Activate {
        #[arg(value_parser = ["apikey"])]
        kind: String,
        name: String,
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
    let c = client()?;
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
            output,
        }) => keys::create(&c, name, groups, output).await,
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
            output,
            ..
        } => keys::configure(&c, &name, new_name, groups, output).await,
        AdminCommand::Deactivate { name, output, .. } => {
            keys::set_active(&c, &name, false, output).await
        }
        AdminCommand::Activate { name, output, .. } => {
            keys::set_active(&c, &name, true, output).await
        }
    }
}
