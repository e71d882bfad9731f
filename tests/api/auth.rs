use crate::both_backends;
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

both_backends!(
    healthz_needs_no_credentials,
    missing_or_bad_credentials_get_the_same_401,
    login_gives_a_user_token,
    wrong_password_and_unknown_email_look_alike,
    managed_key_identifies_as_itself,
    non_admin_key_is_forbidden_admin_routes,
    legacy_api_key_is_admin,
    unknown_routes_and_bad_json_get_json_errors,
);

async fn healthz_needs_no_credentials(app: &TestApp) {
    let (status, _) = app.call(Method::GET, "/api/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
}

async fn missing_or_bad_credentials_get_the_same_401(app: &TestApp) {
    let (_, raw) = app.create_key("soon-gone", &["admin"]).await;
    app.call(
        Method::POST,
        "/api/api-keys/soon-gone/deactivate",
        Some(&app.admin_token),
        None,
    )
    .await;
    let well_formed_unknown = format!("hpk_{}", "A".repeat(43));
    let cases: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("none", app.request(Method::GET, "/api/userinfo", None)),
        (
            "garbage bearer",
            app.request(Method::GET, "/api/userinfo", Some("nonsense")),
        ),
        (
            "short hpk",
            app.request(Method::GET, "/api/userinfo", Some("hpk_short")),
        ),
        (
            "unknown hpk",
            app.request(Method::GET, "/api/userinfo", Some(&well_formed_unknown)),
        ),
        (
            "deactivated hpk",
            app.request(Method::GET, "/api/userinfo", Some(&raw)),
        ),
        (
            "basic scheme",
            app.request(Method::GET, "/api/userinfo", None)
                .header("authorization", "Basic YTpi"),
        ),
        (
            "key in Api-Key",
            app.request(Method::GET, "/api/userinfo", None)
                .header("api-key", raw.as_str()),
        ),
        (
            "wrong legacy",
            app.request(Method::GET, "/api/userinfo", None)
                .header("api-key", LEGACY_KEY),
        ),
    ];
    let mut bodies = Vec::new();
    for (case, req) in cases {
        let response = req.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer", "{case}");
        bodies.push(read(response).await.1);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "401 bodies differ: {bodies:?}"
    );
    assert!(bodies[0]["message"]
        .as_str()
        .unwrap()
        .contains("not authenticated"));
}

async fn login_gives_a_user_token(app: &TestApp) {
    let (status, me) = app.get("/api/userinfo", &app.admin_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], ADMIN_EMAIL);
    assert_eq!(me["auth_method"], "user_token");
    assert_eq!(me["is_admin"], true);
    assert_eq!(me["groups"], json!(["admin"]));
    assert_eq!(me["org_name"], "acme");
    // Emails are case-insensitive at login.
    app.login(&ADMIN_EMAIL.to_uppercase(), ADMIN_PASSWORD).await;
}

