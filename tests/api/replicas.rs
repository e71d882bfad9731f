//! Several gateways on one PostgreSQL database behave as one.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use std::time::{Duration, Instant};

/// Polls until `path` answers `want` for `key`, or fails after `limit`. Returns how long it took.
async fn until(app: &TestApp, key: &str, want: StatusCode, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if app.status_with("/api/userinfo", key).await == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{} did not answer {want} within {limit:?}",
            app.addr
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until `app` verifies keys from memory (its set of active keys is loaded and, on
/// PostgreSQL, its change feed is up).
pub async fn wait_for_memory_cache(app: &TestApp) {
    let start = Instant::now();
    loop {
        let (_, health) = app.call(Method::GET, "/api/healthz", None, None).await;
        if health["key_cache"] == "memory" {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "key cache never went live: {health}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// Generous: a loaded CI machine is not a benchmark (BENCHMARKS.md measures the real time).
const PROPAGATION_LIMIT: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_on_one_replica_reach_the_other() {
    let a = spawn_app(Backend::Postgres).await;
    let b = a.spawn_replica().await;

    // Created on A, used on B.
    let (_, raw) = a.create_key("shared", &["admin"]).await;
    assert_eq!(b.status_with("/api/userinfo", &raw).await, StatusCode::OK);
    assert_eq!(a.status_with("/api/userinfo", &raw).await, StatusCode::OK);

    // Deactivated on B: refused on A.
    let (status, _) = b
        .call(
            Method::POST,
            "/api/api-keys/shared/deactivate",
            Some(&b.admin_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        b.status_with("/api/userinfo", &raw).await,
        StatusCode::UNAUTHORIZED
    );
    until(&a, &raw, StatusCode::UNAUTHORIZED, PROPAGATION_LIMIT).await;

    // Activated on A: accepted on B again.
    a.call(
        Method::POST,
        "/api/api-keys/shared/activate",
        Some(&a.admin_token),
        None,
    )
    .await;
    until(&b, &raw, StatusCode::OK, PROPAGATION_LIMIT).await;

    // Regrouped on A: B sees the new groups.
    a.create_group("ops").await;
    a.put(
        "/api/api-keys/shared",
        &a.admin_token,
        serde_json::json!({"groups": ["ops"]}),
    )
    .await;
    let start = Instant::now();
    loop {
        let (_, me) = b.get("/api/userinfo", &raw).await;
        if me["groups"] == serde_json::json!(["ops"]) {
            break;
        }
        assert!(
            start.elapsed() < PROPAGATION_LIMIT,
            "regroup did not reach B: {me}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    b.stop().await;
    a.stop().await;
}

/// Replicas refuse keys that are not active from memory, and learn of new keys through the
/// change feed a moment after they are created. A key must still work on every replica as soon
/// as its create has answered, and deactivations and reactivations must follow it there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_keys_work_on_every_replica_at_once_and_their_state_follows() {
    let a = spawn_app(Backend::Postgres).await;
    let b = a.spawn_replica().await;
    wait_for_memory_cache(&a).await;
    wait_for_memory_cache(&b).await;
    for i in 0..20 {
        let (creator, other) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let (_, raw) = creator.create_key(&format!("fresh-{i}"), &["admin"]).await;
        assert_eq!(
            other.status_with("/api/userinfo", &raw).await,
            StatusCode::OK,
            "key {i} at once on the other replica"
        );
        assert_eq!(
            creator.status_with("/api/userinfo", &raw).await,
            StatusCode::OK
        );
    }

    // Used on A only, deactivated on A: B, which never looked it up, refuses it too.
    let (_, raw) = a.create_key("quiet", &["admin"]).await;
    assert_eq!(a.status_with("/api/userinfo", &raw).await, StatusCode::OK);
    let (status, _) = a
        .call(
            Method::POST,
            "/api/api-keys/quiet/deactivate",
            Some(&a.admin_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        a.status_with("/api/userinfo", &raw).await,
        StatusCode::UNAUTHORIZED
    );
    until(&b, &raw, StatusCode::UNAUTHORIZED, PROPAGATION_LIMIT).await;

    // Reactivated on A: accepted at once on A, and on B once the change has arrived.
    let (status, _) = a
        .call(
            Method::POST,
            "/api/api-keys/quiet/activate",
            Some(&a.admin_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(a.status_with("/api/userinfo", &raw).await, StatusCode::OK);
    until(&b, &raw, StatusCode::OK, PROPAGATION_LIMIT).await;
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_lost_its_listener_does_not_serve_stale_grants() {
    let a = spawn_app(Backend::Postgres).await;
    wait_for_memory_cache(&a).await;
    let (key, raw) = a.create_key("cached", &["admin"]).await;
    assert_eq!(a.status_with("/api/userinfo", &raw).await, StatusCode::OK);

    // A change that announces nothing (as if its notification were lost) is not seen: the
    // key is served from memory. This is what makes the rest of the test meaningful.
    let db = sqlx::PgPool::connect(&a.database_url).await.unwrap();
    sqlx::query("UPDATE api_keys SET status = 'deactivated' WHERE id = $1")
        .bind(key.id)
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(a.status_with("/api/userinfo", &raw).await, StatusCode::OK);

    // Cut the listener's connection: whatever it may have missed, A must stop trusting what
    // it cached, and so refuse the key from the database's answer.
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(killed, [true], "exactly one listener to cut");
    until(&a, &raw, StatusCode::UNAUTHORIZED, Duration::from_secs(10)).await;
    db.close().await;
    a.stop().await;
}

/// A browser session started on one replica is good on the other, and ends on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_session_works_on_every_replica() {
    let a = spawn_app(Backend::Postgres).await;
    let b = a.spawn_replica().await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let cookie = a.browser_login().await;
    let page = |app: &TestApp| {
        browser
            .get(app.url("/settings/api-keys"))
            .header("cookie", &cookie)
            .send()
    };
    assert_eq!(page(&b).await.unwrap().status(), StatusCode::OK);
    assert_eq!(page(&a).await.unwrap().status(), StatusCode::OK);
    let logout = browser
        .post(b.url("/ui/fn/logout"))
        .header("accept", "text/html")
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(logout.status().is_redirection());
    assert_eq!(page(&a).await.unwrap().status(), StatusCode::SEE_OTHER);
    b.stop().await;
    a.stop().await;
}

/// Uses recorded on several replicas: the latest wins whichever writes last, and a replica
/// that shuts down writes what it has not written yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_used_at_never_moves_backwards_and_is_flushed_at_shutdown() {
    let a = spawn_app(Backend::Postgres).await;
    let b = a.spawn_replica().await;
    let (key, raw) = a.create_key("busy", &["admin"]).await;
    let id = key.id;
    let db = sqlx::PgPool::connect(&a.database_url).await.unwrap();
    let last_used = || async {
        sqlx::query_scalar::<_, Option<chrono::DateTime<chrono::Utc>>>(
            "SELECT last_used_at FROM api_keys WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&db)
        .await
        .unwrap()
    };

    // A time in the future stands for a newer use written by another replica.
    let future = chrono::Utc::now() + chrono::TimeDelta::hours(1);
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
        .bind(future)
        .bind(id)
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(a.status_with("/api/userinfo", &raw).await, StatusCode::OK);
    assert_eq!(b.status_with("/api/userinfo", &raw).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2500)).await; // both have flushed
    let stored = last_used().await.unwrap();
    assert!(
        (stored - future).num_milliseconds().abs() < 2,
        "moved back to {stored}"
    );

    sqlx::query("UPDATE api_keys SET last_used_at = NULL WHERE id = $1")
        .bind(id)
        .execute(&db)
        .await
        .unwrap();
    // Uses are stamped by a clock that ticks every 10 ms: allow for a few ticks.
    let before = chrono::Utc::now() - chrono::TimeDelta::milliseconds(100);
    assert_eq!(b.status_with("/api/userinfo", &raw).await, StatusCode::OK);
    b.stop().await; // at once: well within the flush interval
    let stored = last_used().await.expect("flushed by the shutdown");
    assert!(stored >= before, "{stored} < {before}");
    db.close().await;
    a.stop().await;
}
