//! Guest test (`cargo xtask vm-test`: Linux 7.3 and 7.2 with
//! `ZCRX_REQUIRE_KERNEL=1`; skips with the reason on the host and on 6.19):
//! ZCRX embedded in a ring of the `io-uring` crate. The crate owns the ring:
//! it submits every request and reaps every completion; `zcrx-ring`
//! registers the instance, prepares the receive's SQEs and turns the
//! completions into views; `zcrx-notif` routes the notifications.
//!
//! - a 64 MiB random stream arrives byte-exact (SHA-256 of both sides)
//!   through 64 buffers recycled hundreds of times, a copy-fallback
//!   notification arrives and is re-armed (and arrives again), the stats
//!   count the copies, a request of the caller's own passes through, and
//!   `close` hands it back;
//! - holding every buffer: the receive ends with `ENOMEM`, the receiver
//!   says it is exhausted and re-arms once the buffers are back;
//! - a two-entry completion ring: receives end with `ENOSPC` and are
//!   re-armed, the stream arrives intact;
//! - instances of other rings, and rings without the flags ZCRX needs, are
//!   refused with typed errors;
//! - a receiver dropped with its request in flight cancels it, and the next
//!   receiver on the ring never takes its completions for its own;
//! - the example program `zcrx-io-uring`.
//!
//! The stream runs in [`Mode::Nodev`] (loopback); a NIC mode needs only a
//! new [`Mode`] (its builder and its connected pair).

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, SystemTime};

use io_uring::{IoUring, cqueue, opcode, squeue};
use sha2::{Digest, Sha256};
use zcrx_notif::{
    Delivery, NotificationKind, NotificationMask, Notifier, NotifyConfig, StatsSnapshot, Support,
    ZcrxBuilderExt,
};
use zcrx_ring::caps::Capabilities;
use zcrx_ring::io_uring::{IoUringReceiver, builder};
use zcrx_ring::{Area, Error, Recv, Ring, Zcrx, ZcrxBuilder};
use zcrx_testkit::{has_cap_net_admin, lacks, require};

const PAGE: usize = 4096;
const NOTIF: u64 = 0xfeed_0000_0000_0001;
/// `user_data` of the test's own request on the ring.
const OWN: u64 = 42;

type Uring = IoUring<squeue::Entry, cqueue::Entry32>;

macro_rules! require_nodev {
    () => {
        let caps = Capabilities::query();
        let zcrx = caps.zcrx();
        require!(zcrx.is_ok(), "{}", zcrx.as_ref().unwrap_err());
        require!(
            zcrx.is_ok_and(|z| z.supports_nodev()),
            "{}",
            lacks("ZCRX_REG_NODEV")
        );
        require!(has_cap_net_admin(), "needs CAP_NET_ADMIN");
    };
}

/// What the instance receives from, and how the test connects.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// No device: any TCP socket, here on loopback (Linux 7.1).
    Nodev,
}

impl Mode {
    fn builder(self, buffers: usize) -> ZcrxBuilder {
        match self {
            Mode::Nodev => Zcrx::builder_nodev().area(Area::anonymous(buffers * PAGE).unwrap()),
        }
    }

    /// A connected pair: (sending side, receiving side).
    fn pair(self) -> (TcpStream, TcpStream) {
        match self {
            Mode::Nodev => {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
                let (server, _) = listener.accept().unwrap();
                (client, server)
            }
        }
    }
}

/// SplitMix64.
struct Random(u64);

impl Random {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// Sends `total` random bytes, then closes; returns their SHA-256.
fn send_random(mut stream: TcpStream, total: u64, seed: u64) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let (mut rng, mut sha) = (Random(seed), Sha256::new());
        let mut buf = vec![0u8; 256 * 1024];
        let mut sent = 0;
        while sent < total {
            let n = (total - sent).min(buf.len() as u64) as usize;
            rng.fill(&mut buf[..n]);
            sha.update(&buf[..n]);
            stream.write_all(&buf[..n]).unwrap();
            sent += n as u64;
        }
        sha.finalize().to_vec()
    })
}

fn ring() -> Uring {
    builder()
        .build(64)
        .expect("io-uring ring with SINGLE_ISSUER | DEFER_TASKRUN | CQE32")
}

/// Queues a NOP of the test's own on the ring (submitted with the next
/// submission).
fn push_own_nop(ring: &mut Uring) {
    let nop = opcode::Nop::new().build().user_data(OWN);
    // SAFETY: a NOP carries no pointer.
    unsafe { ring.submission().push(&nop) }.expect("room for a NOP");
}

#[derive(Debug, Default)]
struct Report {
    bytes: u64,
    sha256: Vec<u8>,
    completions: u64,
    /// Data completions per buffer (area offset / page).
    uses: HashMap<u64, u64>,
    notifications: u32,
    arms: u32,
    /// `user_data` of completions that were neither the receiver's nor
    /// notifications, in order, including those `close` gave back.
    others: Vec<u64>,
    copy_count: u64,
    copy_bytes: u64,
}

