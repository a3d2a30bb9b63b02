//! The io_uring ring: setup, submission, completion and waiting.
//!
//! [`Ring`] owns an io_uring instance (its fd and the three shared
//! mappings) and offers exactly what a zero-copy receiver needs, without
//! allocation or locks on the hot path:
//!
//! - **Submission.** SQEs are copied into the submission queue
//!   ([`Ring::push`]) or prepared in place ([`Ring::slot`]); the tail is
//!   published with one release store per batch, when the batch is
//!   submitted. The [`opcode`] helpers fill the SQEs ZCRX uses.
//! - **Entering the kernel.** [`Ring::submit`], [`Ring::submit_and_wait`] and
//!   [`Ring::wait_timeout`] always pass the kernel *exactly* the number of
//!   queued SQEs it has not consumed yet (a larger count makes the kernel
//!   return at once without waiting, and with `DEFER_TASKRUN` a multishot
//!   receive would then never run).
//! - **Completions.** [`Ring::completions`] reads the tail once (acquire),
//!   yields [`Completion`] values, and publishes the new head once (release)
//!   when the batch is dropped.
//!
//! # CQE sizes
//!
//! ZCRX completions carry 16 extra bytes, so the ring is either
//! [`Cqe32`] (`IORING_SETUP_CQE32`: every entry is 32 bytes) or
//! [`CqeMixed`] (`IORING_SETUP_CQE_MIXED`, Linux 6.18: 16-byte entries, and
//! 32-byte ones flagged `IORING_CQE_F_32` that take two slots). The choice is
//! a type parameter, so the parser is chosen at compile time.
//!
//! In a mixed ring the kernel never lets a 32-byte entry wrap around the end
//! of the ring: when one would start in the last slot it first posts a
//! 16-byte padding entry flagged `IORING_CQE_F_SKIP` there
//! (`io_cqe_cache_refill` in `io_uring/io_uring.c`). [`Completions`] skips
//! padding. An entry that claims 32 bytes but would wrap, or whose second
//! half lies past the published tail, is something the kernel never writes;
//! it is returned as a 16-byte entry with [`Completion::big`] `None` (its
//! `IORING_CQE_F_32` flag kept, see [`Completion::is_truncated`]) and never
//! read past the ring or the tail.
//!
//! # Setup
//!
//! ## `IORING_SETUP_NO_SQARRAY`
//!
//! The ring asks for `NO_SQARRAY` (Linux 6.6) by default: the kernel then
//! takes SQE `i` from slot `i & mask` directly, and there is no index array
//! to map. On a kernel that refuses the flag (`EINVAL`), setup retries
//! without it and fills the index array once with the identity, so the hot
//! path is the same either way (no per-SQE array store). Asking for the flag
//! explicitly in [`RingBuilder::flags`] makes it mandatory.
//!
//! ## Diagnosing `EINVAL`
//!
//! `io_uring_setup` answers `EINVAL` for any flag it does not know. When it
//! does, setup retries with the requested flags removed newest first (by the
//! Linux release that introduced them) until the kernel accepts; the flags
//! removed by then are the ones it lacks, and the error names the newest
//! one the caller needs (e.g. `IORING_SETUP_CQE_MIXED`, needs 6.18). This
//! costs a few extra system calls, on the failure path only.
//!
//! # Entering the kernel
//!
//! ## What every call passes
//!
//! `to_submit` is exactly the number of queued SQEs the kernel has not
//! consumed (the published tail minus the kernel's head, read afresh): never
//! more. The kernel stops at the last queued SQE, and when it submits fewer
//! than `to_submit` it returns at once, skipping the wait and, with
//! `DEFER_TASKRUN`, the task work that posts multishot receive completions.
//!
//! ## `DEFER_TASKRUN`
//!
//! On such a ring (the default), completions that arrive through task work,
//! which is how network receives complete, are posted only inside
//! `io_uring_enter` with `IORING_ENTER_GETEVENTS`.
//! [`submit`](Ring::submit) does not pass `GETEVENTS`;
//! [`submit_and_wait`](Ring::submit_and_wait) and
//! [`wait_timeout`](Ring::wait_timeout) do. `submit_and_wait(0)` is the
//! non-blocking form: it submits, runs the pending task work and returns.
//!
//! ## Interruptions and timeouts (`EINTR`, `ETIME`)
//!
//! Neither is retried nor reported as an error: the call returns `Ok` early
//! and the caller sees fewer ready completions than it asked for. The
//! kernel itself hides both whenever the same call submitted SQEs or
//! completions are ready, so callers must handle an early return anyway;
//! not retrying lets a loop notice a flag set by a signal handler.
//!
//! ## Completion ring overflow
//!
//! When the completion ring is full the kernel keeps further completions on
//! an internal overflow list (`IORING_FEAT_NODROP`) and sets
//! [`SqRingFlags::CQ_OVERFLOW`](zcrx_uapi::SqRingFlags::CQ_OVERFLOW); while
//! the list is not empty, every new completion joins it, so order is kept.
//! They move into the ring at the next enter with `GETEVENTS` once the
//! application has reaped entries: drain [`completions`](Ring::completions),
//! then call [`submit_and_wait(0)`](Ring::submit_and_wait) (or any wait),
//! and drain again. A wait does not block while the overflow list cannot be
//! flushed: it returns `Ok` so that the application can make room. If the
//! kernel cannot even allocate an overflow entry it drops the completion,
//! counts it in [`cq_dropped`](Ring::cq_dropped) and fails the next
//! `GETEVENTS` enter once with `EBADR`. Older kernels may instead refuse
//! submission with `EBUSY` while completions overflow; that error is
//! returned as is, with the SQEs still queued: reap, then submit again.
//!
//! # Threads
//!
//! [`Ring`] is `Send` but not `Sync`: the default setup flags include
//! `IORING_SETUP_SINGLE_ISSUER` (which `DEFER_TASKRUN` requires). The kernel
//! binds such a ring to the thread that created it, and refuses
//! `io_uring_enter` and `io_uring_register` from any other thread with
//! `EEXIST`. To create a ring on one thread and drive it from another,
//! build it with [`RingBuilder::disabled`] and call [`Ring::enable`] on the
//! thread that will use it.
//!
//! # Example
//!
//! ```
//! use zcrx_ring::ring::{Cqe32, Ring, opcode};
//! use zcrx_uapi::io_uring_sqe;
//!
//! // Kernels without io_uring (or with it disabled) refuse the setup.
//! let Ok(mut ring) = Ring::<Cqe32>::new(8) else { return Ok(()) };
//! let mut sqe = io_uring_sqe::default();
//! opcode::prep_nop(&mut sqe, 42);
//! // SAFETY: a NOP carries no pointer for the kernel to follow.
//! unsafe { ring.push(&sqe) }?;
//! ring.submit_and_wait(1)?;
//! let c = ring.completions().next().unwrap();
//! assert_eq!((c.user_data, c.res), (42, 0));
//! # Ok::<(), zcrx_ring::Error>(())
//! ```

