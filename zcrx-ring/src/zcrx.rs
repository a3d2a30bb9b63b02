//! A registered ZCRX instance (the kernel's "ifq") and its builder.
//!
//! ```no_run
//! use zcrx_ring::{Area, Zcrx};
//! # fn demo(ring: rustix::fd::BorrowedFd<'_>) -> zcrx_ring::Result<()> {
//! let zcrx = Zcrx::builder_nodev()
//!     .rq_entries(64)
//!     .area(Area::anonymous(64 * 4096)?)
//!     .register_fd(ring)?;
//! println!("zcrx {} with {} entries", zcrx.id(), zcrx.rq_entries());
//! # Ok(()) }
//! ```

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::marker::PhantomData;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use zcrx_uapi::abi::KernelVersion;
use zcrx_uapi::{
    IORING_MEM_REGION_TYPE_USER, IORING_ZCRX_AREA_MASK, IORING_ZCRX_AREA_SHIFT, ZCRX_CTRL_ADD_AREA,
    ZCRX_EVENT_DESC_FLAG_STATS, ZCRX_REG_IMPORT, ZCRX_REG_NODEV, ZcrxEventMask,
    io_uring_region_desc, io_uring_zcrx_area_reg, io_uring_zcrx_ifq_reg, io_uring_zcrx_rqe,
    zcrx_ctrl, zcrx_event_desc, zcrx_stats,
};

use crate::area::Area;
use crate::buf::{AreaShared, Buf};
use crate::caps::Capabilities;
use crate::error::{Error, Result};
use crate::refill::{KernelRefill, Producer};
use crate::region::{CheckedOffsets, RegionLayout, RegionMemory, StatsPlacement};
use crate::sys;

const OP_REGISTER: &str = "IORING_REGISTER_ZCRX_IFQ";
const OP_CTRL: &str = "IORING_REGISTER_ZCRX_CTRL";

/// Where the instance receives from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// No network device (`ZCRX_REG_NODEV`, Linux 7.1): the kernel copies
    /// any TCP socket's data into the area. Refill entries are consumed only
    /// on `ZCRX_CTRL_FLUSH_RQ`, which this crate issues when needed.
    Nodev,
    /// A hardware receive queue of a network device.
    Nic {
        /// Interface index.
        ifindex: u32,
        /// Receive queue index.
        rxq: u32,
    },
}

/// Event (notification) configuration of a registration; `zcrx-notif`
/// builds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventConfig {
    /// `user_data` of the event completions.
    pub user_data: u64,
    /// Event types to enable (bits `1 << ZCRX_EVENT_*`).
    pub mask: ZcrxEventMask,
    /// Whether and where to keep the stats block.
    pub stats: StatsPlacement,
}

/// Builds and registers a [`Zcrx`] instance.
#[derive(Debug)]
#[must_use]
pub struct ZcrxBuilder {
    target: Target,
    rq_entries: u32,
    rx_buf_len: u32,
    areas: Vec<Area>,
    kernel_region: bool,
    region_size: u64,
    events: Option<EventConfig>,
    unchecked: bool,
}

impl ZcrxBuilder {
    fn new(target: Target) -> Self {
        Self {
            target,
            rq_entries: 0,
            rx_buf_len: 0,
            areas: Vec::new(),
            kernel_region: false,
            region_size: 0,
            events: None,
            unchecked: false,
        }
    }

    /// Refill ring entries (rounded up to a power of two by the kernel).
    /// Defaults to one per buffer of the areas, at most 32768.
    pub fn rq_entries(mut self, n: u32) -> Self {
        self.rq_entries = n;
        self
    }

    /// Buffer size (a power of two, at least the page size; NIC mode on
    /// kernels with `ZCRX_FEATURE_RX_PAGE_SIZE` only). 0 means the page
    /// size.
    pub fn rx_buf_len(mut self, len: u32) -> Self {
        self.rx_buf_len = len;
        self
    }

    /// Adds an area. The first is registered with the instance; more are
    /// added with `ZCRX_CTRL_ADD_AREA` (Linux 7.3).
    pub fn area(mut self, area: Area) -> Self {
        self.areas.push(area);
        self
    }

    /// Lets the kernel allocate the refill region (mapped afterwards at the
    /// offset it writes back) instead of using memory mapped here.
    pub fn kernel_region(mut self, yes: bool) -> Self {
        self.kernel_region = yes;
        self
    }

    /// Asks for a refill region of at least `bytes` (rounded up to the page
    /// size); by default it is exactly large enough.
    pub fn region_size(mut self, bytes: u64) -> Self {
        self.region_size = bytes;
        self
    }

    /// Enables events and/or stats.
    pub fn events(mut self, events: EventConfig) -> Self {
        self.events = Some(events);
        self
    }

    /// Skips this crate's checks of the event configuration and region size,
    /// so that tests can watch the kernel refuse them. Not for production.
    #[doc(hidden)]
    pub fn unchecked(mut self) -> Self {
        self.unchecked = true;
        self
    }

