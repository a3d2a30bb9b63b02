//! The return path of an instance: buffers given back by views, queued on
//! the refill ring, published to the kernel, and (in NODEV mode) flushed.
//!
//! Three ways back, one bookkeeping:
//!
//! - a [`Buf`](crate::Buf) dropped on the owner thread pushes its entry on
//!   the refill ring (no atomic, no system call);
//! - a [`SharedBuf`](crate::SharedBuf) dropped on any thread records the
//!   return in its area's per-buffer counters (two atomics, no lock);
//! - a return that finds the refill ring full goes into the same counters.
//!
//! The counters are the **backlog**: fixed memory (one counter per buffer
//! and one bit per buffer, allocated at registration), so it never grows
//! and never allocates, whatever the kernel's pace. The owner thread moves
//! the backlog to the refill ring at every [`Zcrx::publish`]; the kernel
//! ignores an entry's length and in-buffer offset (`io_parse_rqe` in
//! `io_uring/zcrx.c`), so one entry per counted return rebuilds them
//! exactly.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::cell::Cell;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use zcrx_uapi::io_uring_zcrx_rqe;

use super::producer::{KernelRefill, Lent, Producer};
use crate::area::AreaMemory;
use crate::error::{Error, Result};
use crate::region::{CheckedOffsets, RegionMemory};
use crate::zcrx::Zcrx;

/// An area after registration: its memory, its id, and the counters of its
/// backlog.
#[derive(Debug)]
pub(crate) struct AreaShared {
    pub(crate) mem: Arc<AreaMemory>,
    /// `area_id << IORING_ZCRX_AREA_SHIFT`, as the kernel wrote it back.
    pub(crate) token: u64,
    /// log2 of the buffer size.
    pub(crate) buf_shift: u32,
    /// Per buffer: returns not yet on the refill ring.
    counts: Box<[AtomicU32]>,
    /// One bit per buffer with a non-zero count.
    dirty: Box<[AtomicU64]>,
    /// Instance-wide number of returns in the backlog (shared by all areas).
    backlog: Arc<AtomicUsize>,
}

impl AreaShared {
    pub(crate) fn new(
        mem: Arc<AreaMemory>,
        token: u64,
        buf_shift: u32,
        backlog: Arc<AtomicUsize>,
    ) -> Self {
        let nbufs = mem.len() >> buf_shift;
        Self {
            mem,
            token,
            buf_shift,
            counts: (0..nbufs).map(|_| AtomicU32::new(0)).collect(),
            dirty: (0..nbufs.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            backlog,
        }
    }

    /// Number of buffers.
    pub(crate) fn buffers(&self) -> usize {
        self.counts.len()
    }

    /// Records one return of buffer `index`, from any thread.
    pub(crate) fn give_back(&self, index: usize) {
        self.counts[index].fetch_add(1, Ordering::Relaxed);
        self.dirty[index / 64].fetch_or(1 << (index % 64), Ordering::Release);
        self.backlog.fetch_add(1, Ordering::Release);
    }

    /// Moves recorded returns to `push(offset, count) -> pushed` until it
    /// takes fewer than offered; what it did not take stays recorded.
    /// Returns whether everything was taken. Owner thread only.
    fn drain(&self, mut push: impl FnMut(u64, u32) -> u32) -> bool {
        for (word_index, word) in self.dirty.iter().enumerate() {
            if word.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let mut bits = word.swap(0, Ordering::Acquire);
            while bits != 0 {
                let bit = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let index = word_index * 64 + bit;
                let n = self.counts[index].swap(0, Ordering::Relaxed);
                if n == 0 {
                    continue;
                }
                let pushed = push(self.token | ((index as u64) << self.buf_shift), n);
                self.backlog.fetch_sub(pushed as usize, Ordering::Relaxed);
                if pushed < n {
                    // Put back what did not fit, and the bits not visited.
                    self.counts[index].fetch_add(n - pushed, Ordering::Relaxed);
                    word.fetch_or(bits | (1 << bit), Ordering::Release);
                    return false;
                }
            }
        }
        true
    }
}

/// The instance's refill producer and the accounting of its buffers.
#[derive(Debug)]
pub(crate) struct Returns {
    producer: Producer<KernelRefill>,
    /// Returns in the areas' counters, not yet on the refill ring.
    backlog: Arc<AtomicUsize>,
    /// Views handed out so far (wrapping). Buffers held by userspace are
    /// this minus the returns: entries queued on the refill ring since
    /// `queued_base`, plus the backlog. Counting hand-outs keeps the
    /// common return path free of bookkeeping.
    handed_out: Cell<u32>,
    /// The producer's queued-entry count when the instance began.
    queued_base: u32,
}

impl Returns {
    /// # Safety
    ///
    /// `offsets` passed `RegionLayout::validate` against `region`, which
    /// outlives the value.
    pub(crate) unsafe fn new(
        region: &RegionMemory,
        offsets: &CheckedOffsets,
        resume: bool,
    ) -> Self {
        // SAFETY: validated offsets: head and tail are distinct aligned u32s
        // and the entries fit, none overlapping, inside `region`, which
        // outlives the value (this function's contract).
        let mem = unsafe {
            KernelRefill::new(
                region.at(offsets.head),
                region.at(offsets.tail),
                region.at(offsets.rqes),
                offsets.entries,
            )
        };
        let producer = if resume {
            Producer::resume(mem)
        } else {
            Producer::new(mem)
        };
        Self {
            queued_base: producer.queued_total(),
            producer,
            backlog: Arc::new(AtomicUsize::new(0)),
            handed_out: Cell::new(0),
        }
    }

