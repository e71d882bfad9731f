//! Cost of verifying a managed key on the hot path, against the SHA-256 it cannot avoid.
//! Run: `cargo bench --bench verify`. Results and machine: BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::FutureExt;
use hoop::{
    caller::{Caller, Identity, Principal},
    keys::{KeyService, NewApiKey, RawApiKey, Seen},
    store::{self, identity::Org, Store},
};
use sha2::{Digest, Sha256};
use std::{hint::black_box, sync::Arc};
use uuid::Uuid;

#[path = "support/seed.rs"]
mod seed;

const MANY: usize = 100_000;

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

/// A store with one org, `extra` keys inserted directly, and one key created by the service.
async fn setup(dir: &std::path::Path, extra: usize) -> (KeyService, Vec<String>) {
    let store = Store::connect(&format!("sqlite://{}", dir.join("bench.db").display()))
        .await
        .unwrap();
    let org = Org {
        id: Uuid::new_v4(),
        name: "bench".into(),
    };
    store::identity::ensure_org(&store, &org).await.unwrap();
    let admin = Principal::from(Caller {
        org_id: org.id,
        org_name: Arc::from("bench"),
        identity: Identity::LegacyApiKey,
        groups: Arc::from(["admin".to_owned()]),
    });
    let mut raws = seed::filler_keys(&store, org.id, extra).await.unwrap();
    let service = KeyService::new(store, Default::default(), Default::default());
    service.until_trusted().await;
    let (_, raw) = service
        .create(
            &admin,
            NewApiKey {
                name: "bench-key".into(),
                groups: vec!["admin".into()],
                expires_at: None,
            },
        )
        .await
        .unwrap();
    raws.push(raw.expose().to_owned());
    (service, raws)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    let sample = RawApiKey::generate().expose().to_owned();

    c.bench_function("sha256 of a 47-byte key", |b| {
        b.iter(|| Sha256::digest(black_box(sample.as_bytes())))
    });

    for extra in [10, MANY] {
        let dir = tempfile::tempdir().unwrap();
        let (service, raws) = rt.block_on(setup(dir.path(), extra));
        let before = rss_kib();
        for raw in &raws {
            let key = RawApiKey::parse(raw).unwrap();
            rt.block_on(service.verify(&key, &Seen::NOBODY)).unwrap();
        }
        let after = rss_kib();
        if extra == MANY {
            eprintln!(
                "cache fill: {} keys, RSS +{} KiB = {:.0} bytes per cached key",
                raws.len(),
                after.saturating_sub(before),
                (after.saturating_sub(before) * 1024) as f64 / raws.len() as f64
            );
        }
        let raw = raws.last().unwrap().clone();
        let parsed = RawApiKey::parse(&raw).unwrap();
        let n = raws.len();
        c.bench_function(&format!("verify, cache hit, {n} keys cached"), |b| {
            b.iter(|| {
                service
                    .verify(black_box(&parsed), &Seen::NOBODY)
                    .now_or_never()
                    .unwrap()
                    .unwrap()
            })
        });
        c.bench_function(
            &format!("parse + verify, cache hit, {n} keys cached"),
            |b| {
                b.iter(|| {
                    let key = RawApiKey::parse(black_box(&raw)).unwrap();
                    service
                        .verify(&key, &Seen::NOBODY)
                        .now_or_never()
                        .unwrap()
                        .unwrap()
                })
            },
        );
    }
}

/// Evicts L1 and L2 (and part of L3) the way a request's other work does: hyper, the kernel's
/// networking and the response run between two verifications of a real server.
fn evict(buffer: &mut [u8]) {
    for line in buffer.chunks_mut(64) {
        line[0] = line[0].wrapping_add(1);
    }
    black_box(&buffer);
}

/// Each call measured alone, after the caches were evicted.
fn cold(b: &mut criterion::Bencher, buffer: &mut [u8], mut op: impl FnMut()) {
    b.iter_custom(|iters| {
        let mut total = std::time::Duration::ZERO;
        for _ in 0..iters {
            evict(buffer);
            let start = std::time::Instant::now();
            op();
            total += start.elapsed();
        }
        total
    })
}

fn bench_cold(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    let dir = tempfile::tempdir().unwrap();
    let (service, raws) = rt.block_on(setup(dir.path(), 10));
    let raw = raws.last().unwrap().clone();
    let header = format!("Bearer {raw}");
    // In the cache, as on a server that has seen the key before.
    rt.block_on(service.verify(&RawApiKey::parse(&raw).unwrap(), &Seen::NOBODY))
        .unwrap();
    let mut buffer = vec![0u8; 4 << 20];
    c.bench_function("cold: nothing (timer and loop)", |b| {
        cold(b, &mut buffer, || {
            black_box(&raw);
        })
    });
    c.bench_function("cold: sha256 of a 47-byte key", |b| {
        cold(b, &mut buffer, || {
            black_box(Sha256::digest(black_box(raw.as_bytes())));
        })
    });
    c.bench_function("cold: parse the header value + verify", |b| {
        cold(b, &mut buffer, || {
            let value = black_box(header.as_bytes())
                .strip_prefix(b"Bearer ")
                .unwrap();
            let key = RawApiKey::parse_bytes(value).unwrap();
            black_box(
                service
                    .verify(&key, &Seen::NOBODY)
                    .now_or_never()
                    .unwrap()
                    .unwrap(),
            );
        })
    });
}

criterion_group!(benches, bench, bench_cold);
criterion_main!(benches);
