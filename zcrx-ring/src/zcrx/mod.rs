//! A registered ZCRX instance (the kernel's "ifq"): registration, adoption,
//! the view path, control operations and stats.
//!
//! ```no_run
//! use zcrx_ring::{Area, Ring, Zcrx};
//! # fn demo() -> zcrx_ring::Result<()> {
//! let ring: Ring = Ring::new(64)?;
//! let zcrx = Zcrx::builder_nodev()
//!     .rq_entries(64)
//!     .area(Area::anonymous(64 * 4096)?)
//!     .register(&ring)?;
//! println!("zcrx {} with {} entries", zcrx.id(), zcrx.rq_entries());
//! # Ok(()) }
//! ```
//!
//! The files of this module, one job each: `builder` (validation and
//! `IORING_REGISTER_ZCRX_IFQ`), `adopt` (instances registered by other code),
//! `view` (completion → checked view, the hot path), `ctrl` (the
//! `IORING_REGISTER_ZCRX_CTRL` operations, export/import, more areas),
//! `errno` (kernel refusals → errors that name the cause) and `stats`. The
//! return path (views given back, published to the kernel) lives next to
//! the refill queue, in [`refill`](crate::refill).

mod adopt;
mod batch;
mod builder;
mod ctrl;
pub(crate) mod errno;
mod stats;
mod view;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::marker::PhantomData;
use core::ptr::{self, NonNull};
use core::sync::atomic::AtomicU64;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use zcrx_uapi::{ZcrxEventMask, zcrx_stats};

use crate::error::Result;
use crate::refill::returns::{AreaShared, Returns};
use crate::region::{CheckedOffsets, RegionLayout, RegionMemory, StatsPlacement};
use crate::ring::RingId;

pub use adopt::RawParts;
pub use builder::ZcrxBuilder;
pub use ctrl::Imported;
pub use stats::StatsBlock;

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

/// Event configuration of a registration (the kernel's `zcrx_event_desc`;
/// the proposal called events "notifications"); `zcrx-notif` builds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventConfig {
    /// `user_data` of the event completions.
    pub user_data: u64,
    /// Event types to enable (bits `1 << ZCRX_EVENT_*`).
    pub mask: ZcrxEventMask,
    /// Whether and where to keep the stats block.
    pub stats: StatsPlacement,
}

/// A registered ZCRX instance: its areas, its refill ring and, optionally,
/// its stats block.
///
/// Buffer views ([`Buf`](crate::Buf)) borrow it. It is `Send` (build it,
/// then move it with its ring), but not `Sync`: the refill ring has a single
/// producer. Control operations must run on the thread that submits to the
/// ring (`SINGLE_ISSUER`); from another thread they fail with
/// [`Error::WrongThread`](crate::Error::WrongThread).
///
/// An instance registered with [`ZcrxBuilder::register`] is bound to that
/// [`Ring`](crate::Ring): only a [`Receiver`](crate::Receiver) on the same
/// ring (or on a ring it was [imported](Zcrx::import_into) into, through the
/// [`Imported`] handle) turns its completions into views.
///
/// Dropping it unmaps its memory once no view or [`SharedBuf`](crate::SharedBuf)
/// needs it; the kernel keeps its own page pins until it releases the
/// instance (see [`area`](crate::area#teardown)).
#[derive(Debug)]
pub struct Zcrx {
    pub(crate) ring_fd: OwnedFd,
    /// The ring this crate registered the instance on (`None`: a ring owned
    /// by other code, or an adopted instance).
    pub(crate) ring: Option<RingId>,
    pub(crate) id: u32,
    pub(crate) nodev: bool,
    pub(crate) buf_shift: u32,
    /// `(1 << buf_shift) - 1`.
    pub(crate) buf_mask: u64,
    /// `1 << buf_shift`.
    pub(crate) buf_len: u64,
    pub(crate) layout: RegionLayout,
    pub(crate) caps: Option<crate::caps::ZcrxCaps>,
    /// The areas in id order. Grows (never shrinks) when an area is added on
    /// a live instance; borrowed only inside this crate's methods, never
    /// across a call that could add one.
    pub(crate) areas: RefCell<Vec<Arc<AreaShared>>>,
    /// Area 0's memory and length, fixed at construction, for the
    /// completion fast path.
    pub(crate) first_area: (*const u8, u64),
    /// Buffers in all areas.
    pub(crate) total_bufs: Cell<u32>,
    /// The return path: refill producer, backlog and accounting.
    pub(crate) returns: Returns,
    /// `ZCRX_CTRL_FLUSH_RQ` operations issued so far.
    pub(crate) flushes: Cell<u64>,
    /// The `user_data` of the instance's event completions, if it has
    /// events (a receive loop refuses an instance whose events carry its
    /// tag).
    pub(crate) event_user_data: Option<u64>,
    /// The stats block inside the region, checked at assembly.
    pub(crate) stats: Option<NonNull<[AtomicU64; 2]>>,
    // Keeps the refill ring's memory alive; declared last so it outlives
    // every pointer above when dropped.
    _region: RegionMemory,
    _not_sync: PhantomData<Cell<()>>,
}

