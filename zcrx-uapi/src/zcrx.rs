//! Items of `linux/io_uring/zcrx.h`: zero-copy receive and its events.
//!
//! Before Linux 7.1 these items were part of `linux/io_uring.h`.
//!
//! # The refill ring
//!
//! Userspace returns buffers by writing [`io_uring_zcrx_rqe`] entries at
//! `rqes + (tail & (rq_entries - 1)) * 16` of the refill region and then
//! storing the new tail with release ordering. The offsets `head`, `tail` and
//! `rqes` are written back by the kernel into
//! [`io_uring_zcrx_ifq_reg::offsets`]; they differ between kernels (7.2: head
//! 0, tail 4, entries 64; 7.3: head 0, tail 64, entries 128) and must never be
//! computed locally. The size of the header part, needed *before*
//! registration to place the stats block, comes from
//! [`io_uring_query_zcrx::rq_hdr_size`](crate::query::io_uring_query_zcrx::rq_hdr_size).

use crate::abi::{uapi_consts, uapi_struct};

uapi_struct! {
    /// A refill queue entry: gives one received chunk back to the kernel.
    #[abi(header = Zcrx, since = (6, 15), size = 16, align = 8)]
    pub struct io_uring_zcrx_rqe {
        /// The `off` of the completion, area token included.
        #[abi(offset = 0, since = (6, 15))]
        pub off: u64,
        /// The length of the chunk.
        #[abi(offset = 8, since = (6, 15))]
        pub len: u32,
        /// Must be zero.
        #[abi(offset = 12, since = (6, 15))]
        pub __pad: u32,
    }
}

uapi_struct! {
    /// The second half of a 32-byte `IORING_OP_RECV_ZC` completion.
    #[abi(header = Zcrx, since = (6, 15), size = 16, align = 8)]
    pub struct io_uring_zcrx_cqe {
        /// Offset of the data in its area; the area id is in the bits from
        /// [`IORING_ZCRX_AREA_SHIFT`] up ([`IORING_ZCRX_AREA_MASK`]).
        #[abi(offset = 0, since = (6, 15))]
        pub off: u64,
        /// Zero.
        #[abi(offset = 8, since = (6, 15))]
        pub __pad: u64,
    }
}

uapi_struct! {
    /// Offsets inside the refill region, written back by the kernel.
    #[abi(header = Zcrx, since = (6, 15), size = 32, align = 8)]
    pub struct io_uring_zcrx_offsets {
        /// Offset of the head index (kernel-written, `u32`).
        #[abi(offset = 0, since = (6, 15))]
        pub head: u32,
        /// Offset of the tail index (user-written, `u32`).
        #[abi(offset = 4, since = (6, 15))]
        pub tail: u32,
        /// Offset of the first [`io_uring_zcrx_rqe`].
        #[abi(offset = 8, since = (6, 15))]
        pub rqes: u32,
        /// Reserved.
        #[abi(offset = 12, since = (6, 15))]
        pub __resv2: u32,
        /// Reserved.
        #[abi(offset = 16, since = (6, 15))]
        pub __resv: [u64; 2],
    }
}

uapi_struct! {
    /// Describes one receive area (user memory or a dmabuf).
    #[abi(header = Zcrx, since = (6, 15), size = 48, align = 8)]
    pub struct io_uring_zcrx_area_reg {
        /// Start of the area, page aligned (0 for a dmabuf).
        #[abi(offset = 0, since = (6, 15))]
        pub addr: u64,
        /// Length in bytes, a multiple of the page size.
        #[abi(offset = 8, since = (6, 15))]
        pub len: u64,
        /// Written back: the area's token (`area_id << IORING_ZCRX_AREA_SHIFT`).
        /// Must be zero on input.
        #[abi(offset = 16, since = (6, 15))]
        pub rq_area_token: u64,
        /// `IORING_ZCRX_AREA_*` flags.
        #[abi(offset = 24, since = (6, 15))]
        pub flags: u32,
        /// The dmabuf fd, with [`IORING_ZCRX_AREA_DMABUF`].
        #[abi(offset = 28, since = (6, 16))]
        pub dmabuf_fd: u32,
        /// Reserved, zero.
        #[abi(offset = 32, since = (6, 15))]
        pub __resv2: [u64; 2],
    }
}

