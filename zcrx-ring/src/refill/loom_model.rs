//! A loom model of the producer against a model kernel consumer.
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p zcrx-ring --release --lib refill::loom_model`.
use super::producer::{Producer, RefillMemory};
use alloc::sync::Arc;
use alloc::vec::Vec;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicU32, Ordering};
use zcrx_uapi::io_uring_zcrx_rqe;

struct ModelRing {
    head: AtomicU32,
    tail: AtomicU32,
    rqes: Vec<UnsafeCell<u64>>,
}

impl RefillMemory for Arc<ModelRing> {
    fn entries(&self) -> u32 {
        self.rqes.len() as u32
    }
    fn load_head(&self) -> u32 {
        self.head.load(Ordering::Acquire)
    }
    fn store_tail(&self, tail: u32) {
        self.tail.store(tail, Ordering::Release);
    }
    fn load_tail(&self) -> u32 {
        self.tail.load(Ordering::Relaxed)
    }
    unsafe fn write_entry(&self, index: u32, rqe: io_uring_zcrx_rqe) {
        // loom reports a data race if the consumer may still read it.
        self.rqes[index as usize].with_mut(|p| unsafe { *p = rqe.off });
    }
}

#[test]
fn producer_against_model_kernel() {
    loom::model(|| {
        const ENTRIES: u32 = 2;
        const TOTAL: u64 = 4;
        let ring = Arc::new(ModelRing {
            head: AtomicU32::new(0),
            tail: AtomicU32::new(0),
            rqes: (0..ENTRIES).map(|_| UnsafeCell::new(0)).collect(),
        });
        let kernel = {
            let ring = ring.clone();
            loom::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut head = 0u32;
                while (seen.len() as u64) < TOTAL {
                    let tail = ring.tail.load(Ordering::Acquire);
                    // The tail never passes head plus size.
                    assert!(tail.wrapping_sub(head) <= ENTRIES);
                    if tail == head {
                        loom::thread::yield_now();
                        continue;
                    }
                    while head != tail {
                        let v = ring.rqes[(head & (ENTRIES - 1)) as usize].with(|p| unsafe { *p });
                        seen.push(v);
                        head = head.wrapping_add(1);
                    }
                    ring.head.store(head, Ordering::Release);
                }
                seen
            })
        };
        let p = Producer::new(ring.clone());
        let mut next = 0;
        while next < TOTAL {
            match p.push(io_uring_zcrx_rqe {
                off: next,
                len: 0,
                __pad: 0,
            }) {
                Ok(()) => next += 1,
                Err(_) => {
                    p.publish();
                    loom::thread::yield_now();
                }
            }
        }
        p.publish();
        let seen = kernel.join().unwrap();
        // Nothing lost, nothing duplicated, in order.
        assert_eq!(seen, (0..TOTAL).collect::<Vec<_>>());
    });
}
