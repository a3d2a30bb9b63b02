//! Guest test (runs in `cargo xtask vm-test`'s kernels, and on the host):
//! what `IORING_REGISTER_QUERY` reports about ZCRX, read with this crate's
//! structs.
//!
//! On kernels that lack a query op the tests that need it skip with the
//! reason (or fail under `ZCRX_REQUIRE_KERNEL=1`); the `degrade_*` tests run
//! everywhere and check that a kernel without an op answers it cleanly.
//! Expected values: `shared/zcrx-facts.md` (6.19.13, 7.2.13, 7.3.4).

use std::mem::size_of;

use zcrx_testkit::{Probe, kernel_at_least, kernel_release, lacks, probe, query_chain, require};
use zcrx_uapi::{
    IO_URING_QUERY_OPCODES, IO_URING_QUERY_ZCRX, IO_URING_QUERY_ZCRX_EVENT,
    IORING_ZCRX_AREA_DMABUF, ZCRX_CTRL_ARM_EVENT, ZCRX_EVENT_ALLOC_FAIL, ZCRX_EVENT_COPY,
    ZCRX_FEATURE_EVENT, ZCRX_REG_NODEV, io_uring_query_opcode, io_uring_query_zcrx,
    io_uring_query_zcrx_event, zcrx_stats,
};

/// The probe, or a skip when the kernel has no IORING_REGISTER_QUERY.
fn probed() -> Option<Probe> {
    let p = probe();
    if let Err(e) = p.query {
        zcrx_testkit::require(false, &e.to_string());
        return None;
    }
    Some(p)
}

#[test]
fn query_reports_zcrx_with_nodev_and_event() {
    let Some(p) = probed() else { return };
    let zcrx = p.zcrx();
    require!(zcrx.is_ok(), "{}", zcrx.as_ref().unwrap_err());
    let zcrx = zcrx.unwrap();
    eprintln!("{}: {zcrx:?}", kernel_release());
    require!(
        zcrx.register_flags & u64::from(ZCRX_REG_NODEV) != 0,
        "{}",
        lacks("ZCRX_REG_NODEV")
    );
    require!(
        zcrx.features & ZCRX_FEATURE_EVENT != 0,
        "{}",
        lacks("ZCRX_FEATURE_EVENT")
    );
    assert_ne!(zcrx.area_flags & u64::from(IORING_ZCRX_AREA_DMABUF), 0);
    // FLUSH_RQ, EXPORT, ARM_EVENT at least (7.3 adds ADD_AREA).
    assert!(zcrx.nr_ctrl_opcodes > ZCRX_CTRL_ARM_EVENT, "{zcrx:?}");
}

#[test]
fn query_reports_the_refill_ring_header() {
    let Some(p) = probed() else { return };
    let zcrx = p.zcrx();
    require!(zcrx.is_ok(), "{}", zcrx.as_ref().unwrap_err());
    let zcrx = zcrx.unwrap();
    assert_eq!(zcrx.rq_hdr_alignment, 64, "{zcrx:?}");
    // Linux 7.3 moved the tail to its own cache line.
    let expected = if kernel_at_least(7, 3) { 128 } else { 8 };
    assert_eq!(
        zcrx.rq_hdr_size,
        expected,
        "rq_hdr_size on {}",
        kernel_release()
    );
}

#[test]
fn event_query_reports_the_stats_layout() {
    let Some(p) = probed() else { return };
    let event = p.zcrx_event();
    require!(event.is_ok(), "{}", event.as_ref().unwrap_err());
    let event = event.unwrap();
    eprintln!("{}: {event:?}", kernel_release());
    assert_eq!(
        event.event_flags,
        (1 << ZCRX_EVENT_ALLOC_FAIL) | (1 << ZCRX_EVENT_COPY),
        "{event:?}"
    );
    assert_eq!(event.stats_size as usize, size_of::<zcrx_stats>());
    assert_eq!(event.stats_size, 16);
    assert_eq!(event.stats_off_alignment, 8);
    assert_eq!(
        p.zcrx_event.size as usize,
        size_of::<io_uring_query_zcrx_event>()
    );
}

#[test]
fn opcodes_query_counts_the_query_ops() {
    let Some(p) = probed() else { return };
    let ops = p.opcodes().unwrap();
    assert!(
        ops.nr_request_opcodes > 0 && ops.nr_register_opcodes > 0,
        "{ops:?}"
    );
    // Each query op the kernel counts is answered; the others are not.
    for (op, reply) in [
        (IO_URING_QUERY_ZCRX, p.zcrx.result),
        (IO_URING_QUERY_ZCRX_EVENT, p.zcrx_event.result),
    ] {
        if op < ops.nr_query_opcodes {
            assert_eq!(
                reply,
                0,
                "op {op} of {} on {}",
                ops.nr_query_opcodes,
                kernel_release()
            );
        } else {
            assert_eq!(reply, -libc::EOPNOTSUPP, "op {op} on {}", kernel_release());
        }
    }
}

/// Ops this kernel does not know answer `-EOPNOTSUPP` in their own entry,
/// and the rest of the chain is still answered.
#[test]
fn degrade_unknown_query_ops_answer_eopnotsupp() {
    let Some(_) = probed() else { return };
    let replies = query_chain(&[
        (0x7fff, 64),
        (IO_URING_QUERY_OPCODES, size_of::<io_uring_query_opcode>()),
        (
            IO_URING_QUERY_ZCRX_EVENT,
            size_of::<io_uring_query_zcrx_event>(),
        ),
    ])
    .expect("the query system call itself succeeds");
    assert_eq!(replies[0].result, -libc::EOPNOTSUPP, "{:?}", replies[0]);
    assert!(replies[0].data.iter().all(|&b| b == 0));
    assert_eq!(
        replies[1].result, 0,
        "the chain goes on after an unknown op"
    );
    let event = &replies[2];
    if kernel_at_least(7, 2) {
        assert_eq!(event.result, 0, "{event:?}");
    } else {
        // 6.19 and the 6.18 host: no events; a clean "unsupported".
        assert_eq!(event.result, -libc::EOPNOTSUPP, "{event:?}");
        assert!(event.data.iter().all(|&b| b == 0));
    }
}

/// The ZCRX reply matches the kernel's version: absent before 6.19; on 6.19
/// present without NODEV or events (what a degrading client must handle).
#[test]
fn degrade_zcrx_capabilities_follow_the_kernel_version() {
    let Some(p) = probed() else { return };
    let release = kernel_release();
    if !kernel_at_least(6, 19) {
        assert!(p.zcrx.is_unsupported(), "{release}: {:?}", p.zcrx);
        assert_eq!(p.zcrx.data, io_uring_query_zcrx::default());
        assert!(p.zcrx().unwrap_err().contains("needs Linux >= 6.19"));
        return;
    }
    let zcrx = p.zcrx().unwrap();
    let nodev = zcrx.register_flags & u64::from(ZCRX_REG_NODEV) != 0;
    let events = zcrx.features & ZCRX_FEATURE_EVENT != 0;
    assert_eq!(nodev, kernel_at_least(7, 1), "{release}: {zcrx:?}");
    assert_eq!(events, kernel_at_least(7, 2), "{release}: {zcrx:?}");
    assert_eq!(p.zcrx_event.is_ok(), kernel_at_least(7, 2), "{release}");
}
