//! [`IoUringReceiver`]: the receive loop on a ring of the `io-uring` crate,
//! which the embedder keeps: it submits, waits and reaps; the receiver
//! prepares the SQEs and turns completions into events.

use std::vec::Vec;

use ::io_uring::types::{SubmitArgs, Timespec};
use ::io_uring::{IoUring, Submitter, cqueue, opcode, squeue, types};
use rustix::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use zcrx_uapi::{IORING_OP_ASYNC_CANCEL, IORING_OP_RECV_ZC, io_uring_sqe};

use super::{check_ring, enter_error, epoch, identity};
use crate::error::{Error, Result};
use crate::recv::{ConnId, DEFAULT_TAG, Dispatch, Recv};
use crate::ring::Completion;
use crate::zcrx::Zcrx;

/// [`IoUringReceiver::close`] waits at most this many rounds of
/// [`CLOSE_ROUND_MS`] for the final completions (a cancelled receive ends
/// at once).
const CLOSE_ROUNDS: u32 = 200;
const CLOSE_ROUND_MS: u32 = 10;

/// Multishot `IORING_OP_RECV_ZC` on sockets, driven from a ring of the
/// `io-uring` crate that the caller owns.
///
/// The same state machine as [`Receiver`](crate::Receiver) (the same
/// events, re-arming, stall bounds and byte limits), split at the ring: the
/// caller calls [`prepare`](Self::prepare) before each wait (it queues the
/// receiver's SQEs on the ring and gives returned buffers back to the
/// kernel) and hands every completion it reaps to
/// [`process`](Self::process), which turns the receiver's own into
/// [`Recv`] events and gives every other back as [`Recv::Other`].
///
/// # Ownership rules
///
/// - **Views** come only from completions passed to the `unsafe`
///   [`process`](Self::process), whose contract is that they were reaped
///   from this receiver's ring, each once. An instance registered on
///   another ring (or on this crate's own [`Ring`](crate::Ring)) is refused
///   by [`add`](Self::add) ([`Error::WrongRing`]).
/// - **Sockets**: the receiver keeps its own duplicate of each descriptor
///   until the socket's final event, so it never submits on a descriptor it
///   does not hold.
/// - **Requests carry a tag and an epoch** in the top 32 bits of their
///   `user_data`: other requests on the ring must not use the tag
///   ([`DEFAULT_TAG`] unless chosen with [`with_tag`](Self::with_tag)).
///   The epoch is unique in the process while the receiver lives, and is
///   never reused after a receiver that did not finish cleanly.
/// - **The end**: this receiver cannot wait for completions on a ring it
///   does not own, so shutting down is the caller's step:
///   [`close`](Self::close) cancels every request, waits for the final
///   completions on the ring and gives back the completions of other
///   requests it reaped meanwhile; or [`shutdown`](Self::shutdown), then
///   keep passing completions to [`process`](Self::process) until
///   [`is_finished`](Self::is_finished).
/// - **Dropped unfinished**, the receiver cancels its requests with
///   `IORING_REGISTER_SYNC_CANCEL` (best effort: from the ring's issuer
///   thread), gives back what it can and retires its epoch. Data
///   completions the kernel had already posted are then nobody's: their
///   buffers stay out until the instance is closed. Finish the receiver
///   before dropping it.
///
/// See the [module docs](super) for a loop.
#[derive(Debug)]
pub struct IoUringReceiver<'z> {
    core: Dispatch<'z>,
    /// A duplicate of the ring's descriptor: what instances must be
    /// registered on, and where `Drop` cancels.
    ring: OwnedFd,
    /// The descriptor number of the caller's `IoUring`: methods that take
    /// the ring refuse another one (a cheap check of a common mistake; the
    /// contract of `process` is what makes views sound).
    ring_number: RawFd,
    epoch: u16,
}

