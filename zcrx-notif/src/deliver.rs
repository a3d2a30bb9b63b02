//! Telling notification completions apart and turning them into
//! [`Notification`]s.
//!
//! The kernel posts a notification as an ordinary completion on the ring
//! the instance was registered with: `user_data` is the configured one,
//! `res` the kind's index (not the proposal's mask bit), `flags` 0. The
//! [`Notifier`] recognises them by `user_data` alone, so choose a value no
//! submission uses; everything else, including a completion with that
//! `user_data` but a negative `res` (which no kernel posts for a
//! notification), passes through untouched.
//!
//! It works on the three numbers of any completion
//! ([`Notifier::classify`]) or on any type that exposes them
//! ([`RawCompletion`], [`Notifier::route`]), so it does not depend on which
//! ring or receive loop delivers them.
//!
//! ```
//! use zcrx_notif::{Delivery, NotificationKind, Notifier, NotifyConfig, Support};
//!
//! let support = Support::Available(zcrx_notif::support::tests_support(128));
//! let mut notifier = Notifier::new(&NotifyConfig::new(0xfeed), &support);
//!
//! // (user_data, res, flags) as read from the completion ring.
//! let completions = [(7u64, 4096i32, 2u32), (0xfeed, 1, 0)];
//! for c in completions {
//!     match notifier.route(c) {
//!         Delivery::Notification(n) => assert_eq!(n.kind, NotificationKind::CopyFallback),
//!         Delivery::Other(c) => assert_eq!(c.0, 7), // data: hand it to the receive loop
//!     }
//! }
//! ```

use core::time::Duration;

use zcrx_uapi::io_uring_cqe;

use crate::arm::RearmPolicy;
use crate::config::NotifyConfig;
use crate::error::Error;
use crate::kind::{NotificationKind, NotificationMask};
use crate::support::Support;

/// A notification, decoded from its completion.
///
/// ```
/// use zcrx_notif::{NotificationKind, Notifier, NotifyConfig, Support};
///
/// let support = Support::Available(zcrx_notif::support::tests_support(8));
/// let mut notifier = Notifier::new(&NotifyConfig::new(1), &support);
/// let n = notifier.classify(1, 0, 0).unwrap();
/// assert_eq!(n.kind, NotificationKind::NoBuffers);
/// assert_eq!(n.flags, 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Notification {
    /// What happened (from the completion's `res`, the kernel's index).
    pub kind: NotificationKind,
    /// The completion's `IORING_CQE_F_*` flags, as posted (0 on Linux 7.2
    /// and 7.3).
    pub flags: u32,
}

/// A completion after [`Notifier::route`]: a notification, or the
/// completion itself, untouched.
///
/// ```
/// use zcrx_notif::Delivery;
/// let d: Delivery<(u64, i32, u32)> = Delivery::Other((1, 2, 3));
/// assert_eq!(d.other(), Some((1, 2, 3)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery<C> {
    /// A notification of this instance.
    Notification(Notification),
    /// Any other completion (data, or another operation's), unchanged.
    Other(C),
}

impl<C> Delivery<C> {
    /// The notification, if it is one.
    ///
    /// ```
    /// use zcrx_notif::Delivery;
    /// assert!(Delivery::Other(()).notification().is_none());
    /// ```
    pub fn notification(&self) -> Option<Notification> {
        match self {
            Delivery::Notification(n) => Some(*n),
            Delivery::Other(_) => None,
        }
    }

    /// The passed-through completion, if it is not a notification.
    ///
    /// ```
    /// use zcrx_notif::Delivery;
    /// assert_eq!(Delivery::Other(5).other(), Some(5));
    /// ```
    pub fn other(self) -> Option<C> {
        match self {
            Delivery::Notification(_) => None,
            Delivery::Other(c) => Some(c),
        }
    }
}

/// The three numbers of a completion that classification needs.
///
/// Implemented for the kernel's [`io_uring_cqe`], for `(user_data, res,
/// flags)` tuples and for references; implement it for a ring's own
/// completion type to use [`Notifier::route`] with it.
///
/// ```
/// use zcrx_notif::RawCompletion;
/// use zcrx_uapi::io_uring_cqe;
///
/// let cqe = io_uring_cqe { user_data: 9, res: 1, flags: 0 };
/// assert_eq!((cqe.user_data(), cqe.res(), cqe.flags()), (9, 1, 0));
/// ```
pub trait RawCompletion {
    /// The completion's `user_data`.
    fn user_data(&self) -> u64;
    /// Its `res`.
    fn res(&self) -> i32;
    /// Its `IORING_CQE_F_*` flags.
    fn flags(&self) -> u32;
}

