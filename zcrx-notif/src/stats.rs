//! The copy-fallback statistics the kernel keeps in shared memory.
//!
//! With stats on, the kernel keeps a `struct zcrx_stats` (the proposal's
//! `struct io_uring_zcrx_notif_stats`) inside the refill region: two
//! counters, zeroed at registration.
//!
//! # How the kernel updates them (Linux 7.2, 7.3)
//!
//! Each time it copies one *fragment* of packet payload into the area
//! instead of receiving it in place (`io_zcrx_copy_frag`), it adds 1 to
//! `copy_count` and the fragment's length to `copy_bytes`, in that order,
//! each as `WRITE_ONCE(*p, READ_ONCE(*p) + v)`: a plain store, neither an
//! atomic read-modify-write nor ordered by any barrier. Consequences:
//!
//! - `copy_count` counts fragments, not completions or packets (a fragment
//!   larger than a buffer is several completions, and is counted once).
//! - Payload in the linear (head) part of a packet is copied too, but on
//!   another path (`io_zcrx_recv_skb` calls `io_zcrx_copy_chunk` directly):
//!   it is counted in neither counter and does not fire copy-fallback. So
//!   the counters are a **lower bound** of the bytes the kernel copied, not
//!   a share of the bytes received: over loopback (`NODEV`, where every byte
//!   is copied) large writes arrive mostly in fragments and `copy_bytes`
//!   comes close to the bytes received, while a stream of small writes can
//!   arrive almost entirely in linear parts and leave `copy_bytes` near
//!   zero. With a header-split NIC the linear part holds headers only, and
//!   the counters measure the payload that missed the zero-copy path.
//! - Each counter is read here with one atomic 64-bit load, so a value is
//!   never torn (the kernel stores the whole `u64` at once on 64-bit
//!   machines).
//! - The *pair* cannot be read consistently: there is no sequence counter,
//!   and the kernel may be between its two stores. [`StatsSnapshot`] reads
//!   `copy_bytes` first and `copy_count` second, so on strongly ordered
//!   CPUs (x86) the count never lags the bytes (it may lead by the
//!   fragments being recorded); weakly ordered CPUs give no such bound at a
//!   single instant. Both settle once copying pauses.
//! - Sockets on several CPUs receiving into one instance race on the
//!   plain read-modify-write: an update can be lost, and a counter can even
//!   be seen to step back. [`StatsSnapshot::delta_since`] therefore
//!   saturates at zero instead of wrapping.
//!
//! ```no_run
//! use zcrx_notif::{StatsMeter, StatsSnapshot};
//! # fn demo(zcrx: &zcrx_ring::Zcrx) {
//! let mut meter = StatsMeter::start(zcrx).expect("registered with stats");
//! // ... receive ...
//! if let Some(sample) = meter.sample(zcrx) {
//!     println!("copied {} bytes since the last sample", sample.delta.copy_bytes);
//!     if let Some(rate) = sample.rate() {
//!         println!("{:.0} bytes/s copied", rate.bytes_per_sec);
//!     }
//! }
//! # }
//! ```

use core::time::Duration;

use zcrx_ring::{StatsBlock, Zcrx};

/// The two counters at one moment (see the [module docs](self) for what
/// "one moment" can mean).
///
/// ```
/// use zcrx_notif::StatsSnapshot;
/// let before = StatsSnapshot { copy_count: 10, copy_bytes: 40_000 };
/// let after = StatsSnapshot { copy_count: 14, copy_bytes: 56_384 };
/// let d = after.delta_since(&before);
/// assert_eq!((d.copy_count, d.copy_bytes), (4, 16_384));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StatsSnapshot {
    /// Payload fragments copied since registration (`zcrx_stats::copy_count`);
    /// copies from a packet's linear part are not counted.
    pub copy_count: u64,
    /// Bytes of those fragments (`zcrx_stats::copy_bytes`): a lower bound of
    /// the bytes the kernel copied.
    pub copy_bytes: u64,
}

