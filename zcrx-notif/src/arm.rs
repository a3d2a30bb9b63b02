//! Re-arming fired notification kinds.
//!
//! Notifications are one-shot per kind: once the kernel posts a kind, it
//! stays silent about it until userspace re-arms it with
//! `ZCRX_CTRL_ARM_EVENT` (one kind per call; the proposal's
//! `ZCRX_CTRL_ARM_NOTIFICATION` took a mask). Every enabled kind starts
//! armed at registration. The kernel refuses to arm a kind that has not
//! fired with a bare `EINVAL`; the [`Notifier`] keeps track of what fired
//! (every notification it [classifies](Notifier::classify)) and answers
//! [`Error::NotFired`] before any system call, and maps the kernel's
//! `EINVAL` to the same error if its view was out of date.
//!
//! "Fired" here means *seen*: the kernel marks a kind fired when it queues
//! the notification, and the completion reaches the ring a little later
//! (it is posted as task work). Until the completion has been classified,
//! [`Notifier::arm`] answers [`Error::NotFired`];
//! [`Notifier::arm_unchecked`] asks the kernel regardless.
//!
//! # Re-arm policies
//!
//! The notifier can re-arm fired kinds on its own, when the receive loop
//! calls [`Notifier::service`] (typically once per loop iteration, before
//! waiting):
//!
//! - [`RearmPolicy::Manual`] (default): never; call [`Notifier::arm`] or
//!   [`Notifier::arm_mask`].
//! - [`RearmPolicy::Immediately`]: every fired kind, at the next
//!   `service`: at most one notification per kind per loop iteration. On a
//!   `NODEV` instance copy-fallback then fires on every batch of data.
//! - [`RearmPolicy::AfterInterval`]: a fired kind once the interval has
//!   passed since its notification was seen: at most one notification per
//!   kind per interval. [`Notifier::next_rearm`] tells how long a wait may
//!   last before the next re-arm is due.
//!
//! ```no_run
//! use core::time::Duration;
//! use zcrx_notif::{Notifier, NotifyConfig, RearmPolicy, Support};
//! # fn demo(zcrx: &zcrx_ring::Zcrx, completions: &[(u64, i32, u32)]) -> Result<(), zcrx_notif::Error> {
//! let cfg = NotifyConfig::new(0xfeed).rearm(RearmPolicy::AfterInterval(Duration::from_secs(1)));
//! let mut notifier = Notifier::new(&cfg, &Support::query());
//! for &(user_data, res, flags) in completions {
//!     if let Some(n) = notifier.classify(user_data, res, flags) {
//!         println!("{}", n.kind);
//!     }
//! }
//! notifier.service(zcrx)?; // re-arms what is due
//! # Ok(()) }
//! ```

use core::time::Duration;

use rustix::io::Errno;
use zcrx_uapi::abi::KernelVersion;

use crate::deliver::Notifier;
use crate::error::{Error, Result};
use crate::kind::{NotificationKind, NotificationMask};

/// How a [`Notifier`] re-arms fired kinds (see the [module docs](self)).
///
/// ```
/// use core::time::Duration;
/// use zcrx_notif::RearmPolicy;
/// assert_eq!(RearmPolicy::default(), RearmPolicy::Manual);
/// let limited = RearmPolicy::AfterInterval(Duration::from_millis(500));
/// # let _ = limited;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RearmPolicy {
    /// Only when asked ([`Notifier::arm`], [`Notifier::arm_mask`]).
    #[default]
    Manual,
    /// At the next [`Notifier::service`] after the notification was seen.
    Immediately,
    /// At the first [`Notifier::service`] at least this long after the
    /// notification was seen (monotonic clock).
    AfterInterval(Duration),
}

