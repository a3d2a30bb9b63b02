//! Criterion benchmarks of the zcrx hot paths, with a C baseline measured
//! side by side in the same run.
//!
//! The benchmarks (`benches/*.rs`) measure three steps of receiving with
//! ZCRX, each once in Rust (through `zcrx-ring`) and once in C (`c/*.c`,
//! built at -O2 by `build.rs`):
//!
//! - `refill`: give buffers back through the refill ring and publish the
//!   tail, in batches of 1, 8, 32 and 256, while a model kernel consumes the
//!   ring on the other core;
//! - `complete`: a completion becomes a checked buffer view, its data is
//!   touched, and the view goes back to the refill ring;
//! - `stats`: a snapshot of the kernel's stats block.
//!
//! This library holds what both sides share: refill memory laid out like
//! the kernel's (Linux 7.3: head, tail on its own cache line, entries), the
//! model kernel consumer, a [`Zcrx`] adopted over fake memory, the Rust
//! loops, and the ratio report. `RESULTS.md` has the figures.

pub mod ffi;
pub mod hotloop;
pub mod report;

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};
use std::fs::File;
use std::hint::black_box;
use std::os::fd::OwnedFd;
use std::thread::JoinHandle;

use zcrx_ring::refill::RefillQueue;
use zcrx_ring::{Area, RawParts, Zcrx};
use zcrx_uapi::{io_uring_zcrx_offsets, io_uring_zcrx_rqe, zcrx_stats};

pub use ffi::Cqe32;

/// The page size assumed by the fake memory (checked at run time).
pub const PAGE: usize = 4096;
/// Entries of every benchmark's refill ring (the same for Rust and C).
pub const RQ_ENTRIES: u32 = 4096;
/// Offset of the head in a refill region (Linux 7.3's layout).
pub const HEAD_OFFSET: u32 = 0;
/// Offset of the tail: its own cache line since Linux 7.3.
pub const TAIL_OFFSET: u32 = 64;
/// Offset of the first entry (Linux 7.3: the 128-byte header).
pub const RQES_OFFSET: u32 = 128;
/// Offset of the stats block, right after the last entry.
pub const STATS_OFFSET: u64 = RQES_OFFSET as u64 + 16 * RQ_ENTRIES as u64;
/// Size of a refill region, a whole number of pages.
pub const REGION_LEN: usize = (STATS_OFFSET as usize + 16).next_multiple_of(PAGE);
/// Buffer size (the page size, as in NODEV mode).
pub const BUF_LEN: usize = 4096;
/// Buffers in the fake area of the `complete` group (4 MiB).
pub const AREA_BUFS: usize = 1024;
/// Completions in the fake completion queue, used in turn (a power of two).
pub const NCQES: usize = 1024;
/// Completions handled between two publications in the `complete` group:
/// one reaped batch of the completion queue.
pub const COMPLETE_BATCH: u32 = 32;
/// The refill group's entries name buffers `0..=REFILL_BUF_MASK`.
pub const REFILL_BUF_MASK: u32 = 4095;

