//! The receive loop: multishot `IORING_OP_RECV_ZC` on sockets, completions
//! turned into checked buffer views.
//!
//! A [`Receiver`] drives a [`Ring`] for one or more sockets, each bound to a
//! [`Zcrx`] instance registered on that ring (or [imported](Zcrx::import_into)
//! into it). [`Receiver::recv`] returns the next [`Recv`]: data (a [`Buf`]
//! that borrows the instance, not the receiver, so views can be kept while
//! the loop goes on), the end of a stream, a failure, or a completion that
//! belongs to someone else (passed through untouched: other requests, the
//! kernel's ZCRX events).
//!
//! Behind the scenes, before every wait, the loop:
//! - publishes returned buffers with one tail store per batch, including
//!   those returned from other threads ([`Zcrx::publish`]);
//! - in NODEV mode, flushes the refill ring when the kernel runs low on free
//!   buffers ([`Zcrx::prepare_wait`]); in NIC mode only after a receive
//!   found no free buffer for copied payload (copy fallback, e.g. a flow
//!   steered to another queue): the zero-copy path never flushes;
//! - re-arms every socket whose multishot request ended without an error
//!   that closes it: after `-ENOMEM` (no free buffer) once buffers are
//!   back, after `-ENOSPC` (completion ring full) once it is drained, after
//!   a part of a byte limit above 4 GiB;
//! - submits exactly the SQEs it queued.
//!
//! # Ownership rules
//!
//! - **Views** come only from completions the loop reaped from its own
//!   ring, each once; an instance registered on another ring is refused
//!   ([`Error::WrongRing`]).
//! - **Sockets**: [`add`](Receiver::add) keeps its own duplicate of the
//!   descriptor until the socket's final event, so the loop never submits
//!   on a descriptor it does not hold. Closing your handle does not stop
//!   the receive: [`cancel`](Receiver::cancel) it, or shut the socket down.
//! - **Dropping the receiver** cancels its requests, waits for their final
//!   completions (briefly: a cancelled receive ends at once), and gives
//!   back every buffer of the completions it reaped but did not hand out.
//!   Completions of other requests reaped meanwhile stay with the ring
//!   ([`Ring::completions`] yields them first).
//! - **No spinning**: a socket whose receives keep ending without moving
//!   any buffer (`-ENOMEM` while buffers are missing, `-ENOSPC` on a ring
//!   too small) ends with [`Recv::Failed`] carrying [`Error::Stalled`].
//!
//! ```no_run
//! use zcrx_ring::{Area, Recv, Receiver, Zcrx, ring::Ring};
//! # fn demo(sock: std::net::TcpStream) -> zcrx_ring::Result<()> {
//! let mut ring: Ring = Ring::new(64)?;
//! let zcrx = Zcrx::builder_nodev()
//!     .area(Area::anonymous(1024 * 4096)?)
//!     .register(&ring)?;
//! let mut rx = Receiver::new(&mut ring);
//! let conn = rx.add(&zcrx, &sock, None)?;
//! loop {
//!     match rx.recv()? {
//!         Recv::Data { buf, .. } => println!("{} bytes", buf.len()),
//!         Recv::Eof { .. } => break,
//!         other => println!("{other:?}"),
//!     }
//! }
//! # let _ = conn; Ok(()) }
//! ```

mod batch;
mod dispatch;
mod shutdown;

use alloc::collections::VecDeque;
use core::time::Duration;

use rustix::fd::AsFd;
use zcrx_uapi::io_uring_sqe;

use crate::buf::Buf;
use crate::error::{Error, Result};
use crate::ring::{Completion, Cqe32, CqeMode, Ring, SubmissionQueue};
use crate::zcrx::{Imported, Zcrx};

pub(crate) use dispatch::Dispatch;

/// The default tag in the top 16 bits of the receiver's `user_data`.
pub const DEFAULT_TAG: u16 = 0x5a52;

/// A socket registered with a [`Receiver`].
///
/// A slot is reused only after its socket's last completion was reaped, so
/// no completion is ever taken for the wrong socket. The id itself carries
/// an 8-bit generation: an id kept long after its socket ended may, once
/// the slot has been reused 256 times, name a later socket (for
/// [`Receiver::cancel`] and the like); drop ids when their socket ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnId {
    pub(crate) index: u32,
    pub(crate) generation: u8,
}