    /// Registers on `ring`, after checking that it was set up the way ZCRX
    /// needs (`IORING_SETUP_DEFER_TASKRUN`, and `IORING_SETUP_CQE32` or
    /// `IORING_SETUP_CQE_MIXED`: the defaults of [`Ring`](crate::ring::Ring)).
    pub fn register<M: crate::ring::CqeMode>(self, ring: &crate::ring::Ring<M>) -> Result<Zcrx> {
        use zcrx_uapi::SetupFlags;
        let flags = ring.setup_flags();
        if !flags.contains(SetupFlags::DEFER_TASKRUN) {
            return Err(Error::invalid(
                "ring",
                "ZCRX needs a ring set up with IORING_SETUP_DEFER_TASKRUN",
            ));
        }
        if !flags.intersects(SetupFlags::CQE32 | SetupFlags::CQE_MIXED) {
            return Err(Error::invalid(
                "ring",
                "ZCRX needs a ring set up with IORING_SETUP_CQE32 or IORING_SETUP_CQE_MIXED",
            ));
        }
        self.register_fd(ring.as_fd())
    }

    /// Registers on the ring `ring` (any io_uring, including one owned by
    /// another library: it must have been set up with
    /// `IORING_SETUP_DEFER_TASKRUN` and `IORING_SETUP_CQE32` or
    /// `IORING_SETUP_CQE_MIXED`), asking the kernel's capabilities first.
    ///
    /// Call it on the thread that submits to the ring: `SINGLE_ISSUER` rings
    /// refuse registrations from other threads.
    pub fn register_fd(self, ring: BorrowedFd<'_>) -> Result<Zcrx> {
        let caps = Capabilities::query_ring(ring);
        self.register_with_caps(ring, &caps)
    }

