//! NIC-mode data path over a (simulated) NIC: random streams sent from
//! another network namespace, steered to one rx queue, arrive byte-exact
//! (SHA-256 of both ends) in the area with nothing copied, and the kernel
//! refills from the refill ring by itself (no `ZCRX_CTRL_FLUSH_RQ`): with
//! 4 KiB and 16 KiB buffers, with two areas (Linux 7.3; a typed
//! "unsupported" on 7.2), and through an instance imported into a second
//! ring.
//!
//! The device comes from `zcrx_testkit::nic`: the zcrx-sim module that
//! vm-test loads on 7.3 and 7.2, or a real NIC named by `ZCRX_NIC_*`.

mod nic;

use std::time::Instant;

use nic::{PAGE, Tally, receive_to_end};
use zcrx_ring::caps::Capabilities;
use zcrx_ring::{Area, Error, EventConfig, Receiver, Recv, StatsPlacement, Zcrx};
use zcrx_testkit::nic::{FlowSpec, NicPair, Sent, StreamDigest, hex};
use zcrx_testkit::{kernel_at_least, lacks, require};
use zcrx_uapi::{ZCRX_CTRL_ADD_AREA, ZCRX_EVENT_COPY, ZcrxEventMask};

const MIB: u64 = 1 << 20;
const EVENT_TAG: u64 = 0x5eed_0001;

/// Copy-fallback events and stats.
fn copy_events() -> EventConfig {
    EventConfig {
        user_data: EVENT_TAG,
        mask: ZcrxEventMask::COPY,
        stats: StatsPlacement::Auto,
    }
}

/// Stats only.
fn stats_only() -> EventConfig {
    EventConfig {
        user_data: 0,
        mask: ZcrxEventMask::empty(),
        stats: StatsPlacement::Auto,
    }
}

/// Asserts the received digest is the sent one.
#[track_caller]
fn assert_byte_exact(digest: StreamDigest, sent: &Sent) {
    assert_eq!(digest.bytes(), sent.bytes, "bytes received");
    assert_eq!(
        hex(&digest.finish()),
        hex(&sent.sha256),
        "SHA-256 of the {} bytes received",
        sent.bytes
    );
}

/// Asserts nothing was copied: the kernel's stats and its events agree.
#[track_caller]
fn assert_zero_copy(zcrx: &Zcrx, tally: &Tally) {
    let stats = zcrx.stats().expect("registered with stats");
    assert_eq!(stats.copy_count(), 0, "copy_count");
    assert_eq!(stats.copy_bytes(), 0, "copy_bytes");
    let copies = tally
        .others
        .iter()
        .filter(|c| c.user_data == EVENT_TAG && c.res == ZCRX_EVENT_COPY as i32)
        .count();
    assert_eq!(copies, 0, "copy-fallback events");
    assert!(
        tally.others.is_empty(),
        "unexpected completions: {:?}",
        tally.others
    );
}

