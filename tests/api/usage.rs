//! `last_used_at` is kept when the key cache stops being trusted (PostgreSQL: the change feed
//! between replicas broke): uses recorded in memory before, and uses verified meanwhile.

use crate::helpers::*;
use chrono::{DateTime, TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use std::time::{Duration, Instant};

/// Uses are stamped by a clock that ticks every 10 ms (later under load): a use counts as
/// recorded when the stored time is at most this much before the request.
const CLOCK_SLACK: TimeDelta = TimeDelta::milliseconds(200);
/// Between two uses, so that the earlier one can never pass for the later one.
const APART: Duration = Duration::from_millis(600);
/// Uses are written once a second; generous for a loaded machine.
const RECORDED_WITHIN: Duration = Duration::from_secs(15);

async fn key_cache(app: &TestApp) -> String {
    let (_, health) = app.call(Method::GET, "/api/healthz", None, None).await;
    health["key_cache"].as_str().unwrap_or_default().to_owned()
}

async fn until_key_cache(app: &TestApp, want: &str) {
    let start = Instant::now();
    while key_cache(app).await != want {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "key cache never became {want}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Ends the gateway's LISTEN connection, as a network cut or a database restart would.
async fn cut_the_feed(db: &sqlx::PgPool) {
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_all(db)
    .await
    .unwrap();
    assert_eq!(killed, [true], "exactly one listener to cut");
}

async fn last_used(app: &TestApp, id: &str) -> Option<DateTime<Utc>> {
    let (status, key) = app
        .get(&format!("/api/api-keys/{id}"), &app.admin_token)
        .await;
    assert_eq!(status, StatusCode::OK, "{key}");
    serde_json::from_value(key["last_used_at"].clone()).unwrap()
}

/// Waits until the key's `last_used_at` is the use made at `at`.
async fn until_recorded(app: &TestApp, id: &str, at: DateTime<Utc>, what: &str) {
    let start = Instant::now();
    loop {
        let stored = last_used(app, id).await;
        if stored.is_some_and(|stored| stored >= at - CLOCK_SLACK) {
            return;
        }
        assert!(
            start.elapsed() < RECORDED_WITHIN,
            "{what}: last_used_at is {stored:?}, the use was at {at}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uses_are_recorded_across_a_broken_change_feed() {
    let app = spawn_app(Backend::Postgres).await;
    let db = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let (key, raw) = app.create_key("in-use", &["admin"]).await;
    let id = key.id.to_string();

    // A use held in memory when the cache is dropped: cut at once, it is (almost always)
    // not written yet, since the flusher writes once a second. Three rounds, so that the
    // flusher cannot get lucky every time.
    for round in 0..3 {
        until_key_cache(&app, "memory").await;
        assert_eq!(app.status_with("/api/userinfo", &raw).await, StatusCode::OK); // now cached
        tokio::time::sleep(APART).await;
        let at = Utc::now();
        assert_eq!(app.status_with("/api/userinfo", &raw).await, StatusCode::OK);
        cut_the_feed(&db).await;
        until_recorded(
            &app,
            &id,
            at,
            &format!("round {round}: a use cached at the cut"),
        )
        .await;
    }

    // A use verified while the cache is not trusted (read from the database, not cached).
    let mut rounds = 0;
    loop {
        until_key_cache(&app, "memory").await;
        tokio::time::sleep(APART).await;
        cut_the_feed(&db).await;
        until_key_cache(&app, "database").await;
        let at = Utc::now();
        assert_eq!(app.status_with("/api/userinfo", &raw).await, StatusCode::OK);
        if key_cache(&app).await == "database" {
            until_recorded(&app, &id, at, "a use verified while distrusted").await;
            break;
        }
        // The feed came back before the use was verified: that use proves nothing.
        rounds += 1;
        assert!(rounds < 10, "the feed never stayed down long enough");
    }

    db.close().await;
    app.stop().await;
}
