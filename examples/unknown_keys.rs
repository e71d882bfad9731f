//! Load of well-formed but unknown managed keys on `GET /api/userinfo`: CONCURRENCY workers,
//! each on its own keep-alive connection, send a fresh random `hpk_` key with every request for
//! SECONDS (after a warm-up). What a flood of guessed keys costs the gateway. See
//! scripts/bench-unknown-keys.
//!
//! `unknown_keys BASE_URL [--concurrency N] [--seconds S] [--warmup S]`
//!
//! Prints one line: `requests non_401 seconds req/s p50_ms p90_ms p99_ms mean_ms`. Any answer
//! but 401 counts as non_401 (a 429 means the failed-authentication limit is on: turn it off
//! for this benchmark); the first one is shown on stderr.

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
    /// Requests in flight at once, each worker on its own keep-alive connection.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// How long to measure.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// How long to run first without measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
}

const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `Bearer hpk_` and 43 random base64url characters: the exact key format, never issued.
fn random_key(rng: &mut StdRng) -> String {
    let mut header = String::with_capacity(54);
    header.push_str("Bearer hpk_");
    for _ in 0..43 {
        header.push(char::from(BASE64URL[rng.gen_range(0..64)]));
    }
    header
}

// One thread: the load generator must leave the other core of a 2-core machine to the gateway
// and the database.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let url = format!("{}/api/userinfo", args.base_url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(args.concurrency)
        .pool_idle_timeout(None)
        .timeout(Duration::from_secs(60))
        .build()?;

    run(&client, &url, &args, args.warmup).await;
    let started = Instant::now();
    let tally = run(&client, &url, &args, args.seconds).await;
    let elapsed = started.elapsed().as_secs_f64();

    if let Some(e) = &tally.first_failure {
        eprintln!(
            "unknown_keys: {} answers other than 401, the first: {e}",
            tally.failures
        );
    }
    tally.print(elapsed);
    Ok(())
}

/// CONCURRENCY workers for SECONDS; every request's round trip in ms.
async fn run(client: &reqwest::Client, url: &str, args: &Args, seconds: f64) -> Tally {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let workers = (0..args.concurrency).map(|worker| {
        let mut rng = StdRng::seed_from_u64(worker as u64 ^ rand::random::<u64>());
        async move {
            let mut tally = Tally::default();
            while Instant::now() < deadline {
                let auth = random_key(&mut rng);
                let start = Instant::now();
                let result = client.get(url).header("authorization", auth).send().await;
                let outcome = match result {
                    Ok(r) => {
                        let status = r.status();
                        let _ = r.bytes().await;
                        (status != reqwest::StatusCode::UNAUTHORIZED).then(|| status.to_string())
                    }
                    Err(e) => Some(e.to_string()),
                };
                tally.latencies.push(start.elapsed().as_secs_f64() * 1000.0);
                if let Some(e) = outcome {
                    tally.fail(e);
                }
            }
            tally
        }
    });
    Tally::merge(futures_util::future::join_all(workers).await)
}
