//! The one audited module of raw `io_uring_register(2)` calls.
//!
//! rustix's `io_uring_register` takes a closed enum of opcodes and a borrowed
//! fd, so it cannot express `IORING_REGISTER_ZCRX_IFQ`,
//! `IORING_REGISTER_ZCRX_CTRL` or `IORING_REGISTER_QUERY` with fd -1 (a query
//! needs no ring). Those calls go through [`register`] here, and nowhere else.
//! Every caller passes a pointer to a `zcrx-uapi` struct whose layout is
//! checked against the kernel headers.

use core::ffi::c_void;
use core::ptr;

use rustix::fd::{AsRawFd, BorrowedFd, RawFd};
use rustix::io::Errno;
use zcrx_uapi::{
    IORING_REGISTER_QUERY, IORING_REGISTER_ZCRX_CTRL, IORING_REGISTER_ZCRX_IFQ, io_uring_query_hdr,
    io_uring_zcrx_ifq_reg, zcrx_ctrl,
};

/// `io_uring_register(fd, opcode, arg, nr_args)` without interpretation.
///
/// # Safety
///
/// `arg` must be valid for what the kernel reads and writes for `opcode`
/// (including memory that the structure at `arg` points to), for the
/// duration of the call.
pub(crate) unsafe fn register(
    fd: RawFd,
    opcode: u32,
    arg: *mut c_void,
    nr_args: u32,
) -> Result<u32, Errno> {
    // SAFETY: the syscall itself only reads and writes memory through `arg`,
    // which the caller vouches for; the other arguments are plain integers.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            fd as libc::c_long,
            opcode as libc::c_long,
            arg,
            nr_args as libc::c_long,
        )
    };
    if ret < 0 {
        // SAFETY: `__errno_location` has no preconditions.
        let slot = unsafe { libc::__errno_location() };
        // SAFETY: it returns the calling thread's errno slot, valid for reads
        // for the life of the thread.
        let raw = unsafe { *slot };
        Err(Errno::from_raw_os_error(raw))
    } else {
        Ok(ret as u32)
    }
}

/// `IORING_REGISTER_QUERY` on a chain starting at `head`; `ring` may be `None`
/// (fd -1), as queries need no ring.
///
/// # Safety
///
/// `head` must start a valid chain: every `query_data` points to a writable
/// buffer of at least `size` bytes and every `next_entry` is 0 or points to
/// another valid header, all live for the call.
pub(crate) unsafe fn query(
    ring: Option<BorrowedFd<'_>>,
    head: &mut io_uring_query_hdr,
) -> Result<(), Errno> {
    let fd = ring.map_or(-1, |fd| fd.as_raw_fd());
    // SAFETY: the chain is valid per this function's contract.
    unsafe { register(fd, IORING_REGISTER_QUERY, ptr::from_mut(head).cast(), 0) }.map(drop)
}

/// `IORING_REGISTER_ZCRX_IFQ` (`nr_args` 1).
///
/// # Safety
///
/// `reg.area_ptr`, `reg.region_ptr` and (if not 0) `reg.event_desc` must
/// point to valid, writable `io_uring_zcrx_area_reg`, `io_uring_region_desc`
/// and `zcrx_event_desc` structs live for the call; the memory they describe
/// must stay valid for as long as the kernel may use it (until the ring and
/// every exported handle of the instance are closed).
pub(crate) unsafe fn register_zcrx_ifq(
    ring: BorrowedFd<'_>,
    reg: &mut io_uring_zcrx_ifq_reg,
) -> Result<(), Errno> {
    // SAFETY: per this function's contract.
    unsafe {
        register(
            ring.as_raw_fd(),
            IORING_REGISTER_ZCRX_IFQ,
            ptr::from_mut(reg).cast(),
            1,
        )
    }
    .map(drop)
}

/// `IORING_REGISTER_ZCRX_CTRL` (`nr_args` 0).
///
/// # Safety
///
/// For `ZCRX_CTRL_ADD_AREA`, `ctrl.zc_area().area_ptr` must point to a valid,
/// writable `io_uring_zcrx_area_reg` whose memory stays valid as long as the
/// kernel may use it. The other operations carry no pointers.
pub(crate) unsafe fn zcrx_ctrl(ring: BorrowedFd<'_>, ctrl: &mut zcrx_ctrl) -> Result<(), Errno> {
    // SAFETY: per this function's contract.
    unsafe {
        register(
            ring.as_raw_fd(),
            IORING_REGISTER_ZCRX_CTRL,
            ptr::from_mut(ctrl).cast(),
            0,
        )
    }
    .map(drop)
}
