//! Zero-copy conversions between `zcrx-uapi`'s kernel structs and the
//! `io-uring` crate's structs of the same kernel name.
//!
//! Both crates transcribe the same uapi structs: `zcrx-uapi` up to Linux
//! 7.3 (with names for `rx_buf_len` and `event_desc`), the `io-uring` crate
//! up to 6.15 (where those words are still `__resv2` and `__resv`). The
//! layouts are identical: same size, same alignment, fields at the same
//! offsets, every field a plain integer (any bit pattern is a valid value of
//! either), no padding. Size and alignment are asserted at compile time;
//! the offset of every field is checked by this module's tests.

use ::io_uring::{Parameters, types};
use zcrx_uapi::{
    io_uring_params, io_uring_region_desc, io_uring_zcrx_area_reg, io_uring_zcrx_cqe,
    io_uring_zcrx_ifq_reg, io_uring_zcrx_rqe,
};

mod sealed {
    pub trait Sealed {}
}

/// A `zcrx-uapi` struct laid out exactly as an `io-uring` crate type that
/// describes the same kernel struct; the conversions reinterpret the memory
/// (no copy).
///
/// Implemented for `io_uring_params` (the crate's [`Parameters`], a
/// transparent wrapper of it), `io_uring_zcrx_ifq_reg`,
/// `io_uring_zcrx_area_reg`, `io_uring_region_desc`, `io_uring_zcrx_rqe` and
/// `io_uring_zcrx_cqe` (the crate's `types::*` of the same names).
///
/// ```
/// use zcrx_ring::io_uring::SameLayout;
/// use zcrx_uapi::io_uring_zcrx_ifq_reg;
///
/// let mut reg = io_uring_zcrx_ifq_reg { rx_buf_len: 1 << 16, ..Default::default() };
/// // The io-uring crate (6.15 ABI) calls that word `__resv2`.
/// assert_eq!(reg.as_io_uring().__resv2, 1 << 16);
/// reg.as_io_uring_mut().zcrx_id = 3;
/// assert_eq!(reg.zcrx_id, 3);
/// ```
pub trait SameLayout: sealed::Sealed + Sized {
    /// The `io-uring` crate's type.
    type IoUring;

    /// A view of `self` as the `io-uring` crate's type.
    fn as_io_uring(&self) -> &Self::IoUring;
    /// A mutable view of `self` as the `io-uring` crate's type.
    fn as_io_uring_mut(&mut self) -> &mut Self::IoUring;
    /// A view of the `io-uring` crate's value as this type.
    fn from_io_uring(value: &Self::IoUring) -> &Self;
    /// A mutable view of the `io-uring` crate's value as this type.
    fn from_io_uring_mut(value: &mut Self::IoUring) -> &mut Self;
    /// `self`, moved into the `io-uring` crate's type.
    fn into_io_uring(self) -> Self::IoUring;
    /// The `io-uring` crate's value, moved into this type.
    fn from_io_uring_value(value: Self::IoUring) -> Self;
}

macro_rules! same_layout {
    ($($ours:ty => $theirs:ty;)*) => {$(
        const _: () = assert!(
            size_of::<$ours>() == size_of::<$theirs>()
                && align_of::<$ours>() == align_of::<$theirs>()
        );

        impl sealed::Sealed for $ours {}

        impl SameLayout for $ours {
            type IoUring = $theirs;

            #[inline]
            fn as_io_uring(&self) -> &$theirs {
                // SAFETY: same size and alignment (asserted above), fields
                // at the same offsets (this module's tests), all plain
                // integers without padding: every byte of `self` is
                // initialized and is a valid byte of `$theirs`.
                unsafe { &*core::ptr::from_ref(self).cast::<$theirs>() }
            }

            #[inline]
            fn as_io_uring_mut(&mut self) -> &mut $theirs {
                // SAFETY: as in `as_io_uring`; whatever is written through
                // the view is a valid value of `$ours` too.
                unsafe { &mut *core::ptr::from_mut(self).cast::<$theirs>() }
            }

            #[inline]
            fn from_io_uring(value: &$theirs) -> &$ours {
                // SAFETY: as in `as_io_uring`, the other way round.
                unsafe { &*core::ptr::from_ref(value).cast::<$ours>() }
            }

            #[inline]
            fn from_io_uring_mut(value: &mut $theirs) -> &mut $ours {
                // SAFETY: as in `as_io_uring_mut`, the other way round.
                unsafe { &mut *core::ptr::from_mut(value).cast::<$ours>() }
            }

            #[inline]
            fn into_io_uring(self) -> $theirs {
                // SAFETY: as in `as_io_uring`; the sizes are equal.
                unsafe { core::mem::transmute::<$ours, $theirs>(self) }
            }

            #[inline]
            fn from_io_uring_value(value: $theirs) -> $ours {
                // SAFETY: as in `as_io_uring`, the other way round.
                unsafe { core::mem::transmute::<$theirs, $ours>(value) }
            }
        }
    )*};
}