impl StatsSnapshot {
    /// Reads the instance's stats block, or `None` if it was registered
    /// without stats (including a kernel without them and
    /// [`Fallback::ReceiveWithout`](crate::Fallback::ReceiveWithout)).
    ///
    /// ```no_run
    /// # fn demo(zcrx: &zcrx_ring::Zcrx) {
    /// if let Some(s) = zcrx_notif::StatsSnapshot::read(zcrx) {
    ///     println!("{} fragments, {} bytes copied", s.copy_count, s.copy_bytes);
    /// }
    /// # }
    /// ```
    pub fn read(zcrx: &Zcrx) -> Option<Self> {
        zcrx.stats().map(|block| Self::from_block(&block))
    }

    /// Reads a stats block: `copy_bytes`, then `copy_count`, one atomic
    /// load each.
    ///
    /// ```no_run
    /// # fn demo(zcrx: &zcrx_ring::Zcrx) {
    /// let block = zcrx.stats().unwrap();
    /// let s = zcrx_notif::StatsSnapshot::from_block(&block);
    /// # let _ = s; }
    /// ```
    pub fn from_block(block: &StatsBlock<'_>) -> Self {
        let copy_bytes = block.copy_bytes();
        let copy_count = block.copy_count();
        Self {
            copy_count,
            copy_bytes,
        }
    }

    /// Whether nothing has been copied (as right after registration).
    ///
    /// ```
    /// assert!(zcrx_notif::StatsSnapshot::default().is_zero());
    /// ```
    pub const fn is_zero(&self) -> bool {
        self.copy_count == 0 && self.copy_bytes == 0
    }

    /// What was copied between `earlier` and this snapshot; a counter seen
    /// to step back (lost kernel updates, see the [module docs](self))
    /// counts as zero.
    ///
    /// ```
    /// use zcrx_notif::StatsSnapshot;
    /// let a = StatsSnapshot { copy_count: 5, copy_bytes: 100 };
    /// let b = StatsSnapshot { copy_count: 4, copy_bytes: 150 };
    /// let d = b.delta_since(&a);
    /// assert_eq!((d.copy_count, d.copy_bytes), (0, 50));
    /// ```
    pub const fn delta_since(&self, earlier: &Self) -> StatsDelta {
        StatsDelta {
            copy_count: self.copy_count.saturating_sub(earlier.copy_count),
            copy_bytes: self.copy_bytes.saturating_sub(earlier.copy_bytes),
        }
    }
}

/// What was copied between two snapshots.
///
/// ```
/// use core::time::Duration;
/// use zcrx_notif::StatsDelta;
/// let d = StatsDelta { copy_count: 3, copy_bytes: 12_288 };
/// assert_eq!(d.average_copy_size(), Some(4096));
/// assert_eq!(d.rate(Duration::from_secs(2)).unwrap().bytes_per_sec, 6144.0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StatsDelta {
    /// Fragments copied.
    pub copy_count: u64,
    /// Bytes copied.
    pub copy_bytes: u64,
}

impl StatsDelta {
    /// Per second over `elapsed`; `None` if `elapsed` is zero.
    ///
    /// ```
    /// use core::time::Duration;
    /// use zcrx_notif::StatsDelta;
    /// let d = StatsDelta { copy_count: 5, copy_bytes: 1000 };
    /// let r = d.rate(Duration::from_millis(500)).unwrap();
    /// assert_eq!((r.copies_per_sec, r.bytes_per_sec), (10.0, 2000.0));
    /// assert!(d.rate(Duration::ZERO).is_none());
    /// ```
    pub fn rate(&self, elapsed: Duration) -> Option<StatsRate> {
        let secs = elapsed.as_secs_f64();
        if secs <= 0.0 {
            return None;
        }
        Some(StatsRate {
            copies_per_sec: self.copy_count as f64 / secs,
            bytes_per_sec: self.copy_bytes as f64 / secs,
        })
    }

    /// Bytes per copied fragment (rounded down); `None` if nothing was
    /// copied.
    ///
    /// ```
    /// use zcrx_notif::StatsDelta;
    /// assert_eq!(StatsDelta::default().average_copy_size(), None);
    /// ```
    pub const fn average_copy_size(&self) -> Option<u64> {
        match self.copy_count {
            0 => None,
            n => Some(self.copy_bytes / n),
        }
    }
}

