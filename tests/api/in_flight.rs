//! Issue 26: "in-flight requests using that key begin receiving 401" (the seed, on
//! deactivation). An exec in flight ran on after its key was deactivated: a key ran
//! `SELECT pg_sleep(6); SELECT 'finished'`, was deactivated 1.5 s in, and still got `finished`.
//! Holds: when a key is deactivated, expires, or its rotated-out secret passes its grace, on
//! any replica, its execs in flight are stopped in the database, recorded as `cancelled` with
//! the reason, and answered 401 (MCP: a tool error, then 401).

use crate::both_backends;
use crate::connections::{make_connection, sqlite_target, PgTarget};
use crate::exec::{self, pg_admin, spawn_exec as start_exec};
use crate::helpers::*;
use crate::mcp;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

both_backends!(
    a_deactivated_key_stops_its_execs_in_flight,
    expiry_and_the_end_of_a_grace_stop_execs_in_flight,
    an_mcp_exec_in_flight_ends_in_a_tool_error_then_401,
);

/// Long enough that an answer before it means the script was stopped.
const SLEEP_SECS: u64 = 20;
const SQLITE_FOREVER: &str =
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r";

fn pg_script() -> String {
    format!("SELECT pg_sleep({SLEEP_SECS}); SELECT 'finished' AS done")
}

/// A PostgreSQL and a SQLite connection that group `eng` reaches.
struct Targets {
    pg: PgTarget,
    _dir: tempfile::TempDir,
}

async fn targets(app: &TestApp) -> Targets {
    app.create_group("eng").await;
    let pg = PgTarget::new().await;
    make_connection(app, "pg", "postgres", &pg.url, &["eng"]).await;
    let dir = tempfile::tempdir().unwrap();
    let lite = sqlite_target(dir.path(), "lite").await;
    make_connection(app, "lite", "sqlite", &lite, &["eng"]).await;
    Targets { pg, _dir: dir }
}

/// Backends of `database` running a statement that contains `text`.
async fn running(database: &str, text: &str) -> i64 {
    let admin = pg_admin().await;
    let n = exec::running(&admin, database, text).await;
    admin.close().await;
    n
}

/// Waits (bounded) until the exec is running: in the database for PostgreSQL, a moment for
/// SQLite (whose thread starts at once).
async fn until_running(target: Option<&PgTarget>) {
    let Some(pg) = target else {
        tokio::time::sleep(Duration::from_millis(500)).await;
        return;
    };
    let start = Instant::now();
    while running(&pg.database, "pg_sleep").await == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the exec never ran"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The exec answered 401 saying `why`, before its script could end, nothing of it runs on in
/// the database, and its session is recorded as cancelled with the reason.
async fn assert_stopped(
    app: &TestApp,
    answer: (StatusCode, Value),
    started: Instant,
    why: &str,
    target: Option<&PgTarget>,
) {
    let (status, body) = answer;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(why), "{body}");
    assert!(message.contains("cancelled"), "{body}");
    assert!(!body.to_string().contains("finished"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(SLEEP_SECS),
        "the script ran to its end"
    );
    if let Some(pg) = target {
        assert_eq!(running(&pg.database, "pg_sleep").await, 0, "still running");
    }
    let (status, sessions) = app.get("/api/sessions?limit=1", &app.admin_token).await;
    assert_eq!(status, StatusCode::OK, "{sessions}");
    let session = &sessions.as_array().unwrap()[0];
    assert_eq!(session["status"], "cancelled", "{session}");
    assert!(
        session["reason"].as_str().unwrap_or_default().contains(why),
        "{session}"
    );
}

async fn a_deactivated_key_stops_its_execs_in_flight(app: &TestApp) {
    let targets = targets(app).await;
    for (conn, script, target) in [
        ("pg", pg_script(), Some(&targets.pg)),
        ("lite", SQLITE_FOREVER.to_owned(), None),
    ] {
        let name = format!("worker-{conn}");
        let (_, key) = app.create_key(&name, &["eng"]).await;
        let started = Instant::now();
        let exec = start_exec(app, &key, conn, &script);
        until_running(target).await;
        let key_object = app.key_action(&name, "deactivate").await;
        assert_eq!(key_object.deactivated_by.as_deref(), Some(ADMIN_EMAIL));
        let answer = exec.await.unwrap();
        assert_stopped(app, answer, started, "deactivated", target).await;
        assert_eq!(
            app.status_with("/api/userinfo", &key).await,
            StatusCode::UNAUTHORIZED
        );
    }
    // Someone else's exec runs on: only the deactivated key's work stops.
    let (_, other) = app.create_key("bystander", &["eng"]).await;
    let (_, doomed) = app.create_key("doomed", &["eng"]).await;
    let short = "SELECT pg_sleep(2); SELECT 'finished' AS done";
    let exec = start_exec(app, &other, "pg", short);
    until_running(Some(&targets.pg)).await;
    app.key_action("doomed", "deactivate").await;
    let (status, body) = exec.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["output"].as_str().unwrap().contains("finished"),
        "{body}"
    );
    drop(doomed);
    targets.pg.drop_all().await;
}