impl RawCompletion for io_uring_cqe {
    fn user_data(&self) -> u64 {
        self.user_data
    }
    fn res(&self) -> i32 {
        self.res
    }
    fn flags(&self) -> u32 {
        self.flags
    }
}

impl RawCompletion for (u64, i32, u32) {
    fn user_data(&self) -> u64 {
        self.0
    }
    fn res(&self) -> i32 {
        self.1
    }
    fn flags(&self) -> u32 {
        self.2
    }
}

impl RawCompletion for zcrx_ring::Completion {
    fn user_data(&self) -> u64 {
        self.user_data
    }
    fn res(&self) -> i32 {
        self.res
    }
    fn flags(&self) -> u32 {
        self.flags.bits()
    }
}

impl<T: RawCompletion + ?Sized> RawCompletion for &T {
    fn user_data(&self) -> u64 {
        (**self).user_data()
    }
    fn res(&self) -> i32 {
        (**self).res()
    }
    fn flags(&self) -> u32 {
        (**self).flags()
    }
}

/// Notifications of one ZCRX instance: recognises their completions, keeps
/// track of which kinds have fired, and re-arms them
/// ([`arm`](Self::arm), [`service`](Self::service)).
///
/// Build it from the same [`NotifyConfig`] and [`Support`] the instance was
/// registered with. One notifier per instance; it is plain data (no system
/// call happens without a target to arm).
///
/// # On a kernel without notifications
///
/// With [`Fallback::ReceiveWithout`](crate::Fallback::ReceiveWithout) on a
/// kernel that lacks them, the notifier is *inactive*:
/// [`is_active`](Self::is_active) is false and [`unavailable`](Self::unavailable)
/// says why; [`classify`](Self::classify) recognises nothing (every
/// completion passes through); [`arm`](Self::arm) fails with that reason;
/// [`arm_mask`](Self::arm_mask) and [`service`](Self::service) arm nothing
/// and succeed.
///
/// ```
/// use zcrx_notif::{Fallback, Notifier, NotifyConfig, Support};
///
/// let cfg = NotifyConfig::new(1).fallback(Fallback::ReceiveWithout);
/// let notifier = Notifier::new(&cfg, &Support::Missing(zcrx_notif::support::MISSING_EVENTS));
/// assert!(!notifier.is_active());
/// assert!(notifier.unavailable().unwrap().is_unsupported());
/// ```
#[derive(Clone, Debug)]
pub struct Notifier {
    pub(crate) user_data: u64,
    pub(crate) enabled: NotificationMask,
    /// The kinds the kernel knows (its `event_flags`).
    pub(crate) kernel_kinds: NotificationMask,
    /// Why the notifier is inactive, if it is.
    pub(crate) unavailable: Option<Error>,
    pub(crate) policy: RearmPolicy,
    /// Kinds whose notification has been seen and that were not re-armed
    /// since: the kernel keeps them silent.
    pub(crate) fired: NotificationMask,
    /// When each fired kind's notification was seen (monotonic clock);
    /// read only with [`RearmPolicy::AfterInterval`].
    pub(crate) seen_at: [Duration; 32],
    pub(crate) clock: fn() -> Duration,
}

impl Notifier {
    /// The notifier of an instance registered with `cfg` on a kernel that
    /// answered `support`. Every enabled kind starts armed, as in the
    /// kernel.
    ///
    /// ```
    /// use zcrx_notif::{NotificationMask, Notifier, NotifyConfig, Support};
    /// let support = Support::Available(zcrx_notif::support::tests_support(128));
    /// let n = Notifier::new(&NotifyConfig::new(1), &support);
    /// assert_eq!(n.armed(), NotificationMask::all());
    /// ```
    pub fn new(cfg: &NotifyConfig, support: &Support) -> Self {
        let (enabled, kernel_kinds) = match support.available() {
            Some(s) => (cfg.enabled_kinds(), s.kinds()),
            None => (NotificationMask::empty(), NotificationMask::empty()),
        };
        Self {
            user_data: cfg.user_data_value(),
            enabled,
            kernel_kinds,
            unavailable: support.error(),
            policy: cfg.rearm_policy(),
            fired: NotificationMask::empty(),
            seen_at: [Duration::ZERO; 32],
            clock: crate::monotonic_now,
        }
    }

