//! Property tests: arbitrary completion values never produce a view outside
//! its area (or across a buffer), never panic, and every view goes back to
//! the refill ring exactly once.
//!
//! A `Zcrx` is adopted over plain memory (`Zcrx::from_raw_parts`), so this
//! runs on any host; the test plays the kernel's side of the refill ring.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use proptest::prelude::*;
use zcrx_ring::{Area, RawParts, Zcrx};
use zcrx_uapi::{IORING_ZCRX_AREA_SHIFT, io_uring_zcrx_offsets, io_uring_zcrx_rqe};

const PAGE: usize = 4096;
const BUFS: usize = 8;
const ENTRIES: u32 = 64;

/// The refill region, 8-aligned: head at 0, tail at 64, entries at 128.
struct Region {
    words: Box<[u64]>,
}

impl Region {
    fn new() -> Self {
        Self {
            words: vec![0u64; PAGE / 8].into_boxed_slice(),
        }
    }
    fn ptr(&mut self) -> NonNull<u8> {
        NonNull::new(self.words.as_mut_ptr().cast()).unwrap()
    }
    fn tail(&self) -> u32 {
        let p = self.words.as_ptr().cast::<u8>().wrapping_add(64);
        // SAFETY: offset 64 is inside the region and 4-aligned.
        unsafe { &*p.cast::<AtomicU32>() }.load(Ordering::Acquire)
    }
    fn entry(&self, i: u32) -> io_uring_zcrx_rqe {
        let at = 128 + 16 * (i % ENTRIES) as usize;
        let p = self.words.as_ptr().cast::<u8>().wrapping_add(at);
        // SAFETY: inside the region and 8-aligned.
        unsafe { p.cast::<io_uring_zcrx_rqe>().read() }
    }
    fn consume_to(&self, head: u32) {
        // SAFETY: offset 0 is inside the region and 4-aligned.
        unsafe { &*self.words.as_ptr().cast::<AtomicU32>() }.store(head, Ordering::Release);
    }
}

fn adopt(region: &mut Region, areas: usize) -> Zcrx {
    let parts = parts_at(region.ptr());
    let areas = (0..areas)
        .map(|_| Area::anonymous(BUFS * PAGE).unwrap())
        .collect();
    // SAFETY: the region outlives the instance (both live in the test), the
    // test is the only other party, and nothing else uses the areas.
    unsafe { Zcrx::from_raw_parts(parts, areas) }.unwrap()
}

fn parts_at(region: NonNull<u8>) -> RawParts {
    let ring = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDONLY,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    RawParts {
        ring,
        zcrx_id: 0,
        nodev: false,
        region,
        region_len: PAGE,
        offsets: io_uring_zcrx_offsets {
            head: 0,
            tail: 64,
            rqes: 128,
            ..Default::default()
        },
        rq_entries: ENTRIES,
        rx_buf_len: PAGE as u32,
        stats_offset: None,
    }
}

#[test]
fn a_misaligned_region_is_refused() {
    let mut region = Region::new();
    let odd = NonNull::new(region.ptr().as_ptr().wrapping_add(4)).unwrap();
    let areas = vec![Area::anonymous(BUFS * PAGE).unwrap()];
    // SAFETY: as in `adopt`; the call is expected to refuse before using
    // the memory.
    let err = unsafe { Zcrx::from_raw_parts(parts_at(odd), areas) }.unwrap_err();
    assert!(
        matches!(
            err,
            zcrx_ring::Error::InvalidConfig {
                field: "region",
                ..
            }
        ),
        "{err:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_completions_are_checked(
        completions in proptest::collection::vec((any::<i32>(), prop_oneof![
            any::<u64>(),
            // Mostly plausible offsets, to reach the success path often.
            (0u64..3, 0u64..(BUFS * PAGE) as u64 + 8).prop_map(|(a, o)| (a << IORING_ZCRX_AREA_SHIFT) | o),
        ]), 1..40),
    ) {
        let mut region = Region::new();
        let zcrx = adopt(&mut region, 2);
        let mut views = 0u32;
        {
            let mut held = Vec::new();
            for (res, off) in completions {
                // SAFETY: (test) fake memory that no kernel writes: views of
                // arbitrary, even repeated, chunks only read it.
                match unsafe { zcrx.buf_from_completion(res, off) } {
                    Ok(buf) => {
                        let area_off = off & ((1 << IORING_ZCRX_AREA_SHIFT) - 1);
                        prop_assert!(res > 0);
                        prop_assert!((off >> IORING_ZCRX_AREA_SHIFT) < 2);
                        prop_assert!(area_off as usize + buf.len() <= BUFS * PAGE);
                        prop_assert!(area_off as usize % PAGE + buf.len() <= PAGE);
                        prop_assert_eq!(buf.len(), res as usize);
                        // Reading the whole view is in bounds.
                        let _sum: u64 = buf.iter().map(|&b| u64::from(b)).sum();
                        views += 1;
                        held.push(buf);
                    }
                    Err(e) => prop_assert!(matches!(e, zcrx_ring::Error::KernelValue { .. }), "{e}"),
                }
            }
            prop_assert_eq!(zcrx.held(), views);
        }
        // Every view went back exactly once, in order, with its offset.
        prop_assert_eq!(zcrx.held(), 0);
        zcrx.publish();
        let tail = region.tail();
        prop_assert_eq!(tail, views);
        region.consume_to(tail);
    }
}