same_layout! {
    // `Parameters` is documented as `#[repr(transparent)]` over the
    // kernel's `io_uring_params`.
    io_uring_params => Parameters;
    io_uring_zcrx_ifq_reg => types::io_uring_zcrx_ifq_reg;
    io_uring_zcrx_area_reg => types::io_uring_zcrx_area_reg;
    io_uring_region_desc => types::io_uring_region_desc;
    io_uring_zcrx_rqe => types::io_uring_zcrx_rqe;
    io_uring_zcrx_cqe => types::io_uring_zcrx_cqe;
}

#[cfg(test)]
mod tests {
    use core::mem::offset_of;

    use super::*;

    /// `offset_of!` the same field (or the field under its other name) in
    /// both types, and the same field size.
    macro_rules! same_fields {
        ($ours:ty, $theirs:ty: $($a:ident $(. $an:ident)* = $b:ident $(. $bn:ident)*),* $(,)?) => {
            same_fields!($ours, $theirs: $($a $(. $an)* = $b $(. $bn)*),*; checked elsewhere 0)
        };
        ($ours:ty, $theirs:ty: $($a:ident $(. $an:ident)* = $b:ident $(. $bn:ident)*),*;
         checked elsewhere $extra:expr) => {{
            let mut covered: usize = $extra;
            $(
                assert_eq!(
                    offset_of!($ours, $a $(. $an)*),
                    offset_of!($theirs, $b $(. $bn)*),
                    "{}.{}", stringify!($ours), stringify!($a $(. $an)*)
                );
                let ours = <$ours>::default();
                let theirs = <$theirs>::default();
                assert_eq!(
                    size_of_val(&ours.$a $(. $an)*),
                    size_of_val(&theirs.$b $(. $bn)*),
                    "{}.{}", stringify!($ours), stringify!($a $(. $an)*)
                );
                covered += size_of_val(&ours.$a $(. $an)*);
            )*
            // Every byte is some field's: no padding, nothing left out.
            assert_eq!(covered, size_of::<$ours>(), "{}", stringify!($ours));
        }};
    }

    #[test]
    fn zcrx_structs_have_the_same_fields_at_the_same_offsets() {
        same_fields!(io_uring_zcrx_rqe, types::io_uring_zcrx_rqe:
            off = off, len = len, __pad = __pad);
        same_fields!(io_uring_zcrx_cqe, types::io_uring_zcrx_cqe: off = off, __pad = __pad);
        same_fields!(io_uring_zcrx_area_reg, types::io_uring_zcrx_area_reg:
            addr = addr, len = len, rq_area_token = rq_area_token, flags = flags,
            dmabuf_fd = dmabuf_fd, __resv2 = __resv2);
        same_fields!(io_uring_region_desc, types::io_uring_region_desc:
            user_addr = user_addr, size = size, flags = flags, id = id,
            mmap_offset = mmap_offset, __resv = __resv);
        // 7.0 named `__resv2` `rx_buf_len`; 7.2 named the first `__resv`
        // word `event_desc`.
        same_fields!(io_uring_zcrx_ifq_reg, types::io_uring_zcrx_ifq_reg:
            if_idx = if_idx, if_rxq = if_rxq, rq_entries = rq_entries, flags = flags,
            area_ptr = area_ptr, region_ptr = region_ptr,
            offsets.head = offsets.head, offsets.tail = offsets.tail,
            offsets.rqes = offsets.rqes, offsets.__resv2 = offsets.__resv2,
            offsets.__resv = offsets.__resv,
            zcrx_id = zcrx_id, rx_buf_len = __resv2;
            checked elsewhere 24);
        // The last 24 bytes: theirs `__resv: [u64; 3]`, ours `event_desc`
        // and `__resv: [u64; 2]`.
        assert_eq!(
            offset_of!(io_uring_zcrx_ifq_reg, event_desc),
            offset_of!(types::io_uring_zcrx_ifq_reg, __resv)
        );
        assert_eq!(
            offset_of!(io_uring_zcrx_ifq_reg, __resv),
            offset_of!(types::io_uring_zcrx_ifq_reg, __resv) + 8
        );
        assert_eq!(
            size_of::<u64>() + size_of::<[u64; 2]>(),
            size_of_val(&types::io_uring_zcrx_ifq_reg::default().__resv)
        );
    }

