//! The async receiver (feature `tokio`) against a real kernel (NODEV,
//! loopback): byte-exact streams of random data under tokio, several
//! connections at once with tokio's own listener, the runtime thread kept
//! free while the receiver waits, futures dropped mid-stream, and a
//! dropped receiver that gives everything back.
//!
//! Built with the feature through this crate's dev-dependency on itself;
//! `vm-test` runs it in the 7.3 and 7.2 guests like every `kernel_*` test.

mod common;

use std::future::{Future, poll_fn};
use std::io::Write;
use std::net::TcpStream;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Context, Wake, Waker};
use std::thread;
use std::time::Duration;

use futures_core::Stream;
use tokio::runtime::{Builder, Runtime};
use zcrx_ring::ring::Cqe32;
use zcrx_ring::tokio::{AsyncReceiver, Readiness};
use zcrx_ring::{ConnId, Receiver, Recv, Ring, Zcrx};

use common::{nodev, ring, tcp_pair};

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

/// Writes `data[from..to]` in chunks of `chunk`, sleeping `pause` between
/// them.
fn write_slowly(stream: &mut TcpStream, data: &[u8], chunk: usize, pause: Duration) {
    for part in data.chunks(chunk) {
        stream.write_all(part).unwrap();
        if !pause.is_zero() {
            thread::sleep(pause);
        }
    }
}

/// Sends `data` from a thread, then closes.
fn send(mut stream: TcpStream, data: Arc<Vec<u8>>) -> thread::JoinHandle<()> {
    thread::spawn(move || stream.write_all(&data).unwrap())
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

/// A receiver that is never woken fails here rather than hanging the guest.
const LIMIT: Duration = Duration::from_secs(60);

/// The next event, within [`LIMIT`].
async fn next<'z>(rx: &mut AsyncReceiver<'z>) -> Recv<'z> {
    match tokio::time::timeout(LIMIT, rx.recv()).await {
        Ok(ev) => ev.unwrap(),
        Err(_) => panic!("no event within {LIMIT:?}: {:?}", rx.counters()),
    }
}

