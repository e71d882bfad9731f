//! The time the key lifecycle reads: when a key expires, when an overlap ends, when a key has
//! gone unused too long. One clock per gateway, so tests can move it forward (`advance`) and
//! watch a year pass in a second; `hoop serve` always runs on the system's.
//!
//! The request path reads it on every key check, so it costs two loads: wall-clock
//! milliseconds refreshed by a ticker (the key service runs it), plus the clock's offset.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use std::{
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// Wall-clock milliseconds as of the last tick; 0 until the first.
static COARSE_NOW_MS: AtomicI64 = AtomicI64::new(0);

/// How often [`tick`] should run: the precision of "last used" and of expiry on the hot path.
pub const TICK: Duration = Duration::from_millis(10);

fn system_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Refreshes the coarse time (called by the key service's ticker).
pub fn tick() {
    COARSE_NOW_MS.store(system_ms(), Ordering::Relaxed);
}

/// The system's unix milliseconds as of the last tick: what "last used" records.
pub fn coarse_system_ms() -> i64 {
    match COARSE_NOW_MS.load(Ordering::Relaxed) {
        0 => system_ms(),
        ms => ms,
    }
}

#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Milliseconds added to the system's time; only tests move it.
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// Unix milliseconds, from the ticker when it runs: for the request path.
    pub fn now_ms(&self) -> i64 {
        coarse_system_ms() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Unix milliseconds from the system's clock now: for decisions at the second (expiry).
    pub fn precise_now_ms(&self) -> i64 {
        system_ms() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// The precise time, truncated to milliseconds as the store keeps times.
    pub fn now(&self) -> DateTime<Utc> {
        let t = Utc::now() + TimeDelta::milliseconds(self.offset_ms.load(Ordering::Relaxed));
        t.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(t)
    }

    /// Moves this clock (and every gateway sharing it) forward. For tests.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

/// A time as unix milliseconds, for comparing against [`Clock::now_ms`].
pub fn to_ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}