async fn wrong_password_and_unknown_email_look_alike(app: &TestApp) {
    let attempt = |email: &'static str, password: &'static str| {
        app.call(
            Method::POST,
            "/api/localauth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
    };
    let (s1, b1) = attempt(ADMIN_EMAIL, "wrong password").await;
    let (s2, b2) = attempt("nobody@example.com", "wrong password").await;
    let (s3, b3) = attempt("not-an-email", "wrong password").await;
    assert_eq!(
        (s1, s2, s3),
        (
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED
        )
    );
    assert_eq!(b1, b2);
    assert_eq!(b2, b3);
    let (status, _) = app
        .request(Method::POST, "/api/localauth/login", None)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .map(|r| (r.status(), ()))
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn managed_key_identifies_as_itself(app: &TestApp) {
    app.create_group("engineering").await;
    let (key, raw) = app.create_key("ci-bot", &["engineering", "admin"]).await;
    let (status, me) = app.get("/api/userinfo", &raw).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], key.id.to_string());
    assert_eq!(me["name"], "ci-bot");
    assert_eq!(me["email"], serde_json::Value::Null);
    assert_eq!(me["auth_method"], "api_key");
    assert_eq!(me["groups"], json!(["admin", "engineering"]));
    assert_eq!(me["is_admin"], true);
    assert_eq!(me["org_id"], key.org_id.to_string());
    // A key acting as admin is the recorded actor of what it does.
    let (status, made) = app
        .post(
            "/api/api-keys",
            &raw,
            json!({"name": "made-by-bot", "groups": ["engineering"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(made["created_by"], "ci-bot");
}

async fn non_admin_key_is_forbidden_admin_routes(app: &TestApp) {
    app.create_group("engineering").await;
    let (_, raw) = app.create_key("scoped", &["engineering"]).await;
    let (status, me) = app.get("/api/userinfo", &raw).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["is_admin"], false);
    assert_eq!(app.status_with("/api/groups", &raw).await, StatusCode::OK);
    for path in [
        "/api/api-keys",
        "/api/api-keys/scoped",
        "/api/audit",
        "/api/users",
    ] {
        let (status, body) = app.get(path, &raw).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            body["message"].as_str().unwrap().contains("admin"),
            "{path}: {body}"
        );
    }
    let writes = [
        (
            Method::POST,
            "/api/api-keys",
            Some(json!({"name": "x", "groups": ["engineering"]})),
        ),
        (
            Method::PUT,
            "/api/api-keys/scoped",
            Some(json!({"groups": ["admin"]})),
        ),
        (Method::POST, "/api/api-keys/scoped/deactivate", None),
        (Method::POST, "/api/api-keys/scoped/activate", None),
        (Method::POST, "/api/api-keys/scoped/reactivate", None),
        (Method::DELETE, "/api/api-keys/scoped", None),
        (Method::POST, "/api/groups", Some(json!({"name": "mine"}))),
        (
            Method::POST,
            "/api/users",
            Some(
                json!({"email": "a@b.c", "name": "A", "password": "long enough", "groups": ["admin"]}),
            ),
        ),
    ];
    for (method, path, body) in writes {
        let (status, _) = app.call(method.clone(), path, Some(&raw), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
    }
    // Nothing of it happened.
    let (_, key) = app.get("/api/api-keys/scoped", &app.admin_token).await;
    assert_eq!(key["status"], "active");
    assert_eq!(key["groups"], json!(["engineering"]));
}

async fn legacy_api_key_is_admin(app: &TestApp) {
    // The default app has no API_KEY: the header authenticates nobody.
    let (status, _) = app
        .request(Method::GET, "/api/userinfo", None)
        .header("api-key", LEGACY_KEY)
        .send()
        .await
        .map(|r| (r.status(), ()))
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let legacy = spawn_app_with(app.backend, |c| {
        c.api_key = Some(hoop::secret::SecretString::new(LEGACY_KEY.into()));
    })
    .await;
    let send = |value: &str| {
        legacy
            .request(Method::GET, "/api/userinfo", None)
            .header("api-key", value.to_owned())
            .send()
    };
    let (status, me) = read(send(LEGACY_KEY).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["auth_method"], "legacy_api_key");
    assert_eq!(me["is_admin"], true);
    assert_eq!(me["org_id"], LEGACY_ORG);
    assert_eq!(me["org_name"], "acme");
    let almost = &LEGACY_KEY[..LEGACY_KEY.len() - 1];
    assert_eq!(
        send(almost).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let created = legacy
        .request(Method::POST, "/api/api-keys", None)
        .header("api-key", LEGACY_KEY)
        .json(&json!({"name": "by-legacy", "groups": ["admin"]}))
        .send()
        .await
        .unwrap();
    let (status, key) = read(created).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(key["created_by"], "legacy-api-key");
    // The admin user bootstrapped into the same organization sees the key.
    let (_, keys) = legacy.get("/api/api-keys", &legacy.admin_token).await;
    assert_eq!(keys[0]["name"], "by-legacy");
    legacy.stop().await;
}

async fn unknown_routes_and_bad_json_get_json_errors(app: &TestApp) {
    let (status, body) = app.get("/api/nothing-here", &app.admin_token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["message"].is_string());
    let response = app
        .request(Method::POST, "/api/api-keys", Some(&app.admin_token))
        .header("content-type", "application/json")
        .body(r#"{"name": "x", "groups": ["admin"#)
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].is_string(), "{body}");
    let (status, body) = app
        .post("/api/api-keys", &app.admin_token, json!({"name": "x"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["message"].as_str().unwrap().contains("groups"),
        "{body}"
    );
}
