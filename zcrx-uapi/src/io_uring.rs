//! Items of `linux/io_uring.h` that a ZCRX user and a minimal ring need.
//!
//! Only what a ring that submits `IORING_OP_RECV_ZC` and registers ZCRX
//! objects uses is mirrored; the rest of `io_uring.h` is out of scope (use
//! `linux-raw-sys` or `rustix` for it).
//!
//! C unions are flattened into one Rust field named after a member of the
//! union, with the same size and alignment; the other members are documented
//! on that field, listed in [`crate::abi`] under their header names, and
//! reachable through accessors where ZCRX needs them (for example
//! [`io_uring_sqe::set_zcrx_ifq_idx`]).

use crate::abi::{uapi_consts, uapi_struct};

uapi_struct! {
    /// A submission queue entry (64 bytes; 128 with `IORING_SETUP_SQE128`).
    ///
    /// The header's unions are flattened; for `IORING_OP_RECV_ZC` the ZCRX
    /// instance id goes into [`file_index`](Self::file_index), the header's
    /// `zcrx_ifq_idx` member.
    #[abi(header = IoUring, since = (5, 1), size = 64, align = 8)]
    pub struct io_uring_sqe {
        /// Operation (`IORING_OP_*`).
        #[abi(offset = 0, since = (5, 1))]
        pub opcode: u8,
        /// `IOSQE_*` flags.
        #[abi(offset = 1, since = (5, 1))]
        pub flags: u8,
        /// Request priority; for send and receive, the `IORING_RECVSEND_*` /
        /// `IORING_RECV_MULTISHOT` flags.
        #[abi(offset = 2, since = (5, 1))]
        pub ioprio: u16,
        /// File descriptor to operate on.
        #[abi(offset = 4, since = (5, 1))]
        pub fd: i32,
        /// Offset into the file; a union in the header.
        #[abi(offset = 8, since = (5, 1))]
        #[alias(addr2: u64, at = 0, since = (5, 5))]
        #[alias(cmd_op: u32, at = 0, since = (5, 19))]
        #[alias(__pad1: u32, at = 4, since = (5, 19))]
        pub off: u64,
        /// Buffer address; a union in the header.
        #[abi(offset = 16, since = (5, 1))]
        #[alias(splice_off_in: u64, at = 0, since = (5, 7))]
        #[alias(level: u32, at = 0, since = (6, 7))]
        #[alias(optname: u32, at = 4, since = (6, 7))]
        pub addr: u64,
        /// Buffer length; for `IORING_OP_RECV_ZC` a byte limit (0: none).
        #[abi(offset = 24, since = (5, 1))]
        pub len: u32,
        /// Per-opcode flags word; a union in the header.
        #[abi(offset = 28, since = (5, 1))]
        #[alias(msg_flags: u32, at = 0, since = (5, 3))]
        #[alias(cancel_flags: u32, at = 0, since = (5, 5))]
        pub rw_flags: u32,
        /// Copied into the completion.
        #[abi(offset = 32, since = (5, 1))]
        pub user_data: u64,
        /// Fixed buffer index; a packed union with `buf_group` in the header.
        #[abi(offset = 40, since = (5, 1))]
        #[alias(buf_group: u16, at = 0, since = (5, 7))]
        pub buf_index: u16,
        /// Personality (credentials) id.
        #[abi(offset = 42, since = (5, 6))]
        pub personality: u16,
        /// Direct-descriptor slot; a union in the header whose
        /// `zcrx_ifq_idx` member selects the ZCRX instance of
        /// `IORING_OP_RECV_ZC`.
        #[abi(offset = 44, since = (5, 15))]
        #[alias(splice_fd_in: i32, at = 0, since = (5, 7))]
        #[alias(zcrx_ifq_idx: u32, at = 0, since = (6, 15))]
        #[alias(optlen: u32, at = 0, since = (6, 7))]
        #[alias(addr_len: u16, at = 0, since = (6, 0))]
        #[alias(__pad3: [u16; 1], at = 2, since = (6, 0))]
        #[alias(write_stream: u8, at = 0, since = (6, 16))]
        #[alias(__pad4: [u8; 3], at = 1, since = (6, 16))]
        pub file_index: u32,
        /// Third address; a union in the header.
        #[abi(offset = 48, since = (5, 19))]
        #[alias(attr_ptr: u64, at = 0, since = (6, 14))]
        #[alias(optval: u64, at = 0, since = (6, 7))]
        pub addr3: u64,
        /// Padding; `attr_type_mask` in the header's other union arm.
        #[abi(offset = 56, since = (5, 19))]
        #[alias(attr_type_mask: u64, at = 0, since = (6, 14))]
        pub __pad2: [u64; 1],
    }
}

impl io_uring_sqe {
    /// Sets the header's `zcrx_ifq_idx` member (the ZCRX instance a
    /// `IORING_OP_RECV_ZC` receives into).
    pub fn set_zcrx_ifq_idx(&mut self, zcrx_id: u32) {
        self.file_index = zcrx_id;
    }

    /// Reads the header's `zcrx_ifq_idx` member.
    pub const fn zcrx_ifq_idx(&self) -> u32 {
        self.file_index
    }

    /// Sets the header's `msg_flags` member.
    pub fn set_msg_flags(&mut self, msg_flags: u32) {
        self.rw_flags = msg_flags;
    }
}