/// Anonymous, zeroed, page-aligned memory, unmapped on drop.
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    /// Maps `len` bytes (a multiple of the page size), pre-faulted.
    pub fn new(len: usize) -> std::io::Result<Self> {
        // SAFETY: a fresh private anonymous mapping aliases nothing.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(std::io::ErrorKind::Other)?;
        Ok(Self { ptr, len })
    }

    /// The start of the mapping.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The start of the mapping.
    pub fn as_non_null(&self) -> NonNull<u8> {
        self.ptr
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: our own mapping; whoever borrowed it (a `Zcrx`, a
        // consumer thread) is gone before its owner drops it.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// A refill region laid out as Linux 7.3 lays it out: the head at 0, the
/// tail at 64 (its own cache line), [`RQ_ENTRIES`] entries from 128, and a
/// stats block after them.
#[derive(Debug)]
pub struct RefillRegion {
    mem: Mapping,
}

impl RefillRegion {
    /// A fresh region (head = tail = 0, stats zero).
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            mem: Mapping::new(REGION_LEN)?,
        })
    }

    fn at<T>(&self, off: u64) -> *mut T {
        // SAFETY: every offset used here is inside the region (constants
        // above) and suitably aligned for `T`.
        unsafe { self.mem.as_ptr().add(off as usize).cast() }
    }

    /// The head, as the kernel would write it.
    pub fn head(&self) -> &AtomicU32 {
        // SAFETY: 4-aligned, inside the mapping, lives as long as `self`,
        // and only ever accessed atomically.
        unsafe { AtomicU32::from_ptr(self.at(HEAD_OFFSET.into())) }
    }

    /// The tail, as userspace publishes it.
    pub fn tail(&self) -> &AtomicU32 {
        // SAFETY: as for `head`.
        unsafe { AtomicU32::from_ptr(self.at(TAIL_OFFSET.into())) }
    }

    /// The region's memory.
    pub fn memory(&self) -> &Mapping {
        &self.mem
    }

    /// The offsets as the kernel would write them back.
    pub fn offsets() -> io_uring_zcrx_offsets {
        io_uring_zcrx_offsets {
            head: HEAD_OFFSET,
            tail: TAIL_OFFSET,
            rqes: RQES_OFFSET,
            ..Default::default()
        }
    }

    /// The stats block.
    pub fn stats(&self) -> *mut zcrx_stats {
        self.at(STATS_OFFSET)
    }

    /// The C producer's view of the ring (continuing from its tail).
    pub fn c_producer(&self) -> ffi::Producer {
        let tail = self.tail().load(Ordering::Relaxed);
        ffi::Producer {
            khead: self.at(HEAD_OFFSET.into()),
            ktail: self.at(TAIL_OFFSET.into()),
            rqes: self.at(RQES_OFFSET.into()),
            entries: RQ_ENTRIES,
            rq_tail: tail,
            cached_head: self.head().load(Ordering::Relaxed),
            pad: 0,
        }
    }

    /// The model kernel's view of the ring.
    pub fn consumer(&self) -> ffi::Consumer {
        ffi::Consumer {
            khead: self.at(HEAD_OFFSET.into()),
            ktail: self.at(TAIL_OFFSET.into()),
            rqes: self.at(RQES_OFFSET.into()),
            entries: RQ_ENTRIES,
            stop: 0,
            consumed: 0,
            checksum: 0,
        }
    }

    /// `zcrx-ring`'s public producer over this ring.
    pub fn rust_producer(&self) -> RefillQueue {
        let head = NonNull::new(self.at::<u32>(HEAD_OFFSET.into())).expect("mapped");
        let tail = NonNull::new(self.at::<u32>(TAIL_OFFSET.into())).expect("mapped");
        let rqes = NonNull::new(self.at::<io_uring_zcrx_rqe>(RQES_OFFSET.into())).expect("mapped");
        // SAFETY: the three are distinct, aligned and inside the region,
        // which outlives the queue in every use here (the benchmarks drop
        // the queue first); only this queue produces into the ring while
        // it lives.
        unsafe { RefillQueue::from_raw(head, tail, rqes, RQ_ENTRIES) }
            .expect("RQ_ENTRIES is a power of two")
    }
}

/// Number of CPUs this process may run on.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
    // SAFETY: `set` is a valid out-parameter of the size passed.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// Pins the calling thread to `cpu`; returns whether it worked.
pub fn pin_to_cpu(cpu: usize) -> bool {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
    // SAFETY: `cpu` is checked against CPU_SETSIZE first.
    if cpu >= libc::CPU_SETSIZE as usize {
        return false;
    }
    // SAFETY: `cpu` is below CPU_SETSIZE (checked above).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) == 0 }
}

/// Restores the calling thread's affinity to `cpus`.
pub fn set_affinity(cpus: &[usize]) {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
    for &cpu in cpus.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
        // SAFETY: `cpu` is below CPU_SETSIZE.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
}

/// Where the producer and the model kernel run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The producer's CPU (the benchmark thread), if pinned.
    pub producer: Option<usize>,
    /// The consumer's CPU, if pinned.
    pub consumer: Option<usize>,
}

impl Placement {
    /// The first two CPUs the calling thread may run on: the producer on
    /// one, the consumer on the other; unpinned with fewer than two. Call
    /// it before pinning the calling thread.
    pub fn two_cores() -> Self {
        match allowed_cpus().as_slice() {
            [a, b, ..] => Self {
                producer: Some(*a),
                consumer: Some(*b),
            },
            _ => Self {
                producer: None,
                consumer: None,
            },
        }
    }
}

