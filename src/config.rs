//! Configuration of `hoop serve`, from flags or the environment (12-factor).

use crate::secret::SecretString;
use std::{net::SocketAddr, path::PathBuf};

#[derive(Debug, Clone, clap::Args)]
pub struct ServeConfig {
    /// Address the web app and REST API listen on.
    #[arg(long, env = "HOOP_LISTEN", default_value = "127.0.0.1:8009")]
    pub listen: SocketAddr,

    /// `sqlite://PATH` or `postgres://…`. Default: a SQLite file in the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,

    /// Where the default SQLite database lives.
    #[arg(long, env = "HOOP_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// On a database with no users: create the organization and this admin user.
    #[arg(long, env = "HOOP_ADMIN_EMAIL")]
    pub admin_email: Option<String>,

    /// Password of the first admin user (with HOOP_ADMIN_EMAIL).
    #[arg(long, env = "HOOP_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<SecretString>,

    /// Name of the organization created on first start.
    #[arg(long, env = "HOOP_ORG_NAME", default_value = "default")]
    pub org_name: String,

    /// Legacy static key '<org-id>|<random>', accepted in the Api-Key header as an admin.
    #[arg(long = "legacy-api-key", env = "API_KEY", hide_env_values = true)]
    pub api_key: Option<SecretString>,

    /// Mark the session cookie Secure: set this when users reach the gateway over HTTPS
    /// (directly or through a TLS-terminating proxy).
    #[arg(long, env = "HOOP_SECURE_COOKIES", default_value_t = false)]
    pub secure_cookies: bool,

    /// Limits and pools of `POST /api/connections/{name}/exec`.
    #[command(flatten)]
    pub exec: ExecConfig,

    /// How long clients may take and how many connections may be open.
    #[command(flatten)]
    pub http: HttpConfig,

    /// What the gateway tells its operators: the log's format, metrics.
    #[command(flatten)]
    pub observe: ObserveConfig,

    /// How long managed keys may live and stay unused.
    #[command(flatten)]
    pub key_policy: crate::policy::KeyPolicy,

    /// The time keys expire by: the system's, or one a test moves forward.
    #[arg(skip)]
    pub clock: crate::clock::Clock,

    /// Failed authentications a client address may make per minute (also its burst); beyond
    /// that they are answered 429 with Retry-After. Valid credentials are never limited.
    #[arg(long, env = "HOOP_AUTH_FAILURES_PER_MINUTE", default_value_t = 30)]
    pub auth_failures_per_minute: u32,

    /// Directory holding the built web client (`pkg/`) and public files.
    #[arg(long, env = "HOOP_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Where API-key events are sent, signed (see the README's "Webhooks").
    #[command(flatten)]
    pub webhooks: WebhookConfig,
}

/// Lifecycle webhooks: every API-key event POSTed to one receiver, from an outbox in the
/// database (`src/webhooks/`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WebhookConfig {
    /// `https://…` (or `http://…`) URL every API-key event is POSTed to as JSON, retried until
    /// the receiver answers 2xx. Unset: no webhooks (events older than 7 days are pruned from
    /// the outbox). Hidden from `--help` output: such URLs often carry a token.
    #[arg(long = "webhook-url", env = "HOOP_WEBHOOK_URL", hide_env_values = true)]
    pub url: Option<SecretString>,

    /// The key of each delivery's HMAC-SHA256 signature (`webhook-signature`, Standard Webhooks):
    /// its bytes as given, not decoded. Unset: deliveries are not signed.
    #[arg(
        long = "webhook-secret",
        env = "HOOP_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    pub secret: Option<SecretString>,
}

/// How scripts run on connections: their bounds, and the connections kept open for them.
#[derive(Debug, Clone, clap::Args)]
pub struct ExecConfig {
    /// Longest a script may run on a connection; at the deadline the database itself stops it.
    #[arg(
        long = "exec-timeout-secs",
        env = "HOOP_EXEC_TIMEOUT_SECS",
        default_value_t = 30
    )]
    pub timeout_secs: u64,

    /// Most rows an exec returns; the output says where it was cut.
    #[arg(
        long = "exec-max-rows",
        env = "HOOP_EXEC_MAX_ROWS",
        default_value_t = 10_000
    )]
    pub max_rows: usize,

    /// Most bytes of output an exec returns (and the longest value a SQLite script may build);
    /// the output says where it was cut.
    #[arg(long = "exec-max-bytes", env = "HOOP_EXEC_MAX_BYTES", default_value_t = 4 << 20)]
    pub max_bytes: usize,

    /// Execs running at once on this gateway; more are answered 429 with Retry-After.
    #[arg(
        long = "exec-max-concurrent",
        env = "HOOP_EXEC_MAX_CONCURRENT",
        default_value_t = 64
    )]
    pub max_concurrent: usize,

    /// Execs one caller (key, user or legacy key) may run at once; more are answered 429.
    #[arg(
        long = "exec-max-per-caller",
        env = "HOOP_EXEC_MAX_PER_CALLER",
        default_value_t = 8
    )]
    pub max_per_caller: usize,

    /// Database connections kept open per connection target.
    #[arg(
        long = "exec-pool-size",
        env = "HOOP_EXEC_POOL_SIZE",
        default_value_t = 8
    )]
    pub pool_size: usize,

    /// Seconds an unused pooled database connection stays open.
    #[arg(
        long = "exec-pool-idle-secs",
        env = "HOOP_EXEC_POOL_IDLE_SECS",
        default_value_t = 60
    )]
    pub pool_idle_secs: u64,
}

