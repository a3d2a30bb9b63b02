//! The receive loop: multishot `IORING_OP_RECV_ZC` on sockets, completions
//! turned into checked buffer views.
//!
//! A [`Receiver`] drives a [`Ring`] for one or more sockets, each bound to a
//! [`Zcrx`] instance. [`Receiver::next`] returns the next [`Event`]: data
//! (a [`Buf`] that borrows the instance, not the receiver, so views can be
//! kept while the loop goes on), the end of a stream, a failure, or a
//! completion that belongs to someone else (passed through untouched).
//!
//! Behind the scenes, before every wait, the loop:
//! - publishes returned buffers with one tail store per batch, including
//!   those returned from other threads ([`Zcrx::publish`]);
//! - in NODEV mode, flushes the refill ring when the kernel runs low on free
//!   buffers ([`Zcrx::prepare_wait`]);
//! - re-arms every socket whose multishot request ended without an error
//!   that closes it: after `-ENOMEM` (no free buffer) once buffers are
//!   back, after `-ENOSPC` (completion ring full) once it is drained;
//! - submits exactly the SQEs it queued.
//!
//! ```no_run
//! use zcrx_ring::{Area, Event, Receiver, Zcrx, ring::Ring};
//! # fn demo(sock: std::net::TcpStream) -> zcrx_ring::Result<()> {
//! let mut ring: Ring = Ring::new(64)?;
//! let zcrx = Zcrx::builder_nodev()
//!     .area(Area::anonymous(1024 * 4096)?)
//!     .register(&ring)?;
//! let mut rx = Receiver::new(&mut ring);
//! let conn = rx.add(&zcrx, &sock, None)?;
//! loop {
//!     match rx.next_event()? {
//!         Event::Data { buf, .. } => println!("{} bytes", buf.len()),
//!         Event::Eof { .. } => break,
//!         other => println!("{other:?}"),
//!     }
//! }
//! # let _ = conn; Ok(()) }
//! ```

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::time::Duration;

use rustix::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use rustix::io::Errno;
use zcrx_uapi::io_uring_sqe;

use crate::buf::Buf;
use crate::error::{Error, Result};
use crate::ring::{Completion, Cqe32, CqeMode, Ring, opcode};
use crate::zcrx::Zcrx;

/// The default tag in the top 16 bits of the receiver's `user_data`.
pub const DEFAULT_TAG: u16 = 0x5a52;

/// Index reserved for the receiver's own cancel requests.
const CANCEL_INDEX: u32 = u32::MAX;

const OP_RECV: &str = "IORING_OP_RECV_ZC";

/// A socket registered with a [`Receiver`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnId {
    index: u32,
    generation: u16,
}

impl ConnId {
    /// A small integer, unique among the receiver's live sockets.
    pub fn index(&self) -> u32 {
        self.index
    }
}

/// What [`Receiver::next_event`] yields.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'z> {
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
    /// The byte limit given to [`Receiver::add`] was reached.
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
    /// ring, ZCRX event notifications, …), passed through untouched.
    Other(Completion),
    /// Every buffer of an instance is held by the application and nothing
    /// else is in flight: the loop would wait forever. Give buffers back.
    BuffersExhausted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Needs a (re)submission.
    Idle,
    /// A multishot request is in flight.
    Armed,
    /// Ended with `-ENOMEM` while every buffer was held.
    Starved,
    /// A cancel was requested; waiting for the final completion.
    Cancelling,
    /// Finished; the slot may be reused.
    Done,
}

#[derive(Debug)]
struct Conn<'z> {
    zcrx: &'z Zcrx,
    zcrx_id: u32,
    fd: RawFd,
    /// Bytes left before the limit, if there is one.
    remaining: Option<u64>,
    generation: u16,
    state: State,
}

/// The receive loop over one ring.
#[derive(Debug)]
pub struct Receiver<'z, M: CqeMode = Cqe32> {
    ring: &'z mut Ring<M>,
    conns: Vec<Conn<'z>>,
    queue: VecDeque<Completion>,
    tag: u64,
    inflight: u32,
}

