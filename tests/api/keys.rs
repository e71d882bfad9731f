use crate::both_backends;
use crate::helpers::*;
use hoop::wire::keys::{ApiKey, KeyChanges, KeyStatus};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

both_backends!(
    create_returns_the_secret_once,
    create_rejects_bad_input,
    list_and_get_by_name_or_id,
    configure_keeps_the_secret_and_applies_at_once,
    configure_rejects_bad_input,
    deactivate_then_activate_same_secret,
    delete_and_reactivate_are_the_published_aliases,
    deactivation_applies_on_an_open_connection,
    last_used_at_is_recorded,
    no_key_name_reads_as_another_keys_id,
);

const API_KEY_FIELDS: [&str; 18] = [
    "id",
    "org_id",
    "name",
    "masked_key",
    "status",
    "groups",
    "created_by",
    "created_at",
    "deactivated_by",
    "deactivated_at",
    "last_used_at",
    "last_used_ip",
    "last_used_user_agent",
    "recent_clients",
    "expires_at",
    "previous_masked_key",
    "previous_expires_at",
    "leak_reported_at",
];

fn assert_api_key_shape(key: &Value) {
    let obj = key.as_object().expect("object");
    let mut fields: Vec<&str> = obj.keys().map(String::as_str).collect();
    fields.sort();
    let mut expected = API_KEY_FIELDS.to_vec();
    expected.sort();
    assert_eq!(fields, expected, "ApiKey fields");
}

fn is_rfc3339_utc(v: &Value) -> bool {
    v.as_str()
        .and_then(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|_| s.ends_with('Z'))
        })
        .unwrap_or(false)
}

