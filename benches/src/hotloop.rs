//! One hot loop of the benchmarks on one thread, with the model kernel
//! consuming inline (after every batch) instead of on another core: what
//! the instruction counts (`icount`) and the quick A/B (`examples/hotpath`)
//! run.

use std::hint::black_box;

use crate::{
    FakeZcrx, REFILL_BUF_MASK, RefillRegion, c_complete, c_refill, c_refill_tuned, c_stats,
    fake_cqes, ffi, rust_complete, rust_complete_each, rust_refill, rust_refill_push, rust_stats,
};

/// A hot loop: the group and the implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// `complete` through `Zcrx::for_each_view` (a reaped batch per call).
    CompleteRust,
    /// `complete` through one `Zcrx::buf_from_completion` per completion.
    CompleteRustSingle,
    /// `complete`, liburing's example's steps in C.
    CompleteC,
    /// `complete`, the hand-tuned C.
    CompleteCTuned,
    /// `refill` of `batch` entries with `RefillQueue::push_with`.
    RefillRust(u32),
    /// `refill` with one `RefillQueue::push` per entry.
    RefillRustPush(u32),
    /// `refill` in C (liburing's example's steps).
    RefillC(u32),
    /// `refill` in hand-tuned C.
    RefillCTuned(u32),
    /// A stats snapshot in Rust.
    StatsRust,
    /// A stats snapshot in C.
    StatsC,
}

impl Case {
    /// Parses `group side [batch]` (`complete rust`, `refill c-tuned 32`).
    pub fn parse(group: &str, side: &str, batch: u32) -> Option<Self> {
        Some(match (group, side) {
            ("complete", "rust") => Case::CompleteRust,
            ("complete", "rust-single") => Case::CompleteRustSingle,
            ("complete", "c") => Case::CompleteC,
            ("complete", "c-tuned") => Case::CompleteCTuned,
            ("refill", "rust") => Case::RefillRust(batch),
            ("refill", "rust-push") => Case::RefillRustPush(batch),
            ("refill", "c") => Case::RefillC(batch),
            ("refill", "c-tuned") => Case::RefillCTuned(batch),
            ("stats", "rust") => Case::StatsRust,
            ("stats", "c") => Case::StatsC,
            _ => return None,
        })
    }

    /// The arguments [`parse`](Self::parse) takes back.
    pub fn args(&self) -> (&'static str, &'static str, u32) {
        match *self {
            Case::CompleteRust => ("complete", "rust", 1),
            Case::CompleteRustSingle => ("complete", "rust-single", 1),
            Case::CompleteC => ("complete", "c", 1),
            Case::CompleteCTuned => ("complete", "c-tuned", 1),
            Case::RefillRust(b) => ("refill", "rust", b),
            Case::RefillRustPush(b) => ("refill", "rust-push", b),
            Case::RefillC(b) => ("refill", "c", b),
            Case::RefillCTuned(b) => ("refill", "c-tuned", b),
            Case::StatsRust => ("stats", "rust", 1),
            Case::StatsC => ("stats", "c", 1),
        }
    }

    /// Buffers handled per iteration of [`run`](Self::run).
    pub fn buffers_per_iter(&self) -> u64 {
        match *self {
            Case::RefillRust(b)
            | Case::RefillRustPush(b)
            | Case::RefillC(b)
            | Case::RefillCTuned(b) => u64::from(b),
            _ => 1,
        }
    }

    /// Runs `iters` iterations (a `refill` iteration is one batch, then the
    /// model kernel consumes); returns a checksum.
    pub fn run(&self, iters: u64) -> u64 {
        let out = match *self {
            Case::CompleteRust
            | Case::CompleteRustSingle
            | Case::CompleteC
            | Case::CompleteCTuned => {
                let cqes = fake_cqes();
                let mut fake = FakeZcrx::new().expect("fake instance");
                match self {
                    Case::CompleteRust => {
                        rust_complete_each(&fake.zcrx, &mut fake.kernel, &cqes, iters)
                    }
                    Case::CompleteRustSingle => {
                        rust_complete(&fake.zcrx, &mut fake.kernel, &cqes, iters)
                    }
                    _ => {
                        let region = RefillRegion::new().expect("region");
                        let mut p = region.c_producer();
                        let mut kernel = region.consumer();
                        let tuned = *self == Case::CompleteCTuned;
                        c_complete(&mut p, &mut kernel, &cqes, &fake.area, iters, tuned)
                    }
                }
            }
            Case::RefillRust(b)
            | Case::RefillRustPush(b)
            | Case::RefillC(b)
            | Case::RefillCTuned(b) => {
                let region = RefillRegion::new().expect("region");
                let mut kernel = region.consumer();
                let mut q = region.rust_producer();
                let mut p = region.c_producer();
                let mut n = 0;
                for _ in 0..iters {
                    n += match self {
                        Case::RefillRust(_) => rust_refill(&mut q, 1, b, REFILL_BUF_MASK),
                        Case::RefillRustPush(_) => rust_refill_push(&mut q, 1, b, REFILL_BUF_MASK),
                        Case::RefillC(_) => c_refill(&mut p, 1, b, REFILL_BUF_MASK),
                        _ => c_refill_tuned(&mut p, 1, b, REFILL_BUF_MASK),
                    };
                    // SAFETY: the region is alive.
                    unsafe { ffi::bench_consume_once(&mut kernel) };
                }
                n
            }
            Case::StatsRust | Case::StatsC => {
                let fake = FakeZcrx::new().expect("fake instance");
                if *self == Case::StatsRust {
                    rust_stats(&fake.zcrx, iters)
                } else {
                    c_stats(&fake.region, iters)
                }
            }
        };
        black_box(out)
    }
}