uapi_struct! {
    /// Copy-fallback statistics, kept by the kernel inside the refill region
    /// at `zcrx_event_desc::stats_offset`.
    ///
    /// The kernel bumps both counters with plain stores (`WRITE_ONCE`), once
    /// per copied payload fragment (the linear header part of a packet is
    /// copied too but counted in neither).
    #[abi(header = Zcrx, since = (7, 2), size = 16, align = 8)]
    pub struct zcrx_stats {
        /// Cumulative number of payload fragments the kernel copied (one per
        /// fragment, however many completions its copy produced).
        #[abi(offset = 0, since = (7, 2))]
        pub copy_count: u64,
        /// Cumulative number of bytes copied.
        #[abi(offset = 8, since = (7, 2))]
        pub copy_bytes: u64,
    }
}

uapi_struct! {
    /// Event (notification) configuration, pointed to by
    /// [`io_uring_zcrx_ifq_reg::event_desc`].
    #[abi(header = Zcrx, since = (7, 2), size = 96, align = 8)]
    pub struct zcrx_event_desc {
        /// `user_data` of the event completions.
        #[abi(offset = 0, since = (7, 2))]
        pub user_data: u64,
        /// Enabled events, a mask of `1 << ZCRX_EVENT_*`.
        #[abi(offset = 8, since = (7, 2))]
        pub type_mask: u32,
        /// `ZCRX_EVENT_DESC_FLAG_*` flags.
        #[abi(offset = 12, since = (7, 2))]
        pub flags: u32,
        /// With [`ZCRX_EVENT_DESC_FLAG_STATS`]: offset of a [`zcrx_stats`]
        /// from the start of the refill region; after the last entry, aligned
        /// as the event query says, inside the region. Zero otherwise.
        #[abi(offset = 16, since = (7, 2))]
        pub stats_offset: u64,
        /// Reserved, zero.
        #[abi(offset = 24, since = (7, 2))]
        pub __resv2: [u64; 9],
    }
}

uapi_struct! {
    /// Argument of `IORING_REGISTER_ZCRX_IFQ`; partly written back.
    #[abi(header = Zcrx, since = (6, 15), size = 96, align = 8)]
    pub struct io_uring_zcrx_ifq_reg {
        /// Interface index (0 with `ZCRX_REG_NODEV`; the exported fd with
        /// `ZCRX_REG_IMPORT`).
        #[abi(offset = 0, since = (6, 15))]
        pub if_idx: u32,
        /// Receive queue index (0 with `ZCRX_REG_NODEV`).
        #[abi(offset = 4, since = (6, 15))]
        pub if_rxq: u32,
        /// Refill ring entries; written back rounded up to a power of two.
        #[abi(offset = 8, since = (6, 15))]
        pub rq_entries: u32,
        /// `ZCRX_REG_*` flags.
        #[abi(offset = 12, since = (6, 15))]
        pub flags: u32,
        /// Pointer to an [`io_uring_zcrx_area_reg`].
        #[abi(offset = 16, since = (6, 15))]
        pub area_ptr: u64,
        /// Pointer to an [`io_uring_region_desc`](crate::io_uring::io_uring_region_desc)
        /// for the refill ring.
        #[abi(offset = 24, since = (6, 15))]
        pub region_ptr: u64,
        /// Written back: offsets inside the refill region.
        #[abi(offset = 32, since = (6, 15))]
        pub offsets: io_uring_zcrx_offsets,
        /// Written back: the instance id (`zcrx_ifq_idx` of submissions).
        #[abi(offset = 64, since = (6, 15))]
        pub zcrx_id: u32,
        /// Buffer size wanted (0: page size); written back: the size used.
        #[abi(offset = 68, since = (7, 0))]
        pub rx_buf_len: u32,
        /// Pointer to a [`zcrx_event_desc`], or 0.
        #[abi(offset = 72, since = (7, 2))]
        pub event_desc: u64,
        /// Reserved, zero.
        #[abi(offset = 80, since = (7, 2))]
        pub __resv: [u64; 2],
    }
}

uapi_struct! {
    /// Argument of `ZCRX_CTRL_FLUSH_RQ`: nothing but reserved words.
    #[abi(header = Zcrx, since = (6, 19), size = 48, align = 8)]
    pub struct zcrx_ctrl_flush_rq {
        /// Reserved, zero.
        #[abi(offset = 0, since = (6, 19))]
        pub __resv: [u64; 6],
    }
}

