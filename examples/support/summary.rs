//! The one-line summary the load generators print, so the bench scripts read them alike.

/// Prints `requests failures seconds req/s p50_ms p90_ms p99_ms mean_ms` from round trips in ms.
pub fn print(mut latencies: Vec<f64>, failures: u64, elapsed: f64) {
    latencies.sort_by(f64::total_cmp);
    let n = latencies.len();
    let pct = |p: f64| {
        if n == 0 {
            f64::NAN
        } else {
            latencies[((p * n as f64).ceil() as usize).clamp(1, n) - 1]
        }
    };
    let mean = latencies.iter().sum::<f64>() / n.max(1) as f64;
    println!(
        "{} {} {:.2} {:.1} {:.3} {:.3} {:.3} {:.3}",
        n,
        failures,
        elapsed,
        n as f64 / elapsed,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        mean
    );
}
