//! The `hoop` command line: log in with a key, run scripts, administer keys and connections.

mod admin;
mod client;
mod config;
mod expiry;
mod output;

use crate::{
    secret::SecretString,
    wire::{
        identity::{Login, UserInfo},
        sessions::{ExecResult, Script, SessionStatus},
    },
};
pub use admin::{admin, AdminCommand, CreateCommand, Resource};
use clap::Args;
use client::{path_segment, CliError, Client};
use output::Format;
use reqwest::Method;
use std::io::{IsTerminal, Read, Write};

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// A managed API key (hpk_…), or `-` to read it from standard input (it then stays out
    /// of your shell history). Without it, asks for email and password.
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

pub async fn login(args: LoginArgs) -> Result<(), CliError> {
    let saved = config::load().map_err(CliError::Usage)?;
    let api_url = args.api_url.unwrap_or(saved.api_url);
    let token = match args.api_key {
        Some(key) if key.expose() == "-" => checked_key(key_from_stdin()?)?,
        Some(key) => checked_key(key)?,
        None => password_login(&api_url).await?,
    };
    let client = Client::new(&api_url, Some(token.clone())).deferring_expiry_warning();
    let me: UserInfo = client.get("/api/userinfo").await?;
    if let Some(at) = client.expiry_seen() {
        let name = (me.auth_method == "api_key").then_some(me.name.as_str());
        eprintln!("{}", expiry::warning(at, chrono::Utc::now(), name));
    }
    // A managed key is remembered by id and name: the expiry warning names it, and rotating it
    // from this CLI saves its new secret here.
    let key = match (me.id, me.auth_method.as_str()) {
        (Some(id), "api_key") => Some(config::SavedKey {
            id,
            name: me.name.clone(),
        }),
        _ => None,
    };
    let path = config::save(&api_url, &token, key).map_err(CliError::Usage)?;
    println!(
        "Logged in to {api_url} as {} ({}, groups: {}). Saved to {}",
        me.email.as_deref().unwrap_or(&me.name),
        me.auth_method,
        me.groups.join(","),
        path.display()
    );
    Ok(())
}

/// Refused before any request: a user token or a typo must not be sent as a key.
fn checked_key(key: SecretString) -> Result<SecretString, CliError> {
    if key.expose().starts_with(crate::keys::secret::PREFIX) {
        Ok(key)
    } else {
        Err(CliError::Usage(
            "that is not an API key: managed keys start with hpk_".into(),
        ))
    }
}

/// The first line of standard input (asked for without echo on a terminal); the buffer it was
/// read into is wiped.
fn key_from_stdin() -> Result<SecretString, CliError> {
    if std::io::stdin().is_terminal() {
        let typed = zeroize::Zeroizing::new(
            rpassword::prompt_password("API key: ").map_err(|e| CliError::Usage(e.to_string()))?,
        );
        return Ok(SecretString::new(typed.trim().to_owned()));
    }
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| CliError::Usage(format!("cannot read the key from standard input: {e}")))?;
    Ok(SecretString::new(line.trim().to_owned()))
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
    let login = Login {
        email: email.trim().to_owned(),
        password: SecretString::new(password),
    };
    Ok(Client::new(api_url, None).login(&login).await?.token)
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
    let result: ExecResult = Client::from_config()?
        .send(Method::POST, &path, &Script { script })
        .await?;
    let ok = result.output_status == SessionStatus::Success;
    match args.output {
        Format::Json => output::print_json(&result),
        Format::Table if ok => print!("{}", result.output),
        Format::Table => {}
    }
    if ok {
        Ok(())
    } else {
        Err(CliError::Api(result.output.trim_end().to_owned()))
    }
}

/// `hoop mcp …`: the gateway's MCP endpoint for AI agents.
#[derive(Debug, clap::Subcommand)]
pub enum McpCommand {
    /// Print a `.mcp.json` for the API key you are logged in with (it holds the key: keep it
    /// out of shared files and repositories).
    Config,
}

pub fn mcp(command: McpCommand) -> Result<(), CliError> {
    match command {
        McpCommand::Config => {
            let config = config::load().map_err(CliError::Usage)?;
            let Some(token) = config.token else {
                return Err(CliError::Usage(
                    "not logged in: run `hoop login --api-key -` first".into(),
                ));
            };
            // A user token expires within hours: an agent configured with it would stop
            // working by itself, so only a managed key is printed.
            if !token.expose().starts_with(crate::keys::secret::PREFIX) {
                return Err(CliError::Usage(
                    "logged in with a user token, which expires: log in with an API key \
                     (`hoop login --api-key -`) to configure an agent"
                        .into(),
                ));
            }
            let url = format!("{}/api/mcp", config.api_url.trim_end_matches('/'));
            let snippet = serde_json::json!({"mcpServers": {"hoop": {
                "type": "http",
                "url": url,
                "headers": {"Authorization": format!("Bearer {}", token.expose())},
            }}});
            output::print_json(&snippet);
            Ok(())
        }
    }
}
