//! The crate's error type.

use core::fmt;

use rustix::io::Errno;
use zcrx_ring::Unsupported;

use crate::kind::NotificationKind;

/// Every failure of this crate.
///
/// Configuration problems found before any system call and the kernel's
/// refusals that this crate can attribute are reported with the field at
/// fault ([`InvalidConfig`](Self::InvalidConfig)) or the kind at fault
/// ([`NotFired`](Self::NotFired), …); everything else from `zcrx-ring` is
/// kept in [`Ring`](Self::Ring).
///
/// ```
/// use zcrx_notif::{Error, NotificationKind};
///
/// let e = Error::NotFired(NotificationKind::NoBuffers);
/// assert_eq!(
///     e.to_string(),
///     "cannot arm no-buffers (ZCRX_EVENT_ALLOC_FAIL): it has not fired since it was last armed"
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The running kernel lacks notifications (Linux 7.2 and later have
    /// them) or another item named inside.
    Unsupported(Unsupported),
    /// A configuration value was refused, before any system call or by the
    /// kernel (the reason says which).
    InvalidConfig {
        /// The field at fault, as the kernel names it (`type_mask`,
        /// `stats_offset`, `flags`, `__resv2`), or `zcrx-ring`'s name for
        /// its own fields (`rq_entries`, `region size`).
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Arming a kind that has not fired since it was last armed: it is
    /// still armed. Found locally (no notification of that kind has been
    /// seen), or reported by the kernel (`EINVAL` from `ZCRX_CTRL_ARM_EVENT`,
    /// e.g. when another handle of the instance re-armed it first).
    NotFired(NotificationKind),
    /// Arming a kind that was not enabled at registration: it never fires.
    NotEnabled(NotificationKind),
    /// A kind the running kernel does not know (not in the event query's
    /// `event_flags`; the kernel would answer `EINVAL`).
    UnknownKind(NotificationKind),
    /// A failure of `zcrx-ring` (a system call or a kernel value) not
    /// mapped above.
    Ring(zcrx_ring::Error),
}

impl Error {
    /// An invalid configuration value.
    ///
    /// ```
    /// let e = zcrx_notif::Error::invalid("stats_offset", "misaligned");
    /// assert_eq!(e.field(), Some("stats_offset"));
    /// ```
    pub const fn invalid(field: &'static str, reason: &'static str) -> Self {
        Error::InvalidConfig { field, reason }
    }

    /// The field at fault, for [`InvalidConfig`](Self::InvalidConfig).
    ///
    /// ```
    /// use zcrx_notif::{Error, NotificationKind};
    /// assert_eq!(Error::NotFired(NotificationKind::CopyFallback).field(), None);
    /// ```
    pub const fn field(&self) -> Option<&'static str> {
        match self {
            Error::InvalidConfig { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The kernel's errno, when a kernel refusal is behind the error and
    /// was kept as such.
    ///
    /// ```
    /// use rustix::io::Errno;
    /// use zcrx_notif::Error;
    /// let e = Error::Ring(zcrx_ring::Error::kernel("IORING_REGISTER_ZCRX_CTRL", Errno::NXIO));
    /// assert_eq!(e.errno(), Some(Errno::NXIO));
    /// ```
    pub const fn errno(&self) -> Option<Errno> {
        match self {
            Error::Ring(e) => e.errno(),
            _ => None,
        }
    }

    /// Whether the kernel lacks what was asked for.
    ///
    /// ```
    /// use zcrx_notif::Error;
    /// let e = Error::from(zcrx_ring::Error::unsupported("IO_URING_QUERY_ZCRX_EVENT", None));
    /// assert!(e.is_unsupported());
    /// ```
    pub const fn is_unsupported(&self) -> bool {
        matches!(self, Error::Unsupported(_))
    }
}

impl From<zcrx_ring::Error> for Error {
    /// Keeps `zcrx-ring`'s error, lifting [`Unsupported`] and invalid
    /// configuration (which name their cause) to this crate's variants.
    fn from(e: zcrx_ring::Error) -> Self {
        match e {
            zcrx_ring::Error::Unsupported(u) => Error::Unsupported(u),
            zcrx_ring::Error::InvalidConfig { field, reason } => {
                Error::InvalidConfig { field, reason }
            }
            e => Error::Ring(e),
        }
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
            Error::InvalidConfig { field, reason } => {
                write!(f, "invalid notification configuration: {field}: {reason}")
            }
            Error::NotFired(kind) => write!(
                f,
                "cannot arm {kind}: it has not fired since it was last armed"
            ),
            Error::NotEnabled(kind) => {
                write!(f, "cannot arm {kind}: it was not enabled at registration")
            }
            Error::UnknownKind(kind) => {
                write!(f, "the running kernel does not know {kind}")
            }
            Error::Ring(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Ring(e) => Some(e),
            _ => None,
        }
    }
}

/// Short for `Result<T, zcrx_notif::Error>`.
pub type Result<T, E = Error> = core::result::Result<T, E>;