/// The io-uring crate's ring receives `total` random bytes in `mode`
/// through `buffers` buffers, with copy-fallback notifications (re-armed by
/// hand, at most `max_arms` times) and stats.
fn stream(mode: Mode, total: u64, buffers: usize, max_arms: u32) -> (Report, Vec<u8>) {
    let mut ring = ring();
    let support = Support::query();
    let cfg = NotifyConfig::new(NOTIF)
        .kinds(NotificationMask::COPY_FALLBACK)
        .stats(true);
    let zcrx = mode
        .builder(buffers)
        .rq_entries(buffers as u32)
        .notifications(&cfg, &support)
        .unwrap()
        .register_io_uring(&ring)
        .unwrap();
    let mut notifier = Notifier::new(&cfg, &support);
    let mut rx = IoUringReceiver::new(&ring).unwrap();
    let (tx, sock) = mode.pair();
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("random stream seed {seed:#x}");
    let sender = send_random(tx, total, seed);
    rx.add(&zcrx, &sock, None).unwrap();

    let mut r = Report::default();
    let mut sha = Sha256::new();
    let mut own_pushed = false;
    'recv: loop {
        rx.prepare(&mut ring).unwrap();
        assert!(!rx.exhausted(), "views are dropped at once");
        if !own_pushed && r.bytes > total / 2 {
            push_own_nop(&mut ring);
            own_pushed = true;
        }
        ring.submit_and_wait(1).unwrap();
        let mut fired = false;
        for cqe in ring.completion() {
            let cqe = match notifier.route(cqe) {
                Delivery::Notification(n) => {
                    assert_eq!(n.kind, NotificationKind::CopyFallback);
                    r.notifications += 1;
                    fired = true;
                    continue;
                }
                Delivery::Other(cqe) => cqe,
            };
            // SAFETY: reaped from `ring`, the receiver's ring, passed once.
            match unsafe { rx.process(&cqe) } {
                Some(Recv::Data { buf, .. }) => {
                    sha.update(&buf[..]);
                    r.bytes += buf.len() as u64;
                    r.completions += 1;
                    *r.uses.entry(buf.area_offset() / PAGE as u64).or_default() += 1;
                }
                Some(Recv::Eof { .. }) => break 'recv,
                Some(Recv::Other(c)) => r.others.push(c.user_data),
                Some(other) => panic!("unexpected event {other:?}"),
                None => {}
            }
        }
        if fired && r.arms < max_arms {
            notifier.arm(&zcrx, NotificationKind::CopyFallback).unwrap();
            r.arms += 1;
        }
    }
    if !own_pushed {
        push_own_nop(&mut ring);
    }
    let stats = StatsSnapshot::read(&zcrx).expect("stats enabled");
    (r.copy_count, r.copy_bytes) = (stats.copy_count, stats.copy_bytes);
    for cqe in rx.close(&mut ring).unwrap() {
        if notifier.route(&cqe).notification().is_some() {
            r.notifications += 1;
        } else {
            r.others.push(cqe.user_data());
        }
    }
    r.sha256 = sha.finalize().to_vec();
    (r, sender.join().unwrap())
}

#[test]
fn io_uring_ring_receives_a_64_mib_random_stream() {
    require_nodev!();
    let support = Support::query();
    require!(
        support.is_available(),
        "{}",
        support.error().map(|e| e.to_string()).unwrap_or_default()
    );
    const TOTAL: u64 = 64 << 20;
    const BUFFERS: usize = 64;
    let (r, sent) = stream(Mode::Nodev, TOTAL, BUFFERS, 3);
    let min_use = r.uses.values().min().copied().unwrap_or(0);
    let max_use = r.uses.values().max().copied().unwrap_or(0);
    eprintln!(
        "io-uring ring: {} bytes in {} completions, sha256 {} ({}), {} of {BUFFERS} buffers \
         used {min_use}..={max_use} times each, {} notifications, {} re-arms, stats: {} copies \
         of {} bytes, own completions {:?}",
        r.bytes,
        r.completions,
        hex(&r.sha256),
        if r.sha256 == sent {
            "matches the sender's"
        } else {
            "DIFFERS"
        },
        r.uses.len(),
        r.notifications,
        r.arms,
        r.copy_count,
        r.copy_bytes,
        r.others
    );
    assert_eq!(r.bytes, TOTAL);
    assert_eq!(hex(&r.sha256), hex(&sent), "the stream arrived altered");
    assert!(r.uses.len() <= BUFFERS);
    let mean = r.completions / r.uses.len() as u64;
    assert!(
        mean >= 10,
        "buffers recycled {mean} times on average, fewer than 10"
    );
    assert!(
        r.notifications >= 2 && r.arms >= 1 && r.notifications <= r.arms + 1,
        "copy-fallback: {} notifications for {} re-arms",
        r.notifications,
        r.arms
    );
    assert!(r.copy_count > 0 && r.copy_bytes > 0 && r.copy_bytes <= TOTAL);
    assert_eq!(r.others, [OWN], "the test's own NOP passes through, once");
}

