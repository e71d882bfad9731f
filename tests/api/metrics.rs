//! Prometheus metrics, through the real binary: served on `HOOP_METRICS_LISTEN` only (and
//! nothing listens for them without it), counters that move with what the gateway does, and
//! labels that hold no key name, no secret, no connection.

use crate::{
    connections::sqlite_target,
    helpers::{self, *},
};
use hoop::config::ServeConfig;
use reqwest::{Client, Method};
use serde_json::{json, Value};
use std::{collections::BTreeSet, time::Duration};

async fn scrape(base: &str) -> String {
    let response = Client::new()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    response.text().await.unwrap()
}

/// The sum of the samples of `name` whose labels include `labels` (0 when there is none).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let has = |(k, v): &(&str, &str)| rest.split(',').any(|p| p == format!("{k}=\"{v}\""));
            (metric == name && labels.iter().all(has)).then(|| value.parse::<f64>().unwrap())
        })
        .sum()
}

/// The TCP ports process `pid` listens on, read from /proc: its socket inodes, matched against
/// the kernel's table of listening sockets.
fn listening_ports(pid: u32) -> BTreeSet<u16> {
    let sockets: BTreeSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?;
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    let mut ports = BTreeSet::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // st 0A is LISTEN.
            if fields.len() > 9 && fields[3] == "0A" && sockets.contains(fields[9]) {
                let port = fields[1].rsplit(':').next().unwrap();
                ports.insert(u16::from_str_radix(port, 16).unwrap());
            }
        }
    }
    ports
}

fn port_of(base: &str) -> u16 {
    base.rsplit(':').next().unwrap().parse().unwrap()
}

