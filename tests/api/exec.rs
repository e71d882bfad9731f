//! The exec path of issue 11: sandboxed by the identity of what a connection reaches, bounded,
//! cancelled in the database, and pooled without carrying one caller's state to the next.
//! Each test names the attack it holds in its comment.

use crate::connections::{
    exec, make_connection, postgres_admin_sql, postgres_admin_url_in, postgres_url_as,
    sqlite_target, PgTarget,
};
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::{
    future::Future,
    path::Path,
    time::{Duration, Instant},
};

// ---------------------------------------------------------------------------------------------
// Helpers

/// Sends an exec and returns the raw answer (for its headers and its length).
async fn exec_response(app: &TestApp, token: &str, conn: &str, script: &str) -> reqwest::Response {
    app.request(
        Method::POST,
        &format!("/api/connections/{conn}/exec"),
        Some(token),
    )
    .json(&json!({ "script": script }))
    .send()
    .await
    .unwrap()
}

/// Starts an exec in the background.
pub(crate) fn spawn_exec(
    app: &TestApp,
    token: &str,
    conn: &str,
    script: &str,
) -> tokio::task::JoinHandle<(StatusCode, Value)> {
    let request = app
        .request(
            Method::POST,
            &format!("/api/connections/{conn}/exec"),
            Some(token),
        )
        .json(&json!({ "script": script }));
    tokio::spawn(async move { read(request.send().await.unwrap()).await })
}

/// A superuser pool on the test server (pg_stat_activity is cluster-wide).
pub(crate) async fn pg_admin() -> sqlx::PgPool {
    sqlx::PgPool::connect(&postgres_admin_url_in("postgres"))
        .await
        .unwrap()
}

/// Backends of `role` connected to `database`: the gateway's, in these tests.
async fn backends(admin: &sqlx::PgPool, database: &str, role: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = $1 AND usename = $2 AND pid <> pg_backend_pid()",
    )
    .bind(database)
    .bind(role)
    .fetch_one(admin)
    .await
    .unwrap()
}

/// Backends of `database` that are running a query containing `text` right now.
/// Fails with `why` unless the gateway's backends on `target` are gone `within` that time.
async fn assert_backends_close(
    admin: &sqlx::PgPool,
    target: &PgTarget,
    within: Duration,
    why: &str,
) {
    let gone = eventually(within, || async {
        backends(admin, &target.database, &target.role).await == 0
    })
    .await;
    assert!(gone, "{why}");
}

pub(crate) async fn running(admin: &sqlx::PgPool, database: &str, text: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = $1 AND state = 'active' AND pid <> pg_backend_pid()
           AND strpos(query, $2) > 0",
    )
    .bind(database)
    .bind(text)
    .fetch_one(admin)
    .await
    .unwrap()
}

/// Polls `check` every 50 ms until it holds or `within` has passed; whether it held.
async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A login role of its own on the test server (its password is its name), or a group role
/// when `attributes` start with `NOLOGIN`; dropped with `drop_role`.
async fn create_role(tag: &str, attributes: &str) -> String {
    let role = format!("hoop_test_role_{}_{tag}", uuid::Uuid::new_v4().simple());
    let login = if attributes.starts_with("NOLOGIN") {
        String::new()
    } else {
        format!("LOGIN PASSWORD '{role}'")
    };
    postgres_admin_sql(
        "postgres",
        &format!("CREATE ROLE {role} {login} {attributes}"),
    )
    .await;
    role
}

/// Drops a role once whatever it owned is gone (errors ignored: cleanup only).
async fn drop_role(role: &str) {
    if let Ok(pool) = sqlx::PgPool::connect(&postgres_admin_url_in("postgres")).await {
        let _ = sqlx::raw_sql(&format!("DROP ROLE IF EXISTS {role}"))
            .execute(&pool)
            .await;
        pool.close().await;
    }
}

fn message(answer: &Value) -> &str {
    answer["message"].as_str().unwrap_or_default()
}

fn output(answer: &Value) -> &str {
    answer["output"].as_str().unwrap_or_default()
}

/// CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let per_second: f64 = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0);
    ticks as f64 / per_second
}

// ---------------------------------------------------------------------------------------------
// 1. The gateway's own SQLite file, by any spelling

/// Attack: a connection that names the gateway's own SQLite file by a spelling the path check
/// does not recognise, and a key of group `eng` that then gives itself the admin group, adds a
/// group, or reads live browser sessions from `tower_sessions`. Holds: the create is refused,
/// or every exec is refused or fails to open the file; never "success"; the gateway's data is
/// unchanged.
async fn own_sqlite_file_is_unreachable(spell: impl FnOnce(&Path, &Path) -> String) {
    let app = spawn_app(Backend::Sqlite).await;
    let own = app.sqlite_path.clone().unwrap();
    // Next to the gateway's directory, on the same file system (for the hard link).
    let scratch = tempfile::tempdir().unwrap();
    app.create_group("eng").await;
    let (_, key) = app.create_key("eng-bot", &["eng"]).await;
    let groups_before = app.get("/api/groups", &app.admin_token).await.1;
    let admin_key_groups = || async {
        use sqlx::{sqlite::SqliteConnectOptions, ConnectOptions, Connection};
        let mut db = SqliteConnectOptions::new()
            .filename(&own)
            .read_only(true)
            .connect()
            .await
            .unwrap();
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM api_key_groups WHERE group_name = 'admin'")
                .fetch_one(&mut db)
                .await
                .unwrap();
        db.close().await.unwrap();
        n
    };
    let admin_grants_before = admin_key_groups().await;

    let target = spell(&own, scratch.path());
    let body = json!({"name": "gw", "type": "sqlite", "target": target, "access_groups": ["eng"]});
    let (status, answer) = app.post("/api/connections", &app.admin_token, body).await;
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        assert!(
            message(&answer).contains("own database"),
            "{target}: {answer}"
        );
    } else {
        assert_eq!(status, StatusCode::CREATED, "{target}: {answer}");
        for script in [
            "INSERT INTO api_key_groups SELECT id, org_id, 'admin' FROM api_keys WHERE name = 'eng-bot'",
            "INSERT INTO groups SELECT id, 'pwned', '2024-01-01T00:00:00.000Z' FROM orgs",
            "SELECT * FROM tower_sessions",
            "SELECT 1 AS probe",
        ] {
            let (status, answer) = exec(&app, &key, "gw", script).await;
            if status == StatusCode::UNPROCESSABLE_ENTITY {
                assert!(message(&answer).contains("own database"), "{answer}");
            } else {
                assert_eq!(status, StatusCode::OK, "{target}: {script}: {answer}");
                assert_ne!(
                    answer["output_status"], "success",
                    "{target}: `{script}` ran on the gateway's own file: {answer}"
                );
            }
        }
    }
    assert_eq!(
        app.get("/api/groups", &app.admin_token).await.1,
        groups_before,
        "{target}"
    );
    assert_eq!(admin_key_groups().await, admin_grants_before, "{target}");
    app.stop().await;
}

