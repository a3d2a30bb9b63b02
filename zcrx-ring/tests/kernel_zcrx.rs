//! ZCRX on a real kernel: registration, the receive loop, buffer views and
//! the refill queue, in NODEV mode over loopback TCP.
//!
//! These run in the test VM (Linux 7.3 and 7.2, under
//! `ZCRX_REQUIRE_KERNEL=1`); on a kernel without NODEV (the 6.18 host, the
//! 6.19 guest) they skip with the reason, and the `degrade_*` tests check
//! the typed errors there instead.

mod common;

use std::thread;
use std::time::Duration;

use rustix::fd::AsFd;
use rustix::io::Errno;
use zcrx_ring::caps::Capabilities;
use zcrx_ring::ring::{Cqe32, CqeMixed, Ring, opcode};
use zcrx_ring::{Area, Error, EventConfig, Receiver, Recv, StatsPlacement, Zcrx};
use zcrx_testkit::{lacks, require};
use zcrx_uapi::{ZCRX_CTRL_ADD_AREA, ZCRX_EVENT_COPY, ZcrxEventMask, io_uring_sqe};

use common::{PAGE, nodev, nodev_supported, pattern, receive_all, ring, send_pattern, tcp_pair};

/// Counts allocations, so a test can show the steady-state receive loop
/// allocates nothing.
#[global_allocator]
static ALLOC: zcrx_testkit::CountingAlloc = zcrx_testkit::CountingAlloc;

#[test]
fn registration_reads_back_what_the_kernel_wrote() {
    require_nodev!();
    let caps = Capabilities::query();
    let z = *caps.zcrx().unwrap();
    let ring = ring::<Cqe32>(8);
    let zcrx = nodev(16).rq_entries(100).register(&ring).unwrap();
    assert_eq!(zcrx.rq_entries(), 128, "rounded up to a power of two");
    assert_eq!(zcrx.rx_buf_len(), PAGE as u32);
    assert_eq!(zcrx.buffers(), 16);
    assert!(zcrx.is_nodev());
    let layout = zcrx.region_layout();
    assert_eq!(
        layout.entries_offset,
        u64::from(z.refill_entries_offset().unwrap()),
        "the kernel's entries start where its query said"
    );
    // 7.2: header 8 (entries at 64); 7.3: header 128 (entries at 128).
    let (major, minor) = zcrx_testkit::kernel_version();
    if (major, minor) >= (7, 3) {
        assert_eq!(layout.entries_offset, 128);
    } else if (major, minor) == (7, 2) {
        assert_eq!(layout.entries_offset, 64);
    }
    // A second instance on the same ring gets another id.
    let other = nodev(4).register(&ring).unwrap();
    assert_ne!(other.id(), zcrx.id());
}

#[test]
fn kernel_allocated_region_works() {
    require_nodev!();
    let mut ring = ring::<Cqe32>(8);
    let zcrx = nodev(16).kernel_region(true).register(&ring).unwrap();
    let (client, server) = tcp_pair();
    let sender = send_pattern(client, 300_000);
    let mut rx = Receiver::new(&mut ring);
    rx.add(&zcrx, &server, None).unwrap();
    receive_all(&mut rx, 300_000);
    sender.join().unwrap();
}

#[test]
fn stream_of_64_mib_through_64_buffers_arrives_intact() {
    require_nodev!();
    const TOTAL: u64 = 64 << 20;
    let mut ring = ring::<Cqe32>(32);
    let zcrx = nodev(64).rq_entries(64).register(&ring).unwrap();
    let (client, server) = tcp_pair();
    let sender = send_pattern(client, TOTAL);
    let mut rx = Receiver::new(&mut ring);
    rx.add(&zcrx, &server, None).unwrap();
    let (_, completions) = receive_all(&mut rx, TOTAL);
    sender.join().unwrap();
    // Each of the 64 buffers was used hundreds of times.
    assert!(completions / 64 >= 200, "{completions} completions");
    drop(rx);
    assert_eq!(zcrx.held(), 0);
}

