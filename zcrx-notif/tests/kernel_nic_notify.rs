//! Notifications in NIC mode over a (simulated) NIC, where the kernel's
//! page-pool path runs:
//!
//! - **no-buffers** (`ZCRX_EVENT_ALLOC_FAIL`): with the application holding
//!   every view, the NIC runs out of buffers and the notification fires;
//!   it stays silent (while the NIC keeps failing to allocate) until
//!   re-armed, fires again after the re-arm, and the stream still
//!   completes byte-exact once the buffers come back. The area is several
//!   receive windows (a bounded `SO_RCVBUF`), and the buffers come back
//!   late, not never: with a smaller area TCP's out-of-order queue can hold
//!   every buffer and the stream stalls (see `docs/test-bed.md`).
//! - **stats and both kinds on one instance**: a flow steered to another rx
//!   queue reaches the socket in ordinary pages, so the kernel copies it
//!   (copy-fallback, and the stats count exactly its bytes); a flow on the
//!   bound queue is zero-copy (no copy-fallback although re-armed, stats
//!   unchanged) until the application holds every buffer (no-buffers).
//!
//! The device comes from `zcrx_testkit::nic` (the zcrx-sim module that
//! vm-test loads on 7.3 and 7.2, or a real NIC named by `ZCRX_NIC_*`).

use std::time::{Duration, Instant};

use zcrx_notif::{
    Delivery, NotificationKind, NotificationMask, Notifier, NotifyConfig, StatsSnapshot, Support,
    ZcrxBuilderExt,
};
use zcrx_ring::{Area, Buf, Receiver, Recv, Ring, Zcrx};
use zcrx_testkit::nic::{Flow, FlowSpec, NicPair, StreamDigest, hex};
use zcrx_testkit::require;

use NotificationKind::{CopyFallback, NoBuffers};

const PAGE: usize = 4096;
const MIB: u64 = 1 << 20;
const NOTIF: u64 = 0xfeed;
/// The area: 2 MiB, several times what a 256 KiB receive buffer lets TCP
/// hold.
const AREA_BUFFERS: usize = 512;
const RCVBUF: usize = 256 * 1024;
/// How long the test holds the buffers after no-buffers fired, watching
/// that it stays silent.
const SILENT: Duration = Duration::from_millis(1500);
const STALL: Duration = Duration::from_secs(60);

/// The pair, the support and the bound queue, or `None` after a skip.
fn setup() -> Option<(NicPair, Support, u32, u32)> {
    let support = Support::query();
    if !require(
        support.is_available(),
        &support.error().map(|e| e.to_string()).unwrap_or_default(),
    ) {
        return None;
    }
    let nic = NicPair::acquire_or_skip()?;
    let (Some(&q), Some(&other)) = (nic.queues().first(), nic.queues().get(1)) else {
        require(false, "the tests need two rx queues (ZCRX_NIC_QUEUES)");
        return None;
    };
    Some((nic, support, q, other))
}

fn config() -> NotifyConfig {
    NotifyConfig::new(NOTIF)
        .kinds(NotificationMask::NO_BUFFERS | NotificationMask::COPY_FALLBACK)
        .stats(true)
}

fn register(nic: &NicPair, q: u32, ring: &Ring, cfg: &NotifyConfig, support: &Support) -> Zcrx {
    Zcrx::builder_nic(nic.ifindex(), q)
        .area(Area::anonymous(AREA_BUFFERS * PAGE).unwrap())
        .notifications(cfg, support)
        .unwrap()
        .register(ring)
        .unwrap_or_else(|e| {
            panic!(
                "{} rx queue {q}: {}",
                nic.ifname(),
                cfg.register_error(support, e)
            )
        })
}

/// Frames the simulated NIC dropped (no buffer): its `rx_dropped`.
fn rx_dropped(nic: &NicPair) -> Option<u64> {
    let path = format!("/sys/class/net/{}/statistics/rx_dropped", nic.ifname());
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// What the loop is doing with the views.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// Holding every view until no-buffers fires (the `n`-th time).
    Hold(usize),
    /// Holding on after it fired, watching that it stays silent.
    Silent(Instant),
    /// Giving every view back at once.
    Return,
}

/// One event, or `None` after a second without one (failing after
/// [`STALL`]).
fn next<'z>(
    rx: &mut Receiver<'z>,
    notifier: &mut Notifier,
    since: &mut Instant,
) -> Option<Delivery<Recv<'z>>> {
    match rx.recv_timeout(Duration::from_millis(200)).unwrap() {
        Some(ev) => {
            *since = Instant::now();
            Some(notifier.route_event(ev))
        }
        None => {
            assert!(
                since.elapsed() < STALL,
                "no event for {:?}",
                since.elapsed()
            );
            None
        }
    }
}