    /// Whether notifications are on (the kernel has them).
    ///
    /// ```
    /// # use zcrx_notif::{Notifier, NotifyConfig, Support};
    /// # let support = Support::Available(zcrx_notif::support::tests_support(8));
    /// assert!(Notifier::new(&NotifyConfig::new(1), &support).is_active());
    /// ```
    pub fn is_active(&self) -> bool {
        self.unavailable.is_none()
    }

    /// Why the notifier is inactive ([`Error::Unsupported`] naming what the
    /// kernel lacks), or `None` if it is active.
    ///
    /// ```
    /// # use zcrx_notif::{Notifier, NotifyConfig, Support};
    /// # let support = Support::Available(zcrx_notif::support::tests_support(8));
    /// assert!(Notifier::new(&NotifyConfig::new(1), &support).unavailable().is_none());
    /// ```
    pub fn unavailable(&self) -> Option<Error> {
        self.unavailable
    }

    /// The `user_data` of notification completions.
    ///
    /// ```
    /// # use zcrx_notif::{Notifier, NotifyConfig, Support};
    /// # let support = Support::Available(zcrx_notif::support::tests_support(8));
    /// assert_eq!(Notifier::new(&NotifyConfig::new(42), &support).user_data(), 42);
    /// ```
    pub fn user_data(&self) -> u64 {
        self.user_data
    }

    /// The kinds enabled at registration (empty when inactive).
    ///
    /// ```
    /// # use zcrx_notif::{NotificationMask, Notifier, NotifyConfig, Support};
    /// # let support = Support::Available(zcrx_notif::support::tests_support(8));
    /// let cfg = NotifyConfig::new(1).kinds(NotificationMask::COPY_FALLBACK);
    /// assert_eq!(Notifier::new(&cfg, &support).enabled(), NotificationMask::COPY_FALLBACK);
    /// ```
    pub fn enabled(&self) -> NotificationMask {
        self.enabled
    }

    /// The kinds seen fired and not re-armed since (the kernel keeps them
    /// silent until they are).
    ///
    /// ```
    /// # use zcrx_notif::{NotificationMask, Notifier, NotifyConfig, Support};
    /// # let support = Support::Available(zcrx_notif::support::tests_support(8));
    /// let mut n = Notifier::new(&NotifyConfig::new(1), &support);
    /// n.classify(1, 1, 0);
    /// assert_eq!(n.fired(), NotificationMask::COPY_FALLBACK);
    /// ```
    pub fn fired(&self) -> NotificationMask {
        self.fired
    }

    /// The enabled kinds that can fire now (not seen fired since they were
    /// last armed).
    ///
    /// ```
    /// # use zcrx_notif::{NotificationMask, Notifier, NotifyConfig, Support};
    /// # let support = Support::Available(zcrx_notif::support::tests_support(8));
    /// let mut n = Notifier::new(&NotifyConfig::new(1), &support);
    /// n.classify(1, 1, 0);
    /// assert_eq!(n.armed(), NotificationMask::NO_BUFFERS);
    /// ```
    pub fn armed(&self) -> NotificationMask {
        self.enabled.difference(self.fired)
    }

    /// The re-arm policy.
    ///
    /// ```
    /// # use zcrx_notif::{Notifier, NotifyConfig, RearmPolicy, Support};
    /// # let support = Support::Available(zcrx_notif::support::tests_support(8));
    /// assert_eq!(Notifier::new(&NotifyConfig::new(1), &support).policy(), RearmPolicy::Manual);
    /// ```
    pub fn policy(&self) -> RearmPolicy {
        self.policy
    }

    /// Whether a completion with this `user_data` is one of this
    /// instance's notifications (always false when inactive).
    ///
    /// ```
    /// # use zcrx_notif::{Notifier, NotifyConfig, Support};
    /// # let support = Support::Available(zcrx_notif::support::tests_support(8));
    /// let n = Notifier::new(&NotifyConfig::new(0xfeed), &support);
    /// assert!(n.is_notification(0xfeed) && !n.is_notification(1));
    /// ```
    pub fn is_notification(&self, user_data: u64) -> bool {
        self.is_active() && user_data == self.user_data
    }