// SAFETY: the raw pointers inside (refill ring, region, area 0's base) point
// into mappings owned by this value, usable from any thread; `Zcrx` is
// `!Sync`, so only one thread uses them at a time. Moving it between threads
// is sound; the kernel's own rule (SINGLE_ISSUER rings take register calls
// only from their submitter) is reported as an error, not UB.
unsafe impl Send for Zcrx {}

/// What [`Zcrx::assemble`] needs besides the areas.
pub(crate) struct Assembly {
    pub(crate) ring_fd: OwnedFd,
    pub(crate) ring: Option<RingId>,
    pub(crate) id: u32,
    pub(crate) nodev: bool,
    pub(crate) buf_shift: u32,
    pub(crate) layout: RegionLayout,
    pub(crate) offsets: CheckedOffsets,
    pub(crate) region: RegionMemory,
    pub(crate) caps: Option<crate::caps::ZcrxCaps>,
    /// Continue from the refill ring's current tail (an adopted instance).
    pub(crate) resume: bool,
}

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
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) naming
    /// `interface name` if no such interface exists.
    #[cfg(feature = "std")]
    pub fn builder_nic_named(name: &str, rxq: u32) -> Result<ZcrxBuilder> {
        let ifindex = builder::ifindex_by_name(name)?;
        Ok(ZcrxBuilder::new(Target::Nic { ifindex, rxq }))
    }

    /// Puts an instance together from its checked parts; `areas` (area 0
    /// first, in id order) are added before anything can use it.
    pub(crate) fn assemble(a: Assembly, areas: Vec<Arc<crate::area::AreaMemory>>) -> Self {
        let Assembly {
            ring_fd,
            ring,
            id,
            nodev,
            buf_shift,
            layout,
            offsets,
            region,
            caps,
            resume,
        } = a;
        // SAFETY: `offsets` passed `RegionLayout::validate` against the
        // region's size: head and tail are distinct aligned u32s and the
        // entries fit, none overlapping; `region` lives in the same value
        // and is dropped last.
        let returns = unsafe { Returns::new(&region, &offsets, resume) };
        let stats = layout
            .stats_offset
            .and_then(|off| usize::try_from(off).ok())
            .filter(|&off| off % 8 == 0 && off + size_of::<zcrx_stats>() <= region.len())
            .map(|off| region.at(off));
        let first_area = areas.first().map_or((ptr::null(), 0), |m| {
            (m.as_ptr().cast_const(), m.len() as u64)
        });
        let zcrx = Self {
            ring_fd,
            ring,
            id,
            nodev,
            buf_shift,
            buf_mask: (1u64 << buf_shift) - 1,
            buf_len: 1u64 << buf_shift,
            layout,
            caps,
            areas: RefCell::new(Vec::with_capacity(areas.len())),
            first_area,
            total_bufs: Cell::new(0),
            returns,
            flushes: Cell::new(0),
            event_user_data: None,
            stats,
            _region: region,
            _not_sync: PhantomData,
        };
        for mem in areas {
            zcrx.push_area(mem);
        }
        zcrx
    }

    /// Appends the next area (its id is the current count).
    pub(crate) fn push_area(&self, mem: Arc<crate::area::AreaMemory>) {
        let mut areas = self.areas.borrow_mut();
        let token = (areas.len() as u64) << zcrx_uapi::IORING_ZCRX_AREA_SHIFT;
        let area = AreaShared::new(mem, token, self.buf_shift, self.returns.backlog_counter());
        let total = self.total_bufs.get() as usize + area.buffers();
        self.total_bufs
            .set(u32::try_from(total).unwrap_or(u32::MAX));
        areas.push(Arc::new(area));
    }

    /// The instance id (`zcrx_ifq_idx` of `IORING_OP_RECV_ZC` submissions
    /// on the ring it was registered with).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Refill ring entries, as the kernel rounded them.
    pub fn rq_entries(&self) -> u32 {
        self.returns.entries()
    }

    /// The buffer size the kernel uses (bytes; a power of two, at least the
    /// page size).
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
        self.areas.borrow().len()
    }

    /// Total number of buffers in all areas.
    pub fn buffers(&self) -> u32 {
        self.total_bufs.get()
    }

    /// `ZCRX_CTRL_FLUSH_RQ` operations this instance has issued. In NIC
    /// mode the kernel consumes the refill ring by itself and this stays 0,
    /// unless payload arrived outside the bound queue (copy fallback) and
    /// the copy path ran out of free buffers (see the receive loop).
    pub fn flushes(&self) -> u64 {
        self.flushes.get()
    }

    /// Whether the instance was registered on `ring` by this crate (the
    /// rings a [`Receiver`](crate::Receiver) accepts it on).
    pub fn is_registered_on<M: crate::ring::CqeMode>(&self, ring: &crate::Ring<M>) -> bool {
        self.ring == Some(ring.id())
    }

    /// Refuses an instance whose event completions carry `tag` in the top
    /// 16 bits of their `user_data`: a receive loop with that tag would take
    /// them for its own.
    pub(crate) fn check_event_tag(&self, tag: u16) -> Result<()> {
        match self.event_user_data {
            Some(ud) if ud >> 48 == u64::from(tag) => Err(crate::Error::invalid(
                "event user_data",
                "carries the receive loop's tag in its top 16 bits: choose another user_data \
                 for the instance's events, or another tag for the loop",
            )),
            _ => Ok(()),
        }
    }

    pub(crate) fn area_shared(&self, area_id: u16) -> Arc<AreaShared> {
        // The id was checked when the view was made.
        self.areas.borrow()[area_id as usize].clone()
    }
}

