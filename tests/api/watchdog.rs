//! A bound on every test's time, so a hang fails the run in minutes instead of eating CI.
//!
//! Starting a gateway (`spawn_app`, a replica, `Gateway::start`, `wait_until_up`) watches the
//! calling test until its thread ends (libtest runs each test on a thread named after it). If
//! it still runs `HOOP_TEST_TIMEOUT_SECS` (default 300) after that, the test binary prints the
//! test's name and exits non-zero: a hung future cannot be cancelled from outside, and the
//! other tests' results are not worth waiting for the hang.

use std::{
    collections::HashMap,
    io::Write,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, OnceLock,
    },
    time::{Duration, Instant},
};

const DEFAULT_LIMIT: Duration = Duration::from_secs(300);

struct Watched {
    test: String,
    deadline: Instant,
}

fn watched() -> &'static Mutex<HashMap<u64, Watched>> {
    static WATCHED: OnceLock<Mutex<HashMap<u64, Watched>>> = OnceLock::new();
    WATCHED.get_or_init(|| {
        std::thread::Builder::new()
            .name("test watchdog".into())
            .spawn(watch)
            .expect("start the test watchdog");
        Mutex::default()
    })
}

fn limit() -> Duration {
    std::env::var("HOOP_TEST_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(DEFAULT_LIMIT, Duration::from_secs)
}

fn watch() {
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = Instant::now();
        let overdue = watched()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .find(|w| w.deadline <= now)
            .map(|w| w.test.clone());
        if let Some(test) = overdue {
            // Straight to stderr: `eprintln!` would be captured with the output of whichever
            // test started this thread, and lost on exit.
            let _ = writeln!(
                std::io::stderr().lock(),
                "\n{test}: still running after {:?} (HOOP_TEST_TIMEOUT_SECS): \
                 stopping the test binary",
                limit()
            );
            std::process::exit(124);
        }
    }
}

struct Watchdog(u64);

thread_local! {
    static THIS_TEST: std::cell::OnceCell<Watchdog> = const { std::cell::OnceCell::new() };
}

/// Watches the calling test from now until its thread ends; later calls change nothing.
pub fn watch_this_test() {
    THIS_TEST.with(|watchdog| {
        watchdog.get_or_init(|| {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let id = NEXT.fetch_add(1, Ordering::Relaxed);
            let test = std::thread::current()
                .name()
                .unwrap_or("a test on an unnamed thread")
                .to_owned();
            let deadline = Instant::now() + limit();
            watched()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, Watched { test, deadline });
            Watchdog(id)
        });
    });
}

/// Runs when the test's thread ends.
impl Drop for Watchdog {
    fn drop(&mut self) {
        watched()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}
