//! The async receiver (feature `tokio`) in NIC mode on a (simulated) NIC:
//! a stream from the sender's network namespace, accepted with tokio's
//! listener and steered by an ntuple rule to the rx queue the instance is
//! bound to, lands in the area with nothing copied, and the kernel refills
//! from the refill ring by itself.
//!
//! - a random stream of 32 MiB through a 1 MiB area arrives byte-exact,
//!   `copy_count` 0 and no copy-fallback event, no `ZCRX_CTRL_FLUSH_RQ`;
//! - a timer task on the runtime's one thread ticks while the receiver
//!   waits for the NIC: the sender sends the rest of its stream only after
//!   the timer ticked 20 times during that wait.
//!
//! The device comes from `zcrx_testkit::nic` (the zcrx-sim pair that
//! vm-test loads on 7.3 and 7.2, or a real NIC named by `ZCRX_NIC_*`).
//! Built with the feature through this crate's dev-dependency on itself.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};
use zcrx_ring::caps::Capabilities;
use zcrx_ring::ring::{Cqe32, Ring};
use zcrx_ring::tokio::AsyncReceiver;
use zcrx_ring::{Area, EventConfig, Recv, StatsPlacement, Zcrx};
use zcrx_testkit::nic::NicPair;
use zcrx_testkit::{lacks, require};
use zcrx_uapi::{ZCRX_EVENT_COPY, ZcrxEventMask};

const PAGE: usize = 4096;
/// The area: 256 buffers, 1 MiB (a receive window).
const AREA_BUFFERS: usize = 256;
/// `user_data` of the instance's event completions.
const EVENT_TAG: u64 = 0x5eed_0002;
/// A receiver that is never woken fails here rather than hanging the guest.
const LIMIT: Duration = Duration::from_secs(60);

fn runtime() -> Runtime {
    Builder::new_current_thread().enable_all().build().unwrap()
}

/// `len` random bytes (splitmix64 from `seed`): the same on both sides.
fn random_stream(seed: u64, len: usize) -> Arc<Vec<u8>> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    Arc::new(out)
}

/// Checks the next bytes of a stream.
fn expect(data: &[u8], got: &mut usize, buf: &[u8]) {
    let end = *got + buf.len();
    assert!(end <= data.len(), "{} bytes past the end", end - data.len());
    if buf != &data[*got..end] {
        let i = buf
            .iter()
            .zip(&data[*got..end])
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!("wrong byte at offset {}", *got + i);
    }
    *got = end;
}

/// Skips (host, 6.19) or fails (7.3 and 7.2 guests) without NIC-mode ZCRX,
/// events and root; then the NIC pair and the queue to bind.
macro_rules! require_nic {
    () => {{
        let caps = Capabilities::query();
        require!(
            caps.zcrx_event().is_ok(),
            "{}",
            lacks("IO_URING_QUERY_ZCRX_EVENT")
        );
        let Some(nic) = NicPair::acquire_or_skip() else {
            return;
        };
        let queue = *nic
            .queues()
            .first()
            .expect("the NIC has a queue besides queue 0");
        (nic, queue)
    }};
}

/// An instance on `queue` of the NIC with copy events and stats.
fn register(nic: &NicPair, queue: u32, ring: &Ring<Cqe32>) -> Zcrx {
    let zcrx = Zcrx::builder_nic(nic.ifindex(), queue)
        .area(Area::anonymous(AREA_BUFFERS * PAGE).unwrap())
        .rq_entries(AREA_BUFFERS as u32)
        .events(EventConfig {
            user_data: EVENT_TAG,
            mask: ZcrxEventMask::COPY,
            stats: StatsPlacement::Auto,
        })
        .register(ring)
        .unwrap_or_else(|e| panic!("registering on {} rx queue {queue}: {e}", nic.ifname()));
    assert!(!zcrx.is_nodev());
    zcrx
}

/// A listener on the NIC's address (tokio's), its flow steered to `queue`.
async fn listen(nic: &mut NicPair, queue: u32) -> (tokio::net::TcpListener, SocketAddr) {
    let listener = std::net::TcpListener::bind((nic.addr(), 0)).unwrap();
    // A window well inside the area (FlowSpec::rcvbuf says why).
    zcrx_testkit::nic::set_rcvbuf(&listener, zcrx_testkit::nic::DEFAULT_RCVBUF).unwrap();
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let to = listener.local_addr().unwrap();
    nic.steer_tcp4(to.port(), queue).unwrap();
    (listener, to)
}