    /// The counter the areas record their backlog in.
    pub(crate) fn backlog_counter(&self) -> Arc<AtomicUsize> {
        self.backlog.clone()
    }

    /// Counts `n` views handed out.
    #[inline]
    pub(crate) fn count_views(&self, n: u32) {
        self.handed_out.set(self.handed_out.get().wrapping_add(n));
    }

    /// Lends the producer's indices to a batch (blocked if a batch has
    /// them).
    #[inline]
    pub(crate) fn lend(&self) -> Lent {
        self.producer.lend()
    }

    /// Takes the indices back from a batch.
    #[inline]
    pub(crate) fn restore(&self, lent: Lent) {
        self.producer.restore(lent);
    }

    /// Refill ring entries.
    pub(crate) fn entries(&self) -> u32 {
        self.producer.entries()
    }

    /// Stores the tail (one store-release) if anything new was queued.
    #[inline]
    pub(crate) fn publish_tail(&self) {
        self.producer.publish();
    }

    /// Every view handed out and every return, summed: it changes whenever
    /// buffers move between the kernel and the application.
    pub(crate) fn activity(&self) -> u32 {
        self.handed_out
            .get()
            .wrapping_add(self.producer.queued_total())
            .wrapping_add(self.backlog.load(Ordering::Relaxed) as u32)
    }
}

impl Zcrx {
    /// Queues a buffer on the refill ring (a view's drop path).
    #[inline]
    pub(crate) fn recycle(&self, off: u64, len: u32) {
        let rqe = io_uring_zcrx_rqe { off, len, __pad: 0 };
        if let Err(rqe) = self.returns.producer.push(rqe) {
            self.recycle_slow(rqe);
        }
    }

    #[cold]
    fn recycle_slow(&self, rqe: io_uring_zcrx_rqe) {
        self.returns.producer.publish();
        // While a batch holds the producer's indices, pushes fail whatever
        // the kernel does: a flush would be a wasted system call.
        if self.nodev
            && !self.returns.producer.is_lent()
            && self.flush().is_ok()
            && self.returns.producer.push(rqe).is_ok()
        {
            return;
        }
        // A full ring the kernel has not drained yet (NIC mode), a batch
        // in progress, or a flush that failed: record it in the backlog,
        // retried at every publish.
        self.to_backlog(rqe.off);
    }

