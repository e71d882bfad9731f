//! Connections, exec and sessions over REST, on both stores, with SQLite and PostgreSQL targets.

use crate::both_backends;
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::Path;

both_backends!(
    sqlite_targets_cannot_reach_other_files,
    connections_are_scoped_by_group,
    exec_runs_as_the_caller_and_is_recorded,
    connection_admin_rejects_bad_input,
    exec_on_a_postgres_target,
);

/// A SQLite database with a small table, as an exec target.
pub async fn sqlite_target(dir: &Path, name: &str) -> String {
    use sqlx::{sqlite::SqliteConnectOptions, ConnectOptions};
    let path = dir.join(format!("{name}.db"));
    let mut db = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::raw_sql(&format!(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT, price REAL, note TEXT);
         INSERT INTO items VALUES (1, '{name} one', 1.5, NULL), (2, 'tab\there', 2.0, 'line\nbreak'), (3, 'three', 3.25, 'x');"
    ))
    .execute(&mut db)
    .await
    .unwrap();
    path.to_string_lossy().into_owned()
}

/// A PostgreSQL target: a database of its own, owned by a fresh unprivileged role (a
/// superuser target is refused to non-admin callers), with a small table owned by that role.
pub struct PgTarget {
    /// The connection URL, as that role.
    pub url: String,
    pub database: String,
    pub role: String,
}

/// `postgres://user:password@<the test server>/database`.
pub fn postgres_url_as(user: &str, password: &str, database: &str) -> String {
    let admin = postgres_admin_url();
    let rest = admin.split_once("://").expect("a URL").1;
    let host_and_path = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = host_and_path.split('/').next().expect("a host");
    format!("postgres://{user}:{password}@{host}/{database}")
}

/// The test server's superuser URL, in another database.
pub fn postgres_admin_url_in(database: &str) -> String {
    let admin = postgres_admin_url();
    format!("{}/{database}", admin.rsplit_once('/').expect("a path").0)
}

/// Runs SQL as the test server's superuser, in `database`.
pub async fn postgres_admin_sql(database: &str, sql: &str) {
    let pool = sqlx::PgPool::connect(&postgres_admin_url_in(database))
        .await
        .unwrap();
    sqlx::raw_sql(sql).execute(&pool).await.unwrap();
    pool.close().await;
}

impl PgTarget {
    pub async fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple();
        let database = format!("hoop_test_target_{id}");
        let role = format!("hoop_test_role_{id}");
        postgres_admin_sql(
            "postgres",
            &format!("CREATE ROLE {role} LOGIN PASSWORD '{role}'"),
        )
        .await;
        postgres_admin_sql(
            "postgres",
            &format!("CREATE DATABASE {database} OWNER {role}"),
        )
        .await;
        let url = postgres_url_as(&role, &role, &database);
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric(10,2), opened date);
             INSERT INTO accounts VALUES (1, 'ada', 10.50, '2024-01-02'), (2, 'grace', NULL, '2024-03-04');",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
        Self {
            url,
            database,
            role,
        }
    }

    /// Drops the database (whoever is still connected) and then its role.
    pub async fn drop_all(self) {
        // One statement each: DROP DATABASE cannot run in the implicit transaction of a
        // multi-statement string.
        let drop_database = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database);
        postgres_admin_sql("postgres", &drop_database).await;
        postgres_admin_sql("postgres", &format!("DROP ROLE IF EXISTS {}", self.role)).await;
    }
}

/// A PostgreSQL database of its own with a small table, reached as an unprivileged role that
/// owns both; returns its URL. (Left for the test command to drop, as before.)
pub async fn postgres_target() -> String {
    PgTarget::new().await.url
}

