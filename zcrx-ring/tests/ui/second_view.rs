// A second view of one buffer: views cannot be cloned or copied.
fn twice(buf: zcrx_ring::Buf<'_>) -> (zcrx_ring::Buf<'_>, zcrx_ring::Buf<'_>) {
    (buf.clone(), buf)
}

fn main() {}
