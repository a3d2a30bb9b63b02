//! The refill region: the memory shared with the kernel that holds the
//! refill ring's head, tail and entries, and optionally the stats block.
//!
//! Its layout is the kernel's business. Before registration this crate
//! sizes it from the ZCRX query (the header size and alignment: 8/64 on
//! Linux 7.2, 128/64 on 7.3) and, for stats, from the event query (size and
//! alignment of the stats block). After registration it uses only the
//! offsets the kernel wrote back, after checking them against the region.

use core::ptr::NonNull;

use rustix::fd::BorrowedFd;
use rustix::mm::{MapFlags, ProtFlags};
use zcrx_uapi::{io_uring_zcrx_offsets, io_uring_zcrx_rqe};

use crate::caps::{ZcrxCaps, ZcrxEventCaps};
use crate::error::{Error, Result};

/// The most refill entries the kernel accepts without `IORING_SETUP_CLAMP`.
pub const MAX_RQ_ENTRIES: u32 = 32768;

const RQE_SIZE: u64 = size_of::<io_uring_zcrx_rqe>() as u64;

/// Where the stats block goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatsPlacement {
    /// No stats block.
    None,
    /// Right after the last refill entry, aligned as the kernel asks.
    Auto,
    /// At this offset from the start of the region; checked against the
    /// kernel's reported sizes before any system call.
    At(u64),
}

/// The planned layout of a refill region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionLayout {
    /// Refill entries (the request rounded up to a power of two, as the
    /// kernel does).
    pub entries: u32,
    /// Where the kernel is expected to place the entries: the reported
    /// header size rounded up to the reported alignment.
    pub entries_offset: u64,
    /// The stats block's offset, if any.
    pub stats_offset: Option<u64>,
    /// The stats block's size as the kernel reports it (0 without stats).
    pub stats_size: u64,
    /// The region's size, a multiple of the page size.
    pub size: u64,
}

impl RegionLayout {
    /// Plans a region for `rq_entries` entries.
    ///
    /// `zcrx` is the ZCRX query's answer; without it (kernels before 6.19,
    /// which lack the query) the entries are assumed to start within the
    /// first page, which is where every kernel with ZCRX places them.
    /// `events` is the event query's answer and is required for stats.
    /// `min_size` asks for a larger region (rounded up to the page size).
    pub fn plan(
        rq_entries: u32,
        zcrx: Option<&ZcrxCaps>,
        events: Option<&ZcrxEventCaps>,
        stats: StatsPlacement,
        min_size: u64,
    ) -> Result<Self> {
        let page = rustix::param::page_size() as u64;
        if rq_entries == 0 {
            return Err(Error::invalid("rq_entries", "must be at least 1"));
        }
        if rq_entries > MAX_RQ_ENTRIES {
            return Err(Error::invalid("rq_entries", "must be at most 32768"));
        }
        let entries = rq_entries.next_power_of_two();
        let entries_offset = match zcrx {
            Some(caps) => u64::from(caps.refill_entries_offset()?),
            None => page,
        };
        let entries_end = entries_offset + RQE_SIZE * u64::from(entries);

        let (stats_offset, stats_size) = match stats {
            StatsPlacement::None => (None, 0),
            StatsPlacement::Auto | StatsPlacement::At(_) => {
                let ev = events.ok_or(Error::unsupported(
                    "IO_URING_QUERY_ZCRX_EVENT",
                    Some(zcrx_uapi::abi::KernelVersion::new(7, 2)),
                ))?;
                let align = u64::from(ev.stats_off_alignment);
                let size = u64::from(ev.stats_size);
                if !align.is_power_of_two() || align > page || size == 0 || size > page {
                    return Err(Error::KernelValue {
                        field: "io_uring_query_zcrx_event",
                        value: (size << 32) | align,
                        reason: "stats size or alignment out of range",
                    });
                }
                let off = match stats {
                    StatsPlacement::At(off) => {
                        if off % align != 0 {
                            return Err(Error::invalid(
                                "stats_offset",
                                "not aligned to the kernel's stats_off_alignment",
                            ));
                        }
                        if off < entries_end {
                            return Err(Error::invalid(
                                "stats_offset",
                                "overlaps the refill ring header or entries",
                            ));
                        }
                        off
                    }
                    _ => entries_end.next_multiple_of(align),
                };
                (Some(off), size)
            }
        };

        let end = match stats_offset {
            Some(off) => off
                .checked_add(stats_size)
                .ok_or(Error::invalid("stats_offset", "outside the region"))?,
            None => entries_end,
        };
        if min_size != 0 {
            let region = min_size.next_multiple_of(page);
            if entries_end > region {
                return Err(Error::invalid(
                    "region size",
                    "too small for the refill ring header and entries",
                ));
            }
            if end > region {
                return Err(Error::invalid("stats_offset", "outside the region"));
            }
        }
        let size = end.max(min_size).next_multiple_of(page);
        Ok(Self {
            entries,
            entries_offset,
            stats_offset,
            stats_size,
            size,
        })
    }