/// Something that can issue `ZCRX_CTRL_ARM_EVENT`: a registered
/// [`Zcrx`](zcrx_ring::Zcrx) instance (or a stand-in in tests).
///
/// ```
/// use zcrx_notif::ArmEvent;
///
/// struct Log;
/// impl ArmEvent for Log {
///     fn arm_event(&self, event_type: u32) -> zcrx_ring::Result<()> {
///         println!("arm {event_type}");
///         Ok(())
///     }
/// }
/// ```
pub trait ArmEvent {
    /// Re-arms the kernel's event type `event_type` (an index); the
    /// kernel's refusal comes back as [`zcrx_ring::Error::Kernel`].
    fn arm_event(&self, event_type: u32) -> zcrx_ring::Result<()>;
}

impl ArmEvent for zcrx_ring::Zcrx {
    fn arm_event(&self, event_type: u32) -> zcrx_ring::Result<()> {
        zcrx_ring::Zcrx::arm_event(self, event_type)
    }
}

impl<T: ArmEvent + ?Sized> ArmEvent for &T {
    fn arm_event(&self, event_type: u32) -> zcrx_ring::Result<()> {
        (**self).arm_event(event_type)
    }
}

impl Notifier {
    /// Re-arms one fired kind.
    ///
    /// Refused before any system call: [`Error::Unsupported`] when the
    /// notifier is inactive; [`Error::UnknownKind`] for a kind the kernel
    /// does not know; [`Error::NotEnabled`] for a kind not enabled at
    /// registration; [`Error::NotFired`] for a kind not seen fired since it
    /// was last armed. The kernel's `EINVAL` (it had not fired after all)
    /// becomes [`Error::NotFired`] too, and the kind counts as armed.
    ///
    /// ```
    /// use zcrx_notif::{ArmEvent, Error, NotificationKind, Notifier, NotifyConfig, Support};
    /// # struct Kernel; impl ArmEvent for Kernel { fn arm_event(&self, _: u32) -> zcrx_ring::Result<()> { Ok(()) } }
    /// let support = Support::Available(zcrx_notif::support::tests_support(128));
    /// let mut n = Notifier::new(&NotifyConfig::new(1), &support);
    /// let zcrx = Kernel; // a zcrx_ring::Zcrx in real code
    /// assert_eq!(
    ///     n.arm(&zcrx, NotificationKind::NoBuffers),
    ///     Err(Error::NotFired(NotificationKind::NoBuffers))
    /// );
    /// n.classify(1, 1, 0); // copy-fallback seen
    /// n.arm(&zcrx, NotificationKind::CopyFallback)?;
    /// # Ok::<(), Error>(())
    /// ```
    pub fn arm(&mut self, target: &impl ArmEvent, kind: NotificationKind) -> Result<()> {
        if let Some(e) = self.unavailable {
            return Err(e);
        }
        if !self.kernel_kinds.has(kind) {
            return Err(Error::UnknownKind(kind));
        }
        if !self.enabled.has(kind) {
            return Err(Error::NotEnabled(kind));
        }
        if !self.fired.has(kind) {
            return Err(Error::NotFired(kind));
        }
        self.arm_in_kernel(target, kind)
    }

    /// Asks the kernel to re-arm `kind` whatever this notifier has seen
    /// (for a notification queued but not yet delivered, or to watch the
    /// kernel refuse). Its `EINVAL` becomes [`Error::UnknownKind`] for a
    /// kind it does not know and [`Error::NotFired`] otherwise.
    ///
    /// ```
    /// use rustix::io::Errno;
    /// use zcrx_notif::{ArmEvent, Error, NotificationKind, Notifier, NotifyConfig, Support};
    /// struct Kernel;
    /// impl ArmEvent for Kernel {
    ///     fn arm_event(&self, _: u32) -> zcrx_ring::Result<()> {
    ///         Err(zcrx_ring::Error::kernel("IORING_REGISTER_ZCRX_CTRL", Errno::INVAL))
    ///     }
    /// }
    /// let support = Support::Available(zcrx_notif::support::tests_support(128));
    /// let mut n = Notifier::new(&NotifyConfig::new(1), &support);
    /// assert_eq!(
    ///     n.arm_unchecked(&Kernel, NotificationKind::NoBuffers),
    ///     Err(Error::NotFired(NotificationKind::NoBuffers))
    /// );
    /// ```
    pub fn arm_unchecked(&mut self, target: &impl ArmEvent, kind: NotificationKind) -> Result<()> {
        self.arm_in_kernel(target, kind)
    }