    #[test]
    fn values_read_back_through_either_type() {
        let mut reg = io_uring_zcrx_ifq_reg {
            if_idx: 1,
            if_rxq: 2,
            rq_entries: 3,
            flags: 4,
            area_ptr: 5,
            region_ptr: 6,
            zcrx_id: 7,
            rx_buf_len: 8,
            event_desc: 9,
            ..Default::default()
        };
        reg.offsets.rqes = 10;
        let t = reg.as_io_uring();
        assert_eq!(
            (
                t.if_idx,
                t.if_rxq,
                t.rq_entries,
                t.flags,
                t.area_ptr,
                t.region_ptr
            ),
            (1, 2, 3, 4, 5, 6)
        );
        assert_eq!(
            (t.offsets.rqes, t.zcrx_id, t.__resv2, t.__resv[0]),
            (10, 7, 8, 9)
        );
        let mut theirs = reg.into_io_uring();
        theirs.__resv[1] = 11;
        let back = io_uring_zcrx_ifq_reg::from_io_uring_mut(&mut theirs);
        back.zcrx_id = 12;
        assert_eq!((back.__resv[0], theirs.zcrx_id), (11, 12));

        let rqe = io_uring_zcrx_rqe {
            off: 1 << 32 | 4096,
            len: 4096,
            __pad: 0,
        };
        let t = rqe.into_io_uring();
        assert_eq!((t.off, t.len), (1 << 32 | 4096, 4096));
        assert_eq!(io_uring_zcrx_rqe::from_io_uring_value(t), rqe);
    }

    #[test]
    fn parameters_read_our_params() {
        // `Parameters` has no public fields: read ours through its
        // accessors, each at its offset.
        let p = io_uring_params {
            sq_entries: 64,
            cq_entries: 128,
            flags: zcrx_uapi::IORING_SETUP_SINGLE_ISSUER | zcrx_uapi::IORING_SETUP_SQPOLL,
            sq_thread_idle: 77,
            features: zcrx_uapi::IORING_FEAT_NODROP | zcrx_uapi::IORING_FEAT_EXT_ARG,
            ..Default::default()
        };
        let q = p.as_io_uring();
        assert_eq!(
            (q.sq_entries(), q.cq_entries(), q.sq_thread_idle()),
            (64, 128, 77)
        );
        assert!(q.is_setup_single_issuer() && q.is_setup_sqpoll() && !q.is_setup_iopoll());
        assert!(q.is_feature_nodrop() && q.is_feature_ext_arg() && !q.is_feature_fast_poll());
        let back = io_uring_params::from_io_uring(q);
        assert_eq!(back, &p);
    }

    #[test]
    fn a_real_rings_parameters() {
        // Where io_uring is available (the host may forbid it), the kernel's
        // answer reads the same through both types.
        let Ok(ring) = crate::io_uring::builder::<::io_uring::squeue::Entry>().build(8) else {
            return;
        };
        let p = crate::io_uring::params(&ring);
        assert_eq!(p.sq_entries, ring.params().sq_entries());
        assert_eq!(p.cq_entries, ring.params().cq_entries());
        assert_eq!(
            p.flags & zcrx_uapi::IORING_SETUP_CQE32,
            zcrx_uapi::IORING_SETUP_CQE32
        );
        crate::io_uring::check_ring(&ring).unwrap();
    }
}
