use crate::both_backends;
use crate::helpers::*;
use hoop::wire::{
    audit::{Detail, DetailValue, Event},
    keys::KeyChanges,
};
use reqwest::StatusCode;

both_backends!(every_key_change_is_audited, audit_pages_newest_first);

async fn every_key_change_is_audited(app: &TestApp) {
    app.create_group("ops").await;
    let (key, raw) = app.create_key("audited", &["admin"]).await;
    let regroup = |groups: &[&str]| KeyChanges {
        groups: Some(groups.iter().map(|g| g.to_string()).collect()),
        ..KeyChanges::default()
    };
    app.configure_key(
        "audited",
        KeyChanges {
            name: Some("audited-2".into()),
            ..regroup(&["ops"])
        },
    )
    .await;
    app.key_action("audited-2", "deactivate").await;
    app.key_action("audited-2", "deactivate").await;
    app.key_action("audited-2", "activate").await;
    // A no-op configure records nothing.
    app.configure_key("audited-2", regroup(&["ops"])).await;

    let events = app.audit("").await;
    let key_events: Vec<&Event> = events
        .iter()
        .filter(|e| e.target.id == key.id.to_string())
        .collect();
    let actions: Vec<&str> = key_events.iter().map(|e| e.action.as_str()).collect();
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
        assert_eq!(e.actor, ADMIN_EMAIL);
        assert_eq!(e.target.kind, "api_key");
    }
    let [activated, deactivated, updated, created] = key_events[..] else {
        unreachable!("four events, as above");
    };
    assert!(activated.at >= deactivated.at && updated.at >= created.at);
    assert_eq!(
        created.details["groups"],
        Detail::Value(DetailValue::from(["admin"]))
    );
    assert_eq!(
        created.details["masked_key"],
        Detail::Value(key.masked_key.as_str().into())
    );
    assert_eq!(
        updated.details["name"],
        Detail::change("audited", "audited-2")
    );
    assert_eq!(
        updated.details["groups"],
        Detail::change(["admin"], ["ops"])
    );
    assert_eq!(
        deactivated.details["status"],
        Detail::change("active", "deactivated")
    );
    assert_eq!(
        activated.details["status"],
        Detail::change("deactivated", "active")
    );
    // The raw answer, as a client reads it: no secret anywhere.
    let (status, raw_events) = app.get("/api/audit", &app.admin_token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !raw_events.to_string().contains(&raw[8..]),
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
    let names = |events: &[Event]| -> Vec<String> {
        events.iter().map(|e| e.target.name.clone()).collect()
    };
    let first = app.audit("limit=2").await;
    assert_eq!(names(&first), ["k4", "k3"]);
    let next = app.audit(&format!("limit=2&before={}", first[1].id)).await;
    assert_eq!(names(&next), ["k2", "k1"]);
    // 5 keys + the bootstrap admin.
    assert_eq!(app.audit("").await.len(), 6);

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
