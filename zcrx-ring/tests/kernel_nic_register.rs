//! NIC-mode registration on a (simulated) NIC's rx queue: by interface
//! index and by name, with every value the kernel writes back checked
//! against its query; and the typed refusals: a queue already bound, header
//! split off (or a non-zero hds-thresh), a queue out of range, an unknown
//! interface.

mod nic;

use zcrx_ring::caps::Capabilities;
use zcrx_ring::{Area, Error, Zcrx};
use zcrx_testkit::nic::NicPair;
use zcrx_testkit::require;

use nic::PAGE;

const BUFFERS: usize = 64;

fn area() -> Area {
    Area::anonymous(BUFFERS * PAGE).unwrap()
}

/// Checks what registration wrote back against the kernel's query and
/// what was asked for.
#[track_caller]
fn check_read_back(zcrx: &Zcrx, rq_asked: u32) {
    let query = Capabilities::query();
    let q = query.zcrx().expect("the ZCRX query answers");
    assert!(!zcrx.is_nodev());
    assert_eq!(
        zcrx.rq_entries(),
        rq_asked.next_power_of_two(),
        "rq_entries"
    );
    assert_eq!(zcrx.rx_buf_len() as usize, PAGE, "the default buffer size");
    assert_eq!(zcrx.buffers() as usize, BUFFERS);
    assert_eq!(zcrx.area_count(), 1);
    let layout = zcrx.region_layout();
    assert_eq!(layout.entries, zcrx.rq_entries());
    assert_eq!(
        layout.entries_offset,
        u64::from(q.refill_entries_offset().unwrap()),
        "the refill entries start where the query's header size and alignment put them \
         (rq_hdr_size {}, rq_hdr_alignment {})",
        q.rq_hdr_size,
        q.rq_hdr_alignment
    );
    assert!(layout.size >= layout.entries_offset + 16 * u64::from(layout.entries));
    assert_eq!(layout.stats_offset, None);
    assert_eq!((zcrx.held(), zcrx.flushes()), (0, 0));
}

