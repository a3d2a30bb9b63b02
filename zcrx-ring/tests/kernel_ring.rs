//! The ring against the running kernel (host and test VM).
//!
//! Each test needs io_uring; a kernel that lacks it, or lacks a feature a
//! test needs (`CQE_MIXED` before 6.18, `IORING_NOP_TW` before 6.15), makes
//! the test print `skipped: <reason>` and pass (and fail under
//! `ZCRX_REQUIRE_KERNEL=1`, as in the test VM).

use std::time::{Duration, Instant};

use rustix::io::Errno;
use zcrx_ring::Error;
use zcrx_ring::ring::opcode::{self, IORING_NOP_CQE32, IORING_NOP_INJECT_RESULT, IORING_NOP_TW};
use zcrx_ring::ring::{Completion, Cqe32, CqeMixed, CqeMode, Ring, RingBuilder};
use zcrx_uapi::{CqeFlags, SetupFlags, SqRingFlags, io_uring_sqe};

/// Builds the ring, or explains why the kernel cannot and returns `None`.
fn build<M: CqeMode>(b: RingBuilder<M>) -> Option<Ring<M>> {
    match b.build() {
        Ok(r) => Some(r),
        Err(e @ (Error::Unsupported(_) | Error::PermissionDenied { .. })) => {
            zcrx_testkit::require(false, &e.to_string());
            None
        }
        Err(e) => panic!("ring setup failed: {e}"),
    }
}

fn nop(ud: u64) -> io_uring_sqe {
    let mut sqe = io_uring_sqe::default();
    opcode::prep_nop(&mut sqe, ud);
    sqe
}

fn nop_flags(ud: u64, flags: u32, big: [u64; 2]) -> io_uring_sqe {
    let mut sqe = io_uring_sqe::default();
    opcode::prep_nop_flags(&mut sqe, ud, flags, 0, big);
    sqe
}

fn push<M: CqeMode>(ring: &mut Ring<M>, sqe: &io_uring_sqe) -> zcrx_ring::Result<()> {
    // SAFETY: the tests only queue NOPs, cancels and invalid opcodes, which
    // carry no pointer for the kernel to follow.
    unsafe { ring.push(sqe) }
}

fn drain<M: CqeMode>(ring: &mut Ring<M>) -> Vec<Completion> {
    ring.completions().collect()
}

/// Whether the kernel supports a NOP flag, tried on `ring`.
fn nop_flag_works<M: CqeMode>(ring: &mut Ring<M>, flag: u32, name: &str) -> bool {
    push(ring, &nop_flags(0xf1a9, flag, [0, 0])).unwrap();
    ring.submit_and_wait(1).unwrap();
    let c = drain(ring);
    assert_eq!(c.len(), 1);
    if c[0].res == -libc::EINVAL {
        zcrx_testkit::require(false, &format!("the kernel lacks {name}"));
        return false;
    }
    assert_eq!(c[0].res, 0);
    true
}

#[test]
fn setup_defaults_and_accessors() {
    let Some(ring) = build(RingBuilder::<Cqe32>::new(100)) else {
        return;
    };
    let p = ring.params();
    assert_eq!(p.sq_entries, 128);
    assert_eq!(p.cq_entries, 256);
    let f = ring.setup_flags();
    assert!(f.contains(SetupFlags::SINGLE_ISSUER | SetupFlags::DEFER_TASKRUN | SetupFlags::CQE32));
    assert!(ring.features().contains(zcrx_uapi::FeatureFlags::NODROP));
    assert_eq!(ring.sq_space_left(), 128);
    assert_eq!((ring.sq_pending(), ring.cq_ready()), (0, 0));
    assert_eq!((ring.cq_dropped(), ring.sq_dropped()), (0, 0));
    assert!(!ring.sq_flags().contains(SqRingFlags::CQ_OVERFLOW));
    // The fd is an io_uring fd the registration code can use.
    let fd = std::os::fd::AsFd::as_fd(&ring);
    assert!(rustix::fs::fstat(fd).is_ok());
    println!("{ring:?}");
}

#[test]
fn refusals_are_typed() {
    let e = RingBuilder::<Cqe32>::new(0).build().unwrap_err();
    assert!(matches!(
        e,
        Error::InvalidConfig {
            field: "entries",
            ..
        }
    ));
    let e = RingBuilder::<Cqe32>::new(8)
        .flags(SetupFlags::SQPOLL)
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::InvalidConfig { field: "flags", .. }));
    // Clamped: the kernel reduces the counts instead of failing.
    if let Some(ring) = build(
        RingBuilder::<Cqe32>::new(1 << 20)
            .cq_entries(1 << 20)
            .clamp(true),
    ) {
        assert_eq!(ring.params().sq_entries, 32768);
        assert_eq!(ring.params().cq_entries, 65536);
    }
}

