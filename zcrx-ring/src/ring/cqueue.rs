//! The completion queue: batch iteration over 32-byte and mixed-size rings.
//!
//! Protocol: the kernel writes entries from its tail on, then publishes the
//! tail with a release store; the application reads entries from its head up
//! to the tail (acquire load) and publishes its head with a release store,
//! which hands the slots back. The slot of index `i` is `i & mask`.
//!
//! - `CQE32`: every slot is 32 bytes.
//! - `CQE_MIXED`: slots are 16 bytes; an entry flagged `IORING_CQE_F_32` is
//!   32 bytes and takes two consecutive slots, and never wraps: where it
//!   would, the kernel first writes a one-slot padding entry flagged
//!   `IORING_CQE_F_SKIP` (`io_cqe_cache_refill`, `io_fill_nop_cqe`). Both
//!   slots are published together (the tail moves by two).

use alloc::collections::VecDeque;
use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};

use zcrx_uapi::{CqeFlags, IORING_CQE_F_32, IORING_CQE_F_SKIP, io_uring_cqe, io_uring_zcrx_cqe};

use super::CqeMode;

/// One completion, copied out of the ring.
///
/// `flags` keeps every bit the kernel wrote, known or not (including the
/// buffer id in the upper 16 bits, and `IORING_CQE_F_32` on mixed rings).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Completion {
    /// The submission's `user_data`.
    pub user_data: u64,
    /// The result: a count, or a negative errno.
    pub res: i32,
    /// `IORING_CQE_F_*` flags.
    pub flags: CqeFlags,
    /// The second 16 bytes of a 32-byte completion (`big_cqe[]`): always
    /// `Some` on a [`Cqe32`](super::Cqe32) ring; on a
    /// [`CqeMixed`](super::CqeMixed) ring, `Some` for entries flagged
    /// `IORING_CQE_F_32` (see [`is_truncated`](Self::is_truncated) for the
    /// one exception).
    pub big: Option<[u64; 2]>,
}

impl Completion {
    /// The result as `Ok(count)` or `Err(errno)`.
    #[inline]
    pub fn result(&self) -> Result<u32, rustix::io::Errno> {
        if self.res >= 0 {
            Ok(self.res as u32)
        } else {
            Err(rustix::io::Errno::from_raw_os_error(-self.res))
        }
    }

    /// Whether more completions will follow for the same submission
    /// (`IORING_CQE_F_MORE`, multishot operations).
    #[inline]
    pub fn more(&self) -> bool {
        self.flags.contains(CqeFlags::MORE)
    }

    /// The extra 16 bytes read as a ZCRX completion (`IORING_OP_RECV_ZC`):
    /// the buffer offset, with the area id in the bits from
    /// `IORING_ZCRX_AREA_SHIFT` up. The values are the kernel's, not yet
    /// validated against any area.
    #[inline]
    pub fn zcrx(&self) -> Option<io_uring_zcrx_cqe> {
        self.big
            .map(|[off, pad]| io_uring_zcrx_cqe { off, __pad: pad })
    }

    /// An entry flagged `IORING_CQE_F_32` on a mixed ring whose second half
    /// could not be read: it started in the ring's last slot, or its second
    /// slot was past the published tail. The kernel never writes such an
    /// entry; it was consumed as one slot and [`big`](Self::big) is `None`.
    #[inline]
    pub fn is_truncated(&self) -> bool {
        self.big.is_none() && self.flags.contains(CqeFlags::F_32)
    }
}

/// The completion queue's state; lives inside the `Ring`.
pub(crate) struct CqInner {
    khead: NonNull<AtomicU32>,
    ktail: NonNull<AtomicU32>,
    /// `entries * SLOT_BYTES / 16` 16-byte CQEs.
    cqes: NonNull<io_uring_cqe>,
    mask: u32,
    entries: u32,
    /// Next index to read (published when a batch ends).
    head: u32,
}

