//! Notification configuration at registration.
//!
//! A [`NotifyConfig`] says which `user_data` the notification completions
//! carry, which kinds are enabled, whether (and where) the kernel keeps the
//! stats block, what to do on a kernel without notifications
//! ([`Fallback`]) and how fired kinds are re-armed ([`RearmPolicy`]). It is
//! checked against the kernel's answer ([`Support`]) before any system call
//! and becomes `zcrx-ring`'s [`EventConfig`], which
//! [`ZcrxBuilderExt::notifications`] hands to the registration builder.
//!
//! The stats block is never placed with constants: its offset comes from
//! the kernel's refill header size and alignment (entries at 64 on Linux
//! 7.2, at 128 on 7.3) and the stats block's size and alignment from the
//! event query. An explicit offset computed for 7.2 overlaps the entries on
//! 7.3 (where the kernel answers `ERANGE`); it is refused first, naming
//! `stats_offset`.
//!
//! ```no_run
//! use zcrx_notif::{Fallback, NotificationMask, Notifier, NotifyConfig, Support, ZcrxBuilderExt};
//! use zcrx_ring::{Area, Zcrx};
//! # fn demo(ring: rustix::fd::BorrowedFd<'_>) -> Result<(), zcrx_notif::Error> {
//! let support = Support::query();
//! let cfg = NotifyConfig::new(0xfeed)
//!     .kinds(NotificationMask::COPY_FALLBACK)
//!     .stats(true)
//!     .fallback(Fallback::ReceiveWithout);
//! let zcrx = Zcrx::builder_nodev()
//!     .area(Area::anonymous(64 * 4096)?)
//!     .notifications(&cfg, &support)?
//!     .register_fd(ring)
//!     .map_err(|e| cfg.register_error(&support, e))?;
//! let notifier = Notifier::new(&cfg, &support);
//! # let _ = (zcrx, notifier); Ok(()) }
//! ```

use zcrx_ring::recv::DEFAULT_TAG;
use zcrx_ring::{EventConfig, StatsPlacement, ZcrxBuilder};
use zcrx_uapi::{ZCRX_EVENT_DESC_FLAG_STATS, zcrx_event_desc};

use crate::arm::RearmPolicy;
use crate::error::{Error, Result};
use crate::kind::NotificationMask;
use crate::support::{EventSupport, Fallback, Support};

/// The kernel's field of the enabled kinds.
const TYPE_MASK: &str = "type_mask";
/// The kernel's field of the stats block's offset.
const STATS_OFFSET: &str = "stats_offset";

/// Notification configuration of one ZCRX registration (the kernel's
/// `struct zcrx_event_desc`, the proposal's `struct zcrx_notification_desc`).
///
/// Defaults of [`new`](Self::new): every kind this crate knows, no stats,
/// [`Fallback::Require`], [`RearmPolicy::Manual`].
///
/// ```
/// use zcrx_notif::{NotificationMask, NotifyConfig, Support};
/// use zcrx_ring::StatsPlacement;
///
/// let support = Support::Available(zcrx_notif::support::tests_support(128));
/// let cfg = NotifyConfig::new(7).kinds(NotificationMask::COPY_FALLBACK).stats(true);
/// let ev = cfg.event_config(&support)?.unwrap();
/// assert_eq!(ev.user_data, 7);
/// assert_eq!(ev.mask.bits(), 1 << 1);
/// assert_eq!(ev.stats, StatsPlacement::Auto);
/// # Ok::<(), zcrx_notif::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct NotifyConfig {
    user_data: u64,
    kinds: NotificationMask,
    stats: StatsPlacement,
    fallback: Fallback,
    rearm: RearmPolicy,
}