#[test]
fn the_receive_loop_allocates_nothing_in_steady_state() {
    require_nodev!();
    const TOTAL: u64 = 8 << 20;
    let mut ring = ring::<Cqe32>(32);
    let zcrx = nodev(64).register(&ring).unwrap();
    let (client, server) = tcp_pair();
    let sender = send_pattern(client, TOTAL);
    let mut rx = Receiver::new(&mut ring);
    rx.add(&zcrx, &server, None).unwrap();
    let mut got = 0u64;
    let mut events = 0u64;
    let mut before = None;
    let mut checksum = 0u64;
    loop {
        match rx.recv().unwrap() {
            Recv::Data { buf, .. } => {
                got += buf.len() as u64;
                checksum = checksum.wrapping_add(u64::from(buf[0]));
                events += 1;
                // Warm-up over, count from here.
                if events == 32 {
                    before = Some(zcrx_testkit::thread_allocations());
                }
            }
            Recv::Eof { .. } => break,
            other => panic!("unexpected event {other:?}"),
        }
    }
    let allocations = zcrx_testkit::thread_allocations() - before.expect("enough completions");
    sender.join().unwrap();
    assert_eq!(got, TOTAL);
    assert_eq!(
        allocations, 0,
        "receive, view, return and publish allocated ({events} completions, checksum {checksum})"
    );
}

/// A mixed ring: refused for ZCRX where the kernel's mixed rings publish
/// stale entries (6.19, 7.2); elsewhere (7.3) the receive loop takes a
/// stream through it, and a small one that keeps filling ends each raw
/// RECV_ZC request exactly once.
#[test]
fn a_mixed_ring_receives_where_sound_and_is_refused_where_stale() {
    require_nodev!();
    let mut ring = ring::<CqeMixed>(16);
    if zcrx_ring::ring::mixed_cq_publishes_stale_entries().unwrap() {
        // 7.2: a full mixed ring can show a stale RECV_ZC completion (see
        // kernel_ring's padded full ring test): ZCRX refuses the ring.
        match nodev(32).register(&ring) {
            Err(Error::Unsupported(u)) => {
                assert!(u.what.contains("IORING_SETUP_CQE_MIXED"), "{u}");
                assert_eq!(u.needs.map(|v| (v.major, v.minor)), Some((7, 3)));
            }
            other => panic!("a stale-prone mixed ring was accepted: {other:?}"),
        }
        let cqe32 = common::ring::<Cqe32>(16);
        let zcrx = nodev(32).register(&cqe32).unwrap();
        let other = common::ring::<CqeMixed>(16);
        match zcrx.import_into(&other) {
            Err(Error::Unsupported(u)) => assert!(u.what.contains("IORING_SETUP_CQE_MIXED"), "{u}"),
            other => panic!("import into a stale-prone mixed ring: {other:?}"),
        }
        return;
    }
    let zcrx = nodev(32).register(&ring).unwrap();
    let (client, server) = tcp_pair();
    let sender = send_pattern(client, 1 << 20);
    let mut rx = Receiver::new(&mut ring);
    rx.add(&zcrx, &server, None).unwrap();
    receive_all(&mut rx, 1 << 20);
    sender.join().unwrap();
    drop(rx);
    full_mixed_rings_end_each_receive_once();
}