impl CqInner {
    /// # Safety
    ///
    /// `khead` and `ktail` must be valid, 4-aligned `u32` words and `cqes`
    /// must be valid for reads of `entries * M::SLOT_BYTES` bytes, 8-aligned,
    /// all for as long as the value lives, for the `M` it is used with.
    /// `entries` must be a power of two.
    pub(crate) unsafe fn new(
        khead: NonNull<AtomicU32>,
        ktail: NonNull<AtomicU32>,
        cqes: NonNull<io_uring_cqe>,
        entries: u32,
    ) -> Self {
        debug_assert!(entries.is_power_of_two());
        // SAFETY: valid per this function's contract; only we write it.
        let head = unsafe { khead.as_ref() }.load(Ordering::Relaxed);
        CqInner {
            khead,
            ktail,
            cqes,
            mask: entries - 1,
            entries,
            head,
        }
    }

    #[inline(always)]
    fn load_tail(&self) -> u32 {
        // SAFETY: valid for the life of `self` (see `new`).
        unsafe { self.ktail.as_ref() }.load(Ordering::Acquire)
    }

    /// Slots posted and not reaped, clamped to the ring size.
    #[inline]
    pub(crate) fn ready(&self) -> u32 {
        available(self.load_tail(), self.head, self.entries)
    }

    /// Slots posted and not reaped, as the kernel's tail says (unclamped).
    pub(crate) fn published_unclamped(&self) -> u32 {
        self.load_tail().wrapping_sub(self.head)
    }

    #[inline(always)]
    fn publish_head(&self) {
        // SAFETY: valid for the life of `self` (see `new`). The release
        // store orders our reads of the entries before the kernel's reuse
        // of their slots.
        unsafe { self.khead.as_ref() }.store(self.head, Ordering::Release);
    }
}

/// Slots between `head` and `tail`, clamped to `entries`: a tail that ran
/// further ahead than the ring size (which the kernel never publishes)
/// cannot make a reader lap the ring.
#[inline(always)]
pub(crate) const fn available(tail: u32, head: u32, entries: u32) -> u32 {
    let n = tail.wrapping_sub(head);
    if n > entries { entries } else { n }
}

/// Reads the entry at index `head`, with `avail >= 1` slots published from
/// `head` on. Returns the completion (`None` for padding) and the number of
/// slots it occupies (1 or 2, never more than `avail`).
///
/// # Safety
///
/// `cqes` must be valid for reads of `(mask + 1) * M::SLOT_BYTES` bytes,
/// 8-aligned, with `mask + 1` a power of two, and the slots `head ..
/// head + avail` must not be written concurrently.
#[inline(always)]
pub(crate) unsafe fn read_entry<M: CqeMode>(
    cqes: NonNull<io_uring_cqe>,
    mask: u32,
    head: u32,
    avail: u32,
) -> (Option<Completion>, u32) {
    debug_assert!(avail >= 1);
    let base = cqes.as_ptr();
    let slot = (head & mask) as usize;
    if !M::MIXED {
        // 32-byte slots: 16-byte unit `2 * slot` and the next one, both
        // inside the array (`2 * slot + 1 < 2 * (mask + 1)`).
        let first = base.wrapping_add(2 * slot);
        // SAFETY: inside the array, 8-aligned, published and not written
        // concurrently (this function's contract).
        let cqe = unsafe { first.read() };
        // SAFETY: as above, for the unit after it.
        let big = unsafe { first.wrapping_add(1).cast::<[u64; 2]>().read() };
        return (Some(completion(cqe, Some(big))), 1);
    }
    // SAFETY: `slot <= mask`: inside the array; published, not written
    // concurrently (this function's contract).
    let cqe = unsafe { base.wrapping_add(slot).read() };
    let (big, n) = if cqe.flags & IORING_CQE_F_32 == 0 {
        (None, 1)
    } else if slot as u32 == mask || avail < 2 {
        // Would wrap, or extend past the tail: the kernel never writes
        // this. Read no further than the one slot.
        (None, 1)
    } else {
        // SAFETY: `slot + 1 <= mask`: inside the array, and published
        // (`avail >= 2`).
        let big = unsafe { base.wrapping_add(slot + 1).cast::<[u64; 2]>().read() };
        (Some(big), 2)
    };
    if cqe.flags & IORING_CQE_F_SKIP != 0 {
        return (None, n);
    }
    (Some(completion(cqe, big)), n)
}