struct SendConsumer(*mut ffi::Consumer);
// SAFETY: the consumer's pointers point into a `RefillRegion` that the
// spawner keeps alive until the thread is joined (`ConsumerThread::stop`
// or drop); only the consumer thread writes the head, and the boxed
// `Consumer` itself is freed only after the join.
unsafe impl Send for SendConsumer {}

/// The model kernel on its own thread: it load-acquires the tail, reads
/// every published entry and store-releases the head, spinning meanwhile.
///
/// The region must outlive it (it is stopped and joined on drop).
pub struct ConsumerThread {
    consumer: *mut ffi::Consumer,
    handle: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ConsumerThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerThread").finish_non_exhaustive()
    }
}

impl ConsumerThread {
    /// Starts the model kernel over `region`, pinned to `cpu` if given.
    ///
    /// # Safety
    ///
    /// `region` outlives the returned value (which joins the thread when
    /// stopped or dropped).
    pub unsafe fn spawn(region: &RefillRegion, cpu: Option<usize>) -> Self {
        let consumer = Box::into_raw(Box::new(region.consumer()));
        let shared = SendConsumer(consumer);
        let handle = std::thread::Builder::new()
            .name("model-kernel".into())
            .spawn(move || {
                let shared = shared;
                if let Some(cpu) = cpu {
                    pin_to_cpu(cpu);
                }
                // SAFETY: the consumer's pointers are valid while the
                // region lives (the caller's contract); the stop flag is
                // only accessed atomically, by both threads.
                unsafe { ffi::bench_consumer_spin(shared.0) };
            })
            .expect("spawn the model kernel thread");
        Self {
            consumer,
            handle: Some(handle),
        }
    }

    /// Stops the thread; returns (entries consumed, checksum of them).
    pub fn stop(mut self) -> (u64, u64) {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> (u64, u64) {
        let Some(handle) = self.handle.take() else {
            return (0, 0);
        };
        // SAFETY: the boxed consumer lives until freed below; the flag is
        // 4-aligned and both sides access it atomically.
        let flag = unsafe { &raw mut (*self.consumer).stop };
        // SAFETY: as above: a valid, aligned u32 only accessed atomically.
        let stop = unsafe { AtomicU32::from_ptr(flag) };
        stop.store(1, Ordering::Relaxed);
        handle.join().expect("the model kernel thread panicked");
        // SAFETY: the thread is gone; we own the box again.
        let consumer = unsafe { Box::from_raw(self.consumer) };
        (consumer.consumed, consumer.checksum)
    }
}

impl Drop for ConsumerThread {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// The Rust `refill` loop: `iters` batches of `batch` returns through
/// `zcrx-ring`'s producer ([`RefillQueue::push_with`]: the batch is written
/// with the tail in a register), one publication (tail store-release) per
/// batch. A full ring is waited out (the consumer runs on another thread).
#[inline(never)]
pub fn rust_refill(q: &mut RefillQueue, iters: u64, batch: u32, buf_mask: u32) -> u64 {
    let mut n: u64 = 0;
    for _ in 0..iters {
        let mut left = batch;
        loop {
            let base = n;
            let queued = q.push_with(left, |i| io_uring_zcrx_rqe {
                off: ((base + u64::from(i)) & u64::from(buf_mask)) << 12,
                len: BUF_LEN as u32,
                __pad: 0,
            });
            n += u64::from(queued);
            left -= queued;
            q.publish();
            if left == 0 {
                break;
            }
            core::hint::spin_loop();
        }
    }
    n
}

/// The `refill` loop with one [`RefillQueue::push`] per entry (what a
/// dropped buffer view does), for comparison with [`rust_refill`].
#[inline(never)]
pub fn rust_refill_push(q: &mut RefillQueue, iters: u64, batch: u32, buf_mask: u32) -> u64 {
    let mut n: u64 = 0;
    for _ in 0..iters {
        for _ in 0..batch {
            let mut rqe = io_uring_zcrx_rqe {
                off: (n & u64::from(buf_mask)) << 12,
                len: BUF_LEN as u32,
                __pad: 0,
            };
            while let Err(back) = q.push(rqe) {
                rqe = back;
                q.publish();
                core::hint::spin_loop();
            }
            n += 1;
        }
        q.publish();
    }
    n
}

/// The C `refill` loop as liburing's example returns buffers (see
/// `c/refill.c`).
pub fn c_refill(p: &mut ffi::Producer, iters: u64, batch: u32, buf_mask: u32) -> u64 {
    // SAFETY: `p` describes a live refill region (built by
    // `RefillRegion::c_producer`, whose region the caller keeps alive).
    unsafe { ffi::bench_c_refill(p, iters, batch, buf_mask) }
}

/// The tuned C `refill` loop (see `c/refill.c`).
pub fn c_refill_tuned(p: &mut ffi::Producer, iters: u64, batch: u32, buf_mask: u32) -> u64 {
    // SAFETY: as for `c_refill`.
    unsafe { ffi::bench_c_refill_tuned(p, iters, batch, buf_mask) }
}

/// A [`Zcrx`] adopted over fake memory: a refill region, one area of
/// [`AREA_BUFS`] buffers, `/dev/null` standing in for the ring (the
/// instance is not NODEV, so no control call is ever made).
pub struct FakeZcrx {
    /// The instance.
    pub zcrx: Zcrx,
    /// The model kernel's view of the instance's refill ring (used inline,
    /// on the benchmark thread, like a NODEV flush).
    pub kernel: ffi::Consumer,
    /// The area's memory.
    pub area: Mapping,
    /// The refill region (after `zcrx`, so it is dropped after it).
    pub region: RefillRegion,
}

impl std::fmt::Debug for FakeZcrx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeZcrx")
            .field("zcrx", &self.zcrx)
            .finish_non_exhaustive()
    }
}