/// A small mixed ring that keeps filling with RECV_ZC completions (and
/// ending them with `ENOSPC`) shows exactly one final completion per
/// request: nothing stale is published. Raw ring and views, no receive
/// loop: what the kernel posts, as posted.
fn full_mixed_rings_end_each_receive_once() {
    let mut full = 0;
    for round in 0..20 {
        let mut ring = ring::<CqeMixed>(16);
        let zcrx = nodev(32).register(&ring).unwrap();
        let (client, server) = tcp_pair();
        let sender = send_pattern(client, 1 << 20);
        let user_data = 0x5a52_0000_0000_0000;
        let mut armed = 0;
        let mut got = 0u64;
        let mut eof = false;
        while !eof {
            if armed == 0 {
                let mut sqe = io_uring_sqe::default();
                opcode::prep_recv_zc(&mut sqe, server.as_fd(), zcrx.id(), 0, user_data);
                // SAFETY: RECV_ZC into the registered area of `zcrx`; the
                // socket outlives the ring's use of it (the loop ends at EOF).
                unsafe { ring.push(&sqe) }.unwrap();
                armed += 1;
            }
            zcrx.flush().unwrap();
            ring.submit_and_wait(1).unwrap();
            // The whole batch, also past the end: a stale entry may follow.
            let batch: Vec<_> = ring.completions().collect();
            for c in batch {
                assert_eq!(c.user_data, user_data);
                if c.more() {
                    assert!(!eof, "round {round}: data after the end ({c:?})");
                    let z = c.zcrx().expect("a RECV_ZC data completion");
                    // SAFETY: a data completion of the request in flight on
                    // `ring`, on which `zcrx` is registered, reaped once.
                    let buf = unsafe { zcrx.buf_from_completion(c.res, z.off) }.unwrap();
                    common::check(&buf, got);
                    got += buf.len() as u64;
                    continue;
                }
                assert_eq!(
                    armed, 1,
                    "round {round}: a second end of one receive ({c:?})"
                );
                armed -= 1;
                match c.res {
                    0 => eof = true,
                    r if r == -libc::ENOSPC => full += 1,
                    r => panic!("round {round}: the receive ended with {r}"),
                }
            }
        }
        assert_eq!(got, 1 << 20);
        sender.join().unwrap();
    }
    // The case in question: the ring did fill (receives ended with ENOSPC).
    assert!(full > 0, "the completion ring never filled in 20 streams");
    println!("mixed ring: {full} receives ended with ENOSPC over 20 streams, each ended once");
}

#[test]
fn holding_every_buffer_exhausts_then_recovers() {
    require_nodev!();
    const TOTAL: u64 = 2 << 20;
    let mut ring = ring::<Cqe32>(16);
    let zcrx = nodev(8).register(&ring).unwrap();
    let (client, server) = tcp_pair();
    let sender = send_pattern(client, TOTAL);
    let mut rx = Receiver::new(&mut ring);
    rx.add(&zcrx, &server, None).unwrap();
    let mut held = Vec::new();
    let mut got = 0u64;
    let mut exhausted = 0;
    loop {
        match rx.recv().unwrap() {
            Recv::Data { buf, .. } => {
                assert_eq!(buf[0], pattern(got));
                got += buf.len() as u64;
                held.push(buf);
            }
            Recv::BuffersExhausted => {
                exhausted += 1;
                assert_eq!(zcrx.held(), zcrx.buffers(), "every buffer is ours");
                held.clear(); // give them all back: the loop must recover
            }
            Recv::Eof { .. } => break,
            other => panic!("unexpected event {other:?}"),
        }
    }
    drop(held);
    sender.join().unwrap();
    assert_eq!(got, TOTAL);
    assert!(
        exhausted > 0,
        "holding 8 buffers of a 2 MiB stream must exhaust them"
    );
}

#[test]
fn tiny_completion_ring_overflows_and_recovers() {
    require_nodev!();
    const TOTAL: u64 = 4 << 20;
    let mut ring = Ring::<Cqe32>::builder(1).cq_entries(2).build().unwrap();
    let zcrx = nodev(256).register(&ring).unwrap();
    let (client, server) = tcp_pair();
    let sender = send_pattern(client, TOTAL);
    // Let data pile up so one receive produces more completions than fit.
    thread::sleep(Duration::from_millis(200));
    let mut rx = Receiver::new(&mut ring);
    rx.add(&zcrx, &server, None).unwrap();
    receive_all(&mut rx, TOTAL);
    sender.join().unwrap();
}

