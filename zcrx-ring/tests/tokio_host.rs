//! The async receiver on the host's kernel (no ZCRX needed): other
//! requests' completions arrive through the reactor, the readiness is
//! registered and unregistered cleanly, and refusals name their cause.
//! Skips where io_uring itself is unavailable.

use std::io;
use std::os::fd::AsRawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};

use futures_core::Stream;
use rustix::event::{EventfdFlags, eventfd};
use rustix::io_uring::{IoringRegisterOp, io_uring_register};
use zcrx_ring::ring::opcode::{IORING_NOP_TW, prep_nop_flags};
use zcrx_ring::tokio::{AsyncReceiver, Readiness};
use zcrx_ring::{Error, Receiver, Recv, Ring};
use zcrx_uapi::io_uring_sqe;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn ring() -> Option<Ring> {
    match Ring::new(8) {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("skipped: no io_uring here: {e}");
            None
        }
    }
}

/// A NOP that completes through task work (where the kernel has
/// `IORING_NOP_TW`; elsewhere it fails at once, which is a completion too).
fn nop(user_data: u64) -> io_uring_sqe {
    let mut sqe = io_uring_sqe::default();
    prep_nop_flags(&mut sqe, user_data, IORING_NOP_TW, 0, [0, 0]);
    sqe
}

async fn other(rx: &mut AsyncReceiver<'_>) -> u64 {
    match rx.recv().await.unwrap() {
        Recv::Other(c) => c.user_data,
        ev => panic!("unexpected {ev:?}"),
    }
}

#[test]
fn other_requests_complete_through_the_reactor_with_each_source() {
    let Some(mut ring) = ring() else { return };
    let rt = runtime();
    for source in [Readiness::EventFd, Readiness::RingFd] {
        rt.block_on(async {
            let made = AsyncReceiver::with_readiness(Receiver::new(&mut ring), source);
            if source == Readiness::RingFd && Readiness::detect() != Readiness::RingFd {
                let e = made.unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{e}");
                return;
            }
            let mut rx = made.unwrap();
            for ud in 1..=3 {
                // SAFETY: a NOP carries no pointer; 1..=3 carry no tag.
                unsafe { rx.push(&nop(ud)) }.unwrap();
                assert_eq!(other(&mut rx).await, ud);
            }
            let c = rx.counters();
            assert!(c.enters >= 1 && c.waits >= 1, "{source:?}: {c:?}");
        });
    }
}

#[test]
fn receivers_in_turn_on_one_ring_each_register_and_unregister() {
    let Some(mut ring) = ring() else { return };
    let rt = runtime();
    for round in 0..3 {
        rt.block_on(async {
            let mut rx =
                AsyncReceiver::with_readiness(Receiver::new(&mut ring), Readiness::EventFd)
                    .unwrap_or_else(|e| panic!("round {round}: {e}"));
            // SAFETY: as above.
            unsafe { rx.push(&nop(10 + round)) }.unwrap();
            assert_eq!(other(&mut rx).await, 10 + round);
        });
    }
    // into_inner gives the blocking receiver back, the eventfd unregistered.
    let rx = rt.block_on(async { AsyncReceiver::new(&mut ring).unwrap() });
    drop(rx.into_inner());
    rt.block_on(async {
        AsyncReceiver::with_readiness(Receiver::new(&mut ring), Readiness::EventFd).unwrap();
    });
}

#[test]
fn outside_a_runtime_it_panics_and_leaves_nothing_registered() {
    let Some(mut ring) = ring() else { return };
    let made = catch_unwind(AssertUnwindSafe(|| {
        AsyncReceiver::with_readiness(Receiver::new(&mut ring), Readiness::EventFd).map(drop)
    }));
    assert!(made.is_err(), "no panic outside a runtime");
    runtime().block_on(async {
        AsyncReceiver::with_readiness(Receiver::new(&mut ring), Readiness::EventFd).unwrap();
    });
}

#[test]
fn a_ring_with_an_eventfd_of_its_own_is_named() {
    let Some(mut ring) = ring() else { return };
    let efd = eventfd(0, EventfdFlags::CLOEXEC).unwrap();
    let raw = efd.as_raw_fd();
    // SAFETY: IORING_REGISTER_EVENTFD reads one int through the pointer.
    unsafe {
        io_uring_register(
            ring.as_fd(),
            IoringRegisterOp::RegisterEventfd,
            (&raw const raw).cast(),
            1,
        )
    }
    .unwrap();
    runtime().block_on(async {
        let e = AsyncReceiver::with_readiness(Receiver::new(&mut ring), Readiness::EventFd)
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ResourceBusy, "{e}");
        assert!(e.to_string().contains("IORING_REGISTER_EVENTFD"), "{e}");
    });
}

#[test]
fn another_thread_is_refused_with_the_thread_rule() {
    let Some(mut ring) = ring() else { return };
    std::thread::spawn(move || {
        runtime().block_on(async {
            let e = AsyncReceiver::with_readiness(Receiver::new(&mut ring), Readiness::EventFd)
                .unwrap_err();
            let inner = e.get_ref().and_then(|i| i.downcast_ref::<Error>());
            assert!(
                matches!(inner, Some(Error::WrongThread { .. })),
                "{e} ({inner:?})"
            );
        });
    })
    .join()
    .unwrap();
}

#[test]
fn the_stream_of_a_receiver_without_sockets_ends_at_once() {
    let Some(mut ring) = ring() else { return };
    runtime().block_on(async {
        let mut rx = AsyncReceiver::new(&mut ring).unwrap();
        let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut rx).poll_next(cx)).await;
        assert!(next.is_none());
    });
}
