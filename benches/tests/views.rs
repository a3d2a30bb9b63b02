//! `Zcrx::buf_from_completion` and `Zcrx::for_each_view` over fake memory:
//! the area-0 fast path and the general path (other areas, refusals) agree
//! on what they accept and where the data is, and the batch form gives
//! every buffer back exactly once.

use std::fs::File;

use benches::{BUF_LEN, Mapping, REGION_LEN, RQ_ENTRIES, RefillRegion, STATS_OFFSET};
use zcrx_ring::{Area, RawParts, Zcrx};

struct Two {
    zcrx: Zcrx,
    areas: [Mapping; 2],
    region: RefillRegion,
}

const BUFS: usize = 8;

fn two_areas() -> Two {
    let region = RefillRegion::new().unwrap();
    let areas = [
        Mapping::new(BUFS * BUF_LEN).unwrap(),
        Mapping::new(BUFS * BUF_LEN).unwrap(),
    ];
    for (a, m) in areas.iter().enumerate() {
        // SAFETY: the whole mapping, not yet shared.
        let bytes = unsafe { core::slice::from_raw_parts_mut(m.as_ptr(), m.len()) };
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i / BUF_LEN + 16 * a) as u8;
        }
    }
    let handles = areas
        .iter()
        // SAFETY: page aligned, whole pages, outlive the instance (field
        // order: `zcrx` is dropped first).
        .map(|m| unsafe { Area::from_raw_parts(m.as_non_null(), m.len()) }.unwrap())
        .collect();
    let parts = RawParts {
        ring: File::open("/dev/null").unwrap().into(),
        zcrx_id: 0,
        nodev: false,
        region: region.memory().as_non_null(),
        region_len: REGION_LEN,
        offsets: RefillRegion::offsets(),
        rq_entries: RQ_ENTRIES,
        rx_buf_len: BUF_LEN as u32,
        stats_offset: Some(STATS_OFFSET),
    };
    // SAFETY: memory laid out as the kernel lays it out, alive while the
    // instance lives; nothing else produces into the ring.
    let zcrx = unsafe { Zcrx::from_raw_parts(parts, handles) }.unwrap();
    Two {
        zcrx,
        areas,
        region,
    }
}

const AREA1: u64 = 1 << 48;

/// `(res, off, area, buffer)` of chunks both paths accept.
const ACCEPTED: [(i32, u64, u16, usize); 6] = [
    (4096, 0, 0, 0),
    (1, 4095, 0, 0),
    (100, 3 * 4096 + 7, 0, 3),
    (4096, 7 * 4096, 0, 7),
    (4096, AREA1, 1, 0),
    (10, AREA1 + 5 * 4096 + 4000, 1, 5),
];

#[test]
fn accepted_chunks_point_at_their_data() {
    let t = two_areas();
    for (res, off, area, buf) in ACCEPTED {
        // SAFETY: (test) fake memory nothing else writes; each view is
        // dropped before the next is made.
        let b = unsafe { t.zcrx.buf_from_completion(res, off) }.unwrap();
        assert_eq!(b.len(), res as usize);
        assert_eq!(b.area_id(), area);
        assert_eq!(b.raw_offset(), off);
        let expect = t.areas[area as usize].as_ptr() as usize + (off & (AREA1 - 1)) as usize;
        assert_eq!(b.as_ptr() as usize, expect);
        assert!(b.iter().all(|&x| x as usize == buf + 16 * area as usize));
        assert_eq!(t.zcrx.held(), 1);
        drop(b);
        assert_eq!(t.zcrx.held(), 0);
    }
    assert_eq!(t.zcrx.unpublished(), 6);
}

#[test]
fn refused_chunks_are_refused_on_both_paths() {
    let t = two_areas();
    let end0 = (BUFS * BUF_LEN) as u64;
    for (res, off) in [
        (0, 0),              // EOF is not data
        (-105, 0),           // an errno
        (i32::MIN, 4096),    // an errno
        (4097, 0),           // longer than a buffer
        (2, 4095),           // crosses a buffer
        (1, end0),           // past area 0
        (4096, end0 - 4095), // crosses out of area 0
        (1, AREA1 + end0),   // past area 1
        (2, AREA1 + 4095),   // crosses a buffer of area 1
        (1, 2 << 48),        // no area 2
        (1, u64::MAX),       // nonsense
        (1, (1 << 48) - 1),  // in area 0's id, far past its end
    ] {
        // SAFETY: (test) refused values: no view is made.
        let r = unsafe { t.zcrx.buf_from_completion(res, off) };
        assert!(r.is_err(), "res {res} off {off:#x} was accepted");
    }
    assert_eq!(t.zcrx.held(), 0);
    assert_eq!(t.zcrx.unpublished(), 0);
}

#[test]
fn the_batch_form_sees_the_same_data_and_returns_each_buffer_once() {
    let t = two_areas();
    let mut seen = Vec::new();
    // SAFETY: (test) fake memory nothing else writes; each chunk once.
    let n = unsafe {
        t.zcrx
            .for_each_view(ACCEPTED.iter().map(|&(r, o, _, _)| (r, o)), |data| {
                seen.push((data.as_ptr() as usize, data.len(), data[0]))
            })
    }
    .unwrap();
    assert_eq!(n, ACCEPTED.len() as u32);
    for ((res, off, area, buf), (ptr, len, first)) in ACCEPTED.into_iter().zip(seen) {
        let expect = t.areas[area as usize].as_ptr() as usize + (off & (AREA1 - 1)) as usize;
        assert_eq!((ptr, len), (expect, res as usize));
        assert_eq!(first as usize, buf + 16 * area as usize);
    }
    // Every buffer went back, and the tail was published once.
    assert_eq!(
        (t.zcrx.held(), t.zcrx.unpublished(), t.zcrx.backlog()),
        (0, 0, 0)
    );
    assert_eq!(
        t.region.tail().load(std::sync::atomic::Ordering::Acquire),
        6
    );

    // A refused chunk stops the batch: those before it went back, it and
    // the rest were not touched.
    let mut calls = 0;
    let batch = [(100, 0), (2, 4095), (100, 4096)];
    // SAFETY: (test) as above.
    let r = unsafe { t.zcrx.for_each_view(batch, |_| calls += 1) };
    assert!(r.is_err());
    assert_eq!(calls, 1);
    assert_eq!(
        t.region.tail().load(std::sync::atomic::Ordering::Acquire),
        7
    );
    assert_eq!(t.zcrx.held(), 0);
}

#[test]
fn a_panic_in_the_batch_closure_loses_no_buffer() {
    let t = two_areas();
    let batch = [(100, 0), (100, 4096), (100, 2 * 4096)];
    let mut calls = 0;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: (test) fake memory nothing else writes; each chunk once.
        unsafe {
            t.zcrx.for_each_view(batch, |_| {
                calls += 1;
                assert!(calls < 2, "the closure panics on the second view");
            })
        }
    }));
    assert!(r.is_err());
    // The two views handed out went back; the third was never made.
    assert_eq!(
        t.region.tail().load(std::sync::atomic::Ordering::Acquire),
        2
    );
    assert_eq!((t.zcrx.held(), t.zcrx.backlog()), (0, 0));
    // The instance works on: the indices came back from the batch.
    // SAFETY: (test) as above.
    drop(unsafe { t.zcrx.buf_from_completion(1, 3 * 4096) }.unwrap());
    t.zcrx.publish();
    assert_eq!(
        t.region.tail().load(std::sync::atomic::Ordering::Acquire),
        3
    );
}
