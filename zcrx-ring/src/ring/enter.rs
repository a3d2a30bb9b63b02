//! `io_uring_enter`: submit, wait, wait with a timeout. The behaviour is
//! documented in the parent module ("Entering the kernel").

use core::time::Duration;

use rustix::io::Errno;
use rustix::io_uring::{IoringEnterFlags, Timespec, io_uring_getevents_arg, io_uring_ptr};
use zcrx_uapi::abi::KernelVersion;
use zcrx_uapi::{EnterFlags, FeatureFlags};

use super::{CqeMode, Ring};
use crate::{Error, Result};

impl<M: CqeMode> Ring<M> {
    /// Submits the queued SQEs without waiting and without running deferred
    /// task work. Returns how many the kernel consumed. No system call is
    /// made when nothing is queued.
    ///
    /// # Errors
    ///
    /// See [`submit_and_wait`](Self::submit_and_wait).
    #[inline]
    pub fn submit(&mut self) -> Result<u32> {
        let to_submit = self.sq.flush();
        if to_submit == 0 {
            return Ok(0);
        }
        self.enter(to_submit, 0, EnterFlags::empty(), None)
    }

    /// Submits the queued SQEs and waits until at least `want` completion
    /// slots are ready (on a mixed ring a 32-byte completion fills two).
    /// Returns how many SQEs the kernel consumed.
    ///
    /// `want == 0` never blocks but always enters the kernel with
    /// `GETEVENTS`: it submits, runs deferred task work (posting e.g. the
    /// completions of multishot receives) and flushes overflowed
    /// completions into the ring where there is room. With `want > 0`,
    /// nothing queued and enough completions ready, no system call is made.
    ///
    /// The call returns early, with `Ok`, when a signal interrupts the wait
    /// (see [the module docs](super#interruptions-and-timeouts-eintr-etime)),
    /// when completions overflowed and the ring has no room to flush them,
    /// and when the kernel consumed fewer SQEs than queued (an SQE failed
    /// before being issued: its error completion is posted, and the SQEs
    /// after it stay queued for the next call).
    ///
    /// # Errors
    ///
    /// [`Error::Kernel`] with `op` `io_uring_enter` and:
    /// - `EAGAIN`, `EBUSY`: the kernel took none of the SQEs now (no request
    ///   memory; completions overflowing on old kernels); they stay queued:
    ///   reap completions and call again;
    /// - `EBADR`: completions were dropped (see
    ///   [`cq_dropped`](Self::cq_dropped)); reported once;
    /// - `EEXIST`: called from a thread other than the ring's single issuer;
    /// - `EBADFD`: the ring is still [`disabled`](super::RingBuilder::disabled).
    #[inline]
    pub fn submit_and_wait(&mut self, want: u32) -> Result<u32> {
        let to_submit = self.sq.flush();
        if to_submit == 0 && want > 0 && self.cq.ready() >= want {
            return Ok(0);
        }
        self.enter(to_submit, want, EnterFlags::GETEVENTS, None)
    }

    /// As [`submit_and_wait`](Self::submit_and_wait), but waits at most
    /// `timeout` (`IORING_ENTER_EXT_ARG` with a relative `__kernel_timespec`).
    /// Returns how many SQEs the kernel consumed.
    ///
    /// When the timeout expires first (`ETIME`) the call returns `Ok` with
    /// whatever is ready, possibly nothing: check
    /// [`cq_ready`](Self::cq_ready) or iterate
    /// [`completions`](Self::completions). Durations beyond the kernel's
    /// range are clamped.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use zcrx_ring::ring::{Cqe32, Ring};
    ///
    /// let Ok(mut ring) = Ring::<Cqe32>::new(4) else { return Ok(()) };
    /// let t = Instant::now();
    /// ring.wait_timeout(1, Duration::from_millis(20))?;
    /// assert_eq!(ring.cq_ready(), 0);
    /// assert!(t.elapsed() >= Duration::from_millis(15));
    /// # Ok::<(), zcrx_ring::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] naming `IORING_FEAT_EXT_ARG` on kernels before
    /// 5.11; otherwise as [`submit_and_wait`](Self::submit_and_wait).
    #[inline]
    pub fn wait_timeout(&mut self, want: u32, timeout: Duration) -> Result<u32> {
        if !self.features().contains(FeatureFlags::EXT_ARG) {
            return Err(Error::unsupported(
                "IORING_FEAT_EXT_ARG",
                Some(KernelVersion::new(5, 11)),
            ));
        }
        let to_submit = self.sq.flush();
        if to_submit == 0 && want > 0 && self.cq.ready() >= want {
            return Ok(0);
        }
        let mut ts = timespec(timeout);
        let arg = io_uring_getevents_arg {
            ts: io_uring_ptr::new((&raw mut ts).cast()),
            ..Default::default()
        };
        self.enter(
            to_submit,
            want,
            EnterFlags::GETEVENTS | EnterFlags::EXT_ARG,
            Some(&arg),
        )
    }

    /// `io_uring_enter(fd, to_submit, min_complete, flags, arg)`.
    #[inline]
    fn enter(
        &mut self,
        to_submit: u32,
        min_complete: u32,
        flags: EnterFlags,
        arg: Option<&io_uring_getevents_arg>,
    ) -> Result<u32> {
        let rflags = IoringEnterFlags::from_bits_retain(flags.bits());
        let ret = match arg {
            // SAFETY: the kernel reads the SQEs between its head and the
            // tail `flush` just published, which the safety contract of
            // `push`/`commit` covers; no argument memory is passed.
            None => unsafe {
                rustix::io_uring::io_uring_enter(&self.fd, to_submit, min_complete, rflags)
            },
            // SAFETY: as above; `arg` and the timespec it points to live on
            // the caller's stack for the duration of the call, and `flags`
            // has EXT_ARG (and not EXT_ARG_REG).
            Some(arg) => unsafe {
                rustix::io_uring::io_uring_enter_arg(
                    &self.fd,
                    to_submit,
                    min_complete,
                    rflags,
                    Some(arg),
                )
            },
        };
        match ret {
            Ok(n) => Ok(n),
            // Returned only when nothing was submitted and nothing is ready.
            Err(Errno::INTR | Errno::TIME) => Ok(0),
            Err(e) => Err(Error::kernel("io_uring_enter", e)),
        }
    }
}

/// A relative `__kernel_timespec` for `d`, clamped to the largest one.
fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: d.subsec_nanos().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespecs() {
        let t = timespec(Duration::new(3, 7));
        assert_eq!((t.tv_sec, t.tv_nsec), (3, 7));
        let t = timespec(Duration::MAX);
        assert_eq!((t.tv_sec, t.tv_nsec), (i64::MAX, 999_999_999));
        let t = timespec(Duration::ZERO);
        assert_eq!((t.tv_sec, t.tv_nsec), (0, 0));
    }
}
