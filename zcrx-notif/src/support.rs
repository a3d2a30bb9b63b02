//! Whether the running kernel has notifications, and what to do if not.
//!
//! Notifications and stats arrived in Linux 7.2 with the
//! `IO_URING_QUERY_ZCRX_EVENT` query. [`Support::query`] asks it (no ring
//! needed); on older kernels (6.18, 6.19 answer `EOPNOTSUPP`, earlier ones
//! lack `IORING_REGISTER_QUERY` altogether) the answer is
//! [`Support::Missing`], naming `IO_URING_QUERY_ZCRX_EVENT` and Linux 7.2.
//!
//! Whether a missing feature stops registration is the caller's choice,
//! made once in the configuration with [`Fallback`]:
//!
//! | [`Fallback`] | kernel with notifications | kernel without |
//! |---|---|---|
//! | [`Require`](Fallback::Require) (default) | enabled | registration refused with [`Error::Unsupported`] before any system call |
//! | [`ReceiveWithout`](Fallback::ReceiveWithout) | enabled | registered without them; the [`Notifier`](crate::Notifier) is inactive (see its docs) and [`StatsSnapshot::read`](crate::StatsSnapshot::read) answers `None` |
//!
//! ```no_run
//! use zcrx_notif::Support;
//!
//! match Support::query() {
//!     Support::Available(s) => println!("notification kinds: {:?}", s.kinds()),
//!     other => println!("{}", other.error().unwrap()),
//!     // "kernel lacks IO_URING_QUERY_ZCRX_EVENT (needs Linux >= 7.2)"
//! }
//! ```

use rustix::io::Errno;
use zcrx_ring::caps::{Capabilities, QueryError, ZcrxCaps, ZcrxEventCaps};
use zcrx_ring::{RegionLayout, StatsPlacement, Unsupported};
use zcrx_uapi::abi::KernelVersion;

use crate::error::{Error, Result};
use crate::kind::{NotificationKind, NotificationMask};

/// What a kernel without notifications lacks: the event query, Linux 7.2.
pub const MISSING_EVENTS: Unsupported = Unsupported {
    what: "IO_URING_QUERY_ZCRX_EVENT",
    needs: Some(KernelVersion::new(7, 2)),
};

/// What to do when the kernel lacks notifications.
///
/// ```
/// use zcrx_notif::Fallback;
/// assert_eq!(Fallback::default(), Fallback::Require);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Fallback {
    /// Refuse the configuration with [`Error::Unsupported`] (the default).
    #[default]
    Require,
    /// Register without notifications and stats, and keep receiving; the
    /// notifier stays inactive and reports why.
    ReceiveWithout,
}

/// The kernel's answer about notifications and stats, as this crate uses
/// it: the event query's answer, with the ZCRX query's refill header size
/// needed to place the stats block.
///
/// Built by [`Support::query`]; [`new`](Self::new) builds one from given
/// answers (tests, or a kernel queried elsewhere).
///
/// ```
/// use zcrx_notif::{EventSupport, NotificationKind};
/// use zcrx_ring::caps::ZcrxEventCaps;
/// use zcrx_uapi::ZcrxEventMask;
///
/// let s = EventSupport::new(
///     ZcrxEventCaps {
///         event_flags: ZcrxEventMask::ALLOC_FAIL | ZcrxEventMask::COPY,
///         stats_size: 16,
///         stats_off_alignment: 8,
///     },
///     None,
/// );
/// assert!(s.supports(NotificationKind::CopyFallback));
/// assert_eq!(s.stats_size(), 16);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventSupport {
    event: ZcrxEventCaps,
    zcrx: Option<ZcrxCaps>,
}

impl EventSupport {
    /// From the event query's answer and, when known, the ZCRX query's.
    pub const fn new(event: ZcrxEventCaps, zcrx: Option<ZcrxCaps>) -> Self {
        Self { event, zcrx }
    }

    /// The kinds the kernel supports (its `event_flags`, unknown bits kept).
    ///
    /// ```
    /// # let s = zcrx_notif::support::tests_support(128);
    /// assert_eq!(s.kinds(), zcrx_notif::NotificationMask::all());
    /// ```
    pub const fn kinds(&self) -> NotificationMask {
        NotificationMask::from_kernel(self.event.event_flags)
    }

    /// Whether the kernel supports `kind`.
    ///
    /// ```
    /// # let s = zcrx_notif::support::tests_support(128);
    /// assert!(!s.supports(zcrx_notif::NotificationKind::Unknown(2)));
    /// ```
    pub const fn supports(&self, kind: NotificationKind) -> bool {
        self.kinds().has(kind)
    }

