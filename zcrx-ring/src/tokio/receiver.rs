//! [`AsyncReceiver`]: the receive loop driven by tokio's reactor.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use ::tokio::task::coop;
use futures_core::Stream;
use rustix::fd::AsFd;
use zcrx_uapi::io_uring_sqe;

use super::readiness::{Readiness, RingReadiness, work_pending};
use crate::error::{Error, Result};
use crate::recv::{ConnId, DEFAULT_TAG, Receiver, Recv};
use crate::ring::{Cqe32, CqeMode, Ring, SubmissionQueue};
use crate::zcrx::{Imported, Zcrx};

/// Enters in one poll that find work but no event before the receiver
/// lets other tasks run (it is woken again at once).
const ENTERS_PER_POLL: u32 = 8;

/// The receive loop of [`Receiver`], for tokio: the same events, awaited
/// instead of blocked on.
///
/// Made on the thread that owns the ring, inside a tokio runtime; see
/// [the module docs](super) for the threads, the readiness and the
/// cancellation rules. `recv` and `poll_recv` never block the thread: the
/// wait happens in the runtime's reactor.
///
/// Dropping it is dropping its [`Receiver`]: requests in flight are
/// cancelled, their final completions collected (they are posted during
/// the same enter as the cancel), and every buffer reaped but not handed
/// out goes back.
///
/// ```no_run
/// use zcrx_ring::tokio::AsyncReceiver;
/// use zcrx_ring::{Area, Recv, Ring, Zcrx};
///
/// async fn receive(sock: tokio::net::TcpStream) -> std::io::Result<u64> {
///     let mut ring: Ring = Ring::new(64)?;
///     let zcrx = Zcrx::builder_nodev()
///         .area(Area::anonymous(1024 * 4096)?)
///         .register(&ring)?;
///     let mut rx = AsyncReceiver::new(&mut ring)?;
///     rx.add(&zcrx, &sock, None)?;
///     let mut total = 0;
///     loop {
///         match rx.recv().await? {
///             Recv::Data { buf, .. } => total += buf.len() as u64,
///             Recv::Eof { .. } => return Ok(total),
///             other => eprintln!("{other:?}"),
///         }
///     }
/// }
/// ```
#[derive(Debug)]
pub struct AsyncReceiver<'z, M: CqeMode = Cqe32> {
    rx: Receiver<'z, M>,
    ready: RingReadiness,
    /// The ring has work that no readiness edge will announce (found by
    /// the level check): enter before waiting.
    kick: bool,
    counters: Counters,
}

/// What an [`AsyncReceiver`] did so far: for measurements and tests.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// `poll_recv` calls that returned `Pending` to wait for the reactor.
    pub waits: u64,
    /// Enters with `GETEVENTS` after readiness (or a level check) said so.
    pub enters: u64,
    /// Those that reaped nothing.
    pub empty_enters: u64,
    /// Level checks made after an empty enter.
    pub level_checks: u64,
    /// Polls that gave way to other tasks with work still pending.
    pub yields: u64,
}

impl<'z, M: CqeMode> AsyncReceiver<'z, M> {
    /// An async receiver over `ring`, tagging its requests with
    /// [`DEFAULT_TAG`], watching the ring's readiness through the source
    /// [the kernel supports best](Readiness::detect).
    ///
    /// # Errors
    ///
    /// Registering the readiness: with [`Readiness::EventFd`],
    /// `ResourceBusy` when the ring already has an eventfd and
    /// [`Error::WrongThread`] (as the `io::Error`'s source) from a thread
    /// other than the ring's issuer; a descriptor could not be duplicated.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or in one without its I/O driver
    /// (`enable_io`), as tokio's own I/O types.
    #[track_caller]
    pub fn new(ring: &'z mut Ring<M>) -> io::Result<Self> {
        Self::from_receiver(Receiver::with_tag(ring, DEFAULT_TAG))
    }

