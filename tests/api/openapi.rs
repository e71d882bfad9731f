//! The published OpenAPI document covers every route, and says how to authenticate. Whether
//! the answers match it is checked by schemathesis (scripts/schemathesis) in the test command.

use crate::helpers::*;
use reqwest::{header, Method, StatusCode};
use serde_json::Value;
use std::collections::BTreeSet;

/// Every route of `src/api/mod.rs`.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/healthz"),
    ("get", "/api/openapi.json"),
    ("post", "/api/localauth/login"),
    ("get", "/api/userinfo"),
    ("get", "/api/groups"),
    ("post", "/api/groups"),
    ("get", "/api/users"),
    ("post", "/api/users"),
    ("get", "/api/api-keys"),
    ("post", "/api/api-keys"),
    ("get", "/api/api-keys/{name_or_id}"),
    ("put", "/api/api-keys/{name_or_id}"),
    ("delete", "/api/api-keys/{name_or_id}"),
    ("post", "/api/api-keys/{name_or_id}/deactivate"),
    ("post", "/api/api-keys/{name_or_id}/activate"),
    ("post", "/api/api-keys/{name_or_id}/reactivate"),
    ("get", "/api/audit"),
    ("get", "/api/connections"),
    ("post", "/api/connections"),
    ("put", "/api/connections/{name}"),
    ("delete", "/api/connections/{name}"),
    ("post", "/api/connections/{name}/exec"),
    ("get", "/api/sessions"),
    ("post", "/api/sessions"),
    ("get", "/api/sessions/{id}"),
];

const PUBLIC: &[&str] = &["/api/healthz", "/api/openapi.json", "/api/localauth/login"];

#[tokio::test]
async fn openapi_document_covers_every_route_with_both_security_schemes() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["type"], "apiKey");
    assert_eq!(schemes["api_key"]["in"], "header");
    assert_eq!(schemes["api_key"]["name"], "Api-Key");

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            documented.insert((method.clone(), path.clone()));
            let responses = op["responses"].as_object().unwrap();
            let security: Vec<String> = op["security"]
                .as_array()
                .map(|s| {
                    s.iter()
                        .flat_map(|r| r.as_object().unwrap().keys().cloned())
                        .collect()
                })
                .unwrap_or_default();
            if PUBLIC.contains(&path.as_str()) {
                assert!(security.is_empty(), "{method} {path} needs no credentials");
            } else {
                assert_eq!(security, ["bearer", "api_key"], "{method} {path}");
                for status in ["401", "403", "429", "503"] {
                    assert!(responses.contains_key(status), "{method} {path}: {status}");
                }
                assert!(responses["429"]["headers"]["Retry-After"].is_object());
            }
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path} documents its success"
            );
            // Any write may be refused as cross-origin, the public login included.
            if method != "get" {
                assert!(responses.contains_key("403"), "{method} {path}: 403");
            }
        }
    }
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, expected);

    // Every listed route really exists: none answers as an unknown route.
    for (method, path) in ROUTES {
        let path = path
            .replace("{name_or_id}", "nope")
            .replace("{name}", "nope")
            .replace("{id}", "nope");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (status, body) = app
            .call(method.clone(), &path, Some(&app.admin_token), None)
            .await;
        assert!(
            !(status == StatusCode::NOT_FOUND && body["message"] == "no such API route")
                && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {status} {body}"
        );
    }
    app.stop().await;
}

/// Names in request bodies carry the rule the server applies, so a client (or the fuzzer) can
/// tell a valid name from the document alone.
#[tokio::test]
async fn request_names_are_documented_with_their_rule() {
    let app = spawn_app(Backend::Sqlite).await;
    let (status, doc) = app.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let schemas = &doc["components"]["schemas"];
    let resolve = |v: &Value| -> Value {
        let name = v["$ref"].as_str().unwrap_or_default();
        match name.strip_prefix("#/components/schemas/") {
            Some(name) => schemas[name].clone(),
            None => v.clone(),
        }
    };
    // (schema, field, and for a list: its least length)
    for (body, field, min_items) in [
        ("NewApiKey", "name", None),
        ("KeyChanges", "name", None),
        ("NewGroup", "name", None),
        ("ConnectionSpec", "name", None),
        ("ConnectionChanges", "name", None),
        ("NewApiKey", "groups", Some(1)),
        ("KeyChanges", "groups", Some(1)),
        ("NewUserRequest", "groups", Some(1)),
        // No access groups: admins only.
        ("ConnectionSpec", "access_groups", None),
        ("ConnectionChanges", "access_groups", None),
    ] {
        let mut schema = schemas[body]["properties"][field].clone();
        // An optional field is `oneOf: [null, ...]`; a list names its items.
        if let Some(alternatives) = schema["oneOf"].as_array() {
            schema = alternatives
                .iter()
                .find(|s| s["type"] != "null")
                .cloned()
                .unwrap();
        }
        let types = match &schema["type"] {
            Value::Array(types) => types.clone(),
            one => vec![one.clone()],
        };
        if types.contains(&Value::from("array")) {
            assert_eq!(schema["minItems"].as_u64(), min_items, "{body}.{field}");
            schema = schema["items"].clone();
        } else {
            assert_eq!(min_items, None, "{body}.{field} is a list: {schema}");
        }
        let schema = resolve(&schema);
        assert_eq!(schema["minLength"], 1, "{body}.{field}: {schema}");
        assert_eq!(schema["maxLength"], 64, "{body}.{field}: {schema}");
        assert_eq!(
            schema["pattern"],
            hoop::domain::NAME_PATTERN,
            "{body}.{field}: {schema}"
        );
    }
    app.stop().await;
}

/// The 403 the document promises on the public login: another site's page cannot post
/// credentials to it (login CSRF).
#[tokio::test]
async fn a_cross_origin_login_is_refused_as_documented() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app
        .request(Method::POST, "/api/localauth/login", None)
        .header("sec-fetch-site", "cross-site")
        .json(&serde_json::json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["message"].is_string(), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_method_a_route_does_not_have_is_405_with_allow() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app
        .request(Method::PATCH, "/api/api-keys", Some(&app.admin_token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let allow = response.headers()[header::ALLOW].to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    app.stop().await;
}

/// What generated clients need: one name per operation (a TypeScript client of repeated
/// `list`s typed one route's answer as another's), and parameters where the server reads them.
#[tokio::test]
async fn operations_have_unique_ids_and_parameters_where_they_are_read() {
    let app = spawn_app(Backend::Sqlite).await;
    let (_, doc) = app.call(Method::GET, "/api/openapi.json", None, None).await;
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(!id.is_empty(), "{method} {path} has no operationId");
            assert!(
                ids.insert(id.to_owned()),
                "operationId {id} repeats ({method} {path})"
            );
            for param in op["parameters"].as_array().into_iter().flatten() {
                let name = param["name"].as_str().unwrap();
                let in_path = path.contains(&format!("{{{name}}}"));
                assert_eq!(
                    param["in"] == "path",
                    in_path,
                    "{method} {path}: parameter {name} is declared in {}",
                    param["in"]
                );
            }
        }
    }
    app.stop().await;
}