uapi_struct! {
    /// A completion queue entry (16 bytes).
    ///
    /// On rings set up with `IORING_SETUP_CQE32`, and for completions flagged
    /// [`IORING_CQE_F_32`] on `IORING_SETUP_CQE_MIXED` rings, 16 more bytes
    /// follow (the header's flexible `big_cqe[]` member); for
    /// `IORING_OP_RECV_ZC` they hold an
    /// [`io_uring_zcrx_cqe`](crate::zcrx::io_uring_zcrx_cqe).
    #[abi(header = IoUring, since = (5, 1), size = 16, align = 8)]
    pub struct io_uring_cqe {
        /// The submission's `user_data`.
        #[abi(offset = 0, since = (5, 1))]
        pub user_data: u64,
        /// Result: bytes or a negative errno.
        #[abi(offset = 8, since = (5, 1))]
        pub res: i32,
        /// `IORING_CQE_F_*` flags.
        #[abi(offset = 12, since = (5, 1))]
        pub flags: u32,
    }
}

uapi_struct! {
    /// Offsets of the submission ring's fields, filled in by `io_uring_setup`.
    #[abi(header = IoUring, since = (5, 1), size = 40, align = 8)]
    pub struct io_sqring_offsets {
        /// Offset of the head index.
        #[abi(offset = 0, since = (5, 1))]
        pub head: u32,
        /// Offset of the tail index.
        #[abi(offset = 4, since = (5, 1))]
        pub tail: u32,
        /// Offset of the ring mask.
        #[abi(offset = 8, since = (5, 1))]
        pub ring_mask: u32,
        /// Offset of the entry count.
        #[abi(offset = 12, since = (5, 1))]
        pub ring_entries: u32,
        /// Offset of the `IORING_SQ_*` flags word.
        #[abi(offset = 16, since = (5, 1))]
        pub flags: u32,
        /// Offset of the dropped-entries counter.
        #[abi(offset = 20, since = (5, 1))]
        pub dropped: u32,
        /// Offset of the index array (absent with `IORING_SETUP_NO_SQARRAY`).
        #[abi(offset = 24, since = (5, 1))]
        pub array: u32,
        /// Reserved.
        #[abi(offset = 28, since = (5, 1))]
        pub resv1: u32,
        /// With `IORING_SETUP_NO_MMAP`, the user address of the ring memory.
        #[abi(offset = 32, since = (6, 5))]
        pub user_addr: u64,
    }
}

uapi_struct! {
    /// Offsets of the completion ring's fields, filled in by `io_uring_setup`.
    #[abi(header = IoUring, since = (5, 1), size = 40, align = 8)]
    pub struct io_cqring_offsets {
        /// Offset of the head index.
        #[abi(offset = 0, since = (5, 1))]
        pub head: u32,
        /// Offset of the tail index.
        #[abi(offset = 4, since = (5, 1))]
        pub tail: u32,
        /// Offset of the ring mask.
        #[abi(offset = 8, since = (5, 1))]
        pub ring_mask: u32,
        /// Offset of the entry count.
        #[abi(offset = 12, since = (5, 1))]
        pub ring_entries: u32,
        /// Offset of the overflow counter.
        #[abi(offset = 16, since = (5, 1))]
        pub overflow: u32,
        /// Offset of the CQE array.
        #[abi(offset = 20, since = (5, 1))]
        pub cqes: u32,
        /// Offset of the `IORING_CQ_*` flags word.
        #[abi(offset = 24, since = (5, 8))]
        pub flags: u32,
        /// Reserved.
        #[abi(offset = 28, since = (5, 8))]
        pub resv1: u32,
        /// With `IORING_SETUP_NO_MMAP`, the user address of the ring memory.
        #[abi(offset = 32, since = (6, 5))]
        pub user_addr: u64,
    }
}

uapi_struct! {
    /// Argument of `io_uring_setup(2)`, written back by the kernel.
    #[abi(header = IoUring, since = (5, 1), size = 120, align = 8)]
    pub struct io_uring_params {
        /// Submission ring entries (written back, rounded up).
        #[abi(offset = 0, since = (5, 1))]
        pub sq_entries: u32,
        /// Completion ring entries (in with `IORING_SETUP_CQSIZE`).
        #[abi(offset = 4, since = (5, 1))]
        pub cq_entries: u32,
        /// `IORING_SETUP_*` flags.
        #[abi(offset = 8, since = (5, 1))]
        pub flags: u32,
        /// CPU of the SQ poll thread (`IORING_SETUP_SQ_AFF`).
        #[abi(offset = 12, since = (5, 1))]
        pub sq_thread_cpu: u32,
        /// Idle time of the SQ poll thread, in milliseconds.
        #[abi(offset = 16, since = (5, 1))]
        pub sq_thread_idle: u32,
        /// `IORING_FEAT_*` flags (written back).
        #[abi(offset = 20, since = (5, 4))]
        pub features: u32,
        /// Ring whose work queue to share (`IORING_SETUP_ATTACH_WQ`).
        #[abi(offset = 24, since = (5, 6))]
        pub wq_fd: u32,
        /// Reserved, zero.
        #[abi(offset = 28, since = (5, 6))]
        pub resv: [u32; 3],
        /// Submission ring offsets (written back).
        #[abi(offset = 40, since = (5, 1))]
        pub sq_off: io_sqring_offsets,
        /// Completion ring offsets (written back).
        #[abi(offset = 80, since = (5, 1))]
        pub cq_off: io_cqring_offsets,
    }
}

