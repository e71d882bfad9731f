//! Lifecycle webhooks, received by a real HTTP server on loopback: every API-key event arrives
//! signed (checked here with an HMAC of our own), failed deliveries are retried until the
//! receiver answers 2xx, events survive a restart, and replicas do not send one event twice.

use crate::helpers::*;
use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode as AxumStatus},
    routing::post,
    Router,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use hoop::{config::ServeConfig, secret::SecretString, store::Store, wire::keys::KeyChanges};
use serde_json::Value;
use sha2::Sha256;
use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

const SECRET: &str = "whsec-test-secret: any bytes at all";
/// Long enough for a few retries with backoff (0.5–1 s, 1–2 s, 2–4 s) on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(60);

/// One request the receiver got, and what it answered.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
    answered: u16,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("ASCII"))
    }

    fn delivered(&self) -> bool {
        (200..300).contains(&self.answered)
    }
}

#[derive(Clone, Default)]
struct Log {
    received: Arc<Mutex<Vec<Received>>>,
    /// Requests still to answer 500 before answering 204.
    failures_left: Arc<AtomicUsize>,
}

/// An HTTP server on 127.0.0.1:0 that records every request.
struct Receiver {
    addr: SocketAddr,
    log: Log,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Receiver {
        async fn receive(State(log): State<Log>, headers: HeaderMap, body: Bytes) -> AxumStatus {
            let fail = log
                .failures_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            let status = match fail {
                true => AxumStatus::INTERNAL_SERVER_ERROR,
                false => AxumStatus::NO_CONTENT,
            };
            log.received.lock().unwrap().push(Received {
                headers,
                body,
                answered: status.as_u16(),
            });
            status
        }
        let log = Log::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new()
            .route("/hook", post(receive))
            .with_state(log.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Receiver { addr, log, server }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The next `n` requests are answered 500.
    fn fail_next(&self, n: usize) {
        self.log.failures_left.store(n, Ordering::SeqCst);
    }

    fn received(&self) -> Vec<Received> {
        self.log.received.lock().unwrap().clone()
    }

    /// What arrived about the key `key_id`, in the order it arrived.
    fn about(&self, key_id: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.json()["api_key"]["id"] == key_id)
            .collect()
    }

    /// Waits until `done` holds of what arrived; fails the test at the deadline.
    async fn wait_until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let start = tokio::time::Instant::now();
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "waited {DEADLINE:?} for {what}; received: {:#?}",
                received.iter().map(Received::json).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Webhooks to `url`, signed with `secret`.
fn webhooks(url: String, secret: Option<&str>) -> impl FnOnce(&mut ServeConfig) {
    let secret = secret.map(|s| SecretString::new(s.to_owned()));
    move |config| {
        config.webhooks.url = Some(SecretString::new(url));
        config.webhooks.secret = secret;
    }
}

/// The Standard Webhooks check a receiver makes, written here independently of the gateway.
fn verify(received: &Received, secret: &str) {
    let id = received.header("webhook-id").expect("webhook-id");
    let timestamp = received
        .header("webhook-timestamp")
        .expect("webhook-timestamp");
    let signature = received
        .header("webhook-signature")
        .expect("webhook-signature");
    let sent_at: i64 = timestamp.parse().expect("unix seconds");
    assert!(
        (chrono::Utc::now().timestamp() - sent_at).abs() < 300,
        "webhook-timestamp {sent_at} is not now"
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&received.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    assert!(
        signature.split(' ').any(|s| s == expected),
        "signature {signature} is not {expected}"
    );
}

/// (event id, failed attempts) of every queued event.
async fn outbox(store: &Store) -> Vec<(i64, i64)> {
    const QUERY: &str = "SELECT event_id, attempts FROM webhook_outbox ORDER BY event_id";
    match store {
        Store::Sqlite(sqlite) => sqlx::query_as(QUERY).fetch_all(&sqlite.pool).await,
        Store::Postgres(pool) => sqlx::query_as(QUERY).fetch_all(pool).await,
    }
    .unwrap()
}

async fn until_outbox_is_empty(store: &Store) {
    let start = tokio::time::Instant::now();
    loop {
        let queued = outbox(store).await;
        if queued.is_empty() {
            return;
        }
        assert!(start.elapsed() < DEADLINE, "still queued: {queued:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `name::sqlite` and `name::postgres`, each calling `name(backend)`.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await;
                }
            }
        )*
    };
}

on_both_stores!(
    every_key_event_arrives_signed,
    a_failing_receiver_gets_the_event_again_until_it_answers_2xx,
    events_queued_before_a_restart_are_delivered_after_it,
    without_a_receiver_old_events_are_pruned,
    lifecycle_events_arrive_too,
);

async fn every_key_event_arrives_signed(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, webhooks(receiver.url(), Some(SECRET))).await;
    app.create_group("ops").await;
    let (key, raw) = app.create_key("hooked", &["admin"]).await;
    let changes = KeyChanges {
        name: Some("hooked-2".into()),
        groups: Some(vec!["ops".into()]),
        ..KeyChanges::default()
    };
    app.configure_key("hooked", changes).await;
    app.key_action("hooked-2", "deactivate").await;
    app.key_action("hooked-2", "activate").await;

