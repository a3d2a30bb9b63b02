//! The one error type of the crate: every failure names its cause.

use core::fmt;

use rustix::io::Errno;
use zcrx_uapi::abi::KernelVersion;

/// Something the running kernel does not support.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsupported {
    /// The missing item, spelled as in the kernel's headers
    /// (`ZCRX_REG_NODEV`, `IO_URING_QUERY_ZCRX_EVENT`, `ZCRX_CTRL_ADD_AREA`).
    pub what: &'static str,
    /// The first Linux release that has it, when known.
    pub needs: Option<KernelVersion>,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kernel lacks {}", self.what)?;
        if let Some(v) = self.needs {
            write!(f, " (needs Linux >= {v})")?;
        }
        Ok(())
    }
}

/// Every failure of this crate.
///
/// Kernel refusals are mapped to the variant that names their cause where the
/// cause is known (a missing capability, a kernel too old, a busy queue); the
/// rest keep the operation and the errno in [`Error::Kernel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The running kernel lacks a feature, flag or operation.
    Unsupported(Unsupported),
    /// The process lacks a capability the operation needs.
    PermissionDenied {
        /// The operation (`IORING_REGISTER_ZCRX_IFQ`).
        op: &'static str,
        /// The capability (`CAP_NET_ADMIN`).
        capability: &'static str,
    },
    /// A configuration value was refused before any system call.
    InvalidConfig {
        /// The field or argument at fault (`rq_entries`, `stats_offset`).
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The receive queue (or the ifq slot) is taken by another user; the
    /// kernel answered `EEXIST` or `EBUSY`. Retry once the other user has
    /// released it (closing its ring releases it), or pick another queue.
    QueueBusy {
        /// The operation.
        op: &'static str,
        /// The kernel's answer.
        errno: Errno,
    },
    /// A value the kernel wrote back (an offset, a count, a completion's
    /// buffer offset) failed validation; nothing was dereferenced.
    KernelValue {
        /// The field (`offsets.rqes`, `cqe.off`).
        field: &'static str,
        /// The value found.
        value: u64,
        /// The bound or rule it broke.
        reason: &'static str,
    },
    /// A `SINGLE_ISSUER` ring refused a call from a thread other than its
    /// issuer (the thread that created it, or enabled it when it was built
    /// disabled): the kernel answered `EEXIST`. Make the call on that
    /// thread.
    WrongThread {
        /// The operation (`IORING_REGISTER_ZCRX_IFQ`, `IORING_REGISTER_QUERY`).
        op: &'static str,
    },
    /// The ring was set up without flags ZCRX needs: `IORING_SETUP_DEFER_TASKRUN`
    /// (the kernel refuses ZCRX registration otherwise; it needs
    /// `IORING_SETUP_SINGLE_ISSUER`) and 32-byte completions
    /// (`IORING_SETUP_CQE32`, or `IORING_SETUP_CQE_MIXED` where the ring
    /// reads mixed sizes). Refused before any system call.
    RingSetup {
        /// The flags the ring lacks.
        missing: zcrx_uapi::SetupFlags,
    },
    /// The instance is registered on (or imported into) another ring than
    /// the receive loop's, or by code outside this crate: its completions
    /// never arrive on this ring.
    WrongRing,
    /// Pinning the area's pages would exceed the locked-memory limit
    /// (`RLIMIT_MEMLOCK`), which applies without `CAP_IPC_LOCK`; the kernel
    /// answered `ENOMEM`.
    LockedMemoryLimit {
        /// The operation.
        op: &'static str,
        /// Bytes the operation pins.
        bytes: u64,
        /// The soft limit in bytes (`u64::MAX`: unlimited), shared by every
        /// registration of the user.
        limit: u64,
    },
    /// The network device's receive queue refuses a memory provider because
    /// header split is off: zero-copy receive needs tcp-data-split enabled
    /// and hds-thresh 0 (`ethtool -G <if> tcp-data-split on hds-thresh 0`);
    /// the kernel answered `EINVAL`.
    HeaderSplitOff {
        /// The interface index.
        ifindex: u32,
        /// The receive queue.
        rxq: u32,
    },
    /// The interface has no such receive queue (`ERANGE`).
    QueueOutOfRange {
        /// The interface index.
        ifindex: u32,
        /// The receive queue asked for.
        rxq: u32,
    },
    /// A loop could not make progress and stopped instead of spinning.
    Stalled {
        /// What is stuck (`zcrx buffers`, `completion ring`, `refill ring`).
        what: &'static str,
        /// Why, and what to do.
        reason: &'static str,
    },
    /// The submission queue has no free entry; submit first.
    SubmissionQueueFull,
    /// The refill ring is full and could not be drained.
    RefillFull,
    /// The kernel refused an operation for a reason not mapped above.
    Kernel {
        /// The operation (`io_uring_setup`, `IORING_REGISTER_ZCRX_IFQ`).
        op: &'static str,
        /// The kernel's answer.
        errno: Errno,
    },
}

impl Error {
    /// A kernel refusal of `op`, without further interpretation.
    pub const fn kernel(op: &'static str, errno: Errno) -> Self {
        Error::Kernel { op, errno }
    }

