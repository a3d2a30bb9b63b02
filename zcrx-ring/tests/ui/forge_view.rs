// A view the kernel did not hand out: `buf_from_completion` trusts its
// caller, so safe code cannot call it.
fn forge(zcrx: &zcrx_ring::Zcrx) -> usize {
    zcrx.buf_from_completion(4096, 0).map_or(0, |b| b.len())
}

fn main() {}
