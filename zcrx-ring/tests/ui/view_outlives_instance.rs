// A view cannot outlive the instance whose area it points into.
fn escape(zcrx: zcrx_ring::Zcrx, recv: impl Fn(&zcrx_ring::Zcrx) -> zcrx_ring::Buf<'_>) {
    let buf = recv(&zcrx);
    drop(zcrx);
    let _ = buf.len();
}

fn main() {}