    /// As [`new`](Self::new), with `tag` in the top 16 bits of the
    /// receiver's `user_data` (see [`Receiver::with_tag`]).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    ///
    /// # Panics
    ///
    /// As [`new`](Self::new).
    #[track_caller]
    pub fn with_tag(ring: &'z mut Ring<M>, tag: u16) -> io::Result<Self> {
        Self::from_receiver(Receiver::with_tag(ring, tag))
    }

    /// Drives an existing [`Receiver`] (with its sockets) asynchronously.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    ///
    /// # Panics
    ///
    /// As [`new`](Self::new).
    #[track_caller]
    pub fn from_receiver(rx: Receiver<'z, M>) -> io::Result<Self> {
        Self::with_readiness(rx, Readiness::detect())
    }

    /// As [`from_receiver`](Self::from_receiver), watching `source` rather
    /// than [the kernel's best](Readiness::detect) (e.g.
    /// [`Readiness::RingFd`] for a ring that has an eventfd of its own).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new); `Unsupported` for [`Readiness::RingFd`] on a
    /// kernel that does not wake the ring's pollers for task work.
    ///
    /// # Panics
    ///
    /// As [`new`](Self::new).
    #[track_caller]
    pub fn with_readiness(rx: Receiver<'z, M>, source: Readiness) -> io::Result<Self> {
        let ready = RingReadiness::register(rx.ring(), source)?;
        Ok(Self {
            rx,
            ready,
            kick: false,
            counters: Counters::default(),
        })
    }

