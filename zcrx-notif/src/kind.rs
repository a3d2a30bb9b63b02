//! Notification kinds and sets of kinds.
//!
//! The kernel speaks of event *types* and uses two encodings of them:
//!
//! - an **index** (`ZCRX_EVENT_ALLOC_FAIL` = 0, `ZCRX_EVENT_COPY` = 1): the
//!   `res` of a notification completion and the argument of
//!   `ZCRX_CTRL_ARM_EVENT`;
//! - a **mask bit** (`1 << index`): `zcrx_event_desc::type_mask` at
//!   registration and the event query's `event_flags`.
//!
//! [`NotificationKind`] is one index, [`NotificationMask`] a set of mask bits.
//! Both keep values this crate does not know yet (a newer kernel's kinds)
//! instead of dropping them.
//!
//! ```
//! use zcrx_notif::{NotificationKind, NotificationMask};
//!
//! let kind = NotificationKind::from_index(1);
//! assert_eq!(kind, NotificationKind::CopyFallback);
//! assert_eq!(kind.mask(), Some(NotificationMask::COPY_FALLBACK));
//! assert_eq!(NotificationMask::COPY_FALLBACK.bits(), 1 << 1);
//!
//! // A kind from a newer kernel survives the round trip.
//! let newer = NotificationKind::from_index(5);
//! assert_eq!(newer, NotificationKind::Unknown(5));
//! assert_eq!(newer.index(), 5);
//! ```

use core::fmt;
use core::hash::{Hash, Hasher};

use zcrx_uapi::{ZCRX_EVENT_ALLOC_FAIL, ZCRX_EVENT_COPY, ZcrxEventMask};

/// One kind of notification (one kernel event type).
///
/// | variant | Linux 7.2+ (index) | proposal (mask bit) |
/// |---|---|---|
/// | [`NoBuffers`](Self::NoBuffers) | `ZCRX_EVENT_ALLOC_FAIL` (0) | `ZCRX_NOTIF_NO_BUFFERS` (`1 << 0`) |
/// | [`CopyFallback`](Self::CopyFallback) | `ZCRX_EVENT_COPY` (1) | `ZCRX_NOTIF_COPY` (`1 << 1`) |
/// | [`Unknown(n)`](Self::Unknown) | a newer kernel's type `n` | — |
///
/// Equality and hashing go by the kernel index, so `Unknown(1)` (which
/// [`from_index`](Self::from_index) never produces) equals `CopyFallback`.
///
/// ```
/// use zcrx_notif::NotificationKind;
///
/// assert_eq!(NotificationKind::NoBuffers.index(), 0);
/// assert_eq!(NotificationKind::NoBuffers.kernel_name(), "ZCRX_EVENT_ALLOC_FAIL");
/// assert_eq!(NotificationKind::Unknown(1), NotificationKind::CopyFallback);
/// ```
#[derive(Clone, Copy, Debug)]
pub enum NotificationKind {
    /// The kernel could not allocate a receive buffer: the refill ring ran
    /// dry (kernel `ZCRX_EVENT_ALLOC_FAIL`, the proposal's
    /// `ZCRX_NOTIF_NO_BUFFERS`).
    ///
    /// Posted only on the network card's page-pool path, so it never fires
    /// on a `NODEV` instance (see the [crate docs](crate#no-buffers-needs-a-nic)).
    NoBuffers,
    /// The kernel copied payload into the area instead of receiving it in
    /// place (kernel `ZCRX_EVENT_COPY`, the proposal's `ZCRX_NOTIF_COPY`).
    /// Always the case on a `NODEV` instance.
    CopyFallback,
    /// A kind this crate does not know, by its kernel index; kept so that a
    /// newer kernel's notifications are delivered rather than dropped.
    Unknown(u32),
}

impl NotificationKind {
    /// The kind with kernel index `index` (a notification completion's
    /// `res`, a `ZCRX_EVENT_*` value).
    ///
    /// ```
    /// use zcrx_notif::NotificationKind;
    /// assert_eq!(NotificationKind::from_index(0), NotificationKind::NoBuffers);
    /// assert!(matches!(NotificationKind::from_index(7), NotificationKind::Unknown(7)));
    /// ```
    pub const fn from_index(index: u32) -> Self {
        match index {
            ZCRX_EVENT_ALLOC_FAIL => NotificationKind::NoBuffers,
            ZCRX_EVENT_COPY => NotificationKind::CopyFallback,
            n => NotificationKind::Unknown(n),
        }
    }