    /// Like [`register_fd`](Self::register_fd) with capabilities already
    /// queried.
    pub fn register_with_caps(self, ring: BorrowedFd<'_>, caps: &Capabilities) -> Result<Zcrx> {
        let page = rustix::param::page_size();
        let zcaps = caps.zcrx().ok().copied();
        let ecaps = caps.zcrx_event().ok().copied();

        // Checks that need no system call.
        let Some(first) = self.areas.first() else {
            return Err(Error::invalid("areas", "at least one area is needed"));
        };
        let nodev = self.target == Target::Nodev;
        if nodev {
            match &zcaps {
                Some(z) => z.require_nodev()?,
                None => return Err(caps.zcrx().map(|_| ()).unwrap_err().into()),
            }
        }
        let buf_len = if self.rx_buf_len == 0 {
            page as u32
        } else {
            self.rx_buf_len
        };
        if !buf_len.is_power_of_two() || (buf_len as usize) < page {
            return Err(Error::invalid(
                "rx_buf_len",
                "must be a power of two and at least the page size",
            ));
        }
        if buf_len as usize != page {
            if nodev {
                return Err(Error::invalid(
                    "rx_buf_len",
                    "NODEV instances use page-sized buffers",
                ));
            }
            if !zcaps.is_some_and(|z| z.supports_rx_buf_len()) {
                return Err(Error::unsupported(
                    "ZCRX_FEATURE_RX_PAGE_SIZE",
                    Some(KernelVersion::new(7, 0)),
                ));
            }
        }
        for area in &self.areas {
            if area.len() % buf_len as usize != 0 {
                return Err(Error::invalid(
                    "area length",
                    "must be a multiple of the buffer size",
                ));
            }
            if area.is_dmabuf() {
                if nodev {
                    return Err(Error::invalid(
                        "area",
                        "dmabuf areas need a network device (not NODEV)",
                    ));
                }
                if !zcaps.is_some_and(|z| z.supports_dmabuf()) {
                    return Err(Error::unsupported(
                        "IORING_ZCRX_AREA_DMABUF",
                        Some(KernelVersion::new(6, 16)),
                    ));
                }
            }
        }
        if self.areas.len() > 1 {
            match &zcaps {
                Some(z) => z.require_ctrl(ZCRX_CTRL_ADD_AREA)?,
                None => {
                    return Err(Error::unsupported(
                        "ZCRX_CTRL_ADD_AREA",
                        Some(KernelVersion::new(7, 3)),
                    ));
                }
            }
        }
        let total_bufs: usize = self.areas.iter().map(|a| a.len() / buf_len as usize).sum();
        let rq_entries = match self.rq_entries {
            0 => u32::try_from(total_bufs)
                .unwrap_or(u32::MAX)
                .clamp(1, crate::region::MAX_RQ_ENTRIES),
            n => n,
        };

        let mut event_desc = zcrx_event_desc::default();
        let stats = self.events.map_or(StatsPlacement::None, |e| e.stats);
        if let Some(ev) = &self.events {
            if !self.unchecked {
                let ecaps = match (&zcaps, &ecaps) {
                    (Some(z), Some(e)) if z.supports_events() => e,
                    _ => {
                        return Err(Error::unsupported(
                            "ZCRX_FEATURE_EVENT",
                            Some(KernelVersion::new(7, 2)),
                        ));
                    }
                };
                if !ecaps.event_flags.contains(ev.mask) {
                    return Err(Error::invalid(
                        "event type_mask",
                        "has event types the kernel does not support",
                    ));
                }
            }
            event_desc.user_data = ev.user_data;
            event_desc.type_mask = ev.mask.bits();
        }

        let layout = if self.unchecked {
            unchecked_layout(
                rq_entries,
                zcaps.as_ref(),
                stats,
                self.region_size,
                page as u64,
            )
        } else {
            RegionLayout::plan(
                rq_entries,
                zcaps.as_ref(),
                ecaps.as_ref(),
                stats,
                self.region_size,
            )?
        };
        if let Some(off) = layout.stats_offset {
            event_desc.flags = ZCRX_EVENT_DESC_FLAG_STATS;
            event_desc.stats_offset = off;
        }

        // Memory the kernel will use.
        let user_region = if self.kernel_region {
            None
        } else {
            Some(RegionMemory::anonymous(layout.size)?)
        };
        let mut region_desc = io_uring_region_desc {
            size: layout.size,
            ..Default::default()
        };
        if let Some(mem) = &user_region {
            region_desc.user_addr = mem.as_ptr() as u64;
            region_desc.flags = IORING_MEM_REGION_TYPE_USER;
        }
        let mut area_reg = first.registration();
        let (target_idx, target_rxq) = match self.target {
            Target::Nodev => (0, 0),
            Target::Nic { ifindex, rxq } => (ifindex, rxq),
        };
        let mut reg = io_uring_zcrx_ifq_reg {
            if_idx: target_idx,
            if_rxq: target_rxq,
            rq_entries,
            flags: if nodev { ZCRX_REG_NODEV } else { 0 },
            area_ptr: ptr::from_mut(&mut area_reg) as u64,
            region_ptr: ptr::from_mut(&mut region_desc) as u64,
            rx_buf_len: self.rx_buf_len,
            event_desc: if self.events.is_some() {
                ptr::from_mut(&mut event_desc) as u64
            } else {
                0
            },
            ..Default::default()
        };

        // SAFETY: `area_ptr`, `region_ptr` and `event_desc` point to live
        // locals for the call; the area and region memory they describe is
        // owned by `self.areas[0]` and `user_region`, which move into the
        // returned `Zcrx` (or are dropped on failure, which only unmaps: the
        // kernel's page pins keep the pages themselves alive).
        unsafe { sys::register_zcrx_ifq(ring, &mut reg) }
            .map_err(|e| map_register_error(e, nodev, self.events.is_some()))?;

        // From here on the kernel holds the instance; check what it wrote.
        let offsets = layout.validate(&reg.offsets, reg.rq_entries)?;
        let shift = reg.rx_buf_len.trailing_zeros();
        if !reg.rx_buf_len.is_power_of_two() || (reg.rx_buf_len as usize) < page {
            return Err(Error::KernelValue {
                field: "io_uring_zcrx_ifq_reg.rx_buf_len",
                value: reg.rx_buf_len.into(),
                reason: "not a power of two of at least the page size",
            });
        }
        if area_reg.rq_area_token != 0 {
            return Err(Error::KernelValue {
                field: "io_uring_zcrx_area_reg.rq_area_token",
                value: area_reg.rq_area_token,
                reason: "the first area must have id 0",
            });
        }
        let region = match user_region {
            Some(mem) => mem,
            None => {
                if region_desc.mmap_offset == 0 {
                    return Err(Error::KernelValue {
                        field: "io_uring_region_desc.mmap_offset",
                        value: 0,
                        reason: "no mmap offset for a kernel-allocated region",
                    });
                }
                RegionMemory::map_kernel(ring, layout.size, region_desc.mmap_offset)?
            }
        };

        let ring_fd = rustix::io::fcntl_dupfd_cloexec(ring, 0)
            .map_err(|e| Error::kernel("fcntl(F_DUPFD_CLOEXEC) of the ring", e))?;
        let pending = Arc::new(AtomicUsize::new(0));
        let mut areas = self.areas.into_iter();
        let first = areas.next().map(|a| a.mem);
        let mut zcrx = Zcrx::assemble(
            ring_fd,
            reg.zcrx_id,
            nodev,
            shift,
            layout,
            offsets,
            region,
            pending,
            zcaps,
            false,
        );
        if let Some(mem) = first {
            zcrx.areas.push(Arc::new(AreaShared::new(
                mem,
                0,
                shift,
                zcrx.pending.clone(),
            )));
        }
        for area in areas {
            zcrx.add_area(area)?;
        }
        zcrx.recompute_total();
        Ok(zcrx)
    }
}