async fn status(method: Method, url: String, bearer: Option<&str>, body: Option<Value>) -> u16 {
    let mut request = Client::new().request(method, url);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn until_keys_from_memory(gw: &Gateway) {
    for _ in 0..200 {
        let health = gw.json(Method::GET, "/api/healthz", None, None).await;
        if health["key_cache"] == "memory" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("keys never verified from memory");
}

/// Every token of the gateway's users expires now (there is no waiting twelve hours).
async fn expire_user_tokens(backend: Backend, url: &str) {
    let past = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    let sql = "UPDATE user_tokens SET expires_at = $1";
    match backend {
        Backend::Sqlite => {
            let db = sqlx::SqlitePool::connect(url).await.unwrap();
            sqlx::query(sql).bind(past).execute(&db).await.unwrap();
            db.close().await;
        }
        Backend::Postgres => {
            let db = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::query(sql).bind(past).execute(&db).await.unwrap();
            db.close().await;
        }
    }
}

async fn counters_move_with_what_the_gateway_does(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (database_url, _) = fresh_database(backend, dir.path()).await;
    let metrics_port = free_port();
    let metrics = format!("http://127.0.0.1:{metrics_port}");
    let mut gw = Gateway::start(&[
        ("DATABASE_URL", &database_url),
        ("HOOP_METRICS_LISTEN", &format!("127.0.0.1:{metrics_port}")),
    ])
    .await;
    assert_eq!(
        listening_ports(gw.child.id()),
        BTreeSet::from([port_of(&gw.base), metrics_port]),
        "the gateway and its metrics, nothing else"
    );
    until_keys_from_memory(&gw).await;
    let start = scrape(&metrics).await;
    assert_eq!(sample(&start, "hoop_key_cache_trusted", &[]), 1.0);
    assert!(sample(&start, "hoop_db_pool_max_connections", &[("pool", "main")]) >= 1.0);
    assert!(sample(&start, "hoop_db_pool_connections", &[("pool", "main")]) >= 1.0);
    assert_eq!(
        sample(
            &start,
            "hoop_audit_events_total",
            &[("action", "user.created")]
        ),
        1.0,
        "the first admin, created at start-up"
    );

    let token = gw.admin_token().await;
    let key = gw.create_key(&token, "payroll-export-bot").await;
    let userinfo = gw.url("/api/userinfo");
    for _ in 0..3 {
        assert_eq!(
            status(Method::GET, userinfo.clone(), Some(&key), None).await,
            200
        );
    }
    let unknown = &format!("hpk_{}", "A".repeat(43));
    assert_eq!(
        status(Method::GET, userinfo.clone(), Some(unknown), None).await,
        401
    );
    assert_eq!(
        status(Method::GET, userinfo.clone(), Some("hpk_short"), None).await,
        401
    );

    let target = sqlite_target(dir.path(), "ledger").await;
    let connection = json!({"name": "ledger-db-7", "type": "sqlite", "target": target});
    let created = status(
        Method::POST,
        gw.url("/api/connections"),
        Some(&token),
        Some(connection),
    )
    .await;
    assert_eq!(created, 201);
    let exec = gw.url("/api/connections/ledger-db-7/exec");
    let run = |script: &str| json!({ "script": script });
    assert_eq!(
        status(
            Method::POST,
            exec.clone(),
            Some(&key),
            Some(run("SELECT * FROM items"))
        )
        .await,
        200
    );
    assert_eq!(
        status(
            Method::POST,
            exec.clone(),
            Some(&key),
            Some(run("SELECT * FROM nothing_here"))
        )
        .await,
        200
    );
    assert_eq!(
        status(Method::POST, exec.clone(), Some(&key), Some(run("  "))).await,
        422
    );

    let before = scrape(&metrics).await;
    let deactivate = gw.url("/api/api-keys/payroll-export-bot/deactivate");
    assert_eq!(
        status(Method::POST, deactivate, Some(&token), None).await,
        200
    );
    assert_eq!(
        status(Method::GET, userinfo.clone(), Some(&key), None).await,
        401
    );
    expire_user_tokens(backend, &database_url).await;
    assert_eq!(
        status(Method::GET, userinfo.clone(), Some(&token), None).await,
        401
    );
    let after = scrape(&metrics).await;

    // Requests, by method, route as declared, and status.
    let requests = |text: &str, method: &str, route: &str, status: &str| {
        let labels = [("method", method), ("route", route), ("status", status)];
        sample(text, "hoop_http_requests_total", &labels)
    };
    assert_eq!(requests(&before, "GET", "/api/userinfo", "200"), 3.0);
    assert_eq!(requests(&before, "GET", "/api/userinfo", "401"), 2.0);
    assert_eq!(requests(&after, "GET", "/api/userinfo", "401"), 4.0);
    assert_eq!(
        requests(&before, "POST", "/api/connections/{name}/exec", "200"),
        2.0
    );
    assert_eq!(
        requests(&before, "POST", "/api/connections/{name}/exec", "422"),
        1.0
    );
    let deactivations = "/api/api-keys/{name_or_id}/deactivate";
    assert_eq!(requests(&before, "POST", deactivations, "200"), 0.0);
    assert_eq!(requests(&after, "POST", deactivations, "200"), 1.0);
    let timed = [("route", "/api/userinfo"), ("status", "200")];
    assert_eq!(
        sample(&after, "hoop_http_request_duration_seconds_count", &timed),
        3.0
    );
    assert!(sample(&after, "hoop_http_request_duration_seconds_sum", &timed) > 0.0);

    // Authentications, by method and outcome.
    let auths = |text: &str, method: &str, outcome: &str| {
        let labels = [("method", method), ("outcome", outcome)];
        sample(text, "hoop_authentications_total", &labels)
    };
    assert_eq!(auths(&before, "password", "ok"), 1.0);
    assert_eq!(
        auths(&before, "api_key", "ok"),
        6.0,
        "three userinfo, three execs"
    );
    assert_eq!(auths(&before, "api_key", "unknown"), 1.0);
    assert_eq!(auths(&before, "api_key", "malformed"), 1.0);
    assert!(auths(&before, "user_token", "ok") >= 2.0);
    assert_eq!(auths(&before, "user_token", "expired"), 0.0);
    // A deactivated key is refused as an unknown one is: the same path, no database read.
    assert_eq!(auths(&after, "api_key", "unknown"), 2.0);
    assert_eq!(auths(&after, "api_key", "ok"), 6.0);
    assert_eq!(auths(&after, "user_token", "expired"), 1.0);
    assert_eq!(auths(&after, "api_key", "throttled"), 0.0);

    // The key cache: the first use read the database and filled it, the later ones hit it.
    let grew = |name: &str| sample(&before, name, &[]) - sample(&start, name, &[]);
    assert!(grew("hoop_key_cache_fills_total") >= 1.0);
    assert!(grew("hoop_key_cache_hits_total") >= 1.0);
    assert!(
        grew("hoop_key_cache_misses_total") >= 2.0,
        "the unknown key and the first use"
    );

    // Execs, by connection type and outcome.
    let execs = |outcome: &str| {
        sample(
            &after,
            "hoop_exec_total",
            &[("type", "sqlite"), ("outcome", outcome)],
        )
    };
    assert_eq!(
        (execs("success"), execs("failed"), execs("refused")),
        (1.0, 1.0, 1.0)
    );
    let ran = [("type", "sqlite"), ("outcome", "success")];
    assert_eq!(
        sample(&after, "hoop_exec_duration_seconds_count", &ran),
        1.0
    );

    // Audit events, by action, once committed.
    let audited =
        |text: &str, action: &str| sample(text, "hoop_audit_events_total", &[("action", action)]);
    assert_eq!(audited(&before, "api_key.created"), 1.0);
    assert_eq!(audited(&before, "connection.created"), 1.0);
    assert_eq!(audited(&before, "api_key.deactivated"), 0.0);
    assert_eq!(audited(&after, "api_key.deactivated"), 1.0);

    // Nothing an admin does not already see, and nothing a caller chose.
    for secret in [
        key.as_str(),
        &key[..12],
        "payroll-export-bot",
        "ledger",
        &token,
        unknown,
    ] {
        assert!(!after.contains(secret), "{secret} in the metrics");
    }

    // The metrics port serves /metrics and nothing else; the gateway's port does not serve it.
    let healthz = format!("{metrics}/api/healthz");
    assert_eq!(status(Method::GET, healthz, None, None).await, 404);
    let posted = status(Method::POST, format!("{metrics}/metrics"), None, None).await;
    assert_eq!(posted, 405);
    // (The web app answers any other path with its page.)
    let on_gateway = Client::new().get(gw.url("/metrics")).send().await.unwrap();
    assert!(!on_gateway.text().await.unwrap().contains("# TYPE"));

    // Stopped with the gateway.
    gw.signal("TERM");
    assert!(gw.wait().success());
    assert!(std::net::TcpStream::connect(("127.0.0.1", metrics_port)).is_err());
    drop(gw);
    helpers::drop_database(backend, &database_url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_move_with_what_the_gateway_does_sqlite() {
    counters_move_with_what_the_gateway_does(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_move_with_what_the_gateway_does_postgres() {
    counters_move_with_what_the_gateway_does(Backend::Postgres).await;
}

/// The recorder is the process's: a second gateway in one process (the in-process tests run
/// many) starts and serves metrics too, from the recorder the first one installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_in_one_process_share_one_recorder() {
    let on = |config: &mut ServeConfig| {
        config.observe.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    };
    let first = spawn_app_with(Backend::Sqlite, on).await;
    let second = spawn_app_with(Backend::Sqlite, on).await;
    let without = spawn_app(Backend::Sqlite).await;
    assert!(without.metrics_addr.is_none());
    let (a, b) = (first.metrics_addr.unwrap(), second.metrics_addr.unwrap());
    assert_ne!(a, b);
    for addr in [a, b] {
        let text = scrape(&format!("http://{addr}")).await;
        // Each test app logs its admin in at start.
        let logins = [("method", "password"), ("outcome", "ok")];
        assert!(sample(&text, "hoop_authentications_total", &logins) >= 2.0);
    }
    for app in [first, second, without] {
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_metrics_address_nothing_listens_for_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let gw = Gateway::start(&[("HOOP_DATA_DIR", data.to_str().unwrap())]).await;
    assert_eq!(
        listening_ports(gw.child.id()),
        BTreeSet::from([port_of(&gw.base)])
    );
    let on_gateway = Client::new().get(gw.url("/metrics")).send().await.unwrap();
    assert!(!on_gateway.text().await.unwrap().contains("# TYPE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_address_that_cannot_be_bound_stops_start_up() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hoop"))
        .arg("serve")
        .env("HOOP_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("HOOP_DATA_DIR", dir.path())
        .env("HOOP_METRICS_LISTEN", &addr)
        .env("HOOP_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("HOOP_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen for metrics on {addr}")),
        "{stderr}"
    );
}
