//! The state machine against made-up completions: what the kernel
//! posts, and what it could post, without a kernel.
use super::*;
use crate::zcrx::fake_instance;
use alloc::vec;
use zcrx_uapi::{CqeFlags, io_uring_sqe};

const TAG: u16 = 0x5a52;

/// Queues SQEs into a vector.
fn sink(sqes: &mut Vec<io_uring_sqe>) -> impl FnMut(&io_uring_sqe) -> Result<()> + '_ {
    |sqe| {
        sqes.push(*sqe);
        Ok(())
    }
}

fn done(user_data: u64, res: i32) -> Completion {
    Completion {
        user_data,
        res,
        flags: CqeFlags::empty(),
        big: Some([0, 0]),
    }
}

fn data(user_data: u64, res: i32, off: u64) -> Completion {
    Completion {
        user_data,
        res,
        flags: CqeFlags::MORE,
        big: Some([off, 0]),
    }
}

fn socket() -> std::net::UdpSocket {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap()
}

#[test]
fn a_limit_above_one_request_is_carried_over_several() {
    let zcrx = fake_instance(8, 8);
    let sock = socket();
    let mut d = Dispatch::new(TAG, 3);
    d.set_request_cap(10_000);
    let conn = d.add(&zcrx, 0, &sock, Some(25_000)).unwrap();
    let mut sqes = Vec::new();
    let mut got = 0u64;
    for part in [10_000u32, 10_000, 5_000] {
        d.prepare(&mut sink(&mut sqes)).unwrap();
        let sqe = sqes.pop().expect("armed");
        assert_eq!(sqe.len, part);
        let ud = sqe.user_data;
        let mut left = part;
        while left > 0 {
            let n = left.min(4096);
            // SAFETY: (test) made-up completions over fake memory.
            match unsafe { d.process(data(ud, n as i32, 0)) } {
                Some(Recv::Data { buf, .. }) => got += buf.len() as u64,
                other => panic!("{other:?}"),
            }
            left -= n;
        }
        // SAFETY: as above.
        let end = unsafe { d.process(done(ud, 0)) };
        if got < 25_000 {
            assert!(end.is_none(), "a part ended, the limit did not: {end:?}");
        } else {
            assert!(matches!(end, Some(Recv::LimitReached { conn: c }) if c == conn));
        }
    }
    assert_eq!((got, d.live()), (25_000, 0));
}