/// A layout that skips this crate's checks (for tests of kernel refusals).
fn unchecked_layout(
    rq_entries: u32,
    zcaps: Option<&crate::caps::ZcrxCaps>,
    stats: StatsPlacement,
    min_size: u64,
    page: u64,
) -> RegionLayout {
    let entries = rq_entries.max(1).next_power_of_two();
    let entries_offset = zcaps
        .and_then(|z| z.refill_entries_offset().ok())
        .map_or(page, u64::from);
    let entries_end = entries_offset + 16 * u64::from(entries);
    let stats_offset = match stats {
        StatsPlacement::None => None,
        StatsPlacement::Auto => Some(entries_end.next_multiple_of(8)),
        StatsPlacement::At(off) => Some(off),
    };
    let end = stats_offset.map_or(entries_end, |o| o.saturating_add(16).max(entries_end));
    let size = if min_size != 0 { min_size } else { end }.next_multiple_of(page);
    RegionLayout {
        entries,
        entries_offset,
        stats_offset,
        stats_size: 16,
        size,
    }
}

/// Maps a refusal of `IORING_REGISTER_ZCRX_IFQ` to the error naming its cause.
fn map_register_error(errno: Errno, nodev: bool, events: bool) -> Error {
    match errno {
        Errno::PERM | Errno::ACCESS => Error::PermissionDenied {
            op: OP_REGISTER,
            capability: "CAP_NET_ADMIN",
        },
        Errno::EXIST | Errno::BUSY => Error::QueueBusy {
            op: OP_REGISTER,
            errno,
        },
        Errno::NODEV => Error::invalid("if_idx", "no such network interface"),
        Errno::OPNOTSUPP if !nodev => Error::unsupported(
            "zero-copy receive on this interface (driver without queue management or memory providers)",
            None,
        ),
        Errno::RANGE if events => Error::invalid(
            "stats_offset",
            "the kernel refused it (ERANGE): before the end of the refill entries or outside the region",
        ),
        Errno::NOSYS => Error::unsupported("io_uring", Some(KernelVersion::new(5, 1))),
        _ => Error::kernel(OP_REGISTER, errno),
    }
}

/// The pieces of an instance that other code registered (for example a
/// library that owns the ring), for [`Zcrx::from_raw_parts`].
#[derive(Debug)]
pub struct RawParts {
    /// An fd of the ring the instance is registered with (control
    /// operations go through it; it is kept open by the instance).
    pub ring: OwnedFd,
    /// The instance id the kernel wrote back.
    pub zcrx_id: u32,
    /// Whether the instance was registered with `ZCRX_REG_NODEV`.
    pub nodev: bool,
    /// The refill region's memory.
    pub region: NonNull<u8>,
    /// The refill region's size in bytes.
    pub region_len: usize,
    /// The offsets the kernel wrote back.
    pub offsets: zcrx_uapi::io_uring_zcrx_offsets,
    /// The entry count the kernel wrote back.
    pub rq_entries: u32,
    /// The buffer size the kernel wrote back.
    pub rx_buf_len: u32,
    /// The stats block's offset, if the instance has one.
    pub stats_offset: Option<u64>,
}

/// The stats block the kernel keeps for an instance registered with stats.
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
    /// The cumulative number of payload fragments copied (an atomic load;
    /// the kernel updates it with plain stores).
    #[inline]
    pub fn copy_count(&self) -> u64 {
        self.counters[0].load(Ordering::Relaxed)
    }

    /// The cumulative number of bytes copied.
    #[inline]
    pub fn copy_bytes(&self) -> u64 {
        self.counters[1].load(Ordering::Relaxed)
    }
}

/// A registered ZCRX instance: its areas, its refill ring and, optionally,
/// its stats block.
///
/// Buffer views ([`Buf`]) borrow it. It is `Send` (build it, then move it
/// with its ring), but not `Sync`: the refill ring has a single producer.
/// Control operations must run on the thread that submits to the ring.
///
/// Dropping it unmaps its memory once no view or [`SharedBuf`](crate::SharedBuf)
/// needs it; the kernel keeps its own page pins until it releases the
/// instance (see [`area`](crate::area#teardown)).
#[derive(Debug)]
pub struct Zcrx {
    ring_fd: OwnedFd,
    id: u32,
    nodev: bool,
    buf_shift: u32,
    /// `(1 << buf_shift) - 1`.
    buf_mask: u64,
    /// `1 << buf_shift`.
    buf_len: u64,
    layout: RegionLayout,
    caps: Option<crate::caps::ZcrxCaps>,
    areas: Vec<Arc<AreaShared>>,
    /// Area 0's memory and length (null and 0 before it is added), kept
    /// here for the completion fast path.
    first_area: (*const u8, u64),
    refill: Producer<KernelRefill>,
    /// Returns that found the refill ring full (rare; see `recycle_slow`).
    stash: RefCell<Vec<io_uring_zcrx_rqe>>,
    /// Views handed out so far (wrapping). Buffers held by userspace are
    /// this minus the returns: entries queued on the refill ring since
    /// `queued_base`, plus those waiting in the stash. Counting only the
    /// hand-outs keeps the return path free of bookkeeping.
    handed_out: Cell<u32>,
    /// The refill producer's queued-entry count when the instance began.
    queued_base: u32,
    total_bufs: u32,
    pending: Arc<AtomicUsize>,
    /// The stats block inside the region, checked at assembly.
    stats: Option<NonNull<[AtomicU64; 2]>>,
    // Keeps the refill ring's memory alive; declared last so it outlives
    // every pointer above when dropped.
    _region: RegionMemory,
    _not_sync: PhantomData<Cell<()>>,
}