    let id = key.id.to_string();
    receiver
        .wait_until("four delivered events", |_| {
            receiver.about(&id).iter().filter(|r| r.delivered()).count() >= 4
        })
        .await;
    let received = receiver.about(&id);
    // Nothing failed, so each was sent once, oldest first.
    let types: Vec<Value> = received.iter().map(|r| r.json()["type"].clone()).collect();
    assert_eq!(
        types,
        [
            "api_key.created",
            "api_key.updated",
            "api_key.deactivated",
            "api_key.activated"
        ]
    );
    let audit = app.audit("").await;
    for r in &received {
        verify(r, SECRET);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let body = r.json();
        assert_eq!(r.header("webhook-id"), body["id"].as_str());
        let event_id: i64 = body["id"].as_str().unwrap().parse().unwrap();
        let event = audit
            .iter()
            .find(|e| e.id == event_id)
            .unwrap_or_else(|| panic!("no audit event {}", body["id"]));
        assert_eq!(body["type"], event.action.as_str());
        assert_eq!(body["actor"], ADMIN_EMAIL);
        assert_eq!(body["org_id"], key.org_id.to_string());
        let occurred_at: chrono::DateTime<chrono::Utc> =
            body["occurred_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(occurred_at, event.at);
        assert_eq!(body["api_key"]["name"], event.target.name.as_str());
        assert_eq!(
            body["details"],
            serde_json::to_value(&event.details).unwrap()
        );
    }
    let [created, updated, deactivated, activated] = &received[..] else {
        unreachable!("four events, as above");
    };
    assert_eq!(created.json()["api_key"]["name"], "hooked");
    assert_eq!(
        created.json()["details"]["groups"],
        serde_json::json!(["admin"])
    );
    assert_eq!(created.json()["details"]["masked_key"], key.masked_key);
    assert_eq!(
        updated.json()["details"]["name"],
        serde_json::json!({"from": "hooked", "to": "hooked-2"})
    );
    assert_eq!(deactivated.json()["details"]["status"]["to"], "deactivated");
    assert_eq!(activated.json()["details"]["status"]["to"], "active");

    // Only key events are sent; no body carries a key.
    let all = receiver.received();
    let raw_key = regex::Regex::new(r"hpk_[A-Za-z0-9_-]{43}").unwrap();
    for r in &all {
        assert!(r.json()["type"].as_str().unwrap().starts_with("api_key."));
        let text = String::from_utf8_lossy(&r.body);
        assert!(!raw_key.is_match(&text), "a raw key in {text}");
        assert!(!text.contains(&raw));
    }
    until_outbox_is_empty(&app.state.store).await;
    app.stop().await;
}

async fn a_failing_receiver_gets_the_event_again_until_it_answers_2xx(backend: Backend) {
    let receiver = Receiver::start().await;
    receiver.fail_next(3);
    // Unsigned this time: no signature header at all.
    let app = spawn_app_with(backend, |config| {
        webhooks(receiver.url(), None)(config);
        config.observe.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let (key, _) = app.create_key("flaky", &["admin"]).await;
    let id = key.id.to_string();
    receiver
        .wait_until("the event, delivered after three 500s", |_| {
            receiver.about(&id).iter().any(Received::delivered)
        })
        .await;
    until_outbox_is_empty(&app.state.store).await;

    // A later event goes through, and the first is not sent again meanwhile.
    let (later, _) = app.create_key("steady", &["admin"]).await;
    let later_id = later.id.to_string();
    receiver
        .wait_until("the later event", |_| !receiver.about(&later_id).is_empty())
        .await;
    until_outbox_is_empty(&app.state.store).await;
    let attempts = receiver.about(&id);
    let answers: Vec<u16> = attempts.iter().map(|r| r.answered).collect();
    assert_eq!(
        answers,
        [500, 500, 500, 204],
        "three failures, one delivery"
    );
    let first = &attempts[0];
    for attempt in &attempts {
        assert_eq!(attempt.header("webhook-id"), first.header("webhook-id"));
        assert_eq!(attempt.body, first.body, "the same event each time");
        assert_eq!(attempt.header("webhook-signature"), None);
        assert!(attempt.header("webhook-timestamp").is_some());
    }
    assert_eq!(receiver.about(&later_id).len(), 1);
    // Counted: gateways in this process share one recorder, so at least these.
    let metrics = app.metrics_addr.unwrap();
    let text = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |outcome: &str| -> f64 {
        let series = format!("hoop_webhook_deliveries_total{{outcome=\"{outcome}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&series))
            .unwrap_or_else(|| panic!("no {series} in {text}"))
            .parse()
            .unwrap()
    };
    assert!(
        count("rejected") >= 3.0 && count("delivered") >= 2.0,
        "{text}"
    );
    // Every outcome has its series from the start, a zero until it happens.
    assert!(count("unreachable") >= 0.0);
    app.stop().await;
}

async fn events_queued_before_a_restart_are_delivered_after_it(backend: Backend) {
    let receiver = Receiver::start().await;
    // Made while no receiver was configured: queued all the same.
    let app = spawn_app(backend).await;
    let (quiet, _) = app.create_key("made-without-webhooks", &["admin"]).await;

    // The receiver fails everything until the gateway has stopped.
    receiver.fail_next(usize::MAX);
    let app = app
        .restart_with(webhooks(receiver.url(), Some(SECRET)))
        .await;
    let (key, _) = app.create_key("made-before-the-restart", &["admin"]).await;
    let id = key.id.to_string();
    receiver
        .wait_until("a failed attempt", |_| !receiver.about(&id).is_empty())
        .await;
    let app = app
        .restart_with(webhooks(receiver.url(), Some(SECRET)))
        .await;
    receiver.fail_next(0);
    for (what, key_id) in [("quiet", quiet.id.to_string()), ("failed", id)] {
        receiver
            .wait_until(&format!("the {what} event, delivered"), |_| {
                receiver.about(&key_id).iter().any(Received::delivered)
            })
            .await;
        let delivered: Vec<Received> = receiver
            .about(&key_id)
            .into_iter()
            .filter(Received::delivered)
            .collect();
        assert_eq!(delivered.len(), 1, "{what}: delivered once");
        verify(&delivered[0], SECRET);
    }
    until_outbox_is_empty(&app.state.store).await;
    app.stop().await;
}

async fn without_a_receiver_old_events_are_pruned(backend: Backend) {
    let app = spawn_app(backend).await;
    let (old, _) = app.create_key("old", &["admin"]).await;
    app.create_key("new", &["admin"]).await;
    let queued = outbox(&app.state.store).await;
    assert_eq!(queued.len(), 2, "both creations queued: {queued:?}");
    // The first as if queued eight days ago.
    let eight_days_ago = chrono::Utc::now() - chrono::TimeDelta::days(8);
    const AGE: &str = "UPDATE webhook_outbox SET enqueued_at = $1 WHERE event_id = $2";
    match &app.state.store {
        Store::Sqlite(sqlite) => sqlx::query(AGE)
            .bind(eight_days_ago)
            .bind(queued[0].0)
            .execute(&sqlite.pool)
            .await
            .map(|done| done.rows_affected()),
        Store::Postgres(pool) => sqlx::query(AGE)
            .bind(eight_days_ago)
            .bind(queued[0].0)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()),
    }
    .unwrap();
    assert!(app
        .audit("")
        .await
        .iter()
        .any(|e| e.id == queued[0].0 && e.target.id == old.id.to_string()));
    // Pruning runs at start, then hourly.
    let app = app.restart_with(|_| {}).await;
    let start = tokio::time::Instant::now();
    loop {
        let now = outbox(&app.state.store).await;
        if now.len() == 1 {
            assert_eq!(now[0].0, queued[1].0, "the recent event stays");
            break;
        }
        assert!(start.elapsed() < DEADLINE, "not pruned: {now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The audit log keeps the event: only its place in the outbox went.
    assert!(app.audit("").await.iter().any(|e| e.id == queued[0].0));
    app.stop().await;
}

/// Two replicas on one PostgreSQL, both sending: every event arrives, and under the lease each
/// exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_deliver_each_event_once_postgres() {
    let receiver = Receiver::start().await;
    let a = spawn_app_with(Backend::Postgres, webhooks(receiver.url(), Some(SECRET))).await;
    let b = a
        .spawn_replica_with(webhooks(receiver.url(), Some(SECRET)))
        .await;
    let mut ids = Vec::new();
    for i in 0..30 {
        let replica = if i % 2 == 0 { &a } else { &b };
        let (key, _) = replica
            .create_key(&format!("replicated-{i}"), &["admin"])
            .await;
        ids.push(key.id.to_string());
    }
    let received = receiver
        .wait_until("thirty creations", |received| {
            ids.iter().all(|id| {
                received
                    .iter()
                    .any(|r| r.delivered() && r.json()["api_key"]["id"] == id.as_str())
            })
        })
        .await;
    until_outbox_is_empty(&a.state.store).await;
    let mut seen = std::collections::BTreeSet::new();
    for r in receiver.received() {
        verify(&r, SECRET);
        let id = r.header("webhook-id").unwrap().to_owned();
        assert!(seen.insert(id.clone()), "event {id} sent twice");
    }
    assert!(received.len() >= 30);
    b.stop().await;
    a.stop().await;
}

/// Rotation, leak report, expiry and the week's notice, each sent as any other key event, and
/// none carrying a secret (not the rotated one, not the reported one).
async fn lifecycle_events_arrive_too(backend: Backend) {
    use chrono::{SecondsFormat, TimeDelta, Utc};
    use reqwest::{Method, StatusCode};
    use serde_json::json;
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, webhooks(receiver.url(), Some(SECRET))).await;
    let in_ = |delta: TimeDelta| (Utc::now() + delta).to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut secrets = Vec::new();
    let create = |name: &str, expires_at: Option<String>| {
        let body = json!({"name": name, "groups": ["admin"], "expires_at": expires_at});
        let app = &app;
        async move {
            let (status, created) = app.post("/api/api-keys", &app.admin_token, body).await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
            (
                created["id"].as_str().unwrap().to_owned(),
                created["key"].as_str().unwrap().to_owned(),
            )
        }
    };
    let (rotating, old) = create("rotating", None).await;
    let (leaky, leaked) = create("leaky", None).await;
    let (short, short_secret) = create("short", Some(in_(TimeDelta::seconds(5)))).await;
    let (soon, soon_secret) = create("soon", Some(in_(TimeDelta::days(3)))).await;
    secrets.extend([old, leaked.clone(), short_secret, soon_secret]);

    let (status, rotated) = app
        .post(
            "/api/api-keys/rotating/rotate",
            &app.admin_token,
            json!({"grace_seconds": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    secrets.push(rotated["key"].as_str().unwrap().to_owned());
    let (status, answer) = app
        .call(
            Method::POST,
            "/api/api-keys/leaked",
            None,
            Some(json!({"keys": [leaked]})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    // Expiry notices are swept at start, then every half minute: a restart brings the week's
    // notice at once (and shows the queue survives it).
    let app = app
        .restart_with(webhooks(receiver.url(), Some(SECRET)))
        .await;

    let wanted = [
        (&rotating, "api_key.rotated"),
        (&leaky, "api_key.leak_reported"),
        (&short, "api_key.expired"),
        (&soon, "api_key.expiring"),
    ];
    receiver
        .wait_until("the lifecycle events", |received| {
            wanted.iter().all(|(id, kind)| {
                received.iter().any(|r| {
                    let body = r.json();
                    r.delivered() && body["api_key"]["id"] == id.as_str() && body["type"] == *kind
                })
            })
        })
        .await;
    let raw_key = regex::Regex::new(r"hpk_[A-Za-z0-9_-]{43}").unwrap();
    for r in receiver.received() {
        verify(&r, SECRET);
        let text = String::from_utf8_lossy(&r.body);
        assert!(!raw_key.is_match(&text), "a raw key in {text}");
        assert!(secrets.iter().all(|s| !text.contains(s.as_str())));
        let body = r.json();
        match body["type"].as_str().unwrap() {
            "api_key.rotated" => assert_eq!(body["actor"], ADMIN_EMAIL),
            "api_key.expired" | "api_key.expiring" => {
                assert!(body["details"]["expires_at"].is_string(), "{body}")
            }
            _ => {}
        }
    }
    until_outbox_is_empty(&app.state.store).await;
    app.stop().await;
}