impl<'z> IoUringReceiver<'z> {
    /// A receiver for `ring` whose requests carry [`DEFAULT_TAG`].
    ///
    /// # Errors
    ///
    /// As [`with_tag`](Self::with_tag).
    pub fn new<S: squeue::EntryMarker>(ring: &IoUring<S, cqueue::Entry32>) -> Result<Self> {
        Self::with_tag(ring, DEFAULT_TAG)
    }

    /// A receiver for `ring` whose requests carry `tag` in the top 16 bits
    /// of their `user_data`.
    ///
    /// # Errors
    ///
    /// [`Error::RingSetup`] for a ring without the flags ZCRX needs
    /// ([`check_ring`]); [`Error::InvalidConfig`] when every epoch of the
    /// process is held by receivers that did not finish; the `dup`'s
    /// refusal.
    pub fn with_tag<S: squeue::EntryMarker>(
        ring: &IoUring<S, cqueue::Entry32>,
        tag: u16,
    ) -> Result<Self> {
        check_ring(ring)?;
        let fd = rustix::io::fcntl_dupfd_cloexec(ring.as_fd(), 0)
            .map_err(|e| Error::kernel("fcntl(F_DUPFD_CLOEXEC) of the ring", e))?;
        let epoch = epoch::acquire().ok_or(Error::invalid(
            "receiver",
            "every receive-loop epoch of this process is held by receivers on rings of the \
             io-uring crate that were dropped before they finished",
        ))?;
        Ok(Self {
            core: Dispatch::new(tag, epoch),
            ring: fd,
            ring_number: ring.as_raw_fd(),
            epoch,
        })
    }

    /// The tag in the top 16 bits of this receiver's `user_data`.
    pub fn tag(&self) -> u16 {
        self.core.tag()
    }

    /// Starts receiving from a connected TCP socket into `zcrx`, which must
    /// be registered on this receiver's ring
    /// ([`ZcrxBuilder::register_io_uring`](crate::ZcrxBuilder::register_io_uring)).
    /// With `limit`, stops after exactly that many bytes
    /// ([`Recv::LimitReached`]). The request is armed by the next
    /// [`prepare`](Self::prepare).
    ///
    /// # Errors
    ///
    /// [`Error::WrongRing`] for an instance registered on another ring or
    /// on this crate's own [`Ring`](crate::Ring); [`Error::InvalidConfig`]
    /// for a zero limit or too many sockets; the `dup`'s refusal.
    pub fn add(&mut self, zcrx: &'z Zcrx, socket: impl AsFd, limit: Option<u64>) -> Result<ConnId> {
        if zcrx.ring.is_some()
            || identity::same_file(zcrx.as_fd(), self.ring.as_fd()) == Some(false)
        {
            return Err(Error::WrongRing);
        }
        zcrx.check_event_tag(self.core.tag())?;
        self.core.add(zcrx, zcrx.id(), socket, limit)
    }

    /// Queues the receiver's SQEs on `ring` (submitting what is queued
    /// first when the submission queue is full) and gives returned buffers
    /// back to the kernel (publishes the refill ring; flushes it in NODEV
    /// mode). Call it before every wait; the SQEs go to the kernel with your
    /// next submission.
    ///
    /// Then [`exhausted`](Self::exhausted) tells whether waiting for this
    /// receiver's completions could last for ever.
    ///
    /// # Errors
    ///
    /// [`Error::WrongRing`] for a ring other than the receiver's; a
    /// submission the kernel refused; the return path's errors
    /// ([`Zcrx::prepare_wait`]).
    pub fn prepare<S: squeue::EntryMarker>(
        &mut self,
        ring: &mut IoUring<S, cqueue::Entry32>,
    ) -> Result<()> {
        self.check_ring(ring)?;
        let (submitter, mut sq, _) = ring.split();
        self.prepare_split(&submitter, &mut sq)
    }