mod cqueue;
mod enter;
mod mixed_probe;
pub mod opcode;
mod setup;
mod squeue;

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use zcrx_uapi::{FeatureFlags, SetupFlags, SqRingFlags, io_uring_params};

pub use cqueue::{Completion, Completions};
pub use mixed_probe::mixed_cq_publishes_stale_entries;
pub use setup::RingBuilder;
pub use squeue::{SqeSlot, SubmissionQueue};

use crate::Result;
use cqueue::CqInner;
use setup::Mmap;
use squeue::SqInner;

mod sealed {
    pub trait Sealed {}
}

/// The completion entry size of a [`Ring`]: [`Cqe32`] or [`CqeMixed`].
///
/// Sealed: the parser relies on the kernel's layout for exactly these two.
pub trait CqeMode: sealed::Sealed + Send + 'static {
    /// The setup flag that selects this mode.
    const SETUP_FLAG: SetupFlags;
    /// The flag's name in the kernel headers.
    const NAME: &'static str;
    /// Whether 16- and 32-byte entries are mixed in one ring.
    const MIXED: bool;
    /// Bytes of completion ring per entry slot (`cq_entries` slots).
    const SLOT_BYTES: usize;
}

/// `IORING_SETUP_CQE32` (Linux 5.19): every completion is 32 bytes.
///
/// A type-level marker; it has no values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cqe32 {}

/// `IORING_SETUP_CQE_MIXED` (Linux 6.18): 16-byte completions, plus 32-byte
/// ones flagged `IORING_CQE_F_32` that occupy two slots.
///
/// Before 7.3 a full mixed ring can publish a stale entry (6.19 and 7.2 do;
/// see [`mixed_cq_publishes_stale_entries`]): ZCRX refuses to register on
/// such a ring, and [`Cqe32`] is the mode to use there.
///
/// A type-level marker; it has no values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CqeMixed {}

impl sealed::Sealed for Cqe32 {}
impl sealed::Sealed for CqeMixed {}