/// The sender's connection, within [`LIMIT`].
async fn accept(listener: &tokio::net::TcpListener) -> tokio::net::TcpStream {
    match tokio::time::timeout(LIMIT, listener.accept()).await {
        Ok(accepted) => accepted.unwrap().0,
        Err(_) => panic!("no connection from the sender within {LIMIT:?}"),
    }
}

/// What a receive saw besides the data.
#[derive(Debug, Default)]
struct Seen {
    completions: u64,
    largest: usize,
    copy_events: u64,
}

impl Seen {
    /// Checks one event: data against `data`, copy events counted; `true`
    /// at the end of the stream.
    fn event(&mut self, ev: Recv<'_>, data: &[u8], got: &mut usize) -> bool {
        match ev {
            Recv::Data { buf, .. } => {
                expect(data, got, &buf);
                self.completions += 1;
                self.largest = self.largest.max(buf.len());
                false
            }
            Recv::Other(c) if c.user_data == EVENT_TAG => {
                assert_eq!(
                    c.res, ZCRX_EVENT_COPY as i32,
                    "only COPY events were enabled"
                );
                self.copy_events += 1;
                false
            }
            Recv::Eof { .. } => true,
            other => panic!("unexpected event after {got} bytes: {other:?}"),
        }
    }
}

/// The next event, within [`LIMIT`].
async fn next<'z>(rx: &mut AsyncReceiver<'z>, got: usize) -> Recv<'z> {
    match tokio::time::timeout(LIMIT, rx.recv()).await {
        Ok(ev) => ev.unwrap(),
        Err(_) => panic!(
            "no event within {LIMIT:?} after {got} bytes: {:?}",
            rx.counters()
        ),
    }
}

/// The NIC-mode checks every test ends with: nothing copied, no copy
/// event, the kernel refilled by itself (more completions than buffers, no
/// flush), every buffer back.
fn assert_zero_copy(zcrx: &Zcrx, seen: &Seen) {
    let stats = zcrx.stats().expect("registered with stats");
    assert_eq!(stats.copy_count(), 0, "the kernel copied into the area");
    assert_eq!(stats.copy_bytes(), 0);
    assert_eq!(seen.copy_events, 0, "a copy-fallback event arrived");
    assert_eq!(
        zcrx.flushes(),
        0,
        "the library sent ZCRX_CTRL_FLUSH_RQ in NIC mode"
    );
    assert!(
        seen.completions > 2 * u64::from(zcrx.buffers()),
        "{} completions through {} buffers: the area did not recycle",
        seen.completions,
        zcrx.buffers()
    );
    assert_eq!(zcrx.held(), 0);
}

#[test]
fn nic_tokio_random_stream_arrives_byte_exact_without_copies_or_flushes() {
    let (mut nic, queue) = require_nic!();
    const TOTAL: usize = 32 << 20;
    let data = random_stream(0x7e57_0001, TOTAL);
    let mut ring = Ring::<Cqe32>::builder(64).build().expect("ring setup");
    let zcrx = register(&nic, queue, &ring);
    let area_bytes = u64::from(zcrx.buffers()) * u64::from(zcrx.rx_buf_len());
    assert!(
        area_bytes * 16 <= TOTAL as u64,
        "the area must be far smaller than the stream"
    );
    let rt = runtime();
    let (seen, elapsed) = rt.block_on(async {
        let (listener, to) = listen(&mut nic, queue).await;
        let started = Instant::now();
        let sender = {
            let data = data.clone();
            nic.spawn_sender(move || -> io::Result<()> { TcpStream::connect(to)?.write_all(&data) })
                .unwrap()
        };
        let sock = accept(&listener).await;
        let mut rx = AsyncReceiver::new(&mut ring).unwrap();
        rx.add(&zcrx, &sock, None).unwrap();
        let (mut seen, mut got) = (Seen::default(), 0);
        while !seen.event(next(&mut rx, got).await, &data, &mut got) {}
        let elapsed = started.elapsed();
        assert_eq!(got, TOTAL);
        eprintln!("{:?}", rx.counters());
        drop(rx);
        sender
            .join()
            .expect("the sender panicked")
            .expect("the sender failed");
        (seen, elapsed)
    });
    let stats = zcrx.stats().unwrap();
    eprintln!(
        "nic tokio: {} rx queue {queue}: {TOTAL} bytes byte-exact in {} completions (largest {}) \
         in {:.1} s, copy_count {}, COPY events {}, ZCRX_CTRL_FLUSH_RQ sent {}, area {} buffers \
         of {} bytes reused {:.1} times each",
        nic.ifname(),
        seen.completions,
        seen.largest,
        elapsed.as_secs_f64(),
        stats.copy_count(),
        seen.copy_events,
        zcrx.flushes(),
        zcrx.buffers(),
        zcrx.rx_buf_len(),
        seen.completions as f64 / f64::from(zcrx.buffers())
    );
    assert_zero_copy(&zcrx, &seen);
}