uapi_struct! {
    /// Describes a memory region shared with the kernel (the ZCRX refill
    /// ring lives in one).
    #[abi(header = IoUring, since = (6, 13), size = 64, align = 8)]
    pub struct io_uring_region_desc {
        /// User memory backing the region, with
        /// [`IORING_MEM_REGION_TYPE_USER`]; 0 for kernel-allocated memory.
        #[abi(offset = 0, since = (6, 13))]
        pub user_addr: u64,
        /// Size in bytes, a multiple of the page size.
        #[abi(offset = 8, since = (6, 13))]
        pub size: u64,
        /// `IORING_MEM_REGION_TYPE_*` flags.
        #[abi(offset = 16, since = (6, 13))]
        pub flags: u32,
        /// Region id; must be 0.
        #[abi(offset = 20, since = (6, 13))]
        pub id: u32,
        /// Written back for kernel-allocated regions: the `mmap(2)` offset.
        #[abi(offset = 24, since = (6, 13))]
        pub mmap_offset: u64,
        /// Reserved, zero.
        #[abi(offset = 32, since = (6, 13))]
        pub __resv: [u64; 4],
    }
}

uapi_struct! {
    /// Argument of `IORING_REGISTER_MEM_REGION`.
    #[abi(header = IoUring, since = (6, 13), size = 32, align = 8)]
    pub struct io_uring_mem_region_reg {
        /// Pointer to an [`io_uring_region_desc`].
        #[abi(offset = 0, since = (6, 13))]
        pub region_uptr: u64,
        /// `IORING_MEM_REGION_REG_*` flags.
        #[abi(offset = 8, since = (6, 13))]
        pub flags: u64,
        /// Reserved, zero.
        #[abi(offset = 16, since = (6, 13))]
        pub __resv: [u64; 2],
    }
}

uapi_struct! {
    /// Argument of `io_uring_enter(2)` with `IORING_ENTER_EXT_ARG`: signal
    /// mask and timeout of a wait.
    #[abi(header = IoUring, since = (5, 11), size = 24, align = 8)]
    pub struct io_uring_getevents_arg {
        /// Pointer to a signal mask, or 0.
        #[abi(offset = 0, since = (5, 11))]
        pub sigmask: u64,
        /// Size of the signal mask.
        #[abi(offset = 8, since = (5, 11))]
        pub sigmask_sz: u32,
        /// Minimum wait before returning with fewer completions, in µs.
        #[abi(offset = 12, since = (6, 12))]
        pub min_wait_usec: u32,
        /// Pointer to a `struct __kernel_timespec` timeout, or 0.
        #[abi(offset = 16, since = (5, 11))]
        pub ts: u64,
    }
}