impl CqeMode for Cqe32 {
    const SETUP_FLAG: SetupFlags = SetupFlags::CQE32;
    const NAME: &'static str = "IORING_SETUP_CQE32";
    const MIXED: bool = false;
    const SLOT_BYTES: usize = 32;
}

impl CqeMode for CqeMixed {
    const SETUP_FLAG: SetupFlags = SetupFlags::CQE_MIXED;
    const NAME: &'static str = "IORING_SETUP_CQE_MIXED";
    const MIXED: bool = true;
    const SLOT_BYTES: usize = 16;
}

/// An io_uring instance: its fd, its shared rings and its queues.
///
/// Built by [`RingBuilder`] (or [`Ring::new`] with the ZCRX defaults:
/// `SINGLE_ISSUER | DEFER_TASKRUN` and the mode's CQE flag). Dropping it
/// unmaps the rings and closes the fd; the kernel then cancels whatever is
/// still in flight, asynchronously (see [`Ring::push`] for what that means
/// for memory the kernel may still write).
///
/// `Send`, not `Sync`: see [the module docs](self#threads).
pub struct Ring<M: CqeMode = Cqe32> {
    sq: SqInner,
    cq: CqInner,
    /// `IORING_SQ_*` flags word (kernel-written, atomically).
    sq_flags: NonNull<AtomicU32>,
    /// Completions dropped because the overflow list could not grow.
    cq_overflow: NonNull<AtomicU32>,
    /// SQ entries the kernel dropped as invalid (index array mode).
    sq_dropped: NonNull<AtomicU32>,
    params: io_uring_params,
    /// Field order matters only for readability: the pointers above point
    /// into these mappings, which stay mapped until the ring is dropped.
    _rings: Mmap,
    _cq_ring: Option<Mmap>,
    _sqes: Mmap,
    fd: OwnedFd,
    /// This ring's identity in the process (never reused).
    id: RingId,
    /// Completions reaped by a receive loop that was dropped, for whoever
    /// reads the ring next ([`Ring::completions`] yields them first).
    deferred: VecDeque<Completion>,
    /// Receive-loop epochs (see `recv::dispatch`).
    epochs: Epochs,
    _mode: PhantomData<M>,
}

/// The identity of a [`Ring`] within the process: what a [`Zcrx`](crate::Zcrx)
/// instance is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RingId(u64);

impl RingId {
    pub(crate) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        RingId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// The receive-loop epochs of a ring: the next one to hand out, and those
/// of loops that ended without a clean shutdown (forgotten, or whose
/// requests did not end in time), which are never handed out again.
#[derive(Debug, Default)]
pub(crate) struct Epochs {
    next: u16,
    unfinished: Vec<u16>,
}

// SAFETY: the raw pointers point into mappings that the `Ring` owns
// exclusively; moving the owner to another thread moves them along. The
// kernel does not care which thread touches the shared memory (with
// SINGLE_ISSUER it refuses system calls from other threads with EEXIST,
// which is an error, not unsoundness). `Ring` stays `!Sync`: the queues'
// local indices are updated through `&mut self` only.
unsafe impl<M: CqeMode> Send for Ring<M> {}

impl<M: CqeMode> Ring<M> {
    /// A ring with `entries` submission entries (rounded up to a power of
    /// two), twice as many completion slots and the ZCRX default flags.
    ///
    /// Same as `RingBuilder::new(entries).build()`; see
    /// [`RingBuilder::build`] for the errors.
    ///
    /// ```
    /// use zcrx_ring::ring::{CqeMixed, Ring};
    /// // Linux 6.18 and later; older kernels answer Error::Unsupported.
    /// match Ring::<CqeMixed>::new(64) {
    ///     Ok(ring) => assert_eq!(ring.params().sq_entries, 64),
    ///     Err(e) => eprintln!("no mixed ring here: {e}"),
    /// }
    /// ```
    pub fn new(entries: u32) -> Result<Self> {
        RingBuilder::new(entries).build()
    }

    /// A builder with `entries` submission entries and the ZCRX defaults.
    pub const fn builder(entries: u32) -> RingBuilder<M> {
        RingBuilder::new(entries)
    }

