//! Group `complete`: per buffer, a completion becomes a buffer view, its
//! data is touched (first and last byte) and it goes back to the refill
//! ring; every 32 completions (one reaped batch) the tail is published and
//! the model kernel consumes the ring on the same thread (as a NODEV flush
//! does).
//!
//! Id `rust`: `Zcrx::buf_from_completion` over an instance adopted with
//! `Zcrx::from_raw_parts` on fake memory, the view dropped, `Zcrx::publish`.
//! Id `c`: `c/complete.c`, liburing's example's steps (the head read and
//! the tail published per entry), over the same area and completions and a
//! refill ring of the same size. Id `c-tuned`: the faster C, batched like
//! the Rust side.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use benches::report::print_group_ratios;
use benches::{FakeZcrx, RefillRegion, c_complete, fake_cqes, rust_complete};
use criterion::{Criterion, Throughput};

fn complete(c: &mut Criterion) {
    let cqes = fake_cqes();
    let mut group = c.benchmark_group("complete");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(1));
    group.bench_function("rust", |b| {
        let mut fake = FakeZcrx::new().expect("fake instance");
        b.iter_custom(|iters| {
            let start = Instant::now();
            black_box(rust_complete(&fake.zcrx, &mut fake.kernel, &cqes, iters));
            start.elapsed()
        });
    });
    for (id, tuned) in [("c", false), ("c-tuned", true)] {
        group.bench_function(id, |b| {
            // The same area (read through the Rust instance's mapping) and a
            // refill region of the same layout.
            let fake = FakeZcrx::new().expect("fake instance");
            let region = RefillRegion::new().expect("map the refill region");
            let mut p = region.c_producer();
            let mut kernel = region.consumer();
            b.iter_custom(|iters| {
                let start = Instant::now();
                black_box(c_complete(
                    &mut p,
                    &mut kernel,
                    &cqes,
                    &fake.area,
                    iters,
                    tuned,
                ));
                start.elapsed()
            });
        });
    }
    group.finish();
}

fn main() {
    let started = SystemTime::now();
    let mut c = Criterion::default().configure_from_args();
    complete(&mut c);
    c.final_summary();
    print_group_ratios(&["complete"], started);
}
