//! [`ZcrxBuilder`]: checks that need no system call, then
//! `IORING_REGISTER_ZCRX_IFQ` and the checks of what the kernel wrote back.

use alloc::vec::Vec;
use core::ptr;

use rustix::fd::BorrowedFd;
use zcrx_uapi::abi::KernelVersion;
use zcrx_uapi::{
    IORING_MEM_REGION_TYPE_USER, ZCRX_CTRL_ADD_AREA, ZCRX_EVENT_DESC_FLAG_STATS, ZCRX_REG_NODEV,
    io_uring_region_desc, io_uring_zcrx_ifq_reg, zcrx_event_desc,
};

use super::errno::{RegisterContext, map_register_error};
use super::{Assembly, EventConfig, Target, Zcrx};
use crate::area::Area;
use crate::caps::Capabilities;
use crate::error::{Error, Result};
use crate::region::{RegionLayout, RegionMemory, StatsPlacement};
use crate::ring::RingId;
use crate::sys;

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
    pub(crate) fn new(target: Target) -> Self {
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
    /// The instance is bound to `ring`: a [`Receiver`](crate::Receiver) on
    /// it accepts the instance, one on any other ring refuses it.
    ///
    /// # Errors
    ///
    /// Every refusal names its cause: [`Error::RingSetup`] for a ring set up
    /// without what ZCRX needs, [`Error::InvalidConfig`] for a value this
    /// crate refuses before any system call,
    /// [`Error::Unsupported`] for what the kernel lacks,
    /// [`Error::PermissionDenied`] without `CAP_NET_ADMIN`,
    /// [`Error::LockedMemoryLimit`] when the areas exceed `RLIMIT_MEMLOCK`,
    /// [`Error::WrongThread`] from a thread other than the ring's issuer,
    /// [`Error::QueueBusy`] for a receive queue already bound;
    /// [`Error::HeaderSplitOff`] and [`Error::QueueOutOfRange`] for a queue
    /// that cannot take a memory provider.
    ///
    /// On a [`CqeMixed`](crate::ring::CqeMixed) ring, [`Error::Unsupported`]
    /// (needs 7.3) where the kernel's mixed rings can publish a stale
    /// completion, which could name a buffer the kernel is not handing out
    /// ([`mixed_cq_publishes_stale_entries`](crate::ring::mixed_cq_publishes_stale_entries):
    /// 6.19 and 7.2 do); a [`Cqe32`](crate::ring::Cqe32) ring works there.
    /// The check runs once per process on a small ring of its own; its
    /// setup errors are returned as they are.
    pub fn register<M: crate::ring::CqeMode>(self, ring: &crate::ring::Ring<M>) -> Result<Zcrx> {
        use zcrx_uapi::SetupFlags;
        let flags = ring.setup_flags();
        let mut missing = SetupFlags::DEFER_TASKRUN.difference(flags);
        if !flags.intersects(SetupFlags::CQE32 | SetupFlags::CQE_MIXED) {
            missing |= SetupFlags::CQE32;
        }
        if !missing.is_empty() {
            return Err(Error::RingSetup { missing });
        }
        if flags.contains(SetupFlags::CQE_MIXED) {
            crate::zcrx::refuse_stale_mixed_ring()?;
        }
        let caps = Capabilities::query_ring(ring.as_fd());
        self.register_inner(ring.as_fd(), &caps, Some(ring.id()))
    }

    /// Registers on the ring `ring` (any io_uring, including one owned by
    /// another library: it must have been set up with
    /// `IORING_SETUP_DEFER_TASKRUN` and `IORING_SETUP_CQE32` or
    /// `IORING_SETUP_CQE_MIXED`), asking the kernel's capabilities first.
    ///
    /// The instance is not bound to any [`Ring`](crate::Ring) of this
    /// crate: a [`Receiver`](crate::Receiver) refuses it, and its
    /// completions become views only through the `unsafe`
    /// [`Zcrx::buf_from_completion`], whose contract the ring's owner keeps.
    ///
    /// Call it on the thread that submits to the ring: `SINGLE_ISSUER` rings
    /// refuse registrations from other threads ([`Error::WrongThread`]).
    ///
    /// The ring's setup flags cannot be read from its descriptor, so the
    /// stale-completion check of [`register`](Self::register) is the
    /// caller's: on a `CQE_MIXED` ring, see
    /// [`mixed_cq_publishes_stale_entries`](crate::ring::mixed_cq_publishes_stale_entries)
    /// before trusting its completions.
    ///
    /// # Errors
    ///
    /// As [`register`](Self::register).
    pub fn register_fd(self, ring: BorrowedFd<'_>) -> Result<Zcrx> {
        let caps = Capabilities::query_ring(ring);
        self.register_inner(ring, &caps, None)
    }

    /// Like [`register_fd`](Self::register_fd) with capabilities already
    /// queried.
    ///
    /// # Errors
    ///
    /// As [`register`](Self::register).
    pub fn register_with_caps(self, ring: BorrowedFd<'_>, caps: &Capabilities) -> Result<Zcrx> {
        self.register_inner(ring, caps, None)
    }

    fn register_inner(
        self,
        ring: BorrowedFd<'_>,
        caps: &Capabilities,
        bound: Option<RingId>,
    ) -> Result<Zcrx> {
        // A query refused because this is not the ring's issuer thread says
        // so before anything else.
        if let Err(e) = caps.opcodes() {
            if e.is_wrong_thread() {
                return Err(e.into());
            }
        }
        let page = rustix::param::page_size();
        let zcaps = caps.zcrx().ok().copied();
        let ecaps = caps.zcrx_event().ok().copied();

        // Checks that need no system call.
        let Some(first) = self.areas.first() else {
            return Err(Error::invalid("areas", "at least one area is needed"));
        };
        let nodev = self.target == Target::Nodev;
        // The kernel reads rxq -1 as "no queue" and answers EINVAL, which
        // would read as header split off: no device has that queue.
        if let Target::Nic {
            ifindex,
            rxq: u32::MAX,
        } = self.target
        {
            return Err(Error::QueueOutOfRange {
                ifindex,
                rxq: u32::MAX,
            });
        }
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
        unsafe { sys::register_zcrx_ifq(ring, &mut reg) }.map_err(|errno| {
            map_register_error(
                errno,
                &RegisterContext {
                    ring,
                    nodev,
                    target: (target_idx, target_rxq),
                    events: self.events.is_some(),
                    locked_bytes: first.locked_bytes(),
                },
            )
        })?;

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
        let mut areas = self.areas.into_iter();
        let first = areas.next().map(|a| a.mem);
        let mut zcrx = Zcrx::assemble(
            Assembly {
                ring_fd,
                ring: bound,
                id: reg.zcrx_id,
                nodev,
                buf_shift: shift,
                layout,
                offsets,
                region,
                caps: zcaps,
                resume: false,
            },
            first.into_iter().collect(),
        );
        zcrx.event_user_data = self.events.map(|e| e.user_data);
        for area in areas {
            zcrx.add_area(area)?;
        }
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

/// `if_nametoindex` through rustix.
#[cfg(feature = "std")]
pub(crate) fn ifindex_by_name(name: &str) -> Result<u32> {
    use rustix::net::{AddressFamily, SocketType, socket};
    let sock = socket(AddressFamily::INET, SocketType::DGRAM, None)
        .map_err(|e| Error::kernel("socket (interface lookup)", e))?;
    rustix::net::netdevice::name_to_index(&sock, name)
        .map_err(|_| Error::invalid("interface name", "no such network interface"))
}