uapi_consts! {
    // enum io_uring_op (the ones a ZCRX ring uses)

    /// Does nothing; completes with `res` 0.
    #[abi(header = IoUring, kind = Enumerator, since = (5, 1))]
    pub const IORING_OP_NOP: u8 = 0;
    /// Cancels a request, matched by `user_data` by default.
    #[abi(header = IoUring, kind = Enumerator, since = (5, 5))]
    pub const IORING_OP_ASYNC_CANCEL: u8 = 14;
    /// Zero-copy receive into a registered ZCRX area (multishot).
    #[abi(header = IoUring, kind = Enumerator, since = (6, 15))]
    pub const IORING_OP_RECV_ZC: u8 = 58;

    // enum io_uring_register_op (the ones a ZCRX ring uses)

    /// Registers a ZCRX interface queue (`struct io_uring_zcrx_ifq_reg`).
    #[abi(header = IoUring, kind = Enumerator, since = (6, 15))]
    pub const IORING_REGISTER_ZCRX_IFQ: u32 = 32;
    /// Registers a memory region (`struct io_uring_mem_region_reg`).
    #[abi(header = IoUring, kind = Enumerator, since = (6, 13))]
    pub const IORING_REGISTER_MEM_REGION: u32 = 34;
    /// Queries kernel capabilities (`linux/io_uring/query.h`); the ring fd
    /// may be -1.
    #[abi(header = IoUring, kind = Enumerator, since = (6, 18))]
    pub const IORING_REGISTER_QUERY: u32 = 35;
    /// Auxiliary ZCRX control (`struct zcrx_ctrl`).
    #[abi(header = IoUring, kind = Enumerator, since = (6, 19))]
    pub const IORING_REGISTER_ZCRX_CTRL: u32 = 36;
    /// Flag or-ed into the opcode: the fd is a registered ring index.
    #[abi(header = IoUring, kind = Enumerator, since = (6, 3))]
    pub const IORING_REGISTER_USE_REGISTERED_RING: u32 = 1 << 31;

    // io_uring_setup(2) flags

    /// Busy-poll for completions (block devices only).
    #[abi(header = IoUring, kind = Define, since = (5, 1))]
    pub const IORING_SETUP_IOPOLL: u32 = 1 << 0;
    /// A kernel thread polls the submission ring.
    #[abi(header = IoUring, kind = Define, since = (5, 1))]
    pub const IORING_SETUP_SQPOLL: u32 = 1 << 1;
    /// `sq_thread_cpu` is valid.
    #[abi(header = IoUring, kind = Define, since = (5, 1))]
    pub const IORING_SETUP_SQ_AFF: u32 = 1 << 2;
    /// `cq_entries` is valid.
    #[abi(header = IoUring, kind = Define, since = (5, 5))]
    pub const IORING_SETUP_CQSIZE: u32 = 1 << 3;
    /// Clamp ring sizes to the maximum instead of failing.
    #[abi(header = IoUring, kind = Define, since = (5, 6))]
    pub const IORING_SETUP_CLAMP: u32 = 1 << 4;
    /// Share the work queue of `wq_fd`.
    #[abi(header = IoUring, kind = Define, since = (5, 6))]
    pub const IORING_SETUP_ATTACH_WQ: u32 = 1 << 5;
    /// Start disabled.
    #[abi(header = IoUring, kind = Define, since = (5, 10))]
    pub const IORING_SETUP_R_DISABLED: u32 = 1 << 6;
    /// Continue submitting after an error.
    #[abi(header = IoUring, kind = Define, since = (5, 18))]
    pub const IORING_SETUP_SUBMIT_ALL: u32 = 1 << 7;
    /// Cooperative task running.
    #[abi(header = IoUring, kind = Define, since = (5, 19))]
    pub const IORING_SETUP_COOP_TASKRUN: u32 = 1 << 8;
    /// Set `IORING_SQ_TASKRUN` when task work is pending.
    #[abi(header = IoUring, kind = Define, since = (5, 19))]
    pub const IORING_SETUP_TASKRUN_FLAG: u32 = 1 << 9;
    /// 128-byte submission entries.
    #[abi(header = IoUring, kind = Define, since = (5, 19))]
    pub const IORING_SETUP_SQE128: u32 = 1 << 10;
    /// 32-byte completion entries (ZCRX needs this or `CQE_MIXED`).
    #[abi(header = IoUring, kind = Define, since = (5, 19))]
    pub const IORING_SETUP_CQE32: u32 = 1 << 11;
    /// Only one task submits.
    #[abi(header = IoUring, kind = Define, since = (6, 0))]
    pub const IORING_SETUP_SINGLE_ISSUER: u32 = 1 << 12;
    /// Run task work only when waiting (ZCRX needs this).
    #[abi(header = IoUring, kind = Define, since = (6, 1))]
    pub const IORING_SETUP_DEFER_TASKRUN: u32 = 1 << 13;
    /// The application provides the ring memory.
    #[abi(header = IoUring, kind = Define, since = (6, 5))]
    pub const IORING_SETUP_NO_MMAP: u32 = 1 << 14;
    /// Return a registered ring index instead of an fd.
    #[abi(header = IoUring, kind = Define, since = (6, 5))]
    pub const IORING_SETUP_REGISTERED_FD_ONLY: u32 = 1 << 15;
    /// No submission index array.
    #[abi(header = IoUring, kind = Define, since = (6, 6))]
    pub const IORING_SETUP_NO_SQARRAY: u32 = 1 << 16;
    /// Hybrid polling for `IOPOLL`.
    #[abi(header = IoUring, kind = Define, since = (6, 13))]
    pub const IORING_SETUP_HYBRID_IOPOLL: u32 = 1 << 17;
    /// 16- and 32-byte completions mixed in one ring.
    #[abi(header = IoUring, kind = Define, since = (6, 18))]
    pub const IORING_SETUP_CQE_MIXED: u32 = 1 << 18;
    /// 64- and 128-byte submissions mixed in one ring.
    #[abi(header = IoUring, kind = Define, since = (6, 19))]
    pub const IORING_SETUP_SQE_MIXED: u32 = 1 << 19;
    /// Submission always starts at index 0 (needs `NO_SQARRAY`).
    #[abi(header = IoUring, kind = Define, since = (7, 0))]
    pub const IORING_SETUP_SQ_REWIND: u32 = 1 << 20;

    // io_uring_enter(2) flags

    /// Wait for `min_complete` completions.
    #[abi(header = IoUring, kind = Define, since = (5, 1))]
    pub const IORING_ENTER_GETEVENTS: u32 = 1 << 0;
    /// Wake the SQ poll thread.
    #[abi(header = IoUring, kind = Define, since = (5, 1))]
    pub const IORING_ENTER_SQ_WAKEUP: u32 = 1 << 1;
    /// Wait for submission ring space.
    #[abi(header = IoUring, kind = Define, since = (5, 10))]
    pub const IORING_ENTER_SQ_WAIT: u32 = 1 << 2;
    /// The argument is a `struct io_uring_getevents_arg`.
    #[abi(header = IoUring, kind = Define, since = (5, 11))]
    pub const IORING_ENTER_EXT_ARG: u32 = 1 << 3;
    /// The fd is a registered ring index.
    #[abi(header = IoUring, kind = Define, since = (5, 18))]
    pub const IORING_ENTER_REGISTERED_RING: u32 = 1 << 4;
    /// The timeout is absolute.
    #[abi(header = IoUring, kind = Define, since = (6, 12))]
    pub const IORING_ENTER_ABS_TIMER: u32 = 1 << 5;
    /// The argument is an offset into a registered wait region.
    #[abi(header = IoUring, kind = Define, since = (6, 13))]
    pub const IORING_ENTER_EXT_ARG_REG: u32 = 1 << 6;
    /// Do not account the wait as iowait.
    #[abi(header = IoUring, kind = Define, since = (6, 15))]
    pub const IORING_ENTER_NO_IOWAIT: u32 = 1 << 7;

    // io_uring_params::features

    /// SQ and CQ rings share one mapping.
    #[abi(header = IoUring, kind = Define, since = (5, 4))]
    pub const IORING_FEAT_SINGLE_MMAP: u32 = 1 << 0;
    /// Completions are never dropped.
    #[abi(header = IoUring, kind = Define, since = (5, 5))]
    pub const IORING_FEAT_NODROP: u32 = 1 << 1;
    /// Submission data is stable once submitted.
    #[abi(header = IoUring, kind = Define, since = (5, 5))]
    pub const IORING_FEAT_SUBMIT_STABLE: u32 = 1 << 2;
    /// Offset -1 means the current file position.
    #[abi(header = IoUring, kind = Define, since = (5, 6))]
    pub const IORING_FEAT_RW_CUR_POS: u32 = 1 << 3;
    /// Requests use the submitter's credentials.
    #[abi(header = IoUring, kind = Define, since = (5, 6))]
    pub const IORING_FEAT_CUR_PERSONALITY: u32 = 1 << 4;
    /// Internal polling instead of worker threads.
    #[abi(header = IoUring, kind = Define, since = (5, 7))]
    pub const IORING_FEAT_FAST_POLL: u32 = 1 << 5;
    /// 32-bit poll masks.
    #[abi(header = IoUring, kind = Define, since = (5, 9))]
    pub const IORING_FEAT_POLL_32BITS: u32 = 1 << 6;
    /// SQ polling without fixed files.
    #[abi(header = IoUring, kind = Define, since = (5, 11))]
    pub const IORING_FEAT_SQPOLL_NONFIXED: u32 = 1 << 7;
    /// `IORING_ENTER_EXT_ARG` is supported.
    #[abi(header = IoUring, kind = Define, since = (5, 11))]
    pub const IORING_FEAT_EXT_ARG: u32 = 1 << 8;
    /// Workers are native threads.
    #[abi(header = IoUring, kind = Define, since = (5, 12))]
    pub const IORING_FEAT_NATIVE_WORKERS: u32 = 1 << 9;
    /// Resource tags.
    #[abi(header = IoUring, kind = Define, since = (5, 13))]
    pub const IORING_FEAT_RSRC_TAGS: u32 = 1 << 10;
    /// `IOSQE_CQE_SKIP_SUCCESS`.
    #[abi(header = IoUring, kind = Define, since = (5, 17))]
    pub const IORING_FEAT_CQE_SKIP: u32 = 1 << 11;
    /// Linked file assignment.
    #[abi(header = IoUring, kind = Define, since = (5, 17))]
    pub const IORING_FEAT_LINKED_FILE: u32 = 1 << 12;
    /// Registering a registered ring.
    #[abi(header = IoUring, kind = Define, since = (6, 3))]
    pub const IORING_FEAT_REG_REG_RING: u32 = 1 << 13;
    /// Bundled send and receive.
    #[abi(header = IoUring, kind = Define, since = (6, 10))]
    pub const IORING_FEAT_RECVSEND_BUNDLE: u32 = 1 << 14;
    /// Minimum wait timeouts.
    #[abi(header = IoUring, kind = Define, since = (6, 12))]
    pub const IORING_FEAT_MIN_TIMEOUT: u32 = 1 << 15;
    /// Read/write attributes.
    #[abi(header = IoUring, kind = Define, since = (6, 14))]
    pub const IORING_FEAT_RW_ATTR: u32 = 1 << 16;
    /// `IORING_ENTER_NO_IOWAIT`.
    #[abi(header = IoUring, kind = Define, since = (6, 15))]
    pub const IORING_FEAT_NO_IOWAIT: u32 = 1 << 17;

    // io_uring_sqe::flags

    /// `fd` is a registered file index.
    #[abi(header = IoUring, kind = Define, since = (5, 1))]
    pub const IOSQE_FIXED_FILE: u8 = 1 << 0;
    /// Issue after in-flight requests.
    #[abi(header = IoUring, kind = Define, since = (5, 2))]
    pub const IOSQE_IO_DRAIN: u8 = 1 << 1;
    /// Link with the next submission.
    #[abi(header = IoUring, kind = Define, since = (5, 3))]
    pub const IOSQE_IO_LINK: u8 = 1 << 2;
    /// Link that survives failure.
    #[abi(header = IoUring, kind = Define, since = (5, 5))]
    pub const IOSQE_IO_HARDLINK: u8 = 1 << 3;
    /// Always go asynchronous.
    #[abi(header = IoUring, kind = Define, since = (5, 6))]
    pub const IOSQE_ASYNC: u8 = 1 << 4;
    /// Select a provided buffer.
    #[abi(header = IoUring, kind = Define, since = (5, 7))]
    pub const IOSQE_BUFFER_SELECT: u8 = 1 << 5;
    /// No completion on success.
    #[abi(header = IoUring, kind = Define, since = (5, 17))]
    pub const IOSQE_CQE_SKIP_SUCCESS: u8 = 1 << 6;

    // io_uring_cqe::flags

    /// The upper 16 bits hold a buffer id.
    #[abi(header = IoUring, kind = Define, since = (5, 7))]
    pub const IORING_CQE_F_BUFFER: u32 = 1 << 0;
    /// More completions will follow for this submission (multishot).
    #[abi(header = IoUring, kind = Define, since = (5, 13))]
    pub const IORING_CQE_F_MORE: u32 = 1 << 1;
    /// More data is waiting in the socket.
    #[abi(header = IoUring, kind = Define, since = (5, 19))]
    pub const IORING_CQE_F_SOCK_NONEMPTY: u32 = 1 << 2;
    /// A zero-copy send notification.
    #[abi(header = IoUring, kind = Define, since = (6, 0))]
    pub const IORING_CQE_F_NOTIF: u32 = 1 << 3;
    /// The buffer will get more completions (incremental buffers).
    #[abi(header = IoUring, kind = Define, since = (6, 12))]
    pub const IORING_CQE_F_BUF_MORE: u32 = 1 << 4;
    /// Padding in a mixed ring: ignore this completion.
    #[abi(header = IoUring, kind = Define, since = (6, 18))]
    pub const IORING_CQE_F_SKIP: u32 = 1 << 5;
    /// A 32-byte completion in a `CQE_MIXED` ring.
    #[abi(header = IoUring, kind = Define, since = (6, 18))]
    pub const IORING_CQE_F_32: u32 = 1 << 15;
    /// Shift of the buffer id in `flags`.
    #[abi(header = IoUring, kind = Define, since = (5, 7))]
    pub const IORING_CQE_BUFFER_SHIFT: u32 = 16;

    // send/receive flags, in io_uring_sqe::ioprio

    /// Arm poll before the first attempt.
    #[abi(header = IoUring, kind = Define, since = (5, 19))]
    pub const IORING_RECVSEND_POLL_FIRST: u16 = 1 << 0;
    /// Multishot receive (required by `IORING_OP_RECV_ZC`).
    #[abi(header = IoUring, kind = Define, since = (6, 0))]
    pub const IORING_RECV_MULTISHOT: u16 = 1 << 1;
    /// Use a registered buffer.
    #[abi(header = IoUring, kind = Define, since = (6, 0))]
    pub const IORING_RECVSEND_FIXED_BUF: u16 = 1 << 2;
    /// Report zero-copy send usage.
    #[abi(header = IoUring, kind = Define, since = (6, 2))]
    pub const IORING_SEND_ZC_REPORT_USAGE: u16 = 1 << 3;
    /// Bundled buffers.
    #[abi(header = IoUring, kind = Define, since = (6, 10))]
    pub const IORING_RECVSEND_BUNDLE: u16 = 1 << 4;
    /// Vectored send.
    #[abi(header = IoUring, kind = Define, since = (6, 17))]
    pub const IORING_SEND_VECTORIZED: u16 = 1 << 5;

    // mmap(2) offsets of the ring file

    /// Submission ring.
    #[abi(header = IoUring, kind = Define, since = (5, 1))]
    pub const IORING_OFF_SQ_RING: u64 = 0;
    /// Completion ring.
    #[abi(header = IoUring, kind = Define, since = (5, 1))]
    pub const IORING_OFF_CQ_RING: u64 = 0x800_0000;
    /// Submission entries.
    #[abi(header = IoUring, kind = Define, since = (5, 1))]
    pub const IORING_OFF_SQES: u64 = 0x1000_0000;
    /// Provided-buffer rings.
    #[abi(header = IoUring, kind = Define, since = (6, 4))]
    pub const IORING_OFF_PBUF_RING: u64 = 0x8000_0000;
    /// Shift of the buffer group in a provided-buffer ring offset.
    #[abi(header = IoUring, kind = Define, since = (6, 4))]
    pub const IORING_OFF_PBUF_SHIFT: u32 = 16;
    /// Mask of the mapping type in an offset.
    #[abi(header = IoUring, kind = Define, since = (6, 4))]
    pub const IORING_OFF_MMAP_MASK: u64 = 0xf800_0000;

    // ring flags words

    /// The SQ poll thread sleeps and needs a wakeup.
    #[abi(header = IoUring, kind = Define, since = (5, 1))]
    pub const IORING_SQ_NEED_WAKEUP: u32 = 1 << 0;
    /// The completion ring overflowed.
    #[abi(header = IoUring, kind = Define, since = (5, 8))]
    pub const IORING_SQ_CQ_OVERFLOW: u32 = 1 << 1;
    /// Task work is pending: enter the kernel to run it.
    #[abi(header = IoUring, kind = Define, since = (5, 19))]
    pub const IORING_SQ_TASKRUN: u32 = 1 << 2;
    /// Eventfd notifications are disabled.
    #[abi(header = IoUring, kind = Define, since = (5, 8))]
    pub const IORING_CQ_EVENTFD_DISABLED: u32 = 1 << 0;

    // memory regions

    /// The region is backed by user memory at `user_addr`.
    #[abi(header = IoUring, kind = Enumerator, since = (6, 13))]
    pub const IORING_MEM_REGION_TYPE_USER: u32 = 1;
    /// Expose the region as registered wait arguments.
    #[abi(header = IoUring, kind = Enumerator, since = (6, 13))]
    pub const IORING_MEM_REGION_REG_WAIT_ARG: u64 = 1;
}