#[test]
fn eof_and_limit() {
    require_nodev!();
    let mut ring = ring::<Cqe32>(8);
    let zcrx = nodev(16).register(&ring).unwrap();
    // An empty stream: EOF straight away.
    let (client, server) = tcp_pair();
    drop(client);
    let mut rx = Receiver::new(&mut ring);
    let conn = rx.add(&zcrx, &server, None).unwrap();
    match rx.recv().unwrap() {
        Recv::Eof { conn: c } => assert_eq!(c, conn),
        other => panic!("expected EOF, got {other:?}"),
    }
    // A byte limit.
    let (client, server) = tcp_pair();
    let sender = send_pattern(client, 100_000);
    let conn = rx.add(&zcrx, &server, Some(10_000)).unwrap();
    let mut got = 0;
    loop {
        match rx.recv().unwrap() {
            Recv::Data { buf, .. } => got += buf.len(),
            Recv::LimitReached { conn: c } => {
                assert_eq!(c, conn);
                break;
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert_eq!(got, 10_000);
    sender.join().unwrap();
}

#[test]
fn two_instances_on_one_ring() {
    require_nodev!();
    let mut ring = ring::<Cqe32>(16);
    let a = nodev(16).register(&ring).unwrap();
    let b = nodev(16).register(&ring).unwrap();
    let (ca, sa) = tcp_pair();
    let (cb, sb) = tcp_pair();
    let ta = send_pattern(ca, 500_000);
    let tb = send_pattern(cb, 700_000);
    let mut rx = Receiver::new(&mut ring);
    let conn_a = rx.add(&a, &sa, None).unwrap();
    let conn_b = rx.add(&b, &sb, None).unwrap();
    let (mut got_a, mut got_b, mut eofs) = (0u64, 0u64, 0);
    while eofs < 2 {
        match rx.recv().unwrap() {
            Recv::Data { conn, buf } => {
                let got = if conn == conn_a {
                    &mut got_a
                } else {
                    &mut got_b
                };
                assert_eq!(buf[0], pattern(*got));
                *got += buf.len() as u64;
            }
            Recv::Eof { .. } => eofs += 1,
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert_eq!((got_a, got_b), (500_000, 700_000));
    assert!(conn_a != conn_b);
    ta.join().unwrap();
    tb.join().unwrap();
}

#[test]
fn export_and_import_into_a_second_ring() {
    require_nodev!();
    let caps = Capabilities::query();
    require!(
        caps.zcrx().is_ok_and(|z| z.supports_import()),
        "{}",
        lacks("ZCRX_REG_IMPORT")
    );
    let first = ring::<Cqe32>(8);
    let mut second = ring::<Cqe32>(8);
    let zcrx = nodev(32).register(&first).unwrap();
    let imported = zcrx.import_into(&second).unwrap();
    assert!(imported.is_imported_into(&second));
    let (client, server) = tcp_pair();
    let sender = send_pattern(client, 1 << 20);
    let mut rx = Receiver::new(&mut second);
    rx.add_imported(&imported, &server, None).unwrap();
    receive_all(&mut rx, 1 << 20);
    sender.join().unwrap();
    drop(first);
}

#[test]
fn two_areas_on_one_instance() {
    require_nodev!();
    let caps = Capabilities::query();
    let z = *caps.zcrx().unwrap();
    let ring0 = ring::<Cqe32>(8);
    let builder = nodev(8).area(Area::anonymous(8 * PAGE).unwrap());
    if !z.supports_ctrl(ZCRX_CTRL_ADD_AREA) {
        // 7.2: a typed "unsupported", before any system call.
        let err = builder.register(&ring0).unwrap_err();
        assert_eq!(
            err,
            Error::unsupported(
                "ZCRX_CTRL_ADD_AREA",
                Some(zcrx_uapi::abi::KernelVersion::new(7, 3))
            )
        );
        return;
    }
    let mut ring = ring0;
    let zcrx = builder.register(&ring).unwrap();
    assert_eq!(zcrx.area_count(), 2);
    assert_eq!(zcrx.buffers(), 16);
    let (client, server) = tcp_pair();
    let sender = send_pattern(client, 2 << 20);
    let mut rx = Receiver::new(&mut ring);
    rx.add(&zcrx, &server, None).unwrap();
    let mut areas_seen = [false; 2];
    let mut got = 0u64;
    let mut held = Vec::new();
    loop {
        match rx.recv().unwrap() {
            Recv::Data { buf, .. } => {
                areas_seen[buf.area_id() as usize] = true;
                assert_eq!(buf[0], pattern(got));
                got += buf.len() as u64;
                // Hold a few so the kernel must use the second area too.
                held.push(buf);
                if held.len() > 10 {
                    held.clear();
                }
            }
            Recv::Eof { .. } => break,
            Recv::BuffersExhausted => held.clear(),
            other => panic!("unexpected event {other:?}"),
        }
    }
    drop(held);
    assert_eq!(got, 2 << 20);
    assert_eq!(areas_seen, [true, true], "completions from both areas");
    sender.join().unwrap();
}

#[test]
fn views_dropped_on_another_thread_come_back() {
    require_nodev!();
    const TOTAL: u64 = 4 << 20;
    let mut ring = ring::<Cqe32>(16);
    let zcrx = nodev(16).register(&ring).unwrap();
    let (client, server) = tcp_pair();
    let sender = send_pattern(client, TOTAL);
    let (tx, worker_rx) = std::sync::mpsc::channel::<(u64, zcrx_ring::SharedBuf)>();
    let worker = thread::spawn(move || {
        let mut bytes = 0u64;
        for (offset, buf) in worker_rx {
            for (i, &b) in buf.iter().enumerate() {
                assert_eq!(b, pattern(offset + i as u64));
            }
            bytes += buf.len() as u64;
            // Dropped here, on the worker thread.
        }
        bytes
    });
    let mut rx = Receiver::new(&mut ring);
    rx.add(&zcrx, &server, None).unwrap();
    let mut got = 0u64;
    loop {
        match rx.recv().unwrap() {
            Recv::Data { buf, .. } => {
                let len = buf.len() as u64;
                tx.send((got, buf.into_shared())).unwrap();
                got += len;
            }
            Recv::BuffersExhausted => thread::sleep(Duration::from_millis(1)),
            Recv::Eof { .. } => break,
            other => panic!("unexpected event {other:?}"),
        }
    }
    drop(tx);
    assert_eq!(worker.join().unwrap(), TOTAL);
    sender.join().unwrap();
    zcrx.publish();
    assert_eq!(zcrx.held(), 0, "every shared view came back");
}

#[test]
fn refusals_map_to_typed_errors() {
    require_nodev!();
    // A ring without DEFER_TASKRUN: refused before the system call...
    let plain = Ring::<Cqe32>::builder(4)
        .defer_taskrun(false)
        .build()
        .unwrap();
    let err = nodev(4).register(&plain).unwrap_err();
    assert_eq!(
        err,
        Error::RingSetup {
            missing: zcrx_uapi::SetupFlags::DEFER_TASKRUN
        }
    );
    assert!(
        err.to_string().contains("IORING_SETUP_DEFER_TASKRUN"),
        "{err}"
    );
    // ...and by the kernel (EINVAL) when only the fd is known.
    let err = nodev(4).register_fd(plain.as_fd()).unwrap_err();
    assert_eq!(err.errno(), Some(Errno::INVAL), "{err}");
    // Sizes checked before any system call.
    let ring = ring::<Cqe32>(4);
    let err = nodev(4).rq_entries(40000).register(&ring).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidConfig {
                field: "rq_entries",
                ..
            }
        ),
        "{err}"
    );
    let err = nodev(4).rx_buf_len(8192).register(&ring).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidConfig {
                field: "rx_buf_len",
                ..
            }
        ),
        "{err}"
    );
    let err = Zcrx::builder_nodev().register(&ring).unwrap_err();
    assert!(
        matches!(err, Error::InvalidConfig { field: "areas", .. }),
        "{err}"
    );
    // Arming an event type that has not fired: the kernel's EINVAL.
    let caps = Capabilities::query();
    if caps.zcrx().is_ok_and(|z| z.supports_events()) {
        let zcrx = nodev(4)
            .events(EventConfig {
                user_data: 7,
                mask: ZcrxEventMask::COPY,
                stats: StatsPlacement::None,
            })
            .register(&ring)
            .unwrap();
        let err = zcrx.arm_event(ZCRX_EVENT_COPY).unwrap_err();
        assert_eq!(err.errno(), Some(Errno::INVAL), "{err}");
        // A stats offset computed the 7.2 way on a kernel with a larger
        // header is refused with ERANGE by the kernel (our check is skipped).
        let z = *caps.zcrx().unwrap();
        if z.rq_hdr_size > 64 {
            let entries_72_style = 64 + 16 * 64;
            let err = nodev(4)
                .rq_entries(64)
                .events(EventConfig {
                    user_data: 7,
                    mask: ZcrxEventMask::COPY,
                    stats: StatsPlacement::At(entries_72_style),
                })
                .unchecked()
                .register(&ring)
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidConfig {
                        field: "stats_offset",
                        ..
                    }
                ),
                "{err}"
            );
        }
    }
}

