//! The submission queue: local tail, cached kernel head, SQE slots.
//!
//! Protocol (no SQPOLL): the application writes SQEs into the slots from
//! its tail up to the kernel's head plus the ring size, then publishes the
//! tail with a release store; the kernel reads entries from its head up to
//! the tail during `io_uring_enter` and advances its head (release store).
//! The slot of index `i` is `i & mask`: with `IORING_SETUP_NO_SQARRAY`
//! directly, otherwise through the index array, which setup fills once
//! with the identity so that nothing is written per SQE.

use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};

use zcrx_uapi::io_uring_sqe;

use crate::{Error, Result};

/// Slots in use when the application's tail is `tail` and the kernel's head
/// is `head` (wrapping `u32` indices).
#[inline(always)]
pub(crate) const fn used(tail: u32, head: u32) -> u32 {
    tail.wrapping_sub(head)
}

/// Free slots; 0 when the indices are inconsistent (a head ahead of the
/// tail, or further behind than the ring size), so that nothing is
/// overwritten that the kernel may still read.
#[inline(always)]
pub(crate) const fn space_left(tail: u32, head: u32, entries: u32) -> u32 {
    entries.saturating_sub(used(tail, head))
}

/// The slot of index `i`.
#[inline(always)]
pub(crate) const fn slot_of(i: u32, mask: u32) -> usize {
    (i & mask) as usize
}

/// The submission queue's state; lives inside the `Ring`, never handed out
/// by `&mut` (only through [`SubmissionQueue`], so it cannot be swapped
/// between rings).
pub(crate) struct SqInner {
    khead: NonNull<AtomicU32>,
    ktail: NonNull<AtomicU32>,
    /// `entries` SQEs.
    sqes: NonNull<io_uring_sqe>,
    mask: u32,
    entries: u32,
    /// Next index to fill (published at submit).
    tail: u32,
    /// The kernel's head, as last read.
    head: u32,
}

impl SqInner {
    /// # Safety
    ///
    /// `khead` and `ktail` must be valid, 4-aligned `u32` words and `sqes`
    /// must be valid for reads and writes of `entries` SQEs, all for as long
    /// as the value lives and touched by nobody else but the kernel side of
    /// this protocol. `entries` must be a power of two, `mask` =
    /// `entries - 1`.
    pub(crate) unsafe fn new(
        khead: NonNull<AtomicU32>,
        ktail: NonNull<AtomicU32>,
        sqes: NonNull<io_uring_sqe>,
        entries: u32,
    ) -> Self {
        debug_assert!(entries.is_power_of_two());
        // SAFETY: valid per this function's contract.
        let head = unsafe { khead.as_ref() }.load(Ordering::Acquire);
        // SAFETY: as above. Only we write the tail.
        let tail = unsafe { ktail.as_ref() }.load(Ordering::Relaxed);
        SqInner {
            khead,
            ktail,
            sqes,
            mask: entries - 1,
            entries,
            tail,
            head,
        }
    }

    #[inline(always)]
    fn load_head(&self) -> u32 {
        // SAFETY: valid for the life of `self` (see `new`).
        unsafe { self.khead.as_ref() }.load(Ordering::Acquire)
    }

    /// Free slots, from the cached head.
    #[inline(always)]
    fn space_left(&self) -> u32 {
        space_left(self.tail, self.head, self.entries)
    }

    /// Free slots, reading the kernel's head afresh.
    #[inline]
    pub(crate) fn space_left_fresh(&self) -> u32 {
        space_left(self.tail, self.load_head(), self.entries)
    }

    /// Queued SQEs the kernel has not consumed, reading its head afresh.
    #[inline]
    pub(crate) fn pending_fresh(&self) -> u32 {
        used(self.tail, self.load_head()).min(self.entries)
    }

    /// Index of a free slot, refreshing the cached head only when the
    /// cached view says the ring is full.
    #[inline(always)]
    fn reserve(&mut self) -> Result<usize> {
        if self.space_left() == 0 {
            self.head = self.load_head();
            if self.space_left() == 0 {
                return Err(Error::SubmissionQueueFull);
            }
        }
        Ok(slot_of(self.tail, self.mask))
    }

