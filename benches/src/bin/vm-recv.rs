//! End-to-end receive comparison, run in the test VM by `cargo xtask vm-bench`
//! (Linux 7.3, NODEV ZCRX on loopback TCP).
//!
//! The same loopback stream (256 MiB by default, a byte pattern written in
//! 64 KiB writes by a sender thread) is received three ways, in turn, for
//! several rounds:
//!
//! - `zcrx`: `zcrx-ring`'s [`Receiver`] over a NODEV instance with an area
//!   of `--bufs` page-sized buffers; each view's first byte is read and the
//!   view dropped (returned through the refill ring);
//! - `recv-buf`: plain `recv(2)` into a user buffer of one ZCRX buffer's
//!   size (4 KiB), first byte read;
//! - `recv-area`: plain `recv(2)` into a user buffer the size of the whole
//!   ZCRX area, first byte read.
//!
//! It prints, per round and as medians, the time ratio of each `recv` mode
//! to `zcrx` (above 1.0: ZCRX is faster). The guest is software emulated:
//! the ratios say how the paths compare there; elapsed times are printed
//! for reference only and are not speeds of anything real.
//!
//! ```text
//! cargo xtask vm-bench                      # 256 MiB, 3 rounds, 7.3 guest
//! cargo xtask vm-bench -- --size 64M --rounds 5
//! ```

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use zcrx_ring::ring::{Cqe32, Ring};
use zcrx_ring::{Area, Receiver, Recv, Zcrx};

const PAGE: usize = 4096;
const WRITE: usize = 64 << 10;

#[derive(Clone, Copy, Debug)]
struct Options {
    size: u64,
    rounds: usize,
    bufs: usize,
}

fn parse_size(s: &str) -> Option<u64> {
    let (num, mul) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1 << 10),
        b'M' | b'm' => (&s[..s.len() - 1], 1 << 20),
        b'G' | b'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mul)
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        size: 256 << 20,
        rounds: 3,
        bufs: 1024,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--size" => o.size = parse_size(&value()?).ok_or("--size: a size like 256M")?,
            "--rounds" => o.rounds = value()?.parse().map_err(|_| "--rounds: a number")?,
            "--bufs" => o.bufs = value()?.parse().map_err(|_| "--bufs: a number")?,
            "-h" | "--help" => {
                return Err("usage: vm-recv [--size BYTES[K|M|G]] [--rounds N] [--bufs N]".into());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.size == 0 || o.rounds == 0 || o.bufs == 0 {
        return Err("--size, --rounds and --bufs must not be 0".into());
    }
    Ok(o)
}

/// A connected loopback pair and the sender thread writing `size` bytes.
fn stream(size: u64) -> std::io::Result<(TcpStream, thread::JoinHandle<std::io::Result<()>>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let client = TcpStream::connect(addr)?;
    let (server, _) = listener.accept()?;
    let sender = thread::spawn(move || {
        let mut client = client;
        let chunk: Vec<u8> = (0..WRITE).map(|i| (i % 251) as u8).collect();
        let mut left = size;
        while left > 0 {
            let n = left.min(WRITE as u64) as usize;
            client.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        client.shutdown(std::net::Shutdown::Write)
    });
    Ok((server, sender))
}

/// Receives the stream with ZCRX; returns (elapsed, bytes, checksum).
fn zcrx_round(o: &Options) -> Result<(Duration, u64, u64), String> {
    let mut ring: Ring<Cqe32> = Ring::builder(64)
        .cq_entries(4096)
        .build()
        .map_err(|e| format!("ring: {e}"))?;
    let area = Area::anonymous(o.bufs * PAGE).map_err(|e| format!("area: {e}"))?;
    let zcrx = Zcrx::builder_nodev()
        .area(area)
        .register(&ring)
        .map_err(|e| format!("NODEV registration: {e}"))?;
    let (sock, sender) = stream(o.size).map_err(|e| format!("loopback: {e}"))?;
    let mut rx = Receiver::new(&mut ring);
    rx.add(&zcrx, &sock, None)
        .map_err(|e| format!("add: {e}"))?;
    let start = Instant::now();
    let (mut bytes, mut sum) = (0u64, 0u64);
    loop {
        match rx.recv().map_err(|e| format!("receive: {e}"))? {
            Recv::Data { buf, .. } => {
                bytes += buf.len() as u64;
                sum += u64::from(buf[0]);
            }
            Recv::Eof { .. } => break,
            Recv::Failed { error, .. } => return Err(format!("receive failed: {error}")),
            other => return Err(format!("unexpected event {other:?}")),
        }
    }
    let elapsed = start.elapsed();
    drop(rx);
    sender
        .join()
        .map_err(|_| "sender panicked")?
        .map_err(|e| format!("send: {e}"))?;
    Ok((elapsed, bytes, sum))
}

/// Receives the stream with `recv(2)` into a `buf_len`-byte user buffer.
fn recv_round(o: &Options, buf_len: usize) -> Result<(Duration, u64, u64), String> {
    let (mut sock, sender) = stream(o.size).map_err(|e| format!("loopback: {e}"))?;
    let mut buf = vec![0u8; buf_len];
    buf.fill(1); // fault it in before timing, as the ZCRX area is
    let start = Instant::now();
    let (mut bytes, mut sum) = (0u64, 0u64);
    loop {
        let n = sock.read(&mut buf).map_err(|e| format!("recv: {e}"))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        sum += u64::from(buf[0]);
    }
    let elapsed = start.elapsed();
    sender
        .join()
        .map_err(|_| "sender panicked")?
        .map_err(|e| format!("send: {e}"))?;
    Ok((elapsed, bytes, sum))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn run(o: &Options) -> Result<(), String> {
    let area_len = o.bufs * PAGE;
    println!(
        "vm-recv: {} MiB loopback stream, {} rounds; zcrx: NODEV, {} x 4 KiB buffers; \
         recv-buf: 4 KiB user buffer; recv-area: {} KiB user buffer",
        o.size >> 20,
        o.rounds,
        o.bufs,
        area_len >> 10
    );
    let mut ratio_buf = Vec::new();
    let mut ratio_area = Vec::new();
    for round in 1..=o.rounds {
        let (z, zb, _) = zcrx_round(o)?;
        let (r1, rb1, _) = recv_round(o, PAGE)?;
        let (r2, rb2, _) = recv_round(o, area_len)?;
        for (name, b) in [("zcrx", zb), ("recv-buf", rb1), ("recv-area", rb2)] {
            if b != o.size {
                return Err(format!("{name}: received {b} bytes of {}", o.size));
            }
        }
        let (a, b) = (
            r1.as_secs_f64() / z.as_secs_f64(),
            r2.as_secs_f64() / z.as_secs_f64(),
        );
        println!(
            "round {round}: recv-buf/zcrx {a:.3}, recv-area/zcrx {b:.3} \
             (guest elapsed s, emulated: zcrx {:.2}, recv-buf {:.2}, recv-area {:.2})",
            z.as_secs_f64(),
            r1.as_secs_f64(),
            r2.as_secs_f64()
        );
        ratio_buf.push(a);
        ratio_area.push(b);
    }
    println!(
        "vm-recv ratio (time of recv / time of zcrx, median of {} rounds; above 1.0: ZCRX is faster): \
         recv-buf {:.3}, recv-area {:.3}",
        o.rounds,
        median(&mut ratio_buf),
        median(&mut ratio_area)
    );
    println!("(software-emulated guest: ratios only, not speeds)");
    Ok(())
}

fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vm-recv: {e}");
            ExitCode::FAILURE
        }
    }
}