pub(crate) async fn make_connection(
    app: &TestApp,
    name: &str,
    kind: &str,
    target: &str,
    groups: &[&str],
) {
    let body = json!({"name": name, "type": kind, "target": target, "access_groups": groups});
    let (status, answer) = app.post("/api/connections", &app.admin_token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

pub(crate) async fn exec(
    app: &TestApp,
    token: &str,
    conn: &str,
    script: &str,
) -> (StatusCode, Value) {
    app.post(
        &format!("/api/connections/{conn}/exec"),
        token,
        json!({"script": script}),
    )
    .await
}

/// ATTACH would reach any file the gateway can open, its own database included, where a script
/// could give its key the admin group.
async fn sqlite_targets_cannot_reach_other_files(app: &TestApp) {
    let dir = tempfile::tempdir().unwrap();
    app.create_group("engineering").await;
    make_connection(
        app,
        "eng-db",
        "sqlite",
        &sqlite_target(dir.path(), "eng").await,
        &["engineering"],
    )
    .await;
    let other = sqlite_target(dir.path(), "other").await;
    let (_, key) = app.create_key("eng-bot", &["engineering"]).await;
    for script in [
        format!("ATTACH DATABASE '{other}' AS o; SELECT * FROM o.items"),
        format!("VACUUM INTO '{}'", dir.path().join("copy.db").display()),
        "SELECT load_extension('/nonexistent/ext')".to_owned(),
    ] {
        let (status, answer) = exec(app, &key, "eng-db", &script).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer["output_status"], "failed", "{script}: {answer}");
    }
    assert!(!dir.path().join("copy.db").exists());
    if let Some(own) = &app.sqlite_path {
        let (_, answer) = exec(
            app,
            &key,
            "eng-db",
            &format!("ATTACH DATABASE '{}' AS gw", own.display()),
        )
        .await;
        assert_eq!(answer["output_status"], "failed", "{answer}");

        // Nor can an admin make a connection to the gateway's own file, by any name for it.
        let link = dir.path().join("innocent.db");
        std::os::unix::fs::symlink(own, &link).unwrap();
        for target in [
            own.display().to_string(),
            format!("sqlite://{}", own.display()),
            link.display().to_string(),
        ] {
            let body = json!({"name": "gw", "type": "sqlite", "target": target, "access_groups": ["engineering"]});
            let (status, answer) = app.post("/api/connections", &app.admin_token, body).await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{target}: {answer}"
            );
            assert!(answer["message"].as_str().unwrap().contains("own database"));
        }
        // A connection whose file is swapped for the gateway's afterwards is refused at exec.
        let swapped = dir.path().join("swapped.db");
        std::fs::copy(dir.path().join("eng.db"), &swapped).unwrap();
        let body = json!({"name": "swapped", "type": "sqlite", "target": swapped.display().to_string(), "access_groups": ["engineering"]});
        let (status, _) = app.post("/api/connections", &app.admin_token, body).await;
        assert_eq!(status, StatusCode::CREATED);
        std::fs::remove_file(&swapped).unwrap();
        std::os::unix::fs::symlink(own, &swapped).unwrap();
        let (status, answer) = exec(app, &key, "swapped", "SELECT 1").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    }
}

/// On PostgreSQL the gateway's own database is recognised by what the server says it is, not by
/// how a URL spells it: another host name for the same server, another scheme or extra
/// parameters reach the same tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_connection_reaches_the_gateways_own_postgres_database() {
    let app = spawn_app(Backend::Postgres).await;
    app.create_group("engineering").await;
    let (_, key) = app.create_key("eng-bot", &["engineering"]).await;
    let own = app.database_url.clone();
    let spellings = [
        own.clone(),
        own.replace("127.0.0.1", "localhost"),
        own.replacen("postgres://", "postgresql://", 1),
        format!("{own}?application_name=innocent"),
    ];
    for (i, target) in spellings.iter().enumerate() {
        let name = format!("gw-{i}");
        make_connection(&app, &name, "postgres", target, &["engineering"]).await;
        // A write to the gateway's own tables: the way a key would give itself the admin group.
        let (status, answer) = exec(&app, &key, &name, "UPDATE groups SET name = name").await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{target}: {answer}"
        );
        assert!(
            answer["message"].as_str().unwrap().contains("own database"),
            "{answer}"
        );
    }
    let (_, sessions) = app.get("/api/sessions", &app.admin_token).await;
    assert_eq!(
        sessions,
        json!([]),
        "a refused exec runs nothing and records nothing"
    );
    // Another database on the same server is an ordinary target.
    make_connection(
        &app,
        "other",
        "postgres",
        &postgres_target().await,
        &["engineering"],
    )
    .await;
    let (status, answer) = exec(&app, &key, "other", "SELECT count(*) AS n FROM accounts").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["output"], "n\n2\n", "{answer}");
    app.stop().await;
}

