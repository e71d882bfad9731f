//! The `hoop` command line: log in with a key, run scripts, administer keys and connections.

mod client;
mod config;
mod output;

use crate::secret::SecretString;
use clap::{Args, Subcommand};
use client::{CliError, Client};
use output::Format;
use reqwest::Method;
use serde_json::{json, Value};
use std::io::{IsTerminal, Read, Write};

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// A managed API key (hpk_…). Without it, asks for email and password.
    #[arg(long)]
    api_key: Option<SecretString>,
    /// The gateway's address (default: the saved one, or http://127.0.0.1:8009).
    #[arg(long)]
    api_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The connection to run the script on.
    connection: String,
    /// The script; without -i or -f it is read from standard input.
    #[arg(short = 'i', long = "input", conflicts_with = "file")]
    input: Option<String>,
    /// Read the script from this file.
    #[arg(short = 'f', long)]
    file: Option<std::path::PathBuf>,
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Format,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Show userinfo, apikeys, connections, sessions or groups.
    Get {
        #[arg(value_enum)]
        what: Resource,
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
    },
    /// Deactivate an API key: it is refused from the next request on.
    Deactivate {
        #[arg(value_parser = ["apikey"])]
        kind: String,
        name: String,
    },
    /// Activate a deactivated API key again (same secret).
    Activate {
        #[arg(value_parser = ["apikey"])]
        kind: String,
        name: String,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Resource {
    Userinfo,
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

fn client() -> Result<Client, CliError> {
    let config = config::load().map_err(CliError::Usage)?;
    Ok(Client::new(&config.api_url, config.token))
}

fn path_segment(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub async fn login(args: LoginArgs) -> Result<(), CliError> {
    let saved = config::load().map_err(CliError::Usage)?;
    let api_url = args.api_url.unwrap_or(saved.api_url);
    let token = match args.api_key {
        Some(key) => {
            // Refused before any request: a user token or a typo must not be sent as a key.
            if !key.expose().starts_with(crate::keys::secret::PREFIX) {
                return Err(CliError::Usage(
                    "that is not an API key: managed keys start with hpk_".into(),
                ));
            }
            key
        }
        None => password_login(&api_url).await?,
    };
    let me = Client::new(&api_url, Some(token.clone()))
        .call(Method::GET, "/api/userinfo", None)
        .await?;
    let path = config::save(&api_url, &token).map_err(CliError::Usage)?;
    let who = me["email"].as_str().or(me["name"].as_str()).unwrap_or("?");
    println!(
        "Logged in to {api_url} as {who} ({}, groups: {}). Saved to {}",
        me["auth_method"].as_str().unwrap_or("?"),
        me["groups"]
            .as_array()
            .map(|g| g
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","))
            .unwrap_or_default(),
        path.display()
    );
    Ok(())
}

async fn password_login(api_url: &str) -> Result<SecretString, CliError> {
    eprint!("Email: ");
    let _ = std::io::stderr().flush();
    let mut email = String::new();
    std::io::stdin()
        .read_line(&mut email)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let password =
        rpassword::prompt_password("Password: ").map_err(|e| CliError::Usage(e.to_string()))?;
    let body = json!({ "email": email.trim(), "password": password });
    let answer = Client::new(api_url, None)
        .call_anonymous(Method::POST, "/api/localauth/login", &body)
        .await?;
    answer["token"]
        .as_str()
        .map(|t| SecretString::new(t.to_owned()))
        .ok_or_else(|| CliError::Api("the gateway answered without a token".into()))
}

pub async fn exec(args: ExecArgs) -> Result<(), CliError> {
    let script = match (args.input, args.file) {
        (Some(s), _) => s,
        (None, Some(f)) => std::fs::read_to_string(&f)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", f.display())))?,
        (None, None) => {
            if std::io::stdin().is_terminal() {
                eprintln!("Reading the script from standard input; end it with Ctrl-D.");
            }
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            s
        }
    };
    let path = format!("/api/connections/{}/exec", path_segment(&args.connection));
    let result = client()?
        .call(Method::POST, &path, Some(&json!({ "script": script })))
        .await?;
    let ok = result["output_status"] == "success";
    match args.output {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&result).unwrap_or_default()
        ),
        Format::Table if ok => print!("{}", result["output"].as_str().unwrap_or_default()),
        Format::Table => {}
    }
    if ok {
        Ok(())
    } else {
        Err(CliError::Api(
            result["output"]
                .as_str()
                .unwrap_or("failed")
                .trim_end()
                .to_owned(),
        ))
    }
}