uapi_struct! {
    /// Argument of `ZCRX_CTRL_EXPORT`; the kernel writes the new fd back.
    #[abi(header = Zcrx, since = (6, 19), size = 48, align = 4)]
    pub struct zcrx_ctrl_export {
        /// Written back: an fd that `ZCRX_REG_IMPORT` accepts.
        #[abi(offset = 0, since = (6, 19))]
        pub zcrx_fd: u32,
        /// Reserved, zero.
        #[abi(offset = 4, since = (6, 19))]
        pub __resv1: [u32; 11],
    }
}

uapi_struct! {
    /// Argument of `ZCRX_CTRL_ARM_EVENT`: re-arms one fired event type.
    #[abi(header = Zcrx, since = (7, 2), size = 48, align = 4)]
    pub struct zcrx_ctrl_arm_event {
        /// One `ZCRX_EVENT_*` value (an index, not a mask).
        #[abi(offset = 0, since = (7, 2))]
        pub event_type: u32,
        /// Reserved, zero.
        #[abi(offset = 4, since = (7, 2))]
        pub __resv: [u32; 11],
    }
}

uapi_struct! {
    /// Argument of `ZCRX_CTRL_ADD_AREA`: adds one more area to an instance.
    #[abi(header = Zcrx, since = (7, 3), size = 48, align = 8)]
    pub struct zcrx_ctrl_add_area {
        /// Pointer to an [`io_uring_zcrx_area_reg`]; its `rq_area_token` is
        /// written back.
        #[abi(offset = 0, since = (7, 3))]
        pub area_ptr: u64,
        /// Reserved, zero.
        #[abi(offset = 8, since = (7, 3))]
        pub __resv: [u64; 5],
    }
}

uapi_struct! {
    /// Argument of `IORING_REGISTER_ZCRX_CTRL` (`nr_args` 0).
    ///
    /// The header's anonymous union (`zc_export`, `zc_flush`,
    /// `zc_arm_event`, `zc_area`) is the field [`zc_flush`](Self::zc_flush);
    /// the other members are read and written with the accessors, and the
    /// constructors fill in `op` and the member in one step.
    #[abi(header = Zcrx, since = (6, 19), size = 72, align = 8)]
    pub struct zcrx_ctrl {
        /// The instance (`io_uring_zcrx_ifq_reg::zcrx_id`).
        #[abi(offset = 0, since = (6, 19))]
        pub zcrx_id: u32,
        /// `ZCRX_CTRL_*` operation.
        #[abi(offset = 4, since = (6, 19))]
        pub op: u32,
        /// Reserved, zero.
        #[abi(offset = 8, since = (6, 19))]
        pub __resv: [u64; 2],
        /// The operation's argument (the header's union).
        #[abi(offset = 24, since = (6, 19))]
        #[alias(zc_export: zcrx_ctrl_export, at = 0, since = (6, 19))]
        #[alias(zc_arm_event: zcrx_ctrl_arm_event, at = 0, since = (7, 2))]
        #[alias(zc_area: zcrx_ctrl_add_area, at = 0, since = (7, 3))]
        pub zc_flush: zcrx_ctrl_flush_rq,
    }
}

/// The 48 bytes of the `zcrx_ctrl` union, as native-endian 32-bit words.
const fn union_words(payload: &zcrx_ctrl_flush_rq) -> [u32; 12] {
    let mut words = [0u32; 12];
    let mut i = 0;
    while i < 6 {
        let bytes = payload.__resv[i].to_ne_bytes();
        words[2 * i] = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        words[2 * i + 1] = u32::from_ne_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        i += 1;
    }
    words
}

/// The inverse of [`union_words`].
const fn union_from_words(words: [u32; 12]) -> zcrx_ctrl_flush_rq {
    let mut payload = zcrx_ctrl_flush_rq { __resv: [0; 6] };
    let mut i = 0;
    while i < 6 {
        let lo = words[2 * i].to_ne_bytes();
        let hi = words[2 * i + 1].to_ne_bytes();
        payload.__resv[i] =
            u64::from_ne_bytes([lo[0], lo[1], lo[2], lo[3], hi[0], hi[1], hi[2], hi[3]]);
        i += 1;
    }
    payload
}

impl zcrx_ctrl {
    /// A `ZCRX_CTRL_FLUSH_RQ` request: consume the refill ring now.
    pub const fn flush_rq(zcrx_id: u32) -> Self {
        Self {
            zcrx_id,
            op: ZCRX_CTRL_FLUSH_RQ,
            __resv: [0; 2],
            zc_flush: zcrx_ctrl_flush_rq { __resv: [0; 6] },
        }
    }