    /// The kind a notification completion's `res` names, or `None` for a
    /// negative `res` (which no kernel posts for a notification).
    ///
    /// ```
    /// use zcrx_notif::NotificationKind;
    /// assert_eq!(NotificationKind::from_res(1), Some(NotificationKind::CopyFallback));
    /// assert_eq!(NotificationKind::from_res(-22), None);
    /// ```
    pub const fn from_res(res: i32) -> Option<Self> {
        if res < 0 {
            None
        } else {
            Some(Self::from_index(res as u32))
        }
    }

    /// The kernel index (`ZCRX_EVENT_*`).
    ///
    /// ```
    /// use zcrx_notif::NotificationKind;
    /// assert_eq!(NotificationKind::CopyFallback.index(), zcrx_uapi::ZCRX_EVENT_COPY);
    /// ```
    pub const fn index(self) -> u32 {
        match self {
            NotificationKind::NoBuffers => ZCRX_EVENT_ALLOC_FAIL,
            NotificationKind::CopyFallback => ZCRX_EVENT_COPY,
            NotificationKind::Unknown(n) => n,
        }
    }

    /// The kind's mask bit (`1 << index`), or `None` if the index does not
    /// fit a 32-bit mask (no kernel can enable or arm such a kind).
    ///
    /// ```
    /// use zcrx_notif::{NotificationKind, NotificationMask};
    /// assert_eq!(NotificationKind::NoBuffers.mask(), Some(NotificationMask::NO_BUFFERS));
    /// assert_eq!(NotificationKind::Unknown(40).mask(), None);
    /// ```
    pub const fn mask(self) -> Option<NotificationMask> {
        match 1u32.checked_shl(self.index()) {
            Some(bit) => Some(NotificationMask::from_bits_retain(bit)),
            None => None,
        }
    }

    /// Whether this crate knows the kind.
    ///
    /// ```
    /// use zcrx_notif::NotificationKind;
    /// assert!(NotificationKind::CopyFallback.is_known());
    /// assert!(!NotificationKind::from_index(2).is_known());
    /// ```
    pub const fn is_known(self) -> bool {
        self.index() <= ZCRX_EVENT_COPY
    }

    /// The kernel's name (`ZCRX_EVENT_ALLOC_FAIL`, `ZCRX_EVENT_COPY`), or
    /// `"unknown ZCRX_EVENT_*"`.
    ///
    /// ```
    /// use zcrx_notif::NotificationKind;
    /// assert_eq!(NotificationKind::CopyFallback.kernel_name(), "ZCRX_EVENT_COPY");
    /// ```
    pub const fn kernel_name(self) -> &'static str {
        match Self::from_index(self.index()) {
            NotificationKind::NoBuffers => "ZCRX_EVENT_ALLOC_FAIL",
            NotificationKind::CopyFallback => "ZCRX_EVENT_COPY",
            NotificationKind::Unknown(_) => "unknown ZCRX_EVENT_*",
        }
    }

    /// The proposal's name (`ZCRX_NOTIF_NO_BUFFERS`, `ZCRX_NOTIF_COPY`), or
    /// `None` for kinds the proposal did not have.
    ///
    /// ```
    /// use zcrx_notif::NotificationKind;
    /// assert_eq!(NotificationKind::NoBuffers.seed_name(), Some("ZCRX_NOTIF_NO_BUFFERS"));
    /// ```
    pub const fn seed_name(self) -> Option<&'static str> {
        match Self::from_index(self.index()) {
            NotificationKind::NoBuffers => Some("ZCRX_NOTIF_NO_BUFFERS"),
            NotificationKind::CopyFallback => Some("ZCRX_NOTIF_COPY"),
            NotificationKind::Unknown(_) => None,
        }
    }
}

impl PartialEq for NotificationKind {
    fn eq(&self, other: &Self) -> bool {
        self.index() == other.index()
    }
}

impl Eq for NotificationKind {}

impl Hash for NotificationKind {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.index().hash(state);
    }
}