/// Receives `flow` to its end; holds the views as `phase` says, and moves
/// through the phases at each no-buffers notification: hold until it
/// fires, hold on [`SILENT`] without it, give back and re-arm, hold until
/// it fires again, give back to the end. Returns the digest and the
/// notifications with the number of views held when each arrived.
fn hold_twice<'z>(
    rx: &mut Receiver<'z>,
    zcrx: &'z Zcrx,
    notifier: &mut Notifier,
    nic: &NicPair,
) -> (StreamDigest, Vec<(NotificationKind, usize)>, Option<u64>) {
    let mut digest = StreamDigest::new();
    let mut held: Vec<Buf<'z>> = Vec::new();
    let mut seen = Vec::new();
    let mut phase = Phase::Hold(1);
    let mut dropped_while_silent = None;
    let mut dropped_at_fire = None;
    let mut since = Instant::now();
    loop {
        if let Phase::Silent(at) = phase {
            if at.elapsed() >= SILENT {
                dropped_while_silent = rx_dropped(nic)
                    .zip(dropped_at_fire)
                    .map(|(now, then)| now - then);
                // Buffers back, notification re-armed: the next hold must
                // make it fire again.
                held.clear();
                notifier.arm(zcrx, NoBuffers).unwrap();
                phase = Phase::Hold(2);
            }
        }
        let Some(delivery) = next(rx, notifier, &mut since) else {
            continue;
        };
        match delivery {
            Delivery::Notification(n) => {
                seen.push((n.kind, held.len()));
                match (n.kind, phase) {
                    (NoBuffers, Phase::Hold(1)) => {
                        dropped_at_fire = rx_dropped(nic);
                        phase = Phase::Silent(Instant::now());
                    }
                    (NoBuffers, Phase::Hold(2)) => {
                        held.clear();
                        phase = Phase::Return;
                    }
                    (kind, phase) => panic!(
                        "{kind} in phase {phase:?} after {} bytes (seen: {seen:?})",
                        digest.bytes()
                    ),
                }
            }
            Delivery::Other(Recv::Data { buf, .. }) => {
                digest.update(&buf);
                if phase != Phase::Return {
                    held.push(buf);
                }
            }
            Delivery::Other(Recv::Eof { .. }) => break,
            Delivery::Other(other) => panic!("unexpected event: {other:?}"),
        }
    }
    assert!(held.is_empty(), "the stream ended while views were held");
    (digest, seen, dropped_while_silent)
}

#[test]
fn no_buffers_fires_stays_silent_until_rearmed_fires_again_and_the_stream_completes() {
    const TOTAL: u64 = 8 * MIB;
    let Some((mut nic, support, q, _)) = setup() else {
        return;
    };
    let cfg = config();
    let mut ring = Ring::new(64).unwrap();
    let zcrx = register(&nic, q, &ring, &cfg, &support);
    let mut notifier = Notifier::new(&cfg, &support);
    let mut flow = nic
        .open_flow(FlowSpec::new(q, TOTAL, 0x0b0f).rcvbuf(RCVBUF))
        .unwrap();
    let mut rx = Receiver::new(&mut ring);
    rx.add(&zcrx, &flow.server, None).unwrap();
    let (digest, seen, dropped_while_silent) = hold_twice(&mut rx, &zcrx, &mut notifier, &nic);
    drop(rx);
    let sent = flow.join_sender().unwrap();
    let stats = StatsSnapshot::read(&zcrx).unwrap();
    println!(
        "nic no-buffers: notifications (kind, views held) {seen:?}; {} frames dropped for want \
         of a buffer in the {SILENT:?} of silence; {} bytes byte-exact (sha256 {}), copy_count \
         {}, ZCRX_CTRL_FLUSH_RQ {}",
        dropped_while_silent.map_or_else(|| "?".to_owned(), |d| d.to_string()),
        digest.bytes(),
        hex(&sent.sha256),
        stats.copy_count,
        zcrx.flushes()
    );
    let kinds: Vec<NotificationKind> = seen.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        kinds,
        [NoBuffers, NoBuffers],
        "fired, then again after re-arm"
    );
    // It fired because the application held the buffers: most of the area.
    for (_, held) in &seen {
        assert!(*held >= AREA_BUFFERS / 2, "fired with {held} views held");
    }
    if nic.is_simulated() {
        // The silence was not for want of trying: the NIC kept failing to
        // allocate (TCP kept retransmitting) while the kernel stayed quiet.
        assert!(
            dropped_while_silent.is_some_and(|d| d > 0),
            "frames dropped while silent: {dropped_while_silent:?}"
        );
    }
    assert_eq!(digest.bytes(), sent.bytes);
    assert_eq!(hex(&digest.finish()), hex(&sent.sha256));
    assert!(stats.is_zero(), "nothing copied: {stats:?}");
    assert_eq!(zcrx.flushes(), 0);
    assert_eq!(zcrx.held(), 0);
}