impl ConnId {
    /// A small integer, unique among the receiver's live sockets.
    pub fn index(&self) -> u32 {
        self.index
    }
}

/// What the receive loop yields ([`Receiver::recv`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum Recv<'z> {
    /// Received data.
    Data {
        /// The socket.
        conn: ConnId,
        /// The data; given back to the kernel when dropped.
        buf: Buf<'z>,
    },
    /// The peer closed the stream; the socket is no longer watched.
    Eof {
        /// The socket.
        conn: ConnId,
    },
    /// The byte limit given to [`Receiver::add`] was reached, exactly.
    LimitReached {
        /// The socket.
        conn: ConnId,
    },
    /// The socket's receive was cancelled ([`Receiver::cancel`]).
    Cancelled {
        /// The socket.
        conn: ConnId,
    },
    /// Receiving failed; the socket is no longer watched.
    Failed {
        /// The socket.
        conn: ConnId,
        /// Why.
        error: Error,
    },
    /// A completion the receiver does not own (another request on the same
    /// ring, ZCRX event completions, …), passed through untouched.
    Other(Completion),
    /// Every buffer of an instance is held by the application and nothing
    /// else is in flight: the loop would wait forever. Give buffers back.
    BuffersExhausted,
}

/// The receive loop over one ring.
#[derive(Debug)]
pub struct Receiver<'z, M: CqeMode = Cqe32> {
    ring: &'z mut Ring<M>,
    core: Dispatch<'z>,
    /// Completions reaped and not yet processed (at most the ring's size).
    queue: VecDeque<Completion>,
    epoch: Option<u16>,
}

impl<'z, M: CqeMode> Receiver<'z, M> {
    /// A receiver over `ring`, tagging its requests with [`DEFAULT_TAG`].
    pub fn new(ring: &'z mut Ring<M>) -> Self {
        Self::with_tag(ring, DEFAULT_TAG)
    }

    /// A receiver whose requests carry `tag` in the top 16 bits of their
    /// `user_data`; completions with another tag are passed through as
    /// [`Recv::Other`].
    pub fn with_tag(ring: &'z mut Ring<M>, tag: u16) -> Self {
        let cap = ring.cq_slots() as usize;
        let epoch = ring.start_receiver();
        Self {
            core: Dispatch::new(tag, epoch.unwrap_or(0)),
            ring,
            queue: VecDeque::with_capacity(cap),
            epoch,
        }
    }

    /// The tag in the top 16 bits of this receiver's `user_data`: other
    /// requests on the ring (and ZCRX event descriptors) must not use it.
    pub fn tag(&self) -> u16 {
        self.core.tag()
    }

    /// The ring (read-only: flags, counters, parameters).
    pub fn ring(&self) -> &Ring<M> {
        self.ring
    }

