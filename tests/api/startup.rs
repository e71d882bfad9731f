//! Start-up configuration errors stop the gateway with a clear message.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use std::{
    io::{BufRead, BufReader, Read},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

fn serve_with(env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoop"));
    cmd.arg("serve")
        .env("HOOP_LISTEN", "127.0.0.1:0")
        .env("HOOP_DATA_DIR", dir.path())
        .env_remove("API_KEY")
        .env_remove("DATABASE_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn malformed_api_key_stops_start_up() {
    for (value, says) in [
        ("no-separator-here-at-all", "'|' separator is missing"),
        ("not-a-uuid|0123456789abcdefgh", "not a UUID"),
        ("6f1c2a9e-1b7d-4d35-9a55-6c5f0d2b7e11|short", "at least 16"),
    ] {
        let (ok, stderr) = serve_with(&[("API_KEY", value)]);
        assert!(!ok, "{value} should stop start-up");
        assert!(
            stderr.contains("API_KEY") && stderr.contains(says),
            "{stderr}"
        );
        assert!(
            !stderr.contains(value),
            "the value itself must not be echoed: {stderr}"
        );
    }
}

#[tokio::test]
async fn api_key_for_another_organization_stops_start_up() {
    // The first start created an organization with a random id; a legacy key naming another
    // organization would authenticate into nothing. (The first gateway stops before the second
    // starts: two gateways never share a SQLite file.)
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hoop.db").display());
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.database_url = Some(hoop::secret::SecretString::new(url.clone()))
    })
    .await;
    app.stop().await;
    let config = hoop::config::ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: Some(hoop::secret::SecretString::new(url)),
        data_dir: None,
        admin_email: None,
        admin_password: None,
        org_name: "acme".into(),
        api_key: Some(hoop::secret::SecretString::new(LEGACY_KEY.into())),
        secure_cookies: false,
        exec: Default::default(),
        http: Default::default(),
        observe: Default::default(),
        key_policy: Default::default(),
        clock: Default::default(),
        auth_failures_per_minute: 30,
        site_root: "target/site".into(),
        webhooks: Default::default(),
    };
    let err = hoop::startup::Application::build(&config)
        .await
        .err()
        .expect("start-up must fail");
    let message = format!("{err:#}");
    assert!(
        message.contains("API_KEY") && message.contains(LEGACY_ORG),
        "{message}"
    );
    assert!(!message.contains("legacy-random"), "{message}");
}

#[test]
fn unsupported_database_url_is_refused() {
    let (ok, stderr) = serve_with(&[("DATABASE_URL", "mysql://localhost/x")]);
    assert!(!ok);
    assert!(
        stderr.contains("sqlite://") && stderr.contains("postgres://"),
        "{stderr}"
    );
}

/// `hoop serve` in `cwd`, expected to stop by itself: its success and standard error. Fails the
/// test if it is still running long after it should have stopped (it is serving, then).
fn serve_expecting_exit(env: &[(&str, &str)], cwd: &Path) -> (bool, String) {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoop"));
    cmd.arg("serve")
        .current_dir(cwd)
        .env("HOOP_LISTEN", "127.0.0.1:0")
        .env("HOOP_DATA_DIR", data.path())
        .env_remove("API_KEY")
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hoop serve did not stop: {}", reader.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status.success(), reader.join().unwrap())
}

