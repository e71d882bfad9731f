//! Crashes, shutdowns and a database that goes away, on the real binary where a process dies.

use crate::helpers::*;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// SIGTERM lets a request that is running finish, then writes `last_used_at` before exiting.
#[tokio::test]
async fn sigterm_drains_in_flight_requests_and_records_key_use() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let mut gw = Gateway::start(&[("HOOP_DATA_DIR", data)]).await;
    let client = Client::new();
    let token = gw.admin_token().await;
    let raw = gw.create_key(&token, "drained").await;

    // A script that takes a while on the seeded demo connection.
    let slow = client
        .post(gw.url("/api/connections/demo/exec"))
        .bearer_auth(&raw)
        .json(&json!({"script": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) SELECT count(*) AS n FROM c"}))
        .send();
    let slow = tokio::spawn(slow);
    tokio::time::sleep(Duration::from_millis(150)).await;
    gw.signal("TERM");
    let answer = slow
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(answer.status(), StatusCode::OK);
    let body: Value = answer.json().await.unwrap();
    assert!(body.to_string().contains("2000000"), "{body}");
    let status = tokio::task::spawn_blocking(move || gw.wait())
        .await
        .unwrap();
    assert!(status.success(), "exit after SIGTERM: {status}");

    let db = sqlx::SqlitePool::connect(&format!("sqlite://{data}/hoop.db"))
        .await
        .unwrap();
    let used: Option<String> =
        sqlx::query_scalar("SELECT last_used_at FROM api_keys WHERE name = 'drained'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert!(used.is_some(), "last_used_at flushed on shutdown");
}

#[tokio::test]
async fn sigkill_during_changes_loses_nothing_answered_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/hoop.db", dir.path().display());
    sigkill_during_changes_loses_nothing_answered(&url).await;
}

#[tokio::test]
async fn sigkill_during_changes_loses_nothing_answered_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _) = fresh_database(Backend::Postgres, dir.path()).await;
    sigkill_during_changes_loses_nothing_answered(&url).await;
    let name = url.rsplit('/').next().unwrap().to_owned();
    let admin = sqlx::PgPool::connect(&postgres_admin_url()).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
}

/// What the gateway said it did to one key before it died.
#[derive(Default, Debug, Clone)]
struct Acked {
    raw: String,
    id: String,
    renamed_to: Option<String>,
    deactivated: bool,
}