    /// An unsupported feature.
    pub const fn unsupported(what: &'static str, needs: Option<KernelVersion>) -> Self {
        Error::Unsupported(Unsupported { what, needs })
    }

    /// An invalid configuration value.
    pub const fn invalid(field: &'static str, reason: &'static str) -> Self {
        Error::InvalidConfig { field, reason }
    }

    /// The errno behind this error, if the kernel gave one.
    pub const fn errno(&self) -> Option<Errno> {
        match self {
            Error::QueueBusy { errno, .. } | Error::Kernel { errno, .. } => Some(*errno),
            Error::PermissionDenied { .. } => Some(Errno::PERM),
            Error::WrongThread { .. } => Some(Errno::EXIST),
            Error::LockedMemoryLimit { .. } => Some(Errno::NOMEM),
            Error::HeaderSplitOff { .. } => Some(Errno::INVAL),
            Error::QueueOutOfRange { .. } => Some(Errno::RANGE),
            _ => None,
        }
    }

    /// Whether the kernel lacks what was asked for.
    pub const fn is_unsupported(&self) -> bool {
        matches!(self, Error::Unsupported(_))
    }
}

impl From<Unsupported> for Error {
    fn from(u: Unsupported) -> Self {
        Error::Unsupported(u)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unsupported(u) => u.fmt(f),
            Error::PermissionDenied { op, capability } => {
                write!(f, "{op}: permission denied: needs {capability}")
            }
            Error::InvalidConfig { field, reason } => {
                write!(f, "invalid configuration: {field}: {reason}")
            }
            Error::QueueBusy { op, errno } => write!(
                f,
                "{op}: the receive queue is busy ({errno}); retry after its current user \
                 releases it, or choose another queue"
            ),
            Error::KernelValue {
                field,
                value,
                reason,
            } => write!(f, "kernel wrote an invalid {field} ({value:#x}): {reason}"),
            Error::WrongThread { op } => write!(
                f,
                "{op}: refused from this thread (EEXIST): a SINGLE_ISSUER ring takes submissions \
                 and registrations only from the thread that created (or enabled) it"
            ),
            Error::RingSetup { missing } => {
                f.write_str("the ring was set up without ")?;
                for (i, (name, _)) in missing.iter_names().enumerate() {
                    let sep = if i == 0 { "" } else { " | " };
                    write!(f, "{sep}IORING_SETUP_{name}")?;
                }
                f.write_str(
                    ", which ZCRX needs (SINGLE_ISSUER | DEFER_TASKRUN and 32-byte completions)",
                )
            }
            Error::WrongRing => f.write_str(
                "the ZCRX instance is not registered on (or imported into) this receiver's ring",
            ),
            Error::LockedMemoryLimit { op, bytes, limit } => {
                write!(
                    f,
                    "{op}: pinning {bytes} bytes exceeds the locked-memory limit (RLIMIT_MEMLOCK "
                )?;
                if *limit == u64::MAX {
                    f.write_str("unlimited")?;
                } else {
                    write!(f, "{limit} bytes")?;
                }
                f.write_str(
                    ", shared by all of this user's pinned memory): raise it (ulimit -l, \
                     LimitMEMLOCK=) or grant CAP_IPC_LOCK",
                )
            }
            Error::HeaderSplitOff { ifindex, rxq } => write!(
                f,
                "interface {ifindex} queue {rxq} refuses zero-copy receive (EINVAL): header split \
                 must be on (ethtool -G <if> tcp-data-split on hds-thresh 0)"
            ),
            Error::QueueOutOfRange { ifindex, rxq } => {
                write!(f, "interface {ifindex} has no receive queue {rxq} (ERANGE)")
            }
            Error::Stalled { what, reason } => write!(f, "{what}: no progress: {reason}"),
            Error::SubmissionQueueFull => f.write_str("submission queue full: submit first"),
            Error::RefillFull => f.write_str("refill ring full: return fewer buffers at once"),
            Error::Kernel { op, errno } => write!(f, "{op} failed: {errno}"),
        }
    }
}

impl core::error::Error for Error {}

#[cfg(feature = "std")]
impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        let kind = match e {
            Error::Unsupported(_) => std::io::ErrorKind::Unsupported,
            Error::PermissionDenied { .. } => std::io::ErrorKind::PermissionDenied,
            Error::InvalidConfig { .. } => std::io::ErrorKind::InvalidInput,
            Error::KernelValue { .. } => std::io::ErrorKind::InvalidData,
            Error::QueueBusy { .. } => std::io::ErrorKind::ResourceBusy,
            Error::WrongThread { .. }
            | Error::WrongRing
            | Error::RingSetup { .. }
            | Error::HeaderSplitOff { .. } => std::io::ErrorKind::InvalidInput,
            Error::QueueOutOfRange { .. } => std::io::ErrorKind::NotFound,
            Error::LockedMemoryLimit { .. } => std::io::ErrorKind::OutOfMemory,
            _ => match e.errno() {
                Some(errno) => return std::io::Error::from_raw_os_error(errno.raw_os_error()),
                None => std::io::ErrorKind::Other,
            },
        };
        std::io::Error::new(kind, e)
    }
}

/// Short for `Result<T, zcrx_ring::Error>`.
pub type Result<T, E = Error> = core::result::Result<T, E>;
