//! Load on `POST /api/connections/{name}/exec` over HTTP/1.1 keep-alive: CONCURRENCY
//! workers, each on its own connection, send a point query with a random id one after the
//! other for SECONDS (after a warm-up that opens the connections and fills the gateway's pools)
//! and time every round trip. See scripts/bench-exec.
//!
//! `exec_load BASE_URL CONNECTION KEY [--concurrency N] [--seconds S] [--warmup S] [--ids N]
//! [--query 'SELECT * FROM t WHERE id = :id']`
//!
//! Prints one line: `requests errors seconds req/s p50_ms p90_ms p99_ms mean_ms`. An error is
//! any answer other than 200 with exit code 0 and a row of output (429 included); the first
//! one is shown on stderr.

#[path = "support/summary.rs"]
mod summary;

use summary::Tally;

use clap::Parser;
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// The gateway, e.g. http://127.0.0.1:8009
    base_url: String,
    /// The connection to run the query on.
    connection: String,
    /// An admin key (hpk_…).
    key: String,
    /// Requests in flight at once, each worker on its own keep-alive connection.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// How long to measure.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// How long to run first without measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Ids are drawn uniformly from 1..=IDS.
    #[arg(long, default_value_t = 100_000)]
    ids: u64,
    /// The script; `:id` is replaced by the random id.
    #[arg(long, default_value = "SELECT * FROM t WHERE id = :id")]
    query: String,
}

// One thread: the load generator must leave the other core of a 2-core machine to the gateway
// and the database; one thread sends 30 000 exec requests a second, far more than needed.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let url = format!(
        "{}/api/connections/{}/exec",
        args.base_url.trim_end_matches('/'),
        args.connection
    );
    let client = reqwest::Client::builder()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(args.concurrency)
        .pool_idle_timeout(None)
        .timeout(Duration::from_secs(60))
        .build()?;
    let auth = format!("Bearer {}", args.key);

    // Fail fast, with the gateway's words, when the set-up is wrong.
    let probe = send(&client, &url, &auth, &args.query.replace(":id", "1")).await;
    if let Err(e) = probe {
        anyhow::bail!("the first exec failed: {e}");
    }

    run(&client, &url, &auth, &args, args.warmup).await;
    let started = Instant::now();
    let tally = run(&client, &url, &auth, &args, args.seconds).await;
    let elapsed = started.elapsed().as_secs_f64();

    if let Some(e) = &tally.first_failure {
        eprintln!("exec_load: {} errors, the first: {e}", tally.failures);
    }
    tally.print(elapsed);
    Ok(())
}

/// CONCURRENCY workers for SECONDS; each request's round trip in ms.
async fn run(client: &reqwest::Client, url: &str, auth: &str, args: &Args, seconds: f64) -> Tally {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let workers = (0..args.concurrency).map(|worker| {
        let mut rng = StdRng::seed_from_u64(worker as u64 ^ 0x5eed);
        async move {
            let mut tally = Tally::default();
            while Instant::now() < deadline {
                let id = rng.gen_range(1..=args.ids);
                let script = args.query.replace(":id", &id.to_string());
                let start = Instant::now();
                let result = send(client, url, auth, &script).await;
                let ms = start.elapsed().as_secs_f64() * 1000.0;
                match result {
                    Ok(()) => tally.latencies.push(ms),
                    Err(e) => {
                        tally.fail(e);
                    }
                }
            }
            tally
        }
    });
    Tally::merge(futures_util::future::join_all(workers).await)
}

/// One exec; Ok when the gateway answered 200, the script succeeded and returned a row.
async fn send(client: &reqwest::Client, url: &str, auth: &str, script: &str) -> Result<(), String> {
    let response = client
        .post(url)
        .header("authorization", auth)
        .json(&serde_json::json!({ "script": script }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
    }
    let answer: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let rows = answer["output"]
        .as_str()
        .map_or(0, |o| o.trim_end().lines().count());
    if answer["exit_code"] != 0 || rows < 2 {
        return Err(format!("unexpected answer: {answer}"));
    }
    Ok(())
}
