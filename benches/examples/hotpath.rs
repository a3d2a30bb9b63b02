//! Runs one hot loop of the benchmarks on one thread, for instruction
//! counts under callgrind (the model kernel consumes inline, after every
//! batch, instead of on another core):
//!
//! ```text
//! cargo build --release -p benches --example hotpath
//! valgrind --tool=callgrind --callgrind-out-file=cg.out \
//!     target/release/examples/hotpath complete rust 1000000
//! callgrind_annotate cg.out
//! ```
//!
//! (`cargo run --release -p benches --bin icount` prints every case's
//! instructions per buffer side by side.)
//!
//! Arguments: `refill|complete|stats`, `rust|rust-single|rust-push|c|c-tuned`
//! (see `benches::hotloop::Case`), iterations, and for `refill` the batch
//! size (`refill-mt`: the model kernel on the other
//! core; `PUSH=1`: the Rust side pushes entry by entry). With `ab` instead of `rust|c`, both sides run
//! in turn (ROUNDS chunks of ITERS each) and the minimum and median time
//! per iteration of each are printed: a quick A/B on a noisy machine.
//! `TUNED=1` compares with the tuned C (`c-tuned`) instead of liburing's
//! steps (`c`); `SINGLE=1` runs `complete` through one
//! `buf_from_completion` per completion instead of `for_each_view`. The
//! variables are read once, before timing.

use std::hint::black_box;

use std::sync::OnceLock;

use benches::{
    FakeZcrx, REFILL_BUF_MASK, RefillRegion, c_complete, c_refill_tuned, c_stats, fake_cqes, ffi,
    rust_complete, rust_complete_each, rust_refill, rust_stats,
};

/// Whether the environment variable `name` is set, read once (never inside
/// a timed loop).
fn flag(name: &'static str, cell: &'static OnceLock<bool>) -> bool {
    *cell.get_or_init(|| std::env::var_os(name).is_some())
}

/// Whether the C side is the tuned C (`TUNED=1`).
fn tuned() -> bool {
    static CELL: OnceLock<bool> = OnceLock::new();
    flag("TUNED", &CELL)
}

/// Whether `complete` runs the single-view path (`SINGLE=1`).
fn single() -> bool {
    static CELL: OnceLock<bool> = OnceLock::new();
    flag("SINGLE", &CELL)
}

/// Whether the Rust `refill` side pushes entry by entry (`PUSH=1`).
fn push() -> bool {
    static CELL: OnceLock<bool> = OnceLock::new();
    flag("PUSH", &CELL)
}

/// The C refill loop selected by `TUNED`.
fn c_refill(p: &mut ffi::Producer, iters: u64, batch: u32, buf_mask: u32) -> u64 {
    if tuned() {
        c_refill_tuned(p, iters, batch, buf_mask)
    } else {
        benches::c_refill(p, iters, batch, buf_mask)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: hotpath refill|complete|stats rust|c ITERS [BATCH]";
    let (Some(group), Some(side), Some(iters)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let iters: u64 = iters.parse().expect("ITERS");
    let batch: u32 = args.get(3).map_or(32, |b| b.parse().expect("BATCH"));
    if side == "ab" {
        ab(
            group,
            iters,
            batch,
            args.get(4).map_or(21, |r| r.parse().expect("ROUNDS")),
        );
        return;
    }
    let Some(case) = benches::hotloop::Case::parse(group, side, batch) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    println!("{}", case.run(iters));
}

/// Rust and C in turn, `rounds` times `iters` iterations each.
fn ab(group: &str, iters: u64, batch: u32, rounds: usize) {
    use std::time::Instant;
    // Read the switches now, not in the timed loops.
    let (_, single, push) = (tuned(), single(), push());
    let cqes = fake_cqes();
    let mut fake = FakeZcrx::new().expect("fake instance");
    let region = RefillRegion::new().expect("region");
    let mut p = region.c_producer();
    let mut kernel = region.consumer();
    let rust_q_region = RefillRegion::new().expect("region");
    let mut q = rust_q_region.rust_producer();
    let mut rust_kernel = rust_q_region.consumer();
    let mut times = [Vec::new(), Vec::new()];
    // Before any pinning: the CPUs this thread may use.
    let place = benches::Placement::two_cores();
    for _ in 0..rounds {
        for (side, t) in times.iter_mut().enumerate() {
            let start = Instant::now();
            let out = match (group, side) {
                ("complete", 0) if single => {
                    rust_complete(&fake.zcrx, &mut fake.kernel, &cqes, iters)
                }
                ("complete", 0) => rust_complete_each(&fake.zcrx, &mut fake.kernel, &cqes, iters),
                ("complete", _) => {
                    c_complete(&mut p, &mut kernel, &cqes, &fake.area, iters, tuned())
                }
                ("stats", 0) => rust_stats(&fake.zcrx, iters),
                ("stats", _) => c_stats(&fake.region, iters),
                ("refill-mt", side) => {
                    // A fresh ring per run, the model kernel on the other core.
                    if let Some(cpu) = place.producer {
                        benches::pin_to_cpu(cpu);
                    }
                    let region = RefillRegion::new().expect("region");
                    // SAFETY: the region outlives the consumer (stopped below).
                    let consumer =
                        unsafe { benches::ConsumerThread::spawn(&region, place.consumer) };
                    let n = if side == 0 && push {
                        let mut q = region.rust_producer();
                        benches::rust_refill_push(
                            &mut q,
                            iters / u64::from(batch),
                            batch,
                            REFILL_BUF_MASK,
                        )
                    } else if side == 0 {
                        let mut q = region.rust_producer();
                        rust_refill(&mut q, iters / u64::from(batch), batch, REFILL_BUF_MASK)
                    } else {
                        let mut p = region.c_producer();
                        c_refill(&mut p, iters / u64::from(batch), batch, REFILL_BUF_MASK)
                    };
                    consumer.stop();
                    n
                }
                ("refill", side) => {
                    let mut n = 0;
                    for _ in 0..iters / u64::from(batch) {
                        if side == 0 {
                            n += rust_refill(&mut q, 1, batch, REFILL_BUF_MASK);
                            // SAFETY: the region is alive.
                            unsafe { ffi::bench_consume_once(&mut rust_kernel) };
                        } else {
                            n += c_refill(&mut p, 1, batch, REFILL_BUF_MASK);
                            // SAFETY: the region is alive.
                            unsafe { ffi::bench_consume_once(&mut kernel) };
                        }
                    }
                    n
                }
                _ => panic!("unknown group {group}"),
            };
            black_box(out);
            t.push(start.elapsed().as_secs_f64() * 1e9 / iters as f64);
        }
    }
    let stat = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[0], v[v.len() / 2])
    };
    let (rmin, rmed) = stat(&mut times[0]);
    let (cmin, cmed) = stat(&mut times[1]);
    println!(
        "{group}: rust min {rmin:.3} med {rmed:.3} ns | c min {cmin:.3} med {cmed:.3} ns | rust/c min {:.3} med {:.3}",
        rmin / cmin,
        rmed / cmed
    );
}
