//! Preparing the SQEs a ZCRX receiver needs.
//!
//! Free functions on a plain `&mut io_uring_sqe`, so they work with a slot of
//! this crate's [`Ring`](super::Ring) ([`SqeSlot`](super::SqeSlot) derefs
//! to one), with a copy that is [`push`](super::Ring::push)ed, or with a ring
//! owned by another library. Each one overwrites the whole SQE, so stale
//! fields of a reused slot never leak into the request.
//!
//! None of these SQEs carries a pointer into user memory: queueing them
//! meets the pointer part of the safety contract of
//! [`Ring::push`](super::Ring::push) as long as the RECV_ZC's ZCRX instance
//! stays registered. The `user_data` part stays the caller's: it must not
//! carry the tag of a [`Receiver`](crate::recv::Receiver) on the ring.

use rustix::fd::{AsRawFd, BorrowedFd};
use zcrx_uapi::{
    IORING_OP_ASYNC_CANCEL, IORING_OP_NOP, IORING_OP_RECV_ZC, IORING_RECV_MULTISHOT, io_uring_sqe,
};

/// `IORING_NOP_INJECT_RESULT` (Linux 6.9): the NOP completes with `res` =
/// the SQE's `len`.
pub const IORING_NOP_INJECT_RESULT: u32 = 1 << 0;
/// `IORING_NOP_TW` (Linux 6.17): the NOP completes through task work (with
/// `DEFER_TASKRUN`, only when the issuer enters with `GETEVENTS`), as a
/// network receive does.
pub const IORING_NOP_TW: u32 = 1 << 4;
/// `IORING_NOP_CQE32` (Linux 6.18): the NOP posts a 32-byte completion whose
/// extra 16 bytes are the SQE's `off` and `addr`; on a `CQE_MIXED` ring it
/// is flagged `IORING_CQE_F_32`. Refused (`EINVAL`) on rings without `CQE32`
/// or `CQE_MIXED`.
pub const IORING_NOP_CQE32: u32 = 1 << 5;
/// `IORING_ASYNC_CANCEL_ALL` (Linux 5.19): cancel every match, not just the
/// first.
pub const IORING_ASYNC_CANCEL_ALL: u32 = 1 << 0;

/// `IORING_OP_NOP`: completes with `res` 0 and `user_data`.
///
/// ```
/// use zcrx_ring::ring::opcode::prep_nop;
/// use zcrx_uapi::io_uring_sqe;
///
/// let mut sqe = io_uring_sqe { len: 99, ..Default::default() };
/// prep_nop(&mut sqe, 5);
/// assert_eq!((sqe.opcode, sqe.len, sqe.user_data), (0, 0, 5));
/// ```
#[inline]
pub fn prep_nop(sqe: &mut io_uring_sqe, user_data: u64) {
    *sqe = io_uring_sqe {
        opcode: IORING_OP_NOP,
        user_data,
        ..Default::default()
    };
}

/// `IORING_OP_NOP` with `nop_flags` (the SQE's `rw_flags` word; the
/// `IORING_NOP_*` constants of this module): for tests and benchmarks.
///
/// With [`IORING_NOP_CQE32`], `big` becomes the completion's extra 16 bytes
/// (`off`, `addr`); with [`IORING_NOP_INJECT_RESULT`], `res` its result.
#[inline]
pub fn prep_nop_flags(
    sqe: &mut io_uring_sqe,
    user_data: u64,
    nop_flags: u32,
    res: i32,
    big: [u64; 2],
) {
    *sqe = io_uring_sqe {
        opcode: IORING_OP_NOP,
        off: big[0],
        addr: big[1],
        len: res as u32,
        rw_flags: nop_flags,
        user_data,
        ..Default::default()
    };
}