/// Bounds on client connections, so slow or idle clients cannot hold the gateway.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpConfig {
    /// Seconds a client has to send a request's headers (on a new connection from when it
    /// opened, on a kept-alive one from the request's first byte); then the connection is closed.
    #[arg(
        long = "header-read-timeout-secs",
        env = "HOOP_HEADER_READ_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub header_read_timeout_secs: u64,

    /// Seconds a request body has to arrive, plus one more for every
    /// `HOOP_BODY_MIN_BYTES_PER_SEC` bytes that have arrived; a slower body is answered 408
    /// and its connection closed.
    #[arg(
        long = "body-read-timeout-secs",
        env = "HOOP_BODY_READ_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub body_read_timeout_secs: u64,

    /// The pace, in bytes a second, that earns a request body a second more (see
    /// `HOOP_BODY_READ_TIMEOUT_SECS`).
    #[arg(
        long = "body-min-bytes-per-sec",
        env = "HOOP_BODY_MIN_BYTES_PER_SEC",
        default_value_t = 16384
    )]
    pub body_min_bytes_per_sec: u64,

    /// Seconds a kept-alive connection may stay quiet between requests. Above the idle timeout
    /// of load balancers in front (AWS ALB: 60 s), so none reuses a connection being closed.
    #[arg(
        long = "idle-timeout-secs",
        env = "HOOP_IDLE_TIMEOUT_SECS",
        default_value_t = 75
    )]
    pub idle_timeout_secs: u64,

    /// Seconds a web page may take to render; then it is answered 503 (and logged). A page whose
    /// rendering cannot finish would otherwise hold its connection, and the browser, for ever.
    #[arg(
        long = "page-timeout-secs",
        env = "HOOP_PAGE_TIMEOUT_SECS",
        default_value_t = 30
    )]
    pub page_timeout_secs: u64,

    /// Client connections open at once (also capped by the open-file limit); beyond, new ones
    /// wait in the listen backlog until one closes.
    #[arg(
        long = "max-connections",
        env = "HOOP_MAX_CONNECTIONS",
        default_value_t = 4096
    )]
    pub max_connections: usize,

    /// Proxies whose `X-Forwarded-For` is believed (comma-separated networks or addresses,
    /// e.g. `10.0.0.0/8,192.168.1.5`). Only a request whose TCP peer is one of them has the
    /// header read, from the right, past every trusted hop. Empty: the header is ignored.
    #[arg(
        long = "trusted-proxies",
        env = "HOOP_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = crate::security::proxies::parse_net
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// MCP sessions (`/api/mcp`) open at once on this gateway; a new one beyond closes the
    /// least recently used session of the caller holding the most.
    #[arg(
        long = "mcp-max-sessions",
        env = "HOOP_MCP_MAX_SESSIONS",
        default_value_t = 256
    )]
    pub mcp_max_sessions: usize,

    /// MCP sessions one caller (a key, a user) may hold at once; its new one beyond closes its
    /// own least recently used.
    #[arg(
        long = "mcp-max-sessions-per-caller",
        env = "HOOP_MCP_MAX_SESSIONS_PER_CALLER",
        default_value_t = 8
    )]
    pub mcp_max_sessions_per_caller: usize,

    /// Seconds an MCP session may go without a request before the gateway forgets it.
    #[arg(
        long = "mcp-session-idle-secs",
        env = "HOOP_MCP_SESSION_IDLE_SECS",
        default_value_t = 600
    )]
    pub mcp_session_idle_secs: u64,

    /// Host names (optionally `host:port`) that `/api/mcp` answers to, comma-separated; any
    /// other `Host` gets 403, so a web page cannot reach a local gateway through DNS rebinding.
    /// Add the name clients use to reach the gateway (e.g. `gateway.example.com`).
    #[arg(
        long = "mcp-allowed-hosts",
        env = "HOOP_MCP_ALLOWED_HOSTS",
        value_delimiter = ',',
        default_value = "localhost,127.0.0.1,::1"
    )]
    pub mcp_allowed_hosts: Vec<String>,
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ObserveConfig {
    /// `text` for humans, `json` for one JSON object per line (log shippers). Each request
    /// is one line: method, route, status, latency, caller kind, request id.
    #[arg(
        long = "log-format",
        env = "HOOP_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: crate::telemetry::LogFormat,

    /// Serve Prometheus metrics at `GET /metrics` on this address (a port of its own, so they
    /// are never public by accident). Unset: no metrics are kept or served.
    #[arg(long = "metrics-listen", env = "HOOP_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 10,
            idle_timeout_secs: 75,
            body_read_timeout_secs: 10,
            body_min_bytes_per_sec: 16384,
            page_timeout_secs: 30,
            max_connections: 4096,
            trusted_proxies: Vec::new(),
            mcp_max_sessions: 256,
            mcp_max_sessions_per_caller: 8,
            mcp_session_idle_secs: 600,
            mcp_allowed_hosts: ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec(),
        }
    }
}

impl Default for ExecConfig {
    fn default() -> Self {
        Self {
            timeout_secs: 30,
            max_rows: 10_000,
            max_bytes: 4 << 20,
            max_concurrent: 64,
            max_per_caller: 8,
            pool_size: 8,
            pool_idle_secs: 60,
        }
    }
}

impl ServeConfig {
    /// The data directory: explicit, or the platform default.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(default_data_dir)
    }

    /// The explicit URL, or a SQLite file under the data directory (created if missing).
    pub fn database_url(&self) -> anyhow::Result<SecretString> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        let dir = self.data_dir();
        std::fs::create_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("cannot create data directory {}: {e}", dir.display()))?;
        Ok(SecretString::new(format!(
            "sqlite://{}",
            dir.join("hoop.db").display()
        )))
    }
}

fn default_data_dir() -> PathBuf {
    match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d).join("hoop"),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".local/share/hoop"),
            None => PathBuf::from("data"),
        },
    }
}