#[test]
fn a_64_mib_random_stream_arrives_byte_exact_without_copies_and_the_kernel_refills() {
    const TOTAL: u64 = 64 * MIB;
    const BUFFERS: usize = 256;
    let caps = Capabilities::query();
    require!(
        caps.zcrx_event().is_ok(),
        "{}",
        lacks("IO_URING_QUERY_ZCRX_EVENT")
    );
    let Some(mut nic) = NicPair::acquire_or_skip() else {
        return;
    };
    let Some(queue) = nic::queue(&nic, 0) else {
        return;
    };
    let mut ring = nic::ring();
    let zcrx = Zcrx::builder_nic(nic.ifindex(), queue)
        .area(Area::anonymous(BUFFERS * PAGE).unwrap())
        .rq_entries(BUFFERS as u32)
        .events(copy_events())
        .register(&ring)
        .unwrap_or_else(|e| panic!("registering on {} rx queue {queue}: {e}", nic.ifname()));
    assert!(!zcrx.is_nodev());
    let area_bytes = u64::from(zcrx.buffers()) * u64::from(zcrx.rx_buf_len());
    assert!(
        area_bytes * 32 <= TOTAL,
        "the area must be much smaller than the stream"
    );

    let mut flow = nic
        .open_flow(FlowSpec::new(queue, TOTAL, 0x2c0f_fee5))
        .unwrap();
    let start = Instant::now();
    let mut rx = Receiver::new(&mut ring);
    rx.add(&zcrx, &flow.server, None).unwrap();
    let mut tally = Tally::default();
    let digest = receive_to_end(&mut rx, &zcrx, &mut tally);
    drop(rx);
    let took = start.elapsed();
    let sent = flow.join_sender().unwrap();

    let stats = zcrx.stats().unwrap();
    println!(
        "nic stream: {} rx queue {queue}: {} bytes in {:.1} s, sha256 {}, {} completions \
         (largest {}), copy_count {}, copy_bytes {}, {} of {} buffers of {} bytes used, each \
         {:.1} times on average, ZCRX_CTRL_FLUSH_RQ sent {}",
        nic.ifname(),
        digest.bytes(),
        took.as_secs_f64(),
        hex(&sent.sha256),
        tally.completions,
        tally.largest,
        stats.copy_count(),
        stats.copy_bytes(),
        tally.buffers.len(),
        zcrx.buffers(),
        zcrx.rx_buf_len(),
        tally.reuse(),
        zcrx.flushes()
    );
    assert_byte_exact(digest, &sent);
    assert_zero_copy(&zcrx, &tally);
    // The kernel took the returned buffers from the refill ring itself: the
    // library sent no flush, and the area carried the stream many times.
    assert_eq!(zcrx.flushes(), 0, "ZCRX_CTRL_FLUSH_RQ in NIC mode");
    assert!(tally.buffers.len() <= zcrx.buffers() as usize);
    assert!(
        tally.completions > 16 * u64::from(zcrx.buffers()),
        "{} completions through {} buffers",
        tally.completions,
        zcrx.buffers()
    );
    assert!(tally.largest <= zcrx.rx_buf_len() as usize);
    assert_eq!((zcrx.held(), zcrx.backlog()), (0, 0));
}

#[test]
fn rx_buf_len_16_kib_gives_completions_up_to_16_kib_byte_exact() {
    const BUF: u32 = 16 * 1024;
    const TOTAL: u64 = 16 * MIB;
    let caps = Capabilities::query();
    let rx_page_size = caps.zcrx().is_ok_and(|z| z.supports_rx_buf_len());
    require!(rx_page_size, "{}", lacks("ZCRX_FEATURE_RX_PAGE_SIZE"));
    require!(
        caps.zcrx_event().is_ok(),
        "{}",
        lacks("IO_URING_QUERY_ZCRX_EVENT")
    );
    let Some(mut nic) = NicPair::acquire_or_skip() else {
        return;
    };
    let Some(queue) = nic::queue(&nic, 0) else {
        return;
    };
    // Segments longer than a buffer, so that some fill one completely.
    if nic.is_simulated() {
        nic.set_mtu(32_000).unwrap();
    }
    let mut ring = nic::ring();
    // 16 KiB buffers need 16 KiB of physically contiguous memory each.
    let area = Area::anonymous_huge(4 << 20).unwrap();
    let registered = Zcrx::builder_nic(nic.ifindex(), queue)
        .area(area)
        .rx_buf_len(BUF)
        .events(copy_events())
        .register(&ring);
    // A real NIC's driver may lack QCFG_RX_PAGE_SIZE (gve, fbnic).
    if let Err(e @ Error::Unsupported(_)) = &registered {
        require!(nic.is_simulated(), "{}: 16 KiB buffers: {e}", nic.ifname());
    }
    let zcrx = registered
        .unwrap_or_else(|e| panic!("registering 16 KiB buffers on rx queue {queue}: {e}"));
    assert_eq!(zcrx.rx_buf_len(), BUF);
    assert_eq!(zcrx.buffers(), (4 << 20) / BUF);

    let mut flow = nic
        .open_flow(FlowSpec::new(queue, TOTAL, 0x0016_0000))
        .unwrap();
    let mut rx = Receiver::new(&mut ring);
    rx.add(&zcrx, &flow.server, None).unwrap();
    let mut tally = Tally::default();
    let digest = receive_to_end(&mut rx, &zcrx, &mut tally);
    drop(rx);
    let sent = flow.join_sender().unwrap();
    println!(
        "nic 16 KiB buffers: {} bytes in {} completions, largest {}, {} longer than a page, \
         copy_count {}",
        digest.bytes(),
        tally.completions,
        tally.largest,
        tally.over_a_page,
        zcrx.stats().unwrap().copy_count()
    );
    assert_byte_exact(digest, &sent);
    assert_zero_copy(&zcrx, &tally);
    let mtu: u32 = std::fs::read_to_string(format!("/sys/class/net/{}/mtu", nic.ifname()))
        .ok()
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or(0);
    assert!(tally.largest <= BUF as usize);
    if mtu > BUF + 128 {
        assert_eq!(tally.largest, BUF as usize, "the longest completion");
    } else {
        println!("nic 16 KiB buffers: MTU {mtu}: segments are shorter than a buffer");
    }
    if nic.is_simulated() {
        assert!(
            tally.over_a_page * 2 > tally.completions,
            "{} of {} completions longer than a page",
            tally.over_a_page,
            tally.completions
        );
    }
    assert_eq!(zcrx.flushes(), 0);
}