async fn expiry_and_the_end_of_a_grace_stop_execs_in_flight(app: &TestApp) {
    let targets = targets(app).await;
    let pg = Some(&targets.pg);

    // Its expiry passes (by the gateway's clock) while the script runs.
    let expires_at = app.clock.now() + chrono::TimeDelta::hours(1);
    let (status, body) = app
        .post(
            "/api/api-keys",
            &app.admin_token,
            json!({"name": "brief", "groups": ["eng"], "expires_at": expires_at.to_rfc3339()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let brief = body["key"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let exec = start_exec(app, &brief, "pg", &pg_script());
    until_running(pg).await;
    app.clock.advance(Duration::from_secs(2 * 3600));
    assert_stopped(app, exec.await.unwrap(), started, "expired", pg).await;

    // The old secret of a rotation, at the end of its overlap.
    let (_, old) = app.create_key("rotating", &["eng"]).await;
    let started = Instant::now();
    let exec = start_exec(app, &old, "lite", SQLITE_FOREVER);
    until_running(None).await;
    let (status, body) = app
        .post(
            "/api/api-keys/rotating/rotate",
            &app.admin_token,
            json!({"grace_seconds": 60}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new = body["key"].as_str().unwrap().to_owned();
    // Within the overlap it runs on.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!exec.is_finished(), "stopped within the overlap");
    app.clock.advance(Duration::from_secs(61));
    assert_stopped(app, exec.await.unwrap(), started, "rotated", None).await;
    assert_eq!(app.status_with("/api/userinfo", &new).await, StatusCode::OK);

    // A rotation without overlap ends the old secret's work at once.
    let started = Instant::now();
    let exec = start_exec(app, &new, "pg", &pg_script());
    until_running(pg).await;
    let (status, body) = app
        .post("/api/api-keys/rotating/rotate", &app.admin_token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_stopped(app, exec.await.unwrap(), started, "rotated", pg).await;
    targets.pg.drop_all().await;
}

async fn an_mcp_exec_in_flight_ends_in_a_tool_error_then_401(app: &TestApp) {
    let targets = targets(app).await;
    let (_, key) = app.create_key("agent", &["eng"]).await;
    let session = mcp::open(app, &key).await;
    let started = Instant::now();
    let call = {
        let body = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
            "params": {"name": "exec", "arguments": {"connection": "pg", "script": pg_script()}}});
        let request = mcp::post(app, Some(&key), Some(&session), &body);
        tokio::spawn(async move {
            let response = request.send().await.unwrap();
            (response.status(), mcp::answer(response).await)
        })
    };
    until_running(Some(&targets.pg)).await;
    app.key_action("agent", "deactivate").await;
    let (status, answer) = call.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    let said = mcp::text(&answer["result"]);
    assert!(said.contains("deactivated"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(SLEEP_SECS));
    assert_eq!(running(&targets.pg.database, "pg_sleep").await, 0);
    let (status, _) = mcp::call(app, &key, &session, "tools/list", json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    targets.pg.drop_all().await;
}

/// Across replicas: the key is deactivated on one gateway while its exec runs on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivation_on_one_replica_stops_the_exec_on_another() {
    let a = spawn_app(Backend::Postgres).await;
    let b = a.spawn_replica().await;
    let targets = targets(&a).await;
    let (_, key) = a.create_key("roaming", &["eng"]).await;
    for (conn, script, target) in [
        ("pg", pg_script(), Some(&targets.pg)),
        ("lite", SQLITE_FOREVER.to_owned(), None),
    ] {
        a.key_action("roaming", "activate").await;
        let started = Instant::now();
        let exec = start_exec(&b, &key, conn, &script);
        until_running(target).await;
        a.key_action("roaming", "deactivate").await;
        assert_stopped(&a, exec.await.unwrap(), started, "deactivated", target).await;
    }
    targets.pg.drop_all().await;
    b.stop().await;
    a.stop().await;
}