async fn connections_are_scoped_by_group(app: &TestApp) {
    let dir = tempfile::tempdir().unwrap();
    app.create_group("engineering").await;
    app.create_group("payments").await;
    make_connection(
        app,
        "eng-db",
        "sqlite",
        &sqlite_target(dir.path(), "eng").await,
        &["engineering"],
    )
    .await;
    make_connection(
        app,
        "pay-db",
        "sqlite",
        &sqlite_target(dir.path(), "pay").await,
        &["payments"],
    )
    .await;
    make_connection(
        app,
        "ops-db",
        "sqlite",
        &sqlite_target(dir.path(), "ops").await,
        &[],
    )
    .await;
    let (_, eng) = app.create_key("eng-bot", &["engineering"]).await;

    let (status, list) = app.get("/api/connections", &eng).await;
    assert_eq!(status, StatusCode::OK);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "eng-db");
    assert!(
        list[0].get("target").is_none(),
        "targets are for admins only: {}",
        list[0]
    );

    let (_, all) = app.get("/api/connections", &app.admin_token).await;
    let names = strings(&all, "name");
    assert_eq!(names, ["eng-db", "ops-db", "pay-db"]);
    assert!(all[0]["target"].as_str().unwrap().ends_with("eng.db"));
    assert_eq!(all[0]["access_groups"], json!(["engineering"]));

    let (status, ok) = exec(
        app,
        &eng,
        "eng-db",
        "SELECT id, label FROM items ORDER BY id",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    assert_eq!(ok["output_status"], "success");
    assert_eq!(ok["exit_code"], 0);
    assert_eq!(
        ok["output"],
        "id\tlabel\n1\teng one\n2\ttab\\there\n3\tthree\n"
    );
    for conn in ["pay-db", "ops-db"] {
        let (status, body) = exec(app, &eng, conn, "SELECT 1").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{conn}");
        assert!(body["message"].as_str().unwrap().contains(conn), "{body}");
    }
    let (status, body) = exec(app, &eng, "pay-db", "SELECT 1").await;
    assert!(
        body["message"].as_str().unwrap().contains("payments"),
        "{status} {body}"
    );
    assert_eq!(
        exec(app, &eng, "nope", "SELECT 1").await.0,
        StatusCode::NOT_FOUND
    );
    // Admins reach everything.
    assert_eq!(
        exec(app, &app.admin_token, "ops-db", "SELECT 1").await.1["output_status"],
        "success"
    );
}

async fn exec_runs_as_the_caller_and_is_recorded(app: &TestApp) {
    let dir = tempfile::tempdir().unwrap();
    app.create_group("engineering").await;
    make_connection(
        app,
        "eng-db",
        "sqlite",
        &sqlite_target(dir.path(), "eng").await,
        &["engineering"],
    )
    .await;
    let (_, a) = app.create_key("bot-a", &["engineering"]).await;
    let (_, b) = app.create_key("bot-b", &["engineering"]).await;

    let (_, failed) = exec(app, &a, "eng-db", "SELECT * FROM missing_table").await;
    assert_eq!(failed["output_status"], "failed");
    assert_eq!(failed["exit_code"], 1);
    assert!(
        failed["output"].as_str().unwrap().contains("no such table"),
        "{failed}"
    );

    // An empty script is a client error, not a session.
    assert_eq!(
        exec(app, &a, "eng-db", "  ").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (_, nulls) = exec(app, &a, "eng-db", "SELECT note FROM items ORDER BY id").await;
    assert_eq!(nulls["output"], "note\nNULL\nline\\nbreak\nx\n");
    let (_, write) = exec(app, &a, "eng-db", "UPDATE items SET price = price + 1").await;
    assert_eq!(write["output"], "(3 rows affected)\n");
    // The published exec route: POST /api/sessions.
    let (status, via_sessions) = app
        .post(
            "/api/sessions",
            &b,
            json!({"connection": "eng-db", "script": "SELECT count(*) AS n FROM items"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(via_sessions["output"], "n\n3\n");
    assert!(via_sessions["execution_time_ms"].is_u64());

    let (_, mine) = app.get("/api/sessions", &a).await;
    let mine = mine.as_array().unwrap();
    assert_eq!(mine.len(), 3, "bot-a sees its own sessions only");
    assert!(mine.iter().all(|s| s["actor"] == "bot-a"
        && s["auth_method"] == "api_key"
        && s["connection"] == "eng-db"));
    assert_eq!(mine[2]["status"], "failed");
    assert_eq!(mine[2]["script"], "SELECT * FROM missing_table");
    let (_, everyone) = app.get("/api/sessions", &app.admin_token).await;
    assert_eq!(everyone.as_array().unwrap().len(), 4);

    let b_session = via_sessions["session_id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/api/sessions/{b_session}"), &b).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("/api/sessions/{b_session}"), &a).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("/api/sessions/{b_session}"), &app.admin_token)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/sessions/not-a-uuid", &a).await.0,
        StatusCode::NOT_FOUND
    );
}