#[test]
fn two_areas_on_7_3_and_a_typed_unsupported_before() {
    const AREA0: usize = 128;
    const AREA1: usize = 256;
    let caps = Capabilities::query();
    require!(
        caps.zcrx_event().is_ok(),
        "{}",
        lacks("IO_URING_QUERY_ZCRX_EVENT")
    );
    let Some(mut nic) = NicPair::acquire_or_skip() else {
        return;
    };
    let Some(queue) = nic::queue(&nic, 0) else {
        return;
    };
    let add_area = caps
        .zcrx()
        .is_ok_and(|z| z.supports_ctrl(ZCRX_CTRL_ADD_AREA));
    assert_eq!(
        add_area,
        kernel_at_least(7, 3),
        "ZCRX_CTRL_ADD_AREA is in Linux 7.3"
    );
    let mut ring = nic::ring();
    let builder = || {
        Zcrx::builder_nic(nic.ifindex(), queue)
            .area(Area::anonymous(AREA0 * PAGE).unwrap())
            .area(Area::anonymous(AREA1 * PAGE).unwrap())
            .events(copy_events())
    };
    if !add_area {
        let refused = |e: Error| {
            assert!(
                matches!(e, Error::Unsupported(u) if u.what == "ZCRX_CTRL_ADD_AREA"),
                "{e:?}"
            );
            assert!(e.to_string().contains("needs Linux >= 7.3"), "{e}");
        };
        refused(builder().register(&ring).unwrap_err());
        // Refused before the queue was touched: one area binds it, and
        // adding one later is refused the same way.
        let zcrx = Zcrx::builder_nic(nic.ifindex(), queue)
            .area(Area::anonymous(AREA0 * PAGE).unwrap())
            .register(&ring)
            .unwrap();
        refused(
            zcrx.add_area(Area::anonymous(AREA1 * PAGE).unwrap())
                .unwrap_err(),
        );
        assert_eq!(zcrx.area_count(), 1);
        println!("nic two areas: Linux 7.2 refuses the second area: ZCRX_CTRL_ADD_AREA");
        return;
    }
    let zcrx = builder()
        .register(&ring)
        .unwrap_or_else(|e| panic!("registering two areas on rx queue {queue}: {e}"));
    assert_eq!(zcrx.area_count(), 2);
    assert_eq!(zcrx.buffers() as usize, AREA0 + AREA1);

    // A bounded window, so that what TCP holds stays well inside area 1.
    let spec = FlowSpec::new(queue, 8 * MIB, 0x2a_2ea5).rcvbuf(128 * 1024);
    let mut flow = nic.open_flow(spec).unwrap();
    let mut rx = Receiver::new(&mut ring);
    rx.add(&zcrx, &flow.server, None).unwrap();
    let mut tally = Tally::default();
    let mut digest = StreamDigest::new();
    // Hold every view until the kernel has to take buffers from area 1
    // (it allocates from area 0 first), then give them all back.
    let mut held = Vec::new();
    let mut most_held = 0;
    loop {
        match nic::next_event(&mut rx, digest.bytes()) {
            Recv::Data { buf, .. } => {
                tally.count(&buf, zcrx.rx_buf_len(), &mut digest);
                if tally.per_area.contains_key(&1) {
                    held.clear();
                } else {
                    held.push(buf);
                    most_held = most_held.max(held.len());
                }
            }
            Recv::Other(c) => tally.others.push(c),
            Recv::Eof { .. } => break,
            other => panic!("unexpected event: {other:?}"),
        }
    }
    drop(held);
    drop(rx);
    let sent = flow.join_sender().unwrap();
    println!(
        "nic two areas: {} bytes, completions per area {:?}, {most_held} views held before \
         area 1 was used",
        digest.bytes(),
        tally.per_area
    );
    assert_byte_exact(digest, &sent);
    assert_zero_copy(&zcrx, &tally);
    assert!(
        tally.per_area.get(&0).is_some_and(|&n| n > 0)
            && tally.per_area.get(&1).is_some_and(|&n| n > 0),
        "completions per area: {:?}",
        tally.per_area
    );
    assert!(
        most_held >= AREA0 / 2,
        "area 1 used after {most_held} views"
    );
    assert_eq!(zcrx.flushes(), 0);
}