    /// The ring's submission queue, for other requests (their completions
    /// come back as [`Recv::Other`]). The completion queue stays with the
    /// receiver.
    pub fn submission(&mut self) -> SubmissionQueue<'_> {
        self.ring.submission()
    }

    /// Queues another request on the ring (submitting what is queued first
    /// if the submission queue is full); it goes to the kernel with the
    /// loop's next wait, and its completions come back as [`Recv::Other`].
    ///
    /// # Safety
    ///
    /// As [`Ring::push`]. Its `user_data` must not carry this receiver's
    /// [`tag`](Self::tag) in its top 16 bits.
    ///
    /// # Errors
    ///
    /// The submission's errors ([`Ring::submit`]).
    pub unsafe fn push(&mut self, sqe: &io_uring_sqe) -> Result<()> {
        // SAFETY: forwarded to the caller.
        if unsafe { self.ring.push(sqe) }.is_err() {
            self.ring.submit()?;
            // SAFETY: as above.
            unsafe { self.ring.push(sqe) }?;
        }
        Ok(())
    }

    /// Starts receiving from a connected TCP socket into `zcrx`, which must
    /// be registered on this receiver's ring. With `limit`, stops after
    /// exactly that many bytes ([`Recv::LimitReached`]).
    ///
    /// The receiver duplicates the descriptor (`F_DUPFD_CLOEXEC`) and keeps
    /// the duplicate until the socket's final event: closing the caller's
    /// handle neither stops the receive nor lets the loop touch whatever
    /// later gets the same number.
    ///
    /// # Errors
    ///
    /// [`Error::WrongRing`] for an instance registered on another ring (or
    /// by other code); [`Error::InvalidConfig`] for a zero limit, a ring too
    /// small for one more socket, too many sockets, or an instance whose
    /// event completions carry this receiver's tag; the `dup`'s refusal.
    pub fn add(&mut self, zcrx: &'z Zcrx, socket: impl AsFd, limit: Option<u64>) -> Result<ConnId> {
        if zcrx.ring != Some(self.ring.id()) {
            return Err(Error::WrongRing);
        }
        zcrx.check_event_tag(self.tag())?;
        self.check_room()?;
        self.core.add(zcrx, zcrx.id(), socket, limit)
    }

    /// As [`add`](Self::add) for an instance [imported](Zcrx::import_into)
    /// into this receiver's ring.
    ///
    /// # Errors
    ///
    /// [`Error::WrongRing`] if it was imported into another ring; otherwise
    /// as [`add`](Self::add).
    pub fn add_imported(
        &mut self,
        imported: &Imported<'z>,
        socket: impl AsFd,
        limit: Option<u64>,
    ) -> Result<ConnId> {
        if imported.ring != self.ring.id() {
            return Err(Error::WrongRing);
        }
        imported.zcrx.check_event_tag(self.tag())?;
        self.check_room()?;
        self.core.add(imported.zcrx, imported.id, socket, limit)
    }

    /// Refuses a socket the completion ring could not serve: each armed
    /// request may hold one completion slot for its final completion while
    /// data still needs room (two slots per 32-byte completion on a mixed
    /// ring, plus a padding slot at the end). Past that, every receive could
    /// end with `-ENOSPC` before posting any data, round after round.
    fn check_room(&self) -> Result<()> {
        if self.epoch.is_none() {
            return Err(Error::invalid(
                "receiver",
                "every receive-loop epoch of this ring is taken by receivers that were \
                 forgotten with requests in flight",
            ));
        }
        let slots = self.ring.cq_slots();
        if M::MIXED && slots < 4 {
            return Err(Error::invalid(
                "ring",
                "a CQE_MIXED completion ring needs at least 4 entries for ZCRX: with fewer, a \
                 32-byte completion may never find two free slots",
            ));
        }
        // Per socket: a final completion, and room for data.
        let per_socket = if M::MIXED { 4 } else { 2 };
        let sockets = self.core.live() as u32 + 1;
        if sockets.saturating_mul(per_socket) > slots {
            return Err(Error::invalid(
                "ring",
                "the completion ring is too small for one more socket: it needs at least 2 \
                 entries per socket (4 on a CQE_MIXED ring)",
            ));
        }
        Ok(())
    }

    /// Cancels a socket's receive; its final event is [`Recv::Cancelled`]
    /// (or whatever ended it first).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for a socket that is not live; a full
    /// submission queue that cannot be submitted.
    pub fn cancel(&mut self, conn: ConnId) -> Result<()> {
        let ring = &mut *self.ring;
        let made = self.core.cancel(conn, &mut |sqe| push(ring, sqe))?;
        if let Some(c) = made {
            self.queue.push_back(c);
        }
        Ok(())
    }

    /// Lowers the most bytes one `IORING_OP_RECV_ZC` request asks for
    /// (normally `u32::MAX`, the SQE's limit), so that tests can show a byte
    /// limit carried over several requests without sending 4 GiB.
    #[doc(hidden)]
    pub fn set_request_cap(&mut self, cap: u32) {
        self.core.set_request_cap(cap);
    }

    /// Number of sockets not yet finished.
    pub fn live(&self) -> usize {
        self.core.live()
    }

    /// Blocks until the next event.
    ///
    /// # Errors
    ///
    /// The ring's refusals ([`Ring::submit_and_wait`]) and the return
    /// path's ([`Zcrx::prepare_wait`]); a socket's own failure is an event
    /// ([`Recv::Failed`]), not an error.
    pub fn recv(&mut self) -> Result<Recv<'z>> {
        loop {
            if let Some(ev) = self.step(None)? {
                return Ok(ev);
            }
        }
    }

    /// Waits at most `timeout` for the next event.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Recv<'z>>> {
        self.step(Some(timeout))
    }

    /// Returns an event if one is ready, after running the kernel's pending
    /// work once, without blocking.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> Result<Option<Recv<'z>>> {
        self.step(Some(Duration::ZERO))
    }

    /// Submits what is queued and waits (`None`: without a limit; zero:
    /// not at all, but the kernel's pending work runs).
    fn wait(&mut self, timeout: Option<Duration>) -> Result<()> {
        match timeout {
            None => self.ring.submit_and_wait(1)?,
            Some(t) if t.is_zero() => self.ring.submit_and_wait(0)?,
            Some(t) => self.ring.wait_timeout(1, t)?,
        };
        Ok(())
    }

    /// One round: serve a queued completion, or prepare, wait (`None`:
    /// without a limit) and reap.
    fn step(&mut self, timeout: Option<Duration>) -> Result<Option<Recv<'z>>> {
        if let Some(ev) = self.drain_queue() {
            return Ok(Some(ev));
        }
        if self.reap() > 0 {
            return Ok(self.drain_queue());
        }
        let ring = &mut *self.ring;
        self.core.prepare(&mut |sqe| push(ring, sqe))?;
        if self.core.exhausted() {
            return Ok(Some(Recv::BuffersExhausted));
        }
        self.wait(timeout)?;
        self.reap();
        Ok(self.drain_queue())
    }

    // The parts of `step` for a driver that waits elsewhere (the tokio
    // receiver waits in the runtime's reactor, never in the kernel).

    /// An event from what was reaped, or from the completion ring, without
    /// a system call.
    #[cfg(feature = "tokio")]
    pub(crate) fn ready_event(&mut self) -> Option<Recv<'z>> {
        if let Some(ev) = self.drain_queue() {
            return Some(ev);
        }
        if self.reap() > 0 {
            return self.drain_queue();
        }
        None
    }

    /// What must happen before waiting: publish returns (in NODEV mode,
    /// flush), arm idle sockets and submit them (no `GETEVENTS`, no wait).
    /// Returns [`Recv::BuffersExhausted`] when waiting could never end.
    #[cfg(feature = "tokio")]
    pub(crate) fn prepare_to_wait(&mut self) -> Result<Option<Recv<'z>>> {
        let ring = &mut *self.ring;
        self.core.prepare(&mut |sqe| push(ring, sqe))?;
        if self.core.exhausted() {
            return Ok(Some(Recv::BuffersExhausted));
        }
        self.ring.submit()?;
        Ok(None)
    }

    /// Enters the kernel with `GETEVENTS` without waiting (runs the
    /// deferred task work that posts receive completions) and reaps.
    /// Returns how many completions were reaped.
    #[cfg(feature = "tokio")]
    pub(crate) fn run_pending(&mut self) -> Result<usize> {
        self.ring.submit_and_wait(0)?;
        Ok(self.reap())
    }

    /// Whether no socket is left and nothing is queued (where the iterator
    /// ends).
    #[cfg(feature = "tokio")]
    pub(crate) fn is_finished(&self) -> bool {
        self.queue.is_empty() && self.live() == 0
    }

    /// Moves every ready completion into the queue (one head store).
    fn reap(&mut self) -> usize {
        let before = self.queue.len();
        self.queue.extend(self.ring.completions());
        self.queue.len() - before
    }

    fn drain_queue(&mut self) -> Option<Recv<'z>> {
        while let Some(c) = self.queue.pop_front() {
            // SAFETY: reaped from `self.ring`, on which every instance of
            // the receiver's sockets is registered or imported (checked by
            // `add`/`add_imported`), and taken out of the queue once.
            if let Some(ev) = unsafe { self.core.process(c) } {
                return Some(ev);
            }
        }
        None
    }
}

/// Queues `sqe`, submitting first if the queue is full.
fn push<M: CqeMode>(ring: &mut Ring<M>, sqe: &io_uring_sqe) -> Result<()> {
    // SAFETY: the receiver only pushes RECV_ZC into registered areas and
    // cancels, which carry no user pointers; the socket descriptor is the
    // receiver's own duplicate, open while the request may run.
    if unsafe { ring.push(sqe) }.is_err() {
        ring.submit()?;
        // SAFETY: as above.
        unsafe { ring.push(sqe) }?;
    }
    Ok(())
}

/// Iterates over events until no socket is left (every one has ended) and
/// nothing more is queued; completions of other requests that arrive after
/// that are not waited for (use [`Receiver::recv`] for those).
impl<'z, M: CqeMode> Iterator for Receiver<'z, M> {
    type Item = Result<Recv<'z>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.queue.is_empty() && self.live() == 0 {
                return None;
            }
            match self.step(None) {
                Ok(Some(ev)) => return Some(Ok(ev)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
