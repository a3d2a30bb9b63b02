//! The crate's memory mappings: fresh anonymous memory, and shared mappings
//! of a file (the ring's rings and regions, dmabufs). Every `mmap` of the
//! crate goes through here.

use core::ptr::{self, NonNull};

use rustix::fd::BorrowedFd;
use rustix::io::{Errno, Result};
use rustix::mm::{MapFlags, ProtFlags};

/// A mapping's address: the kernel never maps page 0 for a null hint.
fn mapped_at(ptr: *mut core::ffi::c_void) -> Result<NonNull<u8>> {
    NonNull::new(ptr.cast()).ok_or(Errno::FAULT)
}

/// Maps `len` bytes of fresh anonymous read-write memory, with `extra`
/// flags (`POPULATE`, `HUGETLB`, …).
pub(crate) fn anonymous(len: usize, extra: MapFlags) -> Result<NonNull<u8>> {
    // SAFETY: a fresh anonymous mapping at an address of the kernel's
    // choosing aliases nothing.
    let ptr = unsafe {
        rustix::mm::mmap_anonymous(
            ptr::null_mut(),
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::PRIVATE | extra,
        )
    }?;
    mapped_at(ptr)
}

/// Maps `len` bytes of `fd` at `offset`, shared, with `prot` (and
/// `MAP_POPULATE` when `populate`).
pub(crate) fn shared(
    fd: BorrowedFd<'_>,
    len: usize,
    offset: u64,
    prot: ProtFlags,
    populate: bool,
) -> Result<NonNull<u8>> {
    let flags = if populate {
        MapFlags::SHARED | MapFlags::POPULATE
    } else {
        MapFlags::SHARED
    };
    // SAFETY: a fresh shared mapping at an address of the kernel's choosing
    // aliases no Rust object.
    let ptr = unsafe { rustix::mm::mmap(ptr::null_mut(), len, prot, flags, fd, offset) }?;
    mapped_at(ptr)
}
