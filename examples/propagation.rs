//! Deactivation propagation between two replicas on one PostgreSQL database: deactivate through
//! replica B, then time until replica A refuses the key. 100 trials; prints p50/p99/max.
//! Run: `cargo run --release --example propagation [-- POSTGRES_ADMIN_URL [TRIALS]]`. See
//! BENCHMARKS.md. The test command runs a few trials, so the benchmark cannot rot unseen.

use hoop::{config::ServeConfig, secret::SecretString, startup::Application};
use reqwest::{Client, StatusCode};
use std::time::{Duration, Instant};

async fn replica(
    url: &str,
    admin: bool,
) -> anyhow::Result<(String, tokio::sync::oneshot::Sender<()>)> {
    let dir = std::env::temp_dir();
    let config = ServeConfig {
        listen: "127.0.0.1:0".parse()?,
        database_url: Some(SecretString::new(url.to_owned())),
        data_dir: Some(dir),
        admin_email: admin.then(|| "admin@example.com".to_owned()),
        admin_password: admin.then(|| SecretString::new("bench password".into())),
        org_name: "bench".into(),
        api_key: None,
        secure_cookies: false,
        exec: Default::default(),
        http: Default::default(),
        observe: Default::default(),
        key_policy: Default::default(),
        clock: Default::default(),
        // Every poll of the deactivated key is a failed authentication: unthrottled, or the
        // benchmark would time the limiter's refill instead of the propagation.
        auth_failures_per_minute: u32::MAX,
        site_root: "target/site".into(),
        webhooks: Default::default(),
    };
    let app = Application::build(&config).await?;
    let base = format!("http://{}", app.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    Ok((base, stop))
}

/// Polls until `base` answers `want`; anything but `want` or `meanwhile` is an error.
async fn wait_for<F, Fut>(
    status: &F,
    base: &str,
    want: StatusCode,
    meanwhile: StatusCode,
) -> anyhow::Result<()>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = reqwest::Result<StatusCode>>,
{
    loop {
        match status(base.to_owned()).await? {
            s if s == want => return Ok(()),
            s if s == meanwhile => {}
            s => anyhow::bail!("unexpected answer {s} while waiting for {want}"),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let admin_url = args
        .next()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let trials: usize = args.next().map_or(Ok(100), |n| n.parse())?;
    anyhow::ensure!(trials > 0, "TRIALS must be at least 1");
    let db = format!("hoop_bench_{}", uuid::Uuid::new_v4().simple());
    let server = sqlx::PgPool::connect(&admin_url).await?;
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&server)
        .await?;
    let url = format!(
        "{}/{db}",
        admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |p| p.0)
    );

    let (a, stop_a) = replica(&url, true).await?;
    let (b, stop_b) = replica(&url, false).await?;
    let http = Client::new();
    let token: serde_json::Value = http
        .post(format!("{b}/api/localauth/login"))
        .json(&serde_json::json!({"email": "admin@example.com", "password": "bench password"}))
        .send()
        .await?
        .json()
        .await?;
    let token = token["token"].as_str().unwrap_or_default().to_owned();
    let created: serde_json::Value = http
        .post(format!("{b}/api/api-keys"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "propagation", "groups": ["admin"]}))
        .send()
        .await?
        .json()
        .await?;
    let key = created["key"].as_str().unwrap_or_default().to_owned();
    // Let both change feeds come up.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let status = |base: String| {
        let http = http.clone();
        let key = key.clone();
        async move {
            http.get(format!("{base}/api/userinfo"))
                .bearer_auth(&key)
                .send()
                .await
                .map(|r| r.status())
        }
    };
    let mut samples = Vec::with_capacity(trials);
    for _ in 0..trials {
        http.post(format!("{b}/api/api-keys/propagation/activate"))
            .bearer_auth(&token)
            .send()
            .await?;
        wait_for(&status, &a, StatusCode::OK, StatusCode::UNAUTHORIZED).await?;
        // A now holds the key as active in its cache.
        http.post(format!("{b}/api/api-keys/propagation/deactivate"))
            .bearer_auth(&token)
            .send()
            .await?;
        let committed = Instant::now();
        wait_for(&status, &a, StatusCode::UNAUTHORIZED, StatusCode::OK).await?;
        samples.push(committed.elapsed());
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    println!(
        "deactivation propagation over {trials} trials: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3
    );
    let _ = (stop_a.send(()), stop_b.send(()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&server)
        .await?;
    Ok(())
}