#[inline(always)]
fn completion(cqe: io_uring_cqe, big: Option<[u64; 2]>) -> Completion {
    Completion {
        user_data: cqe.user_data,
        res: cqe.res,
        flags: CqeFlags::from_bits_retain(cqe.flags),
        big,
    }
}

/// A batch of completions: an iterator over the entries posted when the
/// batch was taken ([`Ring::completions`](super::Ring::completions),
/// [`Ring::split`](super::Ring::split)).
///
/// The tail is read once when the batch is taken; the head is published once
/// when the batch is dropped (or at [`sync`](Self::sync)). Entries not
/// iterated stay in the ring for the next batch. Padding entries of mixed
/// rings are skipped.
pub struct Completions<'a, M: CqeMode> {
    cq: &'a mut CqInner,
    /// Completions reaped earlier and handed back to the ring; yielded
    /// before the ring's own.
    deferred: &'a mut VecDeque<Completion>,
    /// The tail, as read when the batch was taken (or last synced).
    tail: u32,
    /// The head last published.
    published: u32,
    _mode: PhantomData<M>,
}

impl<'a, M: CqeMode> Completions<'a, M> {
    #[inline]
    pub(crate) fn new(cq: &'a mut CqInner, deferred: &'a mut VecDeque<Completion>) -> Self {
        let head = cq.head;
        let tail = head.wrapping_add(cq.ready());
        Completions {
            cq,
            deferred,
            tail,
            published: head,
            _mode: PhantomData,
        }
    }

    /// Publishes the head of what was consumed so far (the kernel can reuse
    /// those slots) and reads the tail again, so that completions posted
    /// since join this batch.
    #[inline]
    pub fn sync(&mut self) {
        self.publish();
        self.tail = self.cq.head.wrapping_add(self.cq.ready());
    }

    /// Slots left in this batch (an upper bound on the completions it
    /// still yields; exact on a [`Cqe32`](super::Cqe32) ring), plus the
    /// completions handed back to the ring.
    #[inline]
    pub fn remaining(&self) -> u32 {
        self.tail
            .wrapping_sub(self.cq.head)
            .saturating_add(self.deferred.len() as u32)
    }

    #[inline(always)]
    fn publish(&mut self) {
        if self.cq.head != self.published {
            self.cq.publish_head();
            self.published = self.cq.head;
        }
    }
}

impl<M: CqeMode> Iterator for Completions<'_, M> {
    type Item = Completion;

    #[inline]
    fn next(&mut self) -> Option<Completion> {
        if !self.deferred.is_empty() {
            return self.deferred.pop_front();
        }
        loop {
            let avail = self.tail.wrapping_sub(self.cq.head);
            if avail == 0 {
                return None;
            }
            // SAFETY: `CqInner::new`'s contract gives the array for `M`;
            // the slots `head .. tail` are published and the kernel does
            // not write them until we publish a head past them.
            let (c, n) =
                unsafe { read_entry::<M>(self.cq.cqes, self.cq.mask, self.cq.head, avail) };
            self.cq.head = self.cq.head.wrapping_add(n);
            if c.is_some() {
                return c;
            }
        }
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining() as usize;
        if M::MIXED {
            (self.deferred.len(), Some(n))
        } else {
            (n, Some(n))
        }
    }
}

impl<M: CqeMode> Drop for Completions<'_, M> {
    #[inline]
    fn drop(&mut self) {
        self.publish();
    }
}