#[test]
fn an_instance_imported_into_a_second_ring_receives_zero_copy() {
    const TOTAL: u64 = 8 * MIB;
    const BUFFERS: usize = 128;
    let caps = Capabilities::query();
    require!(
        caps.zcrx().is_ok_and(|z| z.supports_import()),
        "{}",
        lacks("ZCRX_REG_IMPORT")
    );
    require!(
        caps.zcrx_event().is_ok(),
        "{}",
        lacks("IO_URING_QUERY_ZCRX_EVENT")
    );
    let Some(mut nic) = NicPair::acquire_or_skip() else {
        return;
    };
    let Some(queue) = nic::queue(&nic, 0) else {
        return;
    };
    let owner = nic::ring();
    let zcrx = Zcrx::builder_nic(nic.ifindex(), queue)
        .area(Area::anonymous(BUFFERS * PAGE).unwrap())
        .events(stats_only())
        .register(&owner)
        .unwrap();
    let mut second = nic::ring();
    let imported = zcrx.import_into(&second).unwrap();
    assert!(imported.is_imported_into(&second));
    assert!(!zcrx.is_registered_on(&second));

    // 128 buffers, one segment each: the default window bound keeps TCP
    // well below that (FlowSpec::rcvbuf). Autotuned, the window grew past
    // the area and the flow stalled about once in 20 runs, the area held
    // out of order (SO_MEMINFO rmem_alloc 533,248, nothing readable).
    let spec = FlowSpec::new(queue, TOTAL, 0x1a907);
    let mut flow = nic.open_flow(spec).unwrap();
    let mut rx = Receiver::new(&mut second);
    // The owner's ring cannot take the instance's completions here.
    assert!(matches!(
        rx.add(&zcrx, &flow.server, None),
        Err(Error::WrongRing)
    ));
    rx.add_imported(&imported, &flow.server, None).unwrap();
    let mut tally = Tally::default();
    let digest = receive_to_end(&mut rx, &zcrx, &mut tally);
    drop(rx);
    let sent = flow.join_sender().unwrap();
    println!(
        "nic import: {} bytes through the imported instance (id {} in the second ring, {} in \
         the owner's) in {} completions, {:.1} per buffer, copy_count {}",
        digest.bytes(),
        imported.id(),
        zcrx.id(),
        tally.completions,
        tally.reuse(),
        zcrx.stats().unwrap().copy_count()
    );
    assert_byte_exact(digest, &sent);
    assert_zero_copy(&zcrx, &tally);
    assert_eq!(zcrx.flushes(), 0);
    assert!(tally.completions > 4 * BUFFERS as u64);
    drop(owner);
}