#[test]
fn io_uring_ring_holding_every_buffer_exhausts_then_recovers() {
    require_nodev!();
    const TOTAL: u64 = 1 << 20;
    const BUFFERS: usize = 16;
    let mut ring = ring();
    let zcrx = Mode::Nodev
        .builder(BUFFERS)
        .register_io_uring(&ring)
        .unwrap();
    let mut rx = IoUringReceiver::new(&ring).unwrap();
    let (tx, sock) = Mode::Nodev.pair();
    let sender = send_random(tx, TOTAL, 7);
    rx.add(&zcrx, &sock, None).unwrap();
    let (mut held, mut sha, mut got, mut exhausted) = (Vec::new(), Sha256::new(), 0u64, 0u32);
    'recv: loop {
        rx.prepare(&mut ring).unwrap();
        if rx.exhausted() {
            // Every buffer is ours and nothing is in flight: give them back.
            assert!(zcrx.held() >= zcrx.buffers());
            exhausted += 1;
            held.clear();
            continue;
        }
        ring.submit_and_wait(1).unwrap();
        for cqe in ring.completion() {
            // SAFETY: reaped from `ring`, the receiver's ring, passed once.
            match unsafe { rx.process(&cqe) } {
                Some(Recv::Data { buf, .. }) => {
                    sha.update(&buf[..]);
                    got += buf.len() as u64;
                    held.push(buf);
                }
                Some(Recv::Eof { .. }) => break 'recv,
                Some(other) => panic!("unexpected event {other:?}"),
                None => {}
            }
        }
    }
    drop(held);
    assert!(rx.close(&mut ring).unwrap().is_empty());
    eprintln!("{got} bytes, exhausted {exhausted} times");
    assert_eq!(got, TOTAL);
    assert_eq!(sha.finalize().to_vec(), sender.join().unwrap());
    assert!(exhausted >= 1, "the receive never ran out of buffers");
    assert_eq!(zcrx.held(), 0);
}

#[test]
fn io_uring_ring_tiny_completion_ring_overflows_and_recovers() {
    require_nodev!();
    const TOTAL: u64 = 4 << 20;
    // One SQE, two 32-byte CQEs: a receive of data that piled up posts more
    // completions than fit, ends with ENOSPC and is re-armed.
    let mut ring: Uring = builder().setup_cqsize(2).build(1).unwrap();
    let zcrx = Mode::Nodev.builder(256).register_io_uring(&ring).unwrap();
    let (tx, sock) = Mode::Nodev.pair();
    let sender = send_random(tx, TOTAL, 11);
    thread::sleep(Duration::from_millis(200));
    let mut rx = IoUringReceiver::new(&ring).unwrap();
    rx.add(&zcrx, &sock, None).unwrap();
    let (mut sha, mut got, mut arms) = (Sha256::new(), 0u64, 0usize);
    'recv: loop {
        let queued = ring.submission().len();
        rx.prepare(&mut ring).unwrap();
        arms += ring.submission().len() - queued;
        ring.submit_and_wait(1).unwrap();
        for cqe in ring.completion() {
            // SAFETY: reaped from `ring`, the receiver's ring, passed once.
            match unsafe { rx.process(&cqe) } {
                Some(Recv::Data { buf, .. }) => {
                    sha.update(&buf[..]);
                    got += buf.len() as u64;
                }
                Some(Recv::Eof { .. }) => break 'recv,
                Some(other) => panic!("unexpected event {other:?}"),
                None => {}
            }
        }
    }
    assert!(rx.close(&mut ring).unwrap().is_empty());
    eprintln!("{got} bytes through a 2-entry completion ring, {arms} receives armed");
    assert_eq!(got, TOTAL);
    assert_eq!(sha.finalize().to_vec(), sender.join().unwrap());
    assert!(
        arms >= 2,
        "never re-armed: no receive ended before the stream did"
    );
}