impl NotifyConfig {
    /// Notifications carrying `user_data` in their completions, for every
    /// kind this crate knows; no stats.
    ///
    /// Pick a `user_data` no submission on the ring uses: it is what tells
    /// notification completions apart. With `zcrx-ring`'s receive loop, its
    /// top 16 bits must not be the loop's tag
    /// ([`zcrx_ring::recv::DEFAULT_TAG`] is refused, naming `user_data`).
    ///
    /// ```
    /// use zcrx_notif::{NotificationMask, NotifyConfig};
    /// let cfg = NotifyConfig::new(u64::MAX - 1);
    /// assert_eq!(cfg.enabled_kinds(), NotificationMask::all());
    /// assert!(!cfg.stats_enabled());
    /// ```
    pub const fn new(user_data: u64) -> Self {
        Self {
            user_data,
            kinds: NotificationMask::all(),
            stats: StatsPlacement::None,
            fallback: Fallback::Require,
            rearm: RearmPolicy::Manual,
        }
    }

    /// Stats only: no notification kind enabled, the stats block placed
    /// after the refill entries.
    ///
    /// ```
    /// use zcrx_notif::NotifyConfig;
    /// let cfg = NotifyConfig::stats_only();
    /// assert!(cfg.enabled_kinds().is_empty() && cfg.stats_enabled());
    /// ```
    pub const fn stats_only() -> Self {
        Self::new(0).kinds(NotificationMask::empty()).stats(true)
    }

    /// From a raw descriptor (for code written against the kernel's or the
    /// proposal's struct), refusing what the kernel would refuse with
    /// `EINVAL`: unknown `flags` bits, non-zero reserved words, or a
    /// `stats_offset` without `ZCRX_EVENT_DESC_FLAG_STATS`. Unknown
    /// `type_mask` bits are kept here and checked against the kernel by
    /// [`event_config`](Self::event_config).
    ///
    /// ```
    /// use zcrx_notif::NotifyConfig;
    /// use zcrx_uapi::zcrx_event_desc;
    ///
    /// let bad = zcrx_event_desc { flags: 1 << 3, ..Default::default() };
    /// assert_eq!(NotifyConfig::from_desc(&bad).unwrap_err().field(), Some("flags"));
    /// ```
    pub const fn from_desc(desc: &zcrx_event_desc) -> Result<Self> {
        if desc.flags & !ZCRX_EVENT_DESC_FLAG_STATS != 0 {
            return Err(Error::invalid(
                "flags",
                "reserved bits set (only ZCRX_EVENT_DESC_FLAG_STATS is defined)",
            ));
        }
        let mut i = 0;
        while i < desc.__resv2.len() {
            if desc.__resv2[i] != 0 {
                return Err(Error::invalid("__resv2", "reserved words must be zero"));
            }
            i += 1;
        }
        let stats = if desc.flags & ZCRX_EVENT_DESC_FLAG_STATS != 0 {
            StatsPlacement::At(desc.stats_offset)
        } else if desc.stats_offset != 0 {
            return Err(Error::invalid(
                STATS_OFFSET,
                "set without ZCRX_EVENT_DESC_FLAG_STATS",
            ));
        } else {
            StatsPlacement::None
        };
        Ok(Self {
            user_data: desc.user_data,
            kinds: NotificationMask::from_bits_retain(desc.type_mask),
            stats,
            fallback: Fallback::Require,
            rearm: RearmPolicy::Manual,
        })
    }

    /// The `user_data` of notification completions.
    ///
    /// ```
    /// assert_eq!(zcrx_notif::NotifyConfig::new(1).user_data(9).user_data_value(), 9);
    /// ```
    pub const fn user_data(mut self, user_data: u64) -> Self {
        self.user_data = user_data;
        self
    }

    /// The kinds to enable (unknown bits are kept, and refused unless the
    /// kernel supports them). An empty set with stats gives stats without
    /// notifications.
    ///
    /// ```
    /// use zcrx_notif::{NotificationMask, NotifyConfig};
    /// let cfg = NotifyConfig::new(1).kinds(NotificationMask::NO_BUFFERS);
    /// assert_eq!(cfg.enabled_kinds(), NotificationMask::NO_BUFFERS);
    /// ```
    pub const fn kinds(mut self, kinds: NotificationMask) -> Self {
        self.kinds = kinds;
        self
    }