impl<M: CqeMode> fmt::Debug for Completions<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completions")
            .field("mode", &M::NAME)
            .field("head", &self.cq.head)
            .field("tail", &self.tail)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::{Cqe32, CqeMixed};
    use alloc::boxed::Box;
    use alloc::vec;
    use alloc::vec::Vec;
    use zcrx_uapi::IORING_CQE_F_MORE;

    /// A fake completion ring in plain memory; the test plays the kernel,
    /// posting entries the way `io_uring/io_uring.c` does.
    struct FakeCq {
        head: Box<AtomicU32>,
        tail: Box<AtomicU32>,
        /// In 16-byte units.
        cqes: Vec<io_uring_cqe>,
        entries: u32,
        mixed: bool,
        /// The kernel's `cached_cq_tail`.
        ktail: u32,
    }

    impl FakeCq {
        fn new(entries: u32, mixed: bool, start: u32) -> Self {
            let units = if mixed { entries } else { 2 * entries } as usize;
            FakeCq {
                head: Box::new(AtomicU32::new(start)),
                tail: Box::new(AtomicU32::new(start)),
                cqes: vec![io_uring_cqe::default(); units],
                entries,
                mixed,
                ktail: start,
            }
        }

        fn inner(&mut self) -> CqInner {
            // SAFETY: the boxes and the vector outlive the `CqInner` in each
            // test and the vector is not resized; its length matches the
            // mode (see `new`).
            unsafe {
                CqInner::new(
                    NonNull::from(&*self.head),
                    NonNull::from(&*self.tail),
                    NonNull::new(self.cqes.as_mut_ptr()).unwrap(),
                    self.entries,
                )
            }
        }

        fn write(&mut self, unit: usize, cqe: io_uring_cqe) {
            // SAFETY: in bounds (callers compute `unit` from the mask); no
            // reference into the vector is alive.
            unsafe { self.cqes.as_mut_ptr().wrapping_add(unit).write(cqe) };
        }

        fn queued(&self) -> u32 {
            self.ktail.wrapping_sub(self.head.load(Ordering::Acquire))
        }

        /// Posts a completion like `io_get_cqe` + `io_fill_cqe_req`; returns
        /// false when it would overflow. Does not publish the tail.
        fn post(&mut self, user_data: u64, res: i32, flags: u32, big: Option<[u64; 2]>) -> bool {
            let mask = self.entries - 1;
            if !self.mixed {
                if self.queued() == self.entries {
                    return false;
                }
                let unit = 2 * (self.ktail & mask) as usize;
                self.write(unit, cqe(user_data, res, flags));
                let [a, b] = big.unwrap_or_default();
                self.write(unit + 1, cqe(a, b as i32, (b >> 32) as u32));
                self.ktail = self.ktail.wrapping_add(1);
                return true;
            }
            let is32 = big.is_some();
            let flags = if is32 { flags | IORING_CQE_F_32 } else { flags };
            let mut off = self.ktail & mask;
            if is32 && off + 1 == self.entries {
                // io_fill_nop_cqe
                if self.queued() >= self.entries {
                    return false;
                }
                self.write(off as usize, cqe(0, 0, IORING_CQE_F_SKIP));
                self.ktail = self.ktail.wrapping_add(1);
                off = 0;
            }
            let need = if is32 { 2 } else { 1 };
            if self.entries - self.queued() < need {
                return false;
            }
            self.write(off as usize, cqe(user_data, res, flags));
            if let Some([a, b]) = big {
                self.write(off as usize + 1, cqe(a, b as i32, (b >> 32) as u32));
            }
            self.ktail = self.ktail.wrapping_add(need);
            true
        }

        fn publish(&self) {
            self.tail.store(self.ktail, Ordering::Release);
        }
    }

    fn cqe(user_data: u64, res: i32, flags: u32) -> io_uring_cqe {
        io_uring_cqe {
            user_data,
            res,
            flags,
        }
    }

    fn drain<M: CqeMode>(cq: &mut CqInner) -> Vec<Completion> {
        Completions::<M>::new(cq, &mut VecDeque::new()).collect()
    }

    #[test]
    fn completions_handed_back_come_first() {
        let mut fake = FakeCq::new(8, false, 0);
        assert!(fake.post(1, 0, 0, None));
        fake.publish();
        let mut cq = fake.inner();
        let mut deferred: VecDeque<Completion> = VecDeque::new();
        deferred.push_back(Completion {
            user_data: 9,
            res: 0,
            flags: CqeFlags::empty(),
            big: None,
        });
        let batch = Completions::<Cqe32>::new(&mut cq, &mut deferred);
        assert_eq!(batch.remaining(), 2);
        let order: Vec<u64> = batch.map(|c| c.user_data).collect();
        assert_eq!(order, [9, 1]);
        assert!(deferred.is_empty());
    }

    #[test]
    fn available_clamps() {
        assert_eq!(available(5, 3, 8), 2);
        assert_eq!(available(1, u32::MAX, 8), 2);
        assert_eq!(available(100, 0, 8), 8);
        // A tail behind the head reads as a huge distance: clamped too.
        assert_eq!(available(0, 1, 8), 8);
    }

    #[test]
    fn cqe32_round_trip_and_head_publication() {
        let mut fake = FakeCq::new(4, false, 0);
        let mut cq = fake.inner();
        assert_eq!(cq.ready(), 0);
        assert!(drain::<Cqe32>(&mut cq).is_empty());
        for i in 0..3u64 {
            assert!(fake.post(i, i as i32, IORING_CQE_F_MORE, Some([i, !i])));
        }
        // Not published yet: invisible.
        assert_eq!(cq.ready(), 0);
        fake.publish();
        assert_eq!(cq.ready(), 3);
        let mut deferred = VecDeque::new();
        let mut batch = Completions::<Cqe32>::new(&mut cq, &mut deferred);
        assert_eq!(batch.size_hint(), (3, Some(3)));
        let c = batch.next().unwrap();
        assert_eq!(c.user_data, 0);
        assert!(c.more());
        assert_eq!(c.big, Some([0, !0]));
        assert_eq!(c.zcrx().unwrap().off, 0);
        // The head is not published per entry.
        assert_eq!(fake.head.load(Ordering::Relaxed), 0);
        drop(batch);
        assert_eq!(fake.head.load(Ordering::Relaxed), 1);
        let rest = drain::<Cqe32>(&mut cq);
        assert_eq!(rest.len(), 2);
        assert_eq!(rest[1].big, Some([2, !2]));
        assert_eq!(fake.head.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn cqe32_wraps_and_keeps_unknown_flags() {
        for start in [0, u32::MAX - 2] {
            let mut fake = FakeCq::new(4, false, start);
            let mut cq = fake.inner();
            let mut next = 0u64;
            let mut got = Vec::new();
            for round in 0..25u64 {
                let n = round % 5;
                for _ in 0..n {
                    assert!(fake.post(next, -11, 0xdead_0000 | 1 << 14, Some([next, 7])));
                    next += 1;
                }
                assert!(!fake.post(99, 0, 0, Some([0, 0])) || n < 4);
                fake.publish();
                let batch = drain::<Cqe32>(&mut cq);
                // A full ring refused the extra post above; undo it.
                fake.ktail = fake.tail.load(Ordering::Relaxed);
                for c in &batch {
                    if c.user_data != 99 {
                        got.push(c.user_data);
                        assert_eq!(c.flags.bits(), 0xdead_0000 | 1 << 14);
                        assert_eq!(c.result(), Err(rustix::io::Errno::AGAIN));
                    }
                }
            }
            assert_eq!(got, (0..next).collect::<Vec<_>>());
        }
    }

    #[test]
    fn mixed_small_and_big_entries() {
        let mut fake = FakeCq::new(8, true, 0);
        let mut cq = fake.inner();
        assert!(fake.post(1, 0, 0, None));
        assert!(fake.post(2, 5, IORING_CQE_F_MORE, Some([0xaa, 0xbb])));
        assert!(fake.post(3, 0, 0, None));
        fake.publish();
        assert_eq!(cq.ready(), 4);
        let got = drain::<CqeMixed>(&mut cq);
        assert_eq!(got.len(), 3);
        assert_eq!((got[0].user_data, got[0].big), (1, None));
        assert_eq!((got[1].user_data, got[1].big), (2, Some([0xaa, 0xbb])));
        assert!(got[1].flags.contains(CqeFlags::F_32 | CqeFlags::MORE));
        assert!(!got[1].is_truncated());
        assert_eq!((got[2].user_data, got[2].big), (3, None));
        assert_eq!(fake.head.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn mixed_padding_before_wrap_is_skipped() {
        let mut fake = FakeCq::new(4, true, 0);
        let mut cq = fake.inner();
        // Three small ones leave the tail in the last slot.
        for ud in 0..3 {
            assert!(fake.post(ud, 0, 0, None));
        }
        fake.publish();
        assert_eq!(drain::<CqeMixed>(&mut cq).len(), 3);
        // A big one now needs padding in slot 3 and lands in slots 0-1.
        assert!(fake.post(10, 0, 0, Some([1, 2])));
        assert_eq!(fake.cqes[3].flags, IORING_CQE_F_SKIP);
        fake.publish();
        assert_eq!(cq.ready(), 3);
        let got = drain::<CqeMixed>(&mut cq);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].user_data, got[0].big), (10, Some([1, 2])));
        assert_eq!(fake.head.load(Ordering::Relaxed), 6);
    }

    #[test]
    fn mixed_long_run_with_wraps() {
        // A deterministic pseudo-random mix of sizes, across u32 wrap.
        for (entries, start) in [(2, 0), (4, u32::MAX - 7), (8, 3), (16, u32::MAX)] {
            let mut fake = FakeCq::new(entries, true, start);
            let mut cq = fake.inner();
            let mut rng = 0x2545_f491_4f6c_dd1du64;
            let mut posted = Vec::new();
            let mut got = Vec::new();
            for _ in 0..300 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let burst = rng % 4;
                for k in 0..burst {
                    let ud = posted.len() as u64;
                    let big = (rng >> (8 + k)) & 1 == 1;
                    let ok = fake.post(ud, ud as i32, 0, big.then_some([ud, ud ^ 0x55]));
                    if !ok {
                        break;
                    }
                    posted.push((ud, big));
                }
                fake.publish();
                // Sometimes reap only part of the batch.
                let take = if rng & 0x100 != 0 { 1 } else { usize::MAX };
                let mut deferred = VecDeque::new();
                let mut batch = Completions::<CqeMixed>::new(&mut cq, &mut deferred);
                for c in batch.by_ref().take(take) {
                    assert!(!c.is_truncated());
                    got.push((c.user_data, c.big.is_some()));
                    if let Some(b) = c.big {
                        assert_eq!(b, [c.user_data, c.user_data ^ 0x55]);
                    }
                }
            }
            got.extend(
                drain::<CqeMixed>(&mut cq)
                    .iter()
                    .map(|c| (c.user_data, c.big.is_some())),
            );
            assert_eq!(got, posted, "entries {entries}");
        }
    }

    #[test]
    fn mixed_malformed_entries_stay_in_bounds() {
        // F_32 in the last slot (the kernel pads instead): one slot.
        let mut fake = FakeCq::new(4, true, 3);
        let mut cq = fake.inner();
        fake.write(3, cqe(7, 0, IORING_CQE_F_32));
        fake.write(0, cqe(8, 0, 0));
        fake.ktail = 5;
        fake.publish();
        let got = drain::<CqeMixed>(&mut cq);
        assert_eq!(got.len(), 2);
        assert!(got[0].is_truncated());
        assert_eq!((got[0].user_data, got[1].user_data), (7, 8));
        assert_eq!(fake.head.load(Ordering::Relaxed), 5);

        // F_32 whose second slot is past the tail: one slot, nothing past
        // the tail read.
        let mut fake = FakeCq::new(4, true, 0);
        let mut cq = fake.inner();
        fake.write(0, cqe(9, 0, IORING_CQE_F_32));
        fake.ktail = 1;
        fake.publish();
        let got = drain::<CqeMixed>(&mut cq);
        assert_eq!(got.len(), 1);
        assert!(got[0].is_truncated());
        assert_eq!(fake.head.load(Ordering::Relaxed), 1);

        // A big padding entry (F_SKIP | F_32, as a forwarded MSG_RING could
        // post) takes its two slots and is skipped.
        let mut fake = FakeCq::new(4, true, 0);
        let mut cq = fake.inner();
        fake.write(0, cqe(1, 0, IORING_CQE_F_SKIP | IORING_CQE_F_32));
        fake.write(2, cqe(2, 0, 0));
        fake.ktail = 3;
        fake.publish();
        let got = drain::<CqeMixed>(&mut cq);
        assert_eq!(got.iter().map(|c| c.user_data).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn bogus_tail_is_clamped() {
        let mut fake = FakeCq::new(4, true, 0);
        let mut cq = fake.inner();
        fake.tail.store(1000, Ordering::Release);
        // Reads at most one ring's worth, all in bounds.
        let got = drain::<CqeMixed>(&mut cq);
        assert_eq!(got.len(), 4);
        assert_eq!(cq.head, 4);
        let mut fake = FakeCq::new(4, false, 0);
        let mut cq = fake.inner();
        fake.tail.store(u32::MAX, Ordering::Release);
        assert_eq!(drain::<Cqe32>(&mut cq).len(), 4);
    }

    #[test]
    fn sync_extends_the_batch() {
        let mut fake = FakeCq::new(4, false, 0);
        let mut cq = fake.inner();
        assert!(fake.post(1, 0, 0, None));
        fake.publish();
        let mut deferred = VecDeque::new();
        let mut batch = Completions::<Cqe32>::new(&mut cq, &mut deferred);
        assert_eq!(batch.next().map(|c| c.user_data), Some(1));
        assert_eq!(batch.next(), None);
        // The "kernel" posts more while the batch is alive.
        fake.post(2, 0, 0, None);
        fake.publish();
        assert_eq!(batch.next(), None);
        batch.sync();
        assert_eq!(fake.head.load(Ordering::Relaxed), 1);
        assert_eq!(batch.next().map(|c| c.user_data), Some(2));
        drop(batch);
        assert_eq!(fake.head.load(Ordering::Relaxed), 2);
    }

    mod arbitrary_memory {
        //! Whatever the kernel (or a bug) leaves in the ring's memory and
        //! tail, reading completions stays inside the mapping, terminates,
        //! and yields no more entries than slots.
        use super::*;
        use proptest::prelude::*;

        fn check<M: CqeMode>(words: &[u64], head: u32, delta: u32) {
            const ENTRIES: u32 = 8;
            let mut cq = FakeCq::new(ENTRIES, M::MIXED, head);
            for (unit, pair) in words.chunks_exact(2).enumerate().take(cq.cqes.len()) {
                cq.write(unit, cqe(pair[0], pair[1] as i32, (pair[1] >> 32) as u32));
            }
            cq.tail.store(head.wrapping_add(delta), Ordering::Release);
            let mut inner = cq.inner();
            let mut n = 0u32;
            for c in Completions::<M>::new(&mut inner, &mut VecDeque::new()) {
                n += 1;
                if !M::MIXED {
                    assert!(c.big.is_some());
                }
            }
            assert!(n <= ENTRIES.min(delta));
            // The head never runs past the clamped tail.
            let consumed = cq.head.load(Ordering::Relaxed).wrapping_sub(head);
            assert!(consumed <= ENTRIES.min(delta));
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn cqe32_ring(words in proptest::collection::vec(any::<u64>(), 32), head in any::<u32>(), delta in any::<u32>()) {
                check::<Cqe32>(&words, head, delta);
            }

            #[test]
            fn mixed_ring(
                words in proptest::collection::vec(
                    prop_oneof![any::<u64>(), Just(u64::from(IORING_CQE_F_32) << 32), Just(u64::from(IORING_CQE_F_SKIP) << 32)],
                    32,
                ),
                head in any::<u32>(),
                delta in any::<u32>(),
            ) {
                check::<CqeMixed>(&words, head, delta);
            }
        }
    }
}