#[test]
fn missing_cap_net_admin_is_permission_denied() {
    require_nodev!();
    // Capabilities are per thread: drop CAP_NET_ADMIN in a fresh one.
    let handle = thread::spawn(|| {
        common::drop_caps(rustix::thread::CapabilitySet::NET_ADMIN);
        let ring = ring::<Cqe32>(4);
        nodev(4).register(&ring).unwrap_err()
    });
    let err = handle.join().unwrap();
    assert_eq!(
        err,
        Error::PermissionDenied {
            op: "IORING_REGISTER_ZCRX_IFQ",
            capability: "CAP_NET_ADMIN"
        }
    );
}

#[test]
fn dropping_in_any_order_is_safe() {
    require_nodev!();
    // A sender that tolerates the receiver going away mid-stream.
    // 1. Instance dropped before its ring, with a receive in flight and
    //    shared views that outlive both: the views still read their data.
    let mut kept = Vec::new();
    {
        let mut ring = ring::<Cqe32>(8);
        let zcrx = nodev(16).register(&ring).unwrap();
        let (client, server) = tcp_pair();
        let sender = common::lenient_sender(client, 0, 8 << 20);
        {
            let mut rx = Receiver::new(&mut ring);
            rx.add(&zcrx, &server, None).unwrap();
            let mut got = 0u64;
            while kept.len() < 4 {
                match rx.recv().unwrap() {
                    Recv::Data { buf, .. } => {
                        let len = buf.len() as u64;
                        kept.push((got, buf.into_shared()));
                        got += len;
                    }
                    other => panic!("unexpected event {other:?}"),
                }
            }
        } // the receiver cancels its request
        drop(zcrx);
        drop(ring);
        drop(server);
        sender.join().unwrap();
    }
    for (off, buf) in &kept {
        for (i, &b) in buf.iter().enumerate() {
            assert_eq!(b, pattern(off + i as u64));
        }
    }
    drop(kept); // returns into an instance that is gone: nothing happens

    // 2. Ring dropped before the instance, views dropped last.
    {
        let mut ring = ring::<Cqe32>(8);
        let zcrx = nodev(16).register(&ring).unwrap();
        let (client, server) = tcp_pair();
        let sender = common::lenient_sender(client, 0, 1 << 20);
        let mut shared = Vec::new();
        {
            let mut rx = Receiver::new(&mut ring);
            rx.add(&zcrx, &server, None).unwrap();
            if let Recv::Data { buf, .. } = rx.recv().unwrap() {
                shared.push(buf.into_shared());
            }
        }
        drop(ring);
        drop(server);
        drop(zcrx);
        drop(shared);
        sender.join().unwrap();
    }

    // 3. Everything still works afterwards.
    let mut ring = ring::<Cqe32>(8);
    let zcrx = nodev(16).register(&ring).unwrap();
    let (client, server) = tcp_pair();
    let sender = send_pattern(client, 1 << 20);
    let mut rx = Receiver::new(&mut ring);
    rx.add(&zcrx, &server, None).unwrap();
    receive_all(&mut rx, 1 << 20);
    sender.join().unwrap();
}