    #[inline(always)]
    fn slot_ptr(&self, slot: usize) -> *mut io_uring_sqe {
        debug_assert!(slot < self.entries as usize);
        // `slot <= mask < entries`: inside the SQE array.
        self.sqes.as_ptr().wrapping_add(slot)
    }

    /// Copies `sqe` into the next slot.
    ///
    /// # Safety
    ///
    /// As [`Ring::push`](super::Ring::push).
    #[inline]
    pub(crate) unsafe fn push(&mut self, sqe: &io_uring_sqe) -> Result<()> {
        let slot = self.reserve()?;
        // SAFETY: the slot is inside the SQE array and free: the kernel
        // reads only slots between its head and the published tail, and
        // `reserve` checked that this one is not among them.
        unsafe { self.slot_ptr(slot).write(*sqe) };
        self.tail = self.tail.wrapping_add(1);
        Ok(())
    }

    /// The next free slot, zeroed.
    #[inline]
    pub(crate) fn slot(&mut self) -> Result<SqeSlot<'_>> {
        let slot = self.reserve()?;
        let ptr = self.slot_ptr(slot);
        // SAFETY: as in `push`: inside the array, not read by the kernel.
        unsafe { ptr.write(io_uring_sqe::default()) };
        Ok(SqeSlot {
            // SAFETY: derived from the non-null SQE array pointer.
            sqe: unsafe { NonNull::new_unchecked(ptr) },
            tail: &mut self.tail,
            _sq: PhantomData,
        })
    }

    /// Publishes the tail (release) and returns how many SQEs the kernel has
    /// not consumed yet: exactly the `to_submit` for `io_uring_enter`.
    #[inline]
    pub(crate) fn flush(&mut self) -> u32 {
        // SAFETY: valid for the life of `self` (see `new`). The release
        // store orders the SQE writes before the kernel's acquire load of
        // the tail.
        unsafe { self.ktail.as_ref() }.store(self.tail, Ordering::Release);
        self.head = self.load_head();
        used(self.tail, self.head).min(self.entries)
    }
}

/// The submission queue of a [`Ring`](super::Ring), borrowed (see
/// [`Ring::split`](super::Ring::split)).
pub struct SubmissionQueue<'a> {
    inner: &'a mut SqInner,
}

impl<'a> SubmissionQueue<'a> {
    #[inline]
    pub(crate) fn new(inner: &'a mut SqInner) -> Self {
        SubmissionQueue { inner }
    }

    /// Copies `sqe` into the next free slot; see
    /// [`Ring::push`](super::Ring::push).
    ///
    /// # Errors
    ///
    /// [`Error::SubmissionQueueFull`].
    ///
    /// # Safety
    ///
    /// As [`Ring::push`](super::Ring::push): every pointer in the SQE must
    /// be valid for its opcode's accesses until the operation's last
    /// completion has been reaped, and its `user_data` must not carry the
    /// tag of a [`Receiver`](crate::recv::Receiver) on this ring in its top
    /// 16 bits.
    #[inline]
    pub unsafe fn push(&mut self, sqe: &io_uring_sqe) -> Result<()> {
        // SAFETY: forwarded to the caller.
        unsafe { self.inner.push(sqe) }
    }

    /// The next free slot, zeroed, to prepare in place; see [`SqeSlot`].
    ///
    /// # Errors
    ///
    /// [`Error::SubmissionQueueFull`].
    #[inline]
    pub fn slot(&mut self) -> Result<SqeSlot<'_>> {
        self.inner.slot()
    }

    /// Free slots.
    #[inline]
    pub fn space_left(&self) -> u32 {
        self.inner.space_left_fresh()
    }

    /// Queued SQEs the kernel has not consumed yet.
    #[inline]
    pub fn pending(&self) -> u32 {
        self.inner.pending_fresh()
    }

    /// The number of slots.
    #[inline]
    pub fn capacity(&self) -> u32 {
        self.inner.entries
    }
}

impl core::fmt::Debug for SubmissionQueue<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SubmissionQueue")
            .field("capacity", &self.capacity())
            .field("pending", &self.pending())
            .finish()
    }
}