impl<'z, M: CqeMode> Receiver<'z, M> {
    /// A receiver over `ring`, tagging its requests with [`DEFAULT_TAG`].
    pub fn new(ring: &'z mut Ring<M>) -> Self {
        Self::with_tag(ring, DEFAULT_TAG)
    }

    /// A receiver whose requests carry `tag` in the top 16 bits of their
    /// `user_data`; completions with another tag are passed through as
    /// [`Event::Other`].
    pub fn with_tag(ring: &'z mut Ring<M>, tag: u16) -> Self {
        let cap = ring.params().cq_entries as usize;
        Self {
            ring,
            conns: Vec::new(),
            queue: VecDeque::with_capacity(cap),
            tag: u64::from(tag),
            inflight: 0,
        }
    }

    /// The tag in the top 16 bits of this receiver's `user_data`: other
    /// requests on the ring (and ZCRX event descriptors) must not use it.
    pub fn tag(&self) -> u16 {
        self.tag as u16
    }

    /// The ring, for submitting other requests (their completions come back
    /// as [`Event::Other`]).
    pub fn ring(&mut self) -> &mut Ring<M> {
        self.ring
    }

    /// Starts receiving from a connected TCP socket into `zcrx` (registered
    /// on this ring). With `limit`, stops after that many bytes
    /// ([`Event::LimitReached`]). Keep the socket open until its final event.
    pub fn add(
        &mut self,
        zcrx: &'z Zcrx,
        socket: &impl AsFd,
        limit: Option<u64>,
    ) -> Result<ConnId> {
        self.add_with_id(zcrx, zcrx.id(), socket.as_fd(), limit)
    }

    /// As [`add`](Self::add) for an instance imported into this ring
    /// ([`Zcrx::import_into`]), which gave `zcrx_id`.
    pub fn add_with_id(
        &mut self,
        zcrx: &'z Zcrx,
        zcrx_id: u32,
        socket: BorrowedFd<'_>,
        limit: Option<u64>,
    ) -> Result<ConnId> {
        if limit == Some(0) {
            return Err(Error::invalid("limit", "must be at least 1 byte"));
        }
        let conn = Conn {
            zcrx,
            zcrx_id,
            fd: socket.as_raw_fd(),
            remaining: limit,
            generation: 0,
            state: State::Idle,
        };
        let index = match self.conns.iter().position(|c| c.state == State::Done) {
            Some(i) => {
                let generation = self.conns[i].generation.wrapping_add(1);
                self.conns[i] = Conn { generation, ..conn };
                i
            }
            None => {
                if self.conns.len() >= CANCEL_INDEX as usize {
                    return Err(Error::invalid("sockets", "too many"));
                }
                self.conns.push(conn);
                self.conns.len() - 1
            }
        };
        Ok(ConnId {
            index: index as u32,
            generation: self.conns[index].generation,
        })
    }

    /// Cancels a socket's receive; its final event is [`Event::Cancelled`]
    /// (or whatever ended it first).
    pub fn cancel(&mut self, conn: ConnId) -> Result<()> {
        let user_data = self.user_data(conn.index, conn.generation);
        let cancel_ud = self.user_data(CANCEL_INDEX, 0);
        let Some(c) = self.live_mut(conn) else {
            return Err(Error::invalid("conn", "not a live socket of this receiver"));
        };
        match c.state {
            State::Armed => {
                c.state = State::Cancelling;
                let mut sqe = io_uring_sqe::default();
                opcode::prep_cancel_user_data(&mut sqe, user_data, cancel_ud);
                self.push(&sqe)
            }
            State::Idle | State::Starved => {
                c.state = State::Done;
                self.queue.push_back(Completion {
                    user_data,
                    res: -Errno::CANCELED.raw_os_error(),
                    flags: Default::default(),
                    big: None,
                });
                Ok(())
            }
            State::Cancelling | State::Done => Ok(()),
        }
    }

    /// Number of sockets not yet finished.
    pub fn live(&self) -> usize {
        self.conns.iter().filter(|c| c.state != State::Done).count()
    }

