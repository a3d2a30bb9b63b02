//! ZCRX on a ring owned by the [`io-uring`](::io_uring) crate
//! (tokio-rs/io-uring), feature `io-uring`.
//!
//! The `io-uring` crate has the ring, `opcode::RecvZc` and
//! `Submitter::register_ifq`, but its ABI stops at Linux 6.15 (no
//! `rx_buf_len`, NODEV, query, control operations or events) and it leaves
//! buffers to others. With this module its users keep their `IoUring` and
//! take the rest from this workspace:
//!
//! | step | here |
//! |---|---|
//! | a ring ZCRX accepts | [`builder`], checked by [`check_ring`] ([`Error::RingSetup`]) |
//! | registration (any kernel feature `zcrx-uapi` knows) | [`ZcrxBuilder::register_io_uring`] |
//! | the receive loop's SQEs, pushed into the crate's queue | [`IoUringReceiver::prepare`] |
//! | completions → checked views, re-arming after `ENOMEM`/`ENOSPC` | [`IoUringReceiver::process`] (`unsafe`) |
//! | buffers back to the kernel | dropping the [`Buf`](crate::Buf); published by `prepare` |
//! | notifications | `zcrx-notif` (feature `io-uring`): `Notifier::route(&cqe)` |
//! | the end | [`IoUringReceiver::close`] (or [`shutdown`](IoUringReceiver::shutdown) + `process` until [`is_finished`](IoUringReceiver::is_finished)) |
//! | kernel structs of both crates | [`SameLayout`] (zero-copy, layout-checked), `From<&cqueue::Entry32> for Completion` |
//!
//! # The ring
//!
//! ZCRX needs `IORING_SETUP_DEFER_TASKRUN` (which needs
//! `IORING_SETUP_SINGLE_ISSUER`) and 32-byte completions: an
//! `IoUring<S, cqueue::Entry32>` (the `io-uring` crate sets
//! `IORING_SETUP_CQE32` for it; it has no `CQE_MIXED` reader, so a ring of
//! 16-byte `cqueue::Entry` does not type-check here). [`builder`] returns
//! the `io-uring` crate's builder with those flags set; a ring without them
//! is refused with [`Error::RingSetup`] naming the missing flags.
//!
//! ```no_run
//! use io_uring::{cqueue, squeue, IoUring};
//! use zcrx_ring::io_uring::{IoUringReceiver, builder};
//! use zcrx_ring::{Area, Recv, Zcrx};
//!
//! # fn demo(sock: std::net::TcpStream) -> Result<(), Box<dyn std::error::Error>> {
//! let mut ring: IoUring<squeue::Entry, cqueue::Entry32> = builder().build(64)?;
//! let zcrx = Zcrx::builder_nodev()
//!     .area(Area::anonymous(1024 * 4096)?)
//!     .register_io_uring(&ring)?;
//! let mut rx = IoUringReceiver::new(&ring)?;
//! rx.add(&zcrx, &sock, None)?;
//! 'recv: loop {
//!     rx.prepare(&mut ring)?; // arms the receive, gives returned buffers back
//!     ring.submit_and_wait(1)?;
//!     for cqe in ring.completion() {
//!         // SAFETY: reaped from `ring`, the receiver's ring, once.
//!         match unsafe { rx.process(&cqe) } {
//!             Some(Recv::Data { buf, .. }) => println!("{} bytes", buf.len()),
//!             Some(Recv::Eof { .. }) => break 'recv,
//!             Some(other) => println!("{other:?}"), // other requests' completions too
//!             None => {}                            // consumed (re-arm, cancel)
//!         }
//!     }
//! }
//! rx.close(&mut ring)?;
//! # Ok(()) }
//! ```
//!
//! # Why not `Submitter::register_ifq`
//!
//! It takes `&io_uring_zcrx_ifq_reg` although the kernel writes the instance
//! id, the offsets and the buffer size back into it, and its struct has no
//! names for the fields newer kernels read (`rx_buf_len`, `event_desc`).
//! [`ZcrxBuilder::register_io_uring`] registers through this crate's own
//! call (with `&mut`), sized from the kernel's query, and checks what the
//! kernel wrote back.

mod epoch;
mod identity;
mod layout;
mod receiver;

use ::io_uring::{IoUring, cqueue, squeue};
use rustix::fd::AsFd;
use zcrx_uapi::{CqeFlags, SetupFlags, io_uring_params};

use crate::error::{Error, Result};
use crate::ring::Completion;
use crate::zcrx::{Zcrx, ZcrxBuilder};

pub use layout::SameLayout;
pub use receiver::IoUringReceiver;