bitflags::bitflags! {
    /// `IORING_SETUP_*` flags of [`io_uring_params::flags`].
    ///
    /// Unknown bits are kept (`from_bits_retain`).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct SetupFlags: u32 {
        /// [`IORING_SETUP_IOPOLL`].
        const IOPOLL = IORING_SETUP_IOPOLL;
        /// [`IORING_SETUP_SQPOLL`].
        const SQPOLL = IORING_SETUP_SQPOLL;
        /// [`IORING_SETUP_SQ_AFF`].
        const SQ_AFF = IORING_SETUP_SQ_AFF;
        /// [`IORING_SETUP_CQSIZE`].
        const CQSIZE = IORING_SETUP_CQSIZE;
        /// [`IORING_SETUP_CLAMP`].
        const CLAMP = IORING_SETUP_CLAMP;
        /// [`IORING_SETUP_ATTACH_WQ`].
        const ATTACH_WQ = IORING_SETUP_ATTACH_WQ;
        /// [`IORING_SETUP_R_DISABLED`].
        const R_DISABLED = IORING_SETUP_R_DISABLED;
        /// [`IORING_SETUP_SUBMIT_ALL`].
        const SUBMIT_ALL = IORING_SETUP_SUBMIT_ALL;
        /// [`IORING_SETUP_COOP_TASKRUN`].
        const COOP_TASKRUN = IORING_SETUP_COOP_TASKRUN;
        /// [`IORING_SETUP_TASKRUN_FLAG`].
        const TASKRUN_FLAG = IORING_SETUP_TASKRUN_FLAG;
        /// [`IORING_SETUP_SQE128`].
        const SQE128 = IORING_SETUP_SQE128;
        /// [`IORING_SETUP_CQE32`].
        const CQE32 = IORING_SETUP_CQE32;
        /// [`IORING_SETUP_SINGLE_ISSUER`].
        const SINGLE_ISSUER = IORING_SETUP_SINGLE_ISSUER;
        /// [`IORING_SETUP_DEFER_TASKRUN`].
        const DEFER_TASKRUN = IORING_SETUP_DEFER_TASKRUN;
        /// [`IORING_SETUP_NO_MMAP`].
        const NO_MMAP = IORING_SETUP_NO_MMAP;
        /// [`IORING_SETUP_REGISTERED_FD_ONLY`].
        const REGISTERED_FD_ONLY = IORING_SETUP_REGISTERED_FD_ONLY;
        /// [`IORING_SETUP_NO_SQARRAY`].
        const NO_SQARRAY = IORING_SETUP_NO_SQARRAY;
        /// [`IORING_SETUP_HYBRID_IOPOLL`].
        const HYBRID_IOPOLL = IORING_SETUP_HYBRID_IOPOLL;
        /// [`IORING_SETUP_CQE_MIXED`].
        const CQE_MIXED = IORING_SETUP_CQE_MIXED;
        /// [`IORING_SETUP_SQE_MIXED`].
        const SQE_MIXED = IORING_SETUP_SQE_MIXED;
        /// [`IORING_SETUP_SQ_REWIND`].
        const SQ_REWIND = IORING_SETUP_SQ_REWIND;
        /// Bits this crate does not know yet.
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// `IORING_ENTER_*` flags of `io_uring_enter(2)`.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct EnterFlags: u32 {
        /// [`IORING_ENTER_GETEVENTS`].
        const GETEVENTS = IORING_ENTER_GETEVENTS;
        /// [`IORING_ENTER_SQ_WAKEUP`].
        const SQ_WAKEUP = IORING_ENTER_SQ_WAKEUP;
        /// [`IORING_ENTER_SQ_WAIT`].
        const SQ_WAIT = IORING_ENTER_SQ_WAIT;
        /// [`IORING_ENTER_EXT_ARG`].
        const EXT_ARG = IORING_ENTER_EXT_ARG;
        /// [`IORING_ENTER_REGISTERED_RING`].
        const REGISTERED_RING = IORING_ENTER_REGISTERED_RING;
        /// [`IORING_ENTER_ABS_TIMER`].
        const ABS_TIMER = IORING_ENTER_ABS_TIMER;
        /// [`IORING_ENTER_EXT_ARG_REG`].
        const EXT_ARG_REG = IORING_ENTER_EXT_ARG_REG;
        /// [`IORING_ENTER_NO_IOWAIT`].
        const NO_IOWAIT = IORING_ENTER_NO_IOWAIT;
        /// Bits this crate does not know yet.
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// `IORING_FEAT_*` flags of [`io_uring_params::features`].
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct FeatureFlags: u32 {
        /// [`IORING_FEAT_SINGLE_MMAP`].
        const SINGLE_MMAP = IORING_FEAT_SINGLE_MMAP;
        /// [`IORING_FEAT_NODROP`].
        const NODROP = IORING_FEAT_NODROP;
        /// [`IORING_FEAT_SUBMIT_STABLE`].
        const SUBMIT_STABLE = IORING_FEAT_SUBMIT_STABLE;
        /// [`IORING_FEAT_RW_CUR_POS`].
        const RW_CUR_POS = IORING_FEAT_RW_CUR_POS;
        /// [`IORING_FEAT_CUR_PERSONALITY`].
        const CUR_PERSONALITY = IORING_FEAT_CUR_PERSONALITY;
        /// [`IORING_FEAT_FAST_POLL`].
        const FAST_POLL = IORING_FEAT_FAST_POLL;
        /// [`IORING_FEAT_POLL_32BITS`].
        const POLL_32BITS = IORING_FEAT_POLL_32BITS;
        /// [`IORING_FEAT_SQPOLL_NONFIXED`].
        const SQPOLL_NONFIXED = IORING_FEAT_SQPOLL_NONFIXED;
        /// [`IORING_FEAT_EXT_ARG`].
        const EXT_ARG = IORING_FEAT_EXT_ARG;
        /// [`IORING_FEAT_NATIVE_WORKERS`].
        const NATIVE_WORKERS = IORING_FEAT_NATIVE_WORKERS;
        /// [`IORING_FEAT_RSRC_TAGS`].
        const RSRC_TAGS = IORING_FEAT_RSRC_TAGS;
        /// [`IORING_FEAT_CQE_SKIP`].
        const CQE_SKIP = IORING_FEAT_CQE_SKIP;
        /// [`IORING_FEAT_LINKED_FILE`].
        const LINKED_FILE = IORING_FEAT_LINKED_FILE;
        /// [`IORING_FEAT_REG_REG_RING`].
        const REG_REG_RING = IORING_FEAT_REG_REG_RING;
        /// [`IORING_FEAT_RECVSEND_BUNDLE`].
        const RECVSEND_BUNDLE = IORING_FEAT_RECVSEND_BUNDLE;
        /// [`IORING_FEAT_MIN_TIMEOUT`].
        const MIN_TIMEOUT = IORING_FEAT_MIN_TIMEOUT;
        /// [`IORING_FEAT_RW_ATTR`].
        const RW_ATTR = IORING_FEAT_RW_ATTR;
        /// [`IORING_FEAT_NO_IOWAIT`].
        const NO_IOWAIT = IORING_FEAT_NO_IOWAIT;
        /// Bits this crate does not know yet.
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// `IOSQE_*` flags of [`io_uring_sqe::flags`].
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct SqeFlags: u8 {
        /// [`IOSQE_FIXED_FILE`].
        const FIXED_FILE = IOSQE_FIXED_FILE;
        /// [`IOSQE_IO_DRAIN`].
        const IO_DRAIN = IOSQE_IO_DRAIN;
        /// [`IOSQE_IO_LINK`].
        const IO_LINK = IOSQE_IO_LINK;
        /// [`IOSQE_IO_HARDLINK`].
        const IO_HARDLINK = IOSQE_IO_HARDLINK;
        /// [`IOSQE_ASYNC`].
        const ASYNC = IOSQE_ASYNC;
        /// [`IOSQE_BUFFER_SELECT`].
        const BUFFER_SELECT = IOSQE_BUFFER_SELECT;
        /// [`IOSQE_CQE_SKIP_SUCCESS`].
        const CQE_SKIP_SUCCESS = IOSQE_CQE_SKIP_SUCCESS;
        /// Bits this crate does not know yet.
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// `IORING_CQE_F_*` flags of [`io_uring_cqe::flags`].
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct CqeFlags: u32 {
        /// [`IORING_CQE_F_BUFFER`].
        const BUFFER = IORING_CQE_F_BUFFER;
        /// [`IORING_CQE_F_MORE`].
        const MORE = IORING_CQE_F_MORE;
        /// [`IORING_CQE_F_SOCK_NONEMPTY`].
        const SOCK_NONEMPTY = IORING_CQE_F_SOCK_NONEMPTY;
        /// [`IORING_CQE_F_NOTIF`].
        const NOTIF = IORING_CQE_F_NOTIF;
        /// [`IORING_CQE_F_BUF_MORE`].
        const BUF_MORE = IORING_CQE_F_BUF_MORE;
        /// [`IORING_CQE_F_SKIP`].
        const SKIP = IORING_CQE_F_SKIP;
        /// [`IORING_CQE_F_32`].
        const F_32 = IORING_CQE_F_32;
        /// Bits this crate does not know yet (and the buffer id bits).
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// Send and receive flags carried in [`io_uring_sqe::ioprio`].
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct RecvSendFlags: u16 {
        /// [`IORING_RECVSEND_POLL_FIRST`].
        const POLL_FIRST = IORING_RECVSEND_POLL_FIRST;
        /// [`IORING_RECV_MULTISHOT`].
        const RECV_MULTISHOT = IORING_RECV_MULTISHOT;
        /// [`IORING_RECVSEND_FIXED_BUF`].
        const FIXED_BUF = IORING_RECVSEND_FIXED_BUF;
        /// [`IORING_SEND_ZC_REPORT_USAGE`].
        const SEND_ZC_REPORT_USAGE = IORING_SEND_ZC_REPORT_USAGE;
        /// [`IORING_RECVSEND_BUNDLE`].
        const BUNDLE = IORING_RECVSEND_BUNDLE;
        /// [`IORING_SEND_VECTORIZED`].
        const SEND_VECTORIZED = IORING_SEND_VECTORIZED;
        /// Bits this crate does not know yet.
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// `IORING_SQ_*` flags of the submission ring's flags word.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct SqRingFlags: u32 {
        /// [`IORING_SQ_NEED_WAKEUP`].
        const NEED_WAKEUP = IORING_SQ_NEED_WAKEUP;
        /// [`IORING_SQ_CQ_OVERFLOW`].
        const CQ_OVERFLOW = IORING_SQ_CQ_OVERFLOW;
        /// [`IORING_SQ_TASKRUN`].
        const TASKRUN = IORING_SQ_TASKRUN;
        /// Bits this crate does not know yet.
        const _ = !0;
    }
}
