//! `spawn_app()`: the real gateway on 127.0.0.1:0 with a database of its own, SQLite or
//! PostgreSQL, and typed helpers to talk to it over HTTP.

use hoop::{
    config::ServeConfig,
    secret::SecretString,
    startup::Application,
    wire::{
        audit::Event,
        identity::{Group, User, UserInfo},
        keys::{ApiKey, CreatedApiKey, KeyChanges, NewApiKey},
    },
};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::{net::SocketAddr, path::PathBuf, time::Duration};
use tokio::sync::oneshot;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery";
pub const LEGACY_ORG: &str = "6f1c2a9e-1b7d-4d35-9a55-6c5f0d2b7e11";
pub const LEGACY_KEY: &str = "6f1c2a9e-1b7d-4d35-9a55-6c5f0d2b7e11|legacy-random-0123456789";
/// Generous bounds for a loaded machine: past them something hangs.
const REQUEST_LIMIT: Duration = Duration::from_secs(120);
const STOP_LIMIT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub addr: SocketAddr,
    /// Where `GET /metrics` answers, when the test turned metrics on.
    pub metrics_addr: Option<SocketAddr>,
    pub client: Client,
    pub backend: Backend,
    pub database_url: String,
    /// The SQLite file, to scan its bytes for secrets.
    pub sqlite_path: Option<PathBuf>,
    pub admin_token: String,
    /// What this gateway was started with.
    pub config: ServeConfig,
    /// The running gateway's services, to read what only the process knows (how many
    /// credentials it looked up, say); tests still act through HTTP.
    pub state: hoop::state::AppState,
    /// The time this gateway's keys live by: a test moves it forward instead of waiting.
    /// Replicas share it (and the key policy), as machines share real time.
    pub clock: hoop::clock::Clock,
    key_policy: hoop::policy::KeyPolicy,
    /// Replicas share the first app's database and leave it to that one to drop.
    owns_database: bool,
    _dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
}

/// The PostgreSQL server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub async fn fresh_database(backend: Backend, dir: &std::path::Path) -> (String, Option<PathBuf>) {
    match backend {
        Backend::Sqlite => {
            let path = dir.join("hoop.db");
            (format!("sqlite://{}", path.display()), Some(path))
        }
        Backend::Postgres => {
            let admin_url = postgres_admin_url();
            let name = format!("hoop_test_{}", uuid::Uuid::new_v4().simple());
            let pool = sqlx::PgPool::connect(&admin_url)
                .await
                .expect("PostgreSQL must be running for the test suite (see scripts/test)");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&pool)
                .await
                .expect("create database");
            pool.close().await;
            let base = admin_url
                .rsplit_once('/')
                .expect("database URL has a path")
                .0;
            (format!("{base}/{name}"), None)
        }
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let (database_url, sqlite_path) = fresh_database(backend, dir.path()).await;
    start(backend, dir, database_url, sqlite_path, true, adjust).await
}

async fn start(
    backend: Backend,
    dir: tempfile::TempDir,
    database_url: String,
    sqlite_path: Option<PathBuf>,
    owns_database: bool,
    adjust: impl FnOnce(&mut ServeConfig),
) -> TestApp {
    crate::watchdog::watch_this_test();
    let mut config = ServeConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        database_url: Some(SecretString::new(database_url.clone())),
        data_dir: None,
        admin_email: Some(ADMIN_EMAIL.into()),
        admin_password: Some(SecretString::new(ADMIN_PASSWORD.into())),
        org_name: "acme".into(),
        api_key: None,
        secure_cookies: false,
        exec: Default::default(),
        http: Default::default(),
        observe: Default::default(),
        key_policy: Default::default(),
        clock: Default::default(),
        auth_failures_per_minute: 30,
        site_root: dir.path().join("site"),
        webhooks: Default::default(),
    };
    adjust(&mut config);
    let clock = config.clock.clone();
    let key_policy = config.key_policy;
    let app = Application::build(&config).await.expect("gateway starts");
    let addr = app.local_addr().expect("bound address");
    let metrics_addr = app.metrics_addr();
    let state = app.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        app.run_until(async {
            let _ = stopped.await;
        })
        .await
        .expect("gateway runs");
    });
    // A request that hangs fails where it was sent, well before the watchdog stops the run.
    let client = Client::builder()
        .timeout(REQUEST_LIMIT)
        .build()
        .expect("client");
    let mut app = TestApp {
        addr,
        metrics_addr,
        client,
        backend,
        database_url,
        sqlite_path,
        admin_token: String::new(),
        config,
        state,
        clock,
        key_policy,
        owns_database,
        _dir: dir,
        stop: Some(stop),
        done: Some(done),
    };
    app.admin_token = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    app
}