// SAFETY: the raw pointers inside (refill ring, region, area 0's base) point
// into mappings owned by this value, usable from any thread; `Zcrx` is
// `!Sync`, so only one thread uses them at a time. Moving it between threads is sound; the
// kernel's own rule (SINGLE_ISSUER rings take register calls only from their
// submitter) is reported as an error, not UB.
unsafe impl Send for Zcrx {}

impl Zcrx {
    /// A builder for a NODEV instance (no network device; Linux 7.1).
    pub fn builder_nodev() -> ZcrxBuilder {
        ZcrxBuilder::new(Target::Nodev)
    }

    /// A builder for receive queue `rxq` of interface `ifindex`.
    pub fn builder_nic(ifindex: u32, rxq: u32) -> ZcrxBuilder {
        ZcrxBuilder::new(Target::Nic { ifindex, rxq })
    }

    /// A builder for receive queue `rxq` of the interface named `name`.
    #[cfg(feature = "std")]
    pub fn builder_nic_named(name: &str, rxq: u32) -> Result<ZcrxBuilder> {
        let ifindex = ifindex_by_name(name)?;
        Ok(ZcrxBuilder::new(Target::Nic { ifindex, rxq }))
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        ring_fd: OwnedFd,
        id: u32,
        nodev: bool,
        buf_shift: u32,
        layout: RegionLayout,
        offsets: CheckedOffsets,
        region: RegionMemory,
        pending: Arc<AtomicUsize>,
        caps: Option<crate::caps::ZcrxCaps>,
        resume: bool,
    ) -> Self {
        // SAFETY: `offsets` passed `RegionLayout::validate` against the
        // region's size: head and tail are distinct aligned u32s and the
        // entries fit, none overlapping; `region` lives in the same value
        // and is dropped last.
        let mem = unsafe {
            KernelRefill::new(
                region.at(offsets.head),
                region.at(offsets.tail),
                region.at(offsets.rqes),
                offsets.entries,
            )
        };
        let refill = if resume {
            Producer::resume(mem)
        } else {
            Producer::new(mem)
        };
        let queued_base = refill.queued_total();
        let stats = layout
            .stats_offset
            .and_then(|off| usize::try_from(off).ok())
            .filter(|&off| off % 8 == 0 && off + size_of::<zcrx_stats>() <= region.len())
            .map(|off| region.at(off));
        Self {
            ring_fd,
            id,
            nodev,
            buf_shift,
            buf_mask: (1u64 << buf_shift) - 1,
            buf_len: 1u64 << buf_shift,
            layout,
            caps,
            areas: Vec::new(),
            first_area: (ptr::null(), 0),
            refill,
            stash: RefCell::new(Vec::new()),
            handed_out: Cell::new(0),
            queued_base,
            total_bufs: 0,
            pending,
            stats,
            _region: region,
            _not_sync: PhantomData,
        }
    }

    fn recompute_total(&mut self) {
        self.first_area = self.areas.first().map_or((ptr::null(), 0), |a| {
            (a.mem.as_ptr().cast_const(), a.mem.len() as u64)
        });
        let total: usize = self.areas.iter().map(|a| a.buffers()).sum();
        self.total_bufs = u32::try_from(total).unwrap_or(u32::MAX);
    }

    /// Adopts an instance registered by other code: buffer views, the refill
    /// producer and the receive loop then work on it as on one registered
    /// here. The producer continues from the ring's current tail. `areas`
    /// are the instance's areas in id order (area `i` has the token
    /// `i << IORING_ZCRX_AREA_SHIFT`). Every value is checked as if the
    /// kernel had just written it back.
    ///
    /// # Safety
    ///
    /// - `parts` describe one live instance, as the kernel wrote them back;
    /// - the region memory stays mapped, at the same address, while the
    ///   returned value lives, and nothing else produces into its refill
    ///   ring meanwhile;
    /// - the areas are the instance's, in id order, and no other code
    ///   holds or returns the buffers this instance will hand out.
    pub unsafe fn from_raw_parts(parts: RawParts, areas: Vec<Area>) -> Result<Self> {
        let page = rustix::param::page_size() as u64;
        if !parts.rx_buf_len.is_power_of_two() || u64::from(parts.rx_buf_len) < page {
            return Err(Error::invalid(
                "rx_buf_len",
                "must be a power of two of at least the page size",
            ));
        }
        if areas.is_empty() {
            return Err(Error::invalid("areas", "at least one area is needed"));
        }
        let layout = RegionLayout {
            entries: parts.rq_entries,
            entries_offset: u64::from(parts.offsets.rqes),
            stats_offset: parts.stats_offset,
            stats_size: if parts.stats_offset.is_some() {
                size_of::<zcrx_stats>() as u64
            } else {
                0
            },
            size: parts.region_len as u64,
        };
        let offsets = layout.validate(&parts.offsets, parts.rq_entries)?;
        if let Some(off) = parts.stats_offset {
            if off % 8 != 0 {
                return Err(Error::invalid("stats_offset", "not 8-aligned"));
            }
        }
        // SAFETY: the caller keeps the region mapped while `Self` lives.
        let region = unsafe { RegionMemory::borrowed(parts.region, parts.region_len) };
        let shift = parts.rx_buf_len.trailing_zeros();
        let pending = Arc::new(AtomicUsize::new(0));
        let mut zcrx = Self::assemble(
            parts.ring,
            parts.zcrx_id,
            parts.nodev,
            shift,
            layout,
            offsets,
            region,
            pending,
            None,
            true,
        );
        for (i, area) in areas.into_iter().enumerate() {
            if area.len() % parts.rx_buf_len as usize != 0 {
                return Err(Error::invalid(
                    "area length",
                    "must be a multiple of the buffer size",
                ));
            }
            let token = (i as u64) << IORING_ZCRX_AREA_SHIFT;
            zcrx.areas.push(Arc::new(AreaShared::new(
                area.mem,
                token,
                shift,
                zcrx.pending.clone(),
            )));
        }
        zcrx.recompute_total();
        Ok(zcrx)
    }

