//! Notifications on a ring of the `io-uring` crate (feature `io-uring`):
//! [`RawCompletion`] for its completion entries, so that
//! [`Notifier::route`](crate::Notifier::route) takes them as they are
//! reaped.
//!
//! ```no_run
//! use io_uring::{cqueue, squeue, IoUring};
//! use zcrx_notif::{Delivery, Notifier};
//! # fn demo(ring: &mut IoUring<squeue::Entry, cqueue::Entry32>, notifier: &mut Notifier) {
//! for cqe in ring.completion() {
//!     match notifier.route(&cqe) {
//!         Delivery::Notification(n) => println!("{}", n.kind),
//!         Delivery::Other(cqe) => { /* the receive loop's, or another request's */ let _ = cqe; }
//!     }
//! }
//! # }
//! ```

use io_uring::cqueue;

use crate::deliver::RawCompletion;

impl RawCompletion for cqueue::Entry {
    fn user_data(&self) -> u64 {
        cqueue::Entry::user_data(self)
    }
    fn res(&self) -> i32 {
        self.result()
    }
    fn flags(&self) -> u32 {
        cqueue::Entry::flags(self)
    }
}

impl RawCompletion for cqueue::Entry32 {
    fn user_data(&self) -> u64 {
        cqueue::Entry32::user_data(self)
    }
    fn res(&self) -> i32 {
        self.result()
    }
    fn flags(&self) -> u32 {
        cqueue::Entry32::flags(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Delivery, NotificationKind, Notifier, NotifyConfig, Support};

    /// A completion as the kernel writes it, through the crate's type.
    fn entry32(user_data: u64, res: i32, flags: u32) -> cqueue::Entry32 {
        #[repr(C, align(8))]
        struct Raw(u64, i32, u32, [u64; 2]);
        const { assert!(size_of::<Raw>() == size_of::<cqueue::Entry32>()) };
        let raw = Raw(user_data, res, flags, [0; 2]);
        // SAFETY: (test) `cqueue::Entry32` is the kernel's 32-byte CQE,
        // `#[repr(C)]` integers; `raw` is initialized and aligned.
        unsafe { core::ptr::from_ref(&raw).cast::<cqueue::Entry32>().read() }
    }

    #[test]
    fn routes_the_crates_entries() {
        let support = Support::Available(crate::support::tests_support(128));
        let mut n = Notifier::new(&NotifyConfig::new(0xfeed), &support);
        match n.route(entry32(0xfeed, 1, 0)) {
            Delivery::Notification(x) => assert_eq!(x.kind, NotificationKind::CopyFallback),
            Delivery::Other(_) => panic!("a notification passed through"),
        }
        let data = entry32(0x5a52_0000_0000_0001, 4096, 2);
        match n.route(&data) {
            Delivery::Other(c) => {
                assert_eq!((c.user_data(), c.result()), (0x5a52_0000_0000_0001, 4096))
            }
            Delivery::Notification(_) => panic!("data taken for a notification"),
        }
        let small = cqueue::Entry::from(entry32(0xfeed, 0, 0));
        assert_eq!(
            n.route(small).notification().map(|x| x.kind),
            Some(NotificationKind::NoBuffers)
        );
    }
}