#[test]
fn nop_round_trip_cqe32() {
    let Some(mut ring) = build(RingBuilder::<Cqe32>::new(8)) else {
        return;
    };
    for ud in 1..=3 {
        push(&mut ring, &nop(ud)).unwrap();
    }
    assert_eq!(ring.sq_pending(), 3);
    assert_eq!(ring.submit_and_wait(3).unwrap(), 3);
    assert_eq!(ring.sq_pending(), 0);
    assert_eq!(ring.cq_ready(), 3);
    let got = drain(&mut ring);
    assert_eq!(
        got.iter().map(|c| c.user_data).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    for c in &got {
        assert_eq!(
            (c.res, c.flags, c.big),
            (0, CqeFlags::empty(), Some([0, 0]))
        );
    }
    assert_eq!(ring.cq_ready(), 0);

    // A 32-byte NOP fills the second half, on a CQE32 ring too.
    if nop_flag_works(&mut ring, IORING_NOP_CQE32, "IORING_NOP_CQE32") {
        push(&mut ring, &nop_flags(9, IORING_NOP_CQE32, [0x1111, 0x2222])).unwrap();
        ring.submit_and_wait(1).unwrap();
        let c = drain(&mut ring);
        assert_eq!(c[0].big, Some([0x1111, 0x2222]));
        assert_eq!(c[0].zcrx().unwrap().off, 0x1111);
        // No F_32 flag on a CQE32 ring.
        assert!(!c[0].flags.contains(CqeFlags::F_32));
    }

    // Injected results and in-place preparation.
    let mut slot = ring.slot().unwrap();
    opcode::prep_nop_flags(
        &mut slot,
        10,
        IORING_NOP_INJECT_RESULT,
        -libc::EAGAIN,
        [0, 0],
    );
    // SAFETY: a NOP carries no pointer.
    unsafe { slot.commit() };
    ring.submit_and_wait(1).unwrap();
    let c = drain(&mut ring);
    if c[0].res != -libc::EINVAL {
        assert_eq!(c[0].result(), Err(Errno::AGAIN));
    }
}

#[test]
fn nop_round_trip_mixed() {
    let Some(mut ring) = build(RingBuilder::<CqeMixed>::new(8)) else {
        return;
    };
    assert!(ring.setup_flags().contains(SetupFlags::CQE_MIXED));
    if !nop_flag_works(&mut ring, IORING_NOP_CQE32, "IORING_NOP_CQE32") {
        return;
    }
    push(&mut ring, &nop(1)).unwrap();
    push(&mut ring, &nop_flags(2, IORING_NOP_CQE32, [0xaaaa, 0xbbbb])).unwrap();
    push(&mut ring, &nop(3)).unwrap();
    assert_eq!(ring.submit_and_wait(3).unwrap(), 3);
    // Four slots: the 32-byte completion takes two.
    assert_eq!(ring.cq_ready(), 4);
    let got = drain(&mut ring);
    assert_eq!(got.len(), 3);
    assert_eq!((got[0].user_data, got[0].big), (1, None));
    assert_eq!((got[1].user_data, got[1].big), (2, Some([0xaaaa, 0xbbbb])));
    assert!(got[1].flags.contains(CqeFlags::F_32));
    assert!(!got[1].is_truncated());
    assert_eq!((got[2].user_data, got[2].big), (3, None));
}

/// Many batches through small rings: indices wrap the rings many times, and
/// on the mixed ring 32-byte completions regularly meet the end of the ring
/// (the kernel pads, the iterator skips the padding).
fn wrap_around<M: CqeMode>(ring: &mut Ring<M>, big_every: u64) {
    let mut next = 0u64;
    let mut expect = 0u64;
    let mut slots_seen = 0u64;
    let mut slots_used = 0u64;
    for round in 0..5000u64 {
        let n = 1 + round % 4;
        for _ in 0..n {
            let sqe = if big_every != 0 && next % big_every == 0 {
                nop_flags(next, IORING_NOP_CQE32, [next, !next])
            } else {
                nop(next)
            };
            push(ring, &sqe).unwrap();
            next += 1;
        }
        assert_eq!(ring.submit_and_wait(n as u32).unwrap(), n as u32);
        slots_seen += u64::from(ring.cq_ready());
        for c in ring.completions() {
            assert_eq!(c.user_data, expect);
            assert_eq!(c.res, 0);
            let big = big_every != 0 && expect % big_every == 0;
            if big {
                assert_eq!(c.big, Some([expect, !expect]));
            }
            slots_used += if M::MIXED && big { 2 } else { 1 };
            expect += 1;
        }
    }
    assert_eq!(expect, next);
    if M::MIXED && big_every != 0 {
        // Padding slots were posted and skipped.
        assert!(slots_seen > slots_used, "{slots_seen} {slots_used}");
        println!("padding entries skipped: {}", slots_seen - slots_used);
    } else {
        assert_eq!(slots_seen, slots_used);
    }
}

#[test]
fn wrap_around_cqe32() {
    let Some(mut ring) = build(RingBuilder::<Cqe32>::new(4)) else {
        return;
    };
    wrap_around(&mut ring, 0);
}

#[test]
fn wrap_around_mixed() {
    let Some(mut ring) = build(RingBuilder::<CqeMixed>::new(4).cq_entries(8)) else {
        return;
    };
    if nop_flag_works(&mut ring, IORING_NOP_CQE32, "IORING_NOP_CQE32") {
        // Two NOPs take three slots: 32-byte entries start at every offset,
        // the last one included.
        wrap_around(&mut ring, 2);
    }
}

/// `IORING_NOP_TW` completes through task work, which a `DEFER_TASKRUN`
/// ring runs only inside a `GETEVENTS` enter whose submission count matched
/// the queued SQEs exactly (a larger count makes the kernel skip the wait).
#[test]
fn submit_passes_exactly_the_queued_count() {
    let Some(mut ring) = build(RingBuilder::<Cqe32>::new(8)) else {
        return;
    };
    if !nop_flag_works(&mut ring, IORING_NOP_TW, "IORING_NOP_TW") {
        return;
    }
    for ud in 0..5 {
        push(&mut ring, &nop_flags(ud, IORING_NOP_TW, [0, 0])).unwrap();
    }
    assert_eq!(ring.submit_and_wait(5).unwrap(), 5);
    assert_eq!(ring.cq_ready(), 5, "the wait ran the task work");
    assert_eq!(drain(&mut ring).len(), 5);

    // submit() alone leaves the task work pending; submit_and_wait(0) runs
    // it without blocking.
    push(&mut ring, &nop_flags(7, IORING_NOP_TW, [0, 0])).unwrap();
    assert_eq!(ring.submit().unwrap(), 1);
    assert_eq!(ring.cq_ready(), 0);
    assert_eq!(ring.submit().unwrap(), 0, "nothing new to submit");
    assert_eq!(ring.submit_and_wait(0).unwrap(), 0);
    assert_eq!(ring.cq_ready(), 1);
    drain(&mut ring);

    // A failing SQE ends the kernel's batch: what follows it stays queued
    // and goes with the next call, never counted twice.
    push(&mut ring, &nop(1)).unwrap();
    let mut bad = nop(2);
    bad.opcode = 0xfe;
    push(&mut ring, &bad).unwrap();
    push(&mut ring, &nop_flags(3, IORING_NOP_TW, [0, 0])).unwrap();
    assert_eq!(ring.submit_and_wait(3).unwrap(), 2);
    assert_eq!(ring.sq_pending(), 1);
    let got = drain(&mut ring);
    assert_eq!(
        got.iter().map(|c| (c.user_data, c.res)).collect::<Vec<_>>(),
        [(1, 0), (2, -libc::EINVAL)]
    );
    assert_eq!(ring.submit_and_wait(1).unwrap(), 1);
    assert_eq!(
        drain(&mut ring)
            .iter()
            .map(|c| c.user_data)
            .collect::<Vec<_>>(),
        [3]
    );
}

#[test]
fn wait_timeout_expires() {
    let Some(mut ring) = build(RingBuilder::<Cqe32>::new(4)) else {
        return;
    };
    let t = Instant::now();
    assert_eq!(ring.wait_timeout(1, Duration::from_millis(100)).unwrap(), 0);
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(95), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert_eq!(ring.cq_ready(), 0);

    // With the completion there, no wait.
    push(&mut ring, &nop(1)).unwrap();
    let t = Instant::now();
    assert_eq!(ring.wait_timeout(1, Duration::from_secs(10)).unwrap(), 1);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(ring.cq_ready(), 1);
    // Already ready: returns without a system call or a wait.
    assert_eq!(ring.wait_timeout(1, Duration::from_secs(10)).unwrap(), 0);
    assert_eq!(drain(&mut ring).len(), 1);
}

#[test]
fn submission_queue_full() {
    let Some(mut ring) = build(RingBuilder::<Cqe32>::new(4)) else {
        return;
    };
    for ud in 0..4 {
        push(&mut ring, &nop(ud)).unwrap();
    }
    assert_eq!(ring.sq_space_left(), 0);
    assert_eq!(push(&mut ring, &nop(4)), Err(Error::SubmissionQueueFull));
    assert!(matches!(ring.slot(), Err(Error::SubmissionQueueFull)));
    assert_eq!(ring.submit().unwrap(), 4);
    assert_eq!(ring.sq_space_left(), 4);
    push(&mut ring, &nop(4)).unwrap();
    assert_eq!(ring.submit_and_wait(5).unwrap(), 1);
    assert_eq!(drain(&mut ring).len(), 5);
}

/// Fills the completion ring, overflows it, and gets everything back in
/// order: reap, enter with GETEVENTS, reap again.
fn overflow<M: CqeMode>(ring: &mut Ring<M>, sqe: impl Fn(u64) -> io_uring_sqe, per: u32) {
    let cq = ring.params().cq_entries;
    let sq = ring.params().sq_entries;
    let fill = u64::from(cq / per);
    let total = fill + u64::from(sq);
    let mut next = 0;
    while next < total {
        while next < total && ring.sq_space_left() > 0 {
            push(ring, &sqe(next)).unwrap();
            next += 1;
        }
        ring.submit().unwrap();
    }
    assert_eq!(ring.cq_ready(), cq, "the ring is full");
    assert!(ring.sq_flags().contains(SqRingFlags::CQ_OVERFLOW));
    let mut got: Vec<u64> = drain(ring).iter().map(|c| c.user_data).collect();
    assert_eq!(got.len() as u64, fill);
    // The overflowed ones come in with the next GETEVENTS enter.
    assert_eq!(ring.cq_ready(), 0);
    ring.submit_and_wait(0).unwrap();
    got.extend(drain(ring).iter().map(|c| c.user_data));
    assert!(!ring.sq_flags().contains(SqRingFlags::CQ_OVERFLOW));
    assert_eq!(got, (0..total).collect::<Vec<_>>());
    assert_eq!(ring.cq_dropped(), 0);
}

#[test]
fn full_completion_ring_overflows_and_recovers_cqe32() {
    let Some(mut ring) = build(RingBuilder::<Cqe32>::new(8).cq_entries(8)) else {
        return;
    };
    overflow(&mut ring, nop, 1);
}

#[test]
fn full_completion_ring_overflows_and_recovers_mixed() {
    let Some(mut ring) = build(RingBuilder::<CqeMixed>::new(8).cq_entries(16)) else {
        return;
    };
    if !nop_flag_works(&mut ring, IORING_NOP_CQE32, "IORING_NOP_CQE32") {
        return;
    }
    overflow(&mut ring, |ud| nop_flags(ud, IORING_NOP_CQE32, [ud, 0]), 2);
}

/// A full mixed ring whose last free slot a 32-byte completion pads: the
/// completions must come out in order, the overflowed ones after the rest.
/// Linux 7.2 writes the next 16-byte completion over the padding and
/// publishes one slot more than it wrote (a stale entry from the previous
/// lap), which `mixed_cq_publishes_stale_entries` must report; 7.3 does not.
#[test]
fn a_padded_full_mixed_ring_keeps_order_as_the_probe_says() {
    let Some(mut check) = build(RingBuilder::<CqeMixed>::new(8)) else {
        return;
    };
    if !nop_flag_works(&mut check, IORING_NOP_CQE32, "IORING_NOP_CQE32") {
        return;
    }
    let Some(mut ring) = build(RingBuilder::<CqeMixed>::new(8).cq_entries(8)) else {
        return;
    };
    let slots = ring.params().cq_entries;
    assert_eq!(slots, 8);
    // Slots 0..6: three 32-byte and one 16-byte completion; then a 32-byte
    // one (pads slot 7, finds the ring full, overflows) and a 16-byte one.
    let big = |ud: u64| nop_flags(ud, IORING_NOP_CQE32, [ud, 0]);
    for sqe in [big(1), big(2), big(3), nop(4), big(5), nop(6)] {
        push(&mut ring, &sqe).unwrap();
    }
    ring.submit().unwrap();
    let mut seen: Vec<u64> = drain(&mut ring).iter().map(|c| c.user_data).collect();
    ring.submit_and_wait(0).unwrap();
    seen.extend(drain(&mut ring).iter().map(|c| c.user_data));
    let stale = seen != [1, 2, 3, 4, 5, 6];
    let probed = zcrx_ring::ring::mixed_cq_publishes_stale_entries().unwrap();
    eprintln!("completions in the order seen: {seen:?}; probe: stale {probed}");
    assert_eq!(stale, probed, "the probe disagrees with what the ring did");
    // The pinned kernels whose io_uring/io_uring.c was read.
    match zcrx_testkit::kernel_version() {
        (7, 2) => assert!(stale, "7.2 has the defect"),
        (7, 3) => assert!(!stale, "7.3 has the fix"),
        _ => {}
    }
}

#[test]
fn cancel_without_target() {
    let Some(mut ring) = build(RingBuilder::<Cqe32>::new(4)) else {
        return;
    };
    let mut sqe = io_uring_sqe::default();
    opcode::prep_cancel_user_data(&mut sqe, 0xdead, 1);
    push(&mut ring, &sqe).unwrap();
    ring.submit_and_wait(1).unwrap();
    let c = drain(&mut ring);
    assert_eq!((c[0].user_data, c[0].res), (1, -libc::ENOENT));
}

#[test]
fn single_issuer_and_send() {
    // Created here, used there: the kernel refuses (EEXIST).
    let Some(ring) = build(RingBuilder::<Cqe32>::new(4)) else {
        return;
    };
    let e = std::thread::spawn(move || {
        let mut ring = ring;
        push(&mut ring, &nop(1)).unwrap();
        ring.submit().unwrap_err()
    })
    .join()
    .unwrap();
    assert_eq!(e.errno(), Some(Errno::EXIST));

    // Created disabled, enabled there: works.
    let ring = build(RingBuilder::<Cqe32>::new(4).disabled(true)).unwrap();
    std::thread::spawn(move || {
        let mut ring = ring;
        ring.enable().unwrap();
        push(&mut ring, &nop(1)).unwrap();
        ring.submit_and_wait(1).unwrap();
        assert_eq!(drain(&mut ring)[0].user_data, 1);
    })
    .join()
    .unwrap();
}

#[test]
fn split_pushes_while_reaping() {
    let Some(mut ring) = build(RingBuilder::<Cqe32>::new(4)) else {
        return;
    };
    push(&mut ring, &nop(0)).unwrap();
    ring.submit_and_wait(1).unwrap();
    // Each completion queues its successor, as a receive loop re-arms.
    for round in 0..100 {
        let (mut sq, cq) = ring.split();
        let mut n = 0;
        for c in cq {
            assert_eq!(c.user_data, round);
            // SAFETY: a NOP carries no pointer.
            unsafe { sq.push(&nop(c.user_data + 1)) }.unwrap();
            n += 1;
        }
        assert_eq!(n, 1);
        ring.submit_and_wait(1).unwrap();
    }
}

/// One million NOPs through the whole path (push, submit, reap): a
/// functional check of the hot path, not a benchmark.
#[test]
fn one_million_nops() {
    for mixed in [false, true] {
        if mixed {
            let Some(mut ring) = build(RingBuilder::<CqeMixed>::new(256)) else {
                return;
            };
            million(&mut ring);
        } else {
            let Some(mut ring) = build(RingBuilder::<Cqe32>::new(256)) else {
                return;
            };
            million(&mut ring);
        }
    }
}

fn million<M: CqeMode>(ring: &mut Ring<M>) {
    const N: u64 = 1_000_000;
    let t = Instant::now();
    let mut sqe = nop(0);
    let (mut pushed, mut reaped, mut sum) = (0u64, 0u64, 0u64);
    while reaped < N {
        while pushed < N {
            sqe.user_data = pushed;
            match push(ring, &sqe) {
                Ok(()) => pushed += 1,
                Err(Error::SubmissionQueueFull) => break,
                Err(e) => panic!("{e}"),
            }
        }
        ring.submit_and_wait(1).unwrap();
        for c in ring.completions() {
            debug_assert_eq!(c.res, 0);
            sum += c.user_data;
            reaped += 1;
        }
    }
    assert_eq!(sum, N * (N - 1) / 2);
    println!(
        "{N} NOPs ({}): {:?}",
        core::any::type_name::<M>(),
        t.elapsed()
    );
}
