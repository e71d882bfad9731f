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

/// Addresses remembered at most (a few MB); beyond this, fully recovered ones are forgotten.
const MAX_TRACKED: usize = 100_000;

/// A token bucket per client address: `per_minute` failures at once, refilled at
/// `per_minute` a minute.
///
/// Kept by hand rather than governor's keyed limiter, for two behaviours governor (0.10)
/// does not offer, each held by a test: [`Self::throttled`] asks whether an address is
/// limited *without* spending from its budget (a limited address must not even have a
/// password checked, while a right generated key still works, and a success must cost
/// nothing: `abuse::a_limited_client_cannot_guess_on_but_generated_credentials_still_work`),
/// and the table below is bounded with flood-safe eviction (governor's `DashMap` grows
/// with every address until `retain_recent` runs, and forgets throttled ones too:
/// `a_flood_of_new_addresses_does_not_reset_a_throttled_one`,
/// `the_table_never_grows_past_its_cap`).
///
/// The table is bounded. When it is full, addresses whose bucket has fully recovered are
/// forgotten (forgetting them changes nothing: a new bucket starts full). If every remembered
/// address is still recovering, the table is full of clients failing right now (a flood from
/// that many addresses or IPv6 prefixes), and an address it does not know is treated as
/// throttled until a slot frees: forgetting a throttled address instead would let the flood
/// reset its budget, and admitting newcomers unbounded would let it exhaust memory. Valid
/// credentials never reach the table, so only failures and password logins of new addresses
/// wait meanwhile.
pub struct FailureLimiter {
    capacity: f64,
    per_sec: f64,
    max_tracked: usize,
    table: Mutex<Table>,
}