    /// The submission queue and the current completion batch, borrowed at
    /// the same time: push follow-up SQEs (a re-armed multishot receive)
    /// while iterating completions.
    ///
    /// ```
    /// use zcrx_ring::ring::{Cqe32, Ring, opcode};
    /// use zcrx_uapi::io_uring_sqe;
    ///
    /// let Ok(mut ring) = Ring::<Cqe32>::new(8) else { return Ok(()) };
    /// let mut sqe = io_uring_sqe::default();
    /// opcode::prep_nop(&mut sqe, 1);
    /// // SAFETY: a NOP carries no pointer for the kernel to follow.
    /// unsafe { ring.push(&sqe) }?;
    /// ring.submit_and_wait(1)?;
    /// let (mut sq, cq) = ring.split();
    /// for c in cq {
    ///     if c.user_data == 1 {
    ///         opcode::prep_nop(&mut sqe, 2);
    ///         // SAFETY: as above.
    ///         unsafe { sq.push(&sqe) }?;
    ///     }
    /// }
    /// ring.submit_and_wait(1)?;
    /// assert_eq!(ring.completions().next().map(|c| c.user_data), Some(2));
    /// # Ok::<(), zcrx_ring::Error>(())
    /// ```
    #[inline]
    pub fn split(&mut self) -> (SubmissionQueue<'_>, Completions<'_, M>) {
        (
            SubmissionQueue::new(&mut self.sq),
            Completions::new(&mut self.cq, &mut self.deferred),
        )
    }

    /// The submission queue alone.
    #[inline]
    pub fn submission(&mut self) -> SubmissionQueue<'_> {
        SubmissionQueue::new(&mut self.sq)
    }

    /// Copies `sqe` into the next free submission slot. It goes to the
    /// kernel with the next [`submit`](Self::submit) (or wait).
    ///
    /// # Errors
    ///
    /// [`Error::SubmissionQueueFull`](crate::Error::SubmissionQueueFull)
    /// when every slot holds an SQE the kernel has not consumed: submit
    /// first.
    ///
    /// # Safety
    ///
    /// The kernel acts on the SQE as the C API would: every pointer in it
    /// (`addr`, `addr2`, `addr3`, and what they point to) must be valid
    /// for the accesses its opcode makes, from now until the operation's
    /// last completion has been reaped (for multishot operations: the one
    /// without `IORING_CQE_F_MORE`). Dropping the ring does not wait for
    /// in-flight operations; the kernel cancels them asynchronously.
    /// SQEs that carry no pointers (NOP, ASYNC_CANCEL by `user_data`, and
    /// RECV_ZC into a registered ZCRX area, whose memory the registration
    /// keeps alive) meet this part of the contract.
    ///
    /// While a [`Receiver`](crate::recv::Receiver) on this ring may still
    /// see completions, the top 16 bits of the SQE's `user_data` must not
    /// be that receiver's [`tag`](crate::recv::Receiver::tag): the receiver
    /// trusts a completion carrying its tag to be one of its own RECV_ZC
    /// requests and makes a buffer view from it.
    #[inline]
    pub unsafe fn push(&mut self, sqe: &zcrx_uapi::io_uring_sqe) -> Result<()> {
        // SAFETY: forwarded to the caller.
        unsafe { self.sq.push(sqe) }
    }