async fn connection_admin_rejects_bad_input(app: &TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let target = sqlite_target(dir.path(), "t").await;
    make_connection(app, "db", "sqlite", &target, &[]).await;
    let cases = [
        (
            json!({"name": "db", "type": "sqlite", "target": target}),
            StatusCode::CONFLICT,
        ),
        (
            json!({"name": "bad name", "type": "sqlite", "target": target}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"name": "x", "type": "mysql", "target": target}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"name": "x", "type": "postgres", "target": "not a url"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"name": "x", "type": "sqlite", "target": ""}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"name": "x", "type": "sqlite", "target": target, "access_groups": ["ghosts"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"name": "x", "type": "sqlite"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (body, want) in cases {
        let (status, answer) = app
            .post("/api/connections", &app.admin_token, body.clone())
            .await;
        assert_eq!(status, want, "{body} -> {answer}");
    }
    let (_, scoped) = app.create_key("scoped", &["admin"]).await;
    app.put(
        "/api/api-keys/scoped",
        &app.admin_token,
        json!({"groups": ["admin"]}),
    )
    .await;
    app.create_group("eng").await;
    let (_, eng) = app.create_key("eng", &["eng"]).await;
    let body = json!({"name": "y", "type": "sqlite", "target": target});
    assert_eq!(
        app.post("/api/connections", &eng, body).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.put("/api/connections/db", &eng, json!({"name": "z"}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.call(Method::DELETE, "/api/connections/db", Some(&eng), None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    // Rename and share with a group; then delete.
    let (status, renamed) = app
        .put(
            "/api/connections/db",
            &scoped,
            json!({"name": "db2", "access_groups": ["eng"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "db2");
    assert_eq!(
        exec(app, &eng, "db2", "SELECT 1 AS one").await.1["output"],
        "one\n1\n"
    );
    assert_eq!(
        app.call(
            Method::DELETE,
            "/api/connections/db2",
            Some(&app.admin_token),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        exec(app, &eng, "db2", "SELECT 1").await.0,
        StatusCode::NOT_FOUND
    );
    let (_, events) = app.get("/api/audit", &app.admin_token).await;
    let actions = strings(&events, "action");
    assert!(
        actions.contains(&"connection.created")
            && actions.contains(&"connection.updated")
            && actions.contains(&"connection.deleted")
    );
}

async fn exec_on_a_postgres_target(app: &TestApp) {
    let url = postgres_target().await;
    app.create_group("finance").await;
    make_connection(app, "ledger", "postgres", &url, &["finance"]).await;
    let (_, key) = app.create_key("finance-bot", &["finance"]).await;
    let (_, ok) = exec(
        app,
        &key,
        "ledger",
        "SELECT id, owner, balance, opened FROM accounts ORDER BY id",
    )
    .await;
    assert_eq!(ok["output_status"], "success", "{ok}");
    assert_eq!(
        ok["output"],
        "id\towner\tbalance\topened\n1\tada\t10.50\t2024-01-02\n2\tgrace\tNULL\t2024-03-04\n"
    );
    let (_, failed) = exec(app, &key, "ledger", "SELECT nope FROM accounts").await;
    assert_eq!(failed["output_status"], "failed");
    assert!(
        failed["output"]
            .as_str()
            .unwrap()
            .contains("column \"nope\" does not exist"),
        "{failed}"
    );
    let (_, two) = exec(
        app,
        &key,
        "ledger",
        "UPDATE accounts SET owner = owner; SELECT count(*) AS n FROM accounts",
    )
    .await;
    assert_eq!(two["output"], "(2 rows affected)\nn\n2\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_is_bounded_in_rows_and_time() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.exec.max_rows = 2;
        c.exec.timeout_secs = 1;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    make_connection(
        &app,
        "db",
        "sqlite",
        &sqlite_target(dir.path(), "t").await,
        &[],
    )
    .await;
    let (_, cut) = exec(
        &app,
        &app.admin_token,
        "db",
        "SELECT id FROM items ORDER BY id",
    )
    .await;
    assert_eq!(
        cut["output"],
        "id\n1\n2\n(output cut at 2 rows: HOOP_EXEC_MAX_ROWS)\n"
    );
    let forever =
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r";
    let (_, slow) = exec(&app, &app.admin_token, "db", forever).await;
    assert_eq!(slow["output_status"], "failed");
    assert!(
        slow["output"].as_str().unwrap().contains("longer than 1 s"),
        "{slow}"
    );
    app.stop().await;
}