    /// Decodes a completion: `Some` notification if it is one of this
    /// instance's (recording its kind as fired, so that it can be re-armed),
    /// `None` for any other completion, which the caller handles as before.
    ///
    /// A kind this crate does not know comes out as
    /// [`NotificationKind::Unknown`] with its index; it is tracked and
    /// re-armed like the others if its index fits a 32-bit mask.
    ///
    /// ```
    /// use zcrx_notif::{NotificationKind, Notifier, NotifyConfig, Support};
    /// let support = Support::Available(zcrx_notif::support::tests_support(8));
    /// let mut n = Notifier::new(&NotifyConfig::new(0xfeed), &support);
    /// assert_eq!(n.classify(0xfeed, 5, 0).unwrap().kind, NotificationKind::Unknown(5));
    /// assert!(n.classify(0xfeed, -22, 0).is_none()); // not a notification
    /// assert!(n.classify(3, 1, 0).is_none());
    /// ```
    pub fn classify(&mut self, user_data: u64, res: i32, flags: u32) -> Option<Notification> {
        if !self.is_notification(user_data) {
            return None;
        }
        let kind = NotificationKind::from_res(res)?;
        if let Some(bit) = kind.mask() {
            self.fired |= bit;
            if let RearmPolicy::AfterInterval(_) = self.policy {
                // Below 32: the mask bit exists.
                self.seen_at[kind.index() as usize] = (self.clock)();
            }
        }
        Some(Notification { kind, flags })
    }

    /// [`classify`](Self::classify) for any completion type: the
    /// notification, or the completion given back untouched.
    ///
    /// ```
    /// use zcrx_notif::{Delivery, Notifier, NotifyConfig, Support};
    /// use zcrx_uapi::io_uring_cqe;
    ///
    /// let support = Support::Available(zcrx_notif::support::tests_support(8));
    /// let mut n = Notifier::new(&NotifyConfig::new(0xfeed), &support);
    /// let data = io_uring_cqe { user_data: 1, res: 100, flags: 2 };
    /// assert_eq!(n.route(data), Delivery::Other(data));
    /// ```
    pub fn route<C: RawCompletion>(&mut self, completion: C) -> Delivery<C> {
        match self.classify(completion.user_data(), completion.res(), completion.flags()) {
            Some(n) => Delivery::Notification(n),
            None => Delivery::Other(completion),
        }
    }