impl TestApp {
    /// Another gateway process on the same database, as behind a load balancer. PostgreSQL
    /// only: a second gateway on a SQLite file is refused (`startup::a_second_gateway_…`).
    pub async fn spawn_replica(&self) -> TestApp {
        self.spawn_replica_with(|_| {}).await
    }

    /// [`TestApp::spawn_replica`], its configuration changed by `adjust`.
    pub async fn spawn_replica_with(&self, adjust: impl FnOnce(&mut ServeConfig)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let (clock, key_policy) = (self.clock.clone(), self.key_policy);
        start(
            self.backend,
            dir,
            self.database_url.clone(),
            self.sqlite_path.clone(),
            false,
            |c| {
                c.clock = clock;
                c.key_policy = key_policy;
                adjust(c);
            },
        )
        .await
    }

    /// Stops this gateway and starts a new one on the same database (the same SQLite file),
    /// its clock and key policy, configured by `adjust`, as an operator's restart does.
    pub async fn restart_with(mut self, adjust: impl FnOnce(&mut ServeConfig)) -> TestApp {
        self.halt().await;
        let (clock, key_policy) = (self.clock.clone(), self.key_policy);
        start(
            self.backend,
            self._dir,
            self.database_url,
            self.sqlite_path,
            self.owns_database,
            |c| {
                c.clock = clock;
                c.key_policy = key_policy;
                adjust(c);
            },
        )
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn request(&self, method: Method, path: &str, bearer: Option<&str>) -> RequestBuilder {
        let req = self.client.request(method, self.url(path));
        match bearer {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    /// Sends and returns status and JSON body (Null when there is none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.request(method, path, bearer);
        if let Some(body) = body {
            req = req.json(&body);
        }
        read(req.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, bearer: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(bearer), None).await
    }

    pub async fn post(&self, path: &str, bearer: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(bearer), Some(body))
            .await
    }

    pub async fn put(&self, path: &str, bearer: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(bearer), Some(body)).await
    }

    /// The status of a REST login as the test admin.
    pub async fn admin_login_status(&self) -> StatusCode {
        let body = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
        let (status, _) = self
            .call(Method::POST, "/api/localauth/login", None, Some(body))
            .await;
        status
    }

    /// Logs the test admin in through the login form, as a browser without JavaScript does;
    /// returns the session cookie (`name=value`).
    pub async fn browser_login(&self) -> String {
        let response = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
            .post(self.url("/ui/fn/login"))
            .header("accept", "text/html")
            .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
            .send()
            .await
            .expect("login sent");
        let cookie = response.headers()["set-cookie"].to_str().expect("cookie");
        cookie.split(';').next().unwrap_or_default().to_owned()
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/localauth/login",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login failed: {body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Sends `body` and reads the answer as the wire type `T`, which must come with `want`.
    pub async fn call_as<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        bearer: &str,
        body: Option<&impl serde::Serialize>,
        want: StatusCode,
    ) -> T {
        let body = body.map(|b| serde_json::to_value(b).expect("a JSON body"));
        let (status, answer) = self.call(method.clone(), path, Some(bearer), body).await;
        assert_eq!(status, want, "{method} {path}: {answer}");
        serde_json::from_value(answer.clone())
            .unwrap_or_else(|e| panic!("{method} {path}: not the wire type: {e}: {answer}"))
    }

