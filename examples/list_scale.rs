//! The key list with 100 000 keys: fills a fresh store (bulk SQL, varied names, groups,
//! states and times), starts the real gateway on 127.0.0.1:0, and times the REST pages and
//! the web list page (logged in as the admin, as a browser is), each request alone, one after
//! another. See BENCHMARKS.md ("Key list at scale").
//!
//! `cargo run --release --example list_scale -- [--keys N] [--runs N] [--postgres URL]`
//!
//! Without `--postgres` the store is a SQLite file in a temporary directory; with it, a fresh
//! database is created on that server (and dropped at the end).

use clap::Parser;
use hoop::{config::ServeConfig, startup::Application, store::Store};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    keys: usize,
    /// Timed requests per case (after 3 untimed ones).
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// A PostgreSQL server URL (e.g. $TEST_POSTGRES_URL) to run on instead of SQLite.
    #[arg(long)]
    postgres: Option<String>,
    /// The SQLite file to fill (new; kept afterwards, to EXPLAIN queries on); default: one in
    /// a temporary directory.
    #[arg(long)]
    sqlite_file: Option<std::path::PathBuf>,
    /// Keep the PostgreSQL database afterwards (its name is printed), to EXPLAIN queries on.
    #[arg(long)]
    keep: bool,
}

#[derive(Parser)]
struct Serve {
    #[command(flatten)]
    serve: ServeConfig,
}

const EMAIL: &str = "admin@example.com";
const PASSWORD: &str = "list scale benchmark";
const GROUPS: [&str; 4] = ["admin", "ops", "ci", "agents"];
const WORDS: [&str; 8] = [
    "deploy", "backup", "agent", "ci", "report", "sync", "import", "metrics",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let (url, drop_db) = match &args.postgres {
        None => {
            let file = args
                .sqlite_file
                .clone()
                .unwrap_or_else(|| dir.path().join("hoop.db"));
            (format!("sqlite://{}", file.display()), None)
        }
        Some(server) => {
            let name = format!("hoop_list_scale_{}", Uuid::new_v4().simple());
            let admin = sqlx::PgPool::connect(server).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&admin)
                .await?;
            let mut url = reqwest::Url::parse(server)?;
            url.set_path(&name);
            (url.to_string(), Some((admin, name)))
        }
    };
    let serve = |url: &str| {
        Serve::parse_from([
            "hoop",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            url,
            "--admin-email",
            EMAIL,
            "--admin-password",
            PASSWORD,
            "--org-name",
            "acme",
            // The list page then also counts the keys this policy is about to deactivate
            // (about 15 000 of these): its dearest notice.
            "--deactivate-unused-days",
            "30",
        ])
        .serve
    };
    let config = serve(&url);

    // First start: migrations, the organization and the admin; then the keys behind its back,
    // and a second start, so the gateway measured has them all in its set of active keys.
    let app = Application::build(&config).await?;
    let org = hoop::store::identity::first_org(&app.state().store)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no org"))?;
    let started = Instant::now();
    fill(&app.state().store, org.id, args.keys).await?;
    eprintln!(
        "filled {} keys in {:.1} s",
        args.keys,
        started.elapsed().as_secs_f64()
    );
    app.state().store.close().await;
    drop(app);
    let app = Application::build(&config).await?;
    let addr = app.local_addr()?;
    let state = app.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    state.keys.until_trusted().await;

    let base = format!("http://{addr}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()?;
    let token = rest_login(&client, &base).await?;
    let cookie = browser_login(&client, &base).await?;
    let deep = deep_cursor(&client, &base, &token, args.keys).await?;

    let bearer = format!("Bearer {token}");
    let rest: [(&str, String); 5] = [
        (
            "REST first page (limit 50)",
            "/api/api-keys?limit=50".into(),
        ),
        ("REST q=7777 (name contains)", "/api/api-keys?q=7777".into()),
        (
            "REST status=deactivated&group=ops",
            "/api/api-keys?status=deactivated&group=ops".into(),
        ),
        (
            "REST -last_used_at, first page",
            "/api/api-keys?sort=-last_used_at".into(),
        ),
        (
            "REST deep page (cursor at 90%)",
            format!("/api/api-keys?cursor={deep}"),
        ),
    ];
    let web: [(&str, &str); 3] = [
        ("WEB /settings/api-keys", "/settings/api-keys"),
        (
            "WEB ?q=77&status=active&group=ops&sort=-last_used_at",
            "/settings/api-keys?q=77&status=active&group=ops&sort=-last_used_at",
        ),
        ("WEB ?sort=name", "/settings/api-keys?sort=name"),
    ];
    println!(
        "backend={} keys={} runs={}",
        state.store.backend(),
        args.keys,
        args.runs
    );
    println!(
        "{:<56} {:>8} {:>8} {:>8}",
        "case", "p50_ms", "p95_ms", "max_ms"
    );
    for (label, path) in &rest {
        let request = || {
            client
                .get(format!("{base}{path}"))
                .header("authorization", &bearer)
        };
        report(label, time(request, args.runs).await?);
    }
    for (label, path) in web {
        let request = || {
            client
                .get(format!("{base}{path}"))
                .header("cookie", &cookie)
        };
        report(label, time(request, args.runs).await?);
    }
    // For contrast: the whole list as a plain array, what hoop clients get without parameters.
    let request = || {
        client
            .get(format!("{base}/api/api-keys"))
            .header("authorization", &bearer)
    };
    report(
        "REST plain array (all keys; 3 runs)",
        time(request, 3).await?,
    );

    let _ = stop.send(());
    running.await??;
    state.store.close().await;
    if let Some((admin, name)) = drop_db.filter(|(_, name)| {
        if args.keep {
            eprintln!("kept database {name}");
        }
        !args.keep
    }) {
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&admin)
            .await?;
    }
    Ok(())
}