/// Refuses a mixed completion ring on a kernel whose mixed rings can
/// publish a stale entry (a RECV_ZC completion the kernel is not handing
/// out would become a view).
pub(crate) fn refuse_stale_mixed_ring() -> Result<()> {
    if crate::ring::mixed_cq_publishes_stale_entries()? {
        return Err(crate::Error::unsupported(
            "a sound IORING_SETUP_CQE_MIXED completion ring for ZCRX (this one can publish a \
             stale completion when it fills; use Cqe32)",
            Some(zcrx_uapi::abi::KernelVersion::new(7, 3)),
        ));
    }
    Ok(())
}

impl AsFd for Zcrx {
    /// The instance's duplicate of its ring's fd.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.ring_fd.as_fd()
    }
}

/// A NIC-mode instance over plain memory, for unit tests of code above the
/// kernel (no control operation is ever issued on it).
#[cfg(test)]
pub(crate) fn fake_instance(buffers: usize, rq_entries: u32) -> Zcrx {
    use zcrx_uapi::io_uring_zcrx_offsets;
    let page = rustix::param::page_size();
    let layout = RegionLayout {
        entries: rq_entries,
        entries_offset: 128,
        stats_offset: None,
        stats_size: 0,
        size: (128 + 16 * u64::from(rq_entries)).next_multiple_of(page as u64),
    };
    let offsets = io_uring_zcrx_offsets {
        head: 0,
        tail: 64,
        rqes: 128,
        ..Default::default()
    };
    let checked = layout.validate(&offsets, rq_entries).expect("fake layout");
    let region = RegionMemory::anonymous(layout.size).expect("fake region");
    let area = crate::Area::anonymous(buffers * page).expect("fake area");
    let ring_fd = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .expect("/dev/null");
    Zcrx::assemble(
        Assembly {
            ring_fd,
            ring: None,
            id: 0,
            nodev: false,
            buf_shift: page.trailing_zeros(),
            layout,
            offsets: checked,
            region,
            caps: None,
            resume: false,
        },
        alloc::vec![area.mem],
    )
}