#[test]
fn enospc_without_progress_ends_with_a_reason() {
    let zcrx = fake_instance(8, 8);
    let sock = socket();
    let mut d = Dispatch::new(TAG, 0);
    let conn = d.add(&zcrx, 0, &sock, None).unwrap();
    let mut sqes = Vec::new();
    for round in 1.. {
        d.prepare(&mut sink(&mut sqes)).unwrap();
        let ud = sqes.pop().expect("re-armed").user_data;
        // SAFETY: (test) made-up completions over fake memory.
        match unsafe { d.process(done(ud, -libc::ENOSPC)) } {
            None => assert!(round < ENOSPC_STALLS as usize, "never gave up"),
            Some(Recv::Failed { conn: c, error }) => {
                assert_eq!(c, conn);
                assert!(matches!(
                    error,
                    Error::Stalled {
                        what: "completion ring",
                        ..
                    }
                ));
                assert_eq!(round, ENOSPC_STALLS as usize);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(d.live(), 0);
}

#[test]
fn enospc_with_data_in_between_keeps_going() {
    let zcrx = fake_instance(8, 8);
    let sock = socket();
    let mut d = Dispatch::new(TAG, 0);
    d.add(&zcrx, 0, &sock, None).unwrap();
    let mut sqes = Vec::new();
    for _ in 0..4 * ENOSPC_STALLS {
        d.prepare(&mut sink(&mut sqes)).unwrap();
        let ud = sqes.pop().expect("re-armed").user_data;
        // SAFETY: (test) made-up completions over fake memory.
        let ev = unsafe { d.process(data(ud, 100, 0)) };
        assert!(matches!(ev, Some(Recv::Data { .. })));
        drop(ev);
        // SAFETY: as above.
        assert!(unsafe { d.process(done(ud, -libc::ENOSPC)) }.is_none());
    }
    assert_eq!(d.live(), 1);
}

#[test]
fn enomem_with_buffers_missing_ends_with_a_reason() {
    let zcrx = fake_instance(8, 8);
    let sock = socket();
    let mut d = Dispatch::new(TAG, 0);
    d.add(&zcrx, 0, &sock, None).unwrap();
    let mut sqes = Vec::new();
    let mut outcome = None;
    for _ in 0..ENOMEM_STALLS {
        d.prepare(&mut sink(&mut sqes)).unwrap();
        let ud = sqes.pop().expect("re-armed").user_data;
        // SAFETY: (test) made-up completions over fake memory.
        outcome = unsafe { d.process(done(ud, -libc::ENOMEM)) };
    }
    // The application holds nothing, yet the kernel has no buffer.
    assert!(
        matches!(
            outcome,
            Some(Recv::Failed {
                error: Error::Stalled {
                    what: "zcrx buffers",
                    ..
                },
                ..
            })
        ),
        "{outcome:?}"
    );
    assert_eq!(zcrx.held(), 0);
}

#[test]
fn enomem_with_every_buffer_held_waits_for_the_application() {
    let zcrx = fake_instance(2, 8);
    let sock = socket();
    let mut d = Dispatch::new(TAG, 0);
    d.add(&zcrx, 0, &sock, None).unwrap();
    let mut sqes = Vec::new();
    d.prepare(&mut sink(&mut sqes)).unwrap();
    let ud = sqes.pop().unwrap().user_data;
    let mut held = vec![];
    for off in [0, 4096] {
        // SAFETY: (test) made-up completions over fake memory.
        match unsafe { d.process(data(ud, 10, off)) } {
            Some(Recv::Data { buf, .. }) => held.push(buf),
            other => panic!("{other:?}"),
        }
    }
    // SAFETY: as above.
    assert!(unsafe { d.process(done(ud, -libc::ENOMEM)) }.is_none());
    for _ in 0..3 * ENOMEM_STALLS {
        assert!(d.exhausted());
        d.prepare(&mut sink(&mut sqes)).unwrap();
        assert!(sqes.is_empty(), "re-armed with every buffer held");
    }
    // A completion for the socket now (nothing of the loop's in flight)
    // is not the loop's: passed through, no view, no state change.
    // SAFETY: as above.
    let r = unsafe { d.process(data(ud, 10, 0)) };
    assert!(matches!(r, Some(Recv::Other(_))));
    assert!(d.exhausted());
    drop(held);
    d.prepare(&mut sink(&mut sqes)).unwrap();
    assert_eq!(sqes.len(), 1, "re-armed once buffers came back");
}

#[test]
fn other_loops_and_other_generations_pass_through() {
    let zcrx = fake_instance(8, 8);
    let sock = socket();
    let mut d = Dispatch::new(TAG, 5);
    let mut sqes = Vec::new();
    d.add(&zcrx, 0, &sock, None).unwrap();
    d.prepare(&mut sink(&mut sqes)).unwrap();
    let ud = sqes.pop().unwrap().user_data;
    // The same socket index under an earlier loop's epoch, and under
    // an older generation of the slot: never this socket's.
    let other_epoch = (ud & !(0xffff << 32)) | (4 << 32);
    let other_gen = ud ^ (1 << 24);
    for stale in [other_epoch, other_gen] {
        // SAFETY: (test) made-up completions over fake memory.
        match unsafe { d.process(data(stale, 10, 0)) } {
            Some(Recv::Other(c)) => assert_eq!(c.user_data, stale),
            other => panic!("{other:?}"),
        }
        // SAFETY: as above.
        match unsafe { d.process(done(stale, -libc::ECANCELED)) } {
            Some(Recv::Other(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((zcrx.held(), d.live()), (0, 1));
}

#[test]
fn only_a_request_in_flight_makes_views() {
    let zcrx = fake_instance(8, 8);
    let sock = socket();
    let mut d = Dispatch::new(TAG, 0);
    let conn = d.add(&zcrx, 0, &sock, None).unwrap();
    let ud = d.user_data(conn.index, conn.generation);
    // Not armed yet: a completion with its user_data (a NOP pushed by
    // someone else, say) makes no view.
    // SAFETY: (test) made-up completions over fake memory.
    let r = unsafe { d.process(data(ud, 4096, 0)) };
    assert!(matches!(r, Some(Recv::Other(_))));
    let mut sqes = Vec::new();
    d.prepare(&mut sink(&mut sqes)).unwrap();
    // Armed: a positive result without F_MORE (a NOP with an injected
    // result, an event completion) is no data: no view, the socket fails.
    // SAFETY: as above.
    match unsafe { d.process(done(ud, 4096)) } {
        Some(Recv::Failed { conn: c, .. }) => assert_eq!(c, conn),
        other => panic!("{other:?}"),
    }
    assert_eq!((zcrx.held(), d.live()), (0, 0));
}

#[test]
fn a_cancel_with_nothing_in_flight_ends_the_socket_once() {
    let zcrx = fake_instance(8, 8);
    let sock = socket();
    let mut d = Dispatch::new(TAG, 0);
    let conn = d.add(&zcrx, 0, &sock, None).unwrap();
    let mut sqes = Vec::new();
    let first = d
        .cancel(conn, &mut sink(&mut sqes))
        .unwrap()
        .expect("made here");
    assert!(
        d.cancel(conn, &mut sink(&mut sqes)).unwrap().is_none(),
        "made twice"
    );
    assert!(sqes.is_empty());
    // SAFETY: (test) the completion `cancel` made.
    match unsafe { d.process(first) } {
        Some(Recv::Cancelled { conn: c }) => assert_eq!(c, conn),
        other => panic!("{other:?}"),
    }
    assert_eq!(d.live(), 0);
}

#[test]
fn a_data_completion_that_fails_its_checks_ends_the_socket() {
    let zcrx = fake_instance(8, 8);
    let sock = socket();
    let mut d = Dispatch::new(TAG, 0);
    let conn = d.add(&zcrx, 0, &sock, None).unwrap();
    let mut sqes = Vec::new();
    d.prepare(&mut sink(&mut sqes)).unwrap();
    let ud = sqes.pop().unwrap().user_data;
    // An offset past the area: refused, the socket's final event.
    // SAFETY: (test) made-up completions over fake memory.
    match unsafe { d.process(data(ud, 10, 1 << 30)) } {
        Some(Recv::Failed { conn: c, .. }) => assert_eq!(c, conn),
        other => panic!("{other:?}"),
    }
    // Its request is cancelled at the next prepare...
    d.prepare(&mut sink(&mut sqes)).unwrap();
    assert_eq!(sqes.len(), 1);
    assert_eq!(sqes[0].opcode, zcrx_uapi::IORING_OP_ASYNC_CANCEL);
    // ...data it still posts goes back without an event, and its end ends
    // the slot silently.
    // SAFETY: as above.
    assert!(unsafe { d.process(data(ud, 10, 0)) }.is_none());
    assert_eq!(zcrx.held(), 0);
    // SAFETY: as above.
    assert!(unsafe { d.process(done(ud, -libc::ECANCELED)) }.is_none());
    assert_eq!((d.live(), d.inflight), (0, 0));
}