/// The setup flags every ring used for ZCRX must have.
pub const REQUIRED_FLAGS: SetupFlags = SetupFlags::SINGLE_ISSUER
    .union(SetupFlags::DEFER_TASKRUN)
    .union(SetupFlags::CQE32);

/// The `io-uring` crate's builder for a ring ZCRX accepts:
/// `IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN`, and
/// `IORING_SETUP_CQE32` from the completion type. Add any other setup
/// flags before `build`.
///
/// ```no_run
/// let ring = zcrx_ring::io_uring::builder().setup_cqsize(256).build(64)?;
/// # let _: io_uring::IoUring<io_uring::squeue::Entry, io_uring::cqueue::Entry32> = ring;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn builder<S: squeue::EntryMarker>() -> ::io_uring::Builder<S, cqueue::Entry32> {
    let mut b = IoUring::<S, cqueue::Entry32>::builder();
    b.setup_single_issuer().setup_defer_taskrun();
    b
}

/// The ring's setup parameters, as the kernel's struct.
pub fn params<S: squeue::EntryMarker, C: cqueue::EntryMarker>(
    ring: &IoUring<S, C>,
) -> &io_uring_params {
    io_uring_params::from_io_uring(ring.params())
}

/// Checks that `ring` was set up with [`REQUIRED_FLAGS`].
///
/// ```
/// use io_uring::{cqueue, squeue, IoUring};
/// use zcrx_ring::Error;
///
/// # if io_uring::IoUring::new(2).is_err() { return; } // no io_uring here
/// let plain: IoUring<squeue::Entry, cqueue::Entry32> = IoUring::builder().build(4).unwrap();
/// let err = zcrx_ring::io_uring::check_ring(&plain).unwrap_err();
/// assert!(matches!(err, Error::RingSetup { .. }));
/// assert!(err.to_string().contains("IORING_SETUP_DEFER_TASKRUN"), "{err}");
/// ```
///
/// # Errors
///
/// [`Error::RingSetup`] naming the flags the ring lacks.
pub fn check_ring<S: squeue::EntryMarker>(ring: &IoUring<S, cqueue::Entry32>) -> Result<()> {
    let flags = SetupFlags::from_bits_retain(params(ring).flags);
    let missing = REQUIRED_FLAGS.difference(flags);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::RingSetup { missing })
    }
}

impl ZcrxBuilder {
    /// Registers on a ring of the `io-uring` crate, after [`check_ring`].
    ///
    /// Everything [`register`](Self::register) does (sizes from the
    /// kernel's query, checks of what the kernel wrote back, more areas,
    /// events and stats) on the `io-uring` crate's ring. The instance keeps
    /// a duplicate of the ring's descriptor for its control operations; it
    /// is bound to that ring: an [`IoUringReceiver`] of another ring, and
    /// this crate's own [`Receiver`](crate::Receiver), refuse it
    /// ([`Error::WrongRing`]).
    ///
    /// Call it on the thread that submits to the ring (`SINGLE_ISSUER`).
    ///
    /// # Errors
    ///
    /// [`Error::RingSetup`]; otherwise as [`register`](Self::register).
    pub fn register_io_uring<S: squeue::EntryMarker>(
        self,
        ring: &IoUring<S, cqueue::Entry32>,
    ) -> Result<Zcrx> {
        check_ring(ring)?;
        self.register_fd(ring.as_fd())
    }
}

impl From<&cqueue::Entry32> for Completion {
    /// Copies a 32-byte completion of the `io-uring` crate (`big` is its
    /// `big_cqe()`, where a RECV_ZC completion keeps the buffer offset).
    #[inline]
    fn from(cqe: &cqueue::Entry32) -> Self {
        Completion {
            user_data: cqe.user_data(),
            res: cqe.result(),
            flags: CqeFlags::from_bits_retain(cqe.flags()),
            big: Some(*cqe.big_cqe()),
        }
    }
}

impl From<cqueue::Entry32> for Completion {
    #[inline]
    fn from(cqe: cqueue::Entry32) -> Self {
        Completion::from(&cqe)
    }
}

impl From<&cqueue::Entry> for Completion {
    /// Copies a 16-byte completion (`big` is `None`: it cannot carry a
    /// ZCRX buffer).
    #[inline]
    fn from(cqe: &cqueue::Entry) -> Self {
        Completion {
            user_data: cqe.user_data(),
            res: cqe.result(),
            flags: CqeFlags::from_bits_retain(cqe.flags()),
            big: None,
        }
    }
}

/// The io-uring crate's `io::Error` of a submission, as this crate's error.
pub(crate) fn enter_error(e: &std::io::Error) -> Error {
    match rustix::io::Errno::from_io_error(e) {
        Some(errno) => Error::kernel("io_uring_enter", errno),
        None => Error::kernel("io_uring_enter", rustix::io::Errno::IO),
    }
}
