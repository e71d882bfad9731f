//! Many requests at once on one name or one key: the database decides, and the audit log tells
//! the same story as the final state.

use crate::both_backends;
use crate::helpers::*;
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

both_backends!(
    fifty_concurrent_creates_of_one_name_give_one_key,
    concurrent_changes_to_one_key_leave_a_consistent_audit_trail,
);

async fn fifty_concurrent_creates_of_one_name_give_one_key(app: &TestApp) {
    let body = json!({"name": "contended", "groups": ["admin"]});
    let answers =
        join_all((0..50).map(|_| app.post("/api/api-keys", &app.admin_token, body.clone()))).await;
    let created: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(created.len(), 1, "{answers:?}");
    for (status, body) in &answers {
        assert!(
            *status == StatusCode::CREATED || *status == StatusCode::CONFLICT,
            "{status}: {body}"
        );
    }
    // The one key that exists is the one whose secret was handed out.
    let (_, keys) = app.get("/api/api-keys", &app.admin_token).await;
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["id"], created[0]["id"]);
    let raw = created[0]["key"].as_str().unwrap();
    assert_eq!(app.status_with("/api/userinfo", raw).await, StatusCode::OK);
    let (_, events) = app.get("/api/audit", &app.admin_token).await;
    let creations = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "api_key.created")
        .count();
    assert_eq!(creations, 1);
}

async fn concurrent_changes_to_one_key_leave_a_consistent_audit_trail(app: &TestApp) {
    app.create_group("ops").await;
    let (key, raw) = app.create_key("racer", &["admin"]).await;
    let id = key.id.to_string();
    let change = |i: usize| {
        let path = format!("/api/api-keys/{id}");
        async move {
            let (method, path, body) = match i % 4 {
                0 => (Method::POST, format!("{path}/deactivate"), None),
                1 => (Method::POST, format!("{path}/activate"), None),
                2 => (Method::PUT, path, Some(json!({"groups": ["ops"]}))),
                _ => (Method::PUT, path, Some(json!({"groups": ["admin", "ops"]}))),
            };
            app.call(method, &path, Some(&app.admin_token), body).await
        }
    };
    let answers = join_all((0..40).map(change)).await;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }

    // Replay the audit trail, oldest first: each event starts where the previous one ended.
    let (_, events) = app.get("/api/audit?limit=500", &app.admin_token).await;
    let mut trail: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"]["id"] == id.as_str())
        .collect();
    trail.reverse();
    assert_eq!(trail[0]["action"], "api_key.created");
    let mut status = json!("active");
    let mut groups = json!(["admin"]);
    for event in &trail[1..] {
        let details = &event["details"];
        match event["action"].as_str().unwrap() {
            "api_key.activated" | "api_key.deactivated" => {
                assert_eq!(details["status"]["from"], status, "{event}");
                assert_ne!(details["status"]["to"], status, "{event}");
                status = details["status"]["to"].clone();
            }
            "api_key.updated" => {
                assert_eq!(details["groups"]["from"], groups, "{event}");
                assert_ne!(details["groups"]["to"], groups, "{event}");
                groups = details["groups"]["to"].clone();
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(trail.len() > 2, "some changes were real: {trail:?}");
    let (_, now) = app
        .get(&format!("/api/api-keys/{id}"), &app.admin_token)
        .await;
    assert_eq!(now["status"], status);
    assert_eq!(now["groups"], groups);
    let expected = if status == "active" {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    };
    assert_eq!(app.status_with("/api/userinfo", &raw).await, expected);
}