/// One test per spelling, so a run shows which of them get through.
macro_rules! own_file_spellings {
    ($($(#[$doc:meta])* $name:ident => $spell:expr),* $(,)?) => {
        $(
            $(#[$doc])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::own_sqlite_file_is_unreachable($spell).await;
            }
        )*
    };
}

mod own_sqlite_file_by {
    use std::path::Path;

    /// `hoop.db` with its letters percent-encoded.
    fn encoded(own: &Path) -> String {
        own.display()
            .to_string()
            .replace("hoop.db", "%68%6F%6F%70.db")
    }

    own_file_spellings!(
        /// The issue's example: SQLite reads `file:` as a URI, the path check does not.
        file_uri => |own: &Path, _: &Path| format!("file:{}", own.display()),
        /// SQLite (and sqlx) decode `%68`; the path check compares the raw string.
        file_uri_percent_encoded => |own: &Path, _: &Path| format!("file:{}", encoded(own)),
        file_uri_mode_rw => |own: &Path, _: &Path| format!("file:{}?mode=rw", own.display()),
        /// sqlx percent-decodes a plain path too.
        percent_encoded_path => |own: &Path, _: &Path| encoded(own),
        /// Query parameters (refused at create today, kept as a regression guard).
        sqlite_url_mode_rw => |own: &Path, _: &Path| format!("sqlite:{}?mode=rw", own.display()),
        sqlite_slashes_url_mode_rw =>
            |own: &Path, _: &Path| format!("sqlite://{}?mode=rw", own.display()),
        /// sqlx strips every `sqlite:` prefix, the path check only one.
        repeated_sqlite_prefix =>
            |own: &Path, _: &Path| format!("sqlite:sqlite://{}", own.display()),
        /// `./` and `..` (refused at create today: canonicalised; regression guard).
        dot_and_dot_dot => |own: &Path, _: &Path| {
            let dir = own.parent().unwrap();
            let last = dir.file_name().unwrap().to_string_lossy();
            format!("{}/./../{last}/./hoop.db", dir.display())
        },
        /// A symbolic link (refused at create today: canonicalised; regression guard).
        symlink => |own: &Path, scratch: &Path| {
            let link = scratch.join("innocent.db");
            std::os::unix::fs::symlink(own, &link).unwrap();
            link.display().to_string()
        },
        /// A hard link is the same inode under another name: no path check can see it. Inside
        /// the gateway's process SQLite answers "disk I/O error" to reads and writes today
        /// (the inode is already open in WAL mode under the other name), but a script runs.
        hard_link => |own: &Path, scratch: &Path| {
            let link = scratch.join("innocent.db");
            std::fs::hard_link(own, &link).unwrap();
            link.display().to_string()
        },
        /// The WAL and shared-memory files are not databases ("file is not a database" on
        /// the first read), but a script runs on them today.
        wal_file => |own: &Path, _: &Path| format!("{}-wal", own.display()),
        shm_file => |own: &Path, _: &Path| format!("{}-shm", own.display()),
    );
}

// ---------------------------------------------------------------------------------------------
// 2. The SQLite authorizer

/// A SQLite target shared with group `eng`, and a key of that group.
async fn sqlite_app_with_target(dir: &Path) -> (TestApp, String, String) {
    let app = spawn_app(Backend::Sqlite).await;
    app.create_group("eng").await;
    let target = sqlite_target(dir, "eng").await;
    make_connection(&app, "db", "sqlite", &target, &["eng"]).await;
    let (_, key) = app.create_key("eng-bot", &["eng"]).await;
    (app, target, key)
}

/// Attack: a script that reaches other files (ATTACH), loads code (load_extension), changes
/// file-level or process-wide settings through a PRAGMA, or creates a virtual table (whose
/// module may do anything). Holds: all fail on an exec connection; reading pragmas still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_authorizer_refuses_attach_extensions_setting_pragmas_and_virtual_tables() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _, key) = sqlite_app_with_target(dir.path()).await;
    let other = sqlite_target(dir.path(), "other").await;
    let mut ran = Vec::new();
    for script in [
        format!("ATTACH DATABASE '{other}' AS o"),
        "SELECT load_extension('/nonexistent/ext')".to_owned(),
        "PRAGMA journal_mode = DELETE".to_owned(),
        "PRAGMA foreign_keys = ON".to_owned(),
        "PRAGMA writable_schema = 1".to_owned(),
        "CREATE VIRTUAL TABLE v USING fts5(x)".to_owned(),
    ] {
        let (status, answer) = exec(&app, &key, "db", &script).await;
        assert_eq!(status, StatusCode::OK, "{script}: {answer}");
        if answer["output_status"] != "failed" {
            ran.push(format!("{script} -> {}", answer["output"]));
        }
    }
    assert!(ran.is_empty(), "these ran: {ran:#?}");
    let (_, tables) = exec(
        &app,
        &app.admin_token,
        "db",
        "SELECT count(*) AS n FROM sqlite_master WHERE name = 'v'",
    )
    .await;
    assert_eq!(tables["output"], "n\n0\n", "no virtual table: {tables}");
    // Reading pragmas is fine, for everyone.
    for script in [
        "PRAGMA table_info(items)",
        "PRAGMA user_version",
        "SELECT name FROM pragma_table_info('items')",
    ] {
        let (status, answer) = exec(&app, &key, "db", script).await;
        assert_eq!(status, StatusCode::OK, "{script}: {answer}");
        assert_eq!(answer["output_status"], "success", "{script}: {answer}");
    }
    app.stop().await;
}

/// Attack: a target that is no file at all (an in-memory database, by name or by URI), whose
/// identity nobody can check and whose contents would outlive one caller in the pool. Holds:
/// refused (422) before any script runs, as a target that cannot be identified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_targets_that_are_no_file_are_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    for (i, target) in [":memory:", "file:shared?mode=memory&cache=shared"]
        .iter()
        .enumerate()
    {
        let name = format!("mem-{i}");
        make_connection(&app, &name, "sqlite", target, &[]).await;
        let (status, answer) = exec(&app, &app.admin_token, &name, "SELECT 1").await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{target}: {answer}"
        );
        assert!(
            answer["message"].as_str().unwrap().contains("identify"),
            "{target}: {answer}"
        );
    }
    let (_, sessions) = app.get("/api/sessions", &app.admin_token).await;
    assert_eq!(sessions, json!([]), "nothing ran, nothing recorded");
    app.stop().await;
}

