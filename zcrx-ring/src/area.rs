//! Receive areas: the memory the kernel places received data in.
//!
//! An [`Area`] is anonymous page-aligned memory this crate maps (optionally
//! on 2 MiB huge pages), memory the caller owns ([`Area::from_raw_parts`]),
//! or a dmabuf. It is handed to a [`ZcrxBuilder`](crate::ZcrxBuilder), which
//! registers it; from then on the kernel pins its pages.
//!
//! # Sizing
//!
//! In NIC mode every segment's payload sits in area buffers from the moment
//! the device writes it, also while TCP keeps it out of order waiting for
//! an earlier segment. If what TCP may hold at once (its receive window,
//! bounded by `SO_RCVBUF`) needs more buffers than the area has, the queue
//! can end up with every buffer held out of order while the one missing
//! segment is dropped, on each retransmission, for want of a buffer: the
//! flow stalls until TCP gives up. Make the area larger than the window in
//! buffers (a NIC may put one segment in one buffer), or bound `SO_RCVBUF`
//! on the receiving socket before it connects. Buffers the application
//! holds count against the area too.
//!
//! # Teardown
//!
//! Memory this crate maps is unmapped when the last owner lets go: the
//! [`Zcrx`](crate::Zcrx) instance, every buffer view, and every
//! [`SharedBuf`](crate::SharedBuf). The kernel holds its own page pins until
//! it releases the registration (when the ring and every exported handle are
//! closed), so unmapping first never lets the kernel write into memory the
//! process reuses: the pinned pages stay allocated, and simply stop being
//! mapped here.

use alloc::sync::Arc;
use core::ffi::c_void;
use core::ptr::NonNull;

use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use rustix::mm::{Advice, MapFlags, ProtFlags};

use crate::error::{Error, Result};

/// 2 MiB, the huge page size [`Area::anonymous_huge`] asks for.
pub const HUGE_PAGE_SIZE: usize = 2 << 20;

/// How an anonymous area is backed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageBacking {
    /// Regular pages.
    Regular,
    /// Explicit 2 MiB huge pages (`MAP_HUGETLB`), from the reserved pool.
    HugeTlb,
    /// Regular pages, 2 MiB aligned, with `MADV_HUGEPAGE` (transparent huge
    /// pages, used when no explicit huge pages are reserved).
    Transparent,
}

#[derive(Debug)]
enum Backing {
    /// Mapped by this crate; unmapped on drop.
    Mapped(PageBacking),
    /// Owned by the caller.
    Borrowed,
    /// A dmabuf, mapped read-only by this crate.
    Dmabuf(OwnedFd),
}

/// The memory of an area, shared by the instance and its views.
#[derive(Debug)]
pub(crate) struct AreaMemory {
    ptr: NonNull<u8>,
    len: usize,
    backing: Backing,
}

// SAFETY: `AreaMemory` is a pointer and a length to memory that lives as long
// as the value (mapped by us, or guaranteed by the unsafe constructor's
// contract); it is only read through buffer views of ranges the kernel has
// handed to userspace, which the kernel does not write until they are given
// back. Nothing in it is tied to a thread.
unsafe impl Send for AreaMemory {}
// SAFETY: see `Send`; shared access only reads.
unsafe impl Sync for AreaMemory {}

