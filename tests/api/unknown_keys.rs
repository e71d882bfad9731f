//! Keys that are not active (never issued, or deactivated) are refused from memory: they
//! never cost a database read, and both take the same path to the same 401.

use crate::{helpers::*, replicas::wait_for_memory_cache};
use hoop::keys::RawApiKey;
use reqwest::{Method, StatusCode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_deactivated_keys_never_read_the_database_sqlite() {
    unknown_and_deactivated_keys_never_read_the_database(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_deactivated_keys_never_read_the_database_postgres() {
    unknown_and_deactivated_keys_never_read_the_database(Backend::Postgres).await;
}

async fn unknown_and_deactivated_keys_never_read_the_database(backend: Backend) {
    // Every request below fails authentication on purpose: the per-address limit would
    // answer 429 before the key is even looked at.
    let app = spawn_app_with(backend, |c| c.auth_failures_per_minute = u32::MAX).await;
    wait_for_memory_cache(&app).await;
    let (_, known) = app.create_key("known", &["admin"]).await;
    let (_, used_then_gone) = app.create_key("used-then-gone", &["admin"]).await;
    let (_, never_used_gone) = app.create_key("never-used-gone", &["admin"]).await;
    for raw in [&known, &used_then_gone] {
        assert_eq!(app.status_with("/api/userinfo", raw).await, StatusCode::OK);
    }
    for name in ["used-then-gone", "never-used-gone"] {
        let path = format!("/api/api-keys/{name}/deactivate");
        let (status, body) = app
            .call(Method::POST, &path, Some(&app.admin_token), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // From here on, any read of the keys table fails (500): a request answered 401 did not
    // read it.
    hide_the_keys_table(&app).await;
    for i in 0..200 {
        let unknown = RawApiKey::generate();
        let (status, body) = app.get("/api/userinfo", unknown.expose()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "unknown key {i}: {body}");
    }
    for _ in 0..20 {
        for raw in [&used_then_gone, &never_used_gone] {
            let (status, body) = app.get("/api/userinfo", raw).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "deactivated key: {body}");
        }
    }
    // The active key is served from memory as before.
    assert_eq!(
        app.status_with("/api/userinfo", &known).await,
        StatusCode::OK
    );
    app.stop().await;
}

/// Renames `api_keys` through a connection of the test's own.
async fn hide_the_keys_table(app: &TestApp) {
    const RENAME: &str = "ALTER TABLE api_keys RENAME TO api_keys_hidden";
    match app.backend {
        Backend::Sqlite => {
            use sqlx::{sqlite::SqliteConnectOptions, ConnectOptions, Connection};
            use std::str::FromStr;
            let mut db = SqliteConnectOptions::from_str(&app.database_url)
                .unwrap()
                .busy_timeout(std::time::Duration::from_secs(10))
                .connect()
                .await
                .unwrap();
            sqlx::query(RENAME).execute(&mut db).await.unwrap();
            db.close().await.unwrap();
        }
        Backend::Postgres => {
            let db = sqlx::PgPool::connect(&app.database_url).await.unwrap();
            sqlx::query(RENAME).execute(&db).await.unwrap();
            db.close().await;
        }
    }
}
