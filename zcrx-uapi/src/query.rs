//! Items of `linux/io_uring/query.h`: the `IORING_REGISTER_QUERY` interface.
//!
//! A query is a chain of [`io_uring_query_hdr`] entries, each pointing at a
//! reply buffer of `size` bytes. `io_uring_register(fd, IORING_REGISTER_QUERY,
//! &hdr, 0)` works without a ring (`fd` = -1), returns 0, and reports each
//! entry's outcome in its `result` (0, or a negative errno such as
//! `-EOPNOTSUPP` for an op the kernel does not know); `size` is written back
//! with the number of bytes the kernel filled in. `result` must be 0 on input.

use crate::abi::{uapi_consts, uapi_struct};

uapi_struct! {
    /// One entry of a query chain.
    #[abi(header = Query, since = (6, 18), size = 40, align = 8)]
    pub struct io_uring_query_hdr {
        /// Pointer to the next header, or 0.
        #[abi(offset = 0, since = (6, 18))]
        pub next_entry: u64,
        /// Pointer to the reply buffer.
        #[abi(offset = 8, since = (6, 18))]
        pub query_data: u64,
        /// `IO_URING_QUERY_*` op.
        #[abi(offset = 16, since = (6, 18))]
        pub query_op: u32,
        /// In: size of the reply buffer; out: bytes filled in.
        #[abi(offset = 20, since = (6, 18))]
        pub size: u32,
        /// Out: 0 or a negative errno. Must be 0 on input.
        #[abi(offset = 24, since = (6, 18))]
        pub result: i32,
        /// Reserved, zero.
        #[abi(offset = 28, since = (6, 18))]
        pub __resv: [u32; 3],
    }
}

uapi_struct! {
    /// Reply of [`IO_URING_QUERY_OPCODES`]; needs no ring.
    #[abi(header = Query, since = (6, 18), size = 48, align = 8)]
    pub struct io_uring_query_opcode {
        /// Number of `IORING_OP_*` opcodes.
        #[abi(offset = 0, since = (6, 18))]
        pub nr_request_opcodes: u32,
        /// Number of `IORING_[UN]REGISTER_*` opcodes.
        #[abi(offset = 4, since = (6, 18))]
        pub nr_register_opcodes: u32,
        /// Supported `IORING_FEAT_*` flags.
        #[abi(offset = 8, since = (6, 18))]
        pub feature_flags: u64,
        /// Supported `IORING_SETUP_*` flags.
        #[abi(offset = 16, since = (6, 18))]
        pub ring_setup_flags: u64,
        /// Supported `IORING_ENTER_*` flags.
        #[abi(offset = 24, since = (6, 18))]
        pub enter_flags: u64,
        /// Supported `IOSQE_*` flags.
        #[abi(offset = 32, since = (6, 18))]
        pub sqe_flags: u64,
        /// Number of query ops.
        #[abi(offset = 40, since = (6, 18))]
        pub nr_query_opcodes: u32,
        /// Padding.
        #[abi(offset = 44, since = (6, 18))]
        pub __pad: u32,
    }
}

uapi_struct! {
    /// Reply of [`IO_URING_QUERY_ZCRX`].
    #[abi(header = Query, since = (6, 19), size = 40, align = 8)]
    pub struct io_uring_query_zcrx {
        /// Supported `ZCRX_REG_*` flags.
        #[abi(offset = 0, since = (6, 19))]
        pub register_flags: u64,
        /// Supported `IORING_ZCRX_AREA_*` flags.
        #[abi(offset = 8, since = (6, 19))]
        pub area_flags: u64,
        /// Number of `ZCRX_CTRL_*` ops.
        #[abi(offset = 16, since = (6, 19))]
        pub nr_ctrl_opcodes: u32,
        /// `ZCRX_FEATURE_*` bits (reserved, zero, on 6.19).
        #[abi(offset = 20, since = (7, 0))]
        pub features: u32,
        /// Size of the refill ring header: where the entries may start,
        /// before alignment (8 on 7.2, 128 on 7.3).
        #[abi(offset = 24, since = (6, 19))]
        pub rq_hdr_size: u32,
        /// Alignment of the refill ring entries.
        #[abi(offset = 28, since = (6, 19))]
        pub rq_hdr_alignment: u32,
        /// Reserved.
        #[abi(offset = 32, since = (6, 19))]
        pub __resv2: u64,
    }
}

uapi_struct! {
    /// Reply of [`IO_URING_QUERY_ZCRX_EVENT`].
    #[abi(header = Query, since = (7, 2), size = 48, align = 8)]
    pub struct io_uring_query_zcrx_event {
        /// Supported event types, a mask of `1 << ZCRX_EVENT_*`.
        #[abi(offset = 0, since = (7, 2))]
        pub event_flags: u32,
        /// Size of `struct zcrx_stats`.
        #[abi(offset = 4, since = (7, 2))]
        pub stats_size: u32,
        /// Required alignment of `zcrx_event_desc::stats_offset`.
        #[abi(offset = 8, since = (7, 2))]
        pub stats_off_alignment: u32,
        /// Reserved.
        #[abi(offset = 12, since = (7, 2))]
        pub __resv1: u32,
        /// Reserved.
        #[abi(offset = 16, since = (7, 2))]
        pub __resv2: [u64; 4],
    }
}

uapi_struct! {
    /// Reply of [`IO_URING_QUERY_SCQ`].
    #[abi(header = Query, since = (6, 19), size = 16, align = 8)]
    pub struct io_uring_query_scq {
        /// Size of the SQ/CQ ring header.
        #[abi(offset = 0, since = (6, 19))]
        pub hdr_size: u64,
        /// Its alignment.
        #[abi(offset = 8, since = (6, 19))]
        pub hdr_alignment: u64,
    }
}

uapi_consts! {
    /// Query op: opcode counts and supported flags ([`io_uring_query_opcode`]).
    #[abi(header = Query, kind = Enumerator, since = (6, 18))]
    pub const IO_URING_QUERY_OPCODES: u32 = 0;
    /// Query op: ZCRX capabilities ([`io_uring_query_zcrx`]).
    #[abi(header = Query, kind = Enumerator, since = (6, 19))]
    pub const IO_URING_QUERY_ZCRX: u32 = 1;
    /// Query op: SQ/CQ ring layout ([`io_uring_query_scq`]).
    #[abi(header = Query, kind = Enumerator, since = (6, 19))]
    pub const IO_URING_QUERY_SCQ: u32 = 2;
    /// Query op: ZCRX events and stats layout ([`io_uring_query_zcrx_event`]).
    #[abi(header = Query, kind = Enumerator, since = (7, 2))]
    pub const IO_URING_QUERY_ZCRX_EVENT: u32 = 3;
}
