//! Measures the async receiver's two readiness sources on the same streams:
//! an eventfd registered with the ring (what `AsyncReceiver::new` uses) and
//! the ring's own descriptor. Needs NODEV (Linux 7.2 or later) and
//! CAP_NET_ADMIN; run it in the guest:
//!
//! ```text
//! cargo xtask vm-run --kernel-version 7.3 -- zcrx-ring/tokio_readiness
//! cargo xtask vm-run --kernel-version 7.2 -- zcrx-ring/tokio_readiness --rounds 1
//! ```
//!
//! Two workloads per source: `bulk` (one stream written as fast as the
//! sender can) and `trickle` (4 KiB messages with a pause after each,
//! `--pause-us`, 2 ms by default, so that the receiver waits before nearly
//! every one). Each row: wall and
//! receiver-thread CPU time, events, and what the receiver did: waits in
//! the reactor, enters with GETEVENTS, enters that found nothing, level
//! checks. A source that never wakes the receiver would be reported as
//! stalled after 10 s without an event; the receiver refuses the ring's
//! descriptor where the kernel does not wake it (its probe), and that
//! refusal is reported instead.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use zcrx_ring::tokio::{AsyncReceiver, Readiness};
use zcrx_ring::{Area, Receiver, Recv, Ring, Zcrx};

const STALL: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug)]
enum Workload {
    Bulk {
        bytes: usize,
    },
    Trickle {
        messages: usize,
        size: usize,
        pause: Duration,
    },
}

struct Row {
    source: Readiness,
    workload: &'static str,
    outcome: Result<(u64, u64), String>,
    wall: Duration,
    cpu: Duration,
    counters: zcrx_ring::tokio::Counters,
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call.
    let _ = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

fn run(source: Readiness, workload: Workload) -> Row {
    let mut ring: Ring = Ring::builder(64).cq_entries(1024).build().unwrap();
    let zcrx = Zcrx::builder_nodev()
        .area(Area::anonymous(1024 * 4096).unwrap())
        .register(&ring)
        .unwrap();
    let (mut client, server) = pair();
    let sender = thread::spawn(move || match workload {
        Workload::Bulk { bytes } => {
            let chunk = vec![0x5au8; 256 << 10];
            let mut left = bytes;
            while left > 0 {
                let n = left.min(chunk.len());
                if client.write_all(&chunk[..n]).is_err() {
                    return;
                }
                left -= n;
            }
        }
        Workload::Trickle {
            messages,
            size,
            pause,
        } => {
            let msg = vec![0xa5u8; size];
            for _ in 0..messages {
                if client.write_all(&msg).is_err() {
                    return;
                }
                thread::sleep(pause);
            }
        }
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (wall0, cpu0) = (Instant::now(), thread_cpu());
    let (outcome, counters) = rt.block_on(async {
        let mut rx = match AsyncReceiver::with_readiness(Receiver::new(&mut ring), source) {
            Ok(rx) => rx,
            Err(e) => return (Err(format!("refused: {e}")), Default::default()),
        };
        rx.add(&zcrx, &server, None).unwrap();
        let (mut bytes, mut events) = (0u64, 0u64);
        let outcome = loop {
            match tokio::time::timeout(STALL, rx.recv()).await {
                Err(_) => {
                    break Err(format!(
                        "stalled: no event in {STALL:?} after {bytes} bytes"
                    ));
                }
                Ok(Err(e)) => break Err(e.to_string()),
                Ok(Ok(Recv::Data { buf, .. })) => {
                    bytes += buf.len() as u64;
                    events += 1;
                }
                Ok(Ok(Recv::Eof { .. })) => break Ok((bytes, events)),
                Ok(Ok(other)) => break Err(format!("unexpected {other:?}")),
            }
        };
        (outcome, rx.counters())
    });
    let (wall, cpu) = (wall0.elapsed(), thread_cpu() - cpu0);
    drop(server);
    let _ = sender.join();
    Row {
        source,
        workload: match workload {
            Workload::Bulk { .. } => "bulk",
            Workload::Trickle { .. } => "trickle",
        },
        outcome,
        wall,
        cpu,
        counters,
    }
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mib = arg(&args, "--mib", 64);
    let rounds = arg(&args, "--rounds", 3);
    let messages = arg(&args, "--messages", 1000);
    let pause_us = arg(&args, "--pause-us", 2000);
    let uname = rustix::system::uname();
    println!(
        "Readiness::detect(): {:?}; kernel {}; bulk {mib} MiB, trickle {messages} x 4 KiB with {pause_us} us pauses; {rounds} round(s)",
        Readiness::detect(),
        uname.release().to_string_lossy()
    );
    println!(
        "{:<8} {:<8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}  outcome",
        "source", "load", "wall ms", "cpu ms", "events", "waits", "enters", "empty", "checks"
    );
    for _ in 0..rounds {
        for source in [Readiness::EventFd, Readiness::RingFd] {
            for workload in [
                Workload::Bulk { bytes: mib << 20 },
                Workload::Trickle {
                    messages,
                    size: 4096,
                    pause: Duration::from_micros(pause_us as u64),
                },
            ] {
                let r = run(source, workload);
                let c = r.counters;
                let (events, outcome) = match &r.outcome {
                    Ok((bytes, events)) => (*events, format!("ok, {bytes} bytes")),
                    Err(e) => (0, e.clone()),
                };
                println!(
                    "{:<8} {:<8} {:>9.1} {:>9.1} {:>8} {:>8} {:>8} {:>8} {:>8}  {outcome}",
                    format!("{:?}", r.source),
                    r.workload,
                    r.wall.as_secs_f64() * 1e3,
                    r.cpu.as_secs_f64() * 1e3,
                    events,
                    c.waits,
                    c.enters,
                    c.empty_enters,
                    c.level_checks,
                );
            }
        }
    }
}
