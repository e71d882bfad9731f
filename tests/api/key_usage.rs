//! How each key is used (issue #17): last use by address and client, recent clients, daily
//! counts (served, refused, execs) that replicas add up, and `api_key.new_client` on the
//! first use from an address unseen for 30 days. Clients are told apart by `X-Forwarded-For`
//! from a trusted proxy (the test client, 127.0.0.1), as behind a load balancer.

use crate::connections::{exec, make_connection, sqlite_target};
use crate::helpers::*;
use chrono::{NaiveDate, TimeDelta};
use hoop::{
    config::ServeConfig,
    wire::{audit::Event, keys::UsageDay},
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// Each test on both stores, behind a trusted proxy.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(super::spawn(crate::helpers::Backend::Sqlite).await).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(super::spawn(crate::helpers::Backend::Postgres).await).await;
                }
            }
        )*
    };
}

on_both!(
    uses_are_recorded_by_address_and_client,
    a_new_address_is_audited_once_then_again_after_30_days,
    daily_counts_include_refusals_execs_and_empty_days,
    bad_usage_requests_are_refused_clearly,
    a_flush_waits_for_the_one_under_way,
    of_two_flushes_at_one_instant_the_later_is_the_last_use,
);

fn behind_proxy(config: &mut ServeConfig) {
    config.http.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
}

async fn spawn(backend: Backend) -> TestApp {
    spawn_app_with(backend, behind_proxy).await
}

/// A request to `/api/userinfo` with `key`, from `ip` running `agent`.
async fn call_from(app: &TestApp, key: &str, ip: &str, agent: &str) -> StatusCode {
    app.request(Method::GET, "/api/userinfo", Some(key))
        .header("x-forwarded-for", ip)
        .header("user-agent", agent)
        .send()
        .await
        .expect("request sent")
        .status()
}

/// Writes what this gateway holds in memory now, instead of waiting for its flusher.
async fn flush(app: &TestApp) {
    app.state.keys.flush_usage().await;
}

async fn usage(app: &TestApp, key: &str, days: u32) -> Vec<UsageDay> {
    app.get_as(
        &format!("/api/api-keys/{key}/usage?days={days}"),
        &app.admin_token,
    )
    .await
}

async fn new_clients(app: &TestApp, key: &str) -> Vec<Event> {
    app.audit("limit=500")
        .await
        .into_iter()
        .filter(|e| e.action == "api_key.new_client" && e.target.name == key)
        .collect()
}

fn today(app: &TestApp) -> NaiveDate {
    app.clock.now().date_naive()
}