/// Receives one stream to its end with `recv`, checking every byte.
async fn receive_all(rx: &mut AsyncReceiver<'_>, conn: ConnId, data: &[u8]) {
    let mut got = 0;
    loop {
        match next(rx).await {
            Recv::Data { conn: c, buf } => {
                assert_eq!(c, conn);
                expect(data, &mut got, &buf);
            }
            Recv::Eof { conn: c } => {
                assert_eq!(c, conn);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, data.len());
}

/// No buffer was lost: a stream of `bytes` (many times the area) goes
/// through a new receiver on the instance, which needs the kernel to get
/// every buffer back again and again (a lost buffer ends it with `Stalled`
/// or `BuffersExhausted`).
async fn no_buffer_lost(ring: &mut Ring, zcrx: &Zcrx, bytes: usize) {
    assert_eq!(zcrx.held(), 0, "views still held");
    let data = random_stream(99, bytes);
    let (client, server) = tcp_pair();
    let sender = send(client, data.clone());
    let mut rx = AsyncReceiver::new(ring).unwrap();
    let conn = rx.add(zcrx, &server, None).unwrap();
    receive_all(&mut rx, conn, &data).await;
    sender.join().unwrap();
}

#[test]
fn a_64_mib_random_stream_arrives_byte_exact_as_a_stream() {
    require_nodev!();
    const TOTAL: usize = 64 << 20;
    let data = random_stream(1, TOTAL);
    let mut ring = ring::<Cqe32>(64);
    let zcrx = nodev(1024).register(&ring).unwrap();
    let (client, server) = tcp_pair();
    let sender = send(client, data.clone());
    runtime().block_on(async {
        let mut rx = AsyncReceiver::new(&mut ring).unwrap();
        let conn = rx.add(&zcrx, &server, None).unwrap();
        let (mut got, mut eof) = (0, false);
        // Through the `Stream` impl, which ends once the socket ended.
        loop {
            let ev = tokio::time::timeout(LIMIT, poll_fn(|cx| Pin::new(&mut rx).poll_next(cx)));
            let Some(ev) = ev.await.expect("no event within the limit") else {
                break;
            };
            match ev.unwrap() {
                Recv::Data { conn: c, buf } => {
                    assert_eq!(c, conn);
                    assert!(!eof, "data after the end");
                    expect(&data, &mut got, &buf);
                }
                Recv::Eof { conn: c } => {
                    assert_eq!(c, conn);
                    eof = true;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(eof);
        assert_eq!(got, TOTAL);
        eprintln!("64 MiB: {:?}", rx.counters());
    });
    sender.join().unwrap();
    assert_eq!(zcrx.held(), 0);
}

#[test]
fn several_connections_at_once_from_tokios_listener() {
    require_nodev!();
    const CONNS: usize = 6;
    const EACH: usize = 3 << 20;
    let streams: Vec<_> = (0..CONNS)
        .map(|i| random_stream(10 + i as u64, EACH))
        .collect();
    let mut ring = ring::<Cqe32>(64);
    let zcrx = nodev(512).register(&ring).unwrap();
    runtime().block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Each client sends its number, then its stream, in small pieces
        // with pauses, so that the streams interleave.
        let senders: Vec<_> = streams
            .iter()
            .enumerate()
            .map(|(i, data)| {
                let data = data.clone();
                thread::spawn(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    s.write_all(&[i as u8]).unwrap();
                    write_slowly(&mut s, &data, 256 << 10, Duration::from_millis(2));
                })
            })
            .collect();
        let mut rx = AsyncReceiver::new(&mut ring).unwrap();
        // Per connection: which stream, bytes checked, the socket.
        let mut conns: Vec<Option<(Option<usize>, usize, tokio::net::TcpStream)>> = Vec::new();
        let (mut accepted, mut ended, mut most_live) = (0, 0, 0);
        while ended < CONNS {
            tokio::select! {
                a = listener.accept(), if accepted < CONNS => {
                    let (sock, _) = a.unwrap();
                    let conn = rx.add(&zcrx, &sock, None).unwrap();
                    let slot = conn.index() as usize;
                    if conns.len() <= slot {
                        conns.resize_with(slot + 1, || None);
                    }
                    conns[slot] = Some((None, 0, sock));
                    accepted += 1;
                    most_live = most_live.max(rx.live());
                }
                ev = rx.recv() => match ev.unwrap() {
                    Recv::Data { conn, buf } => {
                        let c = conns[conn.index() as usize].as_mut().unwrap();
                        let mut bytes: &[u8] = &buf;
                        if c.0.is_none() {
                            c.0 = Some(usize::from(bytes[0]));
                            bytes = &bytes[1..];
                        }
                        let data = &streams[c.0.unwrap()];
                        expect(data, &mut c.1, bytes);
                    }
                    Recv::Eof { conn } => {
                        let c = conns[conn.index() as usize].take().unwrap();
                        assert_eq!(c.1, EACH, "stream {:?} ended early", c.0);
                        ended += 1;
                    }
                    other => panic!("unexpected {other:?}"),
                },
                () = tokio::time::sleep(LIMIT) => panic!("no event within {LIMIT:?}"),
            }
        }
        for s in senders {
            s.join().unwrap();
        }
        eprintln!(
            "{CONNS} connections, at most {most_live} at once: {:?}",
            rx.counters()
        );
        assert!(most_live > 1, "the connections never overlapped");
    });
    assert_eq!(zcrx.held(), 0);
}

/// Issue 13, item 3: while the receiver waits, the other tasks of its
/// thread run. The sender sends the rest of the stream only after a timer
/// task on the same thread ticked 20 times while the receiver was waiting;
/// a receiver that blocked the thread would stop the timer, and the sender
/// would send on its own after 60 s, with the tick count still 0.
#[test]
fn a_timer_on_the_same_thread_ticks_while_the_receiver_waits() {
    require_nodev!();
    const FIRST: usize = 256 << 10;
    const TOTAL: usize = 1 << 20;
    const TICKS: u64 = 20;
    let data = random_stream(3, TOTAL);
    let mut ring = ring::<Cqe32>(16);
    let zcrx = nodev(256).register(&ring).unwrap();
    let (mut client, server) = tcp_pair();
    client.write_all(&data[..FIRST]).unwrap();
    let (release, released) = mpsc::channel::<()>();
    let by_timer = Arc::new(AtomicBool::new(false));
    let sender = {
        let (data, by_timer) = (data.clone(), by_timer.clone());
        thread::spawn(move || {
            let timely = released.recv_timeout(Duration::from_secs(60)).is_ok();
            by_timer.store(timely, Ordering::SeqCst);
            client.write_all(&data[FIRST..]).unwrap();
        })
    };
    let rt = runtime();
    rt.block_on(async {
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
        let conn = rx.add(&zcrx, &server, None).unwrap();
        let mut got = 0;
        let mut ticks_seen = None;
        loop {
            match next(&mut rx).await {
                Recv::Data { conn: c, buf } => {
                    assert_eq!(c, conn);
                    if got >= FIRST && ticks_seen.is_none() {
                        ticks_seen = Some(ticks.load(Ordering::SeqCst));
                    }
                    expect(&data, &mut got, &buf);
                    // All of the first part is here: from now on the
                    // receiver waits for the rest.
                    if got == FIRST {
                        waiting.store(true, Ordering::SeqCst);
                    }
                }
                Recv::Eof { .. } => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        timer.abort();
        assert_eq!(got, TOTAL);
        let ticked = ticks_seen.expect("data after the first part");
        eprintln!("ticks while waiting: {ticked}; {:?}", rx.counters());
        assert!(
            ticked >= TICKS,
            "the timer ticked {ticked} times while the receiver waited"
        );
        assert!(rx.counters().waits > 0, "the receiver never waited");
    });
    sender.join().unwrap();
    assert!(
        by_timer.load(Ordering::SeqCst),
        "the sender was not released by the timer"
    );
}

/// A waker that records that it was woken.
#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Issue 13, item 2: futures dropped between events lose nothing. Two
/// ways: `select!` against a 1 ms timer while the sender pauses (the
/// receive future is dropped whenever the timer wins), and by hand, a
/// future that was woken for data and dropped without being polled again.
/// The stream arrives byte-exact; every buffer comes back.
#[test]
fn futures_dropped_mid_stream_lose_no_data_and_no_buffer() {
    require_nodev!();
    const TOTAL: usize = 16 << 20;
    const HALF: usize = TOTAL / 2;
    let data = random_stream(4, TOTAL);
    let mut ring = ring::<Cqe32>(32);
    let zcrx = nodev(64).register(&ring).unwrap();
    let (mut client, server) = tcp_pair();
    let (go, gate) = mpsc::channel::<()>();
    let sender = {
        let data = data.clone();
        thread::spawn(move || {
            // The first half with pauses (the timer wins often), then
            // wait for the hand-made drop, then the rest at once.
            write_slowly(
                &mut client,
                &data[..HALF],
                512 << 10,
                Duration::from_millis(20),
            );
            gate.recv().unwrap();
            client.write_all(&data[HALF..]).unwrap();
        })
    };
    let rt = runtime();
    rt.block_on(async {
        let mut rx = AsyncReceiver::new(&mut ring).unwrap();
        let conn = rx.add(&zcrx, &server, None).unwrap();
        let mut got = 0;
        let mut dropped = 0u64;
        while got < HALF {
            tokio::select! {
                ev = rx.recv() => match ev.unwrap() {
                    Recv::Data { conn: c, buf } => {
                        assert_eq!(c, conn);
                        expect(&data, &mut got, &buf);
                    }
                    other => panic!("unexpected {other:?}"),
                },
                () = tokio::time::sleep(Duration::from_millis(1)) => {
                    dropped += 1;
                    assert!(dropped < 60_000, "no data for a minute");
                }
            }
        }
        assert_eq!(got, HALF);
        assert!(dropped > 0, "no receive future was dropped");

        // By hand: poll a future until it waits, let data arrive and the
        // reactor wake it, then drop it without polling it again.
        let flag = Arc::new(Flag::default());
        let waker = Waker::from(flag.clone());
        {
            let mut fut = Box::pin(rx.recv());
            let mut cx = Context::from_waker(&waker);
            assert!(
                fut.as_mut().poll(&mut cx).is_pending(),
                "data before the sender was let go"
            );
            go.send(()).unwrap();
            for _ in 0..6000 {
                if flag.0.load(Ordering::SeqCst) {
                    break;
                }
                // Lets the runtime turn its reactor.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(flag.0.load(Ordering::SeqCst), "never woken for the data");
        } // dropped here, woken and never polled again
        loop {
            match next(&mut rx).await {
                Recv::Data { conn: c, buf } => {
                    assert_eq!(c, conn);
                    expect(&data, &mut got, &buf);
                }
                Recv::Eof { conn: c } => {
                    assert_eq!(c, conn);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(got, TOTAL);
        eprintln!(
            "{dropped} futures dropped by the timer; {:?}",
            rx.counters()
        );
    });
    sender.join().unwrap();
    rt.block_on(no_buffer_lost(&mut ring, &zcrx, 64 * 64 * 4096));
}

/// A receiver dropped mid-stream, with completions reaped and not handed
/// out, cancels its request and gives every buffer back: the next async
/// receiver on the same ring and instance gets none of the old socket's
/// events and a new stream of 64 times the area byte-exact.
#[test]
fn a_dropped_receiver_cancels_and_gives_back_what_it_reaped() {
    require_nodev!();
    const TOTAL: usize = 4 << 20;
    let data = random_stream(5, TOTAL);
    let mut ring = ring::<Cqe32>(32);
    let zcrx = nodev(16).register(&ring).unwrap();
    let (mut client, server) = tcp_pair();
    client.write_all(&data[..1 << 20]).unwrap();
    let rt = runtime();
    rt.block_on(async {
        let mut rx = AsyncReceiver::new(&mut ring).unwrap();
        rx.add(&zcrx, &server, None).unwrap();
        // Let the kernel fill what it can, then take one event: the rest
        // of what that enter posted stays queued in the receiver.
        tokio::time::sleep(Duration::from_millis(50)).await;
        match next(&mut rx).await {
            Recv::Data { buf, .. } => assert_eq!(&buf[..], &data[..buf.len()]),
            other => panic!("unexpected {other:?}"),
        }
    }); // the receiver is dropped with its request armed
    assert_eq!(zcrx.held(), 0);
    drop(server);
    drop(client);
    rt.block_on(no_buffer_lost(&mut ring, &zcrx, 64 * 16 * 4096));
}

/// The readiness source fits the kernel: Linux 7.3 wakes the ring's
/// pollers for queued task work, and the receiver watches the ring's
/// descriptor there; Linux 7.2 does not, and the receiver watches an
/// eventfd and refuses the ring's descriptor (with which it would never
/// wake up). Every source the kernel supports carries a stream of small
/// writes, each waited for, byte-exact.
#[test]
fn the_readiness_source_fits_the_kernel() {
    require_nodev!();
    let wakes = zcrx_testkit::kernel_at_least(7, 3);
    let detected = Readiness::detect();
    assert_eq!(
        detected,
        if wakes {
            Readiness::RingFd
        } else {
            Readiness::EventFd
        }
    );
    let rt = runtime();
    for (i, source) in [Readiness::EventFd, Readiness::RingFd]
        .into_iter()
        .enumerate()
    {
        const TOTAL: usize = 256 << 10;
        let data = random_stream(20 + i as u64, TOTAL);
        let mut ring = ring::<Cqe32>(16);
        let zcrx = nodev(64).register(&ring).unwrap();
        rt.block_on(async {
            let made = AsyncReceiver::with_readiness(Receiver::new(&mut ring), source);
            if source == Readiness::RingFd && !wakes {
                let e = made
                    .expect_err("the ring's descriptor accepted on a kernel that does not wake it");
                assert_eq!(e.kind(), std::io::ErrorKind::Unsupported, "{e}");
                return;
            }
            let mut rx = made.unwrap();
            let (mut client, server) = tcp_pair();
            let sender = {
                let data = data.clone();
                thread::spawn(move || {
                    write_slowly(&mut client, &data, 8192, Duration::from_millis(2))
                })
            };
            let conn = rx.add(&zcrx, &server, None).unwrap();
            receive_all(&mut rx, conn, &data).await;
            sender.join().unwrap();
            eprintln!("{source:?}: {:?}", rx.counters());
            assert!(rx.counters().waits > 0, "{source:?}: never waited");
        });
    }
}
