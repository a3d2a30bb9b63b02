//! How tokio's reactor learns that the ring has work: which descriptor it
//! watches, and the level check for work that no edge announces.
//!
//! See [the module docs](super#readiness) for what wakes what in the
//! kernel; in short, on a `DEFER_TASKRUN` ring a receive that got data adds
//! *task work*, and its completions appear only once the ring is entered
//! with `GETEVENTS`. Readiness therefore means "enter the ring", never
//! "completions are there".

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::task::{Context, Poll, ready};

use ::tokio::io::Interest;
use ::tokio::io::unix::AsyncFd;
use rustix::event::{EventfdFlags, PollFd, PollFlags, Timespec, eventfd, poll};
use rustix::io::Errno;
use rustix::io_uring::{IoringRegisterOp, io_uring_register};
use zcrx_uapi::{SetupFlags, SqRingFlags};

use super::probe::ring_fd_wakes;
use crate::error::Error;
use crate::ring::{CqeMode, Ring};

/// The descriptor tokio's reactor watches for a ring (see [the module
/// docs](super#readiness)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Readiness {
    /// An eventfd registered with the ring (`IORING_REGISTER_EVENTFD`):
    /// the kernel signals it when task work is queued for an idle ring,
    /// and whenever the ring posts completions (so that after a batch the
    /// receiver is woken once more, to find nothing). Works on every
    /// kernel with ZCRX. The ring must not have another eventfd
    /// registered; the receiver unregisters its own when dropped.
    EventFd,
    /// The ring's own descriptor. Only kernels that wake the ring's
    /// pollers when task work is queued (Linux 7.3) announce new data this
    /// way; a receiver refuses it on other kernels (on Linux 7.2 it would
    /// never wake up for incoming data).
    RingFd,
}

impl Readiness {
    /// The best source on the running kernel: [`RingFd`](Self::RingFd)
    /// where the kernel wakes the ring's pollers for queued task work,
    /// [`EventFd`](Self::EventFd) elsewhere. The kernel is asked once per
    /// process, on a private two-entry ring (a NOP completed through task
    /// work, watched by epoll); later calls answer from memory.
    ///
    /// ```
    /// use zcrx_ring::tokio::Readiness;
    /// // Linux 7.3: RingFd; Linux 7.2 and older: EventFd.
    /// println!("{:?}", Readiness::detect());
    /// ```
    pub fn detect() -> Self {
        if ring_fd_wakes() {
            Readiness::RingFd
        } else {
            Readiness::EventFd
        }
    }
}

/// A ring's readiness, registered with the current tokio runtime.
#[derive(Debug)]
pub(crate) struct RingReadiness {
    /// What the reactor watches (the eventfd, or a duplicate of the ring's
    /// descriptor).
    watched: AsyncFd<OwnedFd>,
    /// With [`Readiness::EventFd`]: a duplicate of the ring's descriptor,
    /// to unregister the eventfd when done.
    ring: Option<OwnedFd>,
}

impl RingReadiness {
    /// Registers `ring`'s readiness with the current runtime's reactor.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or in one without the I/O driver.
    #[track_caller]
    pub(crate) fn register<M: CqeMode>(ring: &Ring<M>, source: Readiness) -> io::Result<Self> {
        match source {
            Readiness::EventFd => {
                let efd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
                let unregister = dup(ring)?;
                // The eventfd is never read: tokio watches it
                // edge-triggered and every signal is an edge (the count
                // saturates at u64::MAX and still wakes, `fs/eventfd.c`),
                // so reading would only cost a system call per wake-up.
                //
                // With the reactor first: outside a runtime this panics,
                // and nothing is registered with the ring yet.
                let watched = Self::watch(efd)?;
                register_eventfd(ring, watched.get_ref())?;
                Ok(Self {
                    watched,
                    ring: Some(unregister),
                })
            }
            Readiness::RingFd if !ring_fd_wakes() => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this kernel does not wake a DEFER_TASKRUN ring's pollers when task work is \
                 queued (Linux 7.3 does): watching the ring's descriptor would miss incoming \
                 data; use Readiness::EventFd",
            )),
            Readiness::RingFd => Ok(Self {
                watched: Self::watch(dup(ring)?)?,
                ring: None,
            }),
        }
    }

    #[track_caller]
    fn watch(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
        // SAFETY: the `AsyncFd` owns `fd`, a descriptor this function's
        // caller just created (an eventfd or a duplicate) and nothing else
        // holds: it stays open and refers to the same file description
        // until the `AsyncFd` drops it, and `OwnedFd::as_raw_fd` always
        // returns the same number.
        let registered = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) };
        registered.map_err(io::Error::from)
    }

    /// `Ready` once the reactor has seen the ring become ready since the
    /// last call that returned `Ready` (that readiness is consumed: the
    /// caller is about to enter the ring); `Pending` with `cx`'s waker
    /// registered otherwise.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut guard = ready!(self.watched.poll_read_ready(cx))?;
        // Cleared before the caller enters the ring: work that arrives from
        // here on is a new edge (an eventfd signal or a poll wake-up the
        // reactor has not yet read), so none is lost; and `clear_ready`
        // keeps readiness that the reactor recorded after the guard.
        guard.clear_ready();
        Poll::Ready(Ok(()))
    }
}