    /// Checks the offsets the kernel wrote back against this layout and the
    /// entry count it wrote back; returns the byte offsets to use.
    pub(crate) fn validate(
        &self,
        offsets: &io_uring_zcrx_offsets,
        entries: u32,
    ) -> Result<CheckedOffsets> {
        let bad = |field, value: u64, reason| Error::KernelValue {
            field,
            value,
            reason,
        };
        if !entries.is_power_of_two() || entries < self.entries.min(MAX_RQ_ENTRIES) {
            return Err(bad(
                "io_uring_zcrx_ifq_reg.rq_entries",
                entries.into(),
                "not a power of two, or fewer than asked for",
            ));
        }
        let size = self.size;
        let head = u64::from(offsets.head);
        let tail = u64::from(offsets.tail);
        let rqes = u64::from(offsets.rqes);
        let rqes_end = rqes + RQE_SIZE * u64::from(entries);
        for (field, off) in [("offsets.head", head), ("offsets.tail", tail)] {
            if off % 4 != 0 || off + 4 > size || (off + 4 > rqes && off < rqes_end) {
                return Err(bad(
                    field,
                    off,
                    "misaligned, outside the region or inside the entries",
                ));
            }
        }
        if head.abs_diff(tail) < 4 {
            return Err(bad("offsets.tail", tail, "overlaps the head"));
        }
        if rqes % 8 != 0 || rqes_end > size {
            return Err(bad(
                "offsets.rqes",
                rqes,
                "misaligned or the entries do not fit the region",
            ));
        }
        if let Some(stats) = self.stats_offset {
            if stats < rqes_end || stats + self.stats_size > size {
                return Err(bad(
                    "offsets.rqes",
                    rqes,
                    "the entries overlap the stats block",
                ));
            }
        }
        Ok(CheckedOffsets {
            head: head as usize,
            tail: tail as usize,
            rqes: rqes as usize,
            entries,
        })
    }
}

/// Offsets that passed [`RegionLayout::validate`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct CheckedOffsets {
    pub(crate) head: usize,
    pub(crate) tail: usize,
    pub(crate) rqes: usize,
    pub(crate) entries: u32,
}

/// The region's memory, mapped by this crate.
#[derive(Debug)]
pub(crate) struct RegionMemory {
    ptr: NonNull<u8>,
    len: usize,
    /// Whether this value mapped the memory (and unmaps it on drop).
    owned: bool,
}

// SAFETY: a pointer to a mapping owned by this value; all shared accesses go
// through atomics or the single refill producer.
unsafe impl Send for RegionMemory {}

impl RegionMemory {
    /// Anonymous memory for a user-memory region.
    pub(crate) fn anonymous(len: u64) -> Result<Self> {
        let len = usize::try_from(len).map_err(|_| Error::invalid("region size", "too large"))?;
        let ptr = crate::mm::anonymous(len, MapFlags::POPULATE)
            .map_err(|e| Error::kernel("mmap (refill region)", e))?;
        Ok(Self {
            ptr,
            len,
            owned: true,
        })
    }

    /// Maps a kernel-allocated region of the ring at `offset`.
    pub(crate) fn map_kernel(ring: BorrowedFd<'_>, len: u64, offset: u64) -> Result<Self> {
        let len = usize::try_from(len).map_err(|_| Error::invalid("region size", "too large"))?;
        let ptr = crate::mm::shared(ring, len, offset, ProtFlags::READ | ProtFlags::WRITE, true)
            .map_err(|e| Error::kernel("mmap (kernel refill region)", e))?;
        Ok(Self {
            ptr,
            len,
            owned: true,
        })
    }

    /// Memory mapped by someone else.
    ///
    /// # Safety
    ///
    /// `ptr..ptr+len` stays mapped while the value lives.
    pub(crate) unsafe fn borrowed(ptr: NonNull<u8>, len: usize) -> Self {
        Self {
            ptr,
            len,
            owned: false,
        }
    }

    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// A pointer `off` bytes in; `off + size <= len` must have been checked.
    pub(crate) fn at<T>(&self, off: usize) -> NonNull<T> {
        debug_assert!(off + size_of::<T>() <= self.len);
        // SAFETY: in bounds per the caller's check.
        unsafe { self.ptr.add(off) }.cast()
    }
}

impl Drop for RegionMemory {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        // SAFETY: our own mapping; nothing references it any more. Pages the
        // kernel pinned stay allocated until it releases them.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zcrx_uapi::{ZcrxAreaFlags, ZcrxEventMask, ZcrxFeatures, ZcrxRegFlags};