    /// [`prepare`](Self::prepare) for a ring the caller keeps split
    /// (its parts must be those of the receiver's ring).
    ///
    /// # Errors
    ///
    /// As [`prepare`](Self::prepare).
    pub fn prepare_split<S: squeue::EntryMarker>(
        &mut self,
        submitter: &Submitter<'_>,
        sq: &mut squeue::SubmissionQueue<'_, S>,
    ) -> Result<()> {
        self.core.prepare(&mut |sqe| push(submitter, sq, sqe))
    }

    /// Turns one completion reaped from the ring into an event, or
    /// consumes it (`None`: a request that ended and will be re-armed by
    /// the next [`prepare`](Self::prepare), a cancel request's own
    /// completion). Completions that are not this receiver's come back as
    /// [`Recv::Other`].
    ///
    /// # Safety
    ///
    /// `cqe` was reaped from the ring this receiver was made for (the ring
    /// passed to [`new`](Self::new), on which its requests are submitted
    /// and every instance added to it is registered), and is passed to this
    /// receiver once. It is not made up or copied from elsewhere, not passed
    /// twice, and not also turned into a view another way
    /// ([`Zcrx::buf_from_completion`]). Completions of other requests may be
    /// passed freely as long as no other request on the ring carries this
    /// receiver's [`tag`](Self::tag) in the top 16 bits of its `user_data`
    /// (the receiver takes a completion with its tag for one of its own
    /// RECV_ZC requests).
    pub unsafe fn process(&mut self, cqe: &cqueue::Entry32) -> Option<Recv<'z>> {
        // SAFETY: this function's contract.
        unsafe { self.core.process(Completion::from(cqe)) }
    }

    /// Cancels a socket's receive. Its final event ([`Recv::Cancelled`], or
    /// whatever ended it first) comes from [`process`](Self::process), or
    /// is returned here when nothing of it was in flight.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for a socket that is not live;
    /// [`Error::WrongRing`] for a ring other than the receiver's; a full
    /// submission queue that cannot be submitted.
    pub fn cancel<S: squeue::EntryMarker>(
        &mut self,
        conn: ConnId,
        ring: &mut IoUring<S, cqueue::Entry32>,
    ) -> Result<Option<Recv<'z>>> {
        self.check_ring(ring)?;
        let (submitter, mut sq, _) = ring.split();
        let made = self
            .core
            .cancel(conn, &mut |sqe| push(&submitter, &mut sq, sqe))?;
        // SAFETY: a completion the state machine made itself for a request
        // that is not in flight: it carries our `user_data` and a negative
        // result, no buffer.
        Ok(made.and_then(|c| unsafe { self.core.process(c) }))
    }

    /// Cancels every request of the receiver (queued on `ring`, submitted
    /// with your next submission); keep passing completions to
    /// [`process`](Self::process) until [`is_finished`](Self::is_finished).
    ///
    /// # Errors
    ///
    /// [`Error::WrongRing`] for a ring other than the receiver's; a full
    /// submission queue that cannot be submitted.
    pub fn shutdown<S: squeue::EntryMarker>(
        &mut self,
        ring: &mut IoUring<S, cqueue::Entry32>,
    ) -> Result<()> {
        self.check_ring(ring)?;
        let (submitter, mut sq, _) = ring.split();
        self.core
            .cancel_all(&mut |sqe| push(&submitter, &mut sq, sqe))
    }

    /// Cancels every request, waits (at most about two seconds) for their
    /// final completions, turning any data that arrives meanwhile into
    /// views that are dropped at once (their buffers go back), publishes
    /// the returns, and gives back the completions of other requests it
    /// reaped on the way, in order.
    ///
    /// # Errors
    ///
    /// [`Error::Stalled`] if the final completions did not arrive in time
    /// (the receiver is then dropped unfinished, see the type's docs); the
    /// ring's refusals.
    pub fn close<S: squeue::EntryMarker>(
        mut self,
        ring: &mut IoUring<S, cqueue::Entry32>,
    ) -> Result<Vec<cqueue::Entry32>> {
        self.shutdown(ring)?;
        let mut others = Vec::new();
        let ts = Timespec::new().nsec(CLOSE_ROUND_MS * 1_000_000);
        let args = SubmitArgs::new().timespec(&ts);
        for _ in 0..CLOSE_ROUNDS {
            for cqe in ring.completion() {
                // SAFETY: reaped from the receiver's ring, passed once.
                match unsafe { self.core.process(Completion::from(&cqe)) } {
                    Some(Recv::Other(_)) => others.push(cqe),
                    Some(ev) => drop(ev),
                    None => {}
                }
            }
            if self.is_finished() {
                self.core.publish_all();
                return Ok(others);
            }
            match ring.submitter().submit_with_args(1, &args) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ETIME) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) => return Err(enter_error(&e)),
            }
        }
        Err(Error::Stalled {
            what: "receiver shutdown",
            reason: "the final completions of the cancelled receives did not arrive within \
                     about two seconds",
        })
    }

    /// Refuses a ring whose descriptor number is not the receiver's.
    fn check_ring<S: squeue::EntryMarker>(&self, ring: &IoUring<S, cqueue::Entry32>) -> Result<()> {
        if ring.as_raw_fd() == self.ring_number {
            Ok(())
        } else {
            Err(Error::WrongRing)
        }
    }

    /// Sockets not yet finished.
    pub fn live(&self) -> usize {
        self.core.live()
    }

    /// Whether some socket waits for buffers the application holds, with
    /// nothing of this receiver in flight: waiting for its completions
    /// would last until buffers are given back (the loop's
    /// [`Recv::BuffersExhausted`]).
    pub fn exhausted(&self) -> bool {
        self.core.exhausted()
    }

    /// Whether nothing of this receiver is in flight (no receive, no
    /// cancel): it may be dropped without losing anything.
    pub fn is_finished(&self) -> bool {
        self.core.inflight == 0 && self.core.cancels == 0
    }

    /// Lowers the most bytes one request asks for (tests of byte limits
    /// over several requests).
    #[doc(hidden)]
    pub fn set_request_cap(&mut self, cap: u32) {
        self.core.set_request_cap(cap);
    }
}