    /// Records the return of the buffer at `off` (a completion's offset) in
    /// the backlog.
    #[cold]
    pub(crate) fn to_backlog(&self, off: u64) {
        let area = self.area_shared((off >> zcrx_uapi::IORING_ZCRX_AREA_SHIFT) as u16);
        let index = ((off & !zcrx_uapi::IORING_ZCRX_AREA_MASK) >> self.buf_shift) as usize;
        area.give_back(index);
    }

    /// Moves the backlog to the refill ring as far as it has room; returns
    /// whether the backlog is now empty.
    fn drain_backlog(&self) -> bool {
        if self.returns.backlog.load(Ordering::Relaxed) == 0 {
            return true;
        }
        // Pairs with the releases of `give_back`: the counts are visible.
        core::sync::atomic::fence(Ordering::Acquire);
        let len = self.buf_len as u32;
        let producer = &self.returns.producer;
        let areas = self.areas.borrow();
        areas.iter().all(|area| {
            area.drain(|off, n| producer.push_with(n, |_| io_uring_zcrx_rqe { off, len, __pad: 0 }))
        })
    }

    /// Moves the backlog (returns made by other threads, returns that found
    /// the ring full) to the refill ring as far as it has room, and
    /// publishes the tail (one store-release). Receive loops call it before
    /// every wait or submission; it makes no system call.
    pub fn publish(&self) {
        if self.returns.producer.is_lent() {
            return; // a batch is open: it publishes when it ends
        }
        self.drain_backlog();
        self.returns.producer.publish();
    }

    /// Makes every returned buffer usable by the kernel before a wait:
    /// publishes, and in NODEV mode (where nothing else consumes the refill
    /// ring) flushes it with `ZCRX_CTRL_FLUSH_RQ` when the kernel runs low on
    /// free buffers, when `force` is set, or when the backlog does not fit
    /// the ring, repeating (publish, flush) until the backlog is empty.
    /// Returns whether a flush happened. In NIC mode it only publishes: the
    /// kernel's page pool takes entries as it needs buffers.
    ///
    /// # Errors
    ///
    /// The flush's errors ([`flush`](Self::flush)), and
    /// [`Error::Stalled`] if the kernel consumed none of the published
    /// entries while a backlog waits (it refused them).
    pub fn prepare_wait(&self, force: bool) -> Result<bool> {
        if self.returns.producer.is_lent() {
            return Ok(false); // a batch is open: it publishes when it ends
        }
        let mut flushed = false;
        loop {
            let drained = self.drain_backlog();
            self.returns.producer.publish();
            if !self.nodev {
                return Ok(false);
            }
            let unconsumed = self.returns.producer.unconsumed();
            if unconsumed == 0 {
                return Ok(flushed);
            }
            let kernel_free = self
                .buffers()
                .saturating_sub(self.held())
                .saturating_sub(self.backlog() as u32)
                .saturating_sub(unconsumed);
            let low = kernel_free < self.buffers() / 2 || unconsumed >= self.rq_entries() / 2;
            if !(force || low || !drained) {
                return Ok(flushed);
            }
            self.flush()?;
            flushed = true;
            if drained {
                return Ok(true);
            }
            if self.returns.producer.unconsumed() == unconsumed {
                return Err(Error::Stalled {
                    what: "refill ring",
                    reason: "ZCRX_CTRL_FLUSH_RQ consumed none of the published entries",
                });
            }
        }
    }

    /// Makes returned buffers free for the kernel's copy path after a
    /// receive ended with `ENOMEM` (no free buffer to copy into): as
    /// [`prepare_wait(true)`](Self::prepare_wait), and in NIC mode a
    /// `ZCRX_CTRL_FLUSH_RQ` as well when published returns wait on the
    /// ring. In NIC mode only the copy path (copy fallback: payload that did
    /// not arrive in the bound queue's buffers, such as a flow steered to
    /// another queue) runs out this way; it takes buffers from the area's
    /// free list, which the refill ring reaches only through the NIC's page
    /// pool, and only when the NIC needs buffers: with the bound queue idle,
    /// the returns would wait there for ever. The zero-copy path never gets
    /// here, so a NIC-mode stream steered to its queue issues no flush. The
    /// NIC-mode flush is best effort (kernels before 6.19 have no control
    /// operations: there the NIC has to consume the ring).
    pub(crate) fn free_for_copy(&self) -> Result<bool> {
        let flushed = self.prepare_wait(true)?;
        if self.nodev || self.returns.producer.unconsumed() == 0 {
            return Ok(flushed);
        }
        Ok(self.flush().is_ok())
    }