struct Table {
    buckets: HashMap<Client, Bucket>,
    /// Set when a prune found nothing to forget: no bucket can have recovered before then,
    /// so newcomers are refused at once instead of scanning the table on every failure.
    full_until: Option<Instant>,
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
        Self::with_capacity(per_minute, MAX_TRACKED)
    }

    /// Remembers at most `max_tracked` addresses (at least one).
    pub fn with_capacity(per_minute: u32, max_tracked: usize) -> Self {
        let per_minute = f64::from(per_minute.max(1));
        Self {
            capacity: per_minute,
            per_sec: per_minute / 60.0,
            max_tracked: max_tracked.max(1),
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                full_until: None,
            }),
        }
    }

    /// How long `ip` must wait before its next failure is answered 401 again, if it must.
    pub fn throttled(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        match table.buckets.get(&Client::from(ip)) {
            Some(bucket) => self.wait(self.refill(*bucket, now)),
            None => self.make_room(&mut table, now).err(),
        }
    }

    /// Counts a failure; returns the wait if `ip` had none left to spend.
    pub fn fail(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let client = Client::from(ip);
        if !table.buckets.contains_key(&client) {
            if let Err(wait) = self.make_room(&mut table, now) {
                return Some(wait);
            }
        }
        let full = Bucket {
            tokens: self.capacity,
            at: now,
        };
        let bucket = table.buckets.entry(client).or_insert(full);
        *bucket = self.refill(*bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            None
        } else {
            self.wait(*bucket)
        }
    }

    /// Whether a new address can be remembered now; if not, how long until one can.
    fn make_room(&self, table: &mut Table, now: Instant) -> Result<(), Duration> {
        if table.buckets.len() < self.max_tracked {
            return Ok(());
        }
        if let Some(until) = table.full_until.filter(|until| now < *until) {
            return Err(until - now);
        }
        let mut soonest = f64::INFINITY;
        table.buckets.retain(|_, b| {
            let missing = self.capacity - self.refill(*b, now).tokens;
            if missing > 0.0 {
                soonest = soonest.min(missing / self.per_sec);
            }
            missing > 0.0
        });
        if table.buckets.len() < self.max_tracked {
            table.full_until = None;
            return Ok(());
        }
        // A bucket recovers within a minute; at least a millisecond, so the wait ends strictly
        // after `now`.
        let wait = Duration::try_from_secs_f64(soonest)
            .unwrap_or(Duration::from_secs(60))
            .max(Duration::from_millis(1));
        table.full_until = Some(now + wait);
        Err(wait)
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

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .buckets
            .len()
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

    fn v6(prefix: u64) -> IpAddr {
        IpAddr::V6(std::net::Ipv6Addr::from(u128::from(prefix) << 64 | 1))
    }

    /// 3 failures a minute: one token every 20 s.
    const INTERVAL: Duration = Duration::from_secs(20);

    #[test]
    fn when_full_only_fully_recovered_addresses_are_forgotten() {
        let limiter = FailureLimiter::with_capacity(3, 3);
        let t0 = Instant::now();
        let (throttled, recovering, recovered) = (v6(1), v6(2), v6(3));
        for _ in 0..3 {
            limiter.fail(throttled, t0);
        }
        assert!(limiter.fail(throttled, t0).is_some());
        limiter.fail(recovered, t0);
        let t1 = t0 + INTERVAL; // `recovered` is whole again; the others are not
        limiter.fail(recovering, t0 + INTERVAL / 2);

        // A newcomer fits: the one recovered address made room, and only it.
        assert_eq!(limiter.fail(v6(4), t1), None);
        assert_eq!(limiter.tracked(), 3);
        assert!(limiter.throttled(throttled, t1).is_none(), "one token back");
        assert_eq!(limiter.fail(throttled, t1), None);
        assert!(limiter.fail(throttled, t1).is_some(), "still throttled");
        // `recovering` kept its count: 2.5 tokens, so two more failures and no third.
        assert_eq!(limiter.fail(recovering, t1), None);
        assert_eq!(limiter.fail(recovering, t1), None);
        assert!(limiter.fail(recovering, t1).is_some());
    }

    #[test]
    fn a_flood_of_new_addresses_does_not_reset_a_throttled_one() {
        let limiter = FailureLimiter::with_capacity(3, 100);
        let t0 = Instant::now();
        let attacker: IpAddr = "2001:db8::1".parse().unwrap();
        for _ in 0..3 {
            limiter.fail(attacker, t0);
        }
        assert!(limiter.fail(attacker, t0).is_some());
        for (i, prefix) in (1_000..11_000).enumerate() {
            let now = t0 + Duration::from_millis(i as u64);
            limiter.fail(v6(prefix), now);
            assert!(limiter.tracked() <= 100);
        }
        let later = t0 + Duration::from_secs(10);
        assert!(limiter.throttled(attacker, later).is_some());
        assert!(limiter.fail(attacker, later).is_some());
    }

    /// Within a millisecond: waits are computed in floating point.
    fn about(got: Option<Duration>, want: Duration) -> bool {
        got.is_some_and(|got| got.abs_diff(want) < Duration::from_millis(1))
    }

    #[test]
    fn a_table_full_of_recovering_addresses_refuses_newcomers_until_a_slot_frees() {
        let limiter = FailureLimiter::with_capacity(3, 2);
        let t0 = Instant::now();
        limiter.fail(v6(1), t0);
        limiter.fail(v6(2), t0 + Duration::from_secs(5));
        assert_eq!(limiter.tracked(), 2);

        // Full of addresses still failing: a newcomer is treated as throttled, for failures
        // and password logins alike, until the first of them has recovered.
        let t1 = t0 + Duration::from_secs(1);
        let first_free = t0 + INTERVAL;
        assert!(about(limiter.fail(v6(3), t1), first_free - t1));
        assert!(about(limiter.throttled(v6(4), t1), first_free - t1));
        let t2 = t0 + Duration::from_secs(10);
        assert!(about(limiter.fail(v6(3), t2), first_free - t2));
        let almost = first_free - Duration::from_millis(5);
        assert!(limiter.fail(v6(3), almost).is_some());
        assert_eq!(limiter.tracked(), 2, "refused addresses are not remembered");

        // Known addresses are counted as usual meanwhile.
        assert_eq!(limiter.fail(v6(2), t0 + Duration::from_secs(6)), None);

        // Once one has recovered, the next newcomer takes its place.
        let freed = first_free + Duration::from_millis(5);
        assert_eq!(limiter.throttled(v6(3), freed), None);
        assert_eq!(limiter.fail(v6(3), freed), None);
        assert_eq!(limiter.tracked(), 2);
        assert!(limiter.fail(v6(4), freed).is_some(), "full again");
    }

    #[test]
    fn the_table_never_grows_past_its_cap() {
        let limiter = FailureLimiter::with_capacity(30, 50);
        let t0 = Instant::now();
        let mut admitted = 0;
        for i in 0..5_000u64 {
            // A new address every 10 ms; each recovers 2 s after its one failure.
            let now = t0 + Duration::from_millis(10 * i);
            if limiter.fail(v6(i), now).is_none() {
                admitted += 1;
            }
            assert!(limiter.tracked() <= 50, "{} tracked", limiter.tracked());
        }
        // 200 new addresses per recovery time, 50 slots: about one in four gets one.
        assert!((1_000..=1_500).contains(&admitted), "{admitted} admitted");
    }
}