    /// Blocks until the next event.
    pub fn next_event(&mut self) -> Result<Event<'z>> {
        loop {
            if let Some(ev) = self.step(None)? {
                return Ok(ev);
            }
        }
    }

    /// Waits at most `timeout` for the next event.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<Event<'z>>> {
        self.step(Some(timeout))
    }

    /// Returns an event if one is ready, after running the kernel's pending
    /// work once, without blocking.
    pub fn poll(&mut self) -> Result<Option<Event<'z>>> {
        self.step(Some(Duration::ZERO))
    }

    fn user_data(&self, index: u32, generation: u16) -> u64 {
        (self.tag << 48) | (u64::from(generation) << 32) | u64::from(index)
    }

    fn live_mut(&mut self, id: ConnId) -> Option<&mut Conn<'z>> {
        self.conns
            .get_mut(id.index as usize)
            .filter(|c| c.generation == id.generation && c.state != State::Done)
    }

    fn push(&mut self, sqe: &io_uring_sqe) -> Result<()> {
        // SAFETY: the receiver only pushes RECV_ZC into registered areas and
        // cancels, which carry no user pointers.
        if unsafe { self.ring.push(sqe) }.is_err() {
            self.ring.submit()?;
            // SAFETY: as above.
            unsafe { self.ring.push(sqe) }?;
        }
        Ok(())
    }

    /// One round: serve a queued completion, or prepare, wait (`None`:
    /// without a limit) and reap.
    fn step(&mut self, timeout: Option<Duration>) -> Result<Option<Event<'z>>> {
        if let Some(ev) = self.drain_queue() {
            return Ok(Some(ev));
        }
        if self.reap() > 0 {
            return Ok(self.drain_queue());
        }
        self.prepare()?;
        if self.inflight == 0 && self.conns.iter().any(|c| c.state == State::Starved) {
            return Ok(Some(Event::BuffersExhausted));
        }
        match timeout {
            None => {
                self.ring.submit_and_wait(1)?;
            }
            Some(t) if t.is_zero() => {
                self.ring.submit_and_wait(0)?;
            }
            Some(t) => {
                self.ring.wait_timeout(1, t)?;
            }
        }
        self.reap();
        Ok(self.drain_queue())
    }

    /// Publishes returns, flushes where needed, and arms idle sockets.
    fn prepare(&mut self) -> Result<()> {
        for i in 0..self.conns.len() {
            let zcrx = self.conns[i].zcrx;
            // Once per instance: at the first socket that uses it.
            if !self.conns[..i].iter().any(|c| core::ptr::eq(c.zcrx, zcrx)) {
                zcrx.prepare_wait(false)?;
            }
            if self.conns[i].state == State::Starved && zcrx.held() < zcrx.buffers() {
                // Buffers came back: make sure the kernel has them.
                zcrx.prepare_wait(true)?;
                self.conns[i].state = State::Idle;
            }
            if self.conns[i].state == State::Idle {
                let c = &self.conns[i];
                let limit = c
                    .remaining
                    .map_or(0, |r| u32::try_from(r).unwrap_or(u32::MAX));
                let mut sqe = io_uring_sqe::default();
                // SAFETY: the fd number is only passed to the kernel, which
                // checks it; the caller keeps the socket open (see `add`).
                let fd = unsafe { BorrowedFd::borrow_raw(c.fd) };
                opcode::prep_recv_zc(
                    &mut sqe,
                    fd,
                    c.zcrx_id,
                    limit,
                    self.user_data(i as u32, c.generation),
                );
                self.push(&sqe)?;
                self.conns[i].state = State::Armed;
                self.inflight += 1;
            }
        }
        Ok(())
    }

    /// Moves every ready completion into the queue (one head store).
    fn reap(&mut self) -> usize {
        let before = self.queue.len();
        self.queue.extend(self.ring.completions());
        self.queue.len() - before
    }

    fn drain_queue(&mut self) -> Option<Event<'z>> {
        while let Some(c) = self.queue.pop_front() {
            if let Some(ev) = self.process(c) {
                return Some(ev);
            }
        }
        None
    }

    /// Turns one completion into an event, or consumes it.
    fn process(&mut self, c: Completion) -> Option<Event<'z>> {
        if c.user_data >> 48 != self.tag {
            return Some(Event::Other(c));
        }
        let index = c.user_data as u32;
        if index == CANCEL_INDEX {
            return None; // the cancel request's own completion
        }
        let generation = (c.user_data >> 32) as u16;
        let conn = ConnId { index, generation };
        let Some(slot) = self
            .conns
            .get_mut(index as usize)
            .filter(|s| s.generation == generation)
        else {
            return Some(Event::Other(c));
        };
        let ended = !c.more();
        if ended && matches!(slot.state, State::Armed | State::Cancelling) {
            self.inflight = self.inflight.saturating_sub(1);
        }
        let cancelling = slot.state == State::Cancelling;
        let zcrx = slot.zcrx;

        if c.res > 0 {
            let ev = match c.zcrx() {
                Some(z) => match zcrx.buf_from_completion(c.res, z.off) {
                    Ok(buf) => {
                        if let Some(r) = &mut slot.remaining {
                            *r = r.saturating_sub(buf.len() as u64);
                        }
                        Event::Data { conn, buf }
                    }
                    Err(error) => Event::Failed { conn, error },
                },
                None => Event::Failed {
                    conn,
                    error: Error::KernelValue {
                        field: "io_uring_cqe.big_cqe",
                        value: c.user_data,
                        reason: "a RECV_ZC completion without its second half",
                    },
                },
            };
            if ended {
                slot.state = if cancelling {
                    State::Done
                } else if slot.remaining == Some(0) {
                    // The kernel ends the request with res 0 next; treat the
                    // limit as reached now.
                    State::Done
                } else {
                    State::Idle
                };
            }
            return Some(ev);
        }
        if !ended {
            return None; // not expected for RECV_ZC; nothing to give back
        }
        if c.res == 0 {
            slot.state = State::Done;
            return Some(if slot.remaining == Some(0) {
                Event::LimitReached { conn }
            } else {
                Event::Eof { conn }
            });
        }
        let errno = Errno::from_raw_os_error(-c.res);
        if cancelling || errno == Errno::CANCELED {
            slot.state = State::Done;
            return Some(Event::Cancelled { conn });
        }
        match errno {
            Errno::NOMEM => {
                // No free buffer. Give back what was returned, then retry; if
                // the application holds every buffer, wait for it.
                let _ = zcrx.prepare_wait(true);
                slot.state = if zcrx.held() >= zcrx.buffers() {
                    State::Starved
                } else {
                    State::Idle
                };
                None
            }
            // Completion ring full (already drained into the queue), or a
            // transient condition: re-arm.
            Errno::NOSPC | Errno::AGAIN | Errno::INTR => {
                slot.state = State::Idle;
                None
            }
            _ => {
                slot.state = State::Done;
                Some(Event::Failed {
                    conn,
                    error: Error::kernel(OP_RECV, errno),
                })
            }
        }
    }
}

/// Iterates over events until no socket is left (every one has ended) and
/// nothing more is queued; completions of other requests that arrive after
/// that are not waited for (use [`Receiver::next_event`] for those).
impl<'z, M: CqeMode> Iterator for Receiver<'z, M> {
    type Item = Result<Event<'z>>;

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

impl<M: CqeMode> Drop for Receiver<'_, M> {
    /// Cancels the requests still in flight (best effort, without waiting),
    /// so that the ring stops filling buffers nobody will read.
    fn drop(&mut self) {
        let armed: Vec<u64> = self
            .conns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.state == State::Armed)
            .map(|(i, c)| self.user_data(i as u32, c.generation))
            .collect();
        let cancel_ud = self.user_data(CANCEL_INDEX, 0);
        for target in armed {
            let mut sqe = io_uring_sqe::default();
            opcode::prep_cancel_user_data(&mut sqe, target, cancel_ud);
            if self.push(&sqe).is_err() {
                break;
            }
        }
        let _ = self.ring.submit();
    }
}