impl FakeZcrx {
    /// Builds the instance, with a stats block, and fills the area with a
    /// byte pattern.
    pub fn new() -> Result<Self, Box<dyn std::error::Error>> {
        let page = rustix_page_size();
        if page != PAGE {
            return Err(format!("the fake memory assumes {PAGE}-byte pages, not {page}").into());
        }
        let region = RefillRegion::new()?;
        let area = Mapping::new(AREA_BUFS * BUF_LEN)?;
        // SAFETY: the whole mapping, ours, not yet shared.
        let bytes = unsafe { core::slice::from_raw_parts_mut(area.as_ptr(), area.len()) };
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = i as u8;
        }
        // SAFETY: page aligned, a multiple of the page size, and the
        // mapping outlives the instance (field order of `FakeZcrx`); only
        // buffer views read it.
        let area_handle = unsafe { Area::from_raw_parts(area.as_non_null(), area.len()) }?;
        let ring: OwnedFd = File::open("/dev/null")?.into();
        let parts = RawParts {
            ring,
            zcrx_id: 0,
            nodev: false,
            region: region.memory().as_non_null(),
            region_len: REGION_LEN,
            offsets: RefillRegion::offsets(),
            rq_entries: RQ_ENTRIES,
            rx_buf_len: BUF_LEN as u32,
            stats_offset: Some(STATS_OFFSET),
        };
        // SAFETY: the parts describe memory laid out as the kernel lays it
        // out, which stays mapped while the instance lives (field order);
        // nothing else produces into the ring; the area is the instance's
        // only area and nothing else hands out its buffers.
        let zcrx = unsafe { Zcrx::from_raw_parts(parts, vec![area_handle]) }?;
        let kernel = region.consumer();
        Ok(Self {
            zcrx,
            kernel,
            area,
            region,
        })
    }
}

fn rustix_page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).unwrap_or(PAGE)
}

/// A fake completion queue: [`NCQES`] completions over the buffers of a
/// [`FakeZcrx`] area, with lengths like those of a TCP stream (full
/// buffers, MSS-sized and small chunks; never crossing a buffer).
pub fn fake_cqes() -> Box<[Cqe32; NCQES]> {
    const LENS: [u32; 8] = [4096, 1448, 2896, 4096, 100, 4096, 1448, 512];
    let mut cqes = Box::new([Cqe32::default(); NCQES]);
    for (i, c) in cqes.iter_mut().enumerate() {
        let buf = (i * 7) % AREA_BUFS; // not sequential: like recycled buffers
        let len = LENS[i % LENS.len()];
        let start = if len == 4096 {
            0
        } else {
            (i as u32 * 64) % (4096 - len)
        };
        c.user_data = 0x5a52 << 48;
        c.res = len as i32;
        c.flags = zcrx_uapi::IORING_CQE_F_MORE;
        c.off = (buf * BUF_LEN) as u64 + u64::from(start);
    }
    cqes
}

