//! Group `complete`: per buffer, a completion becomes a buffer view, its
//! data is touched (first and last byte) and it goes back to the refill
//! ring; every 32 completions (one reaped batch) the tail is published and
//! the model kernel consumes the ring on the same thread (as a NODEV flush
//! does).
//!
//! Id `rust`: `Zcrx::for_each_view` over each reaped batch of 32, over an
//! instance adopted with `Zcrx::from_raw_parts` on fake memory (each
//! completion checked and viewed, its refill entry written, the tail
//! published once per batch). Id `rust-single`: one
//! `Zcrx::buf_from_completion` per completion, the view dropped,
//! `Zcrx::publish` every 32 (what a receive loop handing out `Buf`s does).
//! Id `c`: `c/complete.c`, liburing's example's steps (the head read and
//! the tail published per entry), over the same area and completions and a
//! refill ring of the same size. Id `c-tuned`: the faster C, batched like
//! the Rust side.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use benches::report::print_group_ratios;
use benches::{FakeZcrx, RefillRegion, c_complete, fake_cqes, rust_complete, rust_complete_each};
use criterion::{Criterion, Throughput};

fn complete(c: &mut Criterion) {
    let cqes = fake_cqes();
    let mut group = c.benchmark_group("complete");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(1));
    type RustLoop = fn(
        &zcrx_ring::Zcrx,
        &mut benches::ffi::Consumer,
        &[benches::Cqe32; benches::NCQES],
        u64,
    ) -> u64;
    let rust: [(&str, RustLoop); 2] =
        [("rust", rust_complete_each), ("rust-single", rust_complete)];
    for (id, run) in rust {
        group.bench_function(id, |b| {
            let mut fake = FakeZcrx::new().expect("fake instance");
            b.iter_custom(|iters| {
                let start = Instant::now();
                black_box(run(&fake.zcrx, &mut fake.kernel, &cqes, iters));
                start.elapsed()
            });
        });
    }
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