#[test]
fn refill_entries_carry_the_completion_offsets() {
    let mut region = Region::new();
    let zcrx = adopt(&mut region, 2);
    let offs = [
        (1u64 << IORING_ZCRX_AREA_SHIFT) | (3 * PAGE) as u64,
        (5 * PAGE + 100) as u64,
    ];
    for off in offs {
        // SAFETY: (test) fake memory no kernel writes.
        drop(unsafe { zcrx.buf_from_completion(10, off) }.unwrap());
    }
    assert_eq!(region.tail(), 0, "not published before publish()");
    assert_eq!(zcrx.unpublished(), 2);
    zcrx.publish();
    assert_eq!(region.tail(), 2);
    for (i, off) in offs.into_iter().enumerate() {
        let e = region.entry(i as u32);
        assert_eq!((e.off, e.len, e.__pad), (off, 10, 0));
    }
}

#[test]
fn a_full_refill_ring_backs_up_and_catches_up() {
    let mut region = Region::new();
    let zcrx = adopt(&mut region, 1);
    // More returns than entries: the ring fills (the "kernel" consumes
    // nothing), the rest waits in the backlog.
    for i in 0..(ENTRIES + 10) {
        let off = (u64::from(i) % BUFS as u64) * PAGE as u64;
        // SAFETY: (test) fake memory no kernel writes.
        drop(unsafe { zcrx.buf_from_completion(1, off) }.unwrap());
    }
    zcrx.publish();
    assert_eq!(region.tail(), ENTRIES);
    assert_eq!(zcrx.backlog(), 10, "the back-pressure is visible");
    // The kernel consumes everything; the backlog drains on the next publish.
    region.consume_to(ENTRIES);
    zcrx.publish();
    assert_eq!(region.tail(), ENTRIES + 10);
    assert_eq!(zcrx.backlog(), 0);
}

/// An iterator whose `len` says 1 but that yields 3 completions.
struct Liar(std::vec::IntoIter<(i32, u64)>);

impl Iterator for Liar {
    type Item = (i32, u64);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (1, Some(1))
    }
}

impl ExactSizeIterator for Liar {}

#[test]
fn a_batch_stops_at_the_length_its_iterator_promised() {
    let mut region = Region::new();
    let zcrx = adopt(&mut region, 1);
    // Fill the ring up to one free entry: the batch reserves room for the
    // one completion its iterator promises, and must not write past it.
    for i in 0..ENTRIES - 1 {
        let off = u64::from(i % BUFS as u32) * PAGE as u64;
        // SAFETY: (test) fake memory no kernel writes.
        drop(unsafe { zcrx.buf_from_completion(1, off) }.unwrap());
    }
    let completions = Liar(vec![(1, 0), (1, PAGE as u64), (1, 2 * PAGE as u64)].into_iter());
    let mut seen = 0;
    // SAFETY: (test) fake memory no kernel writes.
    let n = unsafe { zcrx.for_each_view(completions, |_| seen += 1) }.unwrap();
    assert_eq!((n, seen), (1, 1));
    zcrx.publish();
    assert_eq!(region.tail(), ENTRIES);
    assert_eq!(zcrx.held(), 0);
}
