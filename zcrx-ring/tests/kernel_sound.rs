//! The ownership rules of the receive loop against a real kernel (NODEV,
//! loopback): what real programs do to a receiver (close its socket, drop
//! it mid-stream, hold or share buffers, pick odd ring sizes, add memory
//! while receiving, call from the wrong thread, hit the locked-memory
//! limit), and what must come out of it: no foreign data, no stale
//! completion, no lost buffer, no spinning, errors that name the cause.
//!
//! Each test was written against a failure seen on the code before the
//! rules (see the test's comment).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use rustix::fd::AsFd;
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use rustix::thread::CapabilitySet;
use zcrx_ring::caps::Capabilities;
use zcrx_ring::ring::{Cqe32, CqeMixed, Ring, opcode};
use zcrx_ring::{Area, Error, Receiver, Recv, SharedBuf};
use zcrx_testkit::{kernel_at_least, lacks, require};
use zcrx_uapi::{ZCRX_CTRL_ADD_AREA, io_uring_sqe};

use common::{
    PAGE, check, drop_caps, lenient_sender, nodev, receive_all, ring, send_pattern, tcp_pair,
    write_pattern,
};

/// Issue item 4. Before: the receiver kept the raw descriptor number; the
/// application closed its socket while the receive waited for buffers, an
/// unrelated connection got the same number, and the re-armed receive read
/// that connection's bytes under the old socket's `ConnId`.
#[test]
fn a_closed_socket_is_never_confused_with_the_next_one_on_its_number() {
    require_nodev!();
    const TOTAL: u64 = 1 << 20;
    let mut ring = ring::<Cqe32>(16);
    let zcrx = nodev(4).register(&ring).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client_a = TcpStream::connect(addr).unwrap();
    let (server_a, _) = listener.accept().unwrap();
    let number = server_a.as_raw_fd();
    write_pattern(&mut client_a, 0, 64 * 1024);

    let mut rx = Receiver::new(&mut ring);
    let conn = rx.add(&zcrx, &server_a, None).unwrap();
    let (mut got, mut held) = (0u64, Vec::new());
    loop {
        match rx.recv().unwrap() {
            Recv::Data { conn: c, buf } => {
                assert_eq!(c, conn);
                check(&buf, got);
                got += buf.len() as u64;
                held.push(buf);
            }
            // The receive ended with ENOMEM and waits for buffers.
            Recv::BuffersExhausted => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    // The application closes its socket; another connection arrives and
    // (almost always) gets the same descriptor number.
    drop(server_a);
    let mut client_b = TcpStream::connect(addr).unwrap();
    let (mut server_b, _) = listener.accept().unwrap();
    eprintln!(
        "old number {number}, new connection's {}",
        server_b.as_raw_fd()
    );
    let foreign = [0xeeu8; 8192];
    client_b.write_all(&foreign).unwrap();

    // Buffers back: the loop re-arms on its own duplicate of A.
    drop(held);
    let sender = lenient_sender(client_a, 64 * 1024, TOTAL);
    loop {
        match rx.recv().unwrap() {
            Recv::Data { conn: c, buf } => {
                assert_eq!(c, conn);
                check(&buf, got); // B's bytes (0xee) would fail here
                got += buf.len() as u64;
            }
            Recv::Eof { conn: c } => {
                assert_eq!(c, conn);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, TOTAL);
    sender.join().unwrap();
    // B's bytes are still in B's socket, untouched.
    server_b
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut back = [0u8; 8192];
    server_b.read_exact(&mut back).unwrap();
    assert_eq!(back, foreign);
}

/// Issue item 5. Before: a receiver dropped with its multishot armed left
/// the request running; a new receiver on the same ring for the same
/// socket got a `Cancelled` it never asked for, then more data after that
/// "final" event.
#[test]
fn a_dropped_receivers_requests_never_reach_the_next_receiver() {
    require_nodev!();
    const FIRST: u64 = 100_000;
    const TOTAL: u64 = 1 << 20;
    let mut ring = ring::<Cqe32>(16);
    let zcrx = nodev(64).register(&ring).unwrap();
    let (mut client, server) = tcp_pair();
    write_pattern(&mut client, 0, FIRST);
    let mut got = 0u64;
    {
        let mut rx = Receiver::new(&mut ring);
        rx.add(&zcrx, &server, None).unwrap();
        while got < FIRST {
            match rx.recv().unwrap() {
                Recv::Data { buf, .. } => {
                    check(&buf, got);
                    got += buf.len() as u64;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // A request of the application's own, in flight at the drop.
        let mut nop = io_uring_sqe::default();
        opcode::prep_nop(&mut nop, 7);
        // SAFETY: a NOP carries no pointer.
        unsafe { rx.push(&nop) }.unwrap();
    } // dropped with its receive armed
    assert_eq!(zcrx.held(), 0);
    // The application's completion was kept for it.
    let others: Vec<_> = ring.completions().map(|c| c.user_data).collect();
    assert_eq!(others, [7]);

    let sender = thread::spawn(move || write_pattern(&mut client, FIRST, TOTAL));
    let mut rx = Receiver::new(&mut ring);
    let conn = rx.add(&zcrx, &server, None).unwrap();
    loop {
        match rx.recv().unwrap() {
            Recv::Data { conn: c, buf } => {
                assert_eq!(c, conn);
                check(&buf, got);
                got += buf.len() as u64;
            }
            Recv::Eof { conn: c } => {
                assert_eq!(c, conn);
                break;
            }
            other => panic!("a stale event reached the new receiver: {other:?}"),
        }
    }
    assert_eq!(got, TOTAL);
    assert_eq!(rx.live(), 0);
    sender.join().unwrap();
}

/// Issue item 6. Before: a receiver dropped with completions reaped but not
/// handed out never returned their buffers (15 of 16 lost), and the next
/// loop on the instance spun at 100% CPU: ENOMEM, re-arm, ENOMEM.
#[test]
fn a_receiver_dropped_with_completions_reaped_gives_every_buffer_back() {
    require_nodev!();
    const TOTAL: u64 = 1 << 20;
    let mut ring = ring::<Cqe32>(64);
    let zcrx = nodev(16).register(&ring).unwrap();
    let (client, server) = tcp_pair();
    let first = lenient_sender(client, 0, TOTAL);
    thread::sleep(Duration::from_millis(200)); // 1 MiB queued
    {
        let mut rx = Receiver::new(&mut ring);
        rx.add(&zcrx, &server, None).unwrap();
        match rx.recv().unwrap() {
            Recv::Data { buf, .. } => check(&buf, 0),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((zcrx.held(), zcrx.backlog()), (0, 0));
    drop(server);
    first.join().unwrap();

    // A new loop on the same instance makes progress (with a deadline, so
    // a spinning loop fails the test instead of hanging it).
    let (client, server) = tcp_pair();
    let sender = send_pattern(client, TOTAL);
    let mut rx = Receiver::new(&mut ring);
    rx.add(&zcrx, &server, None).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = 0u64;
    loop {
        assert!(Instant::now() < deadline, "no progress after {got} bytes");
        match rx.recv_timeout(Duration::from_secs(1)).unwrap() {
            Some(Recv::Data { buf, .. }) => {
                check(&buf, got);
                got += buf.len() as u64;
            }
            Some(Recv::Eof { .. }) => break,
            Some(other) => panic!("unexpected {other:?}"),
            None => {}
        }
    }
    assert_eq!(got, TOTAL);
    sender.join().unwrap();
}

/// Issue item 6, second half: buffers lost by code outside the receiver (a
/// hand-driven loop that reaps completions and never gives them back) make
/// the next receive loop stop with a typed error instead of spinning.
#[test]
fn lost_buffers_stop_the_loop_with_a_reason() {
    require_nodev!();
    let mut ring = ring::<Cqe32>(64);
    let zcrx = nodev(8).register(&ring).unwrap();
    let (client, server) = tcp_pair();
    let sender = lenient_sender(client, 0, 1 << 20);
    // Take every buffer in completions, and drop them on the floor: a
    // receive that runs until the kernel has no buffer left (ENOMEM).
    let mut sqe = io_uring_sqe::default();
    opcode::prep_recv_zc(&mut sqe, server.as_fd(), zcrx.id(), 0, 1);
    // SAFETY: RECV_ZC into a registered area carries no user pointer; the
    // socket stays open until the request has ended (below).
    unsafe { ring.push(&sqe) }.unwrap();
    let (mut lost, mut end) = (0, None);
    while end.is_none() {
        ring.submit_and_wait(1).unwrap();
        for c in ring.completions() {
            if c.res > 0 {
                lost += 1;
            } else if !c.more() {
                end = Some(c.res);
            }
        }
    }
    assert_eq!(end, Some(-libc::ENOMEM), "after {lost} completions");
    assert!(lost >= 8);
    let (client2, server2) = tcp_pair();
    let sender2 = lenient_sender(client2, 0, 1 << 20);
    let mut rx = Receiver::new(&mut ring);
    let conn = rx.add(&zcrx, &server2, None).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let error = loop {
        assert!(
            Instant::now() < deadline,
            "the loop neither progressed nor stopped"
        );
        match rx.recv_timeout(Duration::from_secs(1)).unwrap() {
            Some(Recv::Failed { conn: c, error }) => {
                assert_eq!(c, conn);
                break error;
            }
            Some(other) => panic!("unexpected {other:?}"),
            None => {}
        }
    };
    assert!(
        matches!(
            error,
            Error::Stalled {
                what: "zcrx buffers",
                ..
            }
        ),
        "{error}"
    );
    assert!(zcrx.held() < zcrx.buffers());
    drop(rx);
    drop(server);
    drop(server2);
    sender.join().unwrap();
    sender2.join().unwrap();
}

/// Issue item 7. Before: a `CQE_MIXED` ring with 2 completion slots was
/// accepted; after the first 16-byte completion the tail is odd, every
/// 32-byte ZCRX completion then needs a padding slot and a second free slot
/// that never exist together, and the loop re-armed on `-ENOSPC` forever.
/// Now such rings, and rings too small for one more socket, are refused up
/// front (the loop's bound on `-ENOSPC` re-arms is unit-tested).
#[test]
fn rings_too_small_to_make_progress_are_refused() {
    require_nodev!();
    let mut mixed = Ring::<CqeMixed>::builder(1).cq_entries(2).build().unwrap();
    if zcrx_ring::ring::mixed_cq_publishes_stale_entries().unwrap() {
        // 7.2: no mixed ring takes ZCRX at all (kernel_zcrx).
        let err = nodev(16).register(&mixed).unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)), "{err}");
    } else {
        let zcrx = nodev(16).register(&mixed).unwrap();
        let (_c, s) = tcp_pair();
        let mut rx = Receiver::new(&mut mixed);
        let err = rx.add(&zcrx, &s, None).unwrap_err();
        assert!(
            matches!(err, Error::InvalidConfig { field: "ring", .. }),
            "{err}"
        );
    }

    // Two 32-byte slots per socket: a 4-entry ring takes two sockets.
    let mut small = Ring::<Cqe32>::builder(2).cq_entries(4).build().unwrap();
    let zcrx = nodev(16).register(&small).unwrap();
    let pairs: Vec<_> = (0..3).map(|_| tcp_pair()).collect();
    let mut rx = Receiver::new(&mut small);
    rx.add(&zcrx, &pairs[0].1, None).unwrap();
    rx.add(&zcrx, &pairs[1].1, None).unwrap();
    let err = rx.add(&zcrx, &pairs[2].1, None).unwrap_err();
    assert!(
        matches!(err, Error::InvalidConfig { field: "ring", .. }),
        "{err}"
    );
}

/// Issue item 8. Before: with a one-entry refill ring, 129 of 132 returned
/// buffers stayed in an unbounded stash after `publish` and
/// `prepare_wait(true)`. In NODEV one `prepare_wait` leaves nothing behind.
#[test]
fn the_backlog_drains_in_one_prepare_wait() {
    require_nodev!();
    const TOTAL: u64 = 16 << 20;
    const BURST: usize = 100;
    let mut ring = ring::<Cqe32>(64);
    let zcrx = nodev(132).rq_entries(1).register(&ring).unwrap();
    assert_eq!(zcrx.rq_entries(), 1);
    let (client, server) = tcp_pair();
    let sender = send_pattern(client, TOTAL);
    let (to_worker, work) = mpsc::channel::<Vec<SharedBuf>>();
    let (done, from_worker) = mpsc::channel::<()>();
    let worker = thread::spawn(move || {
        for burst in work {
            drop(burst);
            done.send(()).unwrap();
        }
    });
    let mut rx = Receiver::new(&mut ring);
    rx.add(&zcrx, &server, None).unwrap();
    let (mut got, mut burst, mut bursts) = (0u64, Vec::new(), 0);
    let flush = |burst: &mut Vec<SharedBuf>| {
        to_worker.send(std::mem::take(burst)).unwrap();
        from_worker.recv().unwrap();
        zcrx.publish();
        zcrx.prepare_wait(true).unwrap();
        assert_eq!(zcrx.backlog(), 0, "returns left behind");
    };
    loop {
        match rx.recv().unwrap() {
            Recv::Data { buf, .. } => {
                check(&buf, got);
                got += buf.len() as u64;
                burst.push(buf.into_shared());
                if burst.len() == BURST {
                    flush(&mut burst);
                    bursts += 1;
                }
            }
            Recv::Eof { .. } => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    flush(&mut burst);
    drop(to_worker);
    worker.join().unwrap();
    sender.join().unwrap();
    assert_eq!(got, TOTAL);
    assert!(bursts > 10);
    assert_eq!(zcrx.held(), 0);
}

/// Issue item 9. Before: a byte limit above `u32::MAX` was submitted capped;
/// when that request ended (`res` 0) the loop reported `Eof` with bytes
/// still owed. The per-request cap is lowered here so that the limit spans
/// several requests without sending 4 GiB.
#[test]
fn a_limit_larger_than_one_request_is_reached_exactly() {
    require_nodev!();
    const LIMIT: u64 = (1 << 20) + 4097;
    const TOTAL: u64 = 2 << 20;
    let mut ring = ring::<Cqe32>(16);
    let zcrx = nodev(64).register(&ring).unwrap();
    let (client, server) = tcp_pair();
    let sender = send_pattern(client, TOTAL);
    let mut got = 0u64;
    {
        let mut rx = Receiver::new(&mut ring);
        rx.set_request_cap(64 * 1024);
        let conn = rx.add(&zcrx, &server, Some(LIMIT)).unwrap();
        loop {
            match rx.recv().unwrap() {
                Recv::Data { buf, .. } => {
                    check(&buf, got);
                    got += buf.len() as u64;
                }
                Recv::LimitReached { conn: c } => {
                    assert_eq!(c, conn);
                    break;
                }
                other => panic!("unexpected {other:?} after {got} bytes"),
            }
        }
        assert_eq!(got, LIMIT);
    }
    // The rest is still in the socket.
    let mut rx = Receiver::new(&mut ring);
    rx.add(&zcrx, &server, None).unwrap();
    loop {
        match rx.recv().unwrap() {
            Recv::Data { buf, .. } => {
                check(&buf, got);
                got += buf.len() as u64;
            }
            Recv::Eof { .. } => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, TOTAL);
    sender.join().unwrap();
}

/// Issue item 10. Before: `add_area(&mut self)` could not be called while a
/// receiver or a view existed, although the kernel allows it (7.3) and that
/// is when it is needed. Now: every buffer held, an area added, the stream
/// goes on byte-exact. On 7.2 the kernel lacks the operation: a typed
/// "unsupported".
#[test]
fn an_area_added_while_receiving_keeps_the_stream_going() {
    require_nodev!();
    const TOTAL: u64 = 4 << 20;
    let mut ring = ring::<Cqe32>(16);
    let zcrx = nodev(8).register(&ring).unwrap();
    let has_add_area = Capabilities::query()
        .zcrx()
        .is_ok_and(|z| z.require_ctrl(ZCRX_CTRL_ADD_AREA).is_ok());
    if !has_add_area {
        assert!(!kernel_at_least(7, 3));
        let err = zcrx.add_area(Area::anonymous(8 * PAGE).unwrap());
        assert!(matches!(err, Err(Error::Unsupported(_))), "{err:?}");
        return;
    }
    let (client, server) = tcp_pair();
    let sender = send_pattern(client, TOTAL);
    let mut rx = Receiver::new(&mut ring);
    rx.add(&zcrx, &server, None).unwrap();
    let (mut got, mut held, mut from_new) = (0u64, Vec::new(), 0);
    let mut added = false;
    loop {
        match rx.recv().unwrap() {
            Recv::Data { buf, .. } => {
                check(&buf, got);
                got += buf.len() as u64;
                if buf.area_id() == 1 {
                    from_new += 1;
                }
                if !added {
                    held.push(buf); // keep the first area's buffers
                }
            }
            Recv::BuffersExhausted => {
                assert!(!added, "exhausted again with 64 new buffers");
                assert_eq!(zcrx.held(), 8);
                // Memory ran out mid-stream: add some, views still alive.
                assert_eq!(zcrx.add_area(Area::anonymous(64 * PAGE).unwrap()), Ok(1));
                assert_eq!((zcrx.area_count(), zcrx.buffers()), (2, 72));
                added = true;
            }
            Recv::Eof { .. } => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(added && from_new > 0, "the new area was used ({from_new})");
    assert_eq!(got, TOTAL);
    for (i, b) in held.iter().enumerate() {
        assert_eq!(b.area_id(), 0, "held view {i}");
    }
    drop(held);
    sender.join().unwrap();
}

/// Issue item 11. Before: registering from a thread other than the ring's
/// issuer said "IORING_REGISTER_QUERY failed: File exists" or "the receive
/// queue is busy … choose another queue", in NODEV where there is no queue.
#[test]
fn the_thread_rule_is_named() {
    require_nodev!();
    let ring = ring::<Cqe32>(8);
    let fd = ring.as_fd().try_clone_to_owned().unwrap();
    let errors = thread::spawn(move || {
        let by_fd = nodev(4).register_fd(fd.as_fd()).unwrap_err();
        let caps = Capabilities::query(); // fd -1: any thread may ask
        let with_caps = nodev(4).register_with_caps(fd.as_fd(), &caps).unwrap_err();
        (by_fd, with_caps)
    })
    .join()
    .unwrap();
    assert_eq!(
        errors.0,
        Error::WrongThread {
            op: "IORING_REGISTER_QUERY"
        }
    );
    assert_eq!(
        errors.1,
        Error::WrongThread {
            op: "IORING_REGISTER_ZCRX_IFQ"
        }
    );
    for e in [errors.0, errors.1] {
        let text = e.to_string();
        assert!(text.contains("thread") && !text.contains("queue"), "{text}");
    }

    // Export/import from a thread that is not the instance ring's issuer.
    let caps = Capabilities::query();
    require!(
        caps.zcrx().is_ok_and(|z| z.supports_import()),
        "{}",
        lacks("ZCRX_REG_IMPORT")
    );
    let zcrx = nodev(4).register(&ring).unwrap();
    let (zcrx, err) = thread::spawn(move || {
        let other = common::ring::<Cqe32>(8);
        let err = zcrx.import_into(&other).unwrap_err();
        (zcrx, err)
    })
    .join()
    .unwrap();
    assert_eq!(
        err,
        Error::WrongThread {
            op: "IORING_REGISTER_ZCRX_CTRL"
        }
    );
    drop(zcrx);
}

/// Issue item 12. Before: without `CAP_IPC_LOCK` and with `RLIMIT_MEMLOCK`
/// 1 MiB, a 4 MiB area failed with a bare "Cannot allocate memory".
#[test]
fn the_locked_memory_limit_is_named() {
    require_nodev!();
    let err = thread::spawn(|| {
        // The kernel decides at ring creation whether registrations are
        // accounted: create the ring without CAP_IPC_LOCK.
        drop_caps(CapabilitySet::IPC_LOCK);
        let ring = ring::<Cqe32>(8);
        let old = getrlimit(Resource::Memlock);
        setrlimit(
            Resource::Memlock,
            Rlimit {
                current: Some(1 << 20),
                maximum: old.maximum,
            },
        )
        .unwrap();
        let result = nodev(1024).register(&ring).map(|z| z.id());
        setrlimit(Resource::Memlock, old).unwrap();
        result.unwrap_err()
    })
    .join()
    .unwrap();
    assert_eq!(
        err,
        Error::LockedMemoryLimit {
            op: "IORING_REGISTER_ZCRX_IFQ",
            bytes: 4 << 20,
            limit: 1 << 20,
        }
    );
    let text = err.to_string();
    for word in ["RLIMIT_MEMLOCK", "CAP_IPC_LOCK", "4194304", "1048576"] {
        assert!(text.contains(word), "{text}");
    }
}

/// Issue item 3 (the part the kernel is needed for). Before: a receiver
/// accepted an instance registered on another ring and turned offsets meant
/// for one instance into views of another's areas.
#[test]
fn instances_of_other_rings_are_refused() {
    require_nodev!();
    let first = ring::<Cqe32>(8);
    let mut second = ring::<Cqe32>(8);
    let on_first = nodev(4).register(&first).unwrap();
    let by_fd = nodev(4).register_fd(second.as_fd()).unwrap();
    assert!(on_first.is_registered_on(&first) && !on_first.is_registered_on(&second));
    let (_c, s) = tcp_pair();
    let mut rx = Receiver::new(&mut second);
    assert_eq!(rx.add(&on_first, &s, None), Err(Error::WrongRing));
    // Registered through a bare descriptor: not bound to any of our rings.
    assert_eq!(rx.add(&by_fd, &s, None), Err(Error::WrongRing));
    drop(rx);

    // An import is accepted on the ring it was made for, and only there.
    if Capabilities::query()
        .zcrx()
        .is_ok_and(|z| z.supports_import())
    {
        let mut third = ring::<Cqe32>(8);
        let imported = on_first.import_into(&second).unwrap();
        let mut rx = Receiver::new(&mut third);
        assert_eq!(
            rx.add_imported(&imported, &s, None).map(|_| ()),
            Err(Error::WrongRing)
        );
        drop(rx);
        let (client, server) = tcp_pair();
        let sender = send_pattern(client, 1 << 20);
        let mut rx = Receiver::new(&mut second);
        rx.add_imported(&imported, &server, None).unwrap();
        receive_all(&mut rx, 1 << 20);
        sender.join().unwrap();
    }
}