impl Drop for IoUringReceiver<'_> {
    /// Gives back what the receiver can; if requests are still in flight,
    /// cancels them synchronously (best effort) and retires the epoch.
    fn drop(&mut self) {
        let clean = self.is_finished();
        if !clean {
            let ring = self.ring.as_fd();
            let _ = self.core.cancel_all(&mut |sqe| {
                sync_cancel(ring, sqe.addr);
                Ok(())
            });
        }
        self.core.publish_all();
        if clean {
            epoch::release(self.epoch);
        }
    }
}

/// `IORING_REGISTER_SYNC_CANCEL` (Linux 6.0) of the request whose
/// `user_data` is `target`; errors are ignored (best effort, from `Drop`).
fn sync_cancel(ring: rustix::fd::BorrowedFd<'_>, target: u64) {
    use rustix::io_uring::{IoringRegisterOp, io_uring_register, io_uring_sync_cancel_reg};
    let mut arg = io_uring_sync_cancel_reg::default();
    arg.addr = rustix::io_uring::io_uring_user_data::from_u64(target);
    arg.fd = -1;
    // A zero timeout: a receive waiting for data is cancelled at once; the
    // call does not wait for anything else.
    // SAFETY: the kernel reads one `io_uring_sync_cancel_reg` at `arg`,
    // live for the call; `ring` is borrowed, so open.
    let _ = unsafe {
        io_uring_register(
            ring,
            IoringRegisterOp::RegisterSyncCancel,
            core::ptr::from_ref(&arg).cast(),
            1,
        )
    };
}