/// Copy rates ([`StatsDelta::rate`]).
///
/// ```
/// let r = zcrx_notif::StatsRate { copies_per_sec: 1.0, bytes_per_sec: 4096.0 };
/// assert!(r.bytes_per_sec > r.copies_per_sec);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StatsRate {
    /// Fragments copied per second.
    pub copies_per_sec: f64,
    /// Bytes copied per second.
    pub bytes_per_sec: f64,
}

/// One [`StatsMeter`] reading: the snapshot, what changed since the
/// previous one, and how much time passed.
///
/// ```
/// use core::time::Duration;
/// use zcrx_notif::{StatsDelta, StatsSample, StatsSnapshot};
/// let s = StatsSample {
///     snapshot: StatsSnapshot { copy_count: 2, copy_bytes: 8192 },
///     delta: StatsDelta { copy_count: 2, copy_bytes: 8192 },
///     elapsed: Duration::from_secs(1),
/// };
/// assert_eq!(s.rate().unwrap().bytes_per_sec, 8192.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsSample {
    /// The counters now.
    pub snapshot: StatsSnapshot,
    /// Since the previous sample (or the start).
    pub delta: StatsDelta,
    /// Time since the previous sample (monotonic clock).
    pub elapsed: Duration,
}

impl StatsSample {
    /// The delta per second ([`StatsDelta::rate`]).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use zcrx_notif::{StatsDelta, StatsSample, StatsSnapshot};
    /// let s = StatsSample { snapshot: StatsSnapshot::default(), delta: StatsDelta::default(), elapsed: Duration::ZERO };
    /// assert!(s.rate().is_none());
    /// ```
    pub fn rate(&self) -> Option<StatsRate> {
        self.delta.rate(self.elapsed)
    }
}

/// Successive snapshots of one instance's stats, each with the delta since
/// the previous one and the time between them.
///
/// ```
/// use core::time::Duration;
/// use zcrx_notif::{StatsMeter, StatsSnapshot};
///
/// let mut meter = StatsMeter::starting_at(StatsSnapshot::default(), Duration::from_secs(10));
/// let s = meter.record(
///     StatsSnapshot { copy_count: 4, copy_bytes: 16_384 },
///     Duration::from_secs(12),
/// );
/// assert_eq!(s.delta.copy_bytes, 16_384);
/// assert_eq!(s.rate().unwrap().bytes_per_sec, 8192.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsMeter {
    last: StatsSnapshot,
    last_at: Duration,
}

impl StatsMeter {
    /// Starts from the instance's counters now; `None` if it has no stats.
    ///
    /// ```no_run
    /// # fn demo(zcrx: &zcrx_ring::Zcrx) {
    /// let meter = zcrx_notif::StatsMeter::start(zcrx);
    /// # let _ = meter; }
    /// ```
    pub fn start(zcrx: &Zcrx) -> Option<Self> {
        let now = crate::monotonic_now();
        StatsSnapshot::read(zcrx).map(|s| Self::starting_at(s, now))
    }

    /// Starts from a given snapshot taken at `at` (monotonic time).
    ///
    /// ```
    /// use core::time::Duration;
    /// let m = zcrx_notif::StatsMeter::starting_at(Default::default(), Duration::ZERO);
    /// assert!(m.last().is_zero());
    /// ```
    pub const fn starting_at(snapshot: StatsSnapshot, at: Duration) -> Self {
        Self {
            last: snapshot,
            last_at: at,
        }
    }

    /// Reads the instance's counters and records them; `None` if it has no
    /// stats.
    ///
    /// ```no_run
    /// # fn demo(zcrx: &zcrx_ring::Zcrx, meter: &mut zcrx_notif::StatsMeter) {
    /// if let Some(s) = meter.sample(zcrx) {
    ///     println!("{:?}", s.rate());
    /// }
    /// # }
    /// ```
    pub fn sample(&mut self, zcrx: &Zcrx) -> Option<StatsSample> {
        let snapshot = StatsSnapshot::read(zcrx)?;
        Some(self.record(snapshot, crate::monotonic_now()))
    }

