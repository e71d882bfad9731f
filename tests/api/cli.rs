//! The real `hoop` binary against a running gateway, with a temporary HOME.

use crate::connections::{postgres_target, sqlite_target};
use crate::helpers::*;
use reqwest::Method;
use serde_json::json;
use std::{os::unix::fs::PermissionsExt, path::Path};
use tokio::process::Command;

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

async fn hoop(home: &Path, env: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> Run {
    use std::process::Stdio;
    use tokio::io::AsyncWriteExt;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoop"));
    cmd.args(args)
        .env("HOME", home)
        .env_remove("HOOP_TOKEN")
        .env_remove("HOOP_APIURL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .await
        .unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_logs_in_and_works_within_its_groups() {
    let app = spawn_app(Backend::Sqlite).await;
    let home = tempfile::tempdir().unwrap();
    let targets = tempfile::tempdir().unwrap();
    let url = app.url("");
    app.create_group("engineering").await;
    app.create_group("payments").await;
    for (name, kind, target, group) in [
        (
            "eng-sqlite",
            "sqlite",
            sqlite_target(targets.path(), "eng").await,
            "engineering",
        ),
        ("eng-pg", "postgres", postgres_target().await, "engineering"),
        (
            "pay-sqlite",
            "sqlite",
            sqlite_target(targets.path(), "pay").await,
            "payments",
        ),
    ] {
        let body = json!({"name": name, "type": kind, "target": target, "access_groups": [group]});
        assert_eq!(
            app.post("/api/connections", &app.admin_token, body).await.0,
            201
        );
    }
    let (_, key) = app.create_key("eng-bot", &["engineering"]).await;
    let config = home.path().join(".hoop/config.toml");

    // Not a managed key: refused before any request (the URL points nowhere).
    let r = hoop(
        home.path(),
        &[],
        &[
            "login",
            "--api-key",
            "hut_abc",
            "--api-url",
            "http://127.0.0.1:1",
        ],
        None,
    )
    .await;
    assert!(!r.ok);
    assert!(r.stderr.contains("start with hpk_"), "{}", r.stderr);
    // A rejected key is not saved.
    let unknown = format!("hpk_{}", "A".repeat(43));
    let r = hoop(
        home.path(),
        &[],
        &["login", "--api-key", &unknown, "--api-url", &url],
        None,
    )
    .await;
    assert!(!r.ok);
    assert!(r.stderr.contains("not authenticated"), "{}", r.stderr);
    assert!(!config.exists());

    let r = hoop(
        home.path(),
        &[],
        &["login", "--api-key", &key, "--api-url", &url],
        None,
    )
    .await;
    assert!(r.ok, "{}", r.stderr);
    assert!(r.stdout.contains("eng-bot"), "{}", r.stdout);
    assert!(
        !r.stdout.contains(&key[8..]) && !r.stderr.contains(&key[8..]),
        "the key is never printed"
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&config), 0o600);
    assert_eq!(mode(config.parent().unwrap()), 0o700);
    let saved: toml::Value = toml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(saved["api_url"].as_str(), Some(url.as_str()));
    assert_eq!(saved["token"].as_str(), Some(key.as_str()));

    // Exec on the key's own connections, SQLite and PostgreSQL.
    let r = hoop(
        home.path(),
        &[],
        &[
            "exec",
            "eng-sqlite",
            "-i",
            "SELECT id, label FROM items WHERE id = 1",
        ],
        None,
    )
    .await;
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(r.stdout, "id\tlabel\n1\teng one\n");
    let r = hoop(
        home.path(),
        &[],
        &["exec", "eng-pg"],
        Some("SELECT owner FROM accounts ORDER BY id"),
    )
    .await;
    assert_eq!(r.stdout, "owner\nada\ngrace\n", "{}", r.stderr);
    let script = targets.path().join("q.sql");
    std::fs::write(&script, "SELECT count(*) AS n FROM accounts").unwrap();
    let r = hoop(
        home.path(),
        &[],
        &[
            "exec",
            "eng-pg",
            "-f",
            script.to_str().unwrap(),
            "-o",
            "json",
        ],
        None,
    )
    .await;
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["output"], "n\n2\n");
    assert_eq!(json["output_status"], "success");
    // A database error: its message, non-zero exit.
    let r = hoop(
        home.path(),
        &[],
        &["exec", "eng-sqlite", "-i", "SELECT * FROM nowhere"],
        None,
    )
    .await;
    assert!(!r.ok);
    assert!(r.stderr.contains("no such table: nowhere"), "{}", r.stderr);
    // Another group's connection: 403, saying what is missing.
    let r = hoop(
        home.path(),
        &[],
        &["exec", "pay-sqlite", "-i", "SELECT 1"],
        None,
    )
    .await;
    assert!(!r.ok);
    assert!(
        r.stderr.contains("forbidden") && r.stderr.contains("payments"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
    // Admin commands need the admin group.
    let r = hoop(home.path(), &[], &["admin", "get", "apikeys"], None).await;
    assert!(!r.ok && r.stderr.contains("admin"), "{}", r.stderr);

    // The sessions list shows the key as the actor (read here with an admin token from the environment).
    let admin_env = [("HOOP_TOKEN", app.admin_token.as_str())];
    let r = hoop(
        home.path(),
        &admin_env,
        &["admin", "get", "sessions", "-o", "json"],
        None,
    )
    .await;
    let sessions: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 4);
    assert!(sessions
        .iter()
        .all(|s| s["actor"] == "eng-bot" && s["auth_method"] == "api_key"));
    let r = hoop(home.path(), &admin_env, &["admin", "get", "sessions"], None).await;
    assert!(
        r.stdout.starts_with("ID ") && r.stdout.contains("eng-bot"),
        "{}",
        r.stdout
    );

    // Deactivated: the next CLI call fails with the 401 message.
    app.call(
        Method::POST,
        "/api/api-keys/eng-bot/deactivate",
        Some(&app.admin_token),
        None,
    )
    .await;
    let r = hoop(
        home.path(),
        &[],
        &["exec", "eng-sqlite", "-i", "SELECT 1"],
        None,
    )
    .await;
    assert!(!r.ok);
    assert_eq!(
        r.stderr.trim(),
        "error: not authenticated: the key was rejected (deactivated or unknown); run hoop login"
    );
    // The gateway unreachable: the URL it tried.
    let r = hoop(
        home.path(),
        &[("HOOP_APIURL", "http://127.0.0.1:1")],
        &["admin", "get", "userinfo"],
        None,
    )
    .await;
    assert!(
        !r.ok && r.stderr.contains("http://127.0.0.1:1"),
        "{}",
        r.stderr
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_manage_keys() {
    let app = spawn_app(Backend::Sqlite).await;
    let home = tempfile::tempdir().unwrap();
    let env = [
        ("HOOP_TOKEN", app.admin_token.as_str()),
        ("HOOP_APIURL", &app.url("")),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, &**v)).collect();

    let r = hoop(
        home.path(),
        &env,
        &["admin", "create", "group", "engineering"],
        None,
    )
    .await;
    assert!(r.ok, "{}", r.stderr);
    let r = hoop(
        home.path(),
        &env,
        &[
            "admin",
            "create",
            "apikey",
            "piped",
            "--groups",
            "engineering",
        ],
        None,
    )
    .await;
    assert!(r.ok, "{}", r.stderr);
    // The key alone on stdout, so it can be piped into a secrets manager.
    let raw = r.stdout.trim_end().to_owned();
    assert_eq!(r.stdout, format!("{raw}\n"));
    assert!(raw.starts_with("hpk_") && raw.len() == 47);
    assert_eq!(app.get("/api/userinfo", &raw).await.1["name"], "piped");

    let r = hoop(
        home.path(),
        &env,
        &[
            "admin",
            "configure",
            "apikey",
            "piped",
            "--name",
            "piped-2",
            "--groups",
            "engineering,admin",
        ],
        None,
    )
    .await;
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(
        app.get("/api/userinfo", &raw).await.1["groups"],
        json!(["admin", "engineering"])
    );
    let r = hoop(
        home.path(),
        &env,
        &["admin", "deactivate", "apikey", "piped-2"],
        None,
    )
    .await;
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(app.get("/api/userinfo", &raw).await.0, 401);
    let r = hoop(
        home.path(),
        &env,
        &["admin", "activate", "apikey", "piped-2"],
        None,
    )
    .await;
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(app.get("/api/userinfo", &raw).await.0, 200);

    let r = hoop(home.path(), &env, &["admin", "get", "apikeys"], None).await;
    assert!(
        r.stdout.contains("piped-2") && r.stdout.contains("hpk_") && !r.stdout.contains(&raw[8..]),
        "{}",
        r.stdout
    );
    let r = hoop(
        home.path(),
        &env,
        &["admin", "get", "userinfo", "-o", "json"],
        None,
    )
    .await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()["email"],
        ADMIN_EMAIL
    );

    let db = tempfile::tempdir().unwrap();
    let target = sqlite_target(db.path(), "cli").await;
    let r = hoop(
        home.path(),
        &env,
        &[
            "admin",
            "create",
            "connection",
            "cli-db",
            "--type",
            "sqlite",
            "--target",
            &target,
            "--groups",
            "engineering",
        ],
        None,
    )
    .await;
    assert!(r.ok, "{}", r.stderr);
    let r = hoop(home.path(), &env, &["admin", "get", "connections"], None).await;
    assert!(
        r.stdout.contains("cli-db") && r.stdout.contains("engineering"),
        "{}",
        r.stdout
    );
    let r = hoop(
        home.path(),
        &env,
        &[
            "admin",
            "create",
            "apikey",
            "piped-2",
            "--groups",
            "engineering",
        ],
        None,
    )
    .await;
    assert!(!r.ok && r.stderr.contains("already exists"), "{}", r.stderr);
    app.stop().await;
}

/// What scripts and shells need: completions, a key read from standard input (never in the
/// shell's history or `ps`), one key by name, and JSON from every command that answers one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_serves_scripts_and_shells() {
    let app = spawn_app(Backend::Sqlite).await;
    let home = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "_hoop()"),
        ("zsh", "#compdef hoop"),
        ("fish", "complete -c hoop"),
    ] {
        let r = hoop(home.path(), &[], &["completion", shell], None).await;
        assert!(r.ok, "{shell}: {}", r.stderr);
        assert!(r.stdout.contains(marker), "{shell}: {}", r.stdout);
        assert!(
            r.stdout.contains("apikey"),
            "{shell} completes subcommands' values"
        );
    }

    let (_, key) = app.create_key("from-stdin", &["admin"]).await;
    let url = app.url("");
    let r = hoop(
        home.path(),
        &[],
        &["login", "--api-url", &url, "--api-key", "-"],
        Some(&format!("{key}\n")),
    )
    .await;
    assert!(r.ok, "{}", r.stderr);
    assert!(r.stdout.contains("from-stdin"), "{}", r.stdout);
    let r = hoop(
        home.path(),
        &[],
        &["login", "--api-url", &url, "--api-key", "-"],
        Some("not-a-key\n"),
    )
    .await;
    assert!(
        !r.ok && r.stderr.contains("start with hpk_"),
        "{}",
        r.stderr
    );

    // Logged in with the key read from stdin: one key by name, as a table and as JSON.
    let r = hoop(
        home.path(),
        &[],
        &["admin", "get", "apikey", "from-stdin"],
        None,
    )
    .await;
    assert!(r.ok, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one row: {}", r.stdout);
    assert!(
        lines[0].starts_with("NAME") && lines[1].starts_with("from-stdin"),
        "{}",
        r.stdout
    );
    let r = hoop(
        home.path(),
        &[],
        &["admin", "get", "apikey", "from-stdin", "-o", "json"],
        None,
    )
    .await;
    let shown: hoop::wire::keys::ApiKey = serde_json::from_str(&r.stdout).expect(&r.stdout);
    assert_eq!(shown.name, "from-stdin");
    let r = hoop(home.path(), &[], &["admin", "get", "groups", "admin"], None).await;
    assert!(!r.ok && r.stderr.contains("only API keys"), "{}", r.stderr);

    let (_, other) = app.create_key("scripted", &["admin"]).await;
    for (args, active) in [
        (
            vec!["admin", "deactivate", "apikey", "scripted", "-o", "json"],
            false,
        ),
        (
            vec!["admin", "activate", "apikey", "scripted", "-o", "json"],
            true,
        ),
    ] {
        let r = hoop(home.path(), &[], &args, None).await;
        let key: hoop::wire::keys::ApiKey = serde_json::from_str(&r.stdout).expect(&r.stdout);
        assert_eq!(
            key.status == hoop::wire::keys::KeyStatus::Active,
            active,
            "{args:?}"
        );
        let status = app.status_with("/api/userinfo", &other).await;
        assert_eq!(status.is_success(), active, "{args:?}");
    }
    let r = hoop(
        home.path(),
        &[],
        &[
            "admin",
            "configure",
            "apikey",
            "scripted",
            "--groups",
            "admin",
            "-o",
            "json",
        ],
        None,
    )
    .await;
    let key: hoop::wire::keys::ApiKey = serde_json::from_str(&r.stdout).expect(&r.stdout);
    assert_eq!(key.groups, ["admin"]);
    app.stop().await;
}

