//! Group `stats`: a snapshot of the kernel's stats block (`copy_count`,
//! `copy_bytes`).
//!
//! Id `rust`: `Zcrx::stats()` and its two atomic loads, per snapshot. Id
//! `c`: two relaxed atomic loads (`c/stats.c`).

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use benches::report::print_group_ratios;
use benches::{FakeZcrx, c_stats, rust_stats};
use criterion::{Criterion, Throughput};

fn stats(c: &mut Criterion) {
    let fake = FakeZcrx::new().expect("fake instance");
    let block = fake.region.stats();
    // SAFETY: the stats block is inside the live region, 8-aligned; the
    // counters are only ever accessed atomically (here: before any reader).
    unsafe {
        block.write(zcrx_uapi::zcrx_stats {
            copy_count: 244,
            copy_bytes: 4_000_000,
        });
    }
    let mut group = c.benchmark_group("stats");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(1));
    group.bench_function("rust", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            black_box(rust_stats(&fake.zcrx, iters));
            start.elapsed()
        });
    });
    group.bench_function("c", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            black_box(c_stats(&fake.region, iters));
            start.elapsed()
        });
    });
    group.finish();
}

fn main() {
    let started = SystemTime::now();
    let mut c = Criterion::default().configure_from_args();
    stats(&mut c);
    c.final_summary();
    print_group_ratios(&["stats"], started);
}
