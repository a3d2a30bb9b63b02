//! A `#![no_std]` user of `zcrx-uapi` built without default features.
#![no_std]

use zcrx_uapi::{IORING_ZCRX_AREA_SHIFT, ZcrxRegFlags, io_uring_zcrx_rqe};

/// Builds a refill entry for a chunk of area `area_id` (no std, no alloc).
pub const fn refill_entry(area_id: u16, offset: u64, len: u32) -> io_uring_zcrx_rqe {
    io_uring_zcrx_rqe {
        off: ((area_id as u64) << IORING_ZCRX_AREA_SHIFT) | offset,
        len,
        __pad: 0,
    }
}

/// Whether registration flags ask for NODEV mode.
pub const fn is_nodev(flags: u32) -> bool {
    ZcrxRegFlags::from_bits_retain(flags).contains(ZcrxRegFlags::NODEV)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_encodes_area_in_high_bits() {
        let e = refill_entry(2, 0x3000, 100);
        assert_eq!(e.off, (2 << 48) | 0x3000);
        assert!(is_nodev(zcrx_uapi::ZCRX_REG_NODEV));
        assert!(!is_nodev(zcrx_uapi::ZCRX_REG_IMPORT));
    }
}