    /// The blocking receiver inside, for what only it offers. Its
    /// [`recv`](Receiver::recv) blocks the thread: await
    /// [`recv`](Self::recv) instead.
    pub fn get_ref(&self) -> &Receiver<'z, M> {
        &self.rx
    }

    /// The blocking receiver inside, mutably (see [`get_ref`](Self::get_ref)).
    pub fn get_mut(&mut self) -> &mut Receiver<'z, M> {
        &mut self.rx
    }

    /// Stops watching the ring's readiness (the eventfd is unregistered)
    /// and returns the blocking receiver, sockets and queued events kept.
    pub fn into_inner(self) -> Receiver<'z, M> {
        self.rx
    }

    /// The tag in the top 16 bits of this receiver's `user_data`.
    pub fn tag(&self) -> u16 {
        self.rx.tag()
    }

    /// The ring (read-only).
    pub fn ring(&self) -> &Ring<M> {
        self.rx.ring()
    }

    /// The ring's submission queue, for other requests (their completions
    /// come back as [`Recv::Other`]; see [`Receiver::submission`]).
    pub fn submission(&mut self) -> SubmissionQueue<'_> {
        self.rx.submission()
    }

    /// Queues another request on the ring; it goes to the kernel with the
    /// receiver's next submission and its completions come back as
    /// [`Recv::Other`].
    ///
    /// # Safety
    ///
    /// As [`Receiver::push`].
    ///
    /// # Errors
    ///
    /// As [`Receiver::push`].
    pub unsafe fn push(&mut self, sqe: &io_uring_sqe) -> Result<()> {
        // SAFETY: forwarded to the caller.
        unsafe { self.rx.push(sqe) }
    }

    /// Starts receiving from a connected TCP socket (a tokio or a std one)
    /// into `zcrx`; see [`Receiver::add`]. The receiver keeps its own
    /// duplicate of the descriptor.
    ///
    /// # Errors
    ///
    /// As [`Receiver::add`].
    pub fn add(&mut self, zcrx: &'z Zcrx, socket: impl AsFd, limit: Option<u64>) -> Result<ConnId> {
        self.rx.add(zcrx, socket, limit)
    }

    /// As [`add`](Self::add) for an imported instance
    /// ([`Receiver::add_imported`]).
    ///
    /// # Errors
    ///
    /// As [`Receiver::add_imported`].
    pub fn add_imported(
        &mut self,
        imported: &Imported<'z>,
        socket: impl AsFd,
        limit: Option<u64>,
    ) -> Result<ConnId> {
        self.rx.add_imported(imported, socket, limit)
    }

    /// Cancels a socket's receive; its final event is [`Recv::Cancelled`]
    /// (see [`Receiver::cancel`]).
    ///
    /// # Errors
    ///
    /// As [`Receiver::cancel`].
    pub fn cancel(&mut self, conn: ConnId) -> Result<()> {
        self.rx.cancel(conn)
    }

    /// Number of sockets not yet finished.
    pub fn live(&self) -> usize {
        self.rx.live()
    }

    /// What the receiver did so far (enters, waits).
    #[doc(hidden)]
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Waits for the next event, without blocking the thread.
    ///
    /// The same events as [`Receiver::recv`], in the same order. With no
    /// socket live it waits for other requests' completions (or forever):
    /// use it in `tokio::select!` beside whatever adds sockets.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the future holds nothing. Completions reaped but not
    /// yet returned stay queued in the receiver, and a buffer view is made
    /// only when the future completes with it; dropping the future (a
    /// `select!` branch that lost, a timeout) loses no event and no buffer,
    /// and the next call continues where it left off.
    ///
    /// # Errors
    ///
    /// The ring's refusals ([`Receiver::recv`]) and the reactor's, as
    /// `io::Error`s whose source is the crate's [`Error`]; a socket's own
    /// failure is an event ([`Recv::Failed`]).
    pub async fn recv(&mut self) -> io::Result<Recv<'z>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Returns an event if one is ready, after running the kernel's pending
    /// work once, without waiting ([`Receiver::try_recv`]).
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> io::Result<Option<Recv<'z>>> {
        self.rx.try_recv().map_err(io_error)
    }

    /// Polls for the next event ([`recv`](Self::recv) as a poll function).
    ///
    /// `Pending` registers `cx`'s waker with the reactor (only the last
    /// caller's waker is kept). Each event uses a unit of the task's
    /// cooperative budget, as tokio's own I/O does: a task that receives
    /// without pause still lets the other tasks of its thread run.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Recv<'z>>> {
        let budget = ready!(coop::poll_proceed(cx));
        let out = self.poll_event(cx);
        if out.is_ready() {
            budget.made_progress();
        }
        out
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Recv<'z>>> {
        for _ in 0..ENTERS_PER_POLL {
            if let Some(ev) = self.rx.ready_event() {
                return Poll::Ready(Ok(ev));
            }
            if let Some(ev) = self.rx.prepare_to_wait().map_err(io_error)? {
                return Poll::Ready(Ok(ev));
            }
            // What was just submitted may have completed inline.
            if let Some(ev) = self.rx.ready_event() {
                return Poll::Ready(Ok(ev));
            }
            if !self.kick {
                match self.ready.poll_ready(cx) {
                    Poll::Pending => {
                        self.counters.waits += 1;
                        return Poll::Pending;
                    }
                    Poll::Ready(ready) => ready?,
                }
            }
            self.kick = false;
            self.counters.enters += 1;
            if self.rx.run_pending().map_err(io_error)? == 0 {
                // Nothing posted: the readiness was stale, or the kernel
                // ran its per-enter share of task work (20 items) without
                // posting a completion and left the rest, which no edge
                // announces. Ask the ring.
                self.counters.empty_enters += 1;
                self.counters.level_checks += 1;
                self.kick = work_pending(self.rx.ring())?;
            }
        }
        // Work keeps coming without an event: let the thread's other tasks
        // run first.
        self.counters.yields += 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The events until no socket is left and nothing is queued, as the
/// blocking receiver's iterator: `None` then (add a socket and poll again
/// to go on).
impl<'z, M: CqeMode> Stream for AsyncReceiver<'z, M> {
    type Item = io::Result<Recv<'z>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.rx.is_finished() {
            return Poll::Ready(None);
        }
        this.poll_recv(cx).map(Some)
    }
}

/// The crate's error as an `io::Error` of the matching kind, kept as its
/// source (`get_ref`, `into_inner`, `downcast`).
pub(crate) fn io_error(e: Error) -> io::Error {
    let kind = io::Error::from(e).kind();
    io::Error::new(kind, e)
}