#[test]
fn io_uring_ring_refuses_other_rings_instances_and_missing_flags() {
    require_nodev!();
    let a = ring();
    let b = ring();
    let own: Ring = Ring::new(8).unwrap();
    let zcrx_own = Mode::Nodev.builder(4).register(&own).unwrap();
    let zcrx_a = Mode::Nodev.builder(4).register_io_uring(&a).unwrap();
    let (_tx, sock) = Mode::Nodev.pair();
    let mut rx_b = IoUringReceiver::new(&b).unwrap();
    assert_eq!(rx_b.add(&zcrx_a, &sock, None), Err(Error::WrongRing));
    assert_eq!(rx_b.add(&zcrx_own, &sock, None), Err(Error::WrongRing));
    let mut rx_a = IoUringReceiver::new(&a).unwrap();
    rx_a.add(&zcrx_a, &sock, None).unwrap();
    // Nothing was armed: nothing to wait for.
    assert!(rx_a.is_finished());
    // Its SQEs go only to its own ring.
    let mut b = b;
    assert_eq!(rx_a.prepare(&mut b), Err(Error::WrongRing));
    assert_eq!(b.submission().len(), 0);

    let plain: Uring = IoUring::builder().build(8).unwrap();
    let err = Mode::Nodev
        .builder(4)
        .register_io_uring(&plain)
        .unwrap_err();
    assert!(
        matches!(err, Error::RingSetup { missing } if missing.contains(zcrx_uapi::SetupFlags::DEFER_TASKRUN)),
        "{err}"
    );
    assert!(matches!(
        IoUringReceiver::new(&plain),
        Err(Error::RingSetup { .. })
    ));
}

#[test]
fn io_uring_ring_dropped_receivers_completions_never_reach_the_next() {
    require_nodev!();
    let mut ring = ring();
    let zcrx = Mode::Nodev.builder(64).register_io_uring(&ring).unwrap();

    // The first receiver arms its request, takes some data, and is dropped
    // with the request in flight and a stream still coming.
    let (mut tx1, sock1) = Mode::Nodev.pair();
    let first_tag_epoch;
    {
        let mut rx1 = IoUringReceiver::new(&ring).unwrap();
        rx1.add(&zcrx, &sock1, None).unwrap();
        tx1.write_all(&[1u8; 8192]).unwrap();
        let mut got = 0;
        let mut seen = None;
        while got == 0 {
            rx1.prepare(&mut ring).unwrap();
            ring.submit_and_wait(1).unwrap();
            for cqe in ring.completion() {
                seen.get_or_insert(cqe.user_data() >> 32);
                // SAFETY: reaped from `ring`, the receiver's ring, passed once.
                if let Some(Recv::Data { buf, .. }) = unsafe { rx1.process(&cqe) } {
                    got += buf.len();
                }
            }
        }
        first_tag_epoch = seen.unwrap();
        assert!(!rx1.is_finished());
    }
    // Its request was cancelled: more data on its socket arrives nowhere.
    let _ = tx1.write_all(&[2u8; 8192]);

    let mut rx2 = IoUringReceiver::new(&ring).unwrap();
    let (tx2, sock2) = Mode::Nodev.pair();
    let sender = send_random(tx2, 4 << 20, 9);
    let conn = rx2.add(&zcrx, &sock2, None).unwrap();
    let (mut sha, mut got, mut stale) = (Sha256::new(), 0u64, Vec::new());
    'recv: loop {
        rx2.prepare(&mut ring).unwrap();
        ring.submit_and_wait(1).unwrap();
        for cqe in ring.completion() {
            // SAFETY: reaped from `ring`, the receiver's ring, passed once.
            match unsafe { rx2.process(&cqe) } {
                Some(Recv::Data { conn: c, buf }) => {
                    assert_eq!(c, conn);
                    sha.update(&buf[..]);
                    got += buf.len() as u64;
                }
                Some(Recv::Eof { .. }) => break 'recv,
                Some(Recv::Other(c)) => {
                    assert_eq!(c.user_data >> 32, first_tag_epoch, "{c:?}");
                    stale.push(c.res);
                }
                Some(other) => panic!("unexpected event {other:?}"),
                None => {}
            }
        }
    }
    assert!(rx2.close(&mut ring).unwrap().is_empty());
    eprintln!("second receiver: {got} bytes; the first's completions: {stale:?}");
    assert_eq!(got, 4 << 20);
    assert_eq!(sha.finalize().to_vec(), sender.join().unwrap());
    assert_eq!(
        stale.last(),
        Some(&-rustix::io::Errno::CANCELED.raw_os_error()),
        "the dropped receiver's request ends cancelled"
    );
}

#[test]
fn io_uring_ring_example_program_receives_intact() {
    require_nodev!();
    let out = common::run("zcrx-io-uring", &["8"], Duration::from_secs(240));
    eprintln!("{}{}", out.stdout, out.stderr);
    assert!(out.status.success(), "{out:?}");
    let line = out.stdout_lines()[0].to_owned();
    assert!(
        line.starts_with("received 8388608 bytes, sha256 "),
        "{line}"
    );
    let (ours, sent) = line.split_once(" (sent ").unwrap();
    assert_eq!(&ours[ours.len() - 64..], sent.trim_end_matches(')'));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