    /// Returned buffers queued on the refill ring but not yet visible to the
    /// kernel (published by [`publish`](Self::publish)).
    pub fn unpublished(&self) -> u32 {
        self.returns.producer.unpublished()
    }

    /// Returns not yet on the refill ring: made by other threads
    /// ([`SharedBuf`](crate::SharedBuf)) or found the ring full. They move
    /// to the ring at every [`publish`](Self::publish); in NODEV mode
    /// [`prepare_wait`](Self::prepare_wait) empties it. A count that keeps
    /// growing in NIC mode means the kernel is not consuming the ring (its
    /// page pool refills from it only as it needs buffers). Bounded: at most
    /// the number of views ever handed out and not yet returned to the ring,
    /// kept in fixed per-buffer counters.
    pub fn backlog(&self) -> usize {
        self.returns.backlog.load(Ordering::Acquire)
    }

    /// Buffers currently held by userspace: views (and
    /// [`SharedBuf`](crate::SharedBuf)s) alive. A buffer the kernel handed
    /// out in several completions counts once per completion.
    pub fn held(&self) -> u32 {
        let r = &self.returns;
        let returned = r
            .producer
            .queued_total()
            .wrapping_sub(r.queued_base)
            .wrapping_add(self.backlog() as u32);
        r.handed_out.get().wrapping_sub(returned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zcrx::fake_instance;
    use alloc::vec::Vec;

    fn view(zcrx: &Zcrx, buffer: u64) -> crate::Buf<'_> {
        // SAFETY: (test) fake memory no kernel writes; one view per buffer.
        unsafe { zcrx.buf_from_completion(100, buffer * 4096) }.unwrap()
    }

    // The fake instance maps memory and opens /dev/null: not under Miri's
    // isolation (the producer's pointer work is covered by its own tests).
    #[test]
    #[cfg_attr(miri, ignore)]
    fn the_backlog_is_bounded_and_drains_as_the_ring_frees() {
        let zcrx = fake_instance(64, 4);
        let shared: Vec<_> = (0..20).map(|b| view(&zcrx, b).into_shared()).collect();
        assert_eq!((zcrx.held(), zcrx.backlog()), (20, 0));
        // Dropped on another thread: the returns wait in the backlog.
        std::thread::spawn(move || drop(shared)).join().unwrap();
        assert_eq!((zcrx.held(), zcrx.backlog()), (0, 20));
        let mut published = 0;
        while zcrx.backlog() > 0 {
            zcrx.publish();
            let now = zcrx.returns.producer.queued_total();
            assert!(now - published <= 4, "never more than the ring holds");
            assert!(now > published, "progress at every publish");
            published = now;
            zcrx.returns.producer.memory().consume_all();
        }
        assert_eq!(published, 20);
        assert_eq!(zcrx.held(), 0);
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn returns_that_find_the_ring_full_wait_in_the_backlog() {
        let zcrx = fake_instance(16, 2);
        let views: Vec<_> = (0..10).map(|b| view(&zcrx, b)).collect();
        // 2 fit the ring (published when the third finds it full), 8 go to
        // the backlog (NIC mode: no flush).
        drop(views);
        assert_eq!((zcrx.unpublished(), zcrx.backlog(), zcrx.held()), (0, 8, 0));
        assert_eq!(zcrx.returns.producer.queued_total(), 2);
        assert!(!zcrx.prepare_wait(true).unwrap(), "NIC mode never flushes");
        assert_eq!(zcrx.flushes(), 0);
        for _ in 0..4 {
            zcrx.returns.producer.memory().consume_all();
            zcrx.publish();
        }
        assert_eq!(
            (zcrx.backlog(), zcrx.returns.producer.queued_total()),
            (0, 10)
        );
    }
}