    /// A GET that must answer 200, read as the wire type `T`.
    pub async fn get_as<T: DeserializeOwned>(&self, path: &str, bearer: &str) -> T {
        self.call_as(Method::GET, path, bearer, None::<&()>, StatusCode::OK)
            .await
    }

    /// Creates a key as admin; returns the key and its secret.
    pub async fn create_key(&self, name: &str, groups: &[&str]) -> (ApiKey, String) {
        let request = NewApiKey {
            name: name.to_owned(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            expires_at: None,
        };
        let created: CreatedApiKey = self
            .call_as(
                Method::POST,
                "/api/api-keys",
                &self.admin_token,
                Some(&request),
                StatusCode::CREATED,
            )
            .await;
        (created.api_key, created.key.expose().to_owned())
    }

    /// A key by name or id, as admin.
    pub async fn api_key(&self, name_or_id: &str) -> ApiKey {
        self.get_as(&format!("/api/api-keys/{name_or_id}"), &self.admin_token)
            .await
    }

    /// Every key of the organization, as admin.
    pub async fn api_keys(&self) -> Vec<ApiKey> {
        self.get_as("/api/api-keys", &self.admin_token).await
    }

    /// Renames and/or regroups a key, as admin; the change must succeed.
    pub async fn configure_key(&self, name_or_id: &str, changes: KeyChanges) -> ApiKey {
        let path = format!("/api/api-keys/{name_or_id}");
        self.call_as(
            Method::PUT,
            &path,
            &self.admin_token,
            Some(&changes),
            StatusCode::OK,
        )
        .await
    }

    /// A key action without a body (`deactivate`, `activate`, `reactivate`), as admin.
    pub async fn key_action(&self, name_or_id: &str, action: &str) -> ApiKey {
        let path = format!("/api/api-keys/{name_or_id}/{action}");
        self.call_as(
            Method::POST,
            &path,
            &self.admin_token,
            None::<&()>,
            StatusCode::OK,
        )
        .await
    }

    /// The audit log as admin; `query` as in `limit=2&before=7`, or empty.
    pub async fn audit(&self, query: &str) -> Vec<Event> {
        self.get_as(&format!("/api/audit?{query}"), &self.admin_token)
            .await
    }

    pub async fn userinfo(&self, bearer: &str) -> UserInfo {
        self.get_as("/api/userinfo", bearer).await
    }

    pub async fn groups(&self) -> Vec<Group> {
        self.get_as("/api/groups", &self.admin_token).await
    }

    pub async fn users(&self) -> Vec<User> {
        self.get_as("/api/users", &self.admin_token).await
    }

    pub async fn create_group(&self, name: &str) {
        let (status, body) = self
            .post("/api/groups", &self.admin_token, json!({"name": name}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "create group failed: {body}");
    }

    pub async fn status_with(&self, path: &str, bearer: &str) -> StatusCode {
        self.get(path, bearer).await.0
    }

    /// Every row of every table as text, to search for secrets.
    pub async fn dump_database(&self) -> String {
        match self.backend {
            Backend::Sqlite => {
                // The raw file bytes (and its WAL) also cover free pages and old row versions.
                let path = self.sqlite_path.as_ref().expect("sqlite path");
                let mut bytes = std::fs::read(path).expect("read db");
                if let Ok(wal) = std::fs::read(path.with_extension("db-wal")) {
                    bytes.extend(wal);
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&self.database_url)
                    .await
                    .expect("connect");
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
                )
                .fetch_all(&pool)
                .await
                .expect("tables");
                let mut out = String::new();
                for t in tables {
                    let rows: Vec<String> =
                        sqlx::query_scalar(&format!("SELECT t::text FROM \"{t}\" t"))
                            .fetch_all(&pool)
                            .await
                            .expect("rows");
                    out.push_str(&rows.join("\n"));
                    out.push('\n');
                }
                pool.close().await;
                out
            }
        }
    }

    pub async fn stop(mut self) {
        self.halt().await;
        if self.owns_database {
            drop_database(self.backend, &self.database_url).await;
        }
    }

    /// Stops the gateway, leaving its database.
    async fn halt(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            // Names the step if shutting down hangs (draining connections, writing key use,
            // closing the pool) instead of leaving it to the watchdog.
            let stopped = tokio::time::timeout(STOP_LIMIT, done).await;
            assert!(
                stopped.is_ok(),
                "the gateway at {} did not stop within {STOP_LIMIT:?}",
                self.addr
            );
        }
    }
}