    /// Re-arms every kind of `mask` that has fired; kinds that have not
    /// are left alone (no error). Returns the kinds re-armed. A kind the
    /// kernel reports as not fired (re-armed by another handle) is left out
    /// of the result and counts as armed; any other failure stops there and
    /// is returned (the kinds re-armed before it stay re-armed).
    ///
    /// This is the proposal's `ZCRX_CTRL_ARM_NOTIFICATION` with a mask, as
    /// one `ZCRX_CTRL_ARM_EVENT` per kind.
    ///
    /// ```
    /// use zcrx_notif::{ArmEvent, NotificationMask, Notifier, NotifyConfig, Support};
    /// # struct Kernel; impl ArmEvent for Kernel { fn arm_event(&self, _: u32) -> zcrx_ring::Result<()> { Ok(()) } }
    /// let support = Support::Available(zcrx_notif::support::tests_support(128));
    /// let mut n = Notifier::new(&NotifyConfig::new(1), &support);
    /// n.classify(1, 1, 0);
    /// assert_eq!(n.arm_mask(&Kernel, NotificationMask::all())?, NotificationMask::COPY_FALLBACK);
    /// assert_eq!(n.arm_mask(&Kernel, NotificationMask::all())?, NotificationMask::empty());
    /// # Ok::<(), zcrx_notif::Error>(())
    /// ```
    pub fn arm_mask(
        &mut self,
        target: &impl ArmEvent,
        mask: NotificationMask,
    ) -> Result<NotificationMask> {
        let mut armed = NotificationMask::empty();
        for kind in (mask & self.fired).kinds() {
            match self.arm_in_kernel(target, kind) {
                Ok(()) => armed |= NotificationMask::of(kind),
                Err(Error::NotFired(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(armed)
    }

    /// Re-arms what the [`RearmPolicy`] says is due now; returns the kinds
    /// re-armed. Nothing with [`RearmPolicy::Manual`] or when inactive.
    /// Call it from the receive loop, before waiting.
    ///
    /// ```
    /// use zcrx_notif::{ArmEvent, NotificationMask, Notifier, NotifyConfig, RearmPolicy, Support};
    /// # struct Kernel; impl ArmEvent for Kernel { fn arm_event(&self, _: u32) -> zcrx_ring::Result<()> { Ok(()) } }
    /// let support = Support::Available(zcrx_notif::support::tests_support(128));
    /// let cfg = NotifyConfig::new(1).rearm(RearmPolicy::Immediately);
    /// let mut n = Notifier::new(&cfg, &support);
    /// n.classify(1, 1, 0);
    /// assert_eq!(n.service(&Kernel)?, NotificationMask::COPY_FALLBACK);
    /// # Ok::<(), zcrx_notif::Error>(())
    /// ```
    pub fn service(&mut self, target: &impl ArmEvent) -> Result<NotificationMask> {
        let due = match self.policy {
            RearmPolicy::Manual => return Ok(NotificationMask::empty()),
            RearmPolicy::Immediately => self.fired,
            RearmPolicy::AfterInterval(interval) => {
                if self.fired.is_empty() {
                    return Ok(NotificationMask::empty());
                }
                let now = (self.clock)();
                self.fired
                    .kinds()
                    .filter(|k| self.seen_at[k.index() as usize].saturating_add(interval) <= now)
                    .collect()
            }
        };
        self.arm_mask(target, due)
    }

    /// How long until [`service`](Self::service) has something to re-arm:
    /// `None` if nothing is pending (or the policy is
    /// [`Manual`](RearmPolicy::Manual)), `Some(Duration::ZERO)` if
    /// something is due now. Bounds a receive loop's wait.
    ///
    /// ```
    /// # use zcrx_notif::{Notifier, NotifyConfig, RearmPolicy, Support};
    /// # let support = Support::Available(zcrx_notif::support::tests_support(128));
    /// let cfg = NotifyConfig::new(1).rearm(RearmPolicy::Immediately);
    /// let mut n = Notifier::new(&cfg, &support);
    /// assert_eq!(n.next_rearm(), None);
    /// n.classify(1, 1, 0);
    /// assert_eq!(n.next_rearm(), Some(core::time::Duration::ZERO));
    /// ```
    pub fn next_rearm(&self) -> Option<Duration> {
        if self.fired.is_empty() {
            return None;
        }
        match self.policy {
            RearmPolicy::Manual => None,
            RearmPolicy::Immediately => Some(Duration::ZERO),
            RearmPolicy::AfterInterval(interval) => {
                let now = (self.clock)();
                self.fired
                    .kinds()
                    .map(|k| {
                        self.seen_at[k.index() as usize]
                            .saturating_add(interval)
                            .saturating_sub(now)
                    })
                    .min()
            }
        }
    }

    /// One `ZCRX_CTRL_ARM_EVENT`, its answer mapped, the local state kept in
    /// step with the kernel's.
    fn arm_in_kernel(&mut self, target: &impl ArmEvent, kind: NotificationKind) -> Result<()> {
        if let Some(e) = self.unavailable {
            return Err(e);
        }
        let bit = NotificationMask::of(kind);
        match target.arm_event(kind.index()) {
            Ok(()) => {
                self.fired.remove(bit);
                Ok(())
            }
            Err(zcrx_ring::Error::Kernel {
                errno: Errno::INVAL,
                ..
            }) => {
                if !self.kernel_kinds.has(kind) {
                    return Err(Error::UnknownKind(kind));
                }
                // The kernel had not marked it fired: it is armed there.
                self.fired.remove(bit);
                Err(Error::NotFired(kind))
            }
            // A kernel without the control op (should the capabilities not
            // have been known to `zcrx-ring`).
            Err(zcrx_ring::Error::Kernel {
                errno: Errno::OPNOTSUPP,
                ..
            }) => Err(Error::Unsupported(zcrx_ring::Unsupported {
                what: "ZCRX_CTRL_ARM_EVENT",
                needs: Some(KernelVersion::new(7, 2)),
            })),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::config::NotifyConfig;
    use crate::support::{MISSING_EVENTS, Support, tests_support};
    use crate::{Fallback, Notification};
    use core::cell::{Cell, RefCell};
    use core::sync::atomic::{AtomicU64, Ordering};
    use std::string::ToString;
    use std::vec::Vec;

    /// The kernel's side of events, as `zcrx_send_notif` and
    /// `zcrx_arm_notif` implement it (Linux 7.2, 7.3).
    struct MockKernel {
        user_data: u64,
        allowed: u32,
        fired: Cell<u32>,
        calls: RefCell<Vec<u32>>,
        fail_with: Cell<Option<zcrx_ring::Error>>,
    }

    const TYPE_LAST: u32 = 2;

    impl MockKernel {
        fn new(cfg: &NotifyConfig) -> Self {
            Self {
                user_data: cfg.user_data_value(),
                allowed: cfg.enabled_kinds().bits(),
                fired: Cell::new(0),
                calls: RefCell::new(Vec::new()),
                fail_with: Cell::new(None),
            }
        }

        /// `zcrx_send_notif`: the completion it posts, if any.
        fn send(&self, kind: NotificationKind) -> Option<(u64, i32, u32)> {
            let bit = 1 << kind.index();
            if bit & self.allowed == 0 || bit & self.fired.get() != 0 {
                return None;
            }
            self.fired.set(self.fired.get() | bit);
            Some((self.user_data, kind.index() as i32, 0))
        }
    }

    impl ArmEvent for MockKernel {
        fn arm_event(&self, event_type: u32) -> zcrx_ring::Result<()> {
            self.calls.borrow_mut().push(event_type);
            if let Some(e) = self.fail_with.get() {
                return Err(e);
            }
            let inval = zcrx_ring::Error::kernel("IORING_REGISTER_ZCRX_CTRL", Errno::INVAL);
            if event_type >= TYPE_LAST {
                return Err(inval);
            }
            let bit = 1 << event_type;
            if bit & !self.fired.get() != 0 {
                return Err(inval);
            }
            self.fired.set(self.fired.get() & !bit);
            Ok(())
        }
    }

    fn setup(cfg: NotifyConfig) -> (Notifier, MockKernel) {
        let notifier = Notifier::new(&cfg, &Support::Available(tests_support(128)));
        (notifier, MockKernel::new(&cfg))
    }

    /// Delivers whatever the kernel posts.
    fn deliver(n: &mut Notifier, posted: Option<(u64, i32, u32)>) -> Option<Notification> {
        let (u, r, f) = posted?;
        n.classify(u, r, f)
    }

    use NotificationKind::{CopyFallback, NoBuffers};

    #[test]
    fn one_shot_then_silent_then_again_after_rearm() {
        let (mut n, k) = setup(NotifyConfig::new(7));
        assert_eq!(
            deliver(&mut n, k.send(CopyFallback)).unwrap().kind,
            CopyFallback
        );
        // Data keeps being copied: silence.
        for _ in 0..10 {
            assert!(k.send(CopyFallback).is_none());
        }
        assert_eq!(n.fired(), NotificationMask::COPY_FALLBACK);
        assert_eq!(n.armed(), NotificationMask::NO_BUFFERS);
        n.arm(&k, CopyFallback).unwrap();
        assert_eq!(n.fired(), NotificationMask::empty());
        assert_eq!(
            deliver(&mut n, k.send(CopyFallback)).unwrap().kind,
            CopyFallback
        );
        assert_eq!(*k.calls.borrow(), [1]);
    }

    #[test]
    fn arming_an_unfired_kind_is_refused_locally() {
        let (mut n, k) = setup(NotifyConfig::new(7));
        assert_eq!(n.arm(&k, NoBuffers), Err(Error::NotFired(NoBuffers)));
        assert_eq!(n.arm(&k, CopyFallback), Err(Error::NotFired(CopyFallback)));
        assert!(k.calls.borrow().is_empty(), "no system call");
        // Once armed it is not fired any more.
        deliver(&mut n, k.send(CopyFallback));
        n.arm(&k, CopyFallback).unwrap();
        assert_eq!(n.arm(&k, CopyFallback), Err(Error::NotFired(CopyFallback)));
        assert_eq!(k.calls.borrow().len(), 1);
    }

    #[test]
    fn the_kernels_einval_becomes_not_fired() {
        let (mut n, k) = setup(NotifyConfig::new(7));
        // The kernel refuses an unfired kind.
        assert_eq!(
            n.arm_unchecked(&k, NoBuffers),
            Err(Error::NotFired(NoBuffers))
        );
        assert_eq!(*k.calls.borrow(), [0]);
        // Someone else re-armed it behind our back: EINVAL, state resynced.
        deliver(&mut n, k.send(CopyFallback));
        k.arm_event(1).unwrap();
        assert_eq!(n.arm(&k, CopyFallback), Err(Error::NotFired(CopyFallback)));
        assert!(!n.fired().has(CopyFallback));
        // An index the kernel does not know.
        assert_eq!(
            n.arm_unchecked(&k, NotificationKind::Unknown(2)),
            Err(Error::UnknownKind(NotificationKind::Unknown(2)))
        );
        // A fired-in-kernel kind whose completion has not been seen yet.
        k.send(NoBuffers);
        assert_eq!(n.arm(&k, NoBuffers), Err(Error::NotFired(NoBuffers)));
        n.arm_unchecked(&k, NoBuffers).unwrap();
    }

    #[test]
    fn unknown_and_disabled_kinds_are_refused_before_the_kernel() {
        let cfg = NotifyConfig::new(7).kinds(NotificationMask::NO_BUFFERS);
        let (mut n, k) = setup(cfg);
        assert_eq!(
            n.arm(&k, CopyFallback),
            Err(Error::NotEnabled(CopyFallback))
        );
        let unknown = NotificationKind::Unknown(5);
        assert_eq!(n.arm(&k, unknown), Err(Error::UnknownKind(unknown)));
        let far = NotificationKind::Unknown(1000);
        assert_eq!(n.arm(&k, far), Err(Error::UnknownKind(far)));
        assert_eq!(n.arm(&k, NoBuffers), Err(Error::NotFired(NoBuffers)));
        assert!(k.calls.borrow().is_empty());
    }

    #[test]
    fn only_enabled_kinds_fire() {
        // With only no-buffers enabled, no copy-fallback completion arrives.
        let cfg = NotifyConfig::new(7).kinds(NotificationMask::NO_BUFFERS);
        let (mut n, k) = setup(cfg);
        for _ in 0..5 {
            assert!(deliver(&mut n, k.send(CopyFallback)).is_none());
        }
        assert_eq!(deliver(&mut n, k.send(NoBuffers)).unwrap().kind, NoBuffers);
        assert_eq!(
            n.arm_mask(&k, NotificationMask::all()),
            Ok(NotificationMask::NO_BUFFERS)
        );
    }

    #[test]
    fn arm_mask_arms_each_fired_kind() {
        let (mut n, k) = setup(NotifyConfig::new(7));
        assert_eq!(
            n.arm_mask(&k, NotificationMask::all()),
            Ok(NotificationMask::empty())
        );
        deliver(&mut n, k.send(NoBuffers));
        deliver(&mut n, k.send(CopyFallback));
        assert_eq!(
            n.arm_mask(&k, NotificationMask::COPY_FALLBACK),
            Ok(NotificationMask::COPY_FALLBACK)
        );
        assert_eq!(n.fired(), NotificationMask::NO_BUFFERS);
        // Unknown bits in the mask are skipped.
        assert_eq!(
            n.arm_mask(&k, NotificationMask::from_bits_retain(!0)),
            Ok(NotificationMask::NO_BUFFERS)
        );
        assert_eq!(*k.calls.borrow(), [1, 0]);
        // A kernel that disagrees: left out, not an error.
        deliver(&mut n, k.send(CopyFallback));
        k.arm_event(1).unwrap();
        assert_eq!(
            n.arm_mask(&k, NotificationMask::all()),
            Ok(NotificationMask::empty())
        );
    }

    #[test]
    fn other_kernel_failures_are_kept() {
        let (mut n, k) = setup(NotifyConfig::new(7));
        deliver(&mut n, k.send(CopyFallback));
        let nxio = zcrx_ring::Error::kernel("IORING_REGISTER_ZCRX_CTRL", Errno::NXIO);
        k.fail_with.set(Some(nxio));
        assert_eq!(n.arm(&k, CopyFallback), Err(Error::Ring(nxio)));
        assert!(n.fired().has(CopyFallback), "still fired");
        k.fail_with.set(Some(zcrx_ring::Error::kernel(
            "IORING_REGISTER_ZCRX_CTRL",
            Errno::OPNOTSUPP,
        )));
        let e = n.arm(&k, CopyFallback).unwrap_err();
        assert!(e.is_unsupported());
        assert_eq!(
            e.to_string(),
            "kernel lacks ZCRX_CTRL_ARM_EVENT (needs Linux >= 7.2)"
        );
        k.fail_with.set(Some(zcrx_ring::Error::unsupported(
            "ZCRX_CTRL_ARM_EVENT",
            Some(KernelVersion::new(7, 2)),
        )));
        assert!(
            n.arm_mask(&k, NotificationMask::all())
                .unwrap_err()
                .is_unsupported()
        );
    }

    #[test]
    fn an_inactive_notifier_degrades() {
        let cfg = NotifyConfig::new(7)
            .fallback(Fallback::ReceiveWithout)
            .rearm(RearmPolicy::Immediately);
        let mut n = Notifier::new(&cfg, &Support::Missing(MISSING_EVENTS));
        let k = MockKernel::new(&cfg);
        assert_eq!(
            n.arm(&k, CopyFallback),
            Err(Error::Unsupported(MISSING_EVENTS))
        );
        assert_eq!(
            n.arm_unchecked(&k, CopyFallback),
            Err(Error::Unsupported(MISSING_EVENTS))
        );
        assert_eq!(
            n.arm_mask(&k, NotificationMask::all()),
            Ok(NotificationMask::empty())
        );
        assert_eq!(n.service(&k), Ok(NotificationMask::empty()));
        assert_eq!(n.next_rearm(), None);
        assert!(k.calls.borrow().is_empty());
    }

    #[test]
    fn immediate_rearm() {
        let (mut n, k) = setup(NotifyConfig::new(7).rearm(RearmPolicy::Immediately));
        assert_eq!(n.service(&k), Ok(NotificationMask::empty()));
        for _ in 0..3 {
            deliver(&mut n, k.send(CopyFallback)).unwrap();
            assert!(k.send(CopyFallback).is_none());
            assert_eq!(n.next_rearm(), Some(Duration::ZERO));
            assert_eq!(n.service(&k), Ok(NotificationMask::COPY_FALLBACK));
            assert_eq!(n.next_rearm(), None);
        }
    }

    static NOW_MS: AtomicU64 = AtomicU64::new(0);
    fn fake_clock() -> Duration {
        Duration::from_millis(NOW_MS.load(Ordering::Relaxed))
    }

    #[test]
    fn rearm_after_an_interval() {
        NOW_MS.store(1_000, Ordering::Relaxed);
        let policy = RearmPolicy::AfterInterval(Duration::from_millis(100));
        let (n, k) = setup(NotifyConfig::new(7).rearm(policy));
        let mut n = n.with_clock(fake_clock);
        deliver(&mut n, k.send(CopyFallback)).unwrap();
        assert_eq!(n.next_rearm(), Some(Duration::from_millis(100)));
        NOW_MS.store(1_050, Ordering::Relaxed);
        deliver(&mut n, k.send(NoBuffers)).unwrap();
        assert_eq!(n.service(&k), Ok(NotificationMask::empty()));
        assert_eq!(n.next_rearm(), Some(Duration::from_millis(50)));
        NOW_MS.store(1_100, Ordering::Relaxed);
        assert_eq!(n.service(&k), Ok(NotificationMask::COPY_FALLBACK));
        assert_eq!(n.next_rearm(), Some(Duration::from_millis(50)));
        NOW_MS.store(1_200, Ordering::Relaxed);
        assert_eq!(n.next_rearm(), Some(Duration::ZERO));
        assert_eq!(n.service(&k), Ok(NotificationMask::NO_BUFFERS));
        assert_eq!(n.next_rearm(), None);
        assert_eq!(n.service(&k), Ok(NotificationMask::empty()));
    }

    #[test]
    fn manual_policy_never_rearms_by_itself() {
        let (mut n, k) = setup(NotifyConfig::new(7));
        deliver(&mut n, k.send(CopyFallback));
        assert_eq!(n.service(&k), Ok(NotificationMask::empty()));
        assert_eq!(n.next_rearm(), None);
        assert!(k.calls.borrow().is_empty());
    }
}
