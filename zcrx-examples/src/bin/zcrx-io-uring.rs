//! ZCRX on a ring of the `io-uring` crate: this program owns the ring
//! (submits, waits, reaps); `zcrx-ring` registers the instance, arms the
//! receive and turns completions into views; `zcrx-notif` routes the
//! notifications. A thread sends `MIB` MiB (default 16) over loopback.
//!
//! Usage: `zcrx-io-uring [MIB]` (NODEV: Linux >= 7.1, CAP_NET_ADMIN), or
//! `cargo xtask vm-run -- zcrx-io-uring 64` in the guest.

use std::io::Write;
use std::net::{TcpListener, TcpStream};

use io_uring::{IoUring, cqueue, squeue};
use sha2::{Digest, Sha256};
use zcrx_notif::{Delivery, Fallback, Notifier, NotifyConfig, RearmPolicy};
use zcrx_notif::{StatsSnapshot, Support, ZcrxBuilderExt};
use zcrx_ring::io_uring::{IoUringReceiver, builder};
use zcrx_ring::{Area, Recv, Zcrx};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mib: u64 = std::env::args().nth(1).map_or(Ok(16), |a| a.parse())?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut tx = TcpStream::connect(listener.local_addr()?)?;
    let (sock, _) = listener.accept()?;
    let sender = std::thread::spawn(move || {
        let (mut block, mut sha) = (vec![0u8; 1 << 20], Sha256::new());
        for i in 0..mib {
            zcrx_examples::pattern::fill(i << 20, &mut block);
            sha.update(&block);
            tx.write_all(&block).expect("send");
        }
        hex(sha)
    });

    let mut ring: IoUring<squeue::Entry, cqueue::Entry32> = builder().build(64)?;
    let support = Support::query();
    let cfg = NotifyConfig::new(0xfeed)
        .stats(true)
        .rearm(RearmPolicy::Immediately)
        .fallback(Fallback::ReceiveWithout);
    let zcrx = Zcrx::builder_nodev()
        .area(Area::anonymous(256 * 4096)?)
        .notifications(&cfg, &support)?
        .register_io_uring(&ring)
        .map_err(|e| cfg.register_error(&support, e))?;
    let mut notifier = Notifier::new(&cfg, &support);
    let mut rx = IoUringReceiver::new(&ring)?;
    rx.add(&zcrx, &sock, None)?;

    let (mut got, mut sha, mut notes) = (0u64, Sha256::new(), 0u32);
    'recv: loop {
        notifier.service(&zcrx)?; // re-arms fired notifications
        rx.prepare(&mut ring)?; // arms the receive, gives buffers back
        ring.submit_and_wait(1)?;
        for cqe in ring.completion() {
            let Delivery::Other(cqe) = notifier.route(cqe) else {
                notes += 1;
                continue;
            };
            // SAFETY: reaped from `ring`, the receiver's ring, passed once.
            match unsafe { rx.process(&cqe) } {
                Some(Recv::Data { buf, .. }) => {
                    got += buf.len() as u64;
                    sha.update(&buf[..]); // `buf` goes back to the kernel here
                }
                Some(Recv::Eof { .. }) => break 'recv,
                Some(Recv::Failed { error, .. }) => return Err(error.into()),
                _ => {}
            }
        }
    }
    rx.close(&mut ring)?;
    let (ours, theirs) = (hex(sha), sender.join().expect("sender"));
    println!("received {got} bytes, sha256 {ours} (sent {theirs})");
    println!("notifications: {notes}");
    if let Some(s) = StatsSnapshot::read(&zcrx) {
        println!(
            "stats: {} copies, {} bytes copied",
            s.copy_count, s.copy_bytes
        );
    }
    if ours != theirs || got != mib << 20 {
        return Err("the stream did not arrive intact".into());
    }
    Ok(())
}

fn hex(sha: Sha256) -> String {
    sha.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