    /// [`route`](Self::route) for an event of `zcrx-ring`'s receive loop:
    /// a notification arrives as [`Recv::Other`](zcrx_ring::Recv::Other)
    /// and comes out as [`Delivery::Notification`]; every other event (data,
    /// end of stream, other completions) is given back untouched.
    ///
    /// The receive loop claims every completion whose top 16 `user_data`
    /// bits are its tag ([`zcrx_ring::recv::DEFAULT_TAG`] unless chosen
    /// with `Receiver::with_tag`): the notifications' `user_data` must not
    /// carry it ([`NotifyConfig::event_config`] refuses the default tag).
    ///
    /// ```no_run
    /// use zcrx_notif::{Delivery, Notifier};
    /// use zcrx_ring::{Receiver, Recv};
    /// # fn demo(rx: &mut Receiver<'_>, notifier: &mut Notifier) -> zcrx_ring::Result<()> {
    /// match notifier.route_event(rx.recv()?) {
    ///     Delivery::Notification(n) => println!("{}", n.kind),
    ///     Delivery::Other(Recv::Data { buf, .. }) => println!("{} bytes", buf.len()),
    ///     Delivery::Other(other) => println!("{other:?}"),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn route_event<'z>(&mut self, event: zcrx_ring::Recv<'z>) -> Delivery<zcrx_ring::Recv<'z>> {
        match event {
            zcrx_ring::Recv::Other(c) => match self.route(c) {
                Delivery::Notification(n) => Delivery::Notification(n),
                Delivery::Other(c) => Delivery::Other(zcrx_ring::Recv::Other(c)),
            },
            other => Delivery::Other(other),
        }
    }

    /// Replaces the clock (tests of the re-arm policy).
    #[cfg(test)]
    pub(crate) fn with_clock(mut self, clock: fn() -> Duration) -> Self {
        self.clock = clock;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Fallback;
    use crate::support::{MISSING_EVENTS, tests_support};

    fn notifier(user_data: u64) -> Notifier {
        Notifier::new(
            &NotifyConfig::new(user_data),
            &Support::Available(tests_support(128)),
        )
    }

    #[test]
    fn notifications_are_told_apart_by_user_data() {
        let mut n = notifier(0xfeed);
        // Data of RECV_ZC: F_MORE, a byte count.
        assert_eq!(
            n.route((1u64, 4096i32, 2u32)),
            Delivery::Other((1, 4096, 2))
        );
        // Errors of other operations, with any user_data.
        assert_eq!(
            n.route((2u64, -105i32, 0u32)),
            Delivery::Other((2, -105, 0))
        );
        // Ours.
        assert_eq!(
            n.route((0xfeed_u64, 1i32, 0u32)),
            Delivery::Notification(Notification {
                kind: NotificationKind::CopyFallback,
                flags: 0
            })
        );
        assert_eq!(
            n.route((0xfeed_u64, 0i32, 0u32))
                .notification()
                .unwrap()
                .kind,
            NotificationKind::NoBuffers
        );
        assert_eq!(n.fired(), NotificationMask::all());
        // Our user_data with a negative res is not a notification.
        assert_eq!(
            n.route((0xfeed_u64, -22i32, 0u32)),
            Delivery::Other((0xfeed, -22, 0))
        );
    }

    #[test]
    fn unknown_kinds_are_delivered_and_tracked() {
        let mut n = notifier(9);
        let u = n.classify(9, 2, 0).unwrap();
        assert_eq!(u.kind, NotificationKind::Unknown(2));
        assert_eq!(n.fired().bits(), 1 << 2);
        // Beyond a 32-bit mask: delivered, not tracked.
        let far = n.classify(9, 40, 0).unwrap();
        assert_eq!(far.kind.index(), 40);
        assert_eq!(n.fired().bits(), 1 << 2);
        let max = n.classify(9, i32::MAX, 0).unwrap();
        assert_eq!(max.kind, NotificationKind::Unknown(i32::MAX as u32));
    }

    #[test]
    fn flags_are_kept() {
        let mut n = notifier(9);
        assert_eq!(n.classify(9, 1, 0x8000).unwrap().flags, 0x8000);
    }

    #[test]
    fn an_inactive_notifier_passes_everything_through() {
        let cfg = NotifyConfig::new(9).fallback(Fallback::ReceiveWithout);
        let mut n = Notifier::new(&cfg, &Support::Missing(MISSING_EVENTS));
        assert!(!n.is_active());
        assert_eq!(n.unavailable(), Some(Error::Unsupported(MISSING_EVENTS)));
        assert_eq!(n.route((9u64, 1i32, 0u32)), Delivery::Other((9, 1, 0)));
        assert!(n.fired().is_empty() && n.enabled().is_empty() && n.armed().is_empty());
    }

    #[test]
    fn ring_completions_and_receiver_events_route() {
        let mut n = notifier(5);
        let c = zcrx_ring::Completion {
            user_data: 5,
            res: 1,
            flags: zcrx_uapi::CqeFlags::empty(),
            big: Some([0, 0]),
        };
        assert_eq!(
            n.route(c).notification().unwrap().kind,
            NotificationKind::CopyFallback
        );
        let ev = n.route_event(zcrx_ring::Recv::Other(c));
        assert_eq!(
            ev.notification().unwrap().kind,
            NotificationKind::CopyFallback
        );
        let other = zcrx_ring::Completion { user_data: 6, ..c };
        match n.route_event(zcrx_ring::Recv::Other(other)) {
            Delivery::Other(zcrx_ring::Recv::Other(back)) => assert_eq!(back, other),
            d => panic!("{d:?}"),
        }
        let more = zcrx_ring::Completion {
            flags: zcrx_uapi::CqeFlags::MORE,
            ..c
        };
        assert_eq!(
            n.route(more).notification().unwrap().flags,
            zcrx_uapi::CqeFlags::MORE.bits()
        );
        assert!(matches!(
            n.route_event(zcrx_ring::Recv::BuffersExhausted),
            Delivery::Other(zcrx_ring::Recv::BuffersExhausted)
        ));
    }

    #[test]
    fn kernel_cqes_route() {
        let mut n = notifier(5);
        let cqe = io_uring_cqe {
            user_data: 5,
            res: 1,
            flags: 0,
        };
        assert!(n.route(&cqe).notification().is_some());
        let other = io_uring_cqe {
            user_data: 6,
            ..cqe
        };
        assert_eq!(n.route(&other), Delivery::Other(&other));
    }
}
