//! The producer against plain memory standing in for the kernel's mapping
//! (runs under Miri).

use super::*;
use alloc::vec::Vec;

/// Plain memory standing in for the kernel's mapping; `consume` plays
/// the kernel. Runs under Miri.
struct FakeRing {
    head: AtomicU32,
    tail: AtomicU32,
    rqes: Vec<Cell<io_uring_zcrx_rqe>>,
}

impl FakeRing {
    fn new(entries: u32) -> Self {
        Self {
            head: AtomicU32::new(0),
            tail: AtomicU32::new(0),
            rqes: (0..entries)
                .map(|_| Cell::new(Default::default()))
                .collect(),
        }
    }

    /// Consumes up to `max` published entries, like the kernel.
    fn consume(&self, max: u32, out: &mut Vec<u64>) {
        let tail = self.tail.load(Ordering::Acquire);
        let mut head = self.head.load(Ordering::Relaxed);
        let mask = self.rqes.len() as u32 - 1;
        let mut n = 0;
        while head != tail && n < max {
            out.push(self.rqes[(head & mask) as usize].get().off);
            head = head.wrapping_add(1);
            n += 1;
        }
        self.head.store(head, Ordering::Release);
    }
}

impl RefillMemory for &FakeRing {
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
        self.rqes[index as usize].set(rqe);
    }
}

fn rqe(off: u64) -> io_uring_zcrx_rqe {
    io_uring_zcrx_rqe {
        off,
        len: 1,
        __pad: 0,
    }
}

#[test]
fn entries_are_invisible_until_published() {
    let ring = FakeRing::new(4);
    let p = Producer::new(&ring);
    p.push(rqe(1)).unwrap();
    p.push(rqe(2)).unwrap();
    assert_eq!(ring.tail.load(Ordering::Relaxed), 0);
    assert_eq!(p.unpublished(), 2);
    p.publish();
    assert_eq!(ring.tail.load(Ordering::Relaxed), 2);
    assert_eq!(p.unpublished(), 0);
}

#[test]
fn full_ring_refuses_then_accepts_after_consumption() {
    let ring = FakeRing::new(4);
    let p = Producer::new(&ring);
    for i in 0..4 {
        p.push(rqe(i)).unwrap();
    }
    assert_eq!(p.push(rqe(9)).unwrap_err().off, 9);
    p.publish();
    let mut seen = Vec::new();
    ring.consume(3, &mut seen);
    assert_eq!(seen, [0, 1, 2]);
    assert_eq!(p.free(), 3);
    p.push(rqe(4)).unwrap();
    assert_eq!(p.unconsumed(), 1);
}

#[test]
fn wraps_many_times_without_loss_or_duplicates() {
    let ring = FakeRing::new(8);
    let p = Producer::new(&ring);
    let mut seen = Vec::new();
    let mut next = 0u64;
    // Start near u32::MAX laps to exercise index wrap as well.
    for round in 0..200u32 {
        let batch = round % 9;
        for _ in 0..batch {
            match p.push(rqe(next)) {
                Ok(()) => next += 1,
                Err(_) => break,
            }
        }
        p.publish();
        ring.consume(round % 5 + 1, &mut seen);
    }
    p.publish();
    ring.consume(u32::MAX, &mut seen);
    let expect: Vec<u64> = (0..next).collect();
    assert_eq!(seen, expect);
}

#[test]
fn push_with_fills_what_fits_and_wraps() {
    let ring = FakeRing::new(8);
    let p = Producer::new(&ring);
    let mut seen = Vec::new();
    let mut next = 0u64;
    let mut calls = 0u32;
    for round in 0..100u32 {
        let want = round % 11;
        let got = p.push_with(want, |i| {
            calls += 1;
            rqe(next + u64::from(i))
        });
        assert!(got <= want);
        assert_eq!(calls, got, "make is called only for entries written");
        calls = 0;
        next += u64::from(got);
        p.publish();
        ring.consume(round % 7 + 1, &mut seen);
    }
    p.publish();
    ring.consume(u32::MAX, &mut seen);
    assert_eq!(seen, (0..next).collect::<Vec<_>>());
}

#[test]
fn push_with_on_a_full_ring_writes_nothing() {
    let ring = FakeRing::new(4);
    let p = Producer::new(&ring);
    assert_eq!(p.push_with(10, rqe_from_index), 4);
    assert_eq!(p.push_with(1, |_| unreachable!("no room")), 0);
    p.publish();
    let mut seen = Vec::new();
    ring.consume(2, &mut seen);
    assert_eq!(p.push_with(10, rqe_from_index), 2);
}

fn rqe_from_index(i: u32) -> io_uring_zcrx_rqe {
    rqe(u64::from(i))
}

#[test]
fn resume_continues_from_the_shared_tail() {
    let ring = FakeRing::new(4);
    ring.tail.store(7, Ordering::Relaxed);
    ring.head.store(6, Ordering::Relaxed);
    let p = Producer::resume(&ring);
    assert_eq!(p.free(), 3);
    p.push(rqe(1)).unwrap();
    p.publish();
    assert_eq!(ring.tail.load(Ordering::Relaxed), 8);
}

#[test]
fn bogus_head_is_ignored() {
    let ring = FakeRing::new(4);
    let p = Producer::new(&ring);
    for i in 0..4 {
        p.push(rqe(i)).unwrap();
    }
    p.publish();
    // A head beyond the tail: must not be trusted.
    ring.head.store(100, Ordering::Release);
    assert!(p.push(rqe(5)).is_err());
    assert_eq!(p.free(), 0);
}

#[test]
fn indices_wrap_at_u32_max() {
    let ring = FakeRing::new(4);
    let p = Producer::new(&ring);
    let start = u32::MAX - 1;
    p.local_tail.set(start);
    p.published.set(start);
    p.set_cached_head(start);
    ring.head.store(start, Ordering::Relaxed);
    ring.tail.store(start, Ordering::Relaxed);
    let mut seen = Vec::new();
    for i in 0..20 {
        p.push(rqe(i)).unwrap();
        p.publish();
        ring.consume(1, &mut seen);
    }
    assert_eq!(seen, (0..20).collect::<Vec<_>>());
}