/// While the receiver waits for the NIC, the other tasks of its thread
/// run. The sender sends the rest of its stream only after a timer task on
/// the same thread ticked 20 times while the receiver was waiting; a
/// receiver that blocked the thread would stop the timer, and the sender
/// would send on its own after 60 s, with the tick count still 0.
#[test]
fn nic_tokio_timer_on_the_same_thread_ticks_while_the_receiver_waits() {
    let (mut nic, queue) = require_nic!();
    const FIRST: usize = 256 << 10;
    const TOTAL: usize = 4 << 20;
    const TICKS: u64 = 20;
    let data = random_stream(0x7e57_0002, TOTAL);
    let mut ring = Ring::<Cqe32>::builder(16).build().expect("ring setup");
    let zcrx = register(&nic, queue, &ring);
    let (release, released) = mpsc::channel::<()>();
    let by_timer = Arc::new(AtomicBool::new(false));
    let rt = runtime();
    let seen = rt.block_on(async {
        let (listener, to) = listen(&mut nic, queue).await;
        let sender = {
            let (data, by_timer) = (data.clone(), by_timer.clone());
            nic.spawn_sender(move || -> io::Result<()> {
                let mut s = TcpStream::connect(to)?;
                s.write_all(&data[..FIRST])?;
                let timely = released.recv_timeout(LIMIT).is_ok();
                by_timer.store(timely, Ordering::SeqCst);
                s.write_all(&data[FIRST..])
            })
            .unwrap()
        };
        let sock = accept(&listener).await;
        let me = thread::current().id();
        let waiting = Arc::new(AtomicBool::new(false));
        let ticks = Arc::new(AtomicU64::new(0));
        let timer = {
            let (waiting, ticks) = (waiting.clone(), ticks.clone());
            tokio::spawn(async move {
                assert_eq!(thread::current().id(), me, "the timer runs elsewhere");
                let mut every = tokio::time::interval(Duration::from_millis(5));
                loop {
                    every.tick().await;
                    if waiting.load(Ordering::SeqCst)
                        && ticks.fetch_add(1, Ordering::SeqCst) + 1 == TICKS
                    {
                        let _ = release.send(());
                    }
                }
            })
        };
        let mut rx = AsyncReceiver::new(&mut ring).unwrap();
        rx.add(&zcrx, &sock, None).unwrap();
        let (mut seen, mut got, mut ticks_seen) = (Seen::default(), 0, None);
        loop {
            let ev = next(&mut rx, got).await;
            if got >= FIRST && ticks_seen.is_none() && matches!(ev, Recv::Data { .. }) {
                ticks_seen = Some(ticks.load(Ordering::SeqCst));
            }
            if seen.event(ev, &data, &mut got) {
                break;
            }
            // All of the first part is here: from now on the receiver
            // waits for the rest.
            if got == FIRST {
                waiting.store(true, Ordering::SeqCst);
            }
        }
        timer.abort();
        assert_eq!(got, TOTAL);
        let ticked = ticks_seen.expect("data after the first part");
        eprintln!(
            "nic tokio: ticks while waiting: {ticked}; {:?}",
            rx.counters()
        );
        assert!(
            ticked >= TICKS,
            "the timer ticked {ticked} times while the receiver waited"
        );
        assert!(rx.counters().waits > 0, "the receiver never waited");
        drop(rx);
        sender
            .join()
            .expect("the sender panicked")
            .expect("the sender failed");
        seen
    });
    assert!(
        by_timer.load(Ordering::SeqCst),
        "the sender was not released by the timer"
    );
    eprintln!(
        "nic tokio: timer test: {TOTAL} bytes in {} completions, copy_count {}, COPY events {}, \
         ZCRX_CTRL_FLUSH_RQ sent {}",
        seen.completions,
        zcrx.stats().unwrap().copy_count(),
        seen.copy_events,
        zcrx.flushes()
    );
    assert_zero_copy(&zcrx, &seen);
}