/// The Rust `complete` loop: `iters` completions taken in turn from `cqes`,
/// each turned into a checked view ([`Zcrx::buf_from_completion`]), its
/// first and last byte read, and the view dropped (queued on the refill
/// ring); every [`COMPLETE_BATCH`] completions the instance publishes and
/// the model kernel consumes. Returns a checksum of the bytes read.
#[inline(never)]
pub fn rust_complete(
    zcrx: &Zcrx,
    kernel: &mut ffi::Consumer,
    cqes: &[Cqe32; NCQES],
    iters: u64,
) -> u64 {
    let batch_mask = u64::from(COMPLETE_BATCH - 1);
    let mut sum = 0u64;
    for i in 0..iters {
        let c = &cqes[(i as usize) & (NCQES - 1)];
        // SAFETY: the fake completions describe one chunk each of the
        // instance's own area, which the model kernel hands out and takes
        // back like the real one; each view is dropped before its chunk
        // comes round again.
        if let Ok(buf) = unsafe { zcrx.buf_from_completion(c.res, c.off) } {
            let first = buf.first().copied().unwrap_or(0);
            let last = buf.last().copied().unwrap_or(0);
            sum += u64::from(first) + u64::from(last);
        }
        if i & batch_mask == batch_mask {
            zcrx.publish();
            // SAFETY: `kernel` describes the instance's own refill ring,
            // alive with it.
            unsafe { ffi::bench_consume_once(kernel) };
        }
    }
    zcrx.publish();
    sum
}

/// The Rust `complete` loop through [`Zcrx::for_each_view`]: every
/// [`COMPLETE_BATCH`] completions (one reaped batch) go through it in one
/// call, each checked, turned into a view, its first and last byte read,
/// and its refill entry written; the tail is published once per batch and
/// the model kernel consumes. Returns a checksum of the bytes read.
#[inline(never)]
pub fn rust_complete_each(
    zcrx: &Zcrx,
    kernel: &mut ffi::Consumer,
    cqes: &[Cqe32; NCQES],
    iters: u64,
) -> u64 {
    let batch = u64::from(COMPLETE_BATCH);
    let mut sum = 0u64;
    let mut i = 0u64;
    while i < iters {
        let n = batch.min(iters - i);
        let reaped = (0..n as usize).map(|k| {
            let c = &cqes[(i as usize + k) & (NCQES - 1)];
            (c.res, c.off)
        });
        // SAFETY: as in `rust_complete`: fake completions of the instance's
        // own area, each viewed once before it comes round again.
        let _ = unsafe {
            zcrx.for_each_view(reaped, |data| {
                sum += u64::from(data[0]) + u64::from(data[data.len() - 1]);
            })
        };
        i += n;
        if n == batch {
            // SAFETY: `kernel` describes the instance's own refill ring,
            // alive with it.
            unsafe { ffi::bench_consume_once(kernel) };
        }
    }
    sum
}

/// The C `complete` loop (see `c/complete.c`) over its own refill region
/// and the same area and completions as the Rust side: liburing's example's
/// steps, or (`tuned`) the batched C.
pub fn c_complete(
    p: &mut ffi::Producer,
    kernel: &mut ffi::Consumer,
    cqes: &[Cqe32; NCQES],
    area: &Mapping,
    iters: u64,
    tuned: bool,
) -> u64 {
    let f = if tuned {
        ffi::bench_c_complete_tuned
    } else {
        ffi::bench_c_complete
    };
    // SAFETY: `p` and `kernel` describe a live refill region, the area
    // mapping holds every buffer the completions name.
    unsafe {
        f(
            p,
            kernel,
            cqes.as_ptr(),
            NCQES as u32,
            area.as_ptr(),
            0,
            iters,
            COMPLETE_BATCH,
        )
    }
}

/// The Rust `stats` loop: `iters` snapshots through [`Zcrx::stats`].
#[inline(never)]
pub fn rust_stats(zcrx: &Zcrx, iters: u64) -> u64 {
    let mut sum = 0u64;
    for _ in 0..iters {
        if let Some(s) = zcrx.stats() {
            sum = sum.wrapping_add(s.copy_count().wrapping_add(s.copy_bytes()));
        }
    }
    black_box(sum)
}

/// The C `stats` loop (see `c/stats.c`) over the region's stats block.
pub fn c_stats(region: &RefillRegion, iters: u64) -> u64 {
    // SAFETY: the stats block is inside the live region, 8-aligned.
    unsafe { ffi::bench_c_stats(region.stats(), iters) }
}
