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
    // The CLI names itself, so the key's page says which program used it.
    app.state.keys.flush_usage().await;
    let (_, used) = app.get("/api/api-keys/eng-bot", &app.admin_token).await;
    let agent = used["last_used_user_agent"].as_str().unwrap_or_default();
    assert!(agent.starts_with("hoop-cli/"), "{used}");
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

/// `--expires` on create, configure and activate, and `rotate` with and without an overlap,
/// through the real binary on both stores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_expire_and_rotate_from_the_cli() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        expiry_and_rotation(backend).await;
    }
}

async fn expiry_and_rotation(backend: Backend) {
    use chrono::{TimeDelta, Utc};
    use hoop::wire::keys::{ApiKey, CreatedApiKey, KeyStatus};
    let app = spawn_app(backend).await;
    let home = tempfile::tempdir().unwrap();
    let url = app.url("");
    let env = [
        ("HOOP_TOKEN", app.admin_token.as_str()),
        ("HOOP_APIURL", url.as_str()),
    ];
    let run = |args: &'static [&'static str]| hoop(home.path(), &env, args, None);
    let shown = |r: &Run| -> ApiKey { serde_json::from_str(&r.stdout).expect(&r.stdout) };
    let near =
        |a: chrono::DateTime<Utc>, b: chrono::DateTime<Utc>| (a - b).abs() < TimeDelta::minutes(1);

    // A duration counts from now.
    let r = run(&[
        "admin",
        "create",
        "apikey",
        "monthly",
        "--groups",
        "admin",
        "--expires",
        "30d",
    ])
    .await;
    assert!(r.ok, "{}", r.stderr);
    assert!(
        r.stdout.starts_with("hpk_") && r.stdout.lines().count() == 1,
        "{}",
        r.stdout
    );
    let monthly = shown(&run(&["admin", "get", "apikey", "monthly", "-o", "json"]).await);
    let expires = monthly.expires_at.expect("an expiry");
    assert!(near(expires, Utc::now() + TimeDelta::days(30)), "{expires}");
    // Configure without --expires leaves it as it was.
    let r = run(&[
        "admin",
        "configure",
        "apikey",
        "monthly",
        "--groups",
        "admin",
        "-o",
        "json",
    ])
    .await;
    assert_eq!(shown(&r).expires_at, Some(expires), "{}", r.stderr);

    // A date is 00:00 UTC at its start (one two months out, so the test never dates).
    let day = (Utc::now() + TimeDelta::days(60)).date_naive();
    let date = day.format("%Y-%m-%d").to_string();
    let r = hoop(
        home.path(),
        &env,
        &[
            "admin",
            "create",
            "apikey",
            "dated",
            "--groups",
            "admin",
            "--expires",
            &date,
        ],
        None,
    )
    .await;
    assert!(r.ok, "{}", r.stderr);
    let dated = shown(&run(&["admin", "get", "apikey", "dated", "-o", "json"]).await);
    assert_eq!(
        dated.expires_at,
        Some(day.and_hms_opt(0, 0, 0).unwrap().and_utc())
    );
    let r = run(&["admin", "get", "apikey", "dated"]).await;
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].contains("EXPIRES") && lines[1].contains(&date),
        "{}",
        r.stdout
    );
    // never clears it.
    let r = run(&[
        "admin",
        "configure",
        "apikey",
        "dated",
        "--expires",
        "never",
        "-o",
        "json",
    ])
    .await;
    assert_eq!(shown(&r).expires_at, None, "{}", r.stderr);
    assert_eq!(app.api_key("dated").await.expires_at, None);
    let r = run(&["admin", "get", "apikeys"]).await;
    let row = r.stdout.lines().find(|l| l.starts_with("dated ")).unwrap();
    assert!(row.contains(" never "), "{}", r.stdout);

    // A value that is none of the forms: refused before any request, naming the forms.
    let r = run(&[
        "admin",
        "create",
        "apikey",
        "vague",
        "--groups",
        "admin",
        "--expires",
        "soon",
    ])
    .await;
    assert!(!r.ok);
    assert!(
        r.stderr.contains("soon")
            && r.stderr.contains("90d")
            && r.stderr.contains("2027-01-31")
            && r.stderr.contains("never"),
        "{}",
        r.stderr
    );
    assert_eq!(
        app.get("/api/api-keys/vague", &app.admin_token).await.0,
        404
    );
    let r = run(&[
        "admin",
        "configure",
        "apikey",
        "monthly",
        "--expires",
        "31/01/2027",
    ])
    .await;
    assert!(!r.ok && r.stderr.contains("never"), "{}", r.stderr);
    let r = run(&["admin", "rotate", "apikey", "monthly", "--grace", "31d"]).await;
    assert!(!r.ok && r.stderr.contains("30d"), "{}", r.stderr);
    // A time in the past: the gateway's 422, as one line.
    let r = run(&[
        "admin",
        "configure",
        "apikey",
        "monthly",
        "--expires",
        "2020-01-01",
    ])
    .await;
    assert!(!r.ok && r.stderr.contains("422"), "{}", r.stderr);

    // Rotation with an overlap: the new key alone on stdout, both secrets work for the hour.
    let (_, first) = app.create_key("rolled", &["admin"]).await;
    let r = run(&["admin", "rotate", "apikey", "rolled", "--grace", "1h"]).await;
    assert!(r.ok, "{}", r.stderr);
    let second = r.stdout.trim_end().to_owned();
    assert_eq!(r.stdout, format!("{second}\n"));
    assert!(second.starts_with("hpk_") && second.len() == 47 && second != first);
    assert!(
        r.stderr.contains("the old secret works until"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains(&second[8..]),
        "the key is on stdout only"
    );
    assert_eq!(app.status_with("/api/userinfo", &second).await, 200);
    assert_eq!(app.status_with("/api/userinfo", &first).await, 200);
    let rolled = shown(&run(&["admin", "get", "apikey", "rolled", "-o", "json"]).await);
    assert_eq!(
        rolled.previous_masked_key.as_deref().map(|m| &m[..8]),
        Some(&first[..8])
    );
    assert!(near(
        rolled.previous_expires_at.unwrap(),
        Utc::now() + TimeDelta::hours(1)
    ));
    let r = run(&["admin", "get", "apikey", "rolled"]).await;
    assert!(
        r.stdout.contains("PREVIOUS_MASKED_KEY") && r.stdout.contains(&first[..8]),
        "{}",
        r.stdout
    );
    // Without an overlap the old secret ends at once (and the one before it too).
    let r = run(&["admin", "rotate", "apikey", "rolled"]).await;
    assert!(r.ok, "{}", r.stderr);
    assert!(r.stderr.contains("stopped working now"), "{}", r.stderr);
    let third = r.stdout.trim_end().to_owned();
    assert_eq!(app.status_with("/api/userinfo", &third).await, 200);
    assert_eq!(app.status_with("/api/userinfo", &second).await, 401);
    assert_eq!(app.status_with("/api/userinfo", &first).await, 401);
    // -o json: the whole CreatedApiKey.
    let r = run(&[
        "admin", "rotate", "apikey", "rolled", "--grace", "24h", "-o", "json",
    ])
    .await;
    let created: CreatedApiKey = serde_json::from_str(&r.stdout).expect(&r.stdout);
    assert_eq!(created.api_key.name, "rolled");
    assert_eq!(
        app.status_with("/api/userinfo", created.key.expose()).await,
        200
    );
    assert_eq!(app.status_with("/api/userinfo", &third).await, 200);

    // Expired: the status says so, and activating it needs a new expiry.
    let r = run(&[
        "admin",
        "create",
        "apikey",
        "brief",
        "--groups",
        "admin",
        "--expires",
        "2s",
    ])
    .await;
    assert!(r.ok, "{}", r.stderr);
    let brief = r.stdout.trim_end().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(app.status_with("/api/userinfo", &brief).await, 401);
    let r = run(&["admin", "get", "apikey", "brief"]).await;
    assert!(
        r.stdout.lines().nth(1).unwrap().contains(" expired "),
        "{}",
        r.stdout
    );
    let r = run(&["admin", "activate", "apikey", "brief"]).await;
    assert!(!r.ok && r.stderr.contains("expires_at"), "{}", r.stderr);
    let r = run(&["admin", "activate", "apikey", "brief", "--expires", "never"]).await;
    assert!(
        !r.ok && r.stderr.contains("--expires never"),
        "{}",
        r.stderr
    );
    let r = run(&[
        "admin",
        "activate",
        "apikey",
        "brief",
        "--expires",
        "1d",
        "-o",
        "json",
    ])
    .await;
    let activated = shown(&r);
    assert_eq!(activated.status, KeyStatus::Active, "{}", r.stderr);
    assert!(near(
        activated.expires_at.unwrap(),
        Utc::now() + TimeDelta::days(1)
    ));
    assert_eq!(app.status_with("/api/userinfo", &brief).await, 200);
    app.stop().await;
}

