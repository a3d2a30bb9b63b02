//! NIC-mode teardown: the ring, the instance and views of received data
//! dropped in every order while a stream is still arriving. The views stay
//! readable and unchanged to the end, the queue stays bound while its ring
//! is open, and once everything is gone the queue is released and can be
//! bound again (and then receives byte-exact).

mod nic;

use std::fmt;

use nic::{PAGE, Tally, next_event, receive_to_end};
use zcrx_ring::ring::{Cqe32, Ring};
use zcrx_ring::{Area, Error, Receiver, Recv, SharedBuf, Zcrx, ZcrxBuilder};
use zcrx_testkit::nic::{FlowSpec, NicPair, hex};

const BUFFERS: usize = 64;
/// `SO_RCVBUF` of the flows: a window well inside 64 buffers.
const RCVBUF: usize = 32 * 1024;
/// Views held through the teardown.
const HELD: usize = 24;
/// Small enough for the socket buffers: the sender finishes whatever the
/// receiver does.
const FLOW_BYTES: u64 = 1 << 20;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Ring,
    Instance,
    Views,
}

impl fmt::Debug for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Ring => "ring",
            Part::Instance => "instance",
            Part::Views => "views",
        })
    }
}

const ORDERS: [[Part; 3]; 6] = {
    use Part::{Instance, Ring, Views};
    [
        [Ring, Instance, Views],
        [Ring, Views, Instance],
        [Instance, Ring, Views],
        [Instance, Views, Ring],
        [Views, Ring, Instance],
        [Views, Instance, Ring],
    ]
};

fn builder(nic: &NicPair, q: u32) -> ZcrxBuilder {
    Zcrx::builder_nic(nic.ifindex(), q).area(Area::anonymous(BUFFERS * PAGE).unwrap())
}

/// Checks the held views still hold what they held when received.
#[track_caller]
fn check_views(views: &[(SharedBuf, Vec<u8>)], when: &str) {
    for (i, (view, copy)) in views.iter().enumerate() {
        assert!(
            view[..] == copy[..],
            "view {i} ({} bytes) changed {when}",
            view.len()
        );
    }
}

/// One round: bind `q`, receive part of a stream, keep `HELD` views, drop
/// the receiver (its request still armed) and the socket, then tear down
/// in `order`.
fn round(nic: &mut NicPair, q: u32, order: [Part; 3], seed: u64) {
    let mut ring: Option<Ring<Cqe32>> = Some(nic::ring());
    let zcrx = nic::register_retrying(|| builder(nic, q), ring.as_ref().unwrap())
        .unwrap_or_else(|e| panic!("{order:?}: binding rx queue {q}: {e}"));
    let mut zcrx = Some(zcrx);
    // 64 buffers: a window of some 20 segments (FlowSpec::rcvbuf).
    let flow = nic
        .open_flow(FlowSpec::new(q, FLOW_BYTES, seed).rcvbuf(RCVBUF))
        .unwrap();
    let mut views: Vec<(SharedBuf, Vec<u8>)> = Vec::new();
    {
        let mut rx = Receiver::new(ring.as_mut().unwrap());
        rx.add(zcrx.as_ref().unwrap(), &flow.server, None).unwrap();
        let mut got = 0;
        while views.len() < HELD {
            match next_event(&mut rx, got) {
                Recv::Data { buf, .. } => {
                    got += buf.len() as u64;
                    let copy = buf.to_vec();
                    views.push((buf.into_shared(), copy));
                }
                other => panic!("{order:?}: unexpected event after {got} bytes: {other:?}"),
            }
        }
        // Dropped with its multishot receive in flight.
    }
    // The sender may or may not have finished: either is fine.
    let _ = flow.close();
    assert_eq!(zcrx.as_ref().unwrap().held() as usize, HELD);

    let mut views = Some(views);
    for part in order {
        match part {
            Part::Ring => {
                // While its ring is open, the queue stays bound.
                let probe = nic::ring();
                let e = builder(nic, q).register(&probe).unwrap_err();
                assert!(
                    matches!(e, Error::QueueBusy { .. }),
                    "{order:?}: rx queue {q} while its ring is open: {e:?}"
                );
                drop(ring.take());
            }
            Part::Instance => drop(zcrx.take()),
            Part::Views => {
                let held = views.take().unwrap();
                check_views(&held, &format!("when dropped ({order:?})"));
                drop(held);
            }
        }
    }
}

#[test]
fn teardown_in_every_order_with_views_held_releases_the_queue() {
    let Some(mut nic) = NicPair::acquire_or_skip() else {
        return;
    };
    let Some(q) = nic::queue(&nic, 0) else {
        return;
    };
    for (i, order) in ORDERS.into_iter().enumerate() {
        round(&mut nic, q, order, 0x7ea0 + i as u64);
        println!("nic teardown: {order:?}: views intact, queue {q} released");
    }

    // Released for good: a new instance binds and receives byte-exact.
    let mut ring = nic::ring();
    let zcrx = nic::register_retrying(|| builder(&nic, q), &ring)
        .unwrap_or_else(|e| panic!("binding rx queue {q} after the teardowns: {e}"));
    let mut flow = nic
        .open_flow(FlowSpec::new(q, 4 * FLOW_BYTES, 0x7ea9).rcvbuf(RCVBUF))
        .unwrap();
    let mut rx = Receiver::new(&mut ring);
    rx.add(&zcrx, &flow.server, None).unwrap();
    let mut tally = Tally::default();
    let digest = receive_to_end(&mut rx, &zcrx, &mut tally);
    drop(rx);
    let sent = flow.join_sender().unwrap();
    assert_eq!(digest.bytes(), sent.bytes);
    assert_eq!(hex(&digest.finish()), hex(&sent.sha256));
    assert!(tally.others.is_empty(), "{:?}", tally.others);
    assert_eq!(zcrx.flushes(), 0);
}
