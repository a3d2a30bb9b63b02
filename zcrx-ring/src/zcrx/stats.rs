//! The stats block (`struct zcrx_stats`, Linux 7.2) inside the refill
//! region.
//!
//! See [`StatsBlock`] for what the kernel counts.

use core::sync::atomic::{AtomicU64, Ordering};

use zcrx_uapi::zcrx_stats;

use super::Zcrx;

/// The stats block the kernel keeps for an instance registered with stats.
///
/// # What the kernel counts
///
/// `io_zcrx_copy_frag` (`io_uring/zcrx.c`) bumps the counters, and posts the
/// copy-fallback event, when it copies a **page fragment** of an skb that
/// did not come from the instance's page pool: `copy_count` by one per
/// fragment copied (however many buffers it filled), `copy_bytes` by the
/// bytes copied. Bytes copied from an skb's **linear part**
/// (`skb_headlen`, the data right after the headers) take another path and
/// are neither counted nor announced. So the counters are a lower bound of
/// the bytes the kernel copied, not "the share of the stream that was
/// copied": on loopback, a stream of small writes can arrive almost entirely
/// in linear parts and show `copy_bytes` far below the bytes received, even
/// though in NODEV mode every byte is copied. In NIC mode with header split,
/// linear parts hold headers only, so the counters there do measure the
/// payload that missed the zero-copy path.
#[derive(Debug)]
pub struct StatsBlock<'z> {
    /// `copy_count` and `copy_bytes`, in the kernel's order.
    counters: &'z [AtomicU64; 2],
}

// The block is read as two consecutive u64 counters.
const _: () = {
    assert!(core::mem::offset_of!(zcrx_stats, copy_count) == 0);
    assert!(core::mem::offset_of!(zcrx_stats, copy_bytes) == 8);
    assert!(size_of::<zcrx_stats>() == size_of::<[AtomicU64; 2]>());
};

impl StatsBlock<'_> {
    /// Page fragments copied instead of received in place, cumulative since
    /// registration (an atomic load; the kernel updates it with plain
    /// stores). Copies from an skb's linear part are not counted.
    #[inline]
    pub fn copy_count(&self) -> u64 {
        self.counters[0].load(Ordering::Relaxed)
    }

    /// Bytes of those fragments, cumulative since registration.
    #[inline]
    pub fn copy_bytes(&self) -> u64 {
        self.counters[1].load(Ordering::Relaxed)
    }
}

impl Zcrx {
    /// The stats block, if the instance was registered with stats.
    #[inline]
    pub fn stats(&self) -> Option<StatsBlock<'_>> {
        let counters = self.stats?;
        // SAFETY: checked when the instance was assembled: both counters
        // are inside the region, 8-aligned, and live as long as `self`; the
        // kernel only stores whole u64s into them, and they are only loaded
        // atomically here.
        let counters = unsafe { counters.as_ref() };
        Some(StatsBlock { counters })
    }
}
