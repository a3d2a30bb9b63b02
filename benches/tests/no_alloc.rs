//! The receive-and-return hot path allocates nothing: completion → checked
//! view → data read → drop (queued on the refill ring) → publish, and the
//! cross-thread return of a `SharedBuf` dropped on another thread, counted
//! by a global allocator over many cycles on an instance adopted over fake
//! memory (`Zcrx::from_raw_parts`).
//!
//! It also checks that nothing was lost: every view came back through the
//! refill ring, which the model kernel consumed.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

use benches::{COMPLETE_BATCH, FakeZcrx, NCQES, fake_cqes, ffi};
use zcrx_ring::SharedBuf;

/// The count is process-wide: the tests take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[global_allocator]
static GLOBAL: zcrx_testkit::CountingAlloc = zcrx_testkit::CountingAlloc;

/// A one-slot hand-off between two threads that allocates nothing.
struct Slot {
    full: AtomicBool,
    done: AtomicBool,
    buf: UnsafeCell<Option<SharedBuf>>,
}

// SAFETY: `buf` is written only by the sender while `full` is false and
// taken only by the receiver while it is true; `full` orders the two
// (release on each side, acquire on the other).
unsafe impl Sync for Slot {}

impl Slot {
    fn send(&self, buf: SharedBuf) {
        while self.full.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
        // SAFETY: the slot is empty and the receiver does not touch it
        // until `full` is set.
        unsafe { *self.buf.get() = Some(buf) };
        self.full.store(true, Ordering::Release);
    }

    /// Waits until the receiver has taken (and dropped) the last buffer.
    fn drain(&self) {
        while self.full.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
    }

    /// The other thread: drops every buffer it receives.
    fn serve(&self) {
        loop {
            if self.full.load(Ordering::Acquire) {
                // SAFETY: `full` is set, so the sender is done with the
                // slot until we clear it.
                let buf = unsafe { (*self.buf.get()).take() };
                drop(buf); // the cross-thread return
                self.full.store(false, Ordering::Release);
            } else if self.done.load(Ordering::Acquire) {
                return;
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

const CYCLES: u64 = 200_000;
const SHARED_EVERY: u64 = 16;

#[test]
fn receive_and_return_allocates_nothing() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cqes = fake_cqes();
    let mut fake = FakeZcrx::new().expect("fake instance");
    let slot = Slot {
        full: AtomicBool::new(false),
        done: AtomicBool::new(false),
        buf: UnsafeCell::new(None),
    };

    std::thread::scope(|s| {
        s.spawn(|| slot.serve());

        let mut sum = 0u64;
        let mut cycle = |i: u64, fake: &mut FakeZcrx| {
            let c = &cqes[(i as usize) % NCQES];
            // SAFETY: (test) the fake completions name chunks of the fake
            // instance's area, each viewed once before it comes round again.
            let buf =
                unsafe { fake.zcrx.buf_from_completion(c.res, c.off) }.expect("a valid completion");
            sum += u64::from(buf[0]) + u64::from(buf[buf.len() - 1]);
            if i % SHARED_EVERY == 0 {
                slot.send(buf.into_shared());
            } else {
                drop(buf);
            }
            if i % u64::from(COMPLETE_BATCH) == u64::from(COMPLETE_BATCH) - 1 {
                slot.drain();
                fake.zcrx.publish();
                // SAFETY: the kernel model describes the instance's own
                // refill ring, alive with it.
                unsafe { ffi::bench_consume_once(&mut fake.kernel) };
            }
        };

        // Warm up (first uses of anything lazily set up), then count.
        for i in 0..1024 {
            cycle(i, &mut fake);
        }
        let before = zcrx_testkit::allocations();
        for i in 1024..1024 + CYCLES {
            cycle(i, &mut fake);
        }
        let after = zcrx_testkit::allocations();

        slot.drain();
        slot.done.store(true, Ordering::Release);
        assert_eq!(
            after - before,
            0,
            "{} allocations in {CYCLES} receive-and-return cycles",
            after - before
        );
        assert!(sum > 0);
    });

    // Everything came back: nothing held, every return consumed.
    fake.zcrx.publish();
    // SAFETY: as above.
    unsafe { ffi::bench_consume_once(&mut fake.kernel) };
    assert_eq!(fake.zcrx.held(), 0);
    assert_eq!(fake.kernel.consumed, 1024 + CYCLES);
}

#[test]
fn the_batch_view_path_allocates_nothing() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cqes = fake_cqes();
    let mut fake = FakeZcrx::new().expect("fake instance");
    let mut sum = 0u64;
    let mut round = |start: u64, fake: &mut FakeZcrx| {
        let batch = (0..COMPLETE_BATCH as usize).map(|k| {
            let c = &cqes[(start as usize + k) % NCQES];
            (c.res, c.off)
        });
        // SAFETY: (test) the fake completions name chunks of the fake
        // instance's area, each viewed once before it comes round again.
        let n = unsafe {
            fake.zcrx
                .for_each_view(batch, |data| sum += u64::from(data[0]))
        }
        .expect("valid completions");
        assert_eq!(n, COMPLETE_BATCH);
        // SAFETY: the kernel model describes the instance's own refill
        // ring, alive with it.
        unsafe { ffi::bench_consume_once(&mut fake.kernel) };
    };
    for r in 0..64 {
        round(r * u64::from(COMPLETE_BATCH), &mut fake);
    }
    let before = zcrx_testkit::allocations();
    for r in 64..64 + CYCLES / u64::from(COMPLETE_BATCH) {
        round(r * u64::from(COMPLETE_BATCH), &mut fake);
    }
    let after = zcrx_testkit::allocations();
    assert_eq!(after - before, 0, "the batch view path allocated");
    assert!(sum > 0);
    assert_eq!(fake.zcrx.held(), 0);
}