/// `runs` timed requests (after 3 untimed ones), each alone; their round trips in ms, sorted.
async fn time(
    request: impl Fn() -> reqwest::RequestBuilder,
    runs: usize,
) -> anyhow::Result<Vec<f64>> {
    for _ in 0..3 {
        check(request().send().await?).await?;
    }
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        check(request().send().await?).await?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms)
}

/// Reads the whole body (the time includes it) and fails on anything but 200.
async fn check(response: reqwest::Response) -> anyhow::Result<()> {
    let status = response.status();
    let body = response.bytes().await?;
    anyhow::ensure!(
        status == reqwest::StatusCode::OK,
        "{status}: {}",
        String::from_utf8_lossy(&body[..body.len().min(300)])
    );
    Ok(())
}

fn report(label: &str, ms: Vec<f64>) {
    let pct = |p: f64| ms[((p * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
    println!(
        "{label:<56} {:>8.1} {:>8.1} {:>8.1}",
        pct(0.5),
        pct(0.95),
        ms[ms.len() - 1]
    );
}

async fn rest_login(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let body: serde_json::Value = client
        .post(format!("{base}/api/localauth/login"))
        .json(&serde_json::json!({"email": EMAIL, "password": PASSWORD}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no token: {body}"))
}

/// The session cookie of a login through the form, as a browser without JavaScript does it.
async fn browser_login(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let response = client
        .post(format!("{base}/ui/fn/login"))
        .header("accept", "text/html")
        .form(&[("email", EMAIL), ("password", PASSWORD)])
        .send()
        .await?;
    let cookie = response
        .headers()
        .get("set-cookie")
        .ok_or_else(|| anyhow::anyhow!("no session cookie ({})", response.status()))?
        .to_str()?;
    Ok(cookie.split(';').next().unwrap_or_default().to_owned())
}

/// The cursor 90% of the way through the default order, reached page by page (500 a page).
async fn deep_cursor(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    keys: usize,
) -> anyhow::Result<String> {
    let mut cursor = String::new();
    for _ in 0..(keys * 9 / 10 / 500).max(1) {
        let page: serde_json::Value = client
            .get(format!("{base}/api/api-keys?limit=500&cursor={cursor}"))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    Ok(cursor)
}

/// `n` keys in batches of one multi-row INSERT each: names `<word>-<n>`, in one of four
/// groups (the groups made first), one in ten deactivated, one in 25 expired, created a
/// second apart, two in three used within the last 30 days.
async fn fill(store: &Store, org_id: Uuid, n: usize) -> anyhow::Result<()> {
    let now = hoop::store::now();
    let start = now - chrono::TimeDelta::seconds(n as i64 + 3600);
    const BATCH: usize = 500;
    macro_rules! fill_on {
        ($pool:expr) => {{
            let mut tx = $pool.begin().await?;
            for g in GROUPS {
                sqlx::query(
                    "INSERT INTO groups (org_id, name, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(org_id)
                .bind(g)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            for first in (0..n).step_by(BATCH) {
                let rows: Vec<usize> = (first..(first + BATCH).min(n)).collect();
                let mut keys = String::from(
                    "INSERT INTO api_keys (id, org_id, name, key_hash, masked_key, status, \
                     created_by, created_at, deactivated_by, deactivated_at, last_used_at, \
                     expires_at) VALUES ",
                );
                let mut groups = String::from(
                    "INSERT INTO api_key_groups (api_key_id, org_id, group_name) VALUES ",
                );
                for (j, _) in rows.iter().enumerate() {
                    let p = j * 11;
                    keys.push_str(&format!(
                        "{}(${}, ${}, ${}, ${}, ${}, ${}, 'bench', ${}, ${}, ${}, ${}, ${})",
                        if j == 0 { "" } else { ", " },
                        p + 1,
                        p + 2,
                        p + 3,
                        p + 4,
                        p + 5,
                        p + 6,
                        p + 7,
                        p + 8,
                        p + 9,
                        p + 10,
                        p + 11
                    ));
                    let q = j * 3;
                    groups.push_str(&format!(
                        "{}(${}, ${}, ${})",
                        if j == 0 { "" } else { ", " },
                        q + 1,
                        q + 2,
                        q + 3
                    ));
                }
                let ids: Vec<Uuid> = rows.iter().map(|_| Uuid::new_v4()).collect();
                let mut insert = sqlx::query(&keys);
                for (i, id) in rows.iter().zip(&ids) {
                    let i = *i;
                    let deactivated = i % 10 == 3;
                    let expired = i % 25 == 7;
                    let used = (i % 3 != 0)
                        .then(|| now - chrono::TimeDelta::seconds(((i * 7919) % 2_592_000) as i64));
                    insert = insert
                        .bind(*id)
                        .bind(org_id)
                        .bind(format!("{}-{i:06}", WORDS[i % WORDS.len()]))
                        .bind(format!("{}{}", id.simple(), Uuid::new_v4().simple()))
                        .bind("hpk_benc***************************************")
                        .bind(if deactivated { "deactivated" } else { "active" })
                        .bind(start + chrono::TimeDelta::seconds(i as i64))
                        .bind(deactivated.then_some("bench"))
                        .bind(deactivated.then_some(now))
                        .bind(used)
                        .bind(expired.then(|| now - chrono::TimeDelta::days(1)));
                }
                insert.execute(&mut *tx).await?;
                let mut insert = sqlx::query(&groups);
                for (i, id) in rows.iter().zip(&ids) {
                    insert = insert.bind(*id).bind(org_id).bind(GROUPS[i % GROUPS.len()]);
                }
                insert.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }};
    }
    match store {
        Store::Sqlite(sqlite) => fill_on!(&sqlite.pool),
        Store::Postgres(pool) => fill_on!(pool),
    }
    // Fresh statistics, as a database that grew to this size would have.
    match store {
        Store::Sqlite(sqlite) => {
            sqlx::query("ANALYZE").execute(&sqlite.pool).await?;
        }
        Store::Postgres(pool) => {
            sqlx::query("ANALYZE").execute(pool).await?;
        }
    }
    Ok(())
}
