//! NIC-mode ZCRX on a (simulated) NIC: one multi-MiB stream from another
//! network namespace, steered to one rx queue, arrives byte-exact in the
//! area with nothing copied, and the kernel refills from the refill ring by
//! itself (an area far smaller than the stream, no `ZCRX_CTRL_FLUSH_RQ`).
//!
//! The device comes from `zcrx_testkit::nic` (the zcrx-sim module that
//! vm-test loads on 7.3 and 7.2, or a real NIC named by `ZCRX_NIC_*`).

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use zcrx_ring::caps::Capabilities;
use zcrx_ring::ring::{Cqe32, Ring};
use zcrx_ring::{Area, EventConfig, Receiver, Recv, StatsPlacement, Zcrx};
use zcrx_testkit::nic::NicPair;
use zcrx_testkit::{lacks, require};
use zcrx_uapi::{ZCRX_EVENT_COPY, ZcrxEventMask};

const PAGE: usize = 4096;
const TOTAL: u64 = 8 << 20;
const AREA_BUFFERS: usize = 256;
const EVENT_TAG: u64 = 0x5eed_0001;
/// The longest wait for data before the test gives up.
const STALL: Duration = Duration::from_secs(60);

/// A reproducible random byte stream (xorshift64*), the same on both sides.
struct Stream(u64, u64, [u8; 8]);

impl Stream {
    fn new(seed: u64) -> Self {
        Stream(seed | 1, 8, [0; 8])
    }

    fn next_byte(&mut self) -> u8 {
        if self.1 == 8 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.2 = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            self.1 = 0;
        }
        let b = self.2[self.1 as usize];
        self.1 += 1;
        b
    }
}

fn send_stream(to: SocketAddr, seed: u64) -> std::io::Result<()> {
    let mut s = TcpStream::connect(to)?;
    let mut bytes = Stream::new(seed);
    let mut buf = vec![0u8; 256 * 1024];
    let mut sent = 0u64;
    while sent < TOTAL {
        let n = (TOTAL - sent).min(buf.len() as u64) as usize;
        buf[..n].iter_mut().for_each(|b| *b = bytes.next_byte());
        s.write_all(&buf[..n])?;
        sent += n as u64;
    }
    Ok(())
}

#[test]
fn nic_stream_lands_in_the_area_without_copies_and_the_kernel_refills() {
    let caps = Capabilities::query();
    require!(caps.zcrx().is_ok(), "{}", lacks("IO_URING_QUERY_ZCRX"));
    require!(
        caps.zcrx_event().is_ok(),
        "{}",
        lacks("IO_URING_QUERY_ZCRX_EVENT")
    );
    require!(
        zcrx_testkit::has_cap_net_admin(),
        "needs CAP_NET_ADMIN (run as root)"
    );
    let nic = NicPair::acquire();
    require!(nic.is_ok(), "{}", nic.as_ref().unwrap_err());
    let mut nic = nic.unwrap();
    let queue = *nic
        .queues()
        .first()
        .expect("the NIC has a queue besides queue 0");

    let listener = TcpListener::bind((nic.addr(), 0)).unwrap();
    let to = listener.local_addr().unwrap();
    nic.steer_tcp4(to.port(), queue).unwrap();

    let mut ring = Ring::<Cqe32>::builder(64).build().expect("ring setup");
    let zcrx = Zcrx::builder_nic(nic.ifindex(), queue)
        .area(Area::anonymous(AREA_BUFFERS * PAGE).unwrap())
        .rq_entries(AREA_BUFFERS as u32)
        .events(EventConfig {
            user_data: EVENT_TAG,
            mask: ZcrxEventMask::COPY,
            stats: StatsPlacement::Auto,
        })
        .register(&ring)
        .unwrap_or_else(|e| panic!("registering on {} rx queue {queue}: {e}", nic.ifname()));
    assert!(!zcrx.is_nodev());
    let area_bytes = u64::from(zcrx.buffers()) * u64::from(zcrx.rx_buf_len());
    assert!(
        area_bytes * 4 <= TOTAL,
        "the area must be far smaller than the stream"
    );

    let seed = 0x2c0f_fee5;
    let sender = nic.spawn_sender(move || send_stream(to, seed)).unwrap();
    let (server, _) = listener.accept().unwrap();

    let mut rx = Receiver::new(&mut ring);
    rx.add(&zcrx, &server, None).unwrap();
    let mut expect = Stream::new(seed);
    let (mut got, mut completions, mut copy_events, mut largest) = (0u64, 0u64, 0u64, 0usize);
    let mut last_progress = Instant::now();
    loop {
        // `None`: a round without an event for us (not necessarily a timeout).
        let Some(event) = rx.recv_timeout(Duration::from_secs(5)).unwrap() else {
            let idle = last_progress.elapsed();
            assert!(idle < STALL, "no data for {idle:?} after {got} bytes");
            continue;
        };
        last_progress = Instant::now();
        match event {
            Recv::Data { buf, .. } => {
                for (i, &b) in buf.iter().enumerate() {
                    let want = expect.next_byte();
                    assert_eq!(b, want, "wrong byte at offset {}", got + i as u64);
                }
                got += buf.len() as u64;
                largest = largest.max(buf.len());
                completions += 1;
            }
            Recv::Other(c) if c.user_data == EVENT_TAG => {
                assert_eq!(
                    c.res, ZCRX_EVENT_COPY as i32,
                    "only COPY events were enabled"
                );
                copy_events += 1;
            }
            Recv::Eof { .. } => break,
            other => panic!("unexpected event after {got} bytes: {other:?}"),
        }
    }
    drop(rx);
    sender.join().unwrap().unwrap();

    let stats = zcrx.stats().expect("registered with stats");
    println!(
        "nic smoke: {} rx queue {queue}: {got} bytes byte-exact in {completions} completions \
         (largest {largest}), copy_count {}, COPY events {copy_events}, area {} buffers of {} \
         bytes reused {:.1} times each without ZCRX_CTRL_FLUSH_RQ",
        nic.ifname(),
        stats.copy_count(),
        zcrx.buffers(),
        zcrx.rx_buf_len(),
        completions as f64 / f64::from(zcrx.buffers())
    );
    assert_eq!(got, TOTAL);
    assert_eq!(stats.copy_count(), 0, "nothing was copied");
    assert_eq!(stats.copy_bytes(), 0);
    assert_eq!(copy_events, 0, "no copy-fallback event");
    // More completions than buffers: the kernel took returned buffers from
    // the refill ring itself (the library flushes only in NODEV mode).
    assert!(
        completions > 2 * u64::from(zcrx.buffers()),
        "{completions} completions through {} buffers",
        zcrx.buffers()
    );
    assert_eq!(zcrx.held(), 0);
}
