//! What the load generators count, and the one-line summary they print, so the bench scripts
//! read them alike.

/// One worker's round trips (ms) and failures; workers' tallies are merged at the end.
#[derive(Default)]
pub struct Tally {
    pub latencies: Vec<f64>,
    pub failures: u64,
    pub first_failure: Option<String>,
}

impl Tally {
    pub fn fail(&mut self, why: String) {
        self.failures += 1;
        self.first_failure.get_or_insert(why);
    }

    pub fn merge(tallies: impl IntoIterator<Item = Tally>) -> Tally {
        let mut total = Tally::default();
        for tally in tallies {
            total.latencies.extend(tally.latencies);
            total.failures += tally.failures;
            if total.first_failure.is_none() {
                total.first_failure = tally.first_failure;
            }
        }
        total
    }

    /// Prints `requests failures seconds req/s p50_ms p90_ms p99_ms mean_ms`.
    pub fn print(mut self, elapsed: f64) {
        self.latencies.sort_by(f64::total_cmp);
        let lat = &self.latencies;
        let n = lat.len();
        let pct = |p: f64| {
            if n == 0 {
                f64::NAN
            } else {
                lat[((p * n as f64).ceil() as usize).clamp(1, n) - 1]
            }
        };
        let mean = lat.iter().sum::<f64>() / n.max(1) as f64;
        println!(
            "{} {} {:.2} {:.1} {:.3} {:.3} {:.3} {:.3}",
            n,
            self.failures,
            elapsed,
            n as f64 / elapsed,
            pct(0.5),
            pct(0.9),
            pct(0.99),
            mean
        );
    }
}
