use crate::both_backends;
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

both_backends!(every_key_change_is_audited, audit_pages_newest_first);

async fn every_key_change_is_audited(app: &TestApp) {
    app.create_group("ops").await;
    let (key, raw) = app.create_key("audited", &["admin"]).await;
    app.put(
        "/api/api-keys/audited",
        &app.admin_token,
        json!({"name": "audited-2", "groups": ["ops"]}),
    )
    .await;
    app.call(
        Method::POST,
        "/api/api-keys/audited-2/deactivate",
        Some(&app.admin_token),
        None,
    )
    .await;
    app.call(
        Method::POST,
        "/api/api-keys/audited-2/deactivate",
        Some(&app.admin_token),
        None,
    )
    .await;
    app.call(
        Method::POST,
        "/api/api-keys/audited-2/activate",
        Some(&app.admin_token),
        None,
    )
    .await;
    // A no-op configure records nothing.
    app.put(
        "/api/api-keys/audited-2",
        &app.admin_token,
        json!({"groups": ["ops"]}),
    )
    .await;

    let (status, events) = app.get("/api/audit", &app.admin_token).await;
    assert_eq!(status, StatusCode::OK);
    let key_events: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"]["id"] == key["id"])
        .collect();
    let actions: Vec<&str> = key_events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "api_key.activated",
            "api_key.deactivated",
            "api_key.updated",
            "api_key.created"
        ]
    );
    for e in &key_events {
        assert_eq!(e["actor"], ADMIN_EMAIL);
        assert!(e["at"].is_string());
    }
    let updated = key_events[2];
    assert_eq!(
        updated["details"]["name"],
        json!({"from": "audited", "to": "audited-2"})
    );
    assert_eq!(
        updated["details"]["groups"],
        json!({"from": ["admin"], "to": ["ops"]})
    );
    assert!(
        !events.to_string().contains(&raw[8..]),
        "secret in audit log"
    );

    let (_, scoped_raw) = app.create_key("auditor", &["ops"]).await;
    assert_eq!(
        app.status_with("/api/audit", &scoped_raw).await,
        StatusCode::FORBIDDEN
    );
}

async fn audit_pages_newest_first(app: &TestApp) {
    for i in 0..5 {
        app.create_key(&format!("k{i}"), &["admin"]).await;
    }
    let (status, first) = app.get("/api/audit?limit=2", &app.admin_token).await;
    assert_eq!(status, StatusCode::OK);
    let first = first.as_array().unwrap().clone();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0]["target"]["name"], "k4");
    assert_eq!(first[1]["target"]["name"], "k3");
    let before = first[1]["id"].as_i64().unwrap();
    let (_, next) = app
        .get(
            &format!("/api/audit?limit=2&before={before}"),
            &app.admin_token,
        )
        .await;
    let names: Vec<&str> = next
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["target"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["k2", "k1"]);
    let (_, all) = app.get("/api/audit", &app.admin_token).await;
    // 5 keys + the bootstrap admin.
    assert_eq!(all.as_array().unwrap().len(), 6);

    for (query, want) in [
        ("limit=0", StatusCode::UNPROCESSABLE_ENTITY),
        ("limit=501", StatusCode::UNPROCESSABLE_ENTITY),
        ("limit=abc", StatusCode::BAD_REQUEST),
        ("before=yesterday", StatusCode::BAD_REQUEST),
    ] {
        let (status, body) = app
            .get(&format!("/api/audit?{query}"), &app.admin_token)
            .await;
        assert_eq!(status, want, "{query}: {body}");
        assert!(body["message"].is_string());
    }
}