/// Attack: `PRAGMA database_list` (or its table-valued form) shows a non-admin the file paths
/// of the gateway's host. Holds: failed for non-admins, shown to admins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_database_list_is_for_admins_only() {
    let dir = tempfile::tempdir().unwrap();
    let (app, target, key) = sqlite_app_with_target(dir.path()).await;
    for script in ["PRAGMA database_list", "SELECT * FROM pragma_database_list"] {
        let (status, answer) = exec(&app, &key, "db", script).await;
        assert_eq!(status, StatusCode::OK, "{script}: {answer}");
        assert_eq!(answer["output_status"], "failed", "{script}: {answer}");
        assert!(!output(&answer).contains(&target), "{script}: {answer}");
        let (_, admin) = exec(&app, &app.admin_token, "db", script).await;
        assert_eq!(admin["output_status"], "success", "{script}: {admin}");
        assert!(output(&admin).contains(&target), "{script}: {admin}");
    }
    app.stop().await;
}

/// Attack: `PRAGMA temp_store_directory` is process-wide (and not thread-safe): one caller sets
/// it and every other caller's temporary files go where it chose. Holds: the setting is refused,
/// and another caller does not see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_temp_store_directory_set_by_one_caller_is_not_seen_by_another() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _, key_a) = sqlite_app_with_target(dir.path()).await;
    let (_, key_b) = app.create_key("other-bot", &["eng"]).await;
    // The directory must exist for SQLite to take it.
    let chosen = tempfile::tempdir().unwrap();
    let chosen = chosen.path().display().to_string();
    let (_, set) = exec(
        &app,
        &key_a,
        "db",
        &format!("PRAGMA temp_store_directory = '{chosen}'"),
    )
    .await;
    let (_, seen) = exec(&app, &key_b, "db", "PRAGMA temp_store_directory").await;
    // Undone before asserting: today the setting leaks into every SQLite user of this process.
    exec(
        &app,
        &app.admin_token,
        "db",
        "PRAGMA temp_store_directory = ''",
    )
    .await;
    assert!(
        !output(&seen).contains(&chosen),
        "another caller sees the directory: {seen}"
    );
    assert_eq!(set["output_status"], "failed", "{set}");
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 3. The PostgreSQL own-database check fails closed

/// Attack: on a PostgreSQL store, a connection to the gateway's own database as a role that
/// cannot run pg_control_system() (so the gateway cannot tell where it leads) but holds grants
/// on the gateway's tables; a key then rewrites the groups. Holds: 422 naming
/// pg_control_system, nothing runs, no session is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_own_database_check_fails_closed_without_pg_control_system() {
    let app = spawn_app(Backend::Postgres).await;
    let own_db = app.database_url.rsplit('/').next().unwrap().to_owned();
    let role = create_role("gw", "").await;
    postgres_admin_sql(
        &own_db,
        &format!(
            "GRANT USAGE ON SCHEMA public TO {role};
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
             REVOKE EXECUTE ON FUNCTION pg_catalog.pg_control_system() FROM PUBLIC"
        ),
    )
    .await;
    let url = postgres_url_as(&role, &role, &own_db);
    // The premise: this role can write the gateway's tables and cannot identify the server.
    {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::query("UPDATE groups SET name = name WHERE false")
            .execute(&pool)
            .await
            .unwrap();
        assert!(sqlx::query("SELECT pg_control_system()")
            .execute(&pool)
            .await
            .is_err());
        pool.close().await;
    }
    app.create_group("eng").await;
    app.create_group("spare").await;
    let (_, key) = app.create_key("eng-bot", &["eng"]).await;
    let groups_before = app.get("/api/groups", &app.admin_token).await.1;
    let admin_grants = || async {
        let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM api_key_groups WHERE group_name = 'admin'")
                .fetch_one(&pool)
                .await
                .unwrap();
        pool.close().await;
        n
    };
    let admin_grants_before = admin_grants().await;
    let body = json!({"name": "gw", "type": "postgres", "target": url, "access_groups": ["eng"]});
    let (status, created) = app.post("/api/connections", &app.admin_token, body).await;
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        assert!(message(&created).contains("pg_control_system"), "{created}");
    } else {
        assert_eq!(status, StatusCode::CREATED, "{created}");
        // The issue's attack: the key gives itself the admin group (and renames a group).
        let (status, answer) = exec(
            &app,
            &key,
            "gw",
            "UPDATE groups SET name = 'pwned' WHERE name = 'spare';
             INSERT INTO api_key_groups SELECT id, org_id, 'admin' FROM api_keys WHERE name = 'eng-bot'",
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(message(&answer).contains("pg_control_system"), "{answer}");
    }
    assert_eq!(
        app.get("/api/groups", &app.admin_token).await.1,
        groups_before
    );
    assert_eq!(admin_grants().await, admin_grants_before);
    let (_, sessions) = app.get("/api/sessions", &app.admin_token).await;
    assert_eq!(sessions, json!([]), "a refused exec records nothing");
    app.stop().await;
    drop_role(&role).await;
}

