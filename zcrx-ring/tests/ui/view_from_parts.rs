// A view cannot be put together from a pointer and a length.
fn make(zcrx: &zcrx_ring::Zcrx, p: core::ptr::NonNull<u8>) -> zcrx_ring::Buf<'_> {
    unsafe { zcrx_ring::Buf::new(zcrx, p, 4096, 0) }
}

fn main() {}