impl From<u32> for NotificationKind {
    /// [`NotificationKind::from_index`].
    fn from(index: u32) -> Self {
        Self::from_index(index)
    }
}

impl From<NotificationKind> for u32 {
    /// [`NotificationKind::index`].
    fn from(kind: NotificationKind) -> Self {
        kind.index()
    }
}

impl fmt::Display for NotificationKind {
    /// `no-buffers (ZCRX_EVENT_ALLOC_FAIL)`, `copy-fallback (ZCRX_EVENT_COPY)`
    /// or `unknown notification kind 5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Self::from_index(self.index()) {
            NotificationKind::NoBuffers => f.write_str("no-buffers (ZCRX_EVENT_ALLOC_FAIL)"),
            NotificationKind::CopyFallback => f.write_str("copy-fallback (ZCRX_EVENT_COPY)"),
            NotificationKind::Unknown(n) => write!(f, "unknown notification kind {n}"),
        }
    }
}

bitflags::bitflags! {
    /// A set of notification kinds: bit `1 << index` per kind, exactly as
    /// the kernel's `zcrx_event_desc::type_mask` and the event query's
    /// `event_flags` carry it (and equal to the proposal's `ZCRX_NOTIF_*`
    /// values).
    ///
    /// Unknown bits (a newer kernel's kinds) are kept by
    /// [`from_bits_retain`](Self::from_bits_retain), by the conversions from
    /// the kernel's [`ZcrxEventMask`] and by every set operation except
    /// complement (`!`), which only flips the known kinds. [`all`](Self::all)
    /// is the kinds this crate knows.
    ///
    /// ```
    /// use zcrx_notif::{NotificationKind, NotificationMask};
    ///
    /// let m = NotificationMask::from_bits_retain(0b101);
    /// let kinds: Vec<_> = m.kinds().collect();
    /// assert_eq!(kinds, [NotificationKind::NoBuffers, NotificationKind::Unknown(2)]);
    /// assert_eq!(m.unknown(), NotificationMask::from_bits_retain(0b100));
    /// ```
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct NotificationMask: u32 {
        /// [`NotificationKind::NoBuffers`]: `1 << ZCRX_EVENT_ALLOC_FAIL`
        /// (the proposal's `ZCRX_NOTIF_NO_BUFFERS`).
        const NO_BUFFERS = 1 << ZCRX_EVENT_ALLOC_FAIL;
        /// [`NotificationKind::CopyFallback`]: `1 << ZCRX_EVENT_COPY` (the
        /// proposal's `ZCRX_NOTIF_COPY`).
        const COPY_FALLBACK = 1 << ZCRX_EVENT_COPY;
    }
}

impl NotificationMask {
    /// The set holding only `kind`; empty for a kind whose index does not
    /// fit a 32-bit mask.
    ///
    /// ```
    /// use zcrx_notif::{NotificationKind, NotificationMask};
    /// assert_eq!(NotificationMask::of(NotificationKind::CopyFallback), NotificationMask::COPY_FALLBACK);
    /// assert!(NotificationMask::of(NotificationKind::Unknown(32)).is_empty());
    /// ```
    pub const fn of(kind: NotificationKind) -> Self {
        match kind.mask() {
            Some(m) => m,
            None => Self::empty(),
        }
    }

    /// Whether `kind` is in the set.
    ///
    /// ```
    /// use zcrx_notif::{NotificationKind, NotificationMask};
    /// assert!(NotificationMask::all().has(NotificationKind::NoBuffers));
    /// assert!(!NotificationMask::all().has(NotificationKind::Unknown(2)));
    /// ```
    pub const fn has(self, kind: NotificationKind) -> bool {
        match kind.mask() {
            Some(m) => self.contains(m),
            None => false,
        }
    }

    /// The bits this crate does not know (a newer kernel's kinds, or bits
    /// the kernel reserves).
    ///
    /// ```
    /// use zcrx_notif::NotificationMask;
    /// assert!(NotificationMask::all().unknown().is_empty());
    /// assert_eq!(NotificationMask::from_bits_retain(0x8003).unknown().bits(), 0x8000);
    /// ```
    pub const fn unknown(self) -> Self {
        Self::from_bits_retain(self.bits() & !Self::all().bits())
    }

