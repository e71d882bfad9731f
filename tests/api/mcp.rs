//! `/api/mcp` at the HTTP level, with plain JSON-RPC posts: who may call it, the API's limits
//! applied to it, bounded sessions, and tools that run as the caller of each request. (The
//! whole protocol through a real MCP client: scripts/mcp-client.)

use crate::both_backends;
use crate::connections::{make_connection, sqlite_target, PgTarget};
use crate::helpers::*;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

both_backends!(
    only_bearer_credentials_open_mcp,
    tools_run_as_the_caller_of_each_request,
    describe_schema_runs_as_an_exec,
);

const ACCEPT: &str = "application/json, text/event-stream";

pub(crate) fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "hoop-tests", "version": "1"}}})
}

pub(crate) fn post(
    app: &TestApp,
    bearer: Option<&str>,
    session: Option<&str>,
    body: &Value,
) -> reqwest::RequestBuilder {
    let mut request = app
        .request(Method::POST, "/api/mcp", bearer)
        .header(header::ACCEPT, ACCEPT)
        .json(body);
    if let Some(id) = session {
        request = request
            .header("mcp-session-id", id)
            .header("mcp-protocol-version", "2025-06-18");
    }
    request
}

/// The JSON-RPC answer in a response, whether sent as JSON or as server-sent events.
pub(crate) async fn answer(response: reqwest::Response) -> Value {
    let text = response.text().await.unwrap();
    if let Ok(value) = serde_json::from_str::<Value>(&text) {
        return value;
    }
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .find(|v| v.get("id").is_some())
        .unwrap_or_else(|| panic!("no JSON-RPC answer in {text:?}"))
}