/// A second gateway on a SQLite file another one serves would keep serving keys the first one
/// revoked (each trusts its own cache): it does not start, whatever name it gives the file, and
/// says to use PostgreSQL for several replicas. Once the first stops, the file is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_gateway_on_a_served_sqlite_file_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hoop.db");
    let url = format!("sqlite://{}", db.display());
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.database_url = Some(hoop::secret::SecretString::new(url.clone()))
    })
    .await;
    let (_, raw) = app.create_key("first", &["admin"]).await;
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let symlink = dir.path().join("innocent.db");
    std::os::unix::fs::symlink(&db, &symlink).unwrap();
    let hard = dir.path().join("hard.db");
    std::fs::hard_link(&db, &hard).unwrap();
    for (how, target) in [
        ("the same path", url.clone()),
        ("a symbolic link", format!("sqlite://{}", symlink.display())),
        ("a hard link", format!("sqlite://{}", hard.display())),
        ("a relative path", "sqlite:hoop.db".to_owned()),
        ("a path through ..", "sqlite://./sub/../hoop.db".to_owned()),
    ] {
        let (ok, stderr) = serve_expecting_exit(&[("DATABASE_URL", &target)], dir.path());
        assert!(!ok, "{how}: a second gateway started");
        assert!(
            stderr.contains("already served by another hoop gateway")
                && stderr.contains("PostgreSQL"),
            "{how}: {stderr}"
        );
    }
    // The first gateway did not notice.
    assert_eq!(app.status_with("/api/userinfo", &raw).await, StatusCode::OK);
    app.stop().await;

    // Stopping gave the file up: a gateway starts on it (by another of its names) and has its data.
    let link = format!("sqlite://{}", symlink.display());
    let gw = Gateway::start(&[("DATABASE_URL", &link)]).await;
    let token = gw.admin_token().await;
    let keys = gw
        .json(Method::GET, "/api/api-keys", Some(&token), None)
        .await;
    assert_eq!(strings(&keys, "name"), ["first"]);
}

/// `hoop serve` with these variables on a fresh data directory, until it says it is ready: what
/// it logged by then.
fn log_until_ready(env: &[(&str, &str)]) -> String {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoop"));
    cmd.arg("serve")
        .env("HOOP_LISTEN", "127.0.0.1:0")
        .env("HOOP_DATA_DIR", data.path())
        .env("RUST_LOG", "info")
        .env_remove("API_KEY")
        .env_remove("DATABASE_URL")
        .env_remove("HOOP_ADMIN_EMAIL")
        .env_remove("HOOP_ADMIN_PASSWORD")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let (lines, read) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut log = String::new();
    let ready = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match read.recv_timeout(left) {
            Ok(line) => {
                log.push_str(&line);
                log.push('\n');
                if line.contains("hoop gateway ready") {
                    break true;
                }
            }
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(ready, "hoop serve never got ready: {log}");
    log
}

/// A legacy key whose random part is a pattern starts (existing deployments keep working) but
/// says loudly that it is guessable and how to make a good one, without showing it.
#[test]
fn a_guessable_legacy_api_key_is_warned_about() {
    let weak = format!("{LEGACY_ORG}|aaaaaaaaaaaaaaaaaaaa");
    let log = log_until_ready(&[("API_KEY", &weak)]);
    assert!(
        log.contains("API_KEY is guessable") && log.contains("openssl rand"),
        "{log}"
    );
    assert!(!log.contains("aaaaaaaaaaaaaaaaaaaa"), "{log}");

    let log = log_until_ready(&[("API_KEY", LEGACY_KEY)]);
    assert!(!log.contains("guessable"), "{log}");
}

/// A rolling upgrade: the first upgraded replica migrates the shared database, and a replica
/// still on the older version must still (re)start on it. Stands in for the newer version by
/// recording a migration this binary does not know, then restarts the gateway on the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_version_starts_on_a_database_a_newer_one_migrated() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let dir = tempfile::tempdir().unwrap();
        let (url, _) = fresh_database(backend, dir.path()).await;
        let data = dir.path().join("data");
        let env = [
            ("DATABASE_URL", url.as_str()),
            ("HOOP_DATA_DIR", data.to_str().unwrap()),
        ];
        let gw = Gateway::start(&env).await;
        let token = gw.admin_token().await;
        let key = gw.create_key(&token, "across-the-upgrade").await;
        drop(gw);

        let newer = "INSERT INTO _sqlx_migrations \
             (version, description, success, checksum, execution_time) \
             VALUES (99990101000000, 'from a newer version', TRUE, $1, 0)";
        match backend {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
                sqlx::query(newer)
                    .bind(vec![0u8; 48])
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&url).await.unwrap();
                sqlx::query(newer)
                    .bind(vec![0u8; 48])
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
            }
        }

        let gw = Gateway::start(&env).await;
        let me = gw
            .json(Method::GET, "/api/userinfo", Some(&key), None)
            .await;
        assert_eq!(me["name"], "across-the-upgrade", "{backend:?}: {me}");
        drop(gw);
        if backend == Backend::Postgres {
            drop_database(backend, &url).await;
        }
    }
}