// ---------------------------------------------------------------------------------------------
// 4. Privileged PostgreSQL roles

/// Attack: a connection whose role is a superuser (or may read or write the server's files, run
/// programs, or create roles) lets a non-admin script read the gateway's files or run programs
/// on its host (`COPY … TO PROGRAM`, `pg_read_binary_file`). Holds: 403 "privileged" for
/// non-admin callers unless an admin marked the connection privileged; admins always run it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privileged_postgres_roles_are_refused_to_non_admin_callers() {
    let app = spawn_app(Backend::Sqlite).await;
    let target = PgTarget::new().await;
    app.create_group("eng").await;
    let (_, key) = app.create_key("eng-bot", &["eng"]).await;

    // An ordinary role is fine for everyone.
    make_connection(&app, "plain", "postgres", &target.url, &["eng"]).await;
    let (_, plain) = exec(&app, &key, "plain", "SELECT count(*) AS n FROM accounts").await;
    assert_eq!(plain["output"], "n\n2\n", "{plain}");

    // The superuser.
    let superuser = postgres_admin_url_in(&target.database);
    make_connection(&app, "super", "postgres", &superuser, &["eng"]).await;
    let script = "SELECT current_user AS u";
    let (status, refused) = exec(&app, &key, "super", script).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(message(&refused).contains("privileged"), "{refused}");
    let (status, admin) = exec(&app, &app.admin_token, "super", script).await;
    assert_eq!(status, StatusCode::OK, "{admin}");
    assert_eq!(admin["output_status"], "success", "{admin}");
    let privileged_flag = |list: &Value| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "super")
            .map(|c| c["privileged"].clone())
            .unwrap()
    };
    let (_, list) = app.get("/api/connections", &app.admin_token).await;
    assert_eq!(privileged_flag(&list), json!(false), "{list}");
    let (status, marked) = app
        .put(
            "/api/connections/super",
            &app.admin_token,
            json!({"privileged": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{marked}");
    assert_eq!(marked["privileged"], true, "{marked}");
    let (_, list) = app.get("/api/connections", &key).await;
    assert_eq!(privileged_flag(&list), json!(true), "{list}");
    let (status, ran) = exec(&app, &key, "super", script).await;
    assert_eq!(status, StatusCode::OK, "{ran}");
    assert_eq!(ran["output_status"], "success", "{ran}");

    // Roles that are not superusers but reach the host all the same.
    let mut roles = Vec::new();
    for (tag, grant) in [
        ("rsf", "GRANT pg_read_server_files TO {role}"),
        ("wsf", "GRANT pg_write_server_files TO {role}"),
        ("exe", "GRANT pg_execute_server_program TO {role}"),
        ("crr", "ALTER ROLE {role} CREATEROLE"),
    ] {
        let role = create_role(tag, "").await;
        postgres_admin_sql("postgres", &grant.replace("{role}", &role)).await;
        let url = postgres_url_as(&role, &role, &target.database);
        make_connection(&app, tag, "postgres", &url, &["eng"]).await;
        let (status, refused) = exec(&app, &key, tag, script).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{tag}: {refused}");
        assert!(message(&refused).contains("privileged"), "{tag}: {refused}");
        let (_, admin) = exec(&app, &app.admin_token, tag, script).await;
        assert_eq!(admin["output_status"], "success", "{tag}: {admin}");
        roles.push(role);
    }
    app.stop().await;
    target.drop_all().await;
    for role in roles {
        drop_role(&role).await;
    }
}

/// Attack (issue 26, HIGH): a login role that is not privileged itself but can become a
/// privileged one. A key of group `eng` ran `SET ROLE super_role; SELECT pg_read_file(…)` and
/// `COPY … TO PROGRAM`, a member of a `CREATEROLE` role granted itself
/// `pg_execute_server_program`, a superuser login whose URL said `-c role=plain` got the
/// superuser back with `RESET ROLE`, and through `CREATE EXTENSION dblink` planted an admin key
/// in the gateway's own database on the same cluster. Holds: every role the session can act as
/// counts, so each of these is 403 "privileged" for the key (and runs for admins), the planted
/// key never appears; and a role whose powers cannot be read is privileged (fails closed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_a_login_can_become_are_privileged_too() {
    let app = spawn_app(Backend::Postgres).await;
    let target = PgTarget::new().await;
    app.create_group("eng").await;
    let (_, key) = app.create_key("eng-bot", &["eng"]).await;
    let superuser = create_role("su", "NOLOGIN SUPERUSER").await;
    let middle = create_role("mid", &format!("NOLOGIN IN ROLE {superuser}")).await;
    let creator = create_role("cr", "NOLOGIN CREATEROLE").await;
    let member = create_role("msu", &format!("IN ROLE {superuser}")).await;
    let indirect = create_role("ind", &format!("IN ROLE {middle}")).await;
    let creates = create_role("mcr", &format!("IN ROLE {creator}")).await;
    let bypass = create_role("brls", "BYPASSRLS").await;
    let url_as = |role: &str| postgres_url_as(role, role, &target.database);
    let downgraded = format!(
        "{}?options=-c%20role%3D{}",
        postgres_admin_url_in(&target.database),
        target.role
    );
    let cases = [
        ("member", url_as(&member)),
        ("indirect", url_as(&indirect)),
        ("creator", url_as(&creates)),
        ("bypass", url_as(&bypass)),
        ("downgraded", downgraded),
    ];
    let gateway_db = app.database_url.rsplit_once('/').unwrap().1.to_owned();
    let plant = format!(
        "SET ROLE {superuser}; CREATE EXTENSION IF NOT EXISTS dblink; \
         SELECT dblink_exec('dbname={gateway_db} user=postgres', \
           'UPDATE api_keys SET name = name || ''-planted''')"
    );
    for (tag, url) in &cases {
        make_connection(&app, tag, "postgres", url, &["eng"]).await;
        for script in [
            "SELECT current_user AS u",
            "RESET ROLE; SELECT pg_read_file('/etc/passwd', 0, 60) AS f",
            "GRANT pg_execute_server_program TO CURRENT_USER",
            plant.as_str(),
        ] {
            let (status, refused) = exec(&app, &key, tag, script).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{tag}: {script}: {refused}");
            assert!(message(&refused).contains("privileged"), "{tag}: {refused}");
        }
        let (_, admin) = exec(&app, &app.admin_token, tag, "SELECT current_user AS u").await;
        assert_eq!(admin["output_status"], "success", "{tag}: {admin}");
    }
    // The URL's role is in force, and still the session is privileged: the session user counts.
    let (_, admin) = exec(
        &app,
        &app.admin_token,
        "downgraded",
        "SELECT current_user AS u",
    )
    .await;
    assert_eq!(output(&admin), format!("u\n{}\n", target.role), "{admin}");
    let (_, keys) = app.get("/api/api-keys", &app.admin_token).await;
    assert!(!keys.to_string().contains("planted"), "{keys}");

    // An ordinary role still runs for the key; the same role where it may not read the roles it
    // can become is refused.
    make_connection(&app, "plain", "postgres", &target.url, &["eng"]).await;
    let (status, plain) = exec(&app, &key, "plain", "SELECT count(*) AS n FROM accounts").await;
    assert_eq!(status, StatusCode::OK, "{plain}");
    assert_eq!(output(&plain), "n\n2\n", "{plain}");
    postgres_admin_sql(
        &target.database,
        "REVOKE SELECT ON pg_catalog.pg_roles FROM PUBLIC",
    )
    .await;
    make_connection(&app, "unreadable", "postgres", &target.url, &["eng"]).await;
    let (status, refused) = exec(&app, &key, "unreadable", "SELECT 1 AS one").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(message(&refused).contains("privileged"), "{refused}");

    app.stop().await;
    target.drop_all().await;
    for role in [
        member, indirect, creates, bypass, middle, creator, superuser,
    ] {
        drop_role(&role).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 5. The deadline stops the work in the database

/// Attack: a script that lifts the server-side timeout (`SET statement_timeout = 0`) and then
/// sleeps, so its backend runs on after the gateway answered "cancelled". Holds: when the answer
/// arrives, no backend of the target is running it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_deadline_stops_the_backend_before_the_answer() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.exec.timeout_secs = 1).await;
    let target = PgTarget::new().await;
    make_connection(&app, "db", "postgres", &target.url, &[]).await;
    let started = Instant::now();
    let (status, answer) = exec(
        &app,
        &app.admin_token,
        "db",
        "SET statement_timeout = 0; SELECT pg_sleep(60)",
    )
    .await;
    let admin = pg_admin().await;
    let still_running = running(&admin, &target.database, "pg_sleep(60)").await;
    admin.close().await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["output_status"], "failed", "{answer}");
    assert!(output(&answer).contains("longer than 1 s"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        still_running, 0,
        "the script still runs in the database after the answer"
    );
    app.stop().await;
    target.drop_all().await;
}

/// Runs `script` on the `demo` SQLite connection of a real `hoop serve` (its own process, so
/// its CPU time is its own, whatever other tests do) with a 1 s deadline; returns the answer and
/// the CPU seconds the gateway used in the two seconds after it.
async fn cpu_after_sqlite_deadline(script: &str) -> (Value, f64) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let gw = Gateway::start(&[("HOOP_DATA_DIR", data), ("HOOP_EXEC_TIMEOUT_SECS", "1")]).await;
    let token = gw.admin_token().await;
    let answer = gw
        .json(
            Method::POST,
            "/api/connections/demo/exec",
            Some(&token),
            Some(json!({ "script": script })),
        )
        .await;
    let pid = gw.child.id();
    let before = cpu_seconds(pid);
    // A window to measure over: nothing to poll for. (Two seconds: on a busy 2-core machine a
    // runaway step gets well under a core, so one second left too little margin.)
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_seconds(pid) - before;
    drop(gw);
    (answer, used)
}

/// Attack: a SQLite script that spends seconds inside single steps (string functions over
/// values of tens of megabytes, where no progress handler runs), so a core stays busy long after
/// the gateway answered "cancelled". Holds: the gateway uses (almost) no CPU after the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_deadline_leaves_no_cpu_burning_on_huge_strings() {
    // Twenty replace() calls over 80 MB strings (0 -> 1 -> ... -> 9 -> 0, twice): over ten
    // seconds, in a handful of VDBE steps.
    let mut value = "hex(zeroblob(40000000))".to_owned();
    for i in 0..20 {
        value = format!("replace({value}, '{}', '{}')", i % 10, (i + 1) % 10);
    }
    let (answer, used) = cpu_after_sqlite_deadline(&format!("SELECT length({value}) AS n")).await;
    assert_eq!(answer["output_status"], "failed", "{answer}");
    assert!(
        used < 0.2,
        "the gateway burnt {used:.2} s of CPU in the 2 s after answering {answer}"
    );
}