impl Drop for RingReadiness {
    fn drop(&mut self) {
        if let Some(ring) = &self.ring {
            unregister_eventfd(ring);
        }
    }
}

/// Whether the ring has work that an enter with `GETEVENTS` would turn
/// into completions, asked of the ring itself (not of an edge): the
/// `IORING_SQ_TASKRUN` flag where the ring was set up with
/// `IORING_SETUP_TASKRUN_FLAG` (a load), otherwise `poll(2)` on its
/// descriptor without waiting (`io_uring_poll` reports `POLLIN` for posted
/// completions, queued task work and overflowed completions).
pub(crate) fn work_pending<M: CqeMode>(ring: &Ring<M>) -> io::Result<bool> {
    if ring.setup_flags().contains(SetupFlags::TASKRUN_FLAG) {
        return Ok(ring
            .sq_flags()
            .intersects(SqRingFlags::TASKRUN | SqRingFlags::CQ_OVERFLOW));
    }
    let fd = ring.as_fd();
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match poll(&mut fds, Some(&now)) {
        Ok(_) => Ok(fds[0].revents().contains(PollFlags::IN)),
        // Interrupted: entering once more costs little and is always right.
        Err(Errno::INTR) => Ok(true),
        Err(e) => Err(Error::kernel("poll(2) of the ring", e).into()),
    }
}

fn dup<M: CqeMode>(ring: &Ring<M>) -> io::Result<OwnedFd> {
    rustix::io::fcntl_dupfd_cloexec(ring.as_fd(), 0)
        .map_err(|e| Error::kernel("fcntl(F_DUPFD_CLOEXEC) of the ring", e).into())
}

const REGISTER_EVENTFD: &str = "IORING_REGISTER_EVENTFD";

fn register_eventfd<M: CqeMode>(ring: &Ring<M>, efd: &OwnedFd) -> io::Result<()> {
    let raw: i32 = efd.as_raw_fd();
    // SAFETY: IORING_REGISTER_EVENTFD with nr_args 1 reads one `int` (the
    // eventfd's descriptor) through `arg`, which points to `raw`, alive for
    // the call; the kernel takes its own reference to the eventfd.
    let done = unsafe {
        io_uring_register(
            ring.as_fd(),
            IoringRegisterOp::RegisterEventfd,
            (&raw const raw).cast(),
            1,
        )
    };
    match done {
        Ok(_) => Ok(()),
        Err(Errno::BUSY) => Err(io::Error::new(
            io::ErrorKind::ResourceBusy,
            "IORING_REGISTER_EVENTFD: the ring already has an eventfd registered (EBUSY); a \
             ring has one: unregister it, or let the async receiver watch the ring's own \
             descriptor (Readiness::RingFd, on kernels that wake it)",
        )),
        Err(Errno::EXIST) => Err(Error::WrongThread {
            op: REGISTER_EVENTFD,
        }
        .into()),
        Err(e) => Err(Error::kernel(REGISTER_EVENTFD, e).into()),
    }
}

/// Unregisters the ring's eventfd (`IORING_UNREGISTER_EVENTFD`); a failure
/// (the wrong thread, a ring already gone) leaves it registered until the
/// ring is closed, which is harmless.
fn unregister_eventfd(ring: &OwnedFd) {
    // SAFETY: IORING_UNREGISTER_EVENTFD takes no argument (null, 0).
    let _ = unsafe {
        io_uring_register(
            ring.as_fd(),
            IoringRegisterOp::UnregisterEventfd,
            core::ptr::null(),
            0,
        )
    };
}
