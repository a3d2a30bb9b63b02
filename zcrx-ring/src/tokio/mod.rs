//! Async receive for tokio (feature `tokio`): [`AsyncReceiver`].
//!
//! The blocking [`Receiver`](crate::Receiver)'s loop, with the wait moved
//! into tokio's reactor: `rx.recv().await` yields the same [`Recv`](crate::Recv)
//! events, and while it waits the thread runs its other tasks. It is also a
//! [`Stream`](futures_core::Stream) of events.
//!
//! ```no_run
//! use zcrx_ring::tokio::AsyncReceiver;
//! use zcrx_ring::{Area, Recv, Ring, Zcrx};
//!
//! // One ring per thread: a current-thread runtime owns it.
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> std::io::Result<()> {
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:9000").await?;
//!     let mut ring: Ring = Ring::new(64)?;
//!     let zcrx = Zcrx::builder_nodev()
//!         .area(Area::anonymous(4096 * 4096)?)
//!         .register(&ring)?;
//!     let mut rx = AsyncReceiver::new(&mut ring)?;
//!     loop {
//!         tokio::select! {
//!             // Both branches are cancel-safe: the one that loses loses nothing.
//!             accepted = listener.accept() => {
//!                 let (sock, _) = accepted?;
//!                 rx.add(&zcrx, &sock, None)?; // the receiver keeps a duplicate
//!             }
//!             event = rx.recv() => match event? {
//!                 Recv::Data { conn, buf } => println!("{}: {} bytes", conn.index(), buf.len()),
//!                 Recv::Eof { conn } => println!("{}: closed", conn.index()),
//!                 other => println!("{other:?}"),
//!             },
//!         }
//!     }
//! }
//! ```
//!
//! # Readiness
//!
//! Receives complete differently on the rings ZCRX needs
//! (`IORING_SETUP_DEFER_TASKRUN`, the default of [`Ring`](crate::Ring)).
//! When data reaches a socket, the kernel does not post a completion: it
//! queues *task work* for the ring's thread (`io_req_local_work_add` in
//! `io_uring/tw.c`). Only an `io_uring_enter` with `IORING_ENTER_GETEVENTS`
//! by that thread runs it, and that is when the completions appear, at most
//! about 20 pieces of work per enter (`IO_LOCAL_TW_DEFAULT_MAX`). So a
//! readiness event means "enter the ring", never "completions are there",
//! and the receiver answers every readiness with one enter that does not
//! wait (`submit_and_wait(0)`), then reaps.
//!
//! What the kernel signals when task work is queued for an idle ring
//! (`mpscq_push` found the list empty):
//!
//! | | Linux 7.2 | Linux 7.3 |
//! |---|---|---|
//! | an eventfd registered with the ring (`IORING_REGISTER_EVENTFD`) | signalled | signalled |
//! | the ring's descriptor in epoll (`io_uring_poll`) | **not woken**: it would report `POLLIN` (`io_has_work`) if asked, but nothing asks | woken (`io_local_work_wake_poll`) |
//!
//! Both are also signalled whenever the ring posts completions
//! (`__io_commit_cqring_flush`), which on such a ring happens inside the
//! receiver's own enters. The eventfd counts that as a new event, so after
//! each batch the reactor reports it and the receiver makes one more enter
//! that finds nothing. The ring's descriptor is polled again by the kernel
//! when epoll reports it (`io_uring_poll`), and with nothing left that
//! report is dropped there.
//!
//! So the receiver watches the ring's descriptor where the kernel wakes it
//! for task work, and an eventfd it registers with the ring (and
//! unregisters when dropped) elsewhere: [`Readiness::detect`] asks the
//! kernel once per process, with a NOP completed through task work on a
//! private ring watched by epoll. [`AsyncReceiver::with_readiness`] picks
//! one explicitly (and refuses the ring's descriptor where it would never
//! wake).
//!
//! Measured in the guests with the example `tokio_readiness` of this crate
//! (software emulation; `docs/async-tokio.md` has the command and the
//! tables): on Linux 7.2 a receiver
//! watching the ring's descriptor receives nothing, ever; on Linux 7.3,
//! with 4 KiB messages sent 2 ms apart, the eventfd needs about twice the
//! reactor wake-ups and enters of the ring's descriptor (half of its
//! enters find nothing), for the same events; on a bulk stream both wait
//! rarely and differ little.
//!
//! One gap remains on both kernels: an enter that runs its share of task
//! work without posting a completion and leaves the rest queued is
//! announced by no edge (the list never became empty). So after an enter
//! that reaped nothing the receiver asks the ring itself: a load of
//! `IORING_SQ_TASKRUN` on rings set up with `IORING_SETUP_TASKRUN_FLAG`,
//! else a `poll(2)` of the ring's descriptor that does not wait.
//!
//! # Threads
//!
//! A ring belongs to one thread (`IORING_SETUP_SINGLE_ISSUER`: the kernel
//! refuses enters and registrations from any other), and buffer views
//! ([`Buf`](crate::Buf)) are not `Send`. An [`AsyncReceiver`] is therefore
//! not `Send`, and neither are its futures: the compiler keeps it on its
//! thread. With a multi-threaded runtime:
//!
//! - run each ring on a thread of its own with a **current-thread
//!   runtime** (`tokio::runtime::Builder::new_current_thread()`, or a
//!   [`LocalSet`](https://docs.rs/tokio/latest/tokio/task/struct.LocalSet.html)
//!   for several `!Send` tasks), one ring per thread (per NIC queue);
//!   create the ring on that thread (or build it
//!   [`disabled`](crate::RingBuilder::disabled) and enable it there);
//! - accept on the multi-threaded runtime and send the sockets to the ring
//!   threads over a channel (a `std::net::TcpStream` from
//!   `TcpStream::into_std`, or any `OwnedFd`);
//! - hand data to tasks on other threads as [`SharedBuf`](crate::SharedBuf)
//!   ([`Buf::into_shared`](crate::Buf::into_shared)): `Send + Sync`, and
//!   dropped anywhere. Such returns reach the kernel when the ring's
//!   thread next prepares a wait; a receiver whose every buffer is held
//!   elsewhere yields [`Recv::BuffersExhausted`](crate::Recv::BuffersExhausted)
//!   (nothing wakes it when they come back: wait, e.g. for the tasks that
//!   hold them, then call `recv` again).
//!
//! # Cancellation
//!
//! [`AsyncReceiver::recv`] is cancel-safe: the state lives in the
//! receiver, not in the future. Completions reaped stay queued in the
//! receiver, a buffer view comes into existence only in the event the
//! future completes with, and the readiness it consumed has already been
//! turned into an enter. Dropping the future between events (a `select!`
//! branch that lost, `tokio::time::timeout`) loses no data and no buffer.
//!
//! Dropping the receiver follows the blocking receiver's rules: it cancels
//! its requests, collects their final completions, and gives back every
//! buffer it reaped but did not hand out. The cancel and the final
//! completions are posted in the same enter, so this does not wait; the
//! bound the blocking receiver puts on that wait applies.
//!
//! # Notifications
//!
//! The events are the blocking receiver's, so `zcrx-notif`'s
//! `Notifier::route_event` routes them unchanged; a timed re-arm
//! (`Notifier::next_rearm`) is a `tokio::time::sleep` in a `select!` with
//! `recv` (which, being cancel-safe, may lose that race).

mod probe;
mod readiness;
mod receiver;

pub use readiness::Readiness;
pub use receiver::AsyncReceiver;
#[doc(hidden)]
pub use receiver::Counters;
