//! A rejected value says which request field it came from (`{"message", "field"}`), on the
//! REST API and on the web app's server functions alike: clients place errors by field, never
//! by reading the message.

use crate::both_backends;
use crate::helpers::*;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

both_backends!(
    rest_rejections_name_their_field,
    server_functions_name_the_same_fields,
);

/// The status and the `field` of an answer (`None` when it names none).
async fn rejected(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Value,
) -> (StatusCode, Option<String>) {
    let (status, answer) = app
        .call(method, path, Some(&app.admin_token), Some(body))
        .await;
    assert!(
        answer["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{answer}"
    );
    (status, answer["field"].as_str().map(str::to_owned))
}

async fn rest_rejections_name_their_field(app: &TestApp) {
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    app.create_key("taken", &["admin"]).await;
    make_group_and_connection(app).await;
    let cases: Vec<(Method, &str, Value, StatusCode, Option<&str>)> = vec![
        (
            Method::POST,
            "/api/api-keys",
            json!({"name": "a b", "groups": ["admin"]}),
            unprocessable,
            Some("name"),
        ),
        (
            Method::POST,
            "/api/api-keys",
            json!({"name": "ok", "groups": []}),
            unprocessable,
            Some("groups"),
        ),
        (
            Method::POST,
            "/api/api-keys",
            json!({"name": "ok", "groups": ["no such"]}),
            unprocessable,
            Some("groups"),
        ),
        (
            Method::POST,
            "/api/api-keys",
            json!({"name": "ok", "groups": ["nosuch"]}),
            unprocessable,
            Some("groups"),
        ),
        (
            Method::POST,
            "/api/api-keys",
            json!({"name": "taken", "groups": ["admin"]}),
            StatusCode::CONFLICT,
            Some("name"),
        ),
        // The wrong JSON type for one field: serde knows which.
        (
            Method::POST,
            "/api/api-keys",
            json!({"name": "ok", "groups": "admin"}),
            unprocessable,
            Some("groups"),
        ),
        // A missing field is about the body as a whole.
        (
            Method::POST,
            "/api/api-keys",
            json!({"groups": ["admin"]}),
            unprocessable,
            None,
        ),
        (
            Method::PUT,
            "/api/api-keys/taken",
            json!({"groups": ["nosuch"]}),
            unprocessable,
            Some("groups"),
        ),
        (
            Method::POST,
            "/api/groups",
            json!({"name": "-x"}),
            unprocessable,
            Some("name"),
        ),
        (
            Method::POST,
            "/api/groups",
            json!({"name": "eng"}),
            StatusCode::CONFLICT,
            Some("name"),
        ),
        (
            Method::POST,
            "/api/users",
            json!({"email": "nope", "name": "N", "password": "long enough password", "groups": ["eng"]}),
            unprocessable,
            Some("email"),
        ),
        // Issue 26 (INFO): names that display as something else (a bidi override, NUL, ESC).
        (
            Method::POST,
            "/api/users",
            json!({"email": "n@example.com", "name": "Ada\u{202E}nimda", "password": "long enough password", "groups": ["eng"]}),
            unprocessable,
            Some("name"),
        ),
        (
            Method::POST,
            "/api/users",
            json!({"email": "n@example.com", "name": "Ada\u{0}", "password": "long enough password", "groups": ["eng"]}),
            unprocessable,
            Some("name"),
        ),
        (
            Method::POST,
            "/api/users",
            json!({"email": "n@example.com", "name": "\u{1b}[2J", "password": "long enough password", "groups": ["eng"]}),
            unprocessable,
            Some("name"),
        ),
        (
            Method::POST,
            "/api/users",
            json!({"email": "n@example.com", "name": "N", "password": "short", "groups": ["eng"]}),
            unprocessable,
            Some("password"),
        ),
        (
            Method::POST,
            "/api/users",
            json!({"email": ADMIN_EMAIL, "name": "N", "password": "long enough password", "groups": ["eng"]}),
            StatusCode::CONFLICT,
            Some("email"),
        ),
        (
            Method::POST,
            "/api/connections",
            json!({"name": "c2", "type": "mysql", "target": "x"}),
            unprocessable,
            Some("type"),
        ),
        (
            Method::POST,
            "/api/connections",
            json!({"name": "c2", "type": "postgres", "target": "mysql://x"}),
            unprocessable,
            Some("target"),
        ),
        (
            Method::POST,
            "/api/connections",
            json!({"name": "c2", "type": "sqlite", "target": "demo.db", "access_groups": ["nosuch"]}),
            unprocessable,
            Some("access_groups"),
        ),
        (
            Method::POST,
            "/api/connections",
            json!({"name": "c2", "type": "sqlite", "target": "demo.db", "access_groups": ["a b"]}),
            unprocessable,
            Some("access_groups"),
        ),
        (
            Method::POST,
            "/api/connections",
            json!({"name": "demo", "type": "sqlite", "target": "demo.db"}),
            StatusCode::CONFLICT,
            Some("name"),
        ),
        (
            Method::POST,
            "/api/connections/demo/exec",
            json!({"script": "  "}),
            unprocessable,
            Some("script"),
        ),
    ];
    for (method, path, body, status, field) in cases {
        let shown = format!("{method} {path} {body}");
        assert_eq!(
            rejected(app, method, path, body).await,
            (status, field.map(str::to_owned)),
            "{shown}"
        );
    }
    let (status, answer) = app.get("/api/audit?limit=0", &app.admin_token).await;
    assert_eq!(
        (status, &answer["field"]),
        (unprocessable, &json!("limit")),
        "{answer}"
    );
    // Errors about no single value carry no field at all.
    let (status, answer) = app.get("/api/api-keys/nosuch", &app.admin_token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(answer.get("field").is_none(), "{answer}");
}

async fn make_group_and_connection(app: &TestApp) {
    app.create_group("eng").await;
    let body =
        json!({"name": "demo", "type": "sqlite", "target": "demo.db", "access_groups": ["eng"]});
    let (status, answer) = app.post("/api/connections", &app.admin_token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

/// The forms show an error under the input it belongs to, from the same fields.
async fn server_functions_name_the_same_fields(app: &TestApp) {
    app.create_key("taken", &["admin"]).await;
    let cookie = app.browser_login().await;
    let call = |name: &'static str, form: Vec<(&'static str, &'static str)>| {
        let request = app
            .client
            .post(app.url(&format!("/ui/fn/{name}")))
            .header(header::ACCEPT, "application/json")
            .header(header::COOKIE, &cookie)
            .form(&form);
        async move { read(request.send().await.unwrap()).await }
    };
    for (function, form, field) in [
        (
            "create_key",
            vec![("name", "a b"), ("groups[]", "admin")],
            "name",
        ),
        (
            "create_key",
            vec![("name", "taken"), ("groups[]", "admin")],
            "name",
        ),
        (
            "create_key",
            vec![("name", "fine"), ("groups[]", "nosuch")],
            "groups",
        ),
        ("create_group", vec![("name", "-x")], "name"),
        ("create_group", vec![("name", "admin")], "name"),
    ] {
        let (status, answer) = call(function, form.clone()).await;
        assert!(
            status.is_client_error(),
            "{function} {form:?}: {status} {answer}"
        );
        assert_eq!(
            answer["Field"]["field"], field,
            "{function} {form:?}: {answer}"
        );
    }
}