/// `hoop mcp config` prints a `.mcp.json` for the key logged in with, and refuses a user token
/// (it expires, so the agent would stop working by itself) or no login at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_config_prints_the_snippet_for_the_logged_in_key() {
    let app = spawn_app(Backend::Sqlite).await;
    let home = tempfile::tempdir().unwrap();
    let url = app.url("");
    let r = hoop(home.path(), &[], &["mcp", "config"], None).await;
    assert!(!r.ok && r.stderr.contains("not logged in"), "{}", r.stderr);
    let (_, key) = app.create_key("agent", &["admin"]).await;
    let login = hoop(
        home.path(),
        &[],
        &["login", "--api-key", "-", "--api-url", &url],
        Some(&key),
    )
    .await;
    assert!(login.ok, "{}", login.stderr);
    let r = hoop(home.path(), &[], &["mcp", "config"], None).await;
    assert!(r.ok, "{}", r.stderr);
    let snippet: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        snippet,
        json!({"mcpServers": {"hoop": {"type": "http", "url": format!("{url}/api/mcp"),
            "headers": {"Authorization": format!("Bearer {key}")}}}})
    );
    let token = &app.admin_token;
    let r = hoop(
        home.path(),
        &[("HOOP_TOKEN", token)],
        &["mcp", "config"],
        None,
    )
    .await;
    assert!(!r.ok && r.stderr.contains("user token"), "{}", r.stderr);
    assert!(!r.stdout.contains(token.as_str()) && !r.stderr.contains(token.as_str()));
    app.stop().await;
}

/// `hoop completion bash | head -1`, `hoop admin get apikeys | head`: when the reader stops
/// reading, the CLI ends quietly (killed by SIGPIPE, as Unix tools are), never with a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_the_cli_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let home = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hoop"))
        .args(["completion", "bash"])
        .env("HOME", home.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader is gone before the first write.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?} {stderr}",
        out.status
    );
}