/// A key that expires within 7 days: every command it runs says so once, on stderr, naming
/// the key `hoop login` saved; a key with longer to live hears nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_warns_when_its_key_expires_soon() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        expiry_warning(backend).await;
    }
}

async fn expiry_warning(backend: Backend) {
    use chrono::{TimeDelta, Utc};
    let app = spawn_app(backend).await;
    let url = app.url("");
    let key_expiring_in = |name: &'static str, left: TimeDelta| {
        let app = &app;
        async move {
            let body = json!({"name": name, "groups": ["admin"], "expires_at": Utc::now() + left});
            let (status, created) = app.post("/api/api-keys", &app.admin_token, body).await;
            assert_eq!(status, 201, "{created}");
            created["key"].as_str().unwrap().to_owned()
        }
    };
    let login = |home: &Path, key: &str| {
        let (home, key, url) = (home.to_owned(), key.to_owned(), url.clone());
        async move {
            let r = hoop(
                &home,
                &[],
                &["login", "--api-key", "-", "--api-url", &url],
                Some(&key),
            )
            .await;
            assert!(r.ok, "{}", r.stderr);
            r
        }
    };

    let soon = key_expiring_in("soon", TimeDelta::days(3)).await;
    let home = tempfile::tempdir().unwrap();
    let r = login(home.path(), &soon).await;
    assert!(
        r.stderr.contains("this API key expires in 3 days")
            && r.stderr.contains("rotate apikey soon"),
        "login names the key it just learned: {}",
        r.stderr
    );
    for args in [
        &["admin", "get", "apikeys"][..],
        &["admin", "get", "apikeys", "-o", "json"][..],
    ] {
        let r = hoop(home.path(), &[], args, None).await;
        assert!(r.ok, "{}", r.stderr);
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {}", r.stderr);
        assert!(
            lines[0].starts_with("this API key expires in 3 days (")
                && lines[0].ends_with("): rotate it with hoop admin rotate apikey soon"),
            "{}",
            r.stderr
        );
        assert!(!r.stdout.contains("expires in"), "stdout stays the answer");
    }
    let r = hoop(
        home.path(),
        &[],
        &["admin", "get", "apikeys", "-o", "json"],
        None,
    )
    .await;
    serde_json::from_str::<serde_json::Value>(&r.stdout).expect("stdout is JSON alone");
    // With HOOP_TOKEN the CLI does not know the key's name: it says how to find it.
    let r = hoop(
        home.path(),
        &[("HOOP_TOKEN", &soon)],
        &["admin", "get", "userinfo"],
        None,
    )
    .await;
    assert!(
        r.stderr.contains("expires in 3 days") && r.stderr.contains("userinfo"),
        "{}",
        r.stderr
    );

    // Under a day: hours.
    let hours = key_expiring_in("hours", TimeDelta::hours(5)).await;
    let r = hoop(
        home.path(),
        &[("HOOP_TOKEN", &hours)],
        &["admin", "get", "groups"],
        None,
    )
    .await;
    assert!(
        r.stderr.contains("this API key expires in 5 hours"),
        "{}",
        r.stderr
    );

    // Following the advice: rotating the key the CLI is logged in with saves the new one, so
    // the next command still works although the old secret ended at once.
    let r = hoop(
        home.path(),
        &[],
        &["admin", "rotate", "apikey", "soon"],
        None,
    )
    .await;
    assert!(r.ok, "{}", r.stderr);
    let new = r.stdout.trim_end();
    assert_eq!(app.status_with("/api/userinfo", &soon).await, 401);
    let saved: toml::Value =
        toml::from_str(&std::fs::read_to_string(home.path().join(".hoop/config.toml")).unwrap())
            .unwrap();
    assert_eq!(saved["token"].as_str(), Some(new));
    let r = hoop(home.path(), &[], &["admin", "get", "apikey", "soon"], None).await;
    assert!(r.ok, "{}", r.stderr);

    // Thirty days to live: no warning.
    let later = key_expiring_in("later", TimeDelta::days(30)).await;
    let home = tempfile::tempdir().unwrap();
    let r = login(home.path(), &later).await;
    assert_eq!(r.stderr, "");
    let r = hoop(home.path(), &[], &["admin", "get", "apikeys"], None).await;
    assert!(r.ok && r.stderr.is_empty(), "{}", r.stderr);
    app.stop().await;
}
