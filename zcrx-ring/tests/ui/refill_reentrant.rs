// A batch on the refill queue cannot queue on the same queue from inside
// its entry closure (the batch's tail would move back over entries the
// consumer may already see).
fn nested(q: &mut zcrx_ring::refill::RefillQueue) -> u32 {
    q.push_with(4, |i| {
        let _ = q.push(zcrx_uapi::io_uring_zcrx_rqe::default());
        zcrx_uapi::io_uring_zcrx_rqe { off: u64::from(i) << 12, len: 4096, __pad: 0 }
    })
}

fn main() {}