pub async fn admin(command: AdminCommand) -> Result<(), CliError> {
    let c = client()?;
    match command {
        AdminCommand::Get { what, output } => {
            let (path, columns): (&str, &[&str]) = match what {
                Resource::Userinfo => (
                    "/api/userinfo",
                    &[
                        "name",
                        "email",
                        "org_name",
                        "groups",
                        "is_admin",
                        "auth_method",
                    ],
                ),
                Resource::Apikeys => (
                    "/api/api-keys",
                    &[
                        "name",
                        "masked_key",
                        "status",
                        "groups",
                        "created_by",
                        "last_used_at",
                    ],
                ),
                Resource::Connections => (
                    "/api/connections",
                    &["name", "type", "access_groups", "privileged"],
                ),
                Resource::Sessions => (
                    "/api/sessions",
                    &[
                        "id",
                        "actor",
                        "auth_method",
                        "connection",
                        "status",
                        "execution_time_ms",
                        "created_at",
                    ],
                ),
                Resource::Groups => ("/api/groups", &["name"]),
            };
            output::print(&c.call(Method::GET, path, None).await?, columns, output);
        }
        AdminCommand::Create(CreateCommand::Apikey {
            name,
            groups,
            output,
        }) => {
            let key = c
                .call(
                    Method::POST,
                    "/api/api-keys",
                    Some(&json!({ "name": name, "groups": groups })),
                )
                .await?;
            match output {
                Format::Json => {
                    println!("{}", serde_json::to_string_pretty(&key).unwrap_or_default())
                }
                // The key alone on stdout, ready to pipe into a secrets manager; the rest to stderr.
                Format::Table => {
                    eprintln!("Created API key {name}. It is shown once: store it now.");
                    println!("{}", key["key"].as_str().unwrap_or_default());
                }
            }
        }
        AdminCommand::Create(CreateCommand::Connection {
            name,
            kind,
            target,
            groups,
            privileged,
        }) => {
            let body = json!({
                "name": name, "type": kind, "target": target, "access_groups": groups,
                "privileged": privileged,
            });
            c.call(Method::POST, "/api/connections", Some(&body))
                .await?;
            println!("Created connection {name}");
        }
        AdminCommand::Create(CreateCommand::Group { name }) => {
            c.call(Method::POST, "/api/groups", Some(&json!({ "name": name })))
                .await?;
            println!("Created group {name}");
        }
        AdminCommand::Configure {
            name,
            new_name,
            groups,
            ..
        } => {
            let mut body = serde_json::Map::new();
            if let Some(n) = new_name {
                body.insert("name".into(), json!(n));
            }
            if let Some(g) = groups {
                body.insert("groups".into(), json!(g));
            }
            let path = format!("/api/api-keys/{}", path_segment(&name));
            let key = c
                .call(Method::PUT, &path, Some(&Value::Object(body)))
                .await?;
            println!(
                "Configured API key {} (groups: {})",
                key["name"].as_str().unwrap_or(&name),
                output_groups(&key)
            );
        }
        AdminCommand::Deactivate { name, .. } => {
            c.call(
                Method::POST,
                &format!("/api/api-keys/{}/deactivate", path_segment(&name)),
                None,
            )
            .await?;
            println!("Deactivated API key {name}");
        }
        AdminCommand::Activate { name, .. } => {
            c.call(
                Method::POST,
                &format!("/api/api-keys/{}/activate", path_segment(&name)),
                None,
            )
            .await?;
            println!("Activated API key {name}");
        }
    }
    Ok(())
}

fn output_groups(key: &Value) -> String {
    key["groups"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}