async fn uses_are_recorded_by_address_and_client(app: TestApp) {
    let (_, key) = app.create_key("ci-bot", &["admin"]).await;
    let fresh = app.api_key("ci-bot").await;
    assert_eq!(fresh.last_used_ip, None);
    assert!(fresh.recent_clients.is_empty());

    for _ in 0..3 {
        assert_eq!(
            call_from(&app, &key, "203.0.113.7", "agent-a/1").await,
            StatusCode::OK
        );
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(
        call_from(&app, &key, "198.51.100.9", "agent-b/2").await,
        StatusCode::OK
    );
    flush(&app).await;

    let used = app.api_key("ci-bot").await;
    assert_eq!(used.last_used_ip.as_deref(), Some("198.51.100.9"));
    assert_eq!(used.last_used_user_agent.as_deref(), Some("agent-b/2"));
    let clients: Vec<(&str, Option<&str>)> = used
        .recent_clients
        .iter()
        .map(|c| (c.ip.as_str(), c.user_agent.as_deref()))
        .collect();
    assert_eq!(
        clients,
        [
            ("198.51.100.9", Some("agent-b/2")),
            ("203.0.113.7", Some("agent-a/1"))
        ],
        "newest first"
    );
    assert!(used.recent_clients[0].last_seen_at >= used.recent_clients[1].last_seen_at);
    assert_eq!(used.last_used_at, Some(used.recent_clients[0].last_seen_at));

    // The same address with a new client program: one entry, the latest agent.
    assert_eq!(
        call_from(&app, &key, "203.0.113.7", "agent-a/2").await,
        StatusCode::OK
    );
    // A long agent is cut to 256 characters.
    let odd = app
        .request(Method::GET, "/api/userinfo", Some(&key))
        .header("x-forwarded-for", "192.0.2.1")
        .header("user-agent", "x".repeat(400))
        .send()
        .await
        .unwrap();
    assert_eq!(odd.status(), StatusCode::OK);
    flush(&app).await;
    let used = app.api_key("ci-bot").await;
    assert_eq!(used.last_used_ip.as_deref(), Some("192.0.2.1"));
    assert_eq!(
        used.last_used_user_agent.as_ref().map(|a| a.len()),
        Some(256)
    );
    let a = used
        .recent_clients
        .iter()
        .find(|c| c.ip == "203.0.113.7")
        .unwrap();
    assert_eq!(a.user_agent.as_deref(), Some("agent-a/2"));

    // Only the last 5 distinct addresses are listed, newest first.
    for i in 1..=6 {
        tokio::time::sleep(Duration::from_millis(15)).await;
        let ip = format!("10.1.0.{i}");
        assert_eq!(call_from(&app, &key, &ip, "many").await, StatusCode::OK);
    }
    flush(&app).await;
    let used = app.api_key("ci-bot").await;
    let ips: Vec<&str> = used.recent_clients.iter().map(|c| c.ip.as_str()).collect();
    assert_eq!(
        ips,
        ["10.1.0.6", "10.1.0.5", "10.1.0.4", "10.1.0.3", "10.1.0.2"]
    );
    // The list answers the same fields as the key itself.
    let listed = app
        .api_keys()
        .await
        .into_iter()
        .find(|k| k.name == "ci-bot")
        .unwrap();
    assert_eq!(listed.recent_clients, used.recent_clients);
    assert_eq!(listed.last_used_ip, used.last_used_ip);

    // Nobody else's key picked any of it up, and no raw key reached the database.
    let (_, other) = app.create_key("idle", &["admin"]).await;
    assert!(!other.is_empty());
    flush(&app).await;
    assert!(app.api_key("idle").await.recent_clients.is_empty());
    let dump = app.dump_database().await;
    assert!(!dump.contains(&key[4..]), "a raw key is stored");
    app.stop().await;
}

async fn a_new_address_is_audited_once_then_again_after_30_days(app: TestApp) {
    let (key, raw) = app.create_key("roaming", &["admin"]).await;
    for _ in 0..5 {
        assert_eq!(
            call_from(&app, &raw, "203.0.113.7", "a").await,
            StatusCode::OK
        );
    }
    flush(&app).await;
    let events = new_clients(&app, "roaming").await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(event["actor"], "roaming");
    assert_eq!(event["target"]["type"], "api_key");
    assert_eq!(event["target"]["id"], key.id.to_string());
    assert_eq!(
        event["details"],
        json!({"ip": "203.0.113.7", "user_agent": "a"})
    );

    // Known: no second event, whatever the flushes.
    assert_eq!(
        call_from(&app, &raw, "203.0.113.7", "a").await,
        StatusCode::OK
    );
    flush(&app).await;
    // A second address is new.
    assert_eq!(
        call_from(&app, &raw, "198.51.100.9", "b").await,
        StatusCode::OK
    );
    flush(&app).await;
    assert_eq!(new_clients(&app, "roaming").await.len(), 2);

    // 29 days on, the first address is still known.
    app.clock.advance(Duration::from_secs(29 * 86_400));
    assert_eq!(
        call_from(&app, &raw, "203.0.113.7", "a").await,
        StatusCode::OK
    );
    flush(&app).await;
    assert_eq!(new_clients(&app, "roaming").await.len(), 2);
    // 31 days after it was last seen, the second one is new again.
    app.clock.advance(Duration::from_secs(2 * 86_400));
    assert_eq!(
        call_from(&app, &raw, "198.51.100.9", "b").await,
        StatusCode::OK
    );
    flush(&app).await;
    let events = new_clients(&app, "roaming").await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(
        serde_json::to_value(&events[0]).unwrap()["details"]["ip"],
        "198.51.100.9",
        "newest first"
    );
    app.stop().await;
}

async fn daily_counts_include_refusals_execs_and_empty_days(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    app.create_group("eng").await;
    let target = sqlite_target(dir.path(), "eng").await;
    make_connection(&app, "db", "sqlite", &target, &["eng"]).await;
    let (key, raw) = app.create_key("worker", &["eng"]).await;
    let first_day = today(&app);

    for _ in 0..4 {
        assert_eq!(
            call_from(&app, &raw, "203.0.113.7", "w").await,
            StatusCode::OK
        );
    }
    for _ in 0..2 {
        let (status, answer) = exec(&app, &raw, "db", "SELECT 1 AS one").await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    // Deactivated: still sent twice. Refused, and counted against the key.
    app.key_action("worker", "deactivate").await;
    for _ in 0..2 {
        assert_eq!(
            call_from(&app, &raw, "203.0.113.7", "w").await,
            StatusCode::UNAUTHORIZED
        );
    }
    // A key nobody ever had is nobody's refusal.
    let unknown = format!("hpk_{}", "A".repeat(43));
    assert_eq!(
        call_from(&app, &unknown, "203.0.113.7", "w").await,
        StatusCode::UNAUTHORIZED
    );
    flush(&app).await;

    let days = usage(&app, "worker", 30).await;
    assert_eq!(days.len(), 30);
    assert_eq!(days[29].date, first_day, "the last entry is today");
    for pair in days.windows(2) {
        assert_eq!(
            pair[0].date.succ_opt(),
            Some(pair[1].date),
            "one entry a day"
        );
    }
    // Four calls and two execs served, two refused.
    assert_eq!(
        (days[29].requests, days[29].refused, days[29].execs),
        (6, 2, 2),
        "{:?}",
        days[29]
    );
    assert!(days[..29]
        .iter()
        .all(|d| (d.requests, d.refused, d.execs) == (0, 0, 0)));
    // By id as well as by name; the default is 30 days.
    let by_id: Vec<UsageDay> = app
        .get_as(&format!("/api/api-keys/{}/usage", key.id), &app.admin_token)
        .await;
    assert_eq!(by_id, days);

    // Reactivated, then it expires: refused from memory, still counted.
    app.key_action("worker", "activate").await;
    let soon = app.clock.now() + TimeDelta::hours(1);
    let (status, body) = app
        .put(
            "/api/api-keys/worker",
            &app.admin_token,
            json!({"expires_at": soon.to_rfc3339()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.clock.advance(Duration::from_secs(2 * 86_400));
    assert_eq!(
        call_from(&app, &raw, "203.0.113.7", "w").await,
        StatusCode::UNAUTHORIZED
    );
    flush(&app).await;
    let days = usage(&app, "worker", 3).await;
    let counts: Vec<(u64, u64, u64)> = days
        .iter()
        .map(|d| (d.requests, d.refused, d.execs))
        .collect();
    assert_eq!(counts, [(6, 2, 2), (0, 0, 0), (0, 1, 0)], "{days:?}");
    assert_eq!(days[0].date, first_day);
    app.stop().await;
}

/// A flush (the tests', shutdown's) returns only once every earlier use is written, even
/// when the background flusher took them a moment before and is still writing them.
async fn a_flush_waits_for_the_one_under_way(app: TestApp) {
    let (_, key) = app.create_key("busy", &["admin"]).await;
    // Long enough for several background flushes to overlap ours.
    let until = tokio::time::Instant::now() + Duration::from_millis(3_500);
    let mut i = 0u32;
    while tokio::time::Instant::now() < until {
        i += 1;
        let ip = format!("10.2.{}.{}", i / 250, i % 250 + 1);
        assert_eq!(call_from(&app, &key, &ip, "loop").await, StatusCode::OK);
        flush(&app).await;
        let seen = app.api_key("busy").await;
        assert_eq!(seen.last_used_ip.as_deref(), Some(ip.as_str()), "use {i}");
    }
    app.stop().await;
}

/// The request path's clock ticks every 10 ms (slower when the machine is busy), so two
/// flushes can carry uses at the same instant: the one written later is the last use.
async fn of_two_flushes_at_one_instant_the_later_is_the_last_use(app: TestApp) {
    use hoop::store::usage::{record, ClientSeen, KeyUse};
    let (_, key) = app.create_key("tied", &["admin"]).await;
    assert_eq!(
        call_from(&app, &key, "10.3.0.1", "first").await,
        StatusCode::OK
    );
    flush(&app).await;
    let id = app.api_key("tied").await.id;
    let at = app.api_key("tied").await.last_used_at.expect("used");
    let seen = |ip: &str, agent: &str| KeyUse {
        days: vec![],
        clients: vec![ClientSeen {
            ip: ip.to_owned(),
            user_agent: Some(agent.to_owned()),
            at,
        }],
    };
    record(&app.state.store, &[(id, seen("10.3.0.2", "second"))])
        .await
        .expect("recorded");
    let last = app.api_key("tied").await;
    assert_eq!(last.last_used_ip.as_deref(), Some("10.3.0.2"));
    assert_eq!(last.last_used_user_agent.as_deref(), Some("second"));
    app.stop().await;
}

async fn bad_usage_requests_are_refused_clearly(app: TestApp) {
    app.create_key("k", &["admin"]).await;
    for (query, want, field) in [
        ("days=0", StatusCode::UNPROCESSABLE_ENTITY, Some("days")),
        ("days=366", StatusCode::UNPROCESSABLE_ENTITY, Some("days")),
        ("days=abc", StatusCode::BAD_REQUEST, None),
        ("days=-1", StatusCode::BAD_REQUEST, None),
    ] {
        let (status, body) = app
            .get(&format!("/api/api-keys/k/usage?{query}"), &app.admin_token)
            .await;
        assert_eq!(status, want, "{query}: {body}");
        if let Some(field) = field {
            assert!(body.to_string().contains(field), "{query}: {body}");
        }
    }
    let (status, _) = app.get("/api/api-keys/nope/usage", &app.admin_token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.create_group("eng").await;
    let (_, scoped) = app.create_key("scoped", &["eng"]).await;
    let (status, _) = app.get("/api/api-keys/k/usage", &scoped).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _): (StatusCode, Value) = app
        .call(Method::GET, "/api/api-keys/k/usage", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

/// Two gateways on one database: each flushes its own counts, and they add up; one new
/// address seen by both at once is one event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_add_up_their_counts() {
    let a = spawn(Backend::Postgres).await;
    let b = a.spawn_replica_with(behind_proxy).await;
    let (_, raw) = a.create_key("shared", &["admin"]).await;
    for _ in 0..3 {
        assert_eq!(
            call_from(&a, &raw, "203.0.113.7", "x").await,
            StatusCode::OK
        );
    }
    for _ in 0..4 {
        assert_eq!(
            call_from(&b, &raw, "203.0.113.7", "x").await,
            StatusCode::OK
        );
    }
    tokio::join!(flush(&a), flush(&b));
    let today = usage(&a, "shared", 1).await;
    assert_eq!(today[0].requests, 7, "{today:?}");
    assert_eq!(
        usage(&b, "shared", 1).await,
        today,
        "both replicas answer the same"
    );
    assert_eq!(
        new_clients(&a, "shared").await.len(),
        1,
        "one address, one event"
    );

    // Deactivated on one replica; the other learns it from the change feed and counts the
    // refusals it sees as well.
    a.key_action("shared", "deactivate").await;
    let start = std::time::Instant::now();
    while call_from(&b, &raw, "203.0.113.7", "x").await != StatusCode::UNAUTHORIZED {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never refused on b"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        call_from(&a, &raw, "203.0.113.7", "x").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call_from(&b, &raw, "203.0.113.7", "x").await,
        StatusCode::UNAUTHORIZED
    );
    tokio::join!(flush(&a), flush(&b));
    let today = usage(&a, "shared", 1).await;
    assert_eq!(today[0].refused, 3, "{today:?}");
    assert!(today[0].requests >= 7, "{today:?}");
    b.stop().await;
    a.stop().await;
}
