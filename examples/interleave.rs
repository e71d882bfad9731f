//! What authentication adds to a request, measured request by request: one keep-alive
//! connection sends the key route and the unauthenticated route of `bench_server` in turn
//! (A B B A …) and times each round trip. Both routes share every instant of the run, so the
//! machine's drift, which on a shared VM moves whole-second throughput rounds by ±15 %, cancels
//! out of the difference. See BENCHMARKS.md and scripts/bench-http.
//!
//! `interleave ADDR KEY [PAIRS [PATH_A PATH_B]]`: prints the median round trip of each route and the mean
//! difference (with key − without) with its 95 % confidence interval, in µs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(key)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: interleave ADDR KEY [PAIRS [PATH_A PATH_B]]");
    };
    let pairs: usize = args.next().map_or(Ok(100_000), |n| n.parse())?;
    let request = |path: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nUser-Agent: hoop-bench/1.0\r\n\r\n")
            .into_bytes()
    };
    let path_a = args.next().unwrap_or_else(|| "/api/userinfo".into());
    let path_b = args.next().unwrap_or_else(|| "/api/bench/userinfo".into());
    let (with_key, without) = (request(&path_a), request(&path_b));
    let mut conn = Connection::open(&addr)?;
    for _ in 0..2_000 {
        conn.round_trip(&with_key)?;
        conn.round_trip(&without)?;
    }
    let (mut a, mut b) = (Vec::with_capacity(pairs), Vec::with_capacity(pairs));
    for i in 0..pairs {
        // ABBA: neither route always follows the other.
        if i % 2 == 0 {
            a.push(conn.round_trip(&with_key)?);
            b.push(conn.round_trip(&without)?);
        } else {
            b.push(conn.round_trip(&without)?);
            a.push(conn.round_trip(&with_key)?);
        }
    }
    // Differences of neighbours in time; the slowest 1 % (scheduler hiccups that hit one
    // request of a pair) would otherwise dominate the mean.
    let mut diffs: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
    diffs.sort_by(f64::total_cmp);
    let cut = diffs.len() / 200;
    let kept = &diffs[cut..diffs.len() - cut];
    let n = kept.len() as f64;
    let mean = kept.iter().sum::<f64>() / n;
    let sd = (kept.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let half = 1.96 * sd / n.sqrt();
    println!(
        "{:.2} {:.2} {:.3} {:.3} {:.3}",
        median(&mut a),
        median(&mut b),
        mean,
        mean - half,
        mean + half
    );
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Connection {
    fn open(addr: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: vec![0; 16 * 1024],
        })
    }

    /// Sends one request and reads its whole answer; the round trip in µs. Only 200 counts.
    fn round_trip(&mut self, request: &[u8]) -> anyhow::Result<f64> {
        let start = Instant::now();
        self.stream.write_all(request)?;
        let mut len = 0;
        let total = loop {
            let read = self.stream.read(&mut self.buf[len..])?;
            anyhow::ensure!(read > 0, "the server closed the connection");
            len += read;
            if let Some(total) = answer_length(&self.buf[..len])? {
                if len >= total {
                    break total;
                }
            }
            anyhow::ensure!(len < self.buf.len(), "answer too long");
        };
        let elapsed = start.elapsed().as_secs_f64() * 1e6;
        anyhow::ensure!(self.buf.starts_with(b"HTTP/1.1 200"), "not a 200 answer");
        anyhow::ensure!(len == total, "unexpected bytes after the answer");
        Ok(elapsed)
    }
}

/// Head plus body length, once the head has arrived.
fn answer_length(bytes: &[u8]) -> anyhow::Result<Option<usize>> {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&bytes[..end])?;
    let body = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .ok_or_else(|| anyhow::anyhow!("no content-length"))?;
    Ok(Some(end + 4 + body))
}
