//! The receive loop's state machine, independent of how completions are
//! reaped and SQEs submitted: which sockets are watched, what each request
//! is, what a completion means, when to re-arm, and when to give up.
//!
//! [`Receiver`](super::Receiver) drives it with this crate's ring; other
//! drivers (a ring owned by another library, an async runtime) reuse it.
//!
//! # `user_data`
//!
//! ```text
//!  63        48 47      32 31  24 23                 0
//! +------------+----------+------+--------------------+
//! |    tag     |  epoch   | gen  |   socket index     |
//! +------------+----------+------+--------------------+
//! ```
//!
//! `tag` tells the loop's requests from others on the ring; `epoch` tells
//! this loop's from those of an earlier loop on the same ring (a loop that
//! was forgotten with requests in flight, whose completions must never be
//! taken for this one's); `gen` tells a socket's slot from the same slot
//! reused. Index [`CANCEL_INDEX`] marks the loop's cancel requests.

use alloc::vec::Vec;

use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use zcrx_uapi::io_uring_sqe;

use super::{ConnId, Recv};
use crate::error::{Error, Result};
use crate::ring::{Completion, opcode};
use crate::zcrx::Zcrx;

/// Socket indices are below this (24 bits of `user_data`).
pub(crate) const MAX_SOCKETS: u32 = (1 << 24) - 1;
/// The index of the loop's own cancel requests.
pub(crate) const CANCEL_INDEX: u32 = MAX_SOCKETS;

/// Consecutive `ENOMEM` ends without any buffer moving before the loop
/// reports [`Error::Stalled`]. The first is normal (returned buffers not yet
/// flushed); the kernel then gets every returned buffer before the re-arm.
const ENOMEM_STALLS: u8 = 3;
/// Consecutive `ENOSPC` ends without any buffer moving: a full completion
/// ring that reaping cannot clear.
const ENOSPC_STALLS: u8 = 8;

const OP_RECV: &str = "IORING_OP_RECV_ZC";

/// The socket a `user_data` of this loop names (its tag and epoch checked
/// by the caller).
#[inline]
pub(crate) fn conn_of(user_data: u64) -> ConnId {
    ConnId {
        index: (user_data & u64::from(MAX_SOCKETS)) as u32,
        generation: (user_data >> 24) as u8,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Needs a (re)submission.
    Idle,
    /// A multishot request is in flight.
    Armed,
    /// Ended with `-ENOMEM` while every buffer was held.
    Starved,
    /// A cancel was requested; waiting for the final completion.
    Cancelling,
    /// Cancelled with nothing in flight: its final completion is queued.
    CancelQueued,
    /// Its final event (a failure) was delivered while its request still
    /// runs: a cancel is owed (`cancel_sent`), later data is given back at
    /// once, the final completion ends the slot silently.
    Silenced,
    /// Finished; the slot may be reused.
    Done,
}

#[derive(Debug)]
pub(crate) struct Conn<'z> {
    pub(crate) zcrx: &'z Zcrx,
    zcrx_id: u32,
    /// The receiver's own duplicate of the socket, closed when the socket's
    /// final event is delivered.
    fd: Option<OwnedFd>,
    /// Bytes still owed under the caller's limit, if there is one.
    remaining: Option<u64>,
    /// Bytes still owed under the limit of the request in flight (0: the
    /// request has no limit).
    request_left: u32,
    /// Whether the request in flight was submitted with a limit.
    request_limited: bool,
    generation: u8,
    pub(crate) state: State,
    /// The instance's activity when the request was armed.
    mark: u32,
    /// Consecutive ends without data or buffer movement.
    stalls: u8,
    /// A cancel of the request in flight was submitted.
    cancel_sent: bool,
}

/// The sockets of one receive loop and their requests.
#[derive(Debug)]
pub(crate) struct Dispatch<'z> {
    conns: Vec<Conn<'z>>,
    /// `tag << 48 | epoch << 32`.
    prefix: u64,
    /// Multishot requests in flight (armed or cancelling).
    pub(crate) inflight: u32,
    /// Cancel requests in flight.
    pub(crate) cancels: u32,
    /// The most bytes one request asks for (`u32::MAX`: the SQE's `len`);
    /// lowered only by tests.
    request_cap: u32,
}

