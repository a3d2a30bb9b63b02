//! Kernel refusals of registration and control operations, mapped to the
//! [`Error`] that names their cause.
//!
//! Some errnos have several causes; where the crate can tell them apart
//! cheaply it does, on the failure path only:
//!
//! - `EEXIST` from any `io_uring_register` call on a `SINGLE_ISSUER` ring
//!   means "not the ring's issuer thread" (`__io_uring_register` in
//!   `io_uring/register.c` checks that first). From
//!   `IORING_REGISTER_ZCRX_IFQ` in NIC mode it can also mean the queue is
//!   already bound (or an XDP program is attached: `netdev_rx_queue.c`). A
//!   probe, `IORING_REGISTER_QUERY` with an empty chain (which succeeds on
//!   the issuer thread), tells the two apart.
//! - `ENOMEM` from registration is, almost always, the locked-memory limit:
//!   the area's pages are accounted to `RLIMIT_MEMLOCK` unless the process
//!   has `CAP_IPC_LOCK` (`io_account_mem`, `io_uring/rsrc.c`).
//! - In NIC mode, `EINVAL` after this crate's own checks means the queue's
//!   ring parameters refuse a memory provider (tcp-data-split off or
//!   hds-thresh not 0), and `ERANGE` an rx queue index out of range.

use core::ptr;

use rustix::fd::{AsRawFd, BorrowedFd};
use rustix::io::Errno;
use zcrx_uapi::IORING_REGISTER_QUERY;
use zcrx_uapi::abi::KernelVersion;

use crate::error::Error;
use crate::sys;

pub(crate) const OP_REGISTER: &str = "IORING_REGISTER_ZCRX_IFQ";
pub(crate) const OP_CTRL: &str = "IORING_REGISTER_ZCRX_CTRL";

/// What a registration asked for, to interpret its refusal.
pub(crate) struct RegisterContext<'a> {
    pub(crate) ring: BorrowedFd<'a>,
    /// `ZCRX_REG_NODEV`, or `(ifindex, rxq)`.
    pub(crate) nodev: bool,
    pub(crate) target: (u32, u32),
    pub(crate) events: bool,
    /// Bytes of area memory the registration pins.
    pub(crate) locked_bytes: u64,
}

/// Whether the calling thread may issue `io_uring_register` on `ring`
/// (always, unless it is a `SINGLE_ISSUER` ring created or enabled by
/// another thread).
pub(crate) fn is_issuer_thread(ring: BorrowedFd<'_>) -> bool {
    // SAFETY: an empty query chain (a null argument) makes the kernel read
    // and write nothing; it answers 0, or EEXIST from another thread.
    let r = unsafe { sys::register(ring.as_raw_fd(), IORING_REGISTER_QUERY, ptr::null_mut(), 0) };
    r != Err(Errno::EXIST)
}

/// Maps a refusal of `IORING_REGISTER_ZCRX_IFQ`.
pub(crate) fn map_register_error(errno: Errno, cx: &RegisterContext<'_>) -> Error {
    let (ifindex, rxq) = cx.target;
    match errno {
        Errno::PERM | Errno::ACCESS => Error::PermissionDenied {
            op: OP_REGISTER,
            capability: "CAP_NET_ADMIN",
        },
        Errno::EXIST if !is_issuer_thread(cx.ring) => Error::WrongThread { op: OP_REGISTER },
        Errno::EXIST | Errno::BUSY if !cx.nodev => Error::QueueBusy {
            op: OP_REGISTER,
            errno,
        },
        Errno::NOMEM => locked_memory(OP_REGISTER, cx.locked_bytes),
        Errno::NODEV => Error::invalid("if_idx", "no such network interface"),
        Errno::OPNOTSUPP if !cx.nodev => Error::unsupported(
            "zero-copy receive on this interface (driver without queue management or memory providers)",
            None,
        ),
        Errno::INVAL if !cx.nodev => Error::HeaderSplitOff { ifindex, rxq },
        Errno::RANGE if !cx.nodev => Error::QueueOutOfRange { ifindex, rxq },
        Errno::RANGE if cx.events => Error::invalid(
            "stats_offset",
            "the kernel refused it (ERANGE): before the end of the refill entries or outside the region",
        ),
        Errno::NOSYS => Error::unsupported("io_uring", Some(KernelVersion::new(5, 1))),
        _ => Error::kernel(OP_REGISTER, errno),
    }
}

/// Maps a refusal of `IORING_REGISTER_ZCRX_CTRL` (or of an import).
pub(crate) fn map_ctrl_error(op: &'static str, errno: Errno, locked_bytes: u64) -> Error {
    match errno {
        Errno::EXIST => Error::WrongThread { op },
        Errno::NOMEM if locked_bytes > 0 => locked_memory(op, locked_bytes),
        _ => Error::kernel(op, errno),
    }
}

/// `ENOMEM` while pinning `bytes`: the locked-memory limit, unless the
/// process may exceed it (`CAP_IPC_LOCK`), in which case memory really ran
/// out.
fn locked_memory(op: &'static str, bytes: u64) -> Error {
    let exempt = rustix::thread::capabilities(None).is_ok_and(|c| {
        c.effective
            .contains(rustix::thread::CapabilitySet::IPC_LOCK)
    });
    if exempt {
        return Error::kernel(op, Errno::NOMEM);
    }
    let limit = rustix::process::getrlimit(rustix::process::Resource::Memlock).current;
    Error::LockedMemoryLimit {
        op,
        bytes,
        limit: limit.unwrap_or(u64::MAX),
    }
}