/// A free submission slot, zeroed, borrowed from the ring: prepare the SQE in
/// place (it derefs to [`io_uring_sqe`]) and [`commit`](Self::commit) it.
/// Dropped without commit, the slot stays free and nothing is queued.
///
/// ```
/// use zcrx_ring::ring::{Cqe32, Ring, opcode};
///
/// let Ok(mut ring) = Ring::<Cqe32>::new(8) else { return Ok(()) };
/// let mut slot = ring.slot()?;
/// opcode::prep_nop(&mut slot, 7);
/// // SAFETY: a NOP carries no pointer for the kernel to follow.
/// unsafe { slot.commit() };
/// assert_eq!(ring.sq_pending(), 1);
/// # Ok::<(), zcrx_ring::Error>(())
/// ```
pub struct SqeSlot<'a> {
    sqe: NonNull<io_uring_sqe>,
    tail: &'a mut u32,
    _sq: PhantomData<&'a mut io_uring_sqe>,
}

impl SqeSlot<'_> {
    /// Queues the prepared SQE; it goes to the kernel with the next submit.
    ///
    /// # Safety
    ///
    /// As [`Ring::push`](super::Ring::push): every pointer in the SQE must
    /// be valid for its opcode's accesses until the operation's last
    /// completion has been reaped, and its `user_data` must not carry the
    /// tag of a [`Receiver`](crate::recv::Receiver) on this ring in its top
    /// 16 bits.
    #[inline]
    pub unsafe fn commit(self) {
        *self.tail = self.tail.wrapping_add(1);
    }
}

impl Deref for SqeSlot<'_> {
    type Target = io_uring_sqe;
    #[inline]
    fn deref(&self) -> &io_uring_sqe {
        // SAFETY: the slot is inside the SQE array, initialised, not read
        // by the kernel until committed and submitted, and borrowed
        // exclusively (through `tail`) for the life of `self`.
        unsafe { self.sqe.as_ref() }
    }
}

impl DerefMut for SqeSlot<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut io_uring_sqe {
        // SAFETY: as in `deref`; `&mut self` makes the access exclusive.
        unsafe { self.sqe.as_mut() }
    }
}

