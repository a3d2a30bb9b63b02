//! Group `refill`: buffers go back through the refill ring (write the
//! entry, publish the tail with one store-release per batch) at batch sizes
//! 1, 8, 32 and 256, while a model kernel on the other core load-acquires
//! the tail, reads the entries and store-releases the head.
//!
//! Ids `rust/<batch>` (`zcrx-ring`'s producer, `RefillQueue::push_with`),
//! `rust-push/<batch>` (the same producer, one `RefillQueue::push` per
//! entry, as dropped buffer views return) and `c/<batch>` (`c/refill.c`);
//! the same ring size ([`benches::RQ_ENTRIES`]) and the same consumer.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use benches::report::{REFILL_BATCHES, print_group_ratios};
use benches::{
    ConsumerThread, Placement, REFILL_BUF_MASK, RefillRegion, c_refill, c_refill_tuned, pin_to_cpu,
    rust_refill, rust_refill_push, set_affinity,
};
use criterion::{BenchmarkId, Criterion, Throughput};

fn refill(c: &mut Criterion) {
    let place = Placement::two_cores();
    let allowed = benches::allowed_cpus();
    if let Some(cpu) = place.producer {
        pin_to_cpu(cpu);
    }
    let mut group = c.benchmark_group("refill");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    for batch in REFILL_BATCHES {
        group.throughput(Throughput::Elements(batch.into()));
        for (name, run) in [
            ("rust", rust_refill as fn(&mut _, u64, u32, u32) -> u64),
            ("rust-push", rust_refill_push),
        ] {
            group.bench_function(BenchmarkId::new(name, batch), |b| {
                let region = RefillRegion::new().expect("map the refill region");
                // SAFETY: `region` outlives the consumer (stopped below).
                let consumer = unsafe { ConsumerThread::spawn(&region, place.consumer) };
                let mut q = region.rust_producer();
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    black_box(run(&mut q, iters, batch, REFILL_BUF_MASK));
                    start.elapsed()
                });
                consumer.stop();
            });
        }
        for (name, run) in [
            ("c", c_refill as fn(&mut _, u64, u32, u32) -> u64),
            ("c-tuned", c_refill_tuned),
        ] {
            group.bench_function(BenchmarkId::new(name, batch), |b| {
                let region = RefillRegion::new().expect("map the refill region");
                // SAFETY: `region` outlives the consumer (dropped first below).
                let consumer = unsafe { ConsumerThread::spawn(&region, place.consumer) };
                let mut p = region.c_producer();
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    black_box(run(&mut p, iters, batch, REFILL_BUF_MASK));
                    start.elapsed()
                });
                consumer.stop();
            });
        }
    }
    group.finish();
    set_affinity(&allowed);
}

fn main() {
    let started = SystemTime::now();
    let mut c = Criterion::default().configure_from_args();
    refill(&mut c);
    c.final_summary();
    print_group_ratios(&["refill"], started);
}