    /// The kernel's type for the same bits.
    ///
    /// ```
    /// use zcrx_notif::NotificationMask;
    /// use zcrx_uapi::ZcrxEventMask;
    /// assert_eq!(NotificationMask::all().to_kernel(), ZcrxEventMask::ALLOC_FAIL | ZcrxEventMask::COPY);
    /// ```
    pub const fn to_kernel(self) -> ZcrxEventMask {
        ZcrxEventMask::from_bits_retain(self.bits())
    }

    /// The same bits from the kernel's type, unknown ones included.
    ///
    /// ```
    /// use zcrx_notif::NotificationMask;
    /// use zcrx_uapi::ZcrxEventMask;
    /// let m = NotificationMask::from_kernel(ZcrxEventMask::from_bits_retain(0b111));
    /// assert_eq!(m.bits(), 0b111);
    /// ```
    pub const fn from_kernel(mask: ZcrxEventMask) -> Self {
        Self::from_bits_retain(mask.bits())
    }

    /// The kinds in the set, unknown ones included, by increasing index.
    ///
    /// ```
    /// use zcrx_notif::{NotificationKind, NotificationMask};
    /// let mut it = NotificationMask::all().kinds();
    /// assert_eq!(it.next(), Some(NotificationKind::NoBuffers));
    /// assert_eq!(it.next(), Some(NotificationKind::CopyFallback));
    /// assert_eq!(it.next(), None);
    /// ```
    pub const fn kinds(self) -> Kinds {
        Kinds { rest: self.bits() }
    }
}

impl From<ZcrxEventMask> for NotificationMask {
    /// [`NotificationMask::from_kernel`].
    fn from(mask: ZcrxEventMask) -> Self {
        Self::from_kernel(mask)
    }
}

impl From<NotificationMask> for ZcrxEventMask {
    /// [`NotificationMask::to_kernel`].
    fn from(mask: NotificationMask) -> Self {
        mask.to_kernel()
    }
}

impl From<NotificationKind> for NotificationMask {
    /// [`NotificationMask::of`].
    fn from(kind: NotificationKind) -> Self {
        Self::of(kind)
    }
}

impl FromIterator<NotificationKind> for NotificationMask {
    /// The union of the kinds' bits (kinds beyond bit 31 are left out).
    fn from_iter<I: IntoIterator<Item = NotificationKind>>(iter: I) -> Self {
        iter.into_iter()
            .fold(Self::empty(), |acc, kind| acc | Self::of(kind))
    }
}

/// The kinds of a [`NotificationMask`], by increasing index
/// ([`NotificationMask::kinds`]).
#[derive(Clone, Debug)]
pub struct Kinds {
    rest: u32,
}

impl Iterator for Kinds {
    type Item = NotificationKind;

