//! Shared by this crate's NIC-mode guest tests (`kernel_nic_*`): the
//! device (the simulated NIC that vm-test loads, or a real one named by
//! `ZCRX_NIC_*`), rings, and a receive loop that checks what arrives.
#![allow(dead_code, reason = "each test binary uses a part")]

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use zcrx_ring::ring::{Completion, Cqe32, Ring};
use zcrx_ring::{Buf, Error, Receiver, Recv, Zcrx, ZcrxBuilder};
use zcrx_testkit::nic::{NicPair, StreamDigest};
use zcrx_testkit::require;

pub const PAGE: usize = 4096;

/// The longest a test waits for the next event before it fails.
pub const STALL: Duration = Duration::from_secs(60);

/// How long a queue may stay busy after its last user closed its ring (the
/// kernel releases the instance from a work item).
pub const RELEASE: Duration = Duration::from_secs(10);

/// The `n`-th rx queue the tests may bind; skips (fails when required) if
/// the device offers fewer.
pub fn queue(nic: &NicPair, n: usize) -> Option<u32> {
    let q = nic.queues().get(n).copied();
    let enough = require(
        q.is_some(),
        &format!(
            "{} offers {} rx queue(s) to tests (ZCRX_NIC_QUEUES), this test needs {}",
            nic.ifname(),
            nic.queues().len(),
            n + 1
        ),
    );
    q.filter(|_| enough)
}

/// A ring for NIC-mode receive (`zcrx-ring`'s defaults).
pub fn ring() -> Ring<Cqe32> {
    Ring::<Cqe32>::builder(64).build().expect("ring setup")
}

/// Registers `builder` on `ring`, retrying while the queue is still busy
/// (a ring closed just before releases its instance asynchronously).
pub fn register_retrying(
    builder: impl Fn() -> ZcrxBuilder,
    ring: &Ring<Cqe32>,
) -> zcrx_ring::Result<Zcrx> {
    let deadline = Instant::now() + RELEASE;
    loop {
        match builder().register(ring) {
            Err(Error::QueueBusy { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// What a receive loop saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Data completions.
    pub completions: u64,
    /// The longest and shortest completion.
    pub largest: usize,
    pub smallest: usize,
    /// Completions longer than a page.
    pub over_a_page: u64,
    /// Completions per area.
    pub per_area: BTreeMap<u16, u64>,
    /// Distinct buffers (area, offset / buffer size) that carried data.
    pub buffers: HashSet<(u16, u64)>,
    /// Completions that were neither data nor the end of the stream.
    pub others: Vec<Completion>,
}

impl Tally {
    /// Counts a view (and hashes its bytes into `digest`).
    pub fn count(&mut self, buf: &Buf<'_>, buf_len: u32, digest: &mut StreamDigest) {
        digest.update(buf);
        let len = buf.len();
        self.completions += 1;
        self.largest = self.largest.max(len);
        self.smallest = if self.completions == 1 {
            len
        } else {
            self.smallest.min(len)
        };
        self.over_a_page += u64::from(len > PAGE);
        *self.per_area.entry(buf.area_id()).or_default() += 1;
        self.buffers
            .insert((buf.area_id(), buf.area_offset() / u64::from(buf_len)));
    }

    /// Completions per distinct buffer: how often the kernel reused each.
    pub fn reuse(&self) -> f64 {
        self.completions as f64 / self.buffers.len().max(1) as f64
    }
}

/// The next event, failing the test after [`STALL`] without one.
pub fn next_event<'z>(rx: &mut Receiver<'z>, got: u64) -> Recv<'z> {
    next_event_or_report(rx, got, None)
}

/// [`next_event`], whose failure also says where `zcrx`'s buffers are and
/// what the network stack saw (see [`stall_report`]).
pub fn next_event_or_report<'z>(rx: &mut Receiver<'z>, got: u64, zcrx: Option<&Zcrx>) -> Recv<'z> {
    let start = Instant::now();
    loop {
        if let Some(ev) = rx
            .recv_timeout(Duration::from_secs(1))
            .expect("receive loop")
        {
            return ev;
        }
        let idle = start.elapsed();
        if idle >= STALL {
            let report = zcrx.map(|z| stall_report(rx, z)).unwrap_or_default();
            panic!("no event for {idle:?} after {got} bytes{report}");
        }
    }
}