async fn sigkill_during_changes_loses_nothing_answered(url: &str) {
    // Deactivated keys are checked below: their 401s are expected, not an attack.
    let env = [
        ("DATABASE_URL", url),
        ("HOOP_AUTH_FAILURES_PER_MINUTE", "100000"),
    ];
    let gw = Gateway::start(&env).await;
    let client = Client::new();
    let token = gw.admin_token().await;
    let acked: Arc<Mutex<HashMap<String, Acked>>> = Arc::default();

    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (client, token, acked, base) = (
                client.clone(),
                token.clone(),
                acked.clone(),
                gw.base.clone(),
            );
            tokio::spawn(async move {
                for n in 0.. {
                    let name = format!("w{w}-{n}");
                    let Ok(r) = client
                        .post(format!("{base}/api/api-keys"))
                        .bearer_auth(&token)
                        .json(&json!({"name": name, "groups": ["admin"]}))
                        .send()
                        .await
                    else {
                        return;
                    };
                    if r.status() != StatusCode::CREATED {
                        return;
                    }
                    let Ok(body) = r.json::<Value>().await else {
                        return;
                    };
                    let entry = Acked {
                        raw: body["key"].as_str().unwrap().to_owned(),
                        id: body["id"].as_str().unwrap().to_owned(),
                        ..Acked::default()
                    };
                    acked.lock().unwrap().insert(name.clone(), entry.clone());
                    let renamed = format!("{name}-r");
                    let ok = client
                        .put(format!("{base}/api/api-keys/{}", entry.id))
                        .bearer_auth(&token)
                        .json(&json!({"name": renamed}))
                        .send()
                        .await
                        .is_ok_and(|r| r.status() == StatusCode::OK);
                    if !ok {
                        return;
                    }
                    acked.lock().unwrap().get_mut(&name).unwrap().renamed_to = Some(renamed);
                    if n % 2 == 0 {
                        let ok = client
                            .post(format!("{base}/api/api-keys/{}/deactivate", entry.id))
                            .bearer_auth(&token)
                            .send()
                            .await
                            .is_ok_and(|r| r.status() == StatusCode::OK);
                        if !ok {
                            return;
                        }
                        acked.lock().unwrap().get_mut(&name).unwrap().deactivated = true;
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    gw.signal("KILL");
    for w in workers {
        w.await.unwrap();
    }
    drop(gw);
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 4, "the load got going: {acked:?}");

    let gw = Gateway::start(&env).await;
    let token = gw.admin_token().await;
    let (gw, token) = (&gw, &token);
    let get = |path: String| async move {
        let page = gw
            .json(reqwest::Method::GET, &path, Some(token), None)
            .await;
        page.as_array().unwrap().clone()
    };
    let keys = get("/api/api-keys".to_owned()).await;
    // The whole audit log, page by page (a page holds at most 500 events).
    let mut events: Vec<Value> = Vec::new();
    loop {
        let before = events.last().map(|e| format!("&before={}", e["id"]));
        let page = get(format!(
            "/api/audit?limit=500{}",
            before.unwrap_or_default()
        ))
        .await;
        if page.is_empty() {
            break;
        }
        events.extend(page);
    }
    let by_id: HashMap<&str, &Value> = keys
        .iter()
        .map(|k| (k["id"].as_str().unwrap(), k))
        .collect();
    let events_of = |id: &str| -> Vec<&str> {
        events
            .iter()
            .filter(|e| e["target"]["id"] == id)
            .map(|e| e["action"].as_str().unwrap())
            .collect()
    };

    // Everything answered 2xx is there, with its audit events.
    for (name, a) in &acked {
        let key = by_id
            .get(a.id.as_str())
            .unwrap_or_else(|| panic!("{name} was acknowledged but is gone"));
        // An answer lost to the kill may still have committed: only what was acknowledged is
        // certain.
        match &a.renamed_to {
            Some(renamed) => assert_eq!(key["name"], renamed.as_str()),
            None => assert!(key["name"] == name.as_str() || key["name"] == format!("{name}-r")),
        }
        let actions = events_of(&a.id);
        assert!(actions.contains(&"api_key.created"), "{name}: {actions:?}");
        if a.renamed_to.is_some() {
            assert!(actions.contains(&"api_key.updated"), "{name}: {actions:?}");
        }
        if a.deactivated {
            assert_eq!(key["status"], "deactivated");
            assert!(actions.contains(&"api_key.deactivated"));
        }
        let status = client
            .get(gw.url("/api/userinfo"))
            .bearer_auth(&a.raw)
            .send()
            .await
            .unwrap()
            .status();
        let want = if key["status"] == "active" { 200 } else { 401 };
        assert_eq!(status, want, "{name}");
    }
    // No half-written key: each one, acknowledged or not, is whole and has its whole history;
    // and no event names a key that does not exist.
    for key in &keys {
        let id = key["id"].as_str().unwrap();
        assert!(!key["groups"].as_array().unwrap().is_empty(), "{key}");
        assert!(key["masked_key"].as_str().unwrap().starts_with("hpk_"));
        let actions = events_of(id);
        assert_eq!(
            actions.iter().filter(|a| **a == "api_key.created").count(),
            1,
            "{key}"
        );
        let renamed = key["name"].as_str().unwrap().ends_with("-r");
        assert_eq!(
            renamed,
            actions.contains(&"api_key.updated"),
            "{key}: {actions:?}"
        );
        let deactivated = key["status"] == "deactivated";
        assert_eq!(
            deactivated,
            actions.contains(&"api_key.deactivated"),
            "{key}"
        );
    }
    for e in events.iter().filter(|e| e["target"]["type"] == "api_key") {
        assert!(
            by_id.contains_key(e["target"]["id"].as_str().unwrap()),
            "{e}"
        );
    }
}

/// A TCP forwarder between the gateway and PostgreSQL that the test can cut and restore.
struct Link {
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Link {
    async fn open(port: u16) -> Link {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let conns = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut db) = tokio::net::TcpStream::connect("127.0.0.1:5432").await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut db).await;
                    }
                });
                conns.lock().unwrap().push(conn);
            }
        });
        tasks.lock().unwrap().push(accept);
        Link { tasks }
    }

    /// Every connection through the link dies, and new ones are refused.
    fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_answers_503_then_recovers_by_itself() {
    let port = free_port();
    let link = Link::open(port).await;
    // The database is created directly; the gateway reaches it through the link.
    let app = spawn_app_with(Backend::Postgres, |config| {
        let url = config.database_url.as_ref().unwrap().expose().to_owned();
        let proxied = url.replace("127.0.0.1:5432", &format!("127.0.0.1:{port}"));
        assert_ne!(url, proxied, "tests reach PostgreSQL on 127.0.0.1:5432");
        config.database_url = Some(hoop::secret::SecretString::new(proxied));
    })
    .await;
    let (_, raw) = app.create_key("through-outage", &["admin"]).await;
    assert_eq!(app.status_with("/api/userinfo", &raw).await, StatusCode::OK);

    link.cut();
    // The feed's connection died with the link; until the gateway has read that (at once for
    // a closed connection, within the feed's quiet limit for a silent one) a cached key is
    // still admitted from memory, which is right: nothing could have changed it meanwhile.
    let noticed = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, health) = app
            .call(reqwest::Method::GET, "/api/healthz", None, None)
            .await;
        if health["key_cache"] == "database" {
            break;
        }
        assert!(
            Instant::now() < noticed,
            "a cut feed is still trusted: {health}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for path in ["/api/api-keys", "/api/userinfo"] {
        let started = Instant::now();
        let response = app
            .request(reqwest::Method::GET, path, Some(&raw))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .expect("an answer, not a hang");
        let status = response.status();
        let (_, body) = read(response).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
        assert_eq!(body["message"], "database unavailable");
        eprintln!("{path}: 503 after {:?}", started.elapsed());
    }
    let _link = Link::open(port).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = app.status_with("/api/api-keys", &raw).await;
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(Instant::now() < deadline, "did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.status_with("/api/userinfo", &raw).await, StatusCode::OK);
    app.stop().await;
}
