//! Behind a load balancer (`HOOP_TRUSTED_PROXIES`): each client is counted as the address a
//! trusted proxy forwarded, never as one a client wrote itself, and with no trusted proxy the
//! forwarded header changes nothing. Through the real binary.

use crate::helpers::*;
use reqwest::Client;
use serde_json::json;

/// Wrong-password logins as the client `forwarded` names; their statuses.
async fn wrong_logins(gw: &Gateway, forwarded: &str, n: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..n {
        let response = Client::new()
            .post(gw.url("/api/localauth/login"))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"email": ADMIN_EMAIL, "password": "wrong guess"}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    statuses
}

async fn right_login(gw: &Gateway, forwarded: &str) -> u16 {
    Client::new()
        .post(gw.url("/api/localauth/login"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_forwarded_client_is_counted_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let gw = Gateway::start(&[
        ("HOOP_DATA_DIR", data),
        ("HOOP_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1"),
        ("HOOP_AUTH_FAILURES_PER_MINUTE", "3"),
    ])
    .await;
    // The proxy (this test, on 127.0.0.1) appends the address it saw to what the client sent.
    let attacker = "203.0.113.7";
    assert_eq!(wrong_logins(&gw, attacker, 4).await, [401, 401, 401, 429]);
    // Another client behind the same proxy is not throttled by the attacker's failures.
    assert_eq!(wrong_logins(&gw, "198.51.100.20", 1).await, [401]);
    assert_eq!(right_login(&gw, "198.51.100.21").await, 200);
    // The attacker writes a fresh address of its own left of the proxy's entry, or adds
    // trusted hops after it: still counted as itself.
    for spoofed in [
        format!("192.0.2.99, {attacker}"),
        format!("{attacker}, 10.1.2.3"),
        format!("192.0.2.99, {attacker}, 10.9.9.9, 127.0.0.1"),
    ] {
        assert_eq!(wrong_logins(&gw, &spoofed, 1).await, [429], "{spoofed}");
        assert_eq!(
            right_login(&gw, &spoofed).await,
            429,
            "{spoofed}: a password is not checked"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_an_untrusted_peer_the_forwarded_header_changes_nothing() {
    for trusted in [None, Some("10.0.0.0/8")] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap();
        let mut env = vec![
            ("HOOP_DATA_DIR", data),
            ("HOOP_AUTH_FAILURES_PER_MINUTE", "3"),
        ];
        if let Some(nets) = trusted {
            env.push(("HOOP_TRUSTED_PROXIES", nets));
        }
        let gw = Gateway::start(&env).await;
        // A new address in every request: all of them are the peer, 127.0.0.1.
        let mut statuses = Vec::new();
        for i in 0..4 {
            statuses.extend(wrong_logins(&gw, &format!("203.0.113.{i}"), 1).await);
        }
        assert_eq!(statuses, [401, 401, 401, 429], "trusted: {trusted:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_list_that_does_not_parse_stops_the_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hoop"))
        .args(["serve"])
        .env("HOOP_TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal")
        .env("HOOP_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("proxy.internal"), "{stderr}");
}
