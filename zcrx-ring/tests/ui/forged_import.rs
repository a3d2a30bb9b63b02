// A receiver takes another ring's instance only through the handle that
// `Zcrx::import_into` returns; it cannot be made up with an arbitrary id.
fn forge<'z>(zcrx: &'z zcrx_ring::Zcrx, real: zcrx_ring::Imported<'z>) -> zcrx_ring::Imported<'z> {
    zcrx_ring::Imported { zcrx, id: 7, ..real }
}

fn main() {}
