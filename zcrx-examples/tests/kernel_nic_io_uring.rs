//! Guest test (`cargo xtask vm-test`: Linux 7.3 and 7.2 with
//! `ZCRX_REQUIRE_KERNEL=1` and the zcrx-sim module loaded; skips with the
//! reason on the host and on 6.19): ZCRX in NIC mode embedded in a ring of
//! the `io-uring` crate. The crate owns the ring: it submits every request
//! and reaps every completion; `zcrx-ring` registers the instance on an rx
//! queue of the (simulated) NIC, prepares the receive's SQEs and turns the
//! completions into views; `zcrx-notif` routes the notifications and reads
//! the stats.
//!
//! A random stream from the sender's network namespace, steered to that
//! queue, arrives byte-exact (SHA-256 of both sides) through an area a
//! sixteenth of its size whose buffers are each used many times; nothing
//! is copied (`copy_count` 0 and no copy-fallback notification, armed the
//! whole time), and the kernel takes the returned buffers from the refill
//! ring by itself: the library never sends `ZCRX_CTRL_FLUSH_RQ`.
//!
//! The device comes from `zcrx_testkit::nic` (the zcrx-sim pair that
//! vm-test loads on 7.3 and 7.2, or a real NIC named by `ZCRX_NIC_*`).

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant, SystemTime};

use io_uring::types::{SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, squeue};
use rustix::io::Errno;
use sha2::{Digest, Sha256};
use zcrx_notif::{
    Delivery, NotificationKind, NotificationMask, Notifier, NotifyConfig, StatsSnapshot, Support,
    ZcrxBuilderExt,
};
use zcrx_ring::caps::Capabilities;
use zcrx_ring::io_uring::{IoUringReceiver, builder};
use zcrx_ring::{Area, Recv, Zcrx};
use zcrx_testkit::nic::NicPair;
use zcrx_testkit::{lacks, require};

const PAGE: usize = 4096;
/// The stream: long enough to recycle every buffer many times, short
/// enough for software emulation.
const TOTAL: u64 = 32 << 20;
/// The area: 2 MiB, a sixteenth of the stream (and above a receive window,
/// so the stream never waits for the application's buffers).
const BUFFERS: usize = 512;
/// `user_data` of the notification completions.
const NOTIF: u64 = 0xfeed_0000_0000_0002;
/// The longest wait for an event before the test gives up.
const STALL: Duration = Duration::from_secs(60);

type Uring = IoUring<squeue::Entry, cqueue::Entry32>;

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

/// Connects to `to`, sends `total` random bytes, closes; returns their
/// SHA-256.
fn send_random(to: SocketAddr, total: u64, seed: u64) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(to)?;
    let (mut rng, mut sha) = (Random(seed), Sha256::new());
    let mut buf = vec![0u8; 256 * 1024];
    let mut sent = 0;
    while sent < total {
        let n = (total - sent).min(buf.len() as u64) as usize;
        rng.fill(&mut buf[..n]);
        sha.update(&buf[..n]);
        stream.write_all(&buf[..n])?;
        sent += n as u64;
    }
    Ok(sha.finalize().to_vec())
}

