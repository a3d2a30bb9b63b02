//! Adopting an instance that other code registered ([`Zcrx::from_raw_parts`]).

use alloc::vec::Vec;
use core::ptr::NonNull;

use rustix::fd::OwnedFd;
use zcrx_uapi::zcrx_stats;

use super::{Assembly, Zcrx};
use crate::area::Area;
use crate::error::{Error, Result};
use crate::region::{RegionLayout, RegionMemory};

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

impl Zcrx {
    /// Adopts an instance registered by other code: buffer views (through
    /// [`buf_from_completion`](Self::buf_from_completion)) and the refill
    /// producer then work on it as on one registered here. The producer
    /// continues from the ring's current tail. `areas` are the instance's
    /// areas in id order (area `i` has the token
    /// `i << IORING_ZCRX_AREA_SHIFT`). Every value is checked as if the
    /// kernel had just written it back. The instance is bound to no
    /// [`Ring`](crate::Ring) of this crate, so a
    /// [`Receiver`](crate::Receiver) refuses it.
    ///
    /// # Safety
    ///
    /// - `parts` describe one live instance, as the kernel wrote them back;
    /// - the region memory stays mapped, at the same address, while the
    ///   returned value lives, and nothing else produces into its refill
    ///   ring meanwhile;
    /// - the areas are the instance's, in id order, and no other code
    ///   holds or returns the buffers this instance will hand out.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] or [`Error::KernelValue`] naming the value
    /// that fails its check.
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
        if areas
            .iter()
            .any(|a| a.len() % parts.rx_buf_len as usize != 0)
        {
            return Err(Error::invalid(
                "area length",
                "must be a multiple of the buffer size",
            ));
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
        if parts.stats_offset.is_some_and(|off| off % 8 != 0) {
            return Err(Error::invalid("stats_offset", "not 8-aligned"));
        }
        // The offsets' alignment was checked relative to the region's
        // start, which must then be aligned for the widest field (the
        // kernel's regions are whole pages).
        if parts.region.as_ptr().align_offset(8) != 0 {
            return Err(Error::invalid("region", "not 8-aligned"));
        }
        // SAFETY: the caller keeps the region mapped while `Self` lives.
        let region = unsafe { RegionMemory::borrowed(parts.region, parts.region_len) };
        Ok(Self::assemble(
            Assembly {
                ring_fd: parts.ring,
                ring: None,
                id: parts.zcrx_id,
                nodev: parts.nodev,
                buf_shift: parts.rx_buf_len.trailing_zeros(),
                layout,
                offsets,
                region,
                caps: None,
                resume: true,
            },
            areas.into_iter().map(|a| a.mem).collect(),
        ))
    }
}