    /// The instance id (`zcrx_ifq_idx` of `IORING_OP_RECV_ZC` submissions
    /// on the ring it was registered with).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Refill ring entries, as the kernel rounded them.
    pub fn rq_entries(&self) -> u32 {
        self.refill.entries()
    }

    /// The buffer size the kernel uses.
    pub fn rx_buf_len(&self) -> u32 {
        1 << self.buf_shift
    }

    /// Whether this is a NODEV instance.
    pub fn is_nodev(&self) -> bool {
        self.nodev
    }

    /// The refill region's layout.
    pub fn region_layout(&self) -> &RegionLayout {
        &self.layout
    }

    /// Number of areas.
    pub fn area_count(&self) -> usize {
        self.areas.len()
    }

    /// Total number of buffers in all areas.
    pub fn buffers(&self) -> u32 {
        self.total_bufs
    }

    /// Returned buffers queued on the refill ring but not yet visible to the
    /// kernel (published by [`publish`](Self::publish)).
    pub fn unpublished(&self) -> u32 {
        self.refill.unpublished()
    }

    /// Returns waiting outside the refill ring because it was full: the
    /// back-pressure signal. They are retried at every
    /// [`publish`](Self::publish); a count that keeps growing means the
    /// kernel is not consuming the ring (in NIC mode, the page pool refills
    /// from it only as it needs buffers).
    pub fn backlog(&self) -> usize {
        self.stash.borrow().len()
    }

    /// Buffers currently held by userspace: views not yet given back, and
    /// [`SharedBuf`](crate::SharedBuf)s returned from other threads but not
    /// yet moved to the refill ring by [`publish`](Self::publish).
    pub fn held(&self) -> u32 {
        let returned = self
            .refill
            .queued_total()
            .wrapping_sub(self.queued_base)
            .wrapping_add(self.stash.borrow().len() as u32);
        self.handed_out.get().wrapping_sub(returned)
    }

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

    pub(crate) fn area_shared(&self, area_id: u16) -> Arc<AreaShared> {
        // The id was checked when the view was made.
        self.areas[area_id as usize].clone()
    }