impl AreaMemory {
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for AreaMemory {
    fn drop(&mut self) {
        if matches!(self.backing, Backing::Borrowed) {
            return;
        }
        // SAFETY: `ptr..ptr+len` is a mapping this value created and nothing
        // else references it (the last owner is being dropped). The kernel's
        // page pins, if any, keep the pages alive independently.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Memory to receive into, before registration.
#[derive(Debug)]
pub struct Area {
    pub(crate) mem: Arc<AreaMemory>,
}

fn page_size() -> usize {
    rustix::param::page_size()
}

fn check_len(len: usize, granule: usize) -> Result<usize> {
    if len == 0 {
        return Err(Error::invalid("area length", "must not be zero"));
    }
    len.checked_next_multiple_of(granule)
        .ok_or(Error::invalid("area length", "too large"))
}

impl Area {
    /// Maps `len` bytes (rounded up to the page size) of anonymous memory.
    ///
    /// ```
    /// let area = zcrx_ring::Area::anonymous(64 * 4096)?;
    /// assert_eq!(area.len(), 64 * 4096);
    /// # Ok::<(), zcrx_ring::Error>(())
    /// ```
    pub fn anonymous(len: usize) -> Result<Self> {
        let len = check_len(len, page_size())?;
        let ptr = crate::mm::anonymous(len, MapFlags::empty())
            .map_err(|e| Error::kernel("mmap (area)", e))?;
        Ok(Self::mapped(ptr, len, PageBacking::Regular))
    }

    /// Maps `len` bytes (rounded up to 2 MiB) on huge pages: explicit
    /// `MAP_HUGETLB` pages when the system has them reserved, otherwise
    /// 2 MiB-aligned memory advised for transparent huge pages. Check
    /// [`page_backing`](Self::page_backing) for what was obtained.
    pub fn anonymous_huge(len: usize) -> Result<Self> {
        let len = check_len(len, HUGE_PAGE_SIZE)?;
        if let Ok(ptr) = crate::mm::anonymous(len, MapFlags::HUGETLB | MapFlags::HUGE_2MB) {
            return Ok(Self::mapped(ptr, len, PageBacking::HugeTlb));
        }
        // Over-map by one huge page and trim, to get 2 MiB alignment.
        let padded = len
            .checked_add(HUGE_PAGE_SIZE)
            .ok_or(Error::invalid("area length", "too large"))?;
        let raw = crate::mm::anonymous(padded, MapFlags::empty())
            .map_err(|e| Error::kernel("mmap (area)", e))?;
        let start = raw.as_ptr() as usize;
        let aligned = start.next_multiple_of(HUGE_PAGE_SIZE);
        let head = aligned - start;
        let tail = padded - head - len;
        if head > 0 {
            // SAFETY: the range lies inside the mapping just created and
            // nothing references it.
            let _ = unsafe { rustix::mm::munmap(raw.as_ptr().cast(), head) };
        }
        if tail > 0 {
            // SAFETY: as above.
            let _ = unsafe { rustix::mm::munmap((aligned + len) as *mut c_void, tail) };
        }
        let ptr = NonNull::new(aligned as *mut u8)
            .ok_or(Error::kernel("mmap (area)", rustix::io::Errno::FAULT))?;
        // SAFETY: `ptr..ptr+len` is our mapping; the advice is only a hint.
        let advised =
            unsafe { rustix::mm::madvise(ptr.as_ptr().cast(), len, Advice::LinuxHugepage) };
        let backing = if advised.is_ok() {
            PageBacking::Transparent
        } else {
            PageBacking::Regular
        };
        Ok(Self::mapped(ptr, len, backing))
    }

    /// Uses memory the caller owns.
    ///
    /// # Safety
    ///
    /// - `ptr` is page aligned and `len` is a non-zero multiple of the page
    ///   size;
    /// - `ptr..ptr+len` is valid for reads and writes and stays allocated
    ///   and mapped, at the same address, until the kernel has released the
    ///   registration: until every ring the instance is registered with (and
    ///   every exported handle of it) is closed **and** this `Area`, the
    ///   [`Zcrx`](crate::Zcrx) and every buffer view of it are dropped;
    /// - nothing else reads or writes that memory during that time, except
    ///   through the buffer views this crate hands out.
    pub unsafe fn from_raw_parts(ptr: NonNull<u8>, len: usize) -> Result<Self> {
        let page = page_size();
        if len == 0 || len % page != 0 {
            return Err(Error::invalid(
                "area length",
                "must be a non-zero multiple of the page size",
            ));
        }
        if ptr.as_ptr() as usize % page != 0 {
            return Err(Error::invalid("area address", "must be page aligned"));
        }
        Ok(Self {
            mem: Arc::new(AreaMemory {
                ptr,
                len,
                backing: Backing::Borrowed,
            }),
        })
    }

    /// Uses a dmabuf of `len` bytes (a multiple of the page size), mapped
    /// read-only here so that buffer views can read it.
    ///
    /// The kernel accepts dmabuf areas only for instances bound to a network
    /// device (not `NODEV`), and only where `IORING_ZCRX_AREA_DMABUF` is
    /// supported (Linux 6.16). Exporters that cannot be mapped by the CPU are
    /// refused here.
    pub fn dmabuf(fd: OwnedFd, len: usize) -> Result<Self> {
        let page = page_size();
        if len == 0 || len % page != 0 {
            return Err(Error::invalid(
                "dmabuf length",
                "must be a non-zero multiple of the page size",
            ));
        }
        let ptr = crate::mm::shared(fd.as_fd(), len, 0, ProtFlags::READ, false)
            .map_err(|e| Error::kernel("mmap (dmabuf)", e))?;
        Ok(Self {
            mem: Arc::new(AreaMemory {
                ptr,
                len,
                backing: Backing::Dmabuf(fd),
            }),
        })
    }

    fn mapped(ptr: NonNull<u8>, len: usize, backing: PageBacking) -> Self {
        Self {
            mem: Arc::new(AreaMemory {
                ptr,
                len,
                backing: Backing::Mapped(backing),
            }),
        }
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.mem.len
    }

    /// Whether the area is empty (never: constructors refuse empty areas).
    pub fn is_empty(&self) -> bool {
        self.mem.len == 0
    }

    /// How the memory is backed (`None` for caller-owned memory and dmabufs).
    pub fn page_backing(&self) -> Option<PageBacking> {
        match self.mem.backing {
            Backing::Mapped(b) => Some(b),
            _ => None,
        }
    }

    /// Whether this is a dmabuf area.
    pub fn is_dmabuf(&self) -> bool {
        matches!(self.mem.backing, Backing::Dmabuf(_))
    }

    /// Bytes the kernel pins (and accounts to `RLIMIT_MEMLOCK`) when the
    /// area is registered: its length, or 0 for a dmabuf.
    pub(crate) fn locked_bytes(&self) -> u64 {
        if self.is_dmabuf() {
            0
        } else {
            self.mem.len as u64
        }
    }

    /// The `io_uring_zcrx_area_reg` describing this area.
    pub(crate) fn registration(&self) -> zcrx_uapi::io_uring_zcrx_area_reg {
        match &self.mem.backing {
            Backing::Dmabuf(fd) => zcrx_uapi::io_uring_zcrx_area_reg {
                addr: 0,
                len: self.mem.len as u64,
                flags: zcrx_uapi::IORING_ZCRX_AREA_DMABUF,
                dmabuf_fd: fd.as_raw_fd() as u32,
                ..Default::default()
            },
            _ => zcrx_uapi::io_uring_zcrx_area_reg {
                addr: self.mem.ptr.as_ptr() as u64,
                len: self.mem.len as u64,
                ..Default::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_rounds_to_pages() {
        let a = Area::anonymous(1).unwrap();
        assert_eq!(a.len(), page_size());
        assert_eq!(a.page_backing(), Some(PageBacking::Regular));
        assert_eq!(a.mem.as_ptr() as usize % page_size(), 0);
        assert!(matches!(
            Area::anonymous(0),
            Err(Error::InvalidConfig {
                field: "area length",
                ..
            })
        ));
    }

    #[test]
    fn huge_is_2mib_aligned() {
        let a = Area::anonymous_huge(3 << 20).unwrap();
        assert_eq!(a.len(), 4 << 20);
        assert_eq!(a.mem.as_ptr() as usize % HUGE_PAGE_SIZE, 0);
        assert!(a.page_backing().is_some());
    }

    #[test]
    fn raw_parts_are_checked() {
        let page = page_size();
        let a = Area::anonymous(2 * page).unwrap();
        let base = NonNull::new(a.mem.as_ptr()).unwrap();
        // SAFETY: (test) the memory is owned by `a`, which outlives `b`, and
        // nothing registers it.
        let b = unsafe { Area::from_raw_parts(base, page) }.unwrap();
        assert_eq!(b.page_backing(), None);
        let reg = b.registration();
        assert_eq!(reg.addr, base.as_ptr() as u64);
        assert_eq!(reg.len, page as u64);
        let odd_ptr = NonNull::new(base.as_ptr().wrapping_add(1)).unwrap();
        // SAFETY: (test) refused before use.
        let odd = unsafe { Area::from_raw_parts(odd_ptr, page) };
        assert!(matches!(
            odd,
            Err(Error::InvalidConfig {
                field: "area address",
                ..
            })
        ));
        // SAFETY: (test) refused before use.
        let short = unsafe { Area::from_raw_parts(base, page - 1) };
        assert!(matches!(
            short,
            Err(Error::InvalidConfig {
                field: "area length",
                ..
            })
        ));
        drop(b);
        drop(a);
    }
}
