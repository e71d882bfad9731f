//! Key lifecycle: expiry, rotation with an overlap, leak reports, the unused-key policy. Time is
//! the gateway's clock, which the tests move forward instead of waiting.

use crate::both_backends;
use crate::helpers::*;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use hoop::{
    policy::KeyPolicy,
    wire::{
        audit::{Detail, DetailValue, Event},
        keys::{ApiKey, KeyStatus},
    },
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

both_backends!(
    an_expired_key_is_refused_at_the_second_and_announced_once,
    expiry_moves_with_put_and_activation,
    rotation_keeps_the_old_secret_for_the_overlap_only,
    a_second_rotation_ends_the_first_old_secret,
    a_leak_report_stops_live_secrets_and_tells_nobody,
    a_reported_secret_does_not_come_back_unnoticed,
    bad_lifecycle_requests_are_refused_clearly,
);

/// What `/api/userinfo` answers `key`.
async fn answer(app: &TestApp, key: &str) -> StatusCode {
    app.status_with("/api/userinfo", key).await
}

/// Rotates `name` with an overlap of `grace` seconds; the new secret and the answer.
async fn rotate(app: &TestApp, name: &str, grace: u64) -> (String, Value) {
    let path = format!("/api/api-keys/{name}/rotate");
    let body = json!({ "grace_seconds": grace });
    let (status, body) = app.post(&path, &app.admin_token, body).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (body["key"].as_str().unwrap().to_owned(), body)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n * 24 * 3600)
}

/// The gateway's now.
fn now(app: &TestApp) -> DateTime<Utc> {
    app.clock.now()
}