/// Attack: the same, with values under the length limit (3 MB): SQLite's instr(), replace() and
/// two-argument trim() are quadratic, so one call with a 300 kB argument that almost matches
/// everywhere runs for half a minute in one step, where no interrupt reaches it. Holds: the
/// gateway's linear replacements answer correctly at once, and no CPU burns after the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_deadline_leaves_no_cpu_burning_on_quadratic_string_functions() {
    let x = "printf('%.*c', 3000000, 'x')";
    let almost = "printf('%.*c', 300000, 'x') || 'y'";
    for (script, expected) in [
        (format!("SELECT instr({x}, {almost}) AS n"), "n\n0\n"),
        (
            format!("SELECT length(replace({x}, {almost}, '')) AS n"),
            "n\n3000000\n",
        ),
        (
            format!("SELECT length(trim({x}, printf('%.*c', 300000, 'y') || 'x')) AS n"),
            "n\n0\n",
        ),
    ] {
        let (answer, used) = cpu_after_sqlite_deadline(&script).await;
        assert_eq!(answer["output"], expected, "{script}: {answer}");
        assert!(
            used < 0.2,
            "the gateway burnt {used:.2} s of CPU in the 2 s after answering {answer}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Output bounded in bytes

/// Attack: a few rows of large values make an answer (and gateway memory) of any size. Holds:
/// the output stops at the last whole row within HOOP_EXEC_MAX_BYTES and says so, on SQLite and
/// PostgreSQL targets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_cut_at_max_bytes_after_the_last_whole_row() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.exec.max_bytes = 1000).await;
    let dir = tempfile::tempdir().unwrap();
    let target = PgTarget::new().await;
    make_connection(
        &app,
        "lite",
        "sqlite",
        &sqlite_target(dir.path(), "t").await,
        &[],
    )
    .await;
    make_connection(&app, "pg", "postgres", &target.url, &[]).await;
    let row = "x".repeat(600);
    for (conn, script) in [
        (
            "lite",
            "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 5)
             SELECT printf('%.*c', 600, 'x') AS s FROM r",
        ),
        (
            "pg",
            "SELECT repeat('x', 600) AS s FROM generate_series(1, 5)",
        ),
    ] {
        let (status, answer) = exec(&app, &app.admin_token, conn, script).await;
        assert_eq!(status, StatusCode::OK, "{conn}: {answer}");
        assert_eq!(answer["output_status"], "success", "{conn}: {answer}");
        let lines: Vec<&str> = output(&answer).trim_end_matches('\n').split('\n').collect();
        assert_eq!(
            lines,
            [
                "s",
                row.as_str(),
                "(output cut at 1000 bytes: HOOP_EXEC_MAX_BYTES)"
            ],
            "{conn}"
        );
    }
    app.stop().await;
    target.drop_all().await;
}

/// Attack: five rows of 20 MB values made a 200 MB answer and doubled the gateway's memory.
/// Holds: with the default limit the whole answer stays under 5 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_huge_values_make_a_bounded_answer() {
    let app = spawn_app(Backend::Sqlite).await;
    let target = PgTarget::new().await;
    make_connection(&app, "pg", "postgres", &target.url, &[]).await;
    let response = exec_response(
        &app,
        &app.admin_token,
        "pg",
        "SELECT repeat('x', 20000000) AS blob FROM generate_series(1, 5)",
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.bytes().await.unwrap();
    assert!(body.len() < 5 << 20, "an answer of {} bytes", body.len());
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["output_status"], "success", "{answer}");
    assert!(
        output(&answer).contains("(output cut at 4194304 bytes: HOOP_EXEC_MAX_BYTES)"),
        "{answer}"
    );
    app.stop().await;
    target.drop_all().await;
}