    /// A `ZCRX_CTRL_EXPORT` request; the kernel writes the fd into
    /// [`zc_export`](Self::zc_export).
    pub const fn export(zcrx_id: u32) -> Self {
        Self {
            op: ZCRX_CTRL_EXPORT,
            ..Self::flush_rq(zcrx_id)
        }
    }

    /// A `ZCRX_CTRL_ARM_EVENT` request for one `ZCRX_EVENT_*` type.
    pub const fn arm_event(zcrx_id: u32, event_type: u32) -> Self {
        let mut ctrl = Self {
            op: ZCRX_CTRL_ARM_EVENT,
            ..Self::flush_rq(zcrx_id)
        };
        ctrl.set_zc_arm_event(zcrx_ctrl_arm_event {
            event_type,
            __resv: [0; 11],
        });
        ctrl
    }

    /// A `ZCRX_CTRL_ADD_AREA` request for the area described at `area_ptr`
    /// (a pointer to an [`io_uring_zcrx_area_reg`]).
    pub const fn add_area(zcrx_id: u32, area_ptr: u64) -> Self {
        let mut ctrl = Self {
            op: ZCRX_CTRL_ADD_AREA,
            ..Self::flush_rq(zcrx_id)
        };
        ctrl.set_zc_area(zcrx_ctrl_add_area {
            area_ptr,
            __resv: [0; 5],
        });
        ctrl
    }

    /// The union read as the header's `zc_export` member.
    pub const fn zc_export(&self) -> zcrx_ctrl_export {
        let w = union_words(&self.zc_flush);
        zcrx_ctrl_export {
            zcrx_fd: w[0],
            __resv1: [
                w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8], w[9], w[10], w[11],
            ],
        }
    }

    /// Writes the union as the header's `zc_export` member.
    pub const fn set_zc_export(&mut self, v: zcrx_ctrl_export) {
        let r = v.__resv1;
        self.zc_flush = union_from_words([
            v.zcrx_fd, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
        ]);
    }

    /// The union read as the header's `zc_arm_event` member.
    pub const fn zc_arm_event(&self) -> zcrx_ctrl_arm_event {
        let w = union_words(&self.zc_flush);
        zcrx_ctrl_arm_event {
            event_type: w[0],
            __resv: [
                w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8], w[9], w[10], w[11],
            ],
        }
    }

    /// Writes the union as the header's `zc_arm_event` member.
    pub const fn set_zc_arm_event(&mut self, v: zcrx_ctrl_arm_event) {
        let r = v.__resv;
        self.zc_flush = union_from_words([
            v.event_type,
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            r[7],
            r[8],
            r[9],
            r[10],
        ]);
    }

    /// The union read as the header's `zc_area` member.
    pub const fn zc_area(&self) -> zcrx_ctrl_add_area {
        let r = self.zc_flush.__resv;
        zcrx_ctrl_add_area {
            area_ptr: r[0],
            __resv: [r[1], r[2], r[3], r[4], r[5]],
        }
    }

    /// Writes the union as the header's `zc_area` member.
    pub const fn set_zc_area(&mut self, v: zcrx_ctrl_add_area) {
        let r = v.__resv;
        self.zc_flush = zcrx_ctrl_flush_rq {
            __resv: [v.area_ptr, r[0], r[1], r[2], r[3], r[4]],
        };
    }
}