    /// The next free submission slot, zeroed, to prepare in place (see
    /// [`SqeSlot`]). Nothing is queued until [`SqeSlot::commit`].
    ///
    /// # Errors
    ///
    /// [`Error::SubmissionQueueFull`](crate::Error::SubmissionQueueFull).
    #[inline]
    pub fn slot(&mut self) -> Result<SqeSlot<'_>> {
        self.sq.slot()
    }

    /// The completions the kernel has posted so far, as one batch.
    ///
    /// The tail is read once, with acquire ordering; the head is published
    /// once, with release ordering, when the batch is dropped. Completions
    /// posted meanwhile show up in the next batch (or after
    /// [`Completions::sync`]). Completions that a dropped
    /// [`Receiver`](crate::Receiver) reaped on its way out but did not own
    /// come first.
    #[inline]
    pub fn completions(&mut self) -> Completions<'_, M> {
        Completions::new(&mut self.cq, &mut self.deferred)
    }

    /// Free submission slots.
    #[inline]
    pub fn sq_space_left(&self) -> u32 {
        self.sq.space_left_fresh()
    }

    /// SQEs queued (pushed or left over by a partial submission) that the
    /// kernel has not consumed yet: the `to_submit` of the next enter.
    #[inline]
    pub fn sq_pending(&self) -> u32 {
        self.sq.pending_fresh()
    }

    /// Completion slots posted and not yet reaped.
    ///
    /// On a [`CqeMixed`] ring this counts 16-byte slots: a 32-byte
    /// completion counts two, a padding entry one. It is an upper bound on
    /// the number of completions a batch yields.
    #[inline]
    pub fn cq_ready(&self) -> u32 {
        self.cq.ready()
    }

    /// Slots between the head and the kernel's tail, not clamped: more
    /// than the ring holds only if the kernel published more than it wrote
    /// (see [`mixed_cq_publishes_stale_entries`]).
    pub(crate) fn cq_published_unclamped(&self) -> u32 {
        self.cq.published_unclamped()
    }

    /// The `IORING_SQ_*` flags word.
    ///
    /// [`SqRingFlags::CQ_OVERFLOW`] means completions are waiting on the
    /// kernel's overflow list because the completion ring was full: reap
    /// completions, then enter with `GETEVENTS` (any wait, or
    /// [`submit_and_wait(0)`](Self::submit_and_wait)) to move them into the
    /// ring. [`SqRingFlags::TASKRUN`] (with `IORING_SETUP_TASKRUN_FLAG`)
    /// means deferred task work waits for such an enter.
    #[inline]
    pub fn sq_flags(&self) -> SqRingFlags {
        // SAFETY: the pointer is into the ring mapping, alive as `self`;
        // the kernel updates the word with atomic operations.
        let flags = unsafe { self.sq_flags.as_ref() }.load(Ordering::Acquire);
        SqRingFlags::from_bits_retain(flags)
    }

    /// Completions the kernel dropped because it could not even allocate
    /// overflow entries (`cq.overflow`). Normally 0; when it grows, an
    /// enter with `GETEVENTS` also fails once with `EBADR`.
    #[inline]
    pub fn cq_dropped(&self) -> u32 {
        // SAFETY: as in `sq_flags`.
        unsafe { self.cq_overflow.as_ref() }.load(Ordering::Relaxed)
    }

    /// SQEs the kernel dropped as invalid (`sq.dropped`). Always 0 for
    /// SQEs queued through this API.
    #[inline]
    pub fn sq_dropped(&self) -> u32 {
        // SAFETY: as in `sq_flags`.
        unsafe { self.sq_dropped.as_ref() }.load(Ordering::Relaxed)
    }

    /// The parameters the kernel wrote back at setup (entry counts, flags,
    /// features, ring offsets).
    #[inline]
    pub fn params(&self) -> &io_uring_params {
        &self.params
    }

    /// The kernel's `IORING_FEAT_*` flags (unknown bits kept).
    #[inline]
    pub fn features(&self) -> FeatureFlags {
        FeatureFlags::from_bits_retain(self.params.features)
    }

    /// The setup flags the ring was created with (including
    /// `IORING_SETUP_NO_SQARRAY` when the kernel has it).
    #[inline]
    pub fn setup_flags(&self) -> SetupFlags {
        SetupFlags::from_bits_retain(self.params.flags)
    }

    /// The ring's fd (for `io_uring_register`, e.g. ZCRX registration).
    #[inline]
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Completion slots (`cq_entries`): 32-byte entries on a [`Cqe32`]
    /// ring, 16-byte slots on a [`CqeMixed`] ring.
    #[inline]
    pub(crate) fn cq_slots(&self) -> u32 {
        self.params.cq_entries
    }

    #[inline]
    pub(crate) fn id(&self) -> RingId {
        self.id
    }

    /// Hands a completion reaped by a receive loop that is shutting down
    /// back to the ring, for the next reader.
    pub(crate) fn defer(&mut self, c: Completion) {
        self.deferred.push_back(c);
    }

    /// An epoch for a new receive loop, or `None` if every one is held by
    /// loops that did not shut down cleanly.
    pub(crate) fn start_receiver(&mut self) -> Option<u16> {
        let e = &mut self.epochs;
        for _ in 0..=u16::MAX {
            let epoch = e.next;
            e.next = e.next.wrapping_add(1);
            if !e.unfinished.contains(&epoch) {
                e.unfinished.push(epoch);
                return Some(epoch);
            }
        }
        None
    }

    /// A receive loop ended; a clean end frees its epoch for reuse.
    pub(crate) fn finish_receiver(&mut self, epoch: u16, clean: bool) {
        if clean {
            self.epochs.unfinished.retain(|&e| e != epoch);
        }
    }
}

impl<M: CqeMode> AsFd for Ring<M> {
    #[inline]
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl<M: CqeMode> fmt::Debug for Ring<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("fd", &self.fd)
            .field("mode", &M::NAME)
            .field("sq_entries", &self.params.sq_entries)
            .field("cq_entries", &self.params.cq_entries)
            .field("flags", &self.setup_flags())
            .field("sq_pending", &self.sq_pending())
            .field("cq_ready", &self.cq_ready())
            .finish_non_exhaustive()
    }
}