/// `IORING_OP_RECV_ZC`: a multishot zero-copy receive on the socket `fd`
/// into the ZCRX instance `zcrx_id` (the id registration wrote back), at
/// most `len_limit` bytes in total (0: no limit).
///
/// `ioprio` = `IORING_RECV_MULTISHOT` (required), `zcrx_ifq_idx` =
/// `zcrx_id`, `addr`, `addr2`, `addr3` and `msg_flags` 0. Each completion's
/// [`zcrx`](super::Completion::zcrx) holds the buffer offset; a completion
/// without `IORING_CQE_F_MORE` ends the request.
///
/// ```
/// use std::os::fd::AsFd;
/// use zcrx_ring::ring::opcode::prep_recv_zc;
/// use zcrx_uapi::{IORING_OP_RECV_ZC, IORING_RECV_MULTISHOT, io_uring_sqe};
///
/// let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// let mut sqe = io_uring_sqe::default();
/// prep_recv_zc(&mut sqe, sock.as_fd(), 3, 0, 0xabc);
/// assert_eq!(sqe.opcode, IORING_OP_RECV_ZC);
/// assert_eq!(sqe.ioprio, IORING_RECV_MULTISHOT);
/// assert_eq!(sqe.zcrx_ifq_idx(), 3);
/// ```
#[inline]
pub fn prep_recv_zc(
    sqe: &mut io_uring_sqe,
    fd: BorrowedFd<'_>,
    zcrx_id: u32,
    len_limit: u32,
    user_data: u64,
) {
    *sqe = io_uring_sqe {
        opcode: IORING_OP_RECV_ZC,
        ioprio: IORING_RECV_MULTISHOT,
        fd: fd.as_raw_fd(),
        len: len_limit,
        user_data,
        ..Default::default()
    };
    sqe.set_zcrx_ifq_idx(zcrx_id);
}

/// `IORING_OP_ASYNC_CANCEL`: cancels the request whose `user_data` is
/// `target` (the first match; or every match with
/// `sqe.rw_flags |= IORING_ASYNC_CANCEL_ALL`). Completes with 0, `-ENOENT`
/// (no match) or `-EALREADY`; the cancelled request posts its own
/// completion (`-ECANCELED`).
#[inline]
pub fn prep_cancel_user_data(sqe: &mut io_uring_sqe, target: u64, user_data: u64) {
    *sqe = io_uring_sqe {
        opcode: IORING_OP_ASYNC_CANCEL,
        fd: -1,
        addr: target,
        user_data,
        ..Default::default()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirty() -> io_uring_sqe {
        io_uring_sqe {
            opcode: 0xff,
            flags: 0xff,
            ioprio: 0xffff,
            fd: 77,
            off: !0,
            addr: !0,
            len: !0,
            rw_flags: !0,
            user_data: !0,
            buf_index: !0,
            personality: !0,
            file_index: !0,
            addr3: !0,
            __pad2: [!0],
        }
    }

    #[test]
    fn nop_overwrites_everything() {
        let mut sqe = dirty();
        prep_nop(&mut sqe, 9);
        assert_eq!(
            sqe,
            io_uring_sqe {
                user_data: 9,
                ..Default::default()
            }
        );
        prep_nop_flags(&mut sqe, 1, IORING_NOP_CQE32, 0, [2, 3]);
        assert_eq!((sqe.off, sqe.addr, sqe.rw_flags), (2, 3, IORING_NOP_CQE32));
    }

    #[test]
    fn recv_zc_fields() {
        // A borrowed fd for the test; never used by a kernel here.
        // SAFETY: 0 is open (stdin) or not; the fd is only copied as a
        // number into the SQE and never operated on.
        let fd = unsafe { BorrowedFd::borrow_raw(0) };
        let mut sqe = dirty();
        prep_recv_zc(&mut sqe, fd, 5, 4096, 0x77);
        let want = io_uring_sqe {
            opcode: IORING_OP_RECV_ZC,
            ioprio: IORING_RECV_MULTISHOT,
            fd: 0,
            len: 4096,
            user_data: 0x77,
            file_index: 5,
            ..Default::default()
        };
        assert_eq!(sqe, want);
        assert_eq!((sqe.addr, sqe.off, sqe.addr3, sqe.rw_flags), (0, 0, 0, 0));
    }

    #[test]
    fn cancel_fields() {
        let mut sqe = dirty();
        prep_cancel_user_data(&mut sqe, 0x55, 0x66);
        assert_eq!(sqe.opcode, IORING_OP_ASYNC_CANCEL);
        assert_eq!(
            (sqe.addr, sqe.user_data, sqe.rw_flags, sqe.fd),
            (0x55, 0x66, 0, -1)
        );
    }
}
