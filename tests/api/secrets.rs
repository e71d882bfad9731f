//! The raw key must never reach the database or a log line.

use crate::both_backends;
use crate::helpers::*;
use reqwest::Method;
use serde_json::json;
use std::{
    io::Read,
    process::{Command, Stdio},
    time::Duration,
};

both_backends!(raw_key_is_in_no_database_row);

async fn raw_key_is_in_no_database_row(app: &TestApp) {
    let (created, raw) = app.create_key("scan-me", &["admin"]).await;
    app.get("/api/userinfo", &raw).await;
    app.put(
        "/api/api-keys/scan-me",
        &app.admin_token,
        json!({"name": "scanned"}),
    )
    .await;
    app.call(
        Method::POST,
        "/api/api-keys/scanned/deactivate",
        Some(&app.admin_token),
        None,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // let last_used_at be written
    let dump = app.dump_database().await;
    // Positive control: the scan does see what is stored about the key.
    let hash = hex_sha256(&raw);
    assert!(
        dump.contains(&hash),
        "the dump should contain the key's hash"
    );
    assert!(dump.contains(created["masked_key"].as_str().unwrap()));
    assert!(!dump.contains(&raw), "raw key found in the database");
    assert!(
        !dump.contains(&raw[8..]),
        "secret part of the key found in the database"
    );
    assert!(
        !dump.contains(ADMIN_PASSWORD),
        "admin password found in the database"
    );
    assert!(
        !dump.contains(&app.admin_token),
        "user token found in the database"
    );
}

fn hex_sha256(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// Runs the real binary with trace logging through a whole key lifecycle and reads every line
/// it wrote.
#[tokio::test]
async fn raw_key_is_in_no_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hoop"))
        .arg("serve")
        .env("RUST_LOG", "trace")
        .env("NO_COLOR", "1")
        .env("HOOP_LISTEN", format!("127.0.0.1:{port}"))
        .env("HOOP_DATA_DIR", dir.path())
        .env("HOOP_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("HOOP_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("API_KEY", LEGACY_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_until_up(&client, &base).await;

    let token: serde_json::Value = client
        .post(format!("{base}/api/localauth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let created: serde_json::Value = client
        .post(format!("{base}/api/api-keys"))
        .bearer_auth(&token)
        .json(&json!({"name": "logged", "groups": ["admin"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let raw = created["key"].as_str().unwrap().to_owned();
    assert_eq!(
        client
            .get(format!("{base}/api/userinfo"))
            .bearer_auth(&raw)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    client
        .post(format!("{base}/api/api-keys/logged/deactivate"))
        .bearer_auth(&raw)
        .send()
        .await
        .unwrap();
    assert_eq!(
        client
            .get(format!("{base}/api/userinfo"))
            .bearer_auth(&raw)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    client
        .get(format!("{base}/api/userinfo"))
        .header("api-key", LEGACY_KEY)
        .send()
        .await
        .unwrap();
    client
        .get(format!("{base}/api/userinfo"))
        .header("api-key", "wrong|guess-guess-guess-guess")
        .send()
        .await
        .unwrap();

    // SIGTERM: graceful shutdown, so every buffered line is written.
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "gateway exit: {status}");
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(
        logs.lines().count() > 20,
        "trace logging should be verbose:\n{logs}"
    );
    assert!(
        logs.contains("logged"),
        "the key's name is logged, so the scan sees key events"
    );
    for (what, secret) in [
        ("raw key", raw.as_str()),
        ("key secret part", &raw[8..]),
        ("admin password", ADMIN_PASSWORD),
        ("user token", token.as_str()),
        ("legacy key", LEGACY_KEY),
        ("legacy key secret", LEGACY_KEY.split('|').nth(1).unwrap()),
    ] {
        let hit = logs.lines().find(|l| l.contains(secret));
        assert!(hit.is_none(), "{what} in a log line: {hit:?}");
    }
}