/// Pushes one of the state machine's SQEs as the `io-uring` crate's entry,
/// submitting first when the queue is full.
fn push<S: squeue::EntryMarker>(
    submitter: &Submitter<'_>,
    sq: &mut squeue::SubmissionQueue<'_, S>,
    sqe: &io_uring_sqe,
) -> Result<()> {
    let entry = S::from(to_entry(sqe));
    // SAFETY: the receiver pushes only RECV_ZC into registered areas, on its
    // own duplicate of the socket (open while the request may run), and
    // cancels by `user_data`: no pointer into user memory.
    if unsafe { sq.push(&entry) }.is_err() {
        sq.sync();
        submitter.submit().map_err(|e| enter_error(&e))?;
        sq.sync();
        // SAFETY: as above.
        unsafe { sq.push(&entry) }.map_err(|_| Error::SubmissionQueueFull)?;
    }
    Ok(())
}

/// The `io-uring` crate's entry for an SQE of the state machine, built with
/// its own opcode builders (its entries have no public constructor from the
/// kernel struct). The tests check that the bytes are the same.
pub(crate) fn to_entry(sqe: &io_uring_sqe) -> squeue::Entry {
    match sqe.opcode {
        IORING_OP_RECV_ZC => opcode::RecvZc::new(types::Fd(sqe.fd), sqe.len)
            .ifq(sqe.zcrx_ifq_idx())
            .build()
            .user_data(sqe.user_data),
        IORING_OP_ASYNC_CANCEL => opcode::AsyncCancel::new(sqe.addr)
            .build()
            .user_data(sqe.user_data),
        // The state machine prepares nothing else.
        other => unreachable!("no io-uring entry for opcode {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::opcode::{prep_cancel_user_data, prep_recv_zc};
    use rustix::fd::AsFd;

    /// The bytes of an `io-uring` crate entry, read as the kernel struct.
    fn bytes_of(e: &squeue::Entry) -> io_uring_sqe {
        const { assert!(size_of::<squeue::Entry>() == size_of::<io_uring_sqe>()) };
        // SAFETY: (test) `squeue::Entry` is a `#[repr(C)]` wrapper of the
        // 64-byte kernel SQE, built from zeroed memory: every byte is
        // initialized and any bytes are a valid `io_uring_sqe`.
        unsafe {
            core::ptr::from_ref(e)
                .cast::<io_uring_sqe>()
                .read_unaligned()
        }
    }

    #[test]
    fn entries_are_the_bytes_of_our_sqes() {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut ours = io_uring_sqe::default();
        prep_recv_zc(&mut ours, sock.as_fd(), 3, 12345, 0x5a52_0007_0100_0002);
        assert_eq!(bytes_of(&to_entry(&ours)), ours);
        prep_recv_zc(&mut ours, sock.as_fd(), 0, 0, 1);
        assert_eq!(bytes_of(&to_entry(&ours)), ours);
        prep_cancel_user_data(&mut ours, 0x5a52_0007_0100_0002, 0x5a52_0007_00ff_ffff);
        assert_eq!(bytes_of(&to_entry(&ours)), ours);
    }

    #[test]
    fn completions_copy_every_field() {
        // A 32-byte completion as the kernel writes it, read through the
        // io-uring crate's type.
        #[repr(C, align(8))]
        struct Raw([u64; 4]);
        let raw = Raw([0x5a52_0001_0000_0000, (2u64 << 32) | 4096, 1 << 24 | 7, 9]);
        const { assert!(size_of::<cqueue::Entry32>() == size_of::<Raw>()) };
        // SAFETY: (test) `cqueue::Entry32` is the 32-byte kernel CQE,
        // `#[repr(C)]`; `raw` is initialized and aligned.
        let cqe = unsafe { core::ptr::from_ref(&raw).cast::<cqueue::Entry32>().read() };
        let c = Completion::from(&cqe);
        assert_eq!(c.user_data, 0x5a52_0001_0000_0000);
        assert_eq!((c.res, c.flags.bits()), (4096, 2));
        assert_eq!(c.big, Some([1 << 24 | 7, 9]));
        assert_eq!(c.zcrx().map(|z| z.off), Some(1 << 24 | 7));
        let small = Completion::from(&cqueue::Entry::from(cqe));
        assert_eq!(
            (small.user_data, small.res, small.big),
            (c.user_data, 4096, None)
        );
    }
}
