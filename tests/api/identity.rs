use crate::both_backends;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

both_backends!(
    groups_are_listed_and_created,
    users_are_created_and_can_log_in,
    user_names_are_counted_in_characters
);

async fn groups_are_listed_and_created(app: &TestApp) {
    let (status, groups) = app.get("/api/groups", &app.admin_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(groups, json!([{"name": "admin"}]));
    let (status, group) = app
        .post("/api/groups", &app.admin_token, json!({"name": "payments"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(group, json!({"name": "payments"}));
    let (status, _) = app
        .post("/api/groups", &app.admin_token, json!({"name": "payments"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .post(
            "/api/groups",
            &app.admin_token,
            json!({"name": "no spaces"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, groups) = app.get("/api/groups", &app.admin_token).await;
    assert_eq!(groups, json!([{"name": "admin"}, {"name": "payments"}]));
}

async fn users_are_created_and_can_log_in(app: &TestApp) {
    app.create_group("engineering").await;
    let new_user = json!({"email": "Dev@Example.com", "name": "Dev", "password": "a long password", "groups": ["engineering"]});
    let (status, user) = app
        .post("/api/users", &app.admin_token, new_user.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(user["email"], "dev@example.com");
    assert_eq!(user["groups"], json!(["engineering"]));
    assert!(user.get("password").is_none() && user.get("password_hash").is_none());

    let (status, _) = app.post("/api/users", &app.admin_token, new_user).await;
    assert_eq!(status, StatusCode::CONFLICT);
    for bad in [
        json!({"email": "nope", "name": "X", "password": "a long password", "groups": ["engineering"]}),
        json!({"email": "x@example.com", "name": "X", "password": "short", "groups": ["engineering"]}),
        json!({"email": "x@example.com", "name": "X", "password": "a long password", "groups": []}),
        json!({"email": "x@example.com", "name": "X", "password": "a long password", "groups": ["ghosts"]}),
        json!({"email": "x@example.com", "name": "", "password": "a long password", "groups": ["engineering"]}),
    ] {
        let (status, body) = app.post("/api/users", &app.admin_token, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad} -> {body}");
    }

    let token = app.login("dev@example.com", "a long password").await;
    let (_, me) = app.get("/api/userinfo", &token).await;
    assert_eq!(me["is_admin"], false);
    assert_eq!(me["groups"], json!(["engineering"]));
    assert_eq!(
        app.status_with("/api/api-keys", &token).await,
        StatusCode::FORBIDDEN
    );

    let (status, users) = app.get("/api/users", &app.admin_token).await;
    assert_eq!(status, StatusCode::OK);
    let emails = strings(&users, "email");
    assert_eq!(emails, ["admin@example.com", "dev@example.com"]);
    assert!(!users.to_string().contains("argon2"));
}

/// "1-128 characters" as the message and the OpenAPI document say: a name in a script with
/// two-byte letters was refused at 65 of them.
async fn user_names_are_counted_in_characters(app: &TestApp) {
    app.create_group("engineering").await;
    let user = |email: &str, name: String| json!({"email": email, "name": name, "password": "a long password", "groups": ["engineering"]});
    let (status, body) = app
        .post(
            "/api/users",
            &app.admin_token,
            user("e@example.com", "é".repeat(128)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .post(
            "/api/users",
            &app.admin_token,
            user("f@example.com", "é".repeat(129)),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}
