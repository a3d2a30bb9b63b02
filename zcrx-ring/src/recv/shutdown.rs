//! The receive loop's drop path: cancel what is in flight, wait (bounded)
//! for the final completions, give back every buffer reaped, hand other
//! requests' completions back to the ring.

use core::time::Duration;

use super::{Receiver, Recv, push};
use crate::ring::CqeMode;

/// A dropped receiver waits at most this many rounds of [`DROP_ROUND`] for
/// the final completions of the requests it cancelled (they normally arrive
/// in the first).
const DROP_ROUNDS: u32 = 200;
const DROP_ROUND: Duration = Duration::from_millis(10);

impl<M: CqeMode> Receiver<'_, M> {
    /// The drop path: cancels what is in flight, waits (bounded) for the
    /// final completions, gives back every buffer reaped. Returns whether
    /// nothing of this receiver is left in flight.
    fn shut_down(&mut self) -> bool {
        let ring = &mut *self.ring;
        let cancelled = self.core.cancel_all(&mut |sqe| push(ring, sqe)).is_ok();
        for _ in 0..DROP_ROUNDS {
            self.settle();
            if self.core.inflight == 0 && self.core.cancels == 0 {
                return true;
            }
            if !cancelled {
                return false;
            }
            if self.ring.wait_timeout(1, DROP_ROUND).is_err()
                && self.ring.submit_and_wait(0).is_err()
            {
                return false;
            }
            self.reap();
        }
        self.settle();
        self.core.inflight == 0 && self.core.cancels == 0
    }

    /// Processes every queued completion: views are dropped at once (their
    /// buffers go back), other requests' completions go back to the ring.
    fn settle(&mut self) {
        while let Some(c) = self.queue.pop_front() {
            // SAFETY: as in `drain_queue`.
            match unsafe { self.core.process(c) } {
                // This loop's own (a final event made by `cancel`, a stale
                // completion): nobody after it may see them.
                Some(Recv::Other(c)) if self.core.is_own(c.user_data) => {}
                Some(Recv::Other(c)) => self.ring.defer(c),
                Some(other) => drop(other),
                None => {}
            }
        }
    }
}

impl<M: CqeMode> Drop for Receiver<'_, M> {
    /// Cancels the requests still in flight and waits for their final
    /// completions (a cancelled receive ends at once; the wait is bounded),
    /// so that no later receiver on the ring sees them; gives back every
    /// buffer it reaped but did not hand out, and publishes (in NODEV mode,
    /// flushes) the returns.
    fn drop(&mut self) {
        let clean = self.shut_down();
        self.core.publish_all();
        if let Some(epoch) = self.epoch {
            self.ring.finish_receiver(epoch, clean);
        }
    }
}
