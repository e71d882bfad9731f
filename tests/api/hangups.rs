//! Clients that hang up mid-request. hyper drops a handler's future when its connection closes;
//! whatever the request changed must still be changed as a whole (row, audit, the key cache),
//! and no connection may be left inside a transaction for the next request to inherit.

use crate::both_backends;
use crate::helpers::*;
use rand::Rng;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::{io::AsyncWriteExt, net::TcpStream};

both_backends!(
    a_regroup_holds_however_the_client_hangs_up,
    a_logout_holds_however_the_client_hangs_up,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivation_holds_however_the_client_hangs_up() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        // Every round ends with a deactivated key refused: failures, not to be throttled.
        let app = spawn_app_with(backend, |c| c.auth_failures_per_minute = 10_000).await;
        deactivations(&app).await;
        app.stop().await;
    }
}

/// Sends one request on a raw socket and resets the connection `after` it, without reading the
/// answer: the way a client that gives up (or is killed) leaves.
async fn send_and_hang_up(
    app: &TestApp,
    head: &str,
    headers: &[(&str, &str)],
    body: &str,
    after: Duration,
) {
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let mut request = format!("{head} HTTP/1.1\r\nhost: {}\r\n", app.addr);
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(after).await;
    // RST rather than FIN, so the server learns at once that nobody is listening. (Deprecated
    // because a lingering close blocks; a zero linger does not linger at all.)
    #[allow(deprecated)]
    stream.set_linger(Some(Duration::ZERO)).unwrap();
    drop(stream);
}

fn random_moment() -> Duration {
    Duration::from_micros(rand::thread_rng().gen_range(500..8_000))
}