    fn next(&mut self) -> Option<NotificationKind> {
        if self.rest == 0 {
            return None;
        }
        let index = self.rest.trailing_zeros();
        self.rest &= self.rest - 1;
        Some(NotificationKind::from_index(index))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.rest.count_ones() as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Kinds {}

impl core::iter::FusedIterator for Kinds {}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    #[test]
    fn index_round_trips_for_every_u32_edge() {
        for index in [0, 1, 2, 31, 32, 1000, u32::MAX] {
            let kind = NotificationKind::from_index(index);
            assert_eq!(kind.index(), index);
            assert_eq!(NotificationKind::from(u32::from(kind)), kind);
        }
        assert_eq!(
            NotificationKind::from_index(ZCRX_EVENT_ALLOC_FAIL),
            NotificationKind::NoBuffers
        );
        assert_eq!(
            NotificationKind::from_index(ZCRX_EVENT_COPY),
            NotificationKind::CopyFallback
        );
    }

    #[test]
    fn mask_bits_are_one_shifted_by_the_index() {
        for index in 0..32 {
            let kind = NotificationKind::from_index(index);
            let m = kind.mask().unwrap();
            assert_eq!(m.bits(), 1 << index);
            assert_eq!(m.kinds().collect::<Vec<_>>(), [kind]);
            assert!(m.has(kind));
        }
        assert_eq!(NotificationKind::Unknown(32).mask(), None);
        assert_eq!(NotificationKind::Unknown(u32::MAX).mask(), None);
        assert!(!NotificationMask::from_bits_retain(!0).has(NotificationKind::Unknown(32)));
        // The kernel's mask type agrees, bit for bit.
        assert_eq!(
            NotificationMask::NO_BUFFERS.to_kernel(),
            ZcrxEventMask::ALLOC_FAIL
        );
        assert_eq!(
            NotificationMask::COPY_FALLBACK.to_kernel(),
            ZcrxEventMask::COPY
        );
        for index in 0..32 {
            assert_eq!(
                ZcrxEventMask::from_event_type(index).map(NotificationMask::from),
                NotificationKind::from_index(index).mask()
            );
        }
    }

    #[test]
    fn the_proposals_mask_values_equal_the_kernels_bits() {
        // ZCRX_NOTIF_NO_BUFFERS = 1 << 0, ZCRX_NOTIF_COPY = 1 << 1.
        assert_eq!(NotificationMask::NO_BUFFERS.bits(), 1 << 0);
        assert_eq!(NotificationMask::COPY_FALLBACK.bits(), 1 << 1);
        assert_eq!(
            NotificationKind::NoBuffers.seed_name(),
            Some("ZCRX_NOTIF_NO_BUFFERS")
        );
        assert_eq!(NotificationKind::Unknown(9).seed_name(), None);
    }

    #[test]
    fn unknown_kinds_and_bits_are_kept() {
        let raw = 0x8000_0005u32;
        let m = NotificationMask::from_kernel(ZcrxEventMask::from_bits_retain(raw));
        assert_eq!(m.bits(), raw);
        assert_eq!(ZcrxEventMask::from(m).bits(), raw);
        assert_eq!(m.unknown().bits(), 0x8000_0004);
        assert_eq!(
            m.kinds().collect::<Vec<_>>(),
            [
                NotificationKind::NoBuffers,
                NotificationKind::Unknown(2),
                NotificationKind::Unknown(31)
            ]
        );
        assert_eq!(m.kinds().len(), 3);
        let back: NotificationMask = m.kinds().collect();
        assert_eq!(back, m);
        // Set operations other than complement keep unknown bits;
        // complement flips only the known kinds (use `difference`).
        assert_eq!((m | NotificationMask::COPY_FALLBACK).bits(), raw | 2);
        assert_eq!(
            !NotificationMask::NO_BUFFERS,
            NotificationMask::COPY_FALLBACK
        );
        assert_eq!((m & !NotificationMask::NO_BUFFERS).bits(), 0);
        assert_eq!(
            m.difference(NotificationMask::NO_BUFFERS).bits(),
            0x8000_0004
        );
        assert!(!NotificationKind::Unknown(2).is_known());
        assert_eq!(
            NotificationKind::Unknown(2).kernel_name(),
            "unknown ZCRX_EVENT_*"
        );
    }

    #[test]
    fn equality_and_hash_go_by_index() {
        use std::collections::HashSet;
        assert_eq!(NotificationKind::Unknown(0), NotificationKind::NoBuffers);
        let set: HashSet<_> = [NotificationKind::Unknown(1), NotificationKind::CopyFallback]
            .into_iter()
            .collect();
        assert_eq!(set.len(), 1);
        assert_eq!(
            NotificationKind::Unknown(1).kernel_name(),
            "ZCRX_EVENT_COPY"
        );
        assert_eq!(
            std::format!("{}", NotificationKind::Unknown(0)),
            "no-buffers (ZCRX_EVENT_ALLOC_FAIL)"
        );
        assert_eq!(
            std::format!("{}", NotificationKind::Unknown(7)),
            "unknown notification kind 7"
        );
    }

    #[test]
    fn res_decoding() {
        assert_eq!(
            NotificationKind::from_res(0),
            Some(NotificationKind::NoBuffers)
        );
        assert_eq!(
            NotificationKind::from_res(1),
            Some(NotificationKind::CopyFallback)
        );
        assert_eq!(
            NotificationKind::from_res(3),
            Some(NotificationKind::Unknown(3))
        );
        assert_eq!(
            NotificationKind::from_res(i32::MAX),
            Some(NotificationKind::Unknown(i32::MAX as u32))
        );
        assert_eq!(NotificationKind::from_res(-1), None);
        assert_eq!(NotificationKind::from_res(i32::MIN), None);
    }
}