/// The first connection on `listener`, within [`STALL`] (a sender that
/// failed to connect fails the test instead of hanging the guest).
fn accept(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + STALL;
    loop {
        match listener.accept() {
            Ok((sock, _)) => {
                sock.set_nonblocking(false).unwrap();
                return sock;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("no connection from the sender: {e}"),
        }
    }
}

/// Submits what is queued and waits for a completion, at most a second;
/// returns whether the wait timed out (`ETIME` is no error: the caller
/// counts the idle time).
fn submit_and_wait(ring: &mut Uring) -> bool {
    let ts = Timespec::new().sec(1);
    let args = SubmitArgs::new().timespec(&ts);
    match ring.submitter().submit_with_args(1, &args) {
        Ok(_) => false,
        Err(e) => {
            let errno = Errno::from_io_error(&e);
            assert!(
                errno == Some(Errno::TIME) || errno == Some(Errno::INTR),
                "io_uring_enter: {e}"
            );
            errno == Some(Errno::TIME)
        }
    }
}

#[test]
fn nic_io_uring_ring_receives_a_random_stream_without_copies_or_flushes() {
    let caps = Capabilities::query();
    require!(caps.zcrx().is_ok(), "{}", lacks("IO_URING_QUERY_ZCRX"));
    let support = Support::query();
    require!(
        support.is_available(),
        "{}",
        support.error().map(|e| e.to_string()).unwrap_or_default()
    );
    let Some(mut nic) = NicPair::acquire_or_skip() else {
        return;
    };
    let queue = *nic
        .queues()
        .first()
        .expect("the NIC has a queue besides queue 0");

    let listener = TcpListener::bind((nic.addr(), 0)).unwrap();
    // A window well inside the area (FlowSpec::rcvbuf says why).
    zcrx_testkit::nic::set_rcvbuf(&listener, zcrx_testkit::nic::DEFAULT_RCVBUF).unwrap();
    let to = listener.local_addr().unwrap();
    nic.steer_tcp4(to.port(), queue).unwrap();

    // The io-uring crate's ring; zcrx-ring registers on it.
    let mut ring: Uring = builder()
        .build(64)
        .expect("io-uring ring with SINGLE_ISSUER | DEFER_TASKRUN | CQE32");
    let cfg = NotifyConfig::new(NOTIF)
        .kinds(NotificationMask::COPY_FALLBACK)
        .stats(true);
    let zcrx = Zcrx::builder_nic(nic.ifindex(), queue)
        .area(Area::anonymous(BUFFERS * PAGE).unwrap())
        .rq_entries(BUFFERS as u32)
        .notifications(&cfg, &support)
        .unwrap()
        .register_io_uring(&ring)
        .unwrap_or_else(|e| panic!("registering on {} rx queue {queue}: {e}", nic.ifname()));
    assert!(!zcrx.is_nodev());
    let area_bytes = u64::from(zcrx.buffers()) * u64::from(zcrx.rx_buf_len());
    assert!(
        area_bytes * 16 <= TOTAL,
        "the area ({area_bytes} bytes) must be far smaller than the stream"
    );
    let mut notifier = Notifier::new(&cfg, &support);
    assert!(notifier.armed().contains(NotificationMask::COPY_FALLBACK));

    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("random stream seed {seed:#x}");
    let started = Instant::now();
    let sender = nic
        .spawn_sender(move || send_random(to, TOTAL, seed))
        .unwrap();
    let sock = accept(&listener);

    let mut rx = IoUringReceiver::new(&ring).unwrap();
    rx.add(&zcrx, &sock, None).unwrap();
    let (mut sha, mut got, mut completions, mut largest) = (Sha256::new(), 0u64, 0u64, 0usize);
    let (mut copy_notes, mut others, mut timeouts) = (0u32, Vec::new(), 0u32);
    // Data completions per buffer (area offset / buffer size).
    let mut uses: HashMap<u64, u64> = HashMap::new();
    let mut last_event = Instant::now();
    'recv: loop {
        rx.prepare(&mut ring).unwrap();
        assert!(!rx.exhausted(), "views are dropped at once");
        timeouts += u32::from(submit_and_wait(&mut ring));
        let mut reaped = false;
        for cqe in ring.completion() {
            reaped = true;
            let cqe = match notifier.route(cqe) {
                Delivery::Notification(n) => {
                    assert_eq!(n.kind, NotificationKind::CopyFallback, "{n:?}");
                    copy_notes += 1;
                    continue;
                }
                Delivery::Other(cqe) => cqe,
            };
            // SAFETY: reaped from `ring`, the receiver's ring, passed once.
            match unsafe { rx.process(&cqe) } {
                Some(Recv::Data { buf, .. }) => {
                    sha.update(&buf[..]);
                    got += buf.len() as u64;
                    completions += 1;
                    largest = largest.max(buf.len());
                    *uses
                        .entry(buf.area_offset() / u64::from(zcrx.rx_buf_len()))
                        .or_default() += 1;
                }
                Some(Recv::Eof { .. }) => break 'recv,
                Some(Recv::Other(c)) => others.push(c.user_data),
                Some(other) => panic!("unexpected event after {got} bytes: {other:?}"),
                None => {}
            }
        }
        if reaped {
            last_event = Instant::now();
        } else {
            let idle = last_event.elapsed();
            assert!(idle < STALL, "no completion for {idle:?} after {got} bytes");
        }
    }
    let elapsed = started.elapsed();
    let stats = StatsSnapshot::read(&zcrx).expect("registered with stats");
    for cqe in rx.close(&mut ring).unwrap() {
        match notifier.route(&cqe) {
            Delivery::Notification(_) => copy_notes += 1,
            Delivery::Other(c) => others.push(c.user_data()),
        }
    }
    let sent = sender
        .join()
        .expect("the sender panicked")
        .expect("the sender failed");
    let ours = sha.finalize().to_vec();

    let min_use = uses.values().min().copied().unwrap_or(0);
    let max_use = uses.values().max().copied().unwrap_or(0);
    eprintln!(
        "nic io-uring: {} rx queue {queue}: {got} bytes in {completions} completions (largest \
         {largest}) in {:.1} s ({timeouts} waits of 1 s timed out), sha256 {} ({}); {} of {} buffers of {} bytes used \
         {min_use}..={max_use} times each; stats: copy_count {}, copy_bytes {}; copy-fallback \
         notifications {copy_notes}; ZCRX_CTRL_FLUSH_RQ sent {}; other completions {others:?}",
        nic.ifname(),
        elapsed.as_secs_f64(),
        hex(&ours),
        if ours == sent {
            "matches the sender's"
        } else {
            "DIFFERS"
        },
        uses.len(),
        zcrx.buffers(),
        zcrx.rx_buf_len(),
        stats.copy_count,
        stats.copy_bytes,
        zcrx.flushes(),
    );
    assert_eq!(got, TOTAL);
    assert_eq!(hex(&ours), hex(&sent), "the stream arrived altered");
    assert_eq!(stats.copy_count, 0, "the kernel copied into the area");
    assert_eq!(stats.copy_bytes, 0);
    assert_eq!(copy_notes, 0, "a copy-fallback notification arrived");
    assert!(
        notifier.armed().contains(NotificationMask::COPY_FALLBACK),
        "copy-fallback stayed armed the whole stream"
    );
    assert_eq!(
        zcrx.flushes(),
        0,
        "the library sent ZCRX_CTRL_FLUSH_RQ in NIC mode"
    );
    assert!(uses.len() <= BUFFERS);
    let mean = completions / uses.len() as u64;
    assert!(
        mean >= 10,
        "buffers recycled {mean} times on average, fewer than 10"
    );
    assert!(others.is_empty(), "completions of nobody's: {others:?}");
    assert_eq!(zcrx.held(), 0);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