uapi_consts! {
    /// The bit from which the area id is encoded into offsets.
    #[abi(header = Zcrx, kind = Define, since = (6, 15))]
    pub const IORING_ZCRX_AREA_SHIFT: u64 = 48;
    /// The area-id bits of an offset: `!((1 << IORING_ZCRX_AREA_SHIFT) - 1)`.
    #[abi(header = Zcrx, kind = Define, since = (6, 15))]
    pub const IORING_ZCRX_AREA_MASK: u64 = !((1u64 << IORING_ZCRX_AREA_SHIFT) - 1);

    /// The area is a dmabuf (`io_uring_zcrx_area_reg::dmabuf_fd`).
    #[abi(header = Zcrx, kind = Enumerator, since = (6, 16))]
    pub const IORING_ZCRX_AREA_DMABUF: u32 = 1;

    /// Import an instance exported by another ring (`if_idx` is the fd).
    #[abi(header = Zcrx, kind = Enumerator, since = (6, 19))]
    pub const ZCRX_REG_IMPORT: u32 = 1;
    /// No network device: the kernel copies all data into the area, and the
    /// refill ring is consumed only on `ZCRX_CTRL_FLUSH_RQ`.
    #[abi(header = Zcrx, kind = Enumerator, since = (7, 1))]
    pub const ZCRX_REG_NODEV: u32 = 2;

    /// `rx_buf_len` may ask for a buffer size other than the page size.
    #[abi(header = Zcrx, kind = Enumerator, since = (7, 0))]
    pub const ZCRX_FEATURE_RX_PAGE_SIZE: u32 = 1 << 0;
    /// Events (notifications) and statistics (`zcrx_event_desc`).
    #[abi(header = Zcrx, kind = Enumerator, since = (7, 2))]
    pub const ZCRX_FEATURE_EVENT: u32 = 1 << 1;

    /// Event type: buffer allocation failed (the proposal's "no buffers").
    /// Posted only on the NIC page-pool path.
    #[abi(header = Zcrx, kind = Enumerator, since = (7, 2))]
    pub const ZCRX_EVENT_ALLOC_FAIL: u32 = 0;
    /// Event type: payload was copied instead of received in place (the
    /// proposal's "copy fallback").
    #[abi(header = Zcrx, kind = Enumerator, since = (7, 2))]
    pub const ZCRX_EVENT_COPY: u32 = 1;

    /// `stats_offset` holds a valid offset to a [`zcrx_stats`].
    #[abi(header = Zcrx, kind = Enumerator, since = (7, 2))]
    pub const ZCRX_EVENT_DESC_FLAG_STATS: u32 = 1 << 0;

    /// Control op: consume the refill ring now (needed in `NODEV` mode).
    #[abi(header = Zcrx, kind = Enumerator, since = (6, 19))]
    pub const ZCRX_CTRL_FLUSH_RQ: u32 = 0;
    /// Control op: export the instance as an fd.
    #[abi(header = Zcrx, kind = Enumerator, since = (6, 19))]
    pub const ZCRX_CTRL_EXPORT: u32 = 1;
    /// Control op: re-arm one fired event type.
    #[abi(header = Zcrx, kind = Enumerator, since = (7, 2))]
    pub const ZCRX_CTRL_ARM_EVENT: u32 = 2;
    /// Control op: add an area.
    #[abi(header = Zcrx, kind = Enumerator, since = (7, 3))]
    pub const ZCRX_CTRL_ADD_AREA: u32 = 3;
}