impl core::fmt::Debug for SqeSlot<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("SqeSlot").field(&**self).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::boxed::Box;
    use alloc::vec;
    use alloc::vec::Vec;

    /// A fake SQ ring in plain memory; the test plays the kernel.
    struct FakeSq {
        head: Box<AtomicU32>,
        tail: Box<AtomicU32>,
        sqes: Vec<io_uring_sqe>,
    }

    impl FakeSq {
        fn new(entries: u32, start: u32) -> Self {
            FakeSq {
                head: Box::new(AtomicU32::new(start)),
                tail: Box::new(AtomicU32::new(start)),
                sqes: vec![io_uring_sqe::default(); entries as usize],
            }
        }

        fn inner(&mut self) -> SqInner {
            let entries = self.sqes.len() as u32;
            // SAFETY: the boxes and the vector outlive the `SqInner` in
            // each test (they are dropped last), and the vector is not
            // resized.
            unsafe {
                SqInner::new(
                    NonNull::from(&*self.head),
                    NonNull::from(&*self.tail),
                    NonNull::new(self.sqes.as_mut_ptr()).unwrap(),
                    entries,
                )
            }
        }

        /// The kernel consumes everything published; returns the
        /// `user_data` of the consumed SQEs in order.
        fn consume(&self) -> Vec<u64> {
            let mask = self.sqes.len() as u32 - 1;
            let tail = self.tail.load(Ordering::Acquire);
            let mut head = self.head.load(Ordering::Relaxed);
            let mut out = Vec::new();
            while head != tail {
                // Read through the raw pointer view the "kernel" has.
                let sqe = self.sqes_ptr_read((head & mask) as usize);
                out.push(sqe.user_data);
                head = head.wrapping_add(1);
            }
            self.head.store(head, Ordering::Release);
            out
        }

        fn sqes_ptr_read(&self, slot: usize) -> io_uring_sqe {
            // SAFETY: in bounds; no `&mut` to the vector is alive (the
            // `SqInner` only holds a raw pointer).
            unsafe { self.sqes.as_ptr().wrapping_add(slot).read() }
        }
    }

    fn nop(ud: u64) -> io_uring_sqe {
        io_uring_sqe {
            user_data: ud,
            ..Default::default()
        }
    }

    #[test]
    fn arithmetic() {
        assert_eq!(used(5, 3), 2);
        assert_eq!(used(1, u32::MAX), 2);
        assert_eq!(space_left(5, 3, 4), 2);
        assert_eq!(space_left(7, 3, 4), 0);
        assert_eq!(space_left(2, u32::MAX - 1, 4), 0);
        assert_eq!(space_left(0, u32::MAX - 1, 4), 2);
        // Inconsistent: head ahead of tail, or too far behind.
        assert_eq!(space_left(3, 5, 4), 0);
        assert_eq!(space_left(100, 0, 4), 0);
        assert_eq!(slot_of(u32::MAX, 7), 7);
        assert_eq!(slot_of(8, 7), 0);
    }

    #[test]
    fn full_then_drained() {
        let mut fake = FakeSq::new(4, 0);
        let mut sq = fake.inner();
        for ud in 0..4 {
            // SAFETY: no pointers in the SQE.
            unsafe { sq.push(&nop(ud)) }.unwrap();
        }
        // SAFETY: as above.
        assert_eq!(unsafe { sq.push(&nop(9)) }, Err(Error::SubmissionQueueFull));
        assert!(matches!(sq.slot(), Err(Error::SubmissionQueueFull)));
        assert_eq!(sq.flush(), 4);
        assert_eq!(fake.consume(), [0, 1, 2, 3]);
        // The cached head is stale; `reserve` re-reads it.
        assert_eq!(sq.space_left(), 0);
        assert_eq!(sq.space_left_fresh(), 4);
        // SAFETY: as above.
        unsafe { sq.push(&nop(4)) }.unwrap();
        assert_eq!(sq.pending_fresh(), 1);
        assert_eq!(sq.flush(), 1);
    }

    #[test]
    fn wraps_u32_indices() {
        for start in [0, u32::MAX - 5, u32::MAX] {
            let mut fake = FakeSq::new(8, start);
            let mut sq = fake.inner();
            let mut next = 0u64;
            let mut seen = Vec::new();
            for batch in 1..=40u64 {
                let n = batch % 9; // 0..=8, sometimes a full ring
                for _ in 0..n {
                    // SAFETY: no pointers in the SQE.
                    unsafe { sq.push(&nop(next)) }.unwrap();
                    next += 1;
                }
                // Flush reports exactly what was pushed since the last
                // consumption.
                assert_eq!(sq.flush(), n as u32);
                seen.extend(fake.consume());
                assert_eq!(sq.flush(), 0);
            }
            assert_eq!(seen, (0..next).collect::<Vec<_>>());
        }
    }

    #[test]
    fn partial_consumption_is_resubmitted() {
        let mut fake = FakeSq::new(4, 0);
        let mut sq = fake.inner();
        for ud in 0..3 {
            // SAFETY: no pointers in the SQE.
            unsafe { sq.push(&nop(ud)) }.unwrap();
        }
        assert_eq!(sq.flush(), 3);
        // The kernel stops after one SQE (e.g. the first failed to prep).
        fake.head.store(1, Ordering::Release);
        // SAFETY: as above.
        unsafe { sq.push(&nop(3)) }.unwrap();
        // The leftovers plus the new one, never more.
        assert_eq!(sq.flush(), 3);
    }

    #[test]
    fn slot_commit_and_abandon() {
        let mut fake = FakeSq::new(2, 0);
        let mut sq = fake.inner();
        {
            let mut s = sq.slot().unwrap();
            assert_eq!(*s, io_uring_sqe::default());
            s.user_data = 11;
            // Dropped without commit: nothing queued.
        }
        assert_eq!(sq.flush(), 0);
        let mut s = sq.slot().unwrap();
        // Zeroed again, whatever the slot held.
        assert_eq!(s.user_data, 0);
        s.user_data = 12;
        // SAFETY: no pointers in the SQE.
        unsafe { s.commit() };
        assert_eq!(sq.flush(), 1);
        assert_eq!(fake.consume(), [12]);
    }
}