    fn zcrx(hdr: u32) -> ZcrxCaps {
        ZcrxCaps {
            register_flags: ZcrxRegFlags::NODEV,
            area_flags: ZcrxAreaFlags::empty(),
            nr_ctrl_opcodes: 4,
            features: ZcrxFeatures::EVENT,
            rq_hdr_size: hdr,
            rq_hdr_alignment: 64,
        }
    }

    const EVENTS: ZcrxEventCaps = ZcrxEventCaps {
        event_flags: ZcrxEventMask::all(),
        stats_size: 16,
        stats_off_alignment: 8,
    };

    #[test]
    fn layout_follows_the_reported_header() {
        // 7.2: header 8, aligned to 64.
        let l =
            RegionLayout::plan(64, Some(&zcrx(8)), Some(&EVENTS), StatsPlacement::Auto, 0).unwrap();
        assert_eq!(l.entries_offset, 64);
        assert_eq!(l.stats_offset, Some(64 + 16 * 64));
        assert_eq!(l.size, 4096);
        // 7.3: header 128.
        let l = RegionLayout::plan(64, Some(&zcrx(128)), Some(&EVENTS), StatsPlacement::Auto, 0)
            .unwrap();
        assert_eq!(l.entries_offset, 128);
        assert_eq!(l.stats_offset, Some(128 + 16 * 64));
        // Rounding up like the kernel.
        let l = RegionLayout::plan(100, Some(&zcrx(128)), None, StatsPlacement::None, 0).unwrap();
        assert_eq!(l.entries, 128);
        assert_eq!(l.size, 4096);
        let l = RegionLayout::plan(4096, Some(&zcrx(128)), None, StatsPlacement::None, 0).unwrap();
        assert_eq!(l.size, (128u64 + 16 * 4096).next_multiple_of(4096));
    }

    #[test]
    fn a_7_2_style_offset_is_refused_on_7_3() {
        let on73 = zcrx(128);
        let offset_72 = 64 + 16 * 64;
        let err = RegionLayout::plan(
            64,
            Some(&on73),
            Some(&EVENTS),
            StatsPlacement::At(offset_72),
            0,
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::invalid("stats_offset", "overlaps the refill ring header or entries")
        );
    }

    #[test]
    fn bad_stats_placements_name_the_field() {
        let z = zcrx(8);
        let misaligned = RegionLayout::plan(
            64,
            Some(&z),
            Some(&EVENTS),
            StatsPlacement::At(64 + 1024 + 4),
            0,
        );
        assert!(matches!(
            misaligned,
            Err(Error::InvalidConfig {
                field: "stats_offset",
                ..
            })
        ));
        let outside =
            RegionLayout::plan(64, Some(&z), Some(&EVENTS), StatsPlacement::At(8192), 4096);
        assert!(matches!(
            outside,
            Err(Error::InvalidConfig {
                field: "stats_offset",
                ..
            })
        ));
        let tiny = RegionLayout::plan(4096, Some(&z), None, StatsPlacement::None, 4096);
        assert!(matches!(
            tiny,
            Err(Error::InvalidConfig {
                field: "region size",
                ..
            })
        ));
        let no_events = RegionLayout::plan(64, Some(&z), None, StatsPlacement::Auto, 0);
        assert!(matches!(no_events, Err(Error::Unsupported(_))));
        assert!(RegionLayout::plan(0, Some(&z), None, StatsPlacement::None, 0).is_err());
        assert!(RegionLayout::plan(40000, Some(&z), None, StatsPlacement::None, 0).is_err());
    }

    #[test]
    fn written_back_offsets_are_checked() {
        let l = RegionLayout::plan(64, Some(&zcrx(128)), Some(&EVENTS), StatsPlacement::Auto, 0)
            .unwrap();
        let good = io_uring_zcrx_offsets {
            head: 0,
            tail: 64,
            rqes: 128,
            ..Default::default()
        };
        assert!(l.validate(&good, 64).is_ok());
        let outside = io_uring_zcrx_offsets { rqes: 4000, ..good };
        assert!(l.validate(&outside, 64).is_err());
        let inside_entries = io_uring_zcrx_offsets { tail: 256, ..good };
        assert!(l.validate(&inside_entries, 64).is_err());
        let same = io_uring_zcrx_offsets { tail: 0, ..good };
        assert!(l.validate(&same, 64).is_err());
        assert!(l.validate(&good, 63).is_err());
        assert!(l.validate(&good, 32).is_err());
        // Entries that would run into the stats block.
        assert!(
            l.validate(&io_uring_zcrx_offsets { rqes: 256, ..good }, 64)
                .is_err()
        );
    }
}