/// The typed capabilities match what each kernel is known to answer
/// (zcrx-facts: 6.18 host, 6.19, 7.2 and 7.3 guests). Runs everywhere.
#[test]
fn capabilities_match_the_kernel() {
    use zcrx_ring::caps::QueryError;
    use zcrx_uapi::abi::KernelVersion;
    let caps = Capabilities::query();
    let version = zcrx_testkit::kernel_version();
    if version < (6, 18) {
        assert!(matches!(caps.opcodes(), Err(QueryError::Unsupported(_))));
        return;
    }
    let ops = caps.opcodes().expect("6.18 has IO_URING_QUERY_OPCODES");
    assert!(ops.has_opcode(zcrx_uapi::IORING_OP_RECV_ZC));
    match caps.zcrx() {
        Err(QueryError::Unsupported(u)) => {
            assert!(version < (6, 19), "{version:?}");
            assert_eq!(u.what, "IO_URING_QUERY_ZCRX");
            assert_eq!(u.needs, Some(KernelVersion::new(6, 19)));
        }
        Err(e) => panic!("{e}"),
        Ok(z) => {
            assert!(version >= (6, 19));
            assert!(z.supports_import());
            assert_eq!(z.rq_hdr_alignment, 64);
            assert_eq!(z.supports_nodev(), version >= (7, 1));
            assert_eq!(z.supports_events(), version >= (7, 2));
            assert_eq!(z.supports_ctrl(ZCRX_CTRL_ADD_AREA), version >= (7, 3));
            if version >= (7, 3) {
                assert_eq!((z.rq_hdr_size, z.nr_ctrl_opcodes), (128, 4));
            } else if version >= (7, 2) {
                assert_eq!((z.rq_hdr_size, z.nr_ctrl_opcodes), (8, 3));
            }
        }
    }
    match caps.zcrx_event() {
        Ok(e) => {
            assert!(version >= (7, 2));
            assert_eq!((e.stats_size, e.stats_off_alignment), (16, 8));
            assert_eq!(
                e.event_flags,
                ZcrxEventMask::ALLOC_FAIL | ZcrxEventMask::COPY
            );
        }
        Err(QueryError::Unsupported(u)) => {
            assert!(version < (7, 2));
            assert_eq!(u.needs, Some(KernelVersion::new(7, 2)));
        }
        Err(e) => panic!("{e}"),
    }
}