    /// The stats block's size (`sizeof(struct zcrx_stats)`: 16 on 7.2, 7.3).
    ///
    /// ```
    /// # let s = zcrx_notif::support::tests_support(128);
    /// assert_eq!(s.stats_size(), 16);
    /// ```
    pub const fn stats_size(&self) -> u32 {
        self.event.stats_size
    }

    /// The alignment the stats block's offset needs (8 on 7.2, 7.3).
    ///
    /// ```
    /// # let s = zcrx_notif::support::tests_support(128);
    /// assert_eq!(s.stats_alignment(), 8);
    /// ```
    pub const fn stats_alignment(&self) -> u32 {
        self.event.stats_off_alignment
    }

    /// The event query's answer.
    ///
    /// ```
    /// # let s = zcrx_notif::support::tests_support(128);
    /// assert_eq!(s.event_caps().stats_size, 16);
    /// ```
    pub const fn event_caps(&self) -> &ZcrxEventCaps {
        &self.event
    }

    /// The ZCRX query's answer, if it was given.
    ///
    /// ```
    /// # let s = zcrx_notif::support::tests_support(128);
    /// assert_eq!(s.zcrx_caps().unwrap().rq_hdr_size, 128);
    /// ```
    pub const fn zcrx_caps(&self) -> Option<&ZcrxCaps> {
        self.zcrx.as_ref()
    }

    /// Where the refill entries start: the kernel's refill header size
    /// rounded up to its alignment (64 on 7.2, 128 on 7.3), or `None` when
    /// the ZCRX query's answer is not known (or not plausible).
    ///
    /// ```
    /// # let s = zcrx_notif::support::tests_support(8);
    /// assert_eq!(s.entries_offset(), Some(64));
    /// ```
    pub fn entries_offset(&self) -> Option<u64> {
        let z = self.zcrx.as_ref()?;
        z.refill_entries_offset().ok().map(u64::from)
    }

    /// Plans the refill region for `rq_entries` entries with the stats
    /// block placed as asked, exactly as registration will (through
    /// [`RegionLayout::plan`]); `region_size` 0 means "just large enough".
    ///
    /// ```
    /// use zcrx_ring::StatsPlacement;
    /// # let s = zcrx_notif::support::tests_support(128);
    /// let layout = s.plan(64, StatsPlacement::Auto, 0)?;
    /// assert_eq!(layout.stats_offset, Some(128 + 16 * 64));
    /// # Ok::<(), zcrx_notif::Error>(())
    /// ```
    pub fn plan(
        &self,
        rq_entries: u32,
        stats: StatsPlacement,
        region_size: u64,
    ) -> Result<RegionLayout> {
        Ok(RegionLayout::plan(
            rq_entries,
            self.zcrx.as_ref(),
            Some(&self.event),
            stats,
            region_size,
        )?)
    }
}

/// Whether the running kernel has notifications and stats.
///
/// ```
/// use zcrx_notif::Support;
///
/// let missing = Support::Missing(zcrx_notif::support::MISSING_EVENTS);
/// assert_eq!(
///     missing.error().unwrap().to_string(),
///     "kernel lacks IO_URING_QUERY_ZCRX_EVENT (needs Linux >= 7.2)"
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// The kernel has them (Linux 7.2 and later).
    Available(EventSupport),
    /// The kernel lacks them; says what it lacks and the first release
    /// that has it ([`MISSING_EVENTS`] for every kernel before 7.2).
    Missing(Unsupported),
    /// The query failed for another reason (its errno).
    QueryFailed(Errno),
}

impl Support {
    /// Asks the running kernel (one `IORING_REGISTER_QUERY` chain, no ring).
    pub fn query() -> Self {
        Self::from_caps(&Capabilities::query())
    }

    /// From capabilities already queried (through `zcrx-ring`).
    ///
    /// A kernel that answers the event query but does not list
    /// `ZCRX_FEATURE_EVENT` in the ZCRX query is reported as missing that
    /// feature.
    pub fn from_caps(caps: &Capabilities) -> Self {
        match caps.zcrx_event() {
            Ok(event) => {
                let zcrx = caps.zcrx().ok().copied();
                if let Some(Err(u)) = zcrx.map(|z| z.require_events()) {
                    return Support::Missing(u);
                }
                Support::Available(EventSupport::new(*event, zcrx))
            }
            // Whatever the query lacked (the op, or `IORING_REGISTER_QUERY`
            // itself before 6.18), notifications need the event query.
            Err(QueryError::Unsupported(_)) => Support::Missing(MISSING_EVENTS),
            Err(QueryError::Failed(errno)) => Support::QueryFailed(errno),
            Err(QueryError::WrongThread) => Support::QueryFailed(rustix::io::Errno::EXIST),
        }
    }