    /// Stats on (placed right after the refill entries, aligned as the
    /// kernel asks) or off. Turning them on keeps an explicit offset given
    /// before.
    ///
    /// ```
    /// use zcrx_notif::NotifyConfig;
    /// assert!(NotifyConfig::new(1).stats(true).stats_enabled());
    /// assert!(!NotifyConfig::new(1).stats_offset(4096).stats(false).stats_enabled());
    /// ```
    pub const fn stats(mut self, on: bool) -> Self {
        self.stats = match (on, self.stats) {
            (false, _) => StatsPlacement::None,
            (true, StatsPlacement::None) => StatsPlacement::Auto,
            (true, keep) => keep,
        };
        self
    }

    /// Stats on, at this offset from the start of the refill region. It
    /// must be aligned as the kernel asks, after the last refill entry and
    /// inside the region; checked before registration.
    ///
    /// ```
    /// use zcrx_notif::NotifyConfig;
    /// use zcrx_ring::StatsPlacement;
    /// assert_eq!(NotifyConfig::new(1).stats_offset(3072).stats_placement(), StatsPlacement::At(3072));
    /// ```
    pub const fn stats_offset(mut self, offset: u64) -> Self {
        self.stats = StatsPlacement::At(offset);
        self
    }

    /// What to do on a kernel without notifications.
    ///
    /// ```
    /// use zcrx_notif::{Fallback, NotifyConfig};
    /// let cfg = NotifyConfig::new(1).fallback(Fallback::ReceiveWithout);
    /// assert_eq!(cfg.fallback_policy(), Fallback::ReceiveWithout);
    /// ```
    pub const fn fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = fallback;
        self
    }

    /// How the [`Notifier`](crate::Notifier) re-arms fired kinds.
    ///
    /// ```
    /// use zcrx_notif::{NotifyConfig, RearmPolicy};
    /// let cfg = NotifyConfig::new(1).rearm(RearmPolicy::Immediately);
    /// assert_eq!(cfg.rearm_policy(), RearmPolicy::Immediately);
    /// ```
    pub const fn rearm(mut self, policy: RearmPolicy) -> Self {
        self.rearm = policy;
        self
    }

    /// The configured `user_data`.
    ///
    /// ```
    /// assert_eq!(zcrx_notif::NotifyConfig::new(5).user_data_value(), 5);
    /// ```
    pub const fn user_data_value(&self) -> u64 {
        self.user_data
    }

    /// The configured kinds.
    ///
    /// ```
    /// assert!(zcrx_notif::NotifyConfig::stats_only().enabled_kinds().is_empty());
    /// ```
    pub const fn enabled_kinds(&self) -> NotificationMask {
        self.kinds
    }

    /// Whether stats are on.
    ///
    /// ```
    /// assert!(zcrx_notif::NotifyConfig::stats_only().stats_enabled());
    /// ```
    pub const fn stats_enabled(&self) -> bool {
        !matches!(self.stats, StatsPlacement::None)
    }

    /// Where the stats block goes.
    ///
    /// ```
    /// use zcrx_ring::StatsPlacement;
    /// assert_eq!(zcrx_notif::NotifyConfig::new(1).stats_placement(), StatsPlacement::None);
    /// ```
    pub const fn stats_placement(&self) -> StatsPlacement {
        self.stats
    }

    /// The fallback policy.
    ///
    /// ```
    /// use zcrx_notif::Fallback;
    /// assert_eq!(zcrx_notif::NotifyConfig::new(1).fallback_policy(), Fallback::Require);
    /// ```
    pub const fn fallback_policy(&self) -> Fallback {
        self.fallback
    }

    /// The re-arm policy.
    ///
    /// ```
    /// use zcrx_notif::RearmPolicy;
    /// assert_eq!(zcrx_notif::NotifyConfig::new(1).rearm_policy(), RearmPolicy::Manual);
    /// ```
    pub const fn rearm_policy(&self) -> RearmPolicy {
        self.rearm
    }

    /// Checks the configuration against the kernel's answer, before any
    /// system call, and returns what the registration builder needs:
    /// `Some` to register with, or `None` (register without notifications)
    /// when the kernel lacks them and the fallback is
    /// [`ReceiveWithout`](Fallback::ReceiveWithout).
    ///
    /// Refused, naming the field: kinds the kernel does not support or bits
    /// it reserves (`type_mask`); an explicit `stats_offset` that is not
    /// aligned as the kernel asks or lies inside the refill header. Whether
    /// an explicit offset also clears the refill *entries* and fits the
    /// region depends on the entry count: [`plan_region`](Self::plan_region)
    /// checks that, and so does the registration builder before its system
    /// call.
    ///
    /// ```
    /// use zcrx_notif::{Error, NotificationMask, NotifyConfig, Support};
    ///
    /// let support = Support::Available(zcrx_notif::support::tests_support(128));
    /// let cfg = NotifyConfig::new(1).kinds(NotificationMask::from_bits_retain(1 << 4));
    /// assert_eq!(cfg.event_config(&support).unwrap_err().field(), Some("type_mask"));
    /// ```
    pub fn event_config(&self, support: &Support) -> Result<Option<EventConfig>> {
        let s = match (support.require(), self.fallback) {
            (Ok(s), _) => s,
            (Err(_), Fallback::ReceiveWithout) => return Ok(None),
            (Err(e), Fallback::Require) => return Err(e),
        };
        self.check(s)?;
        Ok(Some(self.raw_event_config()))
    }

    /// The configuration as `zcrx-ring` takes it, without any check; for
    /// tests that watch the kernel refuse a bad configuration (with
    /// `ZcrxBuilder::unchecked`). Use [`event_config`](Self::event_config)
    /// otherwise.
    ///
    /// ```
    /// let ev = zcrx_notif::NotifyConfig::new(3).raw_event_config();
    /// assert_eq!(ev.user_data, 3);
    /// ```
    pub const fn raw_event_config(&self) -> EventConfig {
        EventConfig {
            user_data: self.user_data,
            mask: self.kinds.to_kernel(),
            stats: self.stats,
        }
    }

    /// Plans the refill region this configuration needs for `rq_entries`
    /// entries (`region_size` 0: just large enough), as registration will:
    /// refuses a stats offset that overlaps the entries or lies outside the
    /// region, naming `stats_offset`. `None` when registering without
    /// notifications (see [`event_config`](Self::event_config)).
    ///
    /// ```
    /// use zcrx_notif::{NotifyConfig, Support};
    ///
    /// // An offset computed for Linux 7.2 (entries at 64) on 7.3 (at 128).
    /// let on73 = Support::Available(zcrx_notif::support::tests_support(128));
    /// let cfg = NotifyConfig::new(1).stats_offset(64 + 16 * 64);
    /// let e = cfg.plan_region(&on73, 64, 0).unwrap_err();
    /// assert_eq!(e.field(), Some("stats_offset"));
    /// # Ok::<(), zcrx_notif::Error>(())
    /// ```
    pub fn plan_region(
        &self,
        support: &Support,
        rq_entries: u32,
        region_size: u64,
    ) -> Result<Option<zcrx_ring::RegionLayout>> {
        if self.event_config(support)?.is_none() {
            return Ok(None);
        }
        let s = support.require()?;
        s.plan(rq_entries, self.stats, region_size).map(Some)
    }

    /// Interprets a registration error of an instance registered with this
    /// configuration: an `EINVAL` that this configuration explains (a kernel
    /// without notifications, kinds it does not know, a misaligned stats
    /// offset: possible only when the checks were skipped) becomes the typed
    /// error naming the cause or field; `ERANGE` (a stats offset before the
    /// end of the entries or outside the region) is already mapped by
    /// `zcrx-ring` to [`Error::InvalidConfig`] naming `stats_offset`. Any
    /// other error is kept.
    ///
    /// ```
    /// use rustix::io::Errno;
    /// use zcrx_notif::{NotifyConfig, Support};
    ///
    /// let on73 = Support::Available(zcrx_notif::support::tests_support(128));
    /// let cfg = NotifyConfig::new(1).stats_offset(1028);
    /// let e = cfg.register_error(
    ///     &on73,
    ///     zcrx_ring::Error::kernel("IORING_REGISTER_ZCRX_IFQ", Errno::INVAL),
    /// );
    /// assert_eq!(e.field(), Some("stats_offset"));
    /// ```
    pub fn register_error(&self, support: &Support, e: zcrx_ring::Error) -> Error {
        let zcrx_ring::Error::Kernel {
            errno: rustix::io::Errno::INVAL,
            ..
        } = e
        else {
            return e.into();
        };
        let Some(s) = support.available() else {
            // Before 7.2 the event descriptor's field is reserved: EINVAL.
            // With `ReceiveWithout` no descriptor was passed: not the cause.
            return match (self.fallback, support.error()) {
                (Fallback::Require, Some(missing)) => missing,
                _ => e.into(),
            };
        };
        if !s.kinds().contains(self.kinds) {
            return Error::invalid(
                TYPE_MASK,
                "refused by the kernel (EINVAL): kinds it does not support",
            );
        }
        if let StatsPlacement::At(off) = self.stats {
            // The kernel checks the offset against the stats block's own
            // alignment (what the query reports), with EINVAL.
            let align = u64::from(s.stats_alignment()).max(1);
            if off % align != 0 {
                return Error::invalid(
                    STATS_OFFSET,
                    "refused by the kernel (EINVAL): not aligned to the stats block",
                );
            }
        }
        e.into()
    }

    /// The checks of [`event_config`](Self::event_config) on a kernel with
    /// notifications.
    fn check(&self, s: &EventSupport) -> Result<()> {
        if !self.kinds.is_empty() && self.user_data >> 48 == u64::from(DEFAULT_TAG) {
            return Err(Error::invalid(
                "user_data",
                "its top 16 bits are the receive loop's tag (zcrx_ring::recv::DEFAULT_TAG): \
                 the loop would take notifications for its own completions",
            ));
        }
        let refused = self.kinds.difference(s.kinds());
        if !refused.is_empty() {
            let reason = if refused.unknown().is_empty() {
                "enables a kind the kernel does not support"
            } else {
                "has bits the kernel reserves (kinds it does not know)"
            };
            return Err(Error::invalid(TYPE_MASK, reason));
        }
        if let StatsPlacement::At(off) = self.stats {
            let align = u64::from(s.stats_alignment());
            if align.is_power_of_two() && off % align != 0 {
                return Err(Error::invalid(
                    STATS_OFFSET,
                    "not aligned to the kernel's stats_off_alignment",
                ));
            }
            if s.entries_offset().is_some_and(|entries| off < entries) {
                return Err(Error::invalid(
                    STATS_OFFSET,
                    "inside the refill ring header",
                ));
            }
        }
        Ok(())
    }
}

