//! A raw key, password or user token never reaches the database, a log line, an error body,
//! a header or a URL.

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
    assert!(dump.contains(&created.masked_key));
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
    let child = Command::new(env!("CARGO_BIN_EXE_hoop"))
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
    let mut gw = Gateway {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let base = gw.base.clone();
    let client = reqwest::Client::new();
    wait_until_up(&client, &base).await;
    let token = gw.admin_token().await;
    let raw = gw.create_key(&token, "logged").await;
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
    // Issue 26: a key put in the query by mistake is refused, and the trace layer, which logs
    // every URL, must not write it (nor a token under any name, nor the legacy key).
    let fresh = gw.create_key(&token, "in-the-url").await;
    for query in [
        format!("access_token={fresh}"),
        format!("q={}", fresh.replace('k', "%6B")),
        format!("token={token}"),
        format!("k={}", LEGACY_KEY.replace('|', "%7C")),
    ] {
        let status = client
            .get(format!("{base}/api/userinfo?{query}"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 401);
    }
    client
        .get(format!("{base}/api/userinfo"))
        .header("api-key", "wrong|guess-guess-guess-guess")
        .send()
        .await
        .unwrap();

    // SIGTERM: graceful shutdown, so every buffered line is written.
    Command::new("kill")
        .arg("-TERM")
        .arg(gw.child.id().to_string())
        .status()
        .unwrap();
    let status = gw.child.wait().unwrap();
    assert!(status.success(), "gateway exit: {status}");
    let mut logs = String::new();
    gw.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    gw.child
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
    assert!(
        logs.contains("access_token=[redacted]"),
        "the URL is logged, redacted"
    );
    for (what, secret) in [
        ("raw key", raw.as_str()),
        ("key sent in a URL", &fresh[8..]),
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

both_backends!(no_answer_echoes_a_secret);

/// Error bodies, headers and redirect URLs never carry a credential the caller sent, whatever
/// went wrong with it.
async fn no_answer_echoes_a_secret(app: &TestApp) {
    let (_, raw) = app.create_key("echo", &["admin"]).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let wrong_password = format!("{ADMIN_PASSWORD}-but-wrong");
    let deactivated = app
        .call(
            Method::POST,
            "/api/api-keys/echo/deactivate",
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(deactivated.0, 200);
    let near_miss = format!("{}x", &raw[..46]);
    let requests = [
        client
            .post(app.url("/api/localauth/login"))
            .json(&json!({"email": ADMIN_EMAIL, "password": wrong_password})),
        client
            .post(app.url("/ui/fn/login"))
            .header("accept", "text/html")
            .form(&[("email", ADMIN_EMAIL), ("password", &wrong_password)]),
        client
            .post(app.url("/ui/fn/login"))
            .form(&[("email", ADMIN_EMAIL), ("password", &wrong_password)]),
        client.get(app.url("/api/userinfo")).bearer_auth(&raw),
        client.get(app.url("/api/userinfo")).bearer_auth(&near_miss),
        client.get(app.url("/api/userinfo")).bearer_auth(&raw[..30]),
        client
            .get(app.url("/api/userinfo"))
            .header("api-key", format!("{LEGACY_ORG}|{}", &raw[4..])),
        client.get(app.url("/settings/api-keys")).bearer_auth(&raw),
        client
            .put(app.url("/api/api-keys/echo"))
            .bearer_auth(&raw)
            .json(&json!({"name": "x"})),
    ];
    let secrets = [
        ("raw key", raw.as_str()),
        ("key secret part", &raw[8..]),
        ("near-miss key", &near_miss[8..]),
        ("password", &wrong_password),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        let status = response.status();
        assert!(
            status.is_client_error() || status.is_redirection(),
            "{status}"
        );
        let headers = format!("{:?}", response.headers());
        let body = response.text().await.unwrap();
        for (what, secret) in secrets {
            assert!(!headers.contains(secret), "{what} in headers: {headers}");
            assert!(!body.contains(secret), "{what} in body: {body}");
        }
    }
}