async fn create_expiring(app: &TestApp, name: &str, expires_at: DateTime<Utc>) -> (ApiKey, String) {
    let (status, body) = app
        .post(
            "/api/api-keys",
            &app.admin_token,
            json!({"name": name, "groups": ["admin"], "expires_at": rfc3339(expires_at)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let raw = body["key"].as_str().unwrap().to_owned();
    (serde_json::from_value(body).unwrap(), raw)
}

/// The `action` events for `target` in the audit log now.
async fn events_now(app: &TestApp, action: &str, target: &str) -> Vec<Event> {
    app.audit("limit=200")
        .await
        .into_iter()
        .filter(|e| e.action == action && e.target.name == target)
        .collect()
}

/// Waits (polling the audit log) until `want` `action` events were written for `target`.
async fn events_for(app: &TestApp, action: &str, target: &str, want: usize) -> Vec<Event> {
    let start = Instant::now();
    loop {
        let found = events_now(app, action, target).await;
        if found.len() >= want || start.elapsed() > Duration::from_secs(20) {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn an_expired_key_is_refused_at_the_second_and_announced_once(app: &TestApp) {
    let expires_at = now(app) + TimeDelta::days(3);
    let (key, raw) = create_expiring(app, "short-lived", expires_at).await;
    assert_eq!(key.status, KeyStatus::Active);
    assert_eq!(
        key.expires_at.map(|e| e.timestamp_millis()),
        Some(expires_at.timestamp_millis())
    );

    // Within 7 days of its end, every answer to the key says when.
    let response = app
        .request(Method::GET, "/api/userinfo", Some(&raw))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let header = response.headers()["hoop-key-expires"]
        .to_str()
        .unwrap()
        .to_owned();
    let said: DateTime<Utc> = header.parse().unwrap();
    assert_eq!(said.timestamp(), expires_at.timestamp());
    // Refusals too would be useless to warn; the admin's own token carries nothing.
    let admin = app
        .request(Method::GET, "/api/userinfo", Some(&app.admin_token))
        .send()
        .await
        .unwrap();
    assert!(admin.headers().get("hoop-key-expires").is_none());
    // A week ahead, the audit log (and the webhooks) hear it once.
    assert_eq!(
        events_for(app, "api_key.expiring", "short-lived", 1)
            .await
            .len(),
        1
    );

    // A second before: works. At the second: refused, from memory, on every route.
    let left = (expires_at - now(app)).to_std().unwrap();
    app.clock.advance(left - Duration::from_secs(1));
    assert_eq!(answer(app, &raw).await, StatusCode::OK);
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(answer(app, &raw).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.status_with("/api/api-keys", &raw).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.api_key("short-lived").await.status, KeyStatus::Expired);

    let expired = events_for(app, "api_key.expired", "short-lived", 1).await;
    assert_eq!(expired.len(), 1, "announced within seconds");
    assert_eq!(expired[0].actor, "system");
    assert_eq!(expired[0].target.id, key.id.to_string());
    // Announced once, however many sweeps pass.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        events_now(app, "api_key.expired", "short-lived")
            .await
            .len(),
        1
    );
    assert_eq!(
        events_now(app, "api_key.expiring", "short-lived")
            .await
            .len(),
        1
    );

    // A key without an expiry has no header and never expires.
    let (_, forever) = app.create_key("forever", &["admin"]).await;
    app.clock.advance(days(3650));
    let response = app
        .request(Method::GET, "/api/userinfo", Some(&forever))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("hoop-key-expires").is_none());
}

async fn expiry_moves_with_put_and_activation(app: &TestApp) {
    let (_, raw) = create_expiring(app, "moving", now(app) + TimeDelta::days(30)).await;
    assert_eq!(answer(app, &raw).await, StatusCode::OK);

    // Closer: shortens the live key at once.
    let soon = now(app) + TimeDelta::hours(1);
    let (status, body) = app
        .put(
            "/api/api-keys/moving",
            &app.admin_token,
            json!({"expires_at": rfc3339(soon)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.clock.advance(Duration::from_secs(3601));
    assert_eq!(answer(app, &raw).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.api_key("moving").await.status, KeyStatus::Expired);

    // Activating an expired key without a new expiry: 422, naming the field.
    let (status, body) = app
        .call(
            Method::POST,
            "/api/api-keys/moving/activate",
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "expires_at");

    // Later, by PUT: the expired key works again, same secret.
    let later = now(app) + TimeDelta::days(10);
    let (status, body) = app
        .put(
            "/api/api-keys/moving",
            &app.admin_token,
            json!({"expires_at": rfc3339(later)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "active");
    assert_eq!(answer(app, &raw).await, StatusCode::OK);

    // Never: null.
    let (status, body) = app
        .put(
            "/api/api-keys/moving",
            &app.admin_token,
            json!({"expires_at": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["expires_at"], Value::Null);
    // Absent: unchanged.
    let (_, body) = app
        .put(
            "/api/api-keys/moving",
            &app.admin_token,
            json!({"name": "moving"}),
        )
        .await;
    assert_eq!(body["expires_at"], Value::Null);

    // Deactivated, then expired meanwhile: activation needs, and takes, a new expiry.
    app.put(
        "/api/api-keys/moving",
        &app.admin_token,
        json!({"expires_at": rfc3339(now(app) + TimeDelta::hours(2))}),
    )
    .await;
    app.key_action("moving", "deactivate").await;
    app.clock.advance(Duration::from_secs(3 * 3600));
    let (status, _) = app
        .call(
            Method::POST,
            "/api/api-keys/moving/activate",
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = app
        .call(
            Method::POST,
            "/api/api-keys/moving/activate",
            Some(&app.admin_token),
            Some(json!({"expires_at": rfc3339(now(app) + TimeDelta::days(1))})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "active");
    assert_eq!(answer(app, &raw).await, StatusCode::OK);

    let updates = events_for(app, "api_key.updated", "moving", 4).await;
    assert!(updates.iter().any(|e| matches!(
        e.details.get("expires_at"),
        Some(Detail::Change(c)) if c.to == DetailValue::Null
    )));
}

async fn rotation_keeps_the_old_secret_for_the_overlap_only(app: &TestApp) {
    let expires_at = now(app) + TimeDelta::days(60);
    let (before, old) = create_expiring(app, "rotating", expires_at).await;

    let (status, body) = app
        .post(
            "/api/api-keys/rotating/rotate",
            &app.admin_token,
            json!({"grace_seconds": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new = body["key"].as_str().unwrap().to_owned();
    let after: ApiKey = serde_json::from_value(body).unwrap();
    assert_ne!(new, old);
    assert_eq!(
        (after.id, &after.name, &after.groups),
        (before.id, &before.name, &before.groups)
    );
    assert_eq!(after.expires_at, before.expires_at);
    assert_ne!(after.masked_key, before.masked_key);
    assert_eq!(
        after.previous_masked_key.as_deref(),
        Some(before.masked_key.as_str())
    );
    let overlap_ends = after.previous_expires_at.expect("the old secret's end");
    assert!(
        (overlap_ends - (now(app) + TimeDelta::hours(1)))
            .num_seconds()
            .abs()
            < 60
    );

    // Both work during the overlap, as the same key; the old one says when it stops.
    assert_eq!(app.userinfo(&new).await.name, "rotating");
    let response = app
        .request(Method::GET, "/api/userinfo", Some(&old))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("hoop-key-expires").is_some());

    // Past it: the old one is refused, the new one works, the key no longer shows the old.
    app.clock.advance(Duration::from_secs(3601));
    assert_eq!(answer(app, &old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(answer(app, &new).await, StatusCode::OK);
    let shown = app.api_key("rotating").await;
    assert_eq!(
        (shown.previous_masked_key, shown.previous_expires_at),
        (None, None)
    );

    // Without an overlap the old secret ends at once.
    let (_, body) = app
        .post("/api/api-keys/rotating/rotate", &app.admin_token, json!({}))
        .await;
    let newest = body["key"].as_str().unwrap().to_owned();
    assert_eq!(body["previous_masked_key"], Value::Null);
    assert_eq!(answer(app, &new).await, StatusCode::UNAUTHORIZED);
    assert_eq!(answer(app, &newest).await, StatusCode::OK);

    // Deactivating ends both secrets; activating brings back only the current one.
    let (fourth, _) = rotate(app, "rotating", 86400).await;
    assert_eq!(answer(app, &newest).await, StatusCode::OK);
    app.key_action("rotating", "deactivate").await;
    assert_eq!(answer(app, &newest).await, StatusCode::UNAUTHORIZED);
    assert_eq!(answer(app, &fourth).await, StatusCode::UNAUTHORIZED);
    let on = app.key_action("rotating", "activate").await;
    assert_eq!(on.previous_masked_key, None);
    assert_eq!(answer(app, &fourth).await, StatusCode::OK);
    assert_eq!(answer(app, &newest).await, StatusCode::UNAUTHORIZED);

    let rotated = events_for(app, "api_key.rotated", "rotating", 3).await;
    assert_eq!(rotated.len(), 3);
    assert!(rotated.iter().all(|e| e.actor == ADMIN_EMAIL));
    let graces: Vec<_> = rotated
        .iter()
        .map(|e| e.details["grace_seconds"].clone())
        .collect();
    assert!(graces.contains(&Detail::Value(DetailValue::Number(3600))));
    assert!(graces.contains(&Detail::Value(DetailValue::Number(0))));
    let dump = app.dump_database().await;
    for secret in [&old, &new, &newest, &fourth] {
        assert!(
            !dump.contains(secret.as_str()),
            "a raw key reached the database"
        );
    }
}

async fn a_second_rotation_ends_the_first_old_secret(app: &TestApp) {
    let (_, first) = app.create_key("twice", &["admin"]).await;
    let (second, _) = rotate(app, "twice", 3600).await;
    assert_eq!(answer(app, &first).await, StatusCode::OK);
    let (third, _) = rotate(app, "twice", 3600).await;
    // One previous secret at most: the first ends now, the second takes its place.
    assert_eq!(answer(app, &first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(answer(app, &second).await, StatusCode::OK);
    assert_eq!(answer(app, &third).await, StatusCode::OK);
}

async fn a_leak_report_stops_live_secrets_and_tells_nobody(app: &TestApp) {
    let (leaked_key, leaked) = app.create_key("leaky", &["admin"]).await;
    let (_, bystander) = app.create_key("bystander", &["admin"]).await;
    let report = |keys: Vec<&str>| json!({ "keys": keys });

    // Unauthenticated; 202 with the count received, whatever matched.
    let started = Instant::now();
    let (status, body) = app
        .call(
            Method::POST,
            "/api/api-keys/leaked",
            None,
            Some(report(vec![
                &leaked,
                "not a key",
                "hpk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            ])),
        )
        .await;
    let matched_took = started.elapsed();
    assert_eq!(
        (status, body),
        (StatusCode::ACCEPTED, json!({"received": 3}))
    );
    let started = Instant::now();
    let (status, body) = app
        .call(
            Method::POST,
            "/api/api-keys/leaked",
            None,
            Some(report(vec!["hpk_nothing"])),
        )
        .await;
    let unmatched_took = started.elapsed();
    assert_eq!(
        (status, body),
        (StatusCode::ACCEPTED, json!({"received": 1}))
    );
    // Neither answers before the fixed time, so a match cannot be told by a fast answer.
    assert!(
        matched_took >= Duration::from_millis(300),
        "{matched_took:?}"
    );
    assert!(
        unmatched_took >= Duration::from_millis(300),
        "{unmatched_took:?}"
    );

    // The reported key stopped working by the answer; the other did not.
    assert_eq!(answer(app, &leaked).await, StatusCode::UNAUTHORIZED);
    assert_eq!(answer(app, &bystander).await, StatusCode::OK);
    let key = app.api_key("leaky").await;
    assert_eq!(key.status, KeyStatus::Deactivated);
    assert_eq!(key.deactivated_by.as_deref(), Some("leak-report"));
    let events = events_for(app, "api_key.leak_reported", "leaky", 1).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor, "leak-report");
    assert_eq!(events[0].target.id, leaked_key.id.to_string());
    assert_eq!(
        events[0].details["reporter_ip"],
        Detail::Value("127.0.0.1".into())
    );
    assert_eq!(
        events[0].details["masked_key"],
        Detail::Value(leaked_key.masked_key.as_str().into())
    );
    let dump = app.dump_database().await;
    assert!(
        !dump.contains(&leaked),
        "the reported key reached the database"
    );

    // Reported again: nothing more happens (it is no longer a live secret).
    app.call(
        Method::POST,
        "/api/api-keys/leaked",
        None,
        Some(report(vec![&leaked])),
    )
    .await;
    assert_eq!(
        events_now(app, "api_key.leak_reported", "leaky")
            .await
            .len(),
        1
    );

    // The old secret of a rotation, in its overlap, is a live secret too.
    let (_, old) = app.create_key("rotated-leak", &["admin"]).await;
    let (new, _) = rotate(app, "rotated-leak", 600).await;
    app.call(
        Method::POST,
        "/api/api-keys/leaked",
        None,
        Some(report(vec![&old])),
    )
    .await;
    assert_eq!(answer(app, &new).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.api_key("rotated-leak").await.deactivated_by.as_deref(),
        Some("leak-report")
    );

    // Bounds: 1 to 100 strings.
    for bad in [json!({"keys": []}), json!({"keys": vec!["x"; 101]})] {
        let (status, body) = app
            .call(Method::POST, "/api/api-keys/leaked", None, Some(bad))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["field"], "keys");
    }
}

/// Issue 26 (LOW): reporting a deactivated or expired key answered 202 and recorded nothing, and
/// activating it (or extending its expiry) later brought the leaked secret back silently. Now
/// every key a reported secret names is marked; reviving its secret needs a rotation or an
/// explicit `accept_reported_secret`, and either clears the mark.
async fn a_reported_secret_does_not_come_back_unnoticed(app: &TestApp) {
    async fn leaked(app: &TestApp, secret: String) {
        let body = json!({ "keys": [secret] });
        let (status, _) = app
            .call(Method::POST, "/api/api-keys/leaked", None, Some(body))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let activate = |body: Value| async move {
        app.post("/api/api-keys/dormant/activate", &app.admin_token, body)
            .await
    };

    // A deactivated key: the report marks it, and it stays deactivated by the admin.
    let (_, dormant) = app.create_key("dormant", &["admin"]).await;
    app.key_action("dormant", "deactivate").await;
    leaked(app, dormant.clone()).await;
    let key = app.api_key("dormant").await;
    assert!(key.leak_reported_at.is_some(), "{key:?}");
    assert_eq!(key.status, KeyStatus::Deactivated);
    assert_eq!(key.deactivated_by.as_deref(), Some(ADMIN_EMAIL));
    let events = events_for(app, "api_key.leak_reported", "dormant", 1).await;
    assert!(!events[0].details.contains_key("status"), "{events:?}");
    // Reported again: it is marked already, nothing more is written.
    leaked(app, dormant.clone()).await;
    assert_eq!(
        events_now(app, "api_key.leak_reported", "dormant")
            .await
            .len(),
        1
    );

    // Activation, with or without a body, is refused and says why and what to do.
    for body in [
        json!({}),
        json!({"accept_reported_secret": false}),
        Value::Null,
    ] {
        let (status, answer_body) = activate(body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {answer_body}"
        );
        assert_eq!(answer_body["field"], "accept_reported_secret");
        assert!(
            answer_body["message"].as_str().unwrap().contains("rotate"),
            "{answer_body}"
        );
    }
    assert_eq!(answer(app, &dormant).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.api_key("dormant").await.status, KeyStatus::Deactivated);

    // Said explicitly, the same secret comes back, the mark goes, and the log says it was known.
    let (status, body) = activate(json!({"accept_reported_secret": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["leak_reported_at"], Value::Null);
    assert_eq!(answer(app, &dormant).await, StatusCode::OK);
    let activated = events_for(app, "api_key.activated", "dormant", 1).await;
    assert_eq!(
        activated[0].details.get("accepted_reported_secret"),
        Some(&Detail::Value(DetailValue::Flag(true)))
    );

    // An expired key: the report deactivates and marks it; a later expiry alone does not
    // bring it back, and activation needs the rotation or the word.
    let (_, expiring) = create_expiring(app, "expiring", now(app) + days(1)).await;
    app.clock.advance(days(2));
    assert_eq!(answer(app, &expiring).await, StatusCode::UNAUTHORIZED);
    leaked(app, expiring.clone()).await;
    let key = app.api_key("expiring").await;
    assert!(key.leak_reported_at.is_some(), "{key:?}");
    assert_eq!(key.deactivated_by.as_deref(), Some("leak-report"));
    let later = rfc3339(now(app) + days(30));
    let (status, body) = app
        .put(
            "/api/api-keys/expiring",
            &app.admin_token,
            json!({ "expires_at": later }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(answer(app, &expiring).await, StatusCode::UNAUTHORIZED);
    let (status, body) = app
        .post(
            "/api/api-keys/expiring/activate",
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "accept_reported_secret");

    // A rotation is the way: a deactivated key can be rotated (no overlap: its secret works no
    // longer), stays deactivated, loses the mark, and activates with its new secret only.
    let (status, body) = app
        .post(
            "/api/api-keys/expiring/rotate",
            &app.admin_token,
            json!({"grace_seconds": 60}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "grace_seconds");
    let (fresh, body) = rotate(app, "expiring", 0).await;
    assert_eq!(body["status"], "deactivated");
    assert_eq!(body["leak_reported_at"], Value::Null);
    assert_eq!(answer(app, &fresh).await, StatusCode::UNAUTHORIZED);
    let (status, body) = app
        .post(
            "/api/api-keys/expiring/activate",
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(answer(app, &fresh).await, StatusCode::OK);
    assert_eq!(answer(app, &expiring).await, StatusCode::UNAUTHORIZED);

    // The old secret, reported now, names nothing the key has: nothing more happens to it.
    leaked(app, expiring).await;
    assert_eq!(answer(app, &fresh).await, StatusCode::OK);
}

/// Issue 26 (LOW): on SQLite, concurrent activations, deactivations and rotations of one key in
/// use left, in 5 of 150 rounds, a key stored as active whose current secret got 401 until a
/// restart: an activation let in the secret it had read before a rotation committed. Holds:
/// after every round, the stored state decides: active, its current secret works; deactivated,
/// it does not.
/// (The secret in use is refused often meanwhile, so failures are not limited here.) SQLite,
/// where the key service itself keeps the set in commit order; on PostgreSQL the change feed
/// does (`replicas::new_keys_work_on_every_replica_at_once_and_their_state_follows`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_changes_leaves_the_stored_state_in_force() {
    let gateway = spawn_app_with(Backend::Sqlite, |c| c.auth_failures_per_minute = 1_000_000).await;
    let app = &gateway;
    let (_, first) = app.create_key("stormy", &["admin"]).await;
    let mut secrets = vec![first];
    let admin = app.admin_token.as_str();
    for round in 0..150 {
        let in_use = secrets.last().unwrap().clone();
        let calls = ["deactivate", "activate", "rotate"]
            .repeat(2)
            .into_iter()
            .map(|action| {
                let path = format!("/api/api-keys/stormy/{action}");
                async move { app.post(&path, admin, json!({})).await }
            });
        let (answers, _) =
            tokio::join!(futures_util::future::join_all(calls), answer(app, &in_use));
        for (status, body) in answers {
            if let (StatusCode::OK, Some(key)) = (status, body["key"].as_str()) {
                secrets.push(key.to_owned());
            }
        }
        let (_, key) = app.get("/api/api-keys/stormy", admin).await;
        // The preview shows 4 characters: another secret may share them, so ask each.
        let masked = key["masked_key"].as_str().unwrap();
        let mut answers = Vec::new();
        for secret in secrets.iter().filter(|s| masked.starts_with(&s[..8])) {
            answers.push(answer(app, secret).await);
        }
        let active = key["status"] == "active";
        let works = answers.contains(&StatusCode::OK);
        assert_eq!(works, active, "round {round}: {answers:?} {key}");
    }
    gateway.stop().await;
}

async fn bad_lifecycle_requests_are_refused_clearly(app: &TestApp) {
    let past = rfc3339(now(app) - TimeDelta::minutes(1));
    let (status, body) = app
        .post(
            "/api/api-keys",
            &app.admin_token,
            json!({"name": "late", "groups": ["admin"], "expires_at": past}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "expires_at");
    let (status, body) = app
        .post(
            "/api/api-keys",
            &app.admin_token,
            json!({"name": "late", "groups": ["admin"], "expires_at": "tomorrow"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "expires_at");

    app.create_key("rot", &["admin"]).await;
    for grace in [json!(-1), json!(30 * 86400 + 1), json!("1h")] {
        let (status, body) = app
            .post(
                "/api/api-keys/rot/rotate",
                &app.admin_token,
                json!({"grace_seconds": grace}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{grace}: {body}");
        assert_eq!(body["field"], "grace_seconds");
    }
    let (status, _) = app
        .post("/api/api-keys/nope/rotate", &app.admin_token, json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.key_action("rot", "deactivate").await;
    // A deactivated key's secret works no longer: a rotation of it has nothing to overlap.
    let (status, body) = app
        .post(
            "/api/api-keys/rot/rotate",
            &app.admin_token,
            json!({"grace_seconds": 60}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "grace_seconds");

    // The optional bodies: absent or null is the default; one that is there must be JSON.
    let (status, body) = app
        .call(
            Method::POST,
            "/api/api-keys/rot/activate",
            Some(&app.admin_token),
            Some(Value::Null),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let response = app
        .request(
            Method::POST,
            "/api/api-keys/rot/rotate",
            Some(&app.admin_token),
        )
        .header("content-type", "text/plain")
        .body(r#"{"grace_seconds": 60}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Only admins rotate.
    app.create_group("ops").await;
    let (_, scoped) = app.create_key("scoped", &["ops"]).await;
    let (status, _) = app
        .post("/api/api-keys/scoped/rotate", &scoped, json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn with_policy(backend: Backend, policy: KeyPolicy) -> TestApp {
    spawn_app_with(backend, |c| c.key_policy = policy).await
}

/// `HOOP_API_KEY_MAX_LIFETIME_DAYS`: no key without an expiry, none past the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_maximum_lifetime_is_enforced_on_create_and_put() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = with_policy(
            backend,
            KeyPolicy {
                max_lifetime_days: Some(30),
                ..KeyPolicy::default()
            },
        )
        .await;
        let create =
            |expires: Value| json!({"name": "bounded", "groups": ["admin"], "expires_at": expires});
        for refused in [Value::Null, json!(rfc3339(now(&app) + TimeDelta::days(31)))] {
            let (status, body) = app
                .post("/api/api-keys", &app.admin_token, create(refused))
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert_eq!(body["field"], "expires_at");
            assert!(
                body["message"].as_str().unwrap().contains("30 days"),
                "{body}"
            );
        }
        let (status, body) = app
            .post(
                "/api/api-keys",
                &app.admin_token,
                create(json!(rfc3339(now(&app) + TimeDelta::days(30)))),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = app
            .put(
                "/api/api-keys/bounded",
                &app.admin_token,
                json!({"expires_at": null}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["message"]
            .as_str()
            .unwrap()
            .contains("HOOP_API_KEY_MAX_LIFETIME_DAYS"));
        app.stop().await;
    }
}

/// Issue 26: with `HOOP_API_KEY_MAX_LIFETIME_DAYS` set after keys existed, activation without a
/// body revived a key that never expires, and rotation gave such a key a new secret that never
/// expires. Holds: every path that gives a secret life meets the limit, or is 422 naming it and
/// changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_maximum_lifetime_has_no_side_doors() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = spawn_app(backend).await;
        let (_, never) = app.create_key("never", &["admin"]).await;
        let (_, far) = create_expiring(&app, "far", now(&app) + TimeDelta::days(365)).await;
        app.create_key("asleep", &["admin"]).await;
        let (status, _) = app
            .post(
                "/api/api-keys/asleep/deactivate",
                &app.admin_token,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let app = app
            .restart_with(|c| c.key_policy.max_lifetime_days = Some(30))
            .await;
        let refused = |(status, body): (StatusCode, Value)| {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert_eq!(body["field"], "expires_at", "{body}");
            let message = body["message"].as_str().unwrap();
            assert!(message.contains("HOOP_API_KEY_MAX_LIFETIME_DAYS"), "{body}");
        };
        let admin = app.admin_token.clone();
        refused(
            app.post("/api/api-keys/asleep/activate", &admin, json!({}))
                .await,
        );
        let activate = app.request(Method::POST, "/api/api-keys/asleep/activate", Some(&admin));
        refused(read(activate.send().await.unwrap()).await);
        for name in ["never", "far"] {
            let path = format!("/api/api-keys/{name}/rotate");
            refused(app.post(&path, &admin, json!({"grace_seconds": 0})).await);
            let path = format!("/api/api-keys/{name}");
            refused(
                app.put(&path, &admin, json!({"name": format!("{name}-2")}))
                    .await,
            );
        }
        // Nothing changed: the secrets still work, the sleeping key still sleeps.
        assert_eq!(answer(&app, &never).await, StatusCode::OK);
        assert_eq!(answer(&app, &far).await, StatusCode::OK);
        let (_, asleep) = app.get("/api/api-keys/asleep", &admin).await;
        assert_eq!(asleep["status"], "deactivated", "{asleep}");

        // Within the limit each works.
        let soon = json!({"expires_at": rfc3339(now(&app) + TimeDelta::days(10))});
        let (status, body) = app
            .post("/api/api-keys/asleep/activate", &admin, soon.clone())
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = app.put("/api/api-keys/never", &admin, soon).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        rotate(&app, "never", 0).await;
        app.stop().await;
    }
}

/// `HOOP_API_KEY_DEACTIVATE_UNUSED_DAYS`: driven by the gateway's clock, not by waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_unused_too_long_are_deactivated_by_the_system() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = with_policy(
            backend,
            KeyPolicy {
                deactivate_unused_days: Some(90),
                ..KeyPolicy::default()
            },
        )
        .await;
        let (_, idle) = app.create_key("idle", &["admin"]).await;
        let (_, busy) = app.create_key("busy", &["admin"]).await;
        app.clock.advance(days(89));
        assert_eq!(answer(&app, &busy).await, StatusCode::OK);
        // The use reaches the database (about once a second).
        let start = Instant::now();
        while app.api_key("busy").await.last_used_at.is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "use never recorded"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        app.clock.advance(days(2));
        let events = events_for(&app, "api_key.deactivated", "idle", 1).await;
        assert_eq!(
            events.len(),
            1,
            "the never-used key is deactivated within the hour"
        );
        assert_eq!(events[0].actor, "system");
        match &events[0].details["reason"] {
            Detail::Value(DetailValue::Text(reason)) => assert!(reason.contains("90 days")),
            other => panic!("no reason: {other:?}"),
        }
        assert_eq!(answer(&app, &idle).await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            app.api_key("idle").await.deactivated_by.as_deref(),
            Some("system")
        );
        // Used 2 days ago by the gateway's clock: kept.
        assert_eq!(app.api_key("busy").await.status, KeyStatus::Active);
        assert_eq!(answer(&app, &busy).await, StatusCode::OK);
        app.stop().await;
    }
}

/// Two replicas on one database refuse an expired key and an ended overlap at the same second,
/// and see each other's rotations at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_agree_on_expiry_and_overlap() {
    let a = spawn_app(Backend::Postgres).await;
    let b = a.spawn_replica().await;

    let (_, expiring) = create_expiring(&a, "expiring", now(&a) + TimeDelta::hours(2)).await;
    let (_, old) = a.create_key("overlapping", &["admin"]).await;
    for app in [&a, &b] {
        assert_eq!(answer(app, &expiring).await, StatusCode::OK);
        assert_eq!(answer(app, &old).await, StatusCode::OK);
    }
    let (status, body) = b
        .post(
            "/api/api-keys/overlapping/rotate",
            &b.admin_token,
            json!({"grace_seconds": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new = body["key"].as_str().unwrap().to_owned();
    // The new secret works on the other replica at once; the old one still does there.
    assert_eq!(answer(&a, &new).await, StatusCode::OK);
    assert_eq!(answer(&a, &old).await, StatusCode::OK);

    a.clock.advance(Duration::from_secs(3601));
    for app in [&a, &b] {
        assert_eq!(answer(app, &old).await, StatusCode::UNAUTHORIZED);
        assert_eq!(answer(app, &new).await, StatusCode::OK);
        assert_eq!(answer(app, &expiring).await, StatusCode::OK);
    }
    a.clock.advance(Duration::from_secs(3600));
    for app in [&a, &b] {
        assert_eq!(answer(app, &expiring).await, StatusCode::UNAUTHORIZED);
    }
    // Both replicas sweep; the expiry is announced once.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(events_now(&a, "api_key.expired", "expiring").await.len(), 1);
    b.stop().await;
    a.stop().await;
}
