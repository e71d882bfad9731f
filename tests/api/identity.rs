use crate::both_backends;
use crate::helpers::*;
use hoop::{
    secret::SecretString,
    wire::identity::{Group, NewUserRequest, User},
};
use reqwest::{Method, StatusCode};
use serde_json::json;

both_backends!(
    groups_are_listed_and_created,
    users_are_created_and_can_log_in,
    user_names_are_counted_in_characters
);

fn named(name: &str) -> Group {
    Group { name: name.into() }
}

async fn groups_are_listed_and_created(app: &TestApp) {
    // The wire format itself, once.
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
    assert_eq!(app.groups().await, [named("admin"), named("payments")]);
}

async fn users_are_created_and_can_log_in(app: &TestApp) {
    app.create_group("engineering").await;
    let new_user = NewUserRequest {
        email: "Dev@Example.com".into(),
        name: "Dev".into(),
        password: SecretString::new("a long password".into()),
        groups: vec!["engineering".into()],
    };
    let user: User = app
        .call_as(
            Method::POST,
            "/api/users",
            &app.admin_token,
            Some(&new_user),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(user.email, "dev@example.com");
    assert_eq!(user.name, "Dev");
    assert_eq!(user.groups, ["engineering"]);

    let (status, _) = app
        .post(
            "/api/users",
            &app.admin_token,
            serde_json::to_value(&new_user).unwrap(),
        )
        .await;
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
    let me = app.userinfo(&token).await;
    assert_eq!(me.id, Some(user.id));
    assert_eq!(me.email.as_deref(), Some("dev@example.com"));
    assert!(!me.is_admin);
    assert_eq!(me.groups, ["engineering"]);
    assert_eq!(me.auth_method, "user_token");
    assert_eq!(
        app.status_with("/api/api-keys", &token).await,
        StatusCode::FORBIDDEN
    );

    let users = app.users().await;
    let emails: Vec<&str> = users.iter().map(|u| u.email.as_str()).collect();
    assert_eq!(emails, ["admin@example.com", "dev@example.com"]);
    assert_eq!(users[1], user);
    // The raw answer: a user's fields and nothing of the password.
    let (_, raw_users) = app.get("/api/users", &app.admin_token).await;
    assert!(!raw_users.to_string().contains("argon2"));
    let mut fields: Vec<&String> = raw_users[1].as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(fields, ["created_at", "email", "groups", "id", "name"]);
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