bitflags::bitflags! {
    /// `ZCRX_REG_*` flags of [`io_uring_zcrx_ifq_reg::flags`] and of
    /// [`io_uring_query_zcrx::register_flags`](crate::query::io_uring_query_zcrx::register_flags).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct ZcrxRegFlags: u32 {
        /// [`ZCRX_REG_IMPORT`].
        const IMPORT = ZCRX_REG_IMPORT;
        /// [`ZCRX_REG_NODEV`].
        const NODEV = ZCRX_REG_NODEV;
        /// Bits this crate does not know yet.
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// `IORING_ZCRX_AREA_*` flags of [`io_uring_zcrx_area_reg::flags`].
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct ZcrxAreaFlags: u32 {
        /// [`IORING_ZCRX_AREA_DMABUF`].
        const DMABUF = IORING_ZCRX_AREA_DMABUF;
        /// Bits this crate does not know yet.
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// `ZCRX_FEATURE_*` bits of
    /// [`io_uring_query_zcrx::features`](crate::query::io_uring_query_zcrx::features).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct ZcrxFeatures: u32 {
        /// [`ZCRX_FEATURE_RX_PAGE_SIZE`].
        const RX_PAGE_SIZE = ZCRX_FEATURE_RX_PAGE_SIZE;
        /// [`ZCRX_FEATURE_EVENT`].
        const EVENT = ZCRX_FEATURE_EVENT;
        /// Bits this crate does not know yet.
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// `ZCRX_EVENT_DESC_FLAG_*` flags of [`zcrx_event_desc::flags`].
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct ZcrxEventDescFlags: u32 {
        /// [`ZCRX_EVENT_DESC_FLAG_STATS`].
        const STATS = ZCRX_EVENT_DESC_FLAG_STATS;
        /// Bits this crate does not know yet.
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// A set of event types, as [`zcrx_event_desc::type_mask`] and
    /// [`io_uring_query_zcrx_event::event_flags`](crate::query::io_uring_query_zcrx_event::event_flags)
    /// carry it: bit `1 << ZCRX_EVENT_*` per type.
    ///
    /// These bits equal the proposal's `ZCRX_NOTIF_*` values; the event
    /// completion's `res` and the `ZCRX_CTRL_ARM_EVENT` argument carry the
    /// *index* instead (see [`ZcrxEventMask::from_event_type`]).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct ZcrxEventMask: u32 {
        /// `1 << ZCRX_EVENT_ALLOC_FAIL`.
        const ALLOC_FAIL = 1 << ZCRX_EVENT_ALLOC_FAIL;
        /// `1 << ZCRX_EVENT_COPY`.
        const COPY = 1 << ZCRX_EVENT_COPY;
        /// Bits this crate does not know yet.
        const _ = !0;
    }
}

impl ZcrxEventMask {
    /// The mask bit of one `ZCRX_EVENT_*` index, or `None` if the index does
    /// not fit in 32 bits.
    pub const fn from_event_type(event_type: u32) -> Option<Self> {
        match 1u32.checked_shl(event_type) {
            Some(bit) => Some(Self::from_bits_retain(bit)),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctrl_constructors_fill_op_and_union() {
        let f = zcrx_ctrl::flush_rq(3);
        assert_eq!((f.zcrx_id, f.op), (3, ZCRX_CTRL_FLUSH_RQ));
        assert_eq!(f.zc_flush, zcrx_ctrl_flush_rq::default());

        let e = zcrx_ctrl::export(4);
        assert_eq!(e.op, ZCRX_CTRL_EXPORT);
        assert_eq!(e.zc_export().zcrx_fd, 0);

        let a = zcrx_ctrl::arm_event(5, ZCRX_EVENT_COPY);
        assert_eq!(a.op, ZCRX_CTRL_ARM_EVENT);
        assert_eq!(a.zc_arm_event().event_type, ZCRX_EVENT_COPY);
        assert_eq!(a.zc_arm_event().__resv, [0; 11]);

        let d = zcrx_ctrl::add_area(6, 0xdead_beef_0000);
        assert_eq!(d.op, ZCRX_CTRL_ADD_AREA);
        assert_eq!(d.zc_area().area_ptr, 0xdead_beef_0000);
    }

    #[test]
    fn union_members_share_the_same_bytes() {
        let mut c = zcrx_ctrl::export(1);
        // The kernel writes the fd as the first u32 of the union.
        let mut words = c.zc_flush.__resv;
        words[0] = u64::from_ne_bytes({
            let mut b = [0u8; 8];
            b[..4].copy_from_slice(&42u32.to_ne_bytes());
            b
        });
        c.zc_flush.__resv = words;
        assert_eq!(c.zc_export().zcrx_fd, 42);
        // Writing one member and reading another sees the same bytes.
        let mut v = zcrx_ctrl_export {
            zcrx_fd: 7,
            __resv1: [0; 11],
        };
        v.__resv1[10] = 0xabcd;
        c.set_zc_export(v);
        assert_eq!(c.zc_export(), v);
        assert_eq!(c.zc_arm_event().event_type, 7);
        assert_eq!(c.zc_arm_event().__resv[10], 0xabcd);
    }

    #[test]
    fn event_masks_are_one_bit_per_index() {
        assert_eq!(
            ZcrxEventMask::from_event_type(ZCRX_EVENT_ALLOC_FAIL),
            Some(ZcrxEventMask::ALLOC_FAIL)
        );
        assert_eq!(
            ZcrxEventMask::from_event_type(ZCRX_EVENT_COPY),
            Some(ZcrxEventMask::COPY)
        );
        assert_eq!(ZcrxEventMask::from_event_type(32), None);
        // Unknown bits from newer kernels are kept.
        let m = ZcrxEventMask::from_bits_retain(0b1000_0011);
        assert_eq!(m.bits(), 0b1000_0011);
        assert!(m.contains(ZcrxEventMask::COPY));
    }

    #[test]
    fn area_mask_and_shift_agree() {
        assert_eq!(IORING_ZCRX_AREA_MASK, 0xffff_0000_0000_0000);
        assert_eq!(
            1u64 << IORING_ZCRX_AREA_SHIFT,
            IORING_ZCRX_AREA_MASK & !(IORING_ZCRX_AREA_MASK << 1)
        );
    }
}
