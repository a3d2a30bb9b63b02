//! Helpers shared by the guest tests of this crate: the test stream, TCP
//! pairs on loopback, rings and NODEV builders, per-thread capabilities.
#![allow(dead_code, reason = "each test binary uses a part")]

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::thread;

use rustix::thread::{CapabilitySet, capabilities, set_capabilities};
use zcrx_ring::caps::Capabilities;
use zcrx_ring::ring::{CqeMode, Ring};
use zcrx_ring::{Area, Receiver, Recv, Zcrx};

pub const PAGE: usize = 4096;

/// The byte at `offset` of the test stream.
pub fn pattern(offset: u64) -> u8 {
    (offset.wrapping_mul(31) ^ (offset >> 11)) as u8
}

/// Checks that `data` is the test stream from `offset` on.
pub fn check(data: &[u8], offset: u64) {
    for (i, &b) in data.iter().enumerate() {
        let off = offset + i as u64;
        assert_eq!(b, pattern(off), "wrong byte at offset {off}");
    }
}

/// Whether this kernel runs ZCRX in NODEV mode (and we may register).
pub fn nodev_supported() -> bool {
    Capabilities::query()
        .zcrx()
        .is_ok_and(|z| z.supports_nodev())
}

/// Skips (host) or fails (guest) a test that needs NODEV and
/// `CAP_NET_ADMIN`.
#[macro_export]
macro_rules! require_nodev {
    () => {
        zcrx_testkit::require!(
            common::nodev_supported(),
            "{}",
            zcrx_testkit::lacks("ZCRX_REG_NODEV")
        );
        zcrx_testkit::require!(
            zcrx_testkit::has_cap_net_admin(),
            "needs CAP_NET_ADMIN (run as root)"
        );
    };
}

/// A connected loopback pair: (client, server side).
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

/// Writes the test stream's bytes `from..to` on `stream`.
pub fn write_pattern(stream: &mut TcpStream, from: u64, to: u64) {
    let mut buf = vec![0u8; 256 * 1024];
    let mut sent = from;
    while sent < to {
        let n = (to - sent).min(buf.len() as u64) as usize;
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = pattern(sent + i as u64);
        }
        stream.write_all(&buf[..n]).unwrap();
        sent += n as u64;
    }
}

/// Sends `total` bytes of the pattern on `stream` from a thread, then closes.
pub fn send_pattern(mut stream: TcpStream, total: u64) -> thread::JoinHandle<()> {
    thread::spawn(move || write_pattern(&mut stream, 0, total))
}

/// A sender that gives up quietly when the receiving side goes away.
pub fn lenient_sender(mut stream: TcpStream, from: u64, to: u64) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut off = from;
        let mut buf = vec![0u8; 64 * 1024];
        while off < to {
            let n = (to - off).min(buf.len() as u64) as usize;
            for (i, b) in buf[..n].iter_mut().enumerate() {
                *b = pattern(off + i as u64);
            }
            if stream.write_all(&buf[..n]).is_err() {
                return;
            }
            off += n as u64;
        }
    })
}

pub fn ring<M: CqeMode>(entries: u32) -> Ring<M> {
    Ring::<M>::builder(entries).build().expect("ring setup")
}

pub fn nodev(buffers: usize) -> zcrx_ring::ZcrxBuilder {
    Zcrx::builder_nodev().area(Area::anonymous(buffers * PAGE).unwrap())
}

/// Receives everything from one socket, checking the pattern; returns
/// (bytes, data completions).
pub fn receive_all<M: CqeMode>(rx: &mut Receiver<'_, M>, expect: u64) -> (u64, u64) {
    let mut got = 0u64;
    let mut completions = 0u64;
    loop {
        match rx.recv().unwrap() {
            Recv::Data { buf, .. } => {
                check(&buf, got);
                got += buf.len() as u64;
                completions += 1;
            }
            Recv::Eof { .. } => break,
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert_eq!(got, expect);
    (got, completions)
}

/// Removes `caps` from the calling thread's effective set (capabilities
/// are per thread: call it in a thread of its own).
pub fn drop_caps(caps: CapabilitySet) {
    let mut sets = capabilities(None).expect("capget");
    sets.effective &= !caps;
    set_capabilities(None, sets).expect("capset");
}