/// Polls the key until `done` holds of it. A request whose connection was reset before the
/// gateway read it never happened at all, which is fine: so after a while, give up and say so.
async fn key_changed(app: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let (status, key) = app
            .get(&format!("/api/api-keys/{id}"), &app.admin_token)
            .await;
        assert_eq!(status, StatusCode::OK, "{key}");
        if done(&key) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Most requests are read before their connection resets; if none were, the test tried nothing.
fn enough_happened(happened: usize, rounds: usize) {
    assert!(
        happened * 3 >= rounds,
        "only {happened} of {rounds} hung-up requests were carried out"
    );
}

/// After the hang-ups, writes still go through (no connection was left in a transaction
/// holding the write lock), and at once: within the client's patience, not a busy timeout.
async fn writes_still_go_through(app: &TestApp) {
    for i in 0..5 {
        let started = Instant::now();
        let (status, body) = app
            .post(
                "/api/api-keys",
                &app.admin_token,
                json!({"name": format!("after-hang-ups-{i}"), "groups": ["admin"]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a write waited {:?}: a lock was left behind",
            started.elapsed()
        );
    }
}

async fn deactivations(app: &TestApp) {
    let bearer = format!("Bearer {}", app.admin_token);
    let (rounds, mut happened) = (60, 0);
    for i in 0..rounds {
        let (key, raw) = app.create_key(&format!("hung-up-{i}"), &["admin"]).await;
        let id = key.id.to_string();
        // In the cache: the deactivation must also reach it.
        assert_eq!(app.status_with("/api/userinfo", &raw).await, StatusCode::OK);
        let head = format!("POST /api/api-keys/{id}/deactivate");
        let auth = [("authorization", bearer.as_str())];
        send_and_hang_up(app, &head, &auth, "", random_moment()).await;
        if !key_changed(app, &id, |k| k["status"] == "deactivated").await {
            // Never carried out: then nothing of it may show.
            assert_eq!(app.status_with("/api/userinfo", &raw).await, StatusCode::OK);
            continue;
        }
        happened += 1;
        assert_eq!(
            app.status_with("/api/userinfo", &raw).await,
            StatusCode::UNAUTHORIZED,
            "round {i}: the row says deactivated but the key still works"
        );
        let (status, events) = app.get("/api/audit", &app.admin_token).await;
        assert_eq!(status, StatusCode::OK);
        let audited = events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["target"]["id"] == id.as_str() && e["action"] == "api_key.deactivated");
        assert!(audited, "round {i}: deactivated without its audit event");
    }
    enough_happened(happened, rounds);
    writes_still_go_through(app).await;
}

async fn a_regroup_holds_however_the_client_hangs_up(app: &TestApp) {
    app.create_group("ops").await;
    let bearer = format!("Bearer {}", app.admin_token);
    let (rounds, mut happened) = (40, 0);
    for i in 0..rounds {
        let (key, raw) = app.create_key(&format!("regrouped-{i}"), &["admin"]).await;
        let id = key.id.to_string();
        assert_eq!(app.status_with("/api/api-keys", &raw).await, StatusCode::OK);
        let headers = [
            ("authorization", bearer.as_str()),
            ("content-type", "application/json"),
        ];
        let head = format!("PUT /api/api-keys/{id}");
        let body = r#"{"groups":["ops"]}"#;
        send_and_hang_up(app, &head, &headers, body, random_moment()).await;
        if !key_changed(app, &id, |k| k["groups"] == json!(["ops"])).await {
            assert_eq!(app.status_with("/api/api-keys", &raw).await, StatusCode::OK);
            continue;
        }
        happened += 1;
        assert_eq!(
            app.status_with("/api/api-keys", &raw).await,
            StatusCode::FORBIDDEN,
            "round {i}: the row says ops but the key kept admin"
        );
    }
    enough_happened(happened, rounds);
    writes_still_go_through(app).await;
}

async fn a_logout_holds_however_the_client_hangs_up(app: &TestApp) {
    let (rounds, mut happened) = (15, 0);
    for _ in 0..rounds {
        let cookie = app.browser_login().await;
        send_and_hang_up(
            app,
            "POST /ui/fn/logout",
            &[
                ("cookie", &cookie),
                ("origin", &format!("http://{}", app.addr)),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            "",
            random_moment(),
        )
        .await;
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            let page = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap()
                .get(app.url("/settings/api-keys"))
                .header(header::COOKIE, &cookie)
                .send()
                .await
                .unwrap();
            if page.status() == StatusCode::SEE_OTHER {
                happened += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    enough_happened(happened, rounds);
    writes_still_go_through(app).await;
}

/// Below the HTTP layer: any future that is dropped mid-transaction (a timeout, a shutdown, a
/// caller that is not a request) must not leave its connection inside the transaction for the
/// next borrower. sqlx 0.8 loses track of a `BEGIN` in flight when its future is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_store_call_leaves_no_transaction_behind() {
    use hoop::{
        domain::GroupName,
        store::{self, identity::Org, Store},
    };
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let dir = tempfile::tempdir().unwrap();
        let (url, _) = fresh_database(backend, dir.path()).await;
        let store = Store::connect(&url).await.unwrap();
        let org = Org {
            id: uuid::Uuid::new_v4(),
            name: "acme".into(),
        };
        store::identity::ensure_org(&store, &org).await.unwrap();
        for i in 0..500 {
            let name = GroupName::parse(&format!("dropped-{i}")).unwrap();
            let cut = Duration::from_micros(rand::thread_rng().gen_range(0..1_500));
            let call = store::identity::create_group(&store, org.id, &name, "test");
            let _ = tokio::time::timeout(cut, call).await;
        }
        // Every connection the pool hands out now is idle: writes neither fail nor wait on a
        // lock an abandoned transaction holds.
        for i in 0..20 {
            let name = GroupName::parse(&format!("after-{i}")).unwrap();
            let call = store::identity::create_group(&store, org.id, &name, "test");
            let created = tokio::time::timeout(Duration::from_secs(5), call).await;
            let created = created.unwrap_or_else(|_| panic!("{backend:?}: write {i} hung"));
            created.unwrap_or_else(|e| panic!("{backend:?}: write {i} failed: {e}"));
        }
        // ...and they last: a write that ran inside an abandoned transaction is rolled back
        // when that connection closes.
        store.close().await;
        let store = Store::connect(&url).await.unwrap();
        let groups = store::identity::list_groups(&store, org.id).await.unwrap();
        let kept = groups
            .iter()
            .filter(|g| g.name.starts_with("after-"))
            .count();
        assert_eq!(kept, 20, "{backend:?}: writes were lost");
        store.close().await;
        drop_database(backend, &url).await;
    }
}

/// Whatever abandons a transaction on PostgreSQL (sqlx's own session store opens some too), the
/// server ends it after a few seconds idle, so no row lock it holds outlives it for long.
#[tokio::test]
async fn postgres_ends_a_gateway_transaction_left_idle() {
    use hoop::store::{Store, IDLE_IN_TRANSACTION_LIMIT};
    let dir = tempfile::tempdir().unwrap();
    let (url, _) = fresh_database(Backend::Postgres, dir.path()).await;
    let store = Store::connect(&url).await.unwrap();
    let Store::Postgres(pool) = &store else {
        unreachable!("a postgres URL")
    };
    let limit: String = sqlx::query_scalar("SHOW idle_in_transaction_session_timeout")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(limit, IDLE_IN_TRANSACTION_LIMIT);
    store.close().await;
    drop_database(Backend::Postgres, &url).await;
}