/// An initialized MCP session under `key`: its id.
pub(crate) async fn open(app: &TestApp, key: &str) -> String {
    let response = post(app, Some(key), None, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let id = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let init = answer(response).await;
    assert_eq!(init["result"]["serverInfo"]["name"], "hoop", "{init}");
    let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = post(app, Some(key), Some(&id), &done).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    id
}

pub(crate) async fn call(
    app: &TestApp,
    key: &str,
    session: &str,
    method: &str,
    params: Value,
) -> (StatusCode, Value) {
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
    let response = post(app, Some(key), Some(session), &body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status != StatusCode::OK {
        return (status, json!(response.text().await.unwrap()));
    }
    (status, answer(response).await)
}

pub(crate) async fn tool(
    app: &TestApp,
    key: &str,
    session: &str,
    name: &str,
    args: Value,
) -> Value {
    let (status, body) = call(
        app,
        key,
        session,
        "tools/call",
        json!({"name": name, "arguments": args}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["result"].clone()
}

pub(crate) fn text(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

/// Attack: a page on another site drives the MCP endpoint with a user's browser session, or a
/// client without any credential uses it. Holds: 401 with `WWW-Authenticate: Bearer` for no
/// credential and for a session cookie alone; a key or a user token opens a session.
async fn only_bearer_credentials_open_mcp(app: &TestApp) {
    let none = post(app, None, None, &initialize()).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(none.headers()[header::WWW_AUTHENTICATE], "Bearer");
    let cookie = app.browser_login().await;
    let by_cookie = post(app, None, None, &initialize())
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), StatusCode::UNAUTHORIZED);
    let bad = post(
        app,
        Some("hpk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        None,
        &initialize(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let (_, key) = app.create_key("agent", &["admin"]).await;
    open(app, &key).await;
    open(app, &app.admin_token).await;
}

/// Attack: a key deactivated while its agent holds an MCP session keeps working through the
/// session, or a scoped key borrows an admin's session. Holds: each request is authenticated
/// anew; the session carries no identity.
async fn tools_run_as_the_caller_of_each_request(app: &TestApp) {
    let dir = tempfile::tempdir().unwrap();
    app.create_group("eng").await;
    app.create_group("ops").await;
    make_connection(
        app,
        "eng-db",
        "sqlite",
        &sqlite_target(dir.path(), "eng").await,
        &["eng"],
    )
    .await;
    make_connection(
        app,
        "ops-db",
        "sqlite",
        &sqlite_target(dir.path(), "ops").await,
        &["ops"],
    )
    .await;
    let (_, admin) = app.create_key("mcp-admin", &["admin"]).await;
    let (_, agent) = app.create_key("mcp-agent", &["eng"]).await;

    let session = open(app, &admin).await;
    let names = |list: &Value| -> Vec<String> {
        list["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, admins) = call(app, &admin, &session, "tools/list", json!({})).await;
    assert!(
        names(&admins).contains(&"deactivate_api_key".to_owned()),
        "{admins}"
    );
    // Attack: the scoped key presents the admin's session id, to use it or to close it.
    // Holds: a session belongs to the key that opened it; to anyone else it does not exist.
    let (status, _) = call(app, &agent, &session, "tools/list", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let closing = app
        .request(Method::DELETE, "/api/mcp", Some(&agent))
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(closing.status(), StatusCode::NOT_FOUND);
    let (status, _) = call(app, &admin, &session, "tools/list", json!({})).await;
    assert_eq!(status, StatusCode::OK, "the admin's session is untouched");
    let admin_session = session;
    // The scoped key on a session of its own: its own view.
    let session = open(app, &agent).await;
    let (_, agents) = call(app, &agent, &session, "tools/list", json!({})).await;
    let agents = names(&agents);
    assert!(
        agents.contains(&"exec".to_owned())
            && !agents
                .iter()
                .any(|n| n.ends_with("api_key") || n == "list_api_keys"),
        "{agents:?}"
    );
    let me = tool(app, &agent, &session, "whoami", json!({})).await;
    assert_eq!(me["structuredContent"]["name"], "mcp-agent", "{me}");

    let ran = tool(
        app,
        &agent,
        &session,
        "exec",
        json!({"connection": "eng-db", "script": "SELECT id FROM items ORDER BY id"}),
    )
    .await;
    assert_eq!(ran["isError"], false, "{ran}");
    assert_eq!(text(&ran), "id\n1\n2\n3\n");
    let refused = tool(
        app,
        &agent,
        &session,
        "exec",
        json!({"connection": "ops-db", "script": "SELECT 1"}),
    )
    .await;
    assert_eq!(refused["isError"], true, "{refused}");
    assert!(text(&refused).contains("forbidden"), "{refused}");
    let sneaky = tool(
        app,
        &agent,
        &session,
        "deactivate_api_key",
        json!({"name_or_id": "mcp-admin"}),
    )
    .await;
    assert_eq!(sneaky["isError"], true, "{sneaky}");
    assert_eq!(
        app.api_key("mcp-admin").await.status,
        hoop::wire::keys::KeyStatus::Active
    );
    let nosy = tool(
        app,
        &agent,
        &session,
        "api_key_usage",
        json!({"name_or_id": "mcp-admin"}),
    )
    .await;
    assert_eq!(nosy["isError"], true, "{nosy}");

    // The admin reads the agent's use: the calls it just made are in today's count.
    app.state.keys.flush_usage().await;
    let usage = tool(
        app,
        &admin,
        &admin_session,
        "api_key_usage",
        json!({"name_or_id": "mcp-agent", "days": 2}),
    )
    .await;
    assert_eq!(usage["isError"], false, "{usage}");
    let days = usage["structuredContent"]["days"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(days.len(), 2, "{usage}");
    assert!(days[1]["requests"].as_u64().unwrap() >= 4, "{usage}");
    // The exec it was refused ran nothing and is no exec.
    assert_eq!(days[1]["execs"], 1, "{usage}");

    // Deactivated in the middle of the session: refused on the very next call.
    let off = tool(
        app,
        &admin,
        &admin_session,
        "deactivate_api_key",
        json!({"name_or_id": "mcp-agent"}),
    )
    .await;
    assert_eq!(off["isError"], false, "{off}");
    let (status, _) = call(app, &agent, &session, "tools/list", json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let audit = app.audit("").await;
    assert!(
        audit
            .iter()
            .any(|e| e.action == "api_key.deactivated" && e.actor == "mcp-admin"),
        "{audit:?}"
    );
}

/// describe_schema goes through exec: the group check, and a session record that says the
/// gateway wrote the query.
async fn describe_schema_runs_as_an_exec(app: &TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let target = PgTarget::new().await;
    app.create_group("eng").await;
    make_connection(
        app,
        "lite",
        "sqlite",
        &sqlite_target(dir.path(), "eng").await,
        &["eng"],
    )
    .await;
    make_connection(app, "pg", "postgres", &target.url, &["eng"]).await;
    make_connection(
        app,
        "admins-only",
        "sqlite",
        &sqlite_target(dir.path(), "adm").await,
        &[],
    )
    .await;
    let (_, agent) = app.create_key("schema-reader", &["eng"]).await;
    let session = open(app, &agent).await;

    let lite = tool(
        app,
        &agent,
        &session,
        "describe_schema",
        json!({"connection": "lite"}),
    )
    .await;
    assert_eq!(lite["isError"], false, "{lite}");
    assert!(
        text(&lite).starts_with("table\tcolumn\ttype\nitems\tid\tINTEGER\nitems\tlabel\tTEXT\n"),
        "{lite}"
    );
    let pg = tool(
        app,
        &agent,
        &session,
        "describe_schema",
        json!({"connection": "pg"}),
    )
    .await;
    assert_eq!(pg["isError"], false, "{pg}");
    assert!(text(&pg).contains("public.accounts\t"), "{pg}");
    assert!(
        !text(&pg).contains("pg_catalog") && !text(&pg).contains("information_schema"),
        "{pg}"
    );
    let refused = tool(
        app,
        &agent,
        &session,
        "describe_schema",
        json!({"connection": "admins-only"}),
    )
    .await;
    assert_eq!(refused["isError"], true, "{refused}");

    let sessions = tool(app, &agent, &session, "list_sessions", json!({})).await;
    let recorded = sessions["structuredContent"]["sessions"]
        .as_array()
        .unwrap();
    assert_eq!(recorded.len(), 2, "{sessions}");
    assert!(
        recorded.iter().all(|s| s["script"]
            .as_str()
            .unwrap()
            .starts_with("-- describe_schema")),
        "{sessions}"
    );
    // The same filters as GET /api/sessions.
    let one = tool(app, &agent, &session, "list_sessions", json!({"limit": 1})).await;
    assert_eq!(one["structuredContent"]["sessions"], json!([recorded[0]]));
    let elsewhere = json!({"connection": "no-such-connection"});
    let none = tool(app, &agent, &session, "list_sessions", elsewhere).await;
    assert_eq!(none["structuredContent"]["sessions"], json!([]), "{none}");
}

/// The API's cross-origin rule and body limit hold for the MCP route too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_origin_posts_and_large_bodies_are_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    let (_, key) = app.create_key("agent", &["admin"]).await;
    let cross = post(&app, Some(&key), None, &initialize())
        .header(header::ORIGIN, "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let site = post(&app, Some(&key), None, &initialize())
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(site.status(), StatusCode::FORBIDDEN);
    let session = open(&app, &key).await;
    let huge = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "exec",
        "arguments": {"connection": "demo", "script": "x".repeat(2 << 20)}}});
    let big = post(&app, Some(&key), Some(&session), &huge)
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    app.stop().await;
}

/// Whether `session` still answers `key` (a ping).
async fn alive(app: &TestApp, key: &str, session: &str) -> bool {
    let (status, body) = call(app, key, session, "ping", json!({})).await;
    match status {
        StatusCode::OK => true,
        StatusCode::NOT_FOUND => false,
        other => panic!("ping answered {other}: {body}"),
    }
}

/// Attack: a client opens MCP sessions until the gateway's memory runs out. Holds: at most
/// HOOP_MCP_MAX_SESSIONS at once, even when opened all at once; closing one makes room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_sessions_are_bounded() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.http.mcp_max_sessions = 3;
        c.http.mcp_max_sessions_per_caller = 100;
    })
    .await;
    let (_, key) = app.create_key("agent", &["admin"]).await;
    // Twelve `initialize`s at once: each is answered, and older ones make room for newer.
    let initialize_once = || async {
        let response = post(&app, Some(&key), None, &initialize())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let opened = futures_util::future::join_all((0..12).map(|_| initialize_once())).await;
    let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let mut live = Vec::new();
    for session in &opened {
        let response = post(&app, Some(&key), Some(session), &done)
            .send()
            .await
            .unwrap();
        match response.status() {
            StatusCode::ACCEPTED => live.push(session.clone()),
            StatusCode::NOT_FOUND => {}
            other => panic!("{other}"),
        }
    }
    assert_eq!(live.len(), 3, "{live:?}");
    let closed = app
        .request(Method::DELETE, "/api/mcp", Some(&key))
        .header("mcp-session-id", &live[0])
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .unwrap();
    assert!(closed.status().is_success(), "{}", closed.status());
    assert!(!alive(&app, &key, &live[0]).await);
    let next = open(&app, &key).await;
    assert!(alive(&app, &key, &next).await);
    assert!(alive(&app, &key, &live[1]).await && alive(&app, &key, &live[2]).await);
    app.stop().await;
}

/// Issue 26 (MED): a key in group `eng` held all 256 sessions by pinging each, and an admin got
/// 429 for over a minute. Holds: a caller holds at most HOOP_MCP_MAX_SESSIONS_PER_CALLER (its
/// new one closes its own least recently used), and a full gateway makes room by closing the
/// least recently used session of the caller holding the most: nobody else is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_caller_cannot_take_every_mcp_session() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.http.mcp_max_sessions = 4;
        c.http.mcp_max_sessions_per_caller = 3;
    })
    .await;
    app.create_group("eng").await;
    let (_, hog) = app.create_key("hog", &["eng"]).await;
    let (_, other) = app.create_key("other", &["eng"]).await;

    // Past its own bound, the hog's new session replaces its least recently used one: the
    // second, since the first was pinged after it.
    let h1 = open(&app, &hog).await;
    let h2 = open(&app, &hog).await;
    let h3 = open(&app, &hog).await;
    assert!(alive(&app, &hog, &h1).await);
    let h4 = open(&app, &hog).await;
    assert!(
        !alive(&app, &hog, &h2).await,
        "the hog holds more than its bound"
    );
    for live in [&h1, &h3, &h4] {
        assert!(alive(&app, &hog, live).await);
    }

    // The gateway fills up (3 + 1); the hog keeps pinging everything it holds.
    let o1 = open(&app, &other).await;
    for live in [&h3, &h4, &h1] {
        assert!(alive(&app, &hog, live).await);
    }
    // An admin still gets in, at once, and the price is the hog's least recently used session.
    let admin = open(&app, &app.admin_token).await;
    assert!(alive(&app, &app.admin_token, &admin).await);
    assert!(!alive(&app, &hog, &h3).await, "the wrong session made room");
    assert!(
        alive(&app, &other, &o1).await,
        "a small holder paid for the hog"
    );
    for live in [&h4, &h1] {
        assert!(alive(&app, &hog, live).await);
    }
    // Session-less requests are not refused for want of room either.
    let stray = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"});
    let response = post(&app, Some(&other), None, &stray).send().await.unwrap();
    assert_ne!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}

/// Attack: guessing keys through the MCP endpoint instead of the REST API. Holds: the same
/// per-address failure limit counts them (429 with `Retry-After` beyond it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentications_on_mcp_are_counted() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.auth_failures_per_minute = 3).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let guess = post(&app, Some("hut_not-a-real-token"), None, &initialize());
        statuses.push(guess.send().await.unwrap().status());
    }
    assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
    assert_eq!(statuses[4], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    app.stop().await;
}

/// Issue 26 (INFO): `/api/mcp` answered any `Host`, so a web page under a rebinding name could
/// reach a gateway on the user's machine. Holds: a Host not in `HOOP_MCP_ALLOWED_HOSTS` (by
/// default the loopback names) is refused before anything runs; a listed one is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_answers_only_the_hosts_it_is_told() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.http.mcp_allowed_hosts = ["localhost", "127.0.0.1", "gw.example"]
            .map(String::from)
            .to_vec();
    })
    .await;
    let (_, key) = app.create_key("agent", &["admin"]).await;
    let port = app.addr.port();
    for host in [
        "rebound.attacker.example",
        "attacker.example:80",
        "gw.example.attacker",
    ] {
        let response = post(&app, Some(&key), None, &initialize())
            .header(header::HOST, host)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{host}");
    }
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "gw.example".into(),
    ] {
        let response = post(&app, Some(&key), None, &initialize())
            .header(header::HOST, &host)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{host}");
    }
    app.stop().await;
}