impl<'z> Dispatch<'z> {
    pub(crate) fn new(tag: u16, epoch: u16) -> Self {
        Self {
            conns: Vec::new(),
            prefix: (u64::from(tag) << 48) | (u64::from(epoch) << 32),
            inflight: 0,
            cancels: 0,
            request_cap: u32::MAX,
        }
    }

    /// Lowers the most bytes one request asks for (tests of limits that
    /// need several requests).
    pub(crate) fn set_request_cap(&mut self, cap: u32) {
        self.request_cap = cap.max(1);
    }

    pub(crate) fn tag(&self) -> u16 {
        (self.prefix >> 48) as u16
    }

    fn user_data(&self, index: u32, generation: u8) -> u64 {
        self.prefix | (u64::from(generation) << 24) | u64::from(index)
    }

    /// Whether `user_data` carries this loop's tag (its own requests, or an
    /// earlier loop's with the same tag).
    pub(crate) fn is_tagged(&self, user_data: u64) -> bool {
        user_data >> 48 == self.prefix >> 48
    }

    /// Starts watching a socket (the caller checked that `zcrx` belongs to
    /// the ring under `zcrx_id`).
    pub(crate) fn add(
        &mut self,
        zcrx: &'z Zcrx,
        zcrx_id: u32,
        socket: impl AsFd,
        limit: Option<u64>,
    ) -> Result<ConnId> {
        if limit == Some(0) {
            return Err(Error::invalid("limit", "must be at least 1 byte"));
        }
        let fd = rustix::io::fcntl_dupfd_cloexec(socket.as_fd(), 0)
            .map_err(|e| Error::kernel("fcntl(F_DUPFD_CLOEXEC) of the socket", e))?;
        let conn = Conn {
            zcrx,
            zcrx_id,
            fd: Some(fd),
            remaining: limit,
            request_left: 0,
            request_limited: false,
            generation: 0,
            state: State::Idle,
            mark: 0,
            stalls: 0,
            cancel_sent: false,
        };
        let index = match self.conns.iter().position(|c| c.state == State::Done) {
            Some(i) => {
                let generation = self.conns[i].generation.wrapping_add(1);
                self.conns[i] = Conn { generation, ..conn };
                i
            }
            None => {
                if self.conns.len() >= MAX_SOCKETS as usize {
                    return Err(Error::invalid(
                        "sockets",
                        "more than 2^24 - 1 on one receiver",
                    ));
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

    fn live_mut(&mut self, id: ConnId) -> Option<&mut Conn<'z>> {
        self.conns
            .get_mut(id.index as usize)
            .filter(|c| c.generation == id.generation && c.state != State::Done)
    }

    /// Sockets not yet finished.
    pub(crate) fn live(&self) -> usize {
        self.conns.iter().filter(|c| c.state != State::Done).count()
    }

    /// Whether some socket waits for buffers the application holds, with
    /// nothing in flight that could bring any.
    pub(crate) fn exhausted(&self) -> bool {
        self.inflight == 0 && self.conns.iter().any(|c| c.state == State::Starved)
    }

    /// Cancels a socket's receive. `push` queues an SQE; `done` is called
    /// with the socket's final completion when nothing is in flight.
    pub(crate) fn cancel(
        &mut self,
        id: ConnId,
        push: &mut dyn FnMut(&io_uring_sqe) -> Result<()>,
    ) -> Result<Option<Completion>> {
        let target = self.user_data(id.index, id.generation);
        let cancel_ud = self.user_data(CANCEL_INDEX, 0);
        let Some(c) = self.live_mut(id) else {
            return Err(Error::invalid("conn", "not a live socket of this receiver"));
        };
        match c.state {
            State::Armed => {
                let mut sqe = io_uring_sqe::default();
                opcode::prep_cancel_user_data(&mut sqe, target, cancel_ud);
                push(&sqe)?;
                c.state = State::Cancelling;
                self.cancels += 1;
                Ok(None)
            }
            State::Idle | State::Starved => {
                // Nothing in flight: the final event is made here, once.
                c.state = State::CancelQueued;
                Ok(Some(Completion {
                    user_data: target,
                    res: -Errno::CANCELED.raw_os_error(),
                    flags: Default::default(),
                    big: None,
                }))
            }
            State::Cancelling | State::CancelQueued | State::Silenced | State::Done => Ok(None),
        }
    }

    /// Cancels every request in flight (the loop is shutting down).
    pub(crate) fn cancel_all(
        &mut self,
        push: &mut dyn FnMut(&io_uring_sqe) -> Result<()>,
    ) -> Result<()> {
        let cancel_ud = self.user_data(CANCEL_INDEX, 0);
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            match c.state {
                State::Armed => {
                    let mut sqe = io_uring_sqe::default();
                    opcode::prep_cancel_user_data(
                        &mut sqe,
                        self.user_data(i as u32, c.generation),
                        cancel_ud,
                    );
                    push(&sqe)?;
                    self.conns[i].state = State::Cancelling;
                    self.cancels += 1;
                }
                State::Silenced if !c.cancel_sent => {
                    self.send_cancel(i, push)?;
                }
                State::Idle | State::Starved | State::CancelQueued => self.finish(i),
                State::Cancelling | State::Silenced | State::Done => {}
            }
        }
        Ok(())
    }

    /// Submits the cancel a silenced socket's request is owed.
    fn send_cancel(
        &mut self,
        i: usize,
        push: &mut dyn FnMut(&io_uring_sqe) -> Result<()>,
    ) -> Result<()> {
        let mut sqe = io_uring_sqe::default();
        opcode::prep_cancel_user_data(
            &mut sqe,
            self.user_data(i as u32, self.conns[i].generation),
            self.user_data(CANCEL_INDEX, 0),
        );
        push(&sqe)?;
        self.conns[i].cancel_sent = true;
        self.cancels += 1;
        Ok(())
    }

    /// Whether `user_data` is this loop's (its tag and its epoch): a
    /// completion of its own requests, live or not.
    pub(crate) fn is_own(&self, user_data: u64) -> bool {
        user_data & (0xffff_ffff << 32) == self.prefix
    }

    /// Publishes the returns of every instance the loop used (the loop is
    /// shutting down).
    pub(crate) fn publish_all(&self) {
        for (i, c) in self.conns.iter().enumerate() {
            if !self.conns[..i]
                .iter()
                .any(|d| core::ptr::eq(d.zcrx, c.zcrx))
            {
                let _ = c.zcrx.prepare_wait(false);
            }
        }
    }

    /// Publishes returns (and flushes in NODEV mode) once per instance, and
    /// arms every idle socket.
    pub(crate) fn prepare(
        &mut self,
        push: &mut dyn FnMut(&io_uring_sqe) -> Result<()>,
    ) -> Result<()> {
        for i in 0..self.conns.len() {
            let zcrx = self.conns[i].zcrx;
            if self.conns[i].state == State::Done {
                continue;
            }
            // Once per instance: at the first live socket that uses it.
            if !self.conns[..i]
                .iter()
                .any(|c| c.state != State::Done && core::ptr::eq(c.zcrx, zcrx))
            {
                zcrx.prepare_wait(false)?;
            }
            if self.conns[i].state == State::Starved && zcrx.held() < zcrx.buffers() {
                // Buffers came back: make sure the kernel has them.
                zcrx.free_for_copy()?;
                self.conns[i].state = State::Idle;
            }
            if self.conns[i].state == State::Idle {
                self.arm(i, push)?;
            }
            if self.conns[i].state == State::Silenced && !self.conns[i].cancel_sent {
                self.send_cancel(i, push)?;
            }
        }
        Ok(())
    }

    fn arm(&mut self, i: usize, push: &mut dyn FnMut(&io_uring_sqe) -> Result<()>) -> Result<()> {
        let user_data = self.user_data(i as u32, self.conns[i].generation);
        let cap = self.request_cap;
        let c = &mut self.conns[i];
        let Some(fd) = &c.fd else {
            return Ok(()); // finished: nothing to arm
        };
        // A limit above what one request can carry is submitted in parts;
        // the loop re-arms with the rest when a part ends (`res` 0).
        let len = c
            .remaining
            .map_or(0, |r| u32::try_from(r).unwrap_or(u32::MAX).min(cap));
        let mut sqe = io_uring_sqe::default();
        opcode::prep_recv_zc(&mut sqe, fd.as_fd(), c.zcrx_id, len, user_data);
        push(&sqe)?;
        c.request_left = len;
        c.request_limited = len != 0;
        c.mark = c.zcrx.returns.activity();
        c.cancel_sent = false;
        c.state = State::Armed;
        self.inflight += 1;
        Ok(())
    }

    /// Ends a socket: its slot may be reused, its descriptor is closed.
    fn finish(&mut self, i: usize) {
        let c = &mut self.conns[i];
        c.state = State::Done;
        c.fd = None;
    }

    /// The instance and socket of a data completion that can take the batch
    /// path ([`Receiver::recv_batch`](super::Receiver::recv_batch)): one of
    /// this loop's live sockets, data with `F_MORE` and its second half.
    /// Everything else goes through [`process`](Self::process).
    #[inline]
    pub(crate) fn batchable(&self, c: &Completion) -> Option<(&'z Zcrx, ConnId)> {
        if c.res <= 0 || !c.more() || c.big.is_none() {
            return None;
        }
        if c.user_data & (0xffff_ffff << 32) != self.prefix {
            return None;
        }
        let index = (c.user_data & u64::from(MAX_SOCKETS)) as u32;
        let generation = (c.user_data >> 24) as u8;
        let slot = self.conns.get(index as usize)?;
        if slot.generation != generation || !matches!(slot.state, State::Armed | State::Cancelling)
        {
            return None;
        }
        Some((slot.zcrx, ConnId { index, generation }))
    }

    /// Ends a socket whose data completion failed its checks on the batch
    /// path (its `Recv::Failed` is delivered): its request is cancelled at
    /// the next prepare, what it still posts goes back.
    pub(crate) fn silence(&mut self, conn: ConnId) {
        if let Some(c) = self.live_mut(conn) {
            if matches!(c.state, State::Armed | State::Cancelling) {
                c.state = State::Silenced;
            }
        }
    }

    /// Counts `len` bytes delivered to a socket through the batch path (the
    /// bookkeeping `process` does for a data completion).
    #[inline]
    pub(crate) fn delivered(&mut self, conn: ConnId, len: usize) {
        let slot = &mut self.conns[conn.index as usize];
        if let Some(r) = &mut slot.remaining {
            *r = r.saturating_sub(len as u64);
        }
        slot.request_left = slot.request_left.saturating_sub(len as u32);
        slot.stalls = 0;
    }

    /// Turns one completion into an event, or consumes it.
    ///
    /// # Safety
    ///
    /// `c` was reaped from the ring every instance of this loop's sockets
    /// is registered with or imported into under the id the socket was
    /// added with (the ring these requests were submitted on), and is
    /// processed once.
    pub(crate) unsafe fn process(&mut self, c: Completion) -> Option<Recv<'z>> {
        if !self.is_tagged(c.user_data)
            || c.user_data & (0xffff << 32) != self.prefix & (0xffff << 32)
        {
            // Another request's, or an earlier loop's on this ring.
            return Some(Recv::Other(c));
        }
        let index = (c.user_data & u64::from(MAX_SOCKETS)) as u32;
        if index == CANCEL_INDEX {
            self.cancels = self.cancels.saturating_sub(1);
            return None; // the cancel request's own completion
        }
        let generation = (c.user_data >> 24) as u8;
        let conn = ConnId { index, generation };
        let i = index as usize;
        let Some(slot) = self
            .conns
            .get_mut(i)
            .filter(|s| s.generation == generation && s.state != State::Done)
        else {
            return Some(Recv::Other(c));
        };
        let ended = !c.more();
        match slot.state {
            State::CancelQueued => {
                // Only the final completion `cancel` made can come for it.
                if ended && c.res == -Errno::CANCELED.raw_os_error() && c.big.is_none() {
                    self.finish(i);
                    return Some(Recv::Cancelled { conn });
                }
                return Some(Recv::Other(c));
            }
            // Nothing of this loop's is in flight for the socket: whatever
            // carries its `user_data` was not posted by its requests.
            State::Idle | State::Starved | State::Done => return Some(Recv::Other(c)),
            State::Silenced => {
                if ended {
                    self.inflight = self.inflight.saturating_sub(1);
                    self.finish(i);
                } else if c.res > 0 {
                    if let Some(z) = c.zcrx() {
                        // SAFETY: as below: a data completion of the
                        // socket's request, reaped here once. The view is
                        // dropped at once: its buffer goes back.
                        drop(unsafe { slot.zcrx.buf_from_completion(c.res, z.off) });
                    }
                }
                return None;
            }
            State::Armed | State::Cancelling => {}
        }
        if ended {
            self.inflight = self.inflight.saturating_sub(1);
        }
        let cancelling = slot.state == State::Cancelling;
        let zcrx = slot.zcrx;

        if c.res > 0 && !ended {
            let ev = match c.zcrx() {
                // SAFETY: this function's contract: a data completion (it
                // has F_MORE, as every RECV_ZC data completion does) of a
                // request this loop has in flight for `zcrx` (under the id
                // that ring knows it by), reaped from that ring, processed
                // once.
                Some(z) => match unsafe { zcrx.buf_from_completion(c.res, z.off) } {
                    Ok(buf) => {
                        let n = buf.len() as u64;
                        if let Some(r) = &mut slot.remaining {
                            *r = r.saturating_sub(n);
                        }
                        slot.request_left = slot.request_left.saturating_sub(n as u32);
                        slot.stalls = 0;
                        Recv::Data { conn, buf }
                    }
                    Err(error) => {
                        // The kernel wrote a completion that fails its
                        // checks: the socket ends here, its request is
                        // cancelled and whatever it still posts goes back.
                        slot.state = State::Silenced;
                        Recv::Failed { conn, error }
                    }
                },
                None => {
                    slot.state = State::Silenced;
                    Recv::Failed {
                        conn,
                        error: Error::KernelValue {
                            field: "io_uring_cqe.big_cqe",
                            value: c.user_data,
                            reason: "a RECV_ZC completion without its second half",
                        },
                    }
                }
            };
            return Some(ev);
        }
        if c.res > 0 {
            // The request ended with a positive result: not a completion
            // RECV_ZC posts (data always has F_MORE; the end is its own
            // completion). No view is made of it.
            self.finish(i);
            return Some(Recv::Failed {
                conn,
                error: Error::KernelValue {
                    field: "io_uring_cqe.flags",
                    value: u64::from(c.flags.bits()),
                    reason: "a RECV_ZC data completion without IORING_CQE_F_MORE",
                },
            });
        }
        if !ended {
            return None; // an error with F_MORE: RECV_ZC posts none
        }
        if c.res == 0 {
            if slot.remaining == Some(0) {
                self.finish(i);
                return Some(Recv::LimitReached { conn });
            }
            if slot.request_limited && slot.request_left == 0 && !cancelling {
                // A part of a limit above 4 GiB ended: ask for the rest.
                slot.state = State::Idle;
                return None;
            }
            self.finish(i);
            return Some(Recv::Eof { conn });
        }
        let errno = Errno::from_raw_os_error(-c.res);
        if cancelling || errno == Errno::CANCELED {
            self.finish(i);
            return Some(Recv::Cancelled { conn });
        }
        let still = zcrx.returns.activity() == slot.mark;
        slot.stalls = if still {
            slot.stalls.saturating_add(1)
        } else {
            0
        };
        match errno {
            Errno::NOMEM => {
                // No free buffer. Give back what was returned, then retry; if
                // the application holds every buffer, wait for it.
                let _ = zcrx.free_for_copy();
                if zcrx.held() >= zcrx.buffers() {
                    slot.state = State::Starved;
                    slot.stalls = 0;
                    return None;
                }
                if slot.stalls >= ENOMEM_STALLS {
                    self.finish(i);
                    return Some(Recv::Failed {
                        conn,
                        error: Error::Stalled {
                            what: "zcrx buffers",
                            reason: "the kernel has no free buffer (ENOMEM) although the application \
                                     holds fewer than all of them: buffers were handed out in \
                                     completions that nobody turned into views and gave back",
                        },
                    });
                }
                slot.state = State::Idle;
                None
            }
            Errno::NOSPC | Errno::AGAIN | Errno::INTR if slot.stalls >= ENOSPC_STALLS => {
                self.finish(i);
                Some(Recv::Failed {
                    conn,
                    error: Error::Stalled {
                        what: "completion ring",
                        reason: "receives keep ending with ENOSPC before posting any data: the \
                                 completion ring is too small for the sockets on it",
                    },
                })
            }
            // Completion ring full (already drained into the queue), or a
            // transient condition: re-arm.
            Errno::NOSPC | Errno::AGAIN | Errno::INTR => {
                slot.state = State::Idle;
                None
            }
            _ => {
                self.finish(i);
                Some(Recv::Failed {
                    conn,
                    error: Error::kernel(OP_RECV, errno),
                })
            }
        }
    }
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
mod tests;