    /// The kernel's answer, if it has notifications.
    ///
    /// ```
    /// # use zcrx_notif::Support;
    /// assert!(Support::Missing(zcrx_notif::support::MISSING_EVENTS).available().is_none());
    /// ```
    pub const fn available(&self) -> Option<&EventSupport> {
        match self {
            Support::Available(s) => Some(s),
            _ => None,
        }
    }

    /// Whether the kernel has notifications.
    ///
    /// ```
    /// # use zcrx_notif::Support;
    /// assert!(!Support::QueryFailed(rustix::io::Errno::FAULT).is_available());
    /// ```
    pub const fn is_available(&self) -> bool {
        matches!(self, Support::Available(_))
    }

    /// Why notifications are unavailable, as an error
    /// ([`Error::Unsupported`] naming what the kernel lacks, or the failed
    /// query's errno); `None` when they are available.
    ///
    /// ```
    /// # use zcrx_notif::Support;
    /// let e = Support::QueryFailed(rustix::io::Errno::FAULT).error().unwrap();
    /// assert_eq!(e.errno(), Some(rustix::io::Errno::FAULT));
    /// ```
    pub const fn error(&self) -> Option<Error> {
        match self {
            Support::Available(_) => None,
            Support::Missing(u) => Some(Error::Unsupported(*u)),
            Support::QueryFailed(errno) => Some(Error::Ring(zcrx_ring::Error::Kernel {
                op: "IORING_REGISTER_QUERY",
                errno: *errno,
            })),
        }
    }

    /// The kernel's answer, or why there is none.
    ///
    /// ```
    /// # use zcrx_notif::Support;
    /// let e = Support::Missing(zcrx_notif::support::MISSING_EVENTS).require().unwrap_err();
    /// assert!(e.is_unsupported());
    /// ```
    pub const fn require(&self) -> Result<&EventSupport> {
        match self {
            Support::Available(s) => Ok(s),
            other => match other.error() {
                Some(e) => Err(e),
                None => Err(Error::Unsupported(MISSING_EVENTS)),
            },
        }
    }
}

/// A Linux 7.2 (`rq_hdr_size` 8) or 7.3 (128) answer, for examples and
/// tests. Not part of the API.
#[doc(hidden)]
pub const fn tests_support(rq_hdr_size: u32) -> EventSupport {
    use zcrx_uapi::{ZcrxAreaFlags, ZcrxEventMask, ZcrxFeatures, ZcrxRegFlags};
    EventSupport::new(
        ZcrxEventCaps {
            event_flags: ZcrxEventMask::from_bits_retain(0b11),
            stats_size: 16,
            stats_off_alignment: 8,
        },
        Some(ZcrxCaps {
            register_flags: ZcrxRegFlags::from_bits_retain(0b11),
            area_flags: ZcrxAreaFlags::DMABUF,
            nr_ctrl_opcodes: if rq_hdr_size == 8 { 3 } else { 4 },
            features: ZcrxFeatures::from_bits_retain(0b11),
            rq_hdr_size,
            rq_hdr_alignment: 64,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_follow_the_kernels_header() {
        let on72 = tests_support(8);
        let on73 = tests_support(128);
        assert_eq!(on72.entries_offset(), Some(64));
        assert_eq!(on73.entries_offset(), Some(128));
        let l72 = on72.plan(64, StatsPlacement::Auto, 0).unwrap();
        let l73 = on73.plan(64, StatsPlacement::Auto, 0).unwrap();
        assert_eq!(l72.stats_offset, Some(64 + 16 * 64));
        assert_eq!(l73.stats_offset, Some(128 + 16 * 64));
        assert_eq!(l73.stats_size, 16);
    }

    #[test]
    fn unavailable_support_says_what_is_missing() {
        let missing = Support::Missing(MISSING_EVENTS);
        assert_eq!(
            missing.require().unwrap_err(),
            Error::Unsupported(MISSING_EVENTS)
        );
        assert_eq!(MISSING_EVENTS.needs, Some(KernelVersion::new(7, 2)));
        let failed = Support::QueryFailed(Errno::FAULT);
        assert!(matches!(
            failed.require(),
            Err(Error::Ring(zcrx_ring::Error::Kernel {
                op: "IORING_REGISTER_QUERY",
                errno: Errno::FAULT
            }))
        ));
        assert!(Support::Available(tests_support(8)).error().is_none());
    }

    #[test]
    fn the_running_kernel_answers_with_a_typed_value() {
        // Whatever the host kernel: available, or missing with Linux 7.2.
        match Support::query() {
            Support::Available(s) => assert!(s.stats_size() >= 16),
            Support::Missing(u) => assert_eq!(u, MISSING_EVENTS),
            Support::QueryFailed(errno) => panic!("query failed: {errno}"),
        }
    }
}