#[test]
fn registration_by_index_and_by_name_reads_back_what_the_query_says() {
    let Some(nic) = NicPair::acquire_or_skip() else {
        return;
    };
    let (Some(q0), Some(q1)) = (nic::queue(&nic, 0), nic::queue(&nic, 1)) else {
        return;
    };
    let ring = nic::ring();
    let by_index = Zcrx::builder_nic(nic.ifindex(), q0)
        .area(area())
        .rq_entries(100)
        .register(&ring)
        .unwrap_or_else(|e| {
            panic!(
                "{} (ifindex {}) rx queue {q0}: {e}",
                nic.ifname(),
                nic.ifindex()
            )
        });
    check_read_back(&by_index, 100);
    assert!(by_index.is_registered_on(&ring));

    // By name, on another queue of the same device, on the same ring.
    let by_name = Zcrx::builder_nic_named(nic.ifname(), q1)
        .unwrap()
        .area(area())
        .rq_entries(64)
        .register(&ring)
        .unwrap_or_else(|e| panic!("{} rx queue {q1}: {e}", nic.ifname()));
    check_read_back(&by_name, 64);
    assert_ne!(by_index.id(), by_name.id(), "two instances of one ring");
    assert_eq!(
        by_index.region_layout().entries_offset,
        by_name.region_layout().entries_offset
    );
    println!(
        "nic register: {} ifindex {} rx queues {q0} (id {}) and {q1} (id {}): rq_entries {} / \
         {}, entries at {}, {} buffers of {} bytes",
        nic.ifname(),
        nic.ifindex(),
        by_index.id(),
        by_name.id(),
        by_index.rq_entries(),
        by_name.rq_entries(),
        by_index.region_layout().entries_offset,
        by_index.buffers(),
        by_index.rx_buf_len()
    );

    // Names and indices that do not exist.
    let e = Zcrx::builder_nic_named("zcrx-no-such", q0).unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidConfig {
                field: "interface name",
                ..
            }
        ),
        "{e:?}"
    );
    let e = Zcrx::builder_nic(0x7fff_fff0, q0)
        .area(area())
        .register(&ring)
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidConfig {
                field: "if_idx",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn binding_a_bound_queue_is_a_typed_queue_busy_until_its_ring_closes() {
    let Some(nic) = NicPair::acquire_or_skip() else {
        return;
    };
    let Some(q) = nic::queue(&nic, 0) else {
        return;
    };
    let first_ring = nic::ring();
    let first = Zcrx::builder_nic(nic.ifindex(), q)
        .area(area())
        .register(&first_ring)
        .unwrap();

    // From another ring, and from the same ring.
    let other_ring = nic::ring();
    for (ring, which) in [
        (&other_ring, "another ring"),
        (&first_ring, "the same ring"),
    ] {
        let e = Zcrx::builder_nic(nic.ifindex(), q)
            .area(area())
            .register(ring)
            .unwrap_err();
        assert!(
            matches!(e, Error::QueueBusy { errno, .. } if errno == rustix::io::Errno::EXIST),
            "{which}: {e:?}"
        );
        assert!(e.to_string().contains("busy"), "{e}");
    }
    // Dropping the instance does not release the queue: the ring holds it.
    drop(first);
    let e = Zcrx::builder_nic(nic.ifindex(), q)
        .area(area())
        .register(&other_ring)
        .unwrap_err();
    assert!(matches!(e, Error::QueueBusy { .. }), "{e:?}");
    // Closing the ring does.
    drop(first_ring);
    let again = nic::register_retrying(
        || Zcrx::builder_nic(nic.ifindex(), q).area(area()),
        &other_ring,
    )
    .unwrap_or_else(|e| panic!("rx queue {q} after its ring closed: {e}"));
    check_read_back(&again, BUFFERS as u32);
}

/// Registers on `q` and expects the header-split refusal.
#[track_caller]
fn expect_header_split_off(nic: &NicPair, q: u32, setting: &str) {
    let ring = nic::ring();
    let e = Zcrx::builder_nic(nic.ifindex(), q)
        .area(area())
        .register(&ring)
        .unwrap_err();
    assert_eq!(
        e,
        Error::HeaderSplitOff {
            ifindex: nic.ifindex(),
            rxq: q
        },
        "{setting}"
    );
    let msg = e.to_string();
    assert!(msg.contains("tcp-data-split"), "{msg}");
    println!("nic register: {setting}: {msg}");
}

#[test]
fn header_split_off_or_a_threshold_is_a_typed_error_naming_header_split() {
    let Some(mut nic) = NicPair::acquire_or_skip() else {
        return;
    };
    let Some(q) = nic::queue(&nic, 0) else {
        return;
    };
    let found = nic.ring_params().unwrap();
    let mut refusals = 0;
    match nic.set_tcp_data_split(false) {
        Ok(()) => {
            assert_eq!(nic.ring_params().unwrap().tcp_data_split, Some(false));
            expect_header_split_off(&nic, q, "tcp-data-split off");
            nic.set_tcp_data_split(true).unwrap();
            refusals += 1;
        }
        // bnxt and fbnic never turn header split off.
        Err(e) if !nic.is_simulated() => println!("nic register: {e}: not tried"),
        Err(e) => panic!("{e}"),
    }
    // A threshold above 0 leaves small segments unsplit: refused as well
    // (mlx5 has no threshold to set).
    if found.hds_thresh_max.is_some_and(|m| m >= 256) {
        nic.set_hds_thresh(256).unwrap();
        expect_header_split_off(&nic, q, "hds-thresh 256");
        nic.set_hds_thresh(0).unwrap();
        refusals += 1;
    }
    require!(
        refusals > 0,
        "{} lets neither header split be turned off nor hds-thresh be raised",
        nic.ifname()
    );
    // Back to what ZCRX needs: it binds.
    let ring = nic::ring();
    let zcrx =
        nic::register_retrying(|| Zcrx::builder_nic(nic.ifindex(), q).area(area()), &ring).unwrap();
    check_read_back(&zcrx, BUFFERS as u32);
}

#[test]
fn an_out_of_range_queue_is_a_typed_error() {
    let Some(nic) = NicPair::acquire_or_skip() else {
        return;
    };
    let ring = nic::ring();
    for rxq in [nic.rx_queues(), nic.rx_queues() + 7, u32::MAX] {
        let e = Zcrx::builder_nic(nic.ifindex(), rxq)
            .area(area())
            .register(&ring)
            .unwrap_err();
        assert_eq!(
            e,
            Error::QueueOutOfRange {
                ifindex: nic.ifindex(),
                rxq
            },
            "rx queue {rxq} of {} ({} queues)",
            nic.ifname(),
            nic.rx_queues()
        );
    }
}
