//! Slows down guessing: failed authentications are counted per client address, and an address
//! that fails too often gets 429 with `Retry-After` instead of 401. The authenticator
//! ([`crate::auth::Authenticator`]) is the one caller: it counts every failed check and decides
//! what a limited address may still present.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Addresses remembered at most; beyond this, fully recovered ones are forgotten.
const MAX_TRACKED: usize = 100_000;

/// A token bucket per client address: `per_minute` failures at once, refilled at
/// `per_minute` a minute.
pub struct FailureLimiter {
    capacity: f64,
    per_sec: f64,
    buckets: Mutex<HashMap<Client, Bucket>>,
}

/// IPv6 clients are counted per /64: one host usually holds the whole prefix.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct Client(u128);

impl From<IpAddr> for Client {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Client(u128::from(v4.to_bits())),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Client(u128::from(v4.to_bits())),
                None => Client(v6.to_bits() & !u128::from(u64::MAX) | 1 << 127),
            },
        }
    }
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl FailureLimiter {
    pub fn new(per_minute: u32) -> Self {
        let per_minute = f64::from(per_minute.max(1));
        Self {
            capacity: per_minute,
            per_sec: per_minute / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// How long `ip` must wait before its next failure is answered 401 again, if it must.
    pub fn throttled(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = *buckets.get(&Client::from(ip))?;
        self.wait(self.refill(bucket, now))
    }

    /// Counts a failure; returns the wait if `ip` had none left to spend.
    pub fn fail(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED {
            buckets.retain(|_, b| self.refill(*b, now).tokens < self.capacity);
        }
        let full = Bucket {
            tokens: self.capacity,
            at: now,
        };
        let bucket = buckets.entry(Client::from(ip)).or_insert(full);
        *bucket = self.refill(*bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            None
        } else {
            self.wait(*bucket)
        }
    }

    fn refill(&self, b: Bucket, now: Instant) -> Bucket {
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        Bucket {
            tokens: (b.tokens + elapsed * self.per_sec).min(self.capacity),
            at: now,
        }
    }

    fn wait(&self, b: Bucket) -> Option<Duration> {
        (b.tokens < 1.0).then(|| Duration::from_secs_f64((1.0 - b.tokens) / self.per_sec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_more_failure_per_interval() {
        let limiter = FailureLimiter::new(3);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.fail(ip, t0), None);
        }
        let wait = limiter.fail(ip, t0).expect("fourth failure is throttled");
        assert_eq!(wait, Duration::from_secs(20));
        assert_eq!(limiter.throttled(ip, t0), Some(wait));
        // Another address is untouched.
        assert_eq!(limiter.fail("192.0.2.8".parse().unwrap(), t0), None);
        // One interval later, one more failure is allowed, and only one.
        let later = t0 + Duration::from_secs(20);
        assert_eq!(limiter.throttled(ip, later), None);
        assert_eq!(limiter.fail(ip, later), None);
        assert!(limiter.fail(ip, later).is_some());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let limiter = FailureLimiter::new(1);
        let t0 = Instant::now();
        assert_eq!(limiter.fail("2001:db8::1".parse().unwrap(), t0), None);
        assert!(limiter.fail("2001:db8::2".parse().unwrap(), t0).is_some());
        assert_eq!(limiter.fail("2001:db8:0:1::1".parse().unwrap(), t0), None);
        assert_eq!(limiter.fail("::ffff:192.0.2.1".parse().unwrap(), t0), None);
        assert!(limiter.fail("192.0.2.1".parse().unwrap(), t0).is_some());
        // A v6 prefix never collides with a v4 address.
        assert_eq!(limiter.fail("::".parse().unwrap(), t0), None);
        assert_eq!(limiter.fail("0.0.0.0".parse().unwrap(), t0), None);
    }
}
