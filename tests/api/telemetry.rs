//! What operators see, through the real binary: an id on every answer, one log line per
//! request (JSON with HOOP_LOG_FORMAT=json) naming the route as declared, never the path as
//! sent, and never a secret.

use crate::helpers::*;
use reqwest::{Client, Method};
use serde_json::{json, Value};
use std::time::Duration;

/// The log lines (JSON objects) of requests, once `wanted` of them are written.
async fn request_lines(log: &std::path::Path, wanted: usize) -> Vec<Value> {
    for _ in 0..200 {
        let lines: Vec<Value> = std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["target"] == "hoop::request")
            .collect();
        if lines.len() >= wanted {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("fewer than {wanted} request lines in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_is_one_json_line_with_its_id_route_and_caller() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("gateway.log");
    let data = dir.path().join("data");
    let gw = Gateway::start_logging(
        &[
            ("HOOP_DATA_DIR", data.to_str().unwrap()),
            ("HOOP_LOG_FORMAT", "json"),
            ("RUST_LOG", "info"),
        ],
        Some(&log),
    )
    .await;
    let token = gw.admin_token().await;
    let key = gw.create_key(&token, "secret-project-bot").await;
    let before = request_lines(&log, 3).await.len();

    let response = Client::new()
        .get(gw.url("/api/api-keys/secret-project-bot"))
        .bearer_auth(&key)
        // Not from a trusted proxy (there is none): not kept.
        .header("x-request-id", "chosen-by-the-client")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    let unknown = Client::new()
        .post(gw.url("/api/api-keys/secret-project-bot/deactivate"))
        .bearer_auth("hpk_not-a-key-at-all-not-a-key-at-all-not-a-ke")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 401);
    let other_id = unknown.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(other_id, id, "every request its own id");

    let lines = request_lines(&log, before + 2).await;
    let line = lines
        .iter()
        .find(|l| l["request_id"] == id)
        .expect("the request's line");
    assert_eq!(line["method"], "GET");
    assert_eq!(
        line["route"], "/api/api-keys/{name_or_id}",
        "the route as declared"
    );
    assert_eq!(line["status"], 200);
    assert_eq!(line["caller"], "api_key");
    assert!(
        line["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{line}"
    );
    let refused = lines
        .iter()
        .find(|l| l["request_id"] == other_id)
        .expect("the 401's line");
    assert_eq!(
        (&refused["status"], &refused["caller"]),
        (&json!(401), &json!("anonymous"))
    );
    // The paths held a key's name; request lines name routes only.
    for line in &lines {
        assert!(!line.to_string().contains("secret-project-bot"), "{line}");
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains(&key) && !text.contains(&token),
        "a secret in the log"
    );
    drop(gw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxys_request_id_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let gw = Gateway::start(&[
        ("HOOP_DATA_DIR", data.to_str().unwrap()),
        ("HOOP_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let sent = |id: &'static str| {
        Client::new()
            .request(Method::GET, gw.url("/api/healthz"))
            .header("x-request-id", id)
            .send()
    };
    let kept = sent("lb-7f3a9c").await.unwrap();
    assert_eq!(kept.headers()["x-request-id"], "lb-7f3a9c");
    // Not an id: one of our own instead.
    let replaced = sent("has spaces in it").await.unwrap();
    assert_ne!(replaced.headers()["x-request-id"], "has spaces in it");
    drop(gw);
}