    /// Turns a data completion of `IORING_OP_RECV_ZC` (its `res` > 0 and the
    /// `off` of its second half) into a view, after checking the area id,
    /// the bounds and that the chunk stays inside one buffer. Works with
    /// completions from any ring, including one owned by another library.
    #[inline]
    pub fn buf_from_completion(&self, res: i32, off: u64) -> Result<Buf<'_>> {
        // Fast path, inlined into receive loops: a chunk of area 0. Its
        // offset is then below area 0's length (the area bits are zero),
        // and a chunk that starts inside the area and does not cross a
        // buffer ends inside it (areas are whole buffers): three compares
        // instead of an area lookup through `Arc`s. Other areas, and
        // refusals, take the out-of-line path.
        let (base, area0_len) = self.first_area;
        // `res` in 1..=space left in the buffer, in one unsigned compare:
        // 0 and negative values wrap to at least 2^64 - 2^31, above any space.
        let space = self.buf_len - (off & self.buf_mask);
        let data = if off < area0_len && ((i64::from(res) - 1) as u64) < space {
            // SAFETY: `off` is inside area 0 (checked above), whose memory
            // starts at `base`.
            let data = unsafe { base.add(off as usize) }.cast_mut();
            // SAFETY: not null: area 0 is not empty (`off` is below its
            // length), so `base` is a mapping's address and `data` lies in it.
            unsafe { NonNull::new_unchecked(data) }
        } else {
            self.locate_chunk(res, off)?
        };
        self.handed_out.set(self.handed_out.get().wrapping_add(1));
        // SAFETY: the range is inside one buffer of the area the offset
        // names, which the kernel handed over with this completion.
        Ok(unsafe { Buf::new(self, data, res as u32, off) })
    }

    /// The general path of [`buf_from_completion`](Self::buf_from_completion):
    /// any area; the reason of a refusal.
    #[inline(never)]
    fn locate_chunk(&self, res: i32, off: u64) -> Result<NonNull<u8>> {
        let bad = |reason| Error::KernelValue {
            field: "io_uring_zcrx_cqe.off",
            value: off,
            reason,
        };
        let len = u32::try_from(res)
            .ok()
            .filter(|&l| l > 0)
            .ok_or(Error::KernelValue {
                field: "io_uring_cqe.res",
                value: res as u64,
                reason: "not a data length",
            })?;
        let area_id = (off >> IORING_ZCRX_AREA_SHIFT) as usize;
        let area = self
            .areas
            .get(area_id)
            .ok_or(bad("names an unknown area"))?;
        let in_area = off & !IORING_ZCRX_AREA_MASK;
        let end = in_area + u64::from(len);
        if end > area.mem.len() as u64 {
            return Err(bad("runs past the end of its area"));
        }
        if (in_area & self.buf_mask) + u64::from(len) > self.buf_len {
            return Err(bad("crosses a buffer boundary"));
        }
        // SAFETY: in bounds of the area's mapping (checked above).
        let data = unsafe { area.mem.as_ptr().add(in_area as usize) };
        NonNull::new(data).ok_or(bad("null"))
    }

    /// Queues a buffer on the refill ring (the view's drop path).
    #[inline]
    pub(crate) fn recycle(&self, off: u64, len: u32) {
        let rqe = io_uring_zcrx_rqe { off, len, __pad: 0 };
        if let Err(rqe) = self.refill.push(rqe) {
            self.recycle_slow(rqe);
        }
    }

    #[cold]
    fn recycle_slow(&self, rqe: io_uring_zcrx_rqe) {
        self.refill.publish();
        if self.nodev && self.flush().is_ok() && self.refill.push(rqe).is_ok() {
            return;
        }
        // A full ring the kernel has not drained yet (NIC mode), or a flush
        // that failed: keep the entry and retry before the next wait.
        self.stash.borrow_mut().push(rqe);
    }

    /// Moves returns made by other threads and stashed entries to the refill
    /// ring, and publishes the tail (one store-release). Receive loops call
    /// it before every wait or submission.
    pub fn publish(&self) {
        if self.pending.load(Ordering::Relaxed) != 0 {
            self.pending.swap(0, Ordering::Acquire);
            for area in &self.areas {
                area.take_returns(|off, n| {
                    for _ in 0..n {
                        let rqe = io_uring_zcrx_rqe {
                            off,
                            len: 1 << self.buf_shift,
                            __pad: 0,
                        };
                        if let Err(rqe) = self.refill.push(rqe) {
                            self.stash.borrow_mut().push(rqe);
                        }
                    }
                });
            }
        }
        if !self.stash.borrow().is_empty() {
            let mut stash = self.stash.borrow_mut();
            while let Some(rqe) = stash.pop() {
                if let Err(rqe) = self.refill.push(rqe) {
                    stash.push(rqe);
                    break;
                }
            }
        }
        self.refill.publish();
    }

    /// Publishes, and in NODEV mode flushes the refill ring when the kernel
    /// is running low on free buffers (or `force` is set). Returns whether a
    /// flush happened.
    pub fn prepare_wait(&self, force: bool) -> Result<bool> {
        self.publish();
        if !self.nodev {
            return Ok(false);
        }
        let unconsumed = self.refill.unconsumed();
        if unconsumed == 0 {
            return Ok(false);
        }
        let kernel_free = self
            .total_bufs
            .saturating_sub(self.held())
            .saturating_sub(unconsumed);
        if force || kernel_free < self.total_bufs / 2 || unconsumed >= self.rq_entries() / 2 {
            self.flush()?;
            if !self.stash.borrow().is_empty() {
                self.publish();
            }
            return Ok(true);
        }
        Ok(false)
    }

    /// `ZCRX_CTRL_FLUSH_RQ`: has the kernel consume the refill ring now (the
    /// only way entries are consumed in NODEV mode).
    pub fn flush(&self) -> Result<()> {
        self.refill.publish();
        let mut ctrl = zcrx_ctrl::flush_rq(self.id);
        self.ctrl(&mut ctrl)
    }

    fn ctrl(&self, ctrl: &mut zcrx_ctrl) -> Result<()> {
        let op = ctrl.op;
        if let Some(caps) = &self.caps {
            caps.require_ctrl(op)?;
        }
        // SAFETY: the operations issued through here carry no pointers,
        // except ADD_AREA, whose caller upholds `sys::zcrx_ctrl`'s contract.
        unsafe { sys::zcrx_ctrl(self.ring_fd.as_fd(), ctrl) }.map_err(|errno| match errno {
            Errno::EXIST => Error::Kernel {
                op: "IORING_REGISTER_ZCRX_CTRL (from a thread other than the SINGLE_ISSUER ring's submitter)",
                errno,
            },
            _ => Error::kernel(OP_CTRL, errno),
        })
    }

    /// `ZCRX_CTRL_ARM_EVENT`: re-arms one fired event type (`ZCRX_EVENT_*`).
    /// The kernel answers `EINVAL` for a type that has not fired; this
    /// returns that errno in [`Error::Kernel`] for `zcrx-notif` to interpret.
    pub fn arm_event(&self, event_type: u32) -> Result<()> {
        let mut ctrl = zcrx_ctrl::arm_event(self.id, event_type);
        self.ctrl(&mut ctrl)
    }

    /// `ZCRX_CTRL_EXPORT`: an fd that another ring can import
    /// ([`import_into`](Self::import_into)).
    pub fn export(&self) -> Result<OwnedFd> {
        let mut ctrl = zcrx_ctrl::export(self.id);
        self.ctrl(&mut ctrl)?;
        let fd = ctrl.zc_export().zcrx_fd as i32;
        if fd < 0 {
            return Err(Error::KernelValue {
                field: "zcrx_ctrl_export.zcrx_fd",
                value: fd as u64,
                reason: "not a file descriptor",
            });
        }
        // SAFETY: the kernel installed a new fd and gave it to us; nobody
        // else owns it.
        Ok(unsafe { <OwnedFd as rustix::fd::FromRawFd>::from_raw_fd(fd) })
    }

    /// Makes this instance usable from another ring (Linux 6.19): exports
    /// it and imports it there. Returns the id to use in that ring's
    /// `IORING_OP_RECV_ZC` submissions; its completions are views into this
    /// instance's areas, given back through this instance's refill ring.
    pub fn import_into(&self, ring: BorrowedFd<'_>) -> Result<u32> {
        if let Some(caps) = &self.caps {
            caps.require_import()?;
        }
        let exported = self.export()?;
        let mut reg = io_uring_zcrx_ifq_reg {
            if_idx: rustix::fd::AsRawFd::as_raw_fd(&exported) as u32,
            flags: ZCRX_REG_IMPORT,
            ..Default::default()
        };
        // SAFETY: an import carries no pointers (area, region and event
        // descriptor are all 0).
        unsafe { sys::register_zcrx_ifq(ring, &mut reg) }
            .map_err(|e| map_register_error(e, self.nodev, false))?;
        // The same instance: the kernel reports the same refill layout.
        self.layout.validate(&reg.offsets, self.rq_entries())?;
        Ok(reg.zcrx_id)
    }

    /// `ZCRX_CTRL_ADD_AREA` (Linux 7.3): adds another area; returns its id.
    /// Completions name the area in their offset; views are checked against
    /// their own area.
    pub fn add_area(&mut self, area: Area) -> Result<u16> {
        if let Some(caps) = &self.caps {
            caps.require_ctrl(ZCRX_CTRL_ADD_AREA)?;
        }
        if area.len() % (1usize << self.buf_shift) != 0 {
            return Err(Error::invalid(
                "area length",
                "must be a multiple of the buffer size",
            ));
        }
        if self.nodev && area.is_dmabuf() {
            return Err(Error::invalid(
                "area",
                "dmabuf areas need a network device (not NODEV)",
            ));
        }
        let mut area_reg: io_uring_zcrx_area_reg = area.registration();
        let mut ctrl = zcrx_ctrl::add_area(self.id, ptr::from_mut(&mut area_reg) as u64);
        // SAFETY: `area_ptr` points to a live local for the call; the area's
        // memory moves into `self` below and stays mapped while the kernel
        // may use it (see the `area` module's teardown notes).
        self.ctrl(&mut ctrl)?;
        let expected = (self.areas.len() as u64) << IORING_ZCRX_AREA_SHIFT;
        if area_reg.rq_area_token != expected {
            return Err(Error::KernelValue {
                field: "io_uring_zcrx_area_reg.rq_area_token",
                value: area_reg.rq_area_token,
                reason: "not the next area id",
            });
        }
        self.areas.push(Arc::new(AreaShared::new(
            area.mem,
            expected,
            self.buf_shift,
            self.pending.clone(),
        )));
        self.recompute_total();
        Ok((self.areas.len() - 1) as u16)
    }
}

impl AsFd for Zcrx {
    /// The instance's duplicate of its ring's fd.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.ring_fd.as_fd()
    }
}

/// `if_nametoindex` through rustix.
#[cfg(feature = "std")]
fn ifindex_by_name(name: &str) -> Result<u32> {
    use rustix::net::{AddressFamily, SocketType, socket};
    let sock = socket(AddressFamily::INET, SocketType::DGRAM, None)
        .map_err(|e| Error::kernel("socket (interface lookup)", e))?;
    rustix::net::netdevice::name_to_index(&sock, name)
        .map_err(|_| Error::invalid("interface name", "no such network interface"))
}