// ---------------------------------------------------------------------------------------------
// 7. Concurrency bounds

const SLOW: &str = "SELECT pg_sleep(3) AS slept";

/// Waits (bounded) until `n` execs of SLOW are running in `database`.
async fn wait_for_sleepers(database: &str, n: i64) {
    let admin = pg_admin().await;
    let ok = eventually(Duration::from_secs(10), || async {
        running(&admin, database, "pg_sleep(3)").await == n
    })
    .await;
    admin.close().await;
    assert!(ok, "{n} slow execs never ran at once");
}

fn assert_too_many(response: &reqwest::Response) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry = response
        .headers()
        .get("retry-after")
        .expect("a Retry-After header")
        .to_str()
        .unwrap();
    assert!(retry.parse::<u64>().is_ok(), "Retry-After: {retry}");
}

/// Attack: one key opens execs until it holds every thread and database connection of the
/// gateway. Holds: past HOOP_EXEC_MAX_PER_CALLER that key gets 429 with Retry-After, and
/// another key is still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execs_in_flight_are_bounded_per_caller() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.exec.max_per_caller = 2).await;
    let target = PgTarget::new().await;
    app.create_group("eng").await;
    make_connection(&app, "db", "postgres", &target.url, &["eng"]).await;
    let (_, a) = app.create_key("bot-a", &["eng"]).await;
    let (_, b) = app.create_key("bot-b", &["eng"]).await;
    let first = spawn_exec(&app, &a, "db", SLOW);
    let second = spawn_exec(&app, &a, "db", SLOW);
    wait_for_sleepers(&target.database, 2).await;
    let third = exec_response(&app, &a, "db", SLOW).await;
    assert_too_many(&third);
    let third: Value = third.json().await.unwrap();
    assert!(!message(&third).is_empty(), "{third}");
    let (status, other) = exec(&app, &b, "db", "SELECT 1 AS one").await;
    assert_eq!(status, StatusCode::OK, "{other}");
    assert_eq!(other["output"], "one\n1\n", "{other}");
    for slow in [first, second] {
        let (status, answer) = slow.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["output_status"], "success", "{answer}");
    }
    app.stop().await;
    target.drop_all().await;
}