    /// Records a snapshot taken at `at` (monotonic time; a time before the
    /// previous one counts as no time passed).
    ///
    /// ```
    /// use core::time::Duration;
    /// use zcrx_notif::{StatsMeter, StatsSnapshot};
    /// let mut m = StatsMeter::starting_at(StatsSnapshot::default(), Duration::from_secs(1));
    /// let s = m.record(StatsSnapshot { copy_count: 1, copy_bytes: 10 }, Duration::from_secs(1));
    /// assert!(s.rate().is_none()); // no time passed
    /// ```
    pub fn record(&mut self, snapshot: StatsSnapshot, at: Duration) -> StatsSample {
        let sample = StatsSample {
            snapshot,
            delta: snapshot.delta_since(&self.last),
            elapsed: at.saturating_sub(self.last_at),
        };
        self.last = snapshot;
        self.last_at = self.last_at.max(at);
        sample
    }

    /// The last recorded snapshot.
    ///
    /// ```
    /// # use core::time::Duration;
    /// let m = zcrx_notif::StatsMeter::starting_at(Default::default(), Duration::ZERO);
    /// assert_eq!(m.last().copy_count, 0);
    /// ```
    pub const fn last(&self) -> StatsSnapshot {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn snap(copy_count: u64, copy_bytes: u64) -> StatsSnapshot {
        StatsSnapshot {
            copy_count,
            copy_bytes,
        }
    }

    #[test]
    fn deltas_saturate_instead_of_wrapping() {
        assert_eq!(
            snap(10, 100).delta_since(&snap(3, 40)),
            StatsDelta {
                copy_count: 7,
                copy_bytes: 60
            }
        );
        assert_eq!(
            snap(3, 40).delta_since(&snap(10, 100)),
            StatsDelta::default()
        );
        assert_eq!(
            snap(u64::MAX, u64::MAX).delta_since(&snap(0, 0)),
            StatsDelta {
                copy_count: u64::MAX,
                copy_bytes: u64::MAX
            }
        );
        assert!(snap(0, 0).is_zero() && !snap(0, 1).is_zero() && !snap(1, 0).is_zero());
    }

    #[test]
    fn rates() {
        let d = snap(244, 4_000_000).delta_since(&StatsSnapshot::default());
        let r = d.rate(Duration::from_millis(250)).unwrap();
        assert_eq!(r.copies_per_sec, 976.0);
        assert_eq!(r.bytes_per_sec, 16_000_000.0);
        assert_eq!(d.average_copy_size(), Some(16_393));
        assert!(d.rate(Duration::ZERO).is_none());
        assert!(d.rate(Duration::from_nanos(1)).is_some());
        let huge = StatsDelta {
            copy_count: u64::MAX,
            copy_bytes: u64::MAX,
        };
        assert!(
            huge.rate(Duration::from_nanos(1))
                .unwrap()
                .bytes_per_sec
                .is_finite()
        );
    }

    #[test]
    fn the_meter_reports_deltas_since_the_last_sample() {
        let mut m = StatsMeter::starting_at(snap(0, 0), Duration::from_secs(100));
        let a = m.record(snap(2, 8192), Duration::from_secs(101));
        assert_eq!(
            a.delta,
            StatsDelta {
                copy_count: 2,
                copy_bytes: 8192
            }
        );
        assert_eq!(a.elapsed, Duration::from_secs(1));
        let b = m.record(snap(3, 12288), Duration::from_millis(101_500));
        assert_eq!(
            b.delta,
            StatsDelta {
                copy_count: 1,
                copy_bytes: 4096
            }
        );
        assert_eq!(b.rate().unwrap().bytes_per_sec, 8192.0);
        // A clock going back: no time passed, and the meter keeps its time.
        let c = m.record(snap(3, 12288), Duration::from_secs(50));
        assert_eq!(c.elapsed, Duration::ZERO);
        assert!(c.rate().is_none());
        let d = m.record(snap(4, 16384), Duration::from_millis(102_500));
        assert_eq!(d.elapsed, Duration::from_secs(1));
        assert_eq!(m.last(), snap(4, 16384));
    }
}