/// Plugs a [`NotifyConfig`] into `zcrx-ring`'s registration builder.
///
/// ```no_run
/// use zcrx_notif::{NotifyConfig, Support, ZcrxBuilderExt};
/// use zcrx_ring::{Area, Zcrx};
/// # fn demo() -> Result<(), zcrx_notif::Error> {
/// let builder = Zcrx::builder_nodev()
///     .area(Area::anonymous(16 * 4096)?)
///     .notifications(&NotifyConfig::new(1).stats(true), &Support::query())?;
/// # let _ = builder; Ok(()) }
/// ```
pub trait ZcrxBuilderExt: Sized {
    /// Checks `cfg` against `support` ([`NotifyConfig::event_config`]) and
    /// enables notifications and stats on the builder; returns it unchanged
    /// when the kernel lacks them and the fallback allows that.
    fn notifications(self, cfg: &NotifyConfig, support: &Support) -> Result<Self>;
}

impl ZcrxBuilderExt for ZcrxBuilder {
    fn notifications(self, cfg: &NotifyConfig, support: &Support) -> Result<Self> {
        Ok(match cfg.event_config(support)? {
            Some(events) => self.events(events),
            None => self,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::{MISSING_EVENTS, tests_support};
    use rustix::io::Errno;
    use zcrx_uapi::ZcrxEventMask;

    /// The descriptor the kernel receives for `cfg` placed at `stats_offset`;
    /// what `zcrx-ring` writes. Used by tests to compare with the proposal.
    fn descriptor(cfg: &NotifyConfig, stats_offset: Option<u64>) -> zcrx_event_desc {
        zcrx_event_desc {
            user_data: cfg.user_data,
            type_mask: ZcrxEventMask::from(cfg.kinds).bits(),
            flags: if stats_offset.is_some() {
                ZCRX_EVENT_DESC_FLAG_STATS
            } else {
                0
            },
            stats_offset: stats_offset.unwrap_or(0),
            ..Default::default()
        }
    }

    fn on72() -> Support {
        Support::Available(tests_support(8))
    }

    fn on73() -> Support {
        Support::Available(tests_support(128))
    }

    fn field(r: Result<impl core::fmt::Debug>) -> &'static str {
        r.unwrap_err().field().expect("an error naming a field")
    }

    #[test]
    fn produces_zcrx_rings_event_config() {
        let cfg = NotifyConfig::new(0xfeed)
            .kinds(NotificationMask::COPY_FALLBACK)
            .stats(true);
        let ev = cfg.event_config(&on73()).unwrap().unwrap();
        assert_eq!(
            ev,
            EventConfig {
                user_data: 0xfeed,
                mask: ZcrxEventMask::COPY,
                stats: StatsPlacement::Auto,
            }
        );
        // Stats without notifications, notifications without stats.
        let stats_only = NotifyConfig::stats_only()
            .event_config(&on72())
            .unwrap()
            .unwrap();
        assert!(stats_only.mask.is_empty());
        assert_eq!(stats_only.stats, StatsPlacement::Auto);
        let no_stats = NotifyConfig::new(1).event_config(&on72()).unwrap().unwrap();
        assert_eq!(no_stats.stats, StatsPlacement::None);
        assert_eq!(
            no_stats.mask,
            ZcrxEventMask::ALLOC_FAIL | ZcrxEventMask::COPY
        );
    }

    #[test]
    fn stats_are_placed_from_the_kernels_sizes() {
        let cfg = NotifyConfig::new(1).stats(true);
        let l72 = cfg.plan_region(&on72(), 64, 0).unwrap().unwrap();
        let l73 = cfg.plan_region(&on73(), 64, 0).unwrap().unwrap();
        assert_eq!(l72.stats_offset, Some(64 + 16 * 64));
        assert_eq!(l73.stats_offset, Some(128 + 16 * 64));
        // A 7.3 offset is fine on 7.2 too (it is after both).
        let explicit = NotifyConfig::new(1).stats_offset(128 + 16 * 64);
        assert!(explicit.plan_region(&on72(), 64, 0).unwrap().is_some());
        assert!(explicit.plan_region(&on73(), 64, 0).unwrap().is_some());
    }

    #[test]
    fn a_7_2_style_offset_is_refused_on_7_3_naming_the_field() {
        let cfg = NotifyConfig::new(1).stats_offset(64 + 16 * 64);
        assert!(cfg.plan_region(&on72(), 64, 0).unwrap().is_some());
        assert_eq!(field(cfg.plan_region(&on73(), 64, 0)), "stats_offset");
        // Inside the header: refused without knowing the entry count.
        let in_header = NotifyConfig::new(1).stats_offset(64);
        assert!(in_header.event_config(&on72()).is_ok());
        assert_eq!(field(in_header.event_config(&on73())), "stats_offset");
    }

    #[test]
    fn every_bad_configuration_names_its_field() {
        // Misaligned.
        let misaligned = NotifyConfig::new(1).stats_offset(128 + 16 * 64 + 4);
        assert_eq!(field(misaligned.event_config(&on73())), "stats_offset");
        // Overlapping the entries.
        let overlapping = NotifyConfig::new(1).stats_offset(128 + 16 * 63);
        assert_eq!(
            field(overlapping.plan_region(&on73(), 64, 0)),
            "stats_offset"
        );
        // Inside the header.
        assert_eq!(
            field(NotifyConfig::new(1).stats_offset(0).event_config(&on73())),
            "stats_offset"
        );
        // Outside the region (asked to be one page).
        let outside = NotifyConfig::new(1).stats_offset(4096);
        assert_eq!(
            field(outside.plan_region(&on73(), 64, 4096)),
            "stats_offset"
        );
        let last = NotifyConfig::new(1).stats_offset(4096 - 8);
        assert_eq!(field(last.plan_region(&on73(), 64, 4096)), "stats_offset");
        assert!(
            NotifyConfig::new(1)
                .stats_offset(4096 - 16)
                .plan_region(&on73(), 64, 4096)
                .unwrap()
                .is_some()
        );
        // Past the end of the address space.
        let wrapping = NotifyConfig::new(1).stats_offset(u64::MAX - 7);
        assert_eq!(field(wrapping.plan_region(&on73(), 64, 0)), "stats_offset");
        // A user_data the receive loop would take for its own.
        let tagged = NotifyConfig::new((u64::from(DEFAULT_TAG) << 48) | 7);
        assert_eq!(field(tagged.event_config(&on73())), "user_data");
        assert!(
            tagged
                .kinds(NotificationMask::empty())
                .stats(true)
                .event_config(&on73())
                .is_ok()
        );
        assert!(
            NotifyConfig::new(u64::from(DEFAULT_TAG))
                .event_config(&on73())
                .is_ok()
        );
        // Unknown kinds, reserved bits.
        let unknown = NotifyConfig::new(1).kinds(NotificationMask::from_bits_retain(1 << 2));
        assert_eq!(field(unknown.event_config(&on73())), "type_mask");
        let reserved = NotifyConfig::new(1).kinds(NotificationMask::from_bits_retain(1 << 31));
        assert_eq!(field(reserved.event_config(&on72())), "type_mask");
        // Raw descriptors: reserved flags and words, offset without flag.
        let bad_flags = zcrx_event_desc {
            flags: ZCRX_EVENT_DESC_FLAG_STATS | 2,
            ..Default::default()
        };
        assert_eq!(field(NotifyConfig::from_desc(&bad_flags)), "flags");
        let mut bad_resv = zcrx_event_desc::default();
        bad_resv.__resv2[8] = 1;
        assert_eq!(field(NotifyConfig::from_desc(&bad_resv)), "__resv2");
        let stray_offset = zcrx_event_desc {
            stats_offset: 4096,
            ..Default::default()
        };
        assert_eq!(
            field(NotifyConfig::from_desc(&stray_offset)),
            "stats_offset"
        );
    }

    #[test]
    fn a_kernel_that_supports_fewer_kinds_refuses_the_others() {
        let mut only_copy = tests_support(128);
        only_copy = EventSupport::new(
            zcrx_ring::caps::ZcrxEventCaps {
                event_flags: ZcrxEventMask::COPY,
                ..*only_copy.event_caps()
            },
            only_copy.zcrx_caps().copied(),
        );
        let support = Support::Available(only_copy);
        let e = NotifyConfig::new(1).event_config(&support).unwrap_err();
        assert_eq!(
            e,
            Error::invalid("type_mask", "enables a kind the kernel does not support")
        );
        assert!(
            NotifyConfig::new(1)
                .kinds(NotificationMask::COPY_FALLBACK)
                .event_config(&support)
                .is_ok()
        );
    }

    #[test]
    fn a_newer_kernels_kinds_are_accepted_when_it_lists_them() {
        let s = tests_support(128);
        let newer = Support::Available(EventSupport::new(
            zcrx_ring::caps::ZcrxEventCaps {
                event_flags: ZcrxEventMask::from_bits_retain(0b111),
                ..*s.event_caps()
            },
            s.zcrx_caps().copied(),
        ));
        let cfg = NotifyConfig::new(1).kinds(NotificationMask::from_bits_retain(0b111));
        assert_eq!(
            cfg.event_config(&newer).unwrap().unwrap().mask.bits(),
            0b111
        );
    }

    #[test]
    fn fallback_policies() {
        let missing = Support::Missing(MISSING_EVENTS);
        let cfg = NotifyConfig::new(1).stats(true);
        assert_eq!(
            cfg.event_config(&missing).unwrap_err(),
            Error::Unsupported(MISSING_EVENTS)
        );
        assert_eq!(
            cfg.plan_region(&missing, 64, 0).unwrap_err(),
            Error::Unsupported(MISSING_EVENTS)
        );
        let lenient = cfg.fallback(Fallback::ReceiveWithout);
        assert_eq!(lenient.event_config(&missing).unwrap(), None);
        assert_eq!(lenient.plan_region(&missing, 64, 0).unwrap(), None);
        let failed = Support::QueryFailed(Errno::FAULT);
        assert_eq!(
            cfg.event_config(&failed).unwrap_err().errno(),
            Some(Errno::FAULT)
        );
        assert_eq!(lenient.event_config(&failed).unwrap(), None);
        // The checks still apply when the kernel has notifications.
        let bad = lenient.stats_offset(3);
        assert_eq!(field(bad.event_config(&on72())), "stats_offset");
    }

    #[test]
    fn kernel_refusals_are_interpreted() {
        let inval = zcrx_ring::Error::kernel("IORING_REGISTER_ZCRX_IFQ", Errno::INVAL);
        let misaligned = NotifyConfig::new(1).stats_offset(1028);
        assert_eq!(
            misaligned.register_error(&on73(), inval).field(),
            Some("stats_offset")
        );
        let unknown = NotifyConfig::new(1).kinds(NotificationMask::from_bits_retain(4));
        assert_eq!(
            unknown.register_error(&on73(), inval).field(),
            Some("type_mask")
        );
        let missing = Support::Missing(MISSING_EVENTS);
        assert_eq!(
            NotifyConfig::new(1).register_error(&missing, inval),
            Error::Unsupported(MISSING_EVENTS)
        );
        // Registered without notifications: their absence is not the cause.
        let lenient = NotifyConfig::new(1).fallback(Fallback::ReceiveWithout);
        assert_eq!(lenient.register_error(&missing, inval), Error::Ring(inval));
        // EINVAL this configuration does not explain stays a kernel error.
        assert_eq!(
            NotifyConfig::new(1).register_error(&on73(), inval),
            Error::Ring(inval)
        );
        // ERANGE arrives from zcrx-ring already named.
        let erange = zcrx_ring::Error::invalid("stats_offset", "the kernel refused it (ERANGE)");
        assert_eq!(
            NotifyConfig::new(1).register_error(&on73(), erange).field(),
            Some("stats_offset")
        );
        let perm = zcrx_ring::Error::PermissionDenied {
            op: "IORING_REGISTER_ZCRX_IFQ",
            capability: "CAP_NET_ADMIN",
        };
        assert_eq!(
            NotifyConfig::new(1).register_error(&on73(), perm),
            Error::Ring(perm)
        );
    }

    #[test]
    fn raw_descriptors_round_trip() {
        let cfg = NotifyConfig::new(0xabc)
            .kinds(NotificationMask::NO_BUFFERS)
            .stats_offset(2048);
        let desc = descriptor(&cfg, Some(2048));
        assert_eq!(NotifyConfig::from_desc(&desc).unwrap(), cfg);
        let desc = descriptor(&NotifyConfig::new(5), None);
        assert_eq!(
            NotifyConfig::from_desc(&desc).unwrap(),
            NotifyConfig::new(5)
        );
        // The proposal's descriptor is the same struct; its mask values are
        // the same bits.
        #[allow(deprecated)]
        let seed: zcrx_uapi::seed::zcrx_notification_desc = zcrx_event_desc {
            type_mask: 0b10,
            ..Default::default()
        };
        assert_eq!(
            NotifyConfig::from_desc(&seed).unwrap().enabled_kinds(),
            NotificationMask::COPY_FALLBACK
        );
    }

    #[test]
    fn the_builder_extension_plugs_in() {
        let builder = zcrx_ring::Zcrx::builder_nodev();
        let cfg = NotifyConfig::new(1);
        assert!(builder.notifications(&cfg, &on73()).is_ok());
        let builder = zcrx_ring::Zcrx::builder_nodev();
        assert!(
            builder
                .notifications(&cfg, &Support::Missing(MISSING_EVENTS))
                .unwrap_err()
                .is_unsupported()
        );
        let builder = zcrx_ring::Zcrx::builder_nodev();
        let lenient = cfg.fallback(Fallback::ReceiveWithout);
        assert!(
            builder
                .notifications(&lenient, &Support::Missing(MISSING_EVENTS))
                .is_ok()
        );
    }
}