/// Attack: many keys together take every thread and database connection of the gateway.
/// Holds: past HOOP_EXEC_MAX_CONCURRENT anyone gets 429 with Retry-After, and is served again
/// once the running execs are done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execs_in_flight_are_bounded_per_gateway() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.exec.max_concurrent = 2).await;
    let target = PgTarget::new().await;
    app.create_group("eng").await;
    make_connection(&app, "db", "postgres", &target.url, &["eng"]).await;
    let (_, a) = app.create_key("bot-a", &["eng"]).await;
    let (_, b) = app.create_key("bot-b", &["eng"]).await;
    let (_, c) = app.create_key("bot-c", &["eng"]).await;
    let first = spawn_exec(&app, &a, "db", SLOW);
    let second = spawn_exec(&app, &b, "db", SLOW);
    wait_for_sleepers(&target.database, 2).await;
    let third = exec_response(&app, &c, "db", "SELECT 1 AS one").await;
    assert_too_many(&third);
    for slow in [first, second] {
        let (status, answer) = slow.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (status, later) = exec(&app, &c, "db", "SELECT 1 AS one").await;
    assert_eq!(status, StatusCode::OK, "{later}");
    assert_eq!(later["output"], "one\n1\n", "{later}");
    app.stop().await;
    target.drop_all().await;
}

// ---------------------------------------------------------------------------------------------
// 8. Pooling without leaks

/// Runs `probe` as B, then `attack` as A, then `probe` as B again: B must see the same answer
/// (A's state did not reach B's exec on the shared connection).
async fn assert_no_leak(app: &TestApp, a: &str, b: &str, attack: &str, probe: &str) {
    let (_, before) = exec(app, b, "db", probe).await;
    let (status, attacked) = exec(app, a, "db", attack).await;
    assert_eq!(status, StatusCode::OK, "{attack}: {attacked}");
    let (_, after) = exec(app, b, "db", probe).await;
    assert_eq!(
        (&after["output_status"], &after["output"]),
        (&before["output_status"], &before["output"]),
        "`{attack}` by one key changed what another key's `{probe}` sees"
    );
}

/// Attack: with pooled database connections, one key's session state (role, search_path, temp
/// tables, LISTEN, timeouts, an open transaction) would reach the next key's exec. Holds: the
/// connection is reused (same backend), and none of that state carries over; later writes are
/// committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pooled_connection_is_reused_and_carries_nothing_between_keys() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.exec.pool_size = 1).await;
    let target = PgTarget::new().await;
    let other_role = create_role("other", "").await;
    postgres_admin_sql(
        "postgres",
        &format!("GRANT {other_role} TO {}", target.role),
    )
    .await;
    app.create_group("eng").await;
    make_connection(&app, "db", "postgres", &target.url, &["eng"]).await;
    let (_, a) = app.create_key("bot-a", &["eng"]).await;
    let (_, b) = app.create_key("bot-b", &["eng"]).await;

    let pid = "SELECT pg_backend_pid() AS pid";
    let (_, first) = exec(&app, &a, "db", pid).await;
    let (_, second) = exec(&app, &b, "db", pid).await;
    assert_eq!(first["output_status"], "success", "{first}");
    assert_eq!(
        first["output"], second["output"],
        "two execs in a row on a pool of one use the same backend"
    );

    for (attack, probe) in [
        (format!("SET ROLE {other_role}"), "SELECT current_user AS u"),
        (
            "SET search_path TO pg_catalog".to_owned(),
            "SHOW search_path",
        ),
        (
            "CREATE TEMP TABLE leak (x int)".to_owned(),
            "SELECT count(*) AS n FROM pg_class WHERE relname = 'leak'",
        ),
        (
            "LISTEN chan".to_owned(),
            "SELECT count(*) AS n FROM pg_listening_channels()",
        ),
        (
            "SET statement_timeout = '4321ms'".to_owned(),
            "SHOW statement_timeout",
        ),
        (
            "SET statement_timeout = 0".to_owned(),
            "SHOW statement_timeout",
        ),
        (
            "BEGIN; INSERT INTO accounts VALUES (3, 'mallory', 0, '2024-05-06')".to_owned(),
            "SELECT count(*) AS n FROM accounts",
        ),
    ] {
        assert_no_leak(&app, &a, &b, &attack, probe).await;
    }
    // Later writes go through, and the unfinished insert never does.
    let (_, write) = exec(
        &app,
        &b,
        "db",
        "INSERT INTO accounts VALUES (4, 'bob', 1, '2024-05-07')",
    )
    .await;
    assert_eq!(write["output"], "(1 rows affected)\n", "{write}");
    let pool = sqlx::PgPool::connect(&target.url).await.unwrap();
    let ids: Vec<i32> = sqlx::query_scalar("SELECT id FROM accounts ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(ids, [1, 2, 4]);
    app.stop().await;
    target.drop_all().await;
    drop_role(&other_role).await;
}

