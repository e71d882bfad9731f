use clap::{CommandFactory, Parser, Subcommand};
use hoop::{cli, config::ServeConfig, startup::Application};

#[derive(Parser)]
#[command(name = "hoop", version, about = "Access gateway with managed API keys")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the serve variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the gateway: web app and REST API.
    Serve(ServeConfig),
    /// Log in with an API key (or email and password) and save it in ~/.hoop/config.toml.
    Login(cli::LoginArgs),
    /// Run a script on a connection, as yourself.
    Exec(cli::ExecArgs),
    /// Administer API keys, connections and groups.
    #[command(subcommand)]
    Admin(cli::AdminCommand),
    /// The MCP endpoint for AI agents: `hoop mcp config` prints a `.mcp.json` for your key.
    #[command(subcommand)]
    Mcp(cli::McpCommand),
    /// Print a completion script for your shell, e.g. `source <(hoop completion bash)`.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        end_quietly_on_a_closed_pipe();
    }
    let result = match cli.command {
        Command::Serve(config) => {
            // Only the server logs; the CLI's output is its answer.
            hoop::telemetry::init_logging(config.observe.log_format);
            serve(config).await.map_err(|e| format!("{e:#}"))
        }
        Command::Login(args) => cli::login(args).await.map_err(|e| e.to_string()),
        Command::Exec(args) => cli::exec(args).await.map_err(|e| e.to_string()),
        Command::Admin(command) => cli::admin(command).await.map_err(|e| e.to_string()),
        Command::Mcp(command) => cli::mcp(command).map_err(|e| e.to_string()),
        Command::Completion { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "hoop", &mut std::io::stdout());
            Ok(())
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `hoop admin get apikeys | head -1`: once the reader is gone, the CLI ends as other Unix tools
/// do, silently, instead of panicking on its next write. (The server keeps ignoring SIGPIPE,
/// as Rust sets it: a client that goes away must not stop it.)
fn end_quietly_on_a_closed_pipe() {
    // SAFETY: restores the default action of one signal before any thread writes; no handler
    // runs Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let app = Application::build(&config).await?;
    app.run_until(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: draining requests");
}