/// Drops a PostgreSQL database made by [`fresh_database`] (a SQLite one goes with its dir).
pub async fn drop_database(backend: Backend, database_url: &str) {
    if backend != Backend::Postgres {
        return;
    }
    let pool = sqlx::PgPool::connect(&postgres_admin_url())
        .await
        .expect("connect");
    let name = database_url.rsplit('/').next().unwrap_or_default();
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&pool)
        .await;
    pool.close().await;
}

/// The `field` of every object in a JSON array, as strings (names of listed keys, say).
pub fn strings<'a>(list: &'a Value, field: &str) -> Vec<&'a str> {
    let items = list.as_array().expect("a JSON array");
    items
        .iter()
        .map(|item| item[field].as_str().expect("a string field"))
        .collect()
}

pub async fn read(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// Runs one test body against both stores: `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = $crate::helpers::spawn_app($crate::helpers::Backend::Sqlite).await;
                    super::$name(&app).await;
                    app.stop().await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let app = $crate::helpers::spawn_app($crate::helpers::Backend::Postgres).await;
                    super::$name(&app).await;
                    app.stop().await;
                }
            }
        )*
    };
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn wait_until_up(client: &reqwest::Client, base: &str) {
    crate::watchdog::watch_this_test();
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/api/healthz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gateway did not come up at {base}");
}

/// The real `hoop serve` binary, as an operator runs it.
pub struct Gateway {
    pub child: std::process::Child,
    pub base: String,
}

impl Gateway {
    /// Starts `hoop serve` with these variables (plus a free HOOP_LISTEN and the test admin)
    /// and waits until it answers.
    pub async fn start(env: &[(&str, &str)]) -> Gateway {
        Self::start_logging(env, None).await
    }

    /// [`Gateway::start`], its log (standard error) written to `log`.
    pub async fn start_logging(env: &[(&str, &str)], log: Option<&std::path::Path>) -> Gateway {
        let port = free_port();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hoop"));
        cmd.arg("serve")
            .env("HOOP_LISTEN", format!("127.0.0.1:{port}"))
            .env("HOOP_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("HOOP_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(log) = log {
            cmd.stderr(std::fs::File::create(log).expect("log file"));
        }
        let child = cmd.spawn().expect("start hoop serve");
        let gateway = Gateway {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        wait_until_up(&Client::new(), &gateway.base).await;
        gateway
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A JSON call; the answer's JSON (Null when there is none).
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Value {
        let mut req = Client::new().request(method, self.url(path));
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        read(req.send().await.expect("request sent")).await.1
    }

    /// A user token for the test admin.
    pub async fn admin_token(&self) -> String {
        let body = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
        let answer = self
            .json(Method::POST, "/api/localauth/login", None, Some(body))
            .await;
        answer["token"].as_str().expect("token").to_owned()
    }

    /// Creates a key as `token`; returns the raw key.
    pub async fn create_key(&self, token: &str, name: &str) -> String {
        let body = json!({"name": name, "groups": ["admin"]});
        let created = self
            .json(Method::POST, "/api/api-keys", Some(token), Some(body))
            .await;
        created["key"].as_str().expect("raw key").to_owned()
    }

    pub fn signal(&self, signal: &str) {
        let ok = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{signal}");
    }

    /// Waits for the process to end; returns whether it exited successfully.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait for hoop")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
