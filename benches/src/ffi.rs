//! The C baseline's functions and structs (`c/bench.h`), mirrored.

use zcrx_uapi::{io_uring_zcrx_rqe, zcrx_stats};

/// A 32-byte completion of a CQE32 ring: `io_uring_cqe` then
/// `io_uring_zcrx_cqe` (`struct bench_cqe32`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Cqe32 {
    /// The submission's `user_data`.
    pub user_data: u64,
    /// Bytes received.
    pub res: i32,
    /// `IORING_CQE_F_*`.
    pub flags: u32,
    /// `io_uring_zcrx_cqe::off`: the area id in bits 48 and up.
    pub off: u64,
    /// `io_uring_zcrx_cqe::__pad`.
    pub pad: u64,
}

/// The producer's view of a refill ring (`struct bench_producer`).
#[repr(C)]
#[derive(Debug)]
pub struct Producer {
    /// The kernel-written head.
    pub khead: *mut u32,
    /// The user-written tail.
    pub ktail: *mut u32,
    /// The entries.
    pub rqes: *mut io_uring_zcrx_rqe,
    /// Number of entries (a power of two).
    pub entries: u32,
    /// Next slot to fill.
    pub rq_tail: u32,
    /// Last head seen.
    pub cached_head: u32,
    /// Padding.
    pub pad: u32,
}

/// The model kernel's view of a refill ring (`struct bench_consumer`).
#[repr(C)]
#[derive(Debug)]
pub struct Consumer {
    /// The kernel-written head.
    pub khead: *mut u32,
    /// The user-written tail.
    pub ktail: *mut u32,
    /// The entries.
    pub rqes: *const io_uring_zcrx_rqe,
    /// Number of entries (a power of two).
    pub entries: u32,
    /// Set atomically to stop [`bench_consumer_spin`].
    pub stop: u32,
    /// Entries consumed so far.
    pub consumed: u64,
    /// Sum of `off + len` of every entry read.
    pub checksum: u64,
}

unsafe extern "C" {
    /// Consumes published entries until `c.stop` is set.
    pub fn bench_consumer_spin(c: *mut Consumer);
    /// Consumes every published entry once; returns how many.
    pub fn bench_consume_once(c: *mut Consumer) -> u64;
    /// The C `refill` loop as liburing's example returns buffers (the head
    /// load-acquired per entry): `iters` batches of `batch` entries, one
    /// tail store-release per batch. Returns the number of entries written.
    pub fn bench_c_refill(p: *mut Producer, iters: u64, batch: u32, buf_mask: u32) -> u64;
    /// The tuned C `refill` loop (cached head, indices in registers).
    pub fn bench_c_refill_tuned(p: *mut Producer, iters: u64, batch: u32, buf_mask: u32) -> u64;
    /// The C `complete` loop as liburing's example does it (tail
    /// store-released per entry) over `iters` completions taken in turn
    /// from `cqes[..ncqes]` (a power of two), the model kernel consuming
    /// every `batch` (a power of two). Returns a checksum of the bytes
    /// touched.
    #[allow(clippy::too_many_arguments)]
    pub fn bench_c_complete(
        p: *mut Producer,
        k: *mut Consumer,
        cqes: *const Cqe32,
        ncqes: u32,
        area: *mut u8,
        area_token: u64,
        iters: u64,
        batch: u32,
    ) -> u64;
    /// The tuned C `complete` loop (tail published every `batch`).
    #[allow(clippy::too_many_arguments)]
    pub fn bench_c_complete_tuned(
        p: *mut Producer,
        k: *mut Consumer,
        cqes: *const Cqe32,
        ncqes: u32,
        area: *mut u8,
        area_token: u64,
        iters: u64,
        batch: u32,
    ) -> u64;
    /// The C `stats` loop: `iters` snapshots; returns their sum.
    pub fn bench_c_stats(s: *const zcrx_stats, iters: u64) -> u64;
}