async fn create_returns_the_secret_once(app: &TestApp) {
    let (created, raw) = app.create_key("deploy-bot", &["admin"]).await;
    assert_eq!(raw.len(), 47);
    assert!(raw.starts_with("hpk_"));
    assert!(raw[4..]
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(
        created.masked_key,
        format!("{}{}", &raw[..8], "*".repeat(39))
    );
    assert_eq!(created.status, KeyStatus::Active);
    assert_eq!(created.groups, ["admin"]);
    assert_eq!(created.created_by, ADMIN_EMAIL);
    assert_eq!(created.deactivated_by, None);
    assert_eq!(created.deactivated_at, None);
    assert_eq!(created.last_used_at, None);
    assert_eq!(app.api_key("deploy-bot").await, created);

    // The wire format itself: the key's fields plus, this once, `key`; times in UTC.
    let (status, mut raw_created) = app
        .post(
            "/api/api-keys",
            &app.admin_token,
            json!({"name": "deploy-bot-2", "groups": ["admin"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let other = raw_created.as_object_mut().unwrap().remove("key").unwrap();
    assert_api_key_shape(&raw_created);
    assert!(
        is_rfc3339_utc(&raw_created["created_at"]),
        "{}",
        raw_created["created_at"]
    );
    // Two keys never share a secret.
    assert_ne!(raw, other.as_str().unwrap());

    let (_, fetched) = app.get("/api/api-keys/deploy-bot", &app.admin_token).await;
    assert_api_key_shape(&fetched);
    let (_, listed) = app.get("/api/api-keys", &app.admin_token).await;
    for body in [fetched.to_string(), listed.to_string()] {
        assert!(!body.contains(&raw[8..]), "secret leaked: {body}");
    }
}

async fn create_rejects_bad_input(app: &TestApp) {
    app.create_key("taken", &["admin"]).await;
    let cases = [
        (
            json!({"name": "taken", "groups": ["admin"]}),
            StatusCode::CONFLICT,
            "already exists",
        ),
        (
            json!({"name": "", "groups": ["admin"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            json!({"name": "-dash-first", "groups": ["admin"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            json!({"name": "has space", "groups": ["admin"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            json!({"name": "a".repeat(65), "groups": ["admin"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            json!({"name": "ok", "groups": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "group",
        ),
        (
            json!({"name": "ok", "groups": ["no-such-group"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown group: no-such-group",
        ),
        (
            json!({"name": "ok", "groups": ["admin", "bad group"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "group",
        ),
        (
            json!({"name": 5, "groups": ["admin"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
    ];
    for (body, want, says) in cases {
        let (status, answer) = app
            .post("/api/api-keys", &app.admin_token, body.clone())
            .await;
        assert_eq!(status, want, "{body} -> {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(says),
            "{body}: {message:?} should mention {says:?}"
        );
    }
    // None of the rejected requests left anything behind.
    assert_eq!(app.api_keys().await.len(), 1);
    // The boundary of the rule is accepted.
    app.create_key(&"a".repeat(64), &["admin"]).await;
    app.create_key("v1.2_x-y", &["admin"]).await;
}

async fn list_and_get_by_name_or_id(app: &TestApp) {
    let (a, _) = app.create_key("alpha", &["admin"]).await;
    app.create_key("beta", &["admin"]).await;
    let names: Vec<String> = app.api_keys().await.into_iter().map(|k| k.name).collect();
    assert_eq!(names, ["alpha", "beta"]);
    let (status, keys) = app.get("/api/api-keys", &app.admin_token).await;
    assert_eq!(status, StatusCode::OK);
    keys.as_array()
        .unwrap()
        .iter()
        .for_each(assert_api_key_shape);

    let by_name = app.api_key("alpha").await;
    let by_id = app.api_key(&a.id.to_string()).await;
    assert_eq!(by_name, by_id);
    assert_eq!(by_id.name, "alpha");
    for missing in ["nope", "00000000-0000-0000-0000-000000000000"] {
        let (status, body) = app
            .get(&format!("/api/api-keys/{missing}"), &app.admin_token)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
        assert!(body["message"].is_string());
        for (method, path) in [
            (Method::PUT, format!("/api/api-keys/{missing}")),
            (Method::POST, format!("/api/api-keys/{missing}/deactivate")),
            (Method::POST, format!("/api/api-keys/{missing}/activate")),
            (Method::DELETE, format!("/api/api-keys/{missing}")),
        ] {
            let (status, _) = app
                .call(
                    method.clone(),
                    &path,
                    Some(&app.admin_token),
                    Some(json!({})),
                )
                .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
        }
    }
}

async fn configure_keeps_the_secret_and_applies_at_once(app: &TestApp) {
    app.create_group("engineering").await;
    let (before, raw) = app.create_key("worker", &["engineering"]).await;
    assert_eq!(
        app.status_with("/api/api-keys", &raw).await,
        StatusCode::FORBIDDEN
    );

    let after = app
        .configure_key(
            "worker",
            KeyChanges {
                name: Some("worker-2".into()),
                groups: Some(vec!["engineering".into(), "admin".into()]),
                ..KeyChanges::default()
            },
        )
        .await;
    assert_eq!(after.name, "worker-2");
    assert_eq!(after.groups, ["admin", "engineering"]);
    assert_eq!(after.id, before.id);
    assert_eq!(after.masked_key, before.masked_key);
    assert_eq!(after.created_at, before.created_at);

    // Same secret, new name and groups, from the very next request.
    assert_eq!(app.userinfo(&raw).await.name, "worker-2");
    assert_eq!(app.status_with("/api/api-keys", &raw).await, StatusCode::OK);
    assert_eq!(
        app.status_with("/api/api-keys/worker", &app.admin_token)
            .await,
        StatusCode::NOT_FOUND
    );

    // Only the groups, addressed by id; the name stays.
    let regrouped = app
        .configure_key(
            &before.id.to_string(),
            KeyChanges {
                groups: Some(vec!["engineering".into()]),
                ..KeyChanges::default()
            },
        )
        .await;
    assert_eq!(regrouped.name, "worker-2");
    assert_eq!(
        app.status_with("/api/api-keys", &raw).await,
        StatusCode::FORBIDDEN
    );

    // An empty change is a no-op, not an error.
    let same = app.configure_key("worker-2", KeyChanges::default()).await;
    // All but the last use, which the key's own requests above keep moving.
    let without_use = |key: ApiKey| ApiKey {
        last_used_at: None,
        ..key
    };
    assert_eq!(without_use(same), without_use(regrouped));
}

async fn configure_rejects_bad_input(app: &TestApp) {
    app.create_key("one", &["admin"]).await;
    app.create_key("two", &["admin"]).await;
    let cases = [
        (json!({"name": "two"}), StatusCode::CONFLICT),
        (
            json!({"name": "bad name"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!({"groups": []}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"groups": ["ghosts"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        // A valid rename with an invalid regroup changes nothing at all.
        (
            json!({"name": "renamed", "groups": ["ghosts"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!({"name": 1}), StatusCode::UNPROCESSABLE_ENTITY),
    ];
    for (body, want) in cases {
        let (status, answer) = app
            .put("/api/api-keys/one", &app.admin_token, body.clone())
            .await;
        assert_eq!(status, want, "{body} -> {answer}");
        assert!(answer["message"].is_string());
    }
    assert_eq!(app.api_key("one").await.groups, ["admin"]);
}

async fn deactivate_then_activate_same_secret(app: &TestApp) {
    let (_, raw) = app.create_key("temp", &["admin"]).await;
    assert_eq!(app.status_with("/api/userinfo", &raw).await, StatusCode::OK);

    let off = app.key_action("temp", "deactivate").await;
    assert_eq!(off.status, KeyStatus::Deactivated);
    assert_eq!(off.deactivated_by.as_deref(), Some(ADMIN_EMAIL));
    assert!(off.deactivated_at.is_some());
    // The wire format of a deactivated key: the same fields, the time in UTC.
    let (_, fetched) = app.get("/api/api-keys/temp", &app.admin_token).await;
    assert_api_key_shape(&fetched);
    assert!(is_rfc3339_utc(&fetched["deactivated_at"]), "{fetched}");
    assert_eq!(
        app.status_with("/api/userinfo", &raw).await,
        StatusCode::UNAUTHORIZED
    );

    // Idempotent: deactivating again keeps the first record.
    let again = app.key_action("temp", "deactivate").await;
    assert_eq!(again.deactivated_at, off.deactivated_at);

    let on = app.key_action("temp", "activate").await;
    assert_eq!(on.status, KeyStatus::Active);
    assert_eq!(on.deactivated_by, None);
    assert_eq!(on.deactivated_at, None);
    assert_eq!(app.status_with("/api/userinfo", &raw).await, StatusCode::OK);
    assert_eq!(
        app.key_action("temp", "activate").await.status,
        KeyStatus::Active
    );
}

async fn delete_and_reactivate_are_the_published_aliases(app: &TestApp) {
    let (_, raw) = app.create_key("aliased", &["admin"]).await;
    let response = app
        .request(
            Method::DELETE,
            "/api/api-keys/aliased",
            Some(&app.admin_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.unwrap().is_empty());
    assert_eq!(
        app.status_with("/api/userinfo", &raw).await,
        StatusCode::UNAUTHORIZED
    );
    // Soft delete: the record is still there.
    assert_eq!(app.api_key("aliased").await.status, KeyStatus::Deactivated);
    let key = app.key_action("aliased", "reactivate").await;
    assert_eq!(key.status, KeyStatus::Active);
    assert_eq!(app.status_with("/api/userinfo", &raw).await, StatusCode::OK);
}

async fn deactivation_applies_on_an_open_connection(app: &TestApp) {
    let (_, raw) = app.create_key("kept-alive", &["admin"]).await;
    // One client with a one-connection pool: both requests travel on the same connection.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let me = || {
        client
            .get(app.url("/api/userinfo"))
            .bearer_auth(&raw)
            .send()
    };
    assert_eq!(me().await.unwrap().status(), StatusCode::OK);
    app.key_action("kept-alive", "deactivate").await;
    assert_eq!(me().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

async fn last_used_at_is_recorded(app: &TestApp) {
    let (_, raw) = app.create_key("used", &["admin"]).await;
    let before_use = chrono::Utc::now() - chrono::Duration::seconds(1);
    assert_eq!(app.status_with("/api/userinfo", &raw).await, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(at) = app.api_key("used").await.last_used_at {
            assert!(at >= before_use, "{at}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "last_used_at not visible within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A key named after another key's id (upper case, or 32 hex digits without dashes) made
/// `/api/api-keys/{nameOrID}` mean two keys, and the id won: the named key's admin deactivated
/// the other one. Holds: no key name reads as an id, at create or rename; every address names
/// one key.
async fn no_key_name_reads_as_another_keys_id(app: &TestApp) {
    let (victim, victim_secret) = app.create_key("victim", &["admin"]).await;
    let id = victim.id.to_string();
    let simple = id.replace('-', "");
    for name in [id.to_uppercase(), simple.clone(), simple.to_uppercase()] {
        let body = json!({"name": name, "groups": ["admin"]});
        let (status, answer) = app.post("/api/api-keys", &app.admin_token, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains("id"),
            "{answer}"
        );
        let body = json!({"name": name});
        let (status, _) = app
            .put("/api/api-keys/victim", &app.admin_token, body)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "rename to {name}");
    }
    // Every spelling of the id still addresses the one key it names.
    for address in [id.clone(), id.to_uppercase(), simple] {
        assert_eq!(app.api_key(&address).await.id, victim.id, "{address}");
    }
    assert_eq!(
        app.status_with("/api/userinfo", &victim_secret).await,
        StatusCode::OK
    );
}