/// Receives `flow` to its end, giving every view back at once; returns the
/// digest and the notifications.
fn drain<'z>(
    rx: &mut Receiver<'z>,
    notifier: &mut Notifier,
    flow: &mut Flow,
) -> Vec<NotificationKind> {
    let mut digest = StreamDigest::new();
    let mut seen = Vec::new();
    let mut since = Instant::now();
    loop {
        match next(rx, notifier, &mut since) {
            None => {}
            Some(Delivery::Notification(n)) => seen.push(n.kind),
            Some(Delivery::Other(Recv::Data { buf, .. })) => digest.update(&buf),
            Some(Delivery::Other(Recv::Eof { .. })) => break,
            Some(Delivery::Other(other)) => panic!("unexpected event: {other:?}"),
        }
    }
    let sent = flow.join_sender().unwrap();
    assert_eq!(digest.bytes(), sent.bytes);
    assert_eq!(hex(&digest.finish()), hex(&sent.sha256));
    seen
}

#[test]
fn stats_and_both_notification_kinds_on_one_instance() {
    const COPIED: u64 = MIB;
    let Some((mut nic, support, q, other_q)) = setup() else {
        return;
    };
    let cfg = config();
    let mut ring = Ring::new(64).unwrap();
    let zcrx = register(&nic, q, &ring, &cfg, &support);
    let mut notifier = Notifier::new(&cfg, &support);
    let mut rx = Receiver::new(&mut ring);

    // A flow steered to a queue without the provider: copied into the area.
    let mut copied = nic
        .open_flow(FlowSpec::new(other_q, COPIED, 0xc0b1).autotuned())
        .unwrap();
    rx.add(&zcrx, &copied.server, None).unwrap();
    let seen = drain(&mut rx, &mut notifier, &mut copied);
    let after_copy = StatsSnapshot::read(&zcrx).unwrap();
    println!(
        "nic both kinds: a flow on rx queue {other_q}: {seen:?}, stats {after_copy:?} for \
         {COPIED} bytes, {} flushes",
        zcrx.flushes()
    );
    assert_eq!(seen, [CopyFallback], "fires once, not re-armed");
    // The kernel counts the bytes it copies from page fragments only
    // (io_zcrx_copy_frag). A short segment that passed through the socket's
    // backlog or out-of-order queue can have been pulled into its skb's
    // linear part (skb_condense in tcp_add_backlog, tcp_data_queue_ofo), or
    // a small in-order one into such a predecessor's tailroom
    // (skb_try_coalesce), and is then copied uncounted (seen once on 7.2:
    // 176 bytes of 1 MiB). Full segments do not fit there: nearly every byte
    // is counted, none twice.
    assert!(
        after_copy.copy_bytes <= COPIED && after_copy.copy_bytes >= COPIED - COPIED / 16,
        "copied page-fragment bytes {} of {COPIED}",
        after_copy.copy_bytes
    );
    assert!(after_copy.copy_count >= COPIED / 65536, "{after_copy:?}");
    // Each copied segment takes a buffer from the area's free list, and
    // the bound queue (whose page pool would take the returns from the
    // refill ring) is idle: the receive loop flushed the ring to refill the
    // free list.
    let copy_flushes = zcrx.flushes();
    assert!(copy_flushes > 0, "flushes while copying");
    notifier.arm(&zcrx, CopyFallback).unwrap();

    // A flow on the bound queue: zero-copy (copy-fallback armed, silent;
    // stats unchanged) until the application holds every buffer.
    let mut direct = nic
        .open_flow(FlowSpec::new(q, 4 * MIB, 0xd1ec).rcvbuf(RCVBUF))
        .unwrap();
    rx.add(&zcrx, &direct.server, None).unwrap();
    let mut digest = StreamDigest::new();
    let mut held = Vec::new();
    let mut seen = Vec::new();
    let mut since = Instant::now();
    loop {
        match next(&mut rx, &mut notifier, &mut since) {
            None => {}
            Some(Delivery::Notification(n)) => {
                seen.push((n.kind, held.len()));
                held.clear();
            }
            Some(Delivery::Other(Recv::Data { buf, .. })) => {
                digest.update(&buf);
                if seen.is_empty() {
                    held.push(buf);
                }
            }
            Some(Delivery::Other(Recv::Eof { .. })) => break,
            Some(Delivery::Other(other)) => panic!("unexpected event: {other:?}"),
        }
    }
    drop(rx);
    let sent = direct.join_sender().unwrap();
    let end = StatsSnapshot::read(&zcrx).unwrap();
    println!(
        "nic both kinds: a flow on rx queue {q}: {seen:?} (kind, views held), stats {end:?}, {} \
         bytes byte-exact",
        digest.bytes()
    );
    assert_eq!(digest.bytes(), sent.bytes);
    assert_eq!(hex(&digest.finish()), hex(&sent.sha256));
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, NoBuffers);
    assert!(seen[0].1 >= AREA_BUFFERS / 2, "{seen:?}");
    assert_eq!(end, after_copy, "the zero-copy flow copied nothing");
    assert_eq!(
        notifier.armed(),
        NotificationMask::COPY_FALLBACK,
        "copy-fallback still armed, no-buffers fired"
    );
    assert_eq!(
        zcrx.flushes(),
        copy_flushes,
        "no flush on the zero-copy path"
    );
}
