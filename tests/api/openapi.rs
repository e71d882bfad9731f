//! The published OpenAPI document is the list of routes (the router and the document are built
//! from one declaration, `api::routes`): every documented operation is served, every path
//! answers exactly the methods it documents, the security it declares is what the server asks,
//! and the README's route table lists the same routes. Whether the answers match it is checked
//! by schemathesis (scripts/schemathesis); that generated clients can use it, by
//! scripts/openapi-client.

use crate::helpers::*;
use reqwest::{header, Method, StatusCode};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const PUBLIC: &[&str] = &[
    "/api/healthz",
    "/api/openapi.json",
    "/api/localauth/login",
    "/api/api-keys/leaked",
];
const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];

/// The served document, and its operations by (method, path).
async fn document(app: &TestApp) -> (Value, BTreeMap<(String, String), Value>) {
    let response = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let doc: Value = response.json().await.unwrap();
    let mut operations = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(METHODS.contains(&method.as_str()), "{method} {path}");
            operations.insert((method.clone(), path.clone()), op.clone());
        }
    }
    assert!(operations.len() > 20, "{operations:?}");
    (doc, operations)
}

/// A path template with its parameters filled in.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "nope" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn openapi_document_covers_every_route_with_both_security_schemes() {
    let app = spawn_app(Backend::Sqlite).await;
    let (doc, operations) = document(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["type"], "apiKey");
    assert_eq!(schemes["api_key"]["in"], "header");
    assert_eq!(schemes["api_key"]["name"], "Api-Key");
    // OpenAPI 3.1: a license has a name, and an SPDX identifier or a url, not both.
    if let Some(license) = doc["info"].get("license") {
        assert!(!license["name"].as_str().unwrap().is_empty(), "{license}");
        assert!(
            license["identifier"].is_string() != license["url"].is_string(),
            "{license}"
        );
    }

    for ((method, path), op) in &operations {
        let responses = op["responses"].as_object().unwrap();
        let security: Vec<String> = op["security"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path} declares its security"))
            .iter()
            .flat_map(|r| r.as_object().unwrap().keys().cloned())
            .collect();
        if PUBLIC.contains(&path.as_str()) {
            assert!(security.is_empty(), "{method} {path} needs no credentials");
        } else {
            assert_eq!(security, ["bearer", "api_key"], "{method} {path}");
            for status in ["401", "403", "429", "503"] {
                assert!(responses.contains_key(status), "{method} {path}: {status}");
            }
            assert!(responses["429"]["headers"]["Retry-After"].is_object());
            assert!(responses["401"]["headers"]["WWW-Authenticate"].is_object());
        }
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path} documents its success"
        );
        // Any write may be refused as cross-origin, the public login included.
        if method != "get" {
            assert!(responses.contains_key("403"), "{method} {path}: 403");
        }

        // Served, and asking for what the document says: a secured route answers a caller
        // without credentials 401 with the scheme to use; a public one does not ask.
        let url = concrete(path);
        let http_method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (status, body) = app
            .call(http_method.clone(), &url, Some(&app.admin_token), None)
            .await;
        assert!(
            !(status == StatusCode::NOT_FOUND && body["message"] == "no such API route")
                && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {status} {body}"
        );
        let response = app.request(http_method, &url, None).send().await.unwrap();
        if PUBLIC.contains(&path.as_str()) {
            assert_ne!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
        } else {
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
            assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        }
    }
    app.stop().await;
}

/// The 405 the document describes (`components.responses.MethodNotAllowed`): each path
/// answers every method it does not document so, naming in `Allow` exactly those it does.
#[tokio::test]
async fn every_path_has_exactly_the_methods_it_documents() {
    let app = spawn_app(Backend::Sqlite).await;
    let (doc, operations) = document(&app).await;
    let allow_header = &doc["components"]["responses"]["MethodNotAllowed"]["headers"]["Allow"];
    assert!(allow_header.is_object(), "{doc}");
    let mut by_path: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (method, path) in operations.keys() {
        by_path
            .entry(path)
            .or_default()
            .insert(method.to_uppercase());
    }
    for (path, documented) in by_path {
        let mut allowed = documented.clone();
        if allowed.contains("GET") {
            allowed.insert("HEAD".to_owned());
        }
        for method in METHODS {
            let method = method.to_uppercase();
            if documented.contains(&method) {
                continue;
            }
            let response = app
                .request(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    &concrete(path),
                    Some(&app.admin_token),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            let allow: BTreeSet<String> = response.headers()[header::ALLOW]
                .to_str()
                .unwrap()
                .split(',')
                .map(|m| m.trim().to_owned())
                .collect();
            assert_eq!(allow, allowed, "{method} {path}");
        }
    }
    app.stop().await;
}

/// The README's route table is for people, but it lists exactly the documented routes: each
/// as `` `METHOD /api/path` `` in its first column, once.
#[tokio::test]
async fn the_readme_route_table_lists_exactly_the_documented_routes() {
    let app = spawn_app(Backend::Sqlite).await;
    let (_, operations) = document(&app).await;
    app.stop().await;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("\n## REST API\n")
        .nth(1)
        .expect("README has a REST API section");
    let section = section.split("\n## ").next().unwrap();
    let mut listed = BTreeSet::new();
    let rows = section.lines().filter(|l| l.starts_with('|')).skip(2); // the header and its rule
    for row in rows {
        let first = row.trim_start_matches('|').split(" | ").next().unwrap();
        let routes: Vec<&str> = first.split('`').skip(1).step_by(2).collect();
        assert!(!routes.is_empty(), "a row without a route: {row}");
        for route in routes {
            let (method, path) = route
                .split_once(' ')
                .unwrap_or_else(|| panic!("`{route}` is not `METHOD /api/path` ({row})"));
            assert!(
                METHODS.contains(&method.to_lowercase().as_str())
                    && method == method.to_uppercase(),
                "`{route}`: not a method ({row})"
            );
            let route = (method.to_lowercase(), path.to_owned());
            assert!(listed.insert(route.clone()), "{route:?} is listed twice");
        }
    }
    let documented: BTreeSet<_> = operations.into_keys().collect();
    let missing: Vec<_> = documented.difference(&listed).collect();
    let extra: Vec<_> = listed.difference(&documented).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "README.md's REST API table: missing {missing:?}, not routes {extra:?}"
    );
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

/// What generated clients need: one name per operation (a TypeScript client of repeated
/// `list`s typed one route's answer as another's), parameters where the server reads them, and
/// words for both.
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
            // What a generated client shows as the function's doc, and each answer's.
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path} has no summary: a `///` line on its handler"
            );
            for (status, answer) in op["responses"].as_object().unwrap() {
                assert!(
                    answer["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{method} {path}: {status} is not described"
                );
            }
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