/// Where a stalled stream's buffers are (held by the test, waiting in the
/// backlog, queued but unpublished), the loop's sockets, and the kernel's
/// view: every namespace's device counters, TCP sockets and non-zero
/// `TcpExt` counters (the sender's namespace too, through its thread).
pub fn stall_report(rx: &Receiver<'_>, zcrx: &Zcrx) -> String {
    use std::fmt::Write as _;
    let mut out = format!(
        "\n  buffers: {} of {} held, backlog {}, unpublished {}, {} flushes; live sockets {}; \
         stats {:?}",
        zcrx.held(),
        zcrx.buffers(),
        zcrx.backlog(),
        zcrx.unpublished(),
        zcrx.flushes(),
        rx.live(),
        zcrx.stats(),
    );
    // What each socket of this process holds (SO_MEMINFO): receive memory
    // that the receive queue (net/tcp rx_queue) does not account for is in
    // TCP's out-of-order queue.
    let fds = std::fs::read_dir("/proc/self/fd").into_iter().flatten();
    for fd in fds.flatten() {
        let is_socket =
            std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:"));
        let Some(n) = fd.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if let Some(m) = is_socket.then(|| meminfo(n)).flatten() {
            if m[0] != 0 || m[8] != 0 {
                let _ = write!(
                    out,
                    "\n  socket fd {n}: rmem_alloc {} rcvbuf {} backlog {} drops {}",
                    m[0], m[1], m[7], m[8]
                );
            }
        }
    }
    let mut seen = HashSet::new();
    let tasks = std::fs::read_dir("/proc/self/task").into_iter().flatten();
    for task in tasks.flatten() {
        for file in ["net/dev", "net/tcp"] {
            let text = std::fs::read_to_string(task.path().join(file)).unwrap_or_default();
            for line in text.lines().skip(2) {
                let line = line.trim();
                if !line.starts_with("lo:") && seen.insert(line.to_owned()) {
                    let _ = write!(out, "\n  {file}: {line}");
                }
            }
        }
        let netstat = std::fs::read_to_string(task.path().join("net/netstat")).unwrap_or_default();
        let mut lines = netstat.lines();
        if let (Some(names), Some(values)) = (lines.next(), lines.next()) {
            let counters: Vec<_> = names
                .split_whitespace()
                .zip(values.split_whitespace())
                .skip(1)
                .filter(|(_, v)| *v != "0")
                .map(|(n, v)| format!("{n} {v}"))
                .collect();
            let line = format!("TcpExt: {}", counters.join(", "));
            if seen.insert(line.clone()) {
                let _ = write!(out, "\n  {line}");
            }
        }
    }
    out
}

/// Receives one socket's stream to its end, giving every view back at
/// once: each view is counted and hashed; completions of other requests
/// (the instance's events) are kept in the tally.
pub fn receive_to_end(rx: &mut Receiver<'_>, zcrx: &Zcrx, tally: &mut Tally) -> StreamDigest {
    let mut digest = StreamDigest::new();
    loop {
        match next_event_or_report(rx, digest.bytes(), Some(zcrx)) {
            Recv::Data { buf, .. } => tally.count(&buf, zcrx.rx_buf_len(), &mut digest),
            Recv::Other(c) => tally.others.push(c),
            Recv::Eof { .. } => return digest,
            other => panic!("unexpected event after {} bytes: {other:?}", digest.bytes()),
        }
    }
}

/// `SO_MEMINFO` (`include/uapi/asm-generic/socket.h`; not in the libc
/// crate): the `SK_MEMINFO_*` words of a socket, or `None`.
fn meminfo(fd: i32) -> Option<[u32; 9]> {
    const SO_MEMINFO: libc::c_int = 55;
    let mut words = [0u32; 9];
    let mut len = std::mem::size_of_val(&words) as libc::socklen_t;
    // SAFETY: `words` is writable for `len` bytes and `len` is a valid
    // in/out length; an fd that is not a socket fails with ENOTSOCK.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_MEMINFO,
            words.as_mut_ptr().cast(),
            &mut len,
        )
    };
    (r == 0 && len as usize == std::mem::size_of_val(&words)).then_some(words)
}