/// Attack: on a pooled SQLite handle, one key's temp table or temp trigger (which fires on the
/// next key's writes) or unfinished transaction would reach the next key's exec. Holds: none of
/// it carries over, and later writes are committed to the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_pooled_handle_carries_nothing_between_keys() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.exec.pool_size = 1).await;
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_target(dir.path(), "t").await;
    app.create_group("eng").await;
    make_connection(&app, "db", "sqlite", &path, &["eng"]).await;
    let (_, a) = app.create_key("bot-a", &["eng"]).await;
    let (_, b) = app.create_key("bot-b", &["eng"]).await;
    for (attack, probe) in [
        ("CREATE TEMP TABLE leak (x)", "SELECT * FROM leak"),
        (
            "CREATE TEMP TRIGGER stamp AFTER INSERT ON items BEGIN
               UPDATE items SET label = 'pwned' WHERE id = new.id; END",
            "SELECT count(*) AS n FROM items WHERE label = 'pwned'",
        ),
        (
            "BEGIN; INSERT INTO items VALUES (9, 'uncommitted', 0, NULL)",
            "SELECT count(*) AS n FROM items",
        ),
    ] {
        assert_no_leak(&app, &a, &b, attack, probe).await;
    }
    let (_, write) = exec(
        &app,
        &b,
        "db",
        "INSERT INTO items VALUES (4, 'four', 4.0, NULL)",
    )
    .await;
    assert_eq!(write["output"], "(1 rows affected)\n", "{write}");
    use sqlx::{sqlite::SqliteConnectOptions, ConnectOptions, Connection};
    let mut db = SqliteConnectOptions::new()
        .filename(&path)
        .read_only(true)
        .connect()
        .await
        .unwrap();
    let rows: Vec<(i64, String)> = sqlx::query_as("SELECT id, label FROM items ORDER BY id")
        .fetch_all(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(ids, [1, 2, 3, 4], "{rows:?}");
    assert_eq!(rows[3].1, "four", "no temp trigger fired: {rows:?}");
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 9. Pool lifetime

/// Attack: a pool that outlives its connection's target keeps sessions open on a database the
/// admin moved the connection away from (or deleted it), and execs could still land there.
/// Holds: the pool holds a backend after an exec; after an update the old target's backends go
/// and the next exec reaches the new target; after a delete the backends go too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pools_are_dropped_on_update_and_delete() {
    let app = spawn_app(Backend::Sqlite).await;
    let (old, new) = (PgTarget::new().await, PgTarget::new().await);
    make_connection(&app, "db", "postgres", &old.url, &[]).await;
    let here = "SELECT current_database() AS db";
    let (_, answer) = exec(&app, &app.admin_token, "db", here).await;
    assert_eq!(answer["output"], format!("db\n{}\n", old.database));
    let admin = pg_admin().await;
    assert!(
        backends(&admin, &old.database, &old.role).await >= 1,
        "the exec's connection stays in the pool"
    );

    let (status, updated) = app
        .put(
            "/api/connections/db",
            &app.admin_token,
            json!({"target": new.url}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let (_, answer) = exec(&app, &app.admin_token, "db", here).await;
    assert_eq!(answer["output"], format!("db\n{}\n", new.database));
    assert_backends_close(
        &admin,
        &old,
        Duration::from_secs(5),
        "the old target's pool was not dropped",
    )
    .await;
    assert!(backends(&admin, &new.database, &new.role).await >= 1);

    let (status, _) = app
        .call(
            Method::DELETE,
            "/api/connections/db",
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_backends_close(
        &admin,
        &new,
        Duration::from_secs(5),
        "a deleted connection's pool was not dropped",
    )
    .await;
    admin.close().await;
    app.stop().await;
    old.drop_all().await;
    new.drop_all().await;
}

/// Attack: idle pooled connections kept forever hold database sessions (and their server
/// resources) for connections nobody uses. Holds: with HOOP_EXEC_POOL_IDLE_SECS=1 the target's
/// backends from the gateway are gone within a few seconds of the last exec.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_idle_pooled_connections_close() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.exec.pool_idle_secs = 1).await;
    let target = PgTarget::new().await;
    make_connection(&app, "db", "postgres", &target.url, &[]).await;
    let (_, answer) = exec(&app, &app.admin_token, "db", "SELECT 1 AS one").await;
    assert_eq!(answer["output"], "one\n1\n", "{answer}");
    let admin = pg_admin().await;
    assert!(
        backends(&admin, &target.database, &target.role).await >= 1,
        "the exec's connection stays in the pool"
    );
    assert_backends_close(
        &admin,
        &target,
        Duration::from_secs(4),
        "idle pooled connections were not closed",
    )
    .await;
    admin.close().await;
    app.stop().await;
    target.drop_all().await;
}

/// Attack: many execs at once on one target open as many database sessions as there are
/// execs. Holds: no more than HOOP_EXEC_POOL_SIZE backends at any time, and every exec runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pool_is_bounded_by_pool_size() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.exec.pool_size = 2).await;
    let target = PgTarget::new().await;
    make_connection(&app, "db", "postgres", &target.url, &[]).await;
    let execs: Vec<_> = (0..4)
        .map(|_| spawn_exec(&app, &app.admin_token, "db", "SELECT pg_sleep(1) AS slept"))
        .collect();
    let admin = pg_admin().await;
    let mut most = 0;
    while !execs.iter().all(|e| e.is_finished()) {
        most = most.max(backends(&admin, &target.database, &target.role).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    admin.close().await;
    for e in execs {
        let (status, answer) = e.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["output_status"], "success", "{answer}");
    }
    assert!((1..=2).contains(&most), "{most} backends at once");
    app.stop().await;
    target.drop_all().await;
}