/// NIC mode on `lo`: the loopback device has no DMA queue, so the kernel
/// refuses it, and the refusal names the cause.
#[test]
fn nic_mode_on_loopback_is_a_typed_refusal() {
    require!(
        Capabilities::query().zcrx().is_ok(),
        "{}",
        lacks("IO_URING_QUERY_ZCRX")
    );
    require!(
        zcrx_testkit::has_cap_net_admin(),
        "needs CAP_NET_ADMIN (run as root)"
    );
    let ring = ring::<Cqe32>(4);
    let err = Zcrx::builder_nic_named("lo", 0)
        .unwrap()
        .area(Area::anonymous(4 * PAGE).unwrap())
        .register(&ring)
        .unwrap_err();
    assert!(err.is_unsupported(), "{err}");
    let err = Zcrx::builder_nic_named("no-such-if0", 0).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidConfig {
                field: "interface name",
                ..
            }
        ),
        "{err}"
    );
}

/// The ZCRX parts on a ring driven by someone else: registration by fd,
/// hand-made RECV_ZC submissions, completions turned into views by hand.
#[test]
fn a_ring_driven_by_other_code() {
    require_nodev!();
    const TOTAL: u64 = 2 << 20;
    let mut ring = ring::<Cqe32>(16);
    let zcrx = nodev(32).register_fd(ring.as_fd()).unwrap();
    let (client, server) = tcp_pair();
    let sender = send_pattern(client, TOTAL);
    let submit = |ring: &mut Ring<Cqe32>| {
        let mut sqe = zcrx_uapi::io_uring_sqe::default();
        zcrx_ring::ring::opcode::prep_recv_zc(
            &mut sqe,
            rustix::fd::AsFd::as_fd(&server),
            zcrx.id(),
            0,
            42,
        );
        // SAFETY: a RECV_ZC into a registered area carries no user pointer.
        unsafe { ring.push(&sqe) }.unwrap();
    };
    submit(&mut ring);
    let mut got = 0u64;
    'outer: loop {
        zcrx.prepare_wait(false).unwrap();
        ring.submit_and_wait(1).unwrap();
        let batch: Vec<_> = ring.completions().collect();
        for c in batch {
            assert_eq!(c.user_data, 42);
            if c.res > 0 {
                let z = c.zcrx().expect("32-byte completion");
                // SAFETY: a RECV_ZC data completion of `zcrx` (submitted
                // with its id on the ring it is registered on), reaped here
                // and turned into a view once.
                let buf = unsafe { zcrx.buf_from_completion(c.res, z.off) }.unwrap();
                assert_eq!(buf[0], pattern(got));
                got += buf.len() as u64;
            } else if c.res == 0 {
                break 'outer;
            } else if !c.more() {
                // ENOMEM/ENOSPC: give buffers back and re-arm.
                zcrx.prepare_wait(true).unwrap();
            }
            if !c.more() {
                submit(&mut ring);
            }
        }
    }
    assert_eq!(got, TOTAL);
    sender.join().unwrap();
}

/// On kernels without NODEV (the 6.19 guest, the 6.18 host) registration
/// fails with a typed "unsupported" naming what is missing.
#[test]
fn degrade_without_nodev() {
    if nodev_supported() {
        return; // covered by the tests above
    }
    let Ok(ring) = Ring::<Cqe32>::builder(4).build() else {
        return; // no io_uring at all: nothing to degrade
    };
    let err = nodev(4).register(&ring).unwrap_err();
    let text = err.to_string();
    match Capabilities::query().zcrx() {
        Ok(_) => assert_eq!(
            err,
            Error::unsupported(
                "ZCRX_REG_NODEV",
                Some(zcrx_uapi::abi::KernelVersion::new(7, 1))
            )
        ),
        Err(_) => assert!(err.is_unsupported(), "{text}"),
    }
    assert!(text.contains("needs Linux >="), "{text}");
}

/// The batch path (`Receiver::recv_batch`): every ready data completion to
/// the closure, buffers back in one go; two sockets at once, each stream
/// byte-exact, the end of each reported as an event.
#[test]
fn batches_of_data_arrive_intact() {
    require_nodev!();
    const A: u64 = 24 << 20;
    const B: u64 = 8 << 20;
    let mut ring = ring::<Cqe32>(64);
    let zcrx = nodev(64).register(&ring).unwrap();
    let (ca, sa) = tcp_pair();
    let (cb, sb) = tcp_pair();
    let ta = send_pattern(ca, A);
    let tb = send_pattern(cb, B);
    let mut rx = Receiver::new(&mut ring);
    let conn_a = rx.add(&zcrx, &sa, None).unwrap();
    let conn_b = rx.add(&zcrx, &sb, None).unwrap();
    let (mut got, mut calls, mut chunks, mut eofs) = ([0u64; 2], 0u64, 0u64, 0);
    while eofs < 2 {
        calls += 1;
        let event = rx
            .recv_batch(|conn, data| {
                let i = usize::from(conn != conn_a);
                assert!(conn == conn_a || conn == conn_b);
                common::check(data, got[i]);
                got[i] += data.len() as u64;
                chunks += 1;
            })
            .unwrap();
        match event {
            None => {}
            Some(Recv::Eof { .. }) => eofs += 1,
            Some(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, [A, B]);
    assert!(
        chunks > calls,
        "{chunks} chunks in {calls} calls: no batching"
    );
    assert_eq!(zcrx.held(), 0);
    ta.join().unwrap();
    tb.join().unwrap();
}
