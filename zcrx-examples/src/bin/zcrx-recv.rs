//! `zcrx-recv`: a TCP receiver over io_uring zero-copy receive (ZCRX).
//!
//! Each thread owns one io_uring and one ZCRX instance (the kernel's
//! "ifq"), the way multi-queue NICs are used: thread `i` binds its own NIC
//! rx queue (`--queue 3,5`, or `--queue 3` for queues 3, 4, ...), or a
//! NODEV instance. In NIC mode each thread listens on its own port (the
//! given port + i), so that one flow-steering rule per port sends each
//! thread exactly the connections its queue receives; NODEV threads share
//! one listener. Threads accept with `IORING_OP_ACCEPT` on their own ring
//! and receive with multishot `IORING_OP_RECV_ZC`; received buffers are
//! verified and hashed in place (borrowed views of the area) and given back
//! at once. The process exits after `--connections` connections have
//! closed.

use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Parser;
use sha2::{Digest, Sha256};
use zcrx_examples::cli::{self, ByteSize, Failure, human_bytes};
use zcrx_examples::pattern;
use zcrx_examples::{say, say_err};
use zcrx_notif::{
    Delivery, Fallback, NotificationKind, NotificationMask, Notifier, NotifyConfig, RearmPolicy,
    StatsSnapshot, Support, ZcrxBuilderExt,
};
use zcrx_ring::caps::Capabilities;
use zcrx_ring::{Area, ConnId, Receiver, Recv, Ring, Zcrx};
use zcrx_uapi::io_uring_sqe;

const PROGRAM: &str = "zcrx-recv";

/// `user_data` of the accept requests (the receive loop tags its own
/// requests in the top 16 bits, so small values never collide).
const ACCEPT_UD: u64 = 1;

/// `user_data` of the notification completions.
const NOTIFY_UD: u64 = 2;

/// A TCP receiver over io_uring zero-copy receive (ZCRX).
///
/// Listens on ADDR:PORT, prints `listening on ADDR:PORT` once it accepts
/// connections, receives every connection's stream into a ZCRX area (with
/// --nodev on any TCP socket, Linux >= 7.1; or from a NIC receive queue),
/// and exits after --connections connections have closed, printing
/// `received N bytes in S s (R MiB/s)`.
///
/// NIC mode: thread i binds rx queue Q_i of --ifname and listens on its own
/// port, PORT + i (with port 0: a free port each), printing `listening on
/// ADDR:PORT (thread i, IFNAME rx queue Q_i)`; steer each port to its
/// queue (`ethtool -N IFNAME flow-type tcp4 dst-port PORT action Q_i`).
/// The NIC must split headers from data (`ethtool -G IFNAME tcp-data-split
/// on hds-thresh 0`).
///
/// Needs CAP_NET_ADMIN (root). Exit status: 0 on success, 1 on a failure
/// (kernel refusal, wrong byte with --verify, a connection error), 2 for bad
/// arguments.
#[derive(Parser, Debug)]
#[command(name = "zcrx-recv", version, about, long_about)]
struct Args {
    /// Address to listen on; port 0 picks a free port (the one chosen is
    /// printed).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: SocketAddr,

    /// Receive without a NIC (ZCRX_REG_NODEV, Linux >= 7.1): any TCP
    /// socket, the kernel copies into the area.
    #[arg(long, required_unless_present = "ifname", conflicts_with = "ifname")]
    nodev: bool,

    /// Receive from this network interface's queue (with --queue).
    #[arg(long, value_name = "NAME", requires = "queue")]
    ifname: Option<String>,

    /// Receive queues: one per thread (`--queue 1,2` with two threads), or
    /// the first of consecutive ones (`--queue 1`: thread i uses queue
    /// 1 + i). Each thread listens on its own port; steer it to the
    /// thread's queue (see above).
    #[arg(
        long,
        value_name = "N[,N...]",
        requires = "ifname",
        value_delimiter = ','
    )]
    queue: Vec<u32>,

    /// Exit after this many connections have closed (over all threads; in
    /// NIC mode each thread accepts its share on its own port). Default: 1,
    /// in NIC mode one per thread.
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    connections: Option<u64>,

    /// Threads, each with its own ring and ZCRX instance (and NIC queue).
    /// Default: one per queue given, else 1.
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=256))]
    threads: Option<u32>,

    /// Receive area per thread (suffixes K, M, G: powers of 1024).
    #[arg(long, value_name = "SIZE", default_value = "64M")]
    area_size: ByteSize,

    /// Back the area with huge pages (explicit ones if reserved, otherwise
    /// transparent huge pages).
    #[arg(long)]
    huge_pages: bool,

    /// Refill ring entries (rounded up to a power of two by the kernel);
    /// 0: one per buffer of the area, at most 32768.
    #[arg(long, value_name = "N", default_value_t = 0)]
    rq_entries: u32,

    /// Buffer size, a power of two of at least the page size; 0: the page
    /// size. NIC mode only, on kernels with ZCRX_FEATURE_RX_PAGE_SIZE.
    #[arg(long, value_name = "SIZE", default_value = "0")]
    rx_buf_len: ByteSize,

    /// SO_RCVBUF of the listening sockets, which accepted connections
    /// inherit (set with SO_RCVBUFFORCE, past net.core.rmem_max; 0: leave
    /// the kernel's autotuning). Default: in NIC mode a quarter of the area
    /// shared among the connections each thread receives, so that segments
    /// TCP holds out of order cannot take every buffer of it (zcrx_ring's
    /// area docs, "Sizing"); with --nodev, 0.
    #[arg(long, value_name = "SIZE")]
    rcvbuf: Option<ByteSize>,

    /// Completion ring entries per thread.
    #[arg(long, value_name = "N", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(64..=65536))]
    cq_entries: u32,

    /// Check every stream against zcrx-send's pattern; fail on the first
    /// wrong byte (its offset is printed).
    #[arg(long)]
    verify: bool,

    /// Print `sha256 <hex>` of each connection's stream when it ends.
    #[arg(long)]
    sha256: bool,

    /// Enable notifications (copy-fallback, no-buffers) and stats (Linux
    /// 7.2 and later): print each notification as it arrives, re-arm it,
    /// and print the stats with the summary.
    #[arg(long)]
    notify: bool,

    /// With --notify: re-arm a notification this many milliseconds after it
    /// arrived (0: at once; a NODEV instance then notifies copy-fallback on
    /// nearly every batch of data).
    #[arg(long, value_name = "MS", default_value_t = 100, requires = "notify")]
    rearm_ms: u64,

    /// Print a progress line every second (default: only when stdout is a
    /// terminal).
    #[arg(long, overrides_with = "no_progress")]
    progress: bool,

    /// Never print progress lines.
    #[arg(long)]
    no_progress: bool,
}

/// Where each thread receives from.
#[derive(Debug, Clone)]
enum Source {
    Nodev,
    /// Thread i binds `queues[i]`.
    Nic {
        ifname: String,
        queues: Vec<u32>,
    },
}

/// The validated configuration shared by the threads.
#[derive(Debug)]
struct Config {
    source: Source,
    connections: u64,
    threads: u32,
    area_size: usize,
    huge_pages: bool,
    rq_entries: u32,
    rx_buf_len: u32,
    cq_entries: u32,
    /// SO_RCVBUF of the listeners (`None`: autotuning).
    rcvbuf: Option<usize>,
    verify: bool,
    sha256: bool,
    /// Notification configuration, with --notify.
    notify: Option<NotifyConfig>,
}

impl Config {
    fn from_args(a: &Args) -> Result<Self, Failure> {
        let area_size = usize::try_from(a.area_size.0)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| Failure::usage("--area-size must be at least one page"))?;
        let rx_buf_len = u32::try_from(a.rx_buf_len.0)
            .map_err(|_| Failure::usage("--rx-buf-len is too large"))?;
        let threads = a.threads.unwrap_or(a.queue.len().max(1) as u32);
        let source = match (&a.ifname, a.queue.as_slice()) {
            (Some(ifname), &[first]) => Source::Nic {
                ifname: ifname.clone(),
                queues: (0..threads)
                    .map(|i| first.checked_add(i))
                    .collect::<Option<_>>()
                    .ok_or_else(|| Failure::usage("--queue + --threads overflows"))?,
            },
            (Some(ifname), list) => {
                if list.len() != threads as usize {
                    return Err(Failure::usage(format!(
                        "--queue lists {} queues for {threads} thread(s): give one per thread, \
                         or one to start from",
                        list.len()
                    )));
                }
                Source::Nic {
                    ifname: ifname.clone(),
                    queues: list.to_vec(),
                }
            }
            (None, _) => Source::Nodev,
        };
        let connections = match (&source, a.connections) {
            (_, Some(n)) => n,
            (Source::Nodev, None) => 1,
            (Source::Nic { .. }, None) => u64::from(threads),
        };
        if matches!(source, Source::Nic { .. }) && connections % u64::from(threads) != 0 {
            return Err(Failure::usage(format!(
                "--connections {connections} is not a multiple of --threads {threads}: in NIC \
                 mode each thread accepts the same number on its own port"
            )));
        }
        let rcvbuf = match a.rcvbuf {
            Some(ByteSize(0)) => None,
            Some(ByteSize(n)) => Some(
                usize::try_from(n)
                    .ok()
                    .filter(|&n| n <= i32::MAX as usize / 2)
                    .ok_or_else(|| Failure::usage("--rcvbuf must be below 1G"))?,
            ),
            // Each thread's connections share its area and are received
            // at once; the kernel doubles SO_RCVBUF.
            None if matches!(source, Source::Nic { .. }) => {
                let per_thread = usize::try_from(connections / u64::from(threads))
                    .unwrap_or(usize::MAX)
                    .max(1);
                Some((area_size / 4 / per_thread).max(4096))
            }
            None => None,
        };
        Ok(Config {
            source,
            connections,
            threads,
            area_size,
            huge_pages: a.huge_pages,
            rq_entries: a.rq_entries,
            rx_buf_len,
            cq_entries: a.cq_entries,
            rcvbuf,
            verify: a.verify,
            sha256: a.sha256,
            notify: a.notify.then(|| {
                NotifyConfig::new(NOTIFY_UD)
                    .kinds(NotificationMask::COPY_FALLBACK | NotificationMask::NO_BUFFERS)
                    .stats(true)
                    .fallback(Fallback::Require)
                    .rearm(match a.rearm_ms {
                        0 => RearmPolicy::Immediately,
                        ms => RearmPolicy::AfterInterval(Duration::from_millis(ms)),
                    })
            }),
        })
    }
}

/// Per-thread counters the progress line reads (one cache line each; the
/// owner stores plain values, never read-modify-write).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Counters {
    bytes: AtomicU64,
    completions: AtomicU64,
    in_flight: AtomicU64,
    open: AtomicU64,
}

/// What the threads share.
struct Shared {
    cfg: Config,
    /// Accepts started (each claims one of `cfg.connections`): one count
    /// for the shared listener (NODEV), or one per thread's own listener
    /// (NIC mode, `cfg.connections / cfg.threads` each).
    claimed: Vec<AtomicU64>,
    /// Connections numbered in accept order, from 1.
    accepted: AtomicU64,
    /// When the first connection was accepted.
    start: OnceLock<Instant>,
    counters: Vec<Counters>,
}

impl Shared {
    /// Claims the right for thread `idx` to accept one more connection.
    fn claim(&self, idx: usize) -> bool {
        let (counter, budget) = match self.cfg.source {
            Source::Nodev => (&self.claimed[0], self.cfg.connections),
            Source::Nic { .. } => (
                &self.claimed[idx],
                self.cfg.connections / u64::from(self.cfg.threads),
            ),
        };
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                (c < budget).then_some(c + 1)
            })
            .is_ok()
    }
}

/// A thread's totals.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    bytes: u64,
    completions: u64,
    connections: u64,
    /// Notifications received: no-buffers, copy-fallback, unknown kinds.
    notifications: [u64; 3],
    /// Re-arms made.
    rearmed: u64,
    /// The instance's stats at the end (with --notify).
    stats: Option<StatsSnapshot>,
    /// `ZCRX_CTRL_FLUSH_RQ` operations the instance issued (NODEV only:
    /// in NIC mode the kernel refills from the refill ring by itself).
    flushes: u64,
    /// Buffers of the instance's area.
    buffers: u64,
}

impl Totals {
    fn add(self, t: &Totals) -> Totals {
        Totals {
            bytes: self.bytes + t.bytes,
            completions: self.completions + t.completions,
            connections: self.connections + t.connections,
            notifications: [
                self.notifications[0] + t.notifications[0],
                self.notifications[1] + t.notifications[1],
                self.notifications[2] + t.notifications[2],
            ],
            rearmed: self.rearmed + t.rearmed,
            flushes: self.flushes + t.flushes,
            buffers: self.buffers + t.buffers,
            stats: match (self.stats, t.stats) {
                (Some(a), Some(b)) => Some(StatsSnapshot {
                    copy_count: a.copy_count + b.copy_count,
                    copy_bytes: a.copy_bytes + b.copy_bytes,
                }),
                (a, b) => a.or(b),
            },
        }
    }
}

enum Msg {
    Ready,
    Done(Totals),
    Failed(Failure),
}

/// One accepted connection.
struct Conn {
    /// The accepted socket (the receiver works on its own duplicate).
    _stream: TcpStream,
    number: u64,
    peer: String,
    offset: u64,
    completions: u64,
    sha: Option<Sha256>,
}

fn main() -> ExitCode {
    let args: Args = cli::parse_args();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.report(PROGRAM),
    }
}

/// Checks what the kernel must have before any thread starts, naming the
/// missing item and the release that has it.
fn preflight(cfg: &Config) -> Result<(), Failure> {
    let caps = Capabilities::query();
    if let Source::Nodev = cfg.source {
        let nodev = zcrx_ring::Unsupported {
            what: "ZCRX_REG_NODEV",
            needs: zcrx_uapi::abi::find_const("ZCRX_REG_NODEV").map(|c| c.since),
        };
        match caps.zcrx() {
            Ok(z) if z.supports_nodev() => {}
            // Without the ZCRX query the kernel predates NODEV too.
            _ => return Err(nodev.into()),
        }
    }
    if cfg.notify.is_some() {
        Support::from_caps(&caps).require()?;
    }
    Ok(())
}

fn run(args: &Args) -> Result<(), Failure> {
    let cfg = Config::from_args(args)?;
    preflight(&cfg)?;
    let listeners = listen(args.listen, &cfg)?;
    let progress = if args.no_progress {
        false
    } else {
        args.progress || std::io::stdout().is_terminal()
    };

    let threads = cfg.threads as usize;
    let shared = Shared {
        counters: (0..threads).map(|_| Counters::default()).collect(),
        cfg,
        claimed: (0..threads).map(|_| AtomicU64::new(0)).collect(),
        accepted: AtomicU64::new(0),
        start: OnceLock::new(),
    };
    let (tx, rx) = mpsc::channel::<(usize, Msg)>();

    std::thread::scope(|scope| -> Result<(), Failure> {
        for idx in 0..threads {
            let tx = tx.clone();
            let shared = &shared;
            // NODEV threads share the one listener; NIC threads own one each.
            let listener = &listeners[idx.min(listeners.len() - 1)];
            std::thread::Builder::new()
                .name(format!("zcrx-recv-{idx}"))
                .spawn_scoped(scope, move || {
                    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        worker(idx, shared, listener, &tx)
                    }));
                    let msg = match outcome {
                        Ok(Ok(t)) => Msg::Done(t),
                        // Setup fails the same way in every thread: no
                        // thread number then, nor with a single thread.
                        Ok(Err((Stage::Setup, f))) => Msg::Failed(f),
                        Ok(Err((Stage::Receive, f))) if threads == 1 => Msg::Failed(f),
                        Ok(Err((Stage::Receive, f))) => {
                            Msg::Failed(f.context(format!("thread {idx}")))
                        }
                        Err(_) => Msg::Failed(Failure::new(format!(
                            "thread {idx}: internal error (a panic, reported above)"
                        ))),
                    };
                    let _ = tx.send((idx, msg));
                })
                .map_err(|e| Failure::new(format!("starting thread {idx}: {e}")))?;
        }
        drop(tx);

        // Every thread registered: connections are accepted from now on.
        let mut ready = vec![false; threads];
        let mut finished: Vec<Option<Totals>> = vec![None; threads];
        while ready.iter().any(|r| !r) {
            match rx.recv() {
                Ok((i, Msg::Ready)) => ready[i] = true,
                Ok((i, Msg::Done(t))) => {
                    ready[i] = true;
                    finished[i] = Some(t);
                }
                Ok((_, Msg::Failed(f))) => fail_now(&f),
                Err(_) => return Err(Failure::new("the receive threads ended unexpectedly")),
            }
        }
        {
            let mut out = std::io::stdout().lock();
            match &shared.cfg.source {
                Source::Nodev => {
                    let _ = writeln!(out, "listening on {}", listeners[0].local_addr()?);
                }
                Source::Nic { ifname, queues } => {
                    for (i, (l, q)) in listeners.iter().zip(queues).enumerate() {
                        let _ = writeln!(
                            out,
                            "listening on {} (thread {i}, {ifname} rx queue {q})",
                            l.local_addr()?
                        );
                    }
                }
            }
            let _ = out.flush();
        }

        let mut last = (Instant::now(), 0u64);
        while finished.iter().any(Option::is_none) {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok((_, Msg::Ready)) => {}
                Ok((i, Msg::Done(t))) => finished[i] = Some(t),
                Ok((_, Msg::Failed(f))) => fail_now(&f),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if progress {
                        last = print_progress(&shared, last);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Failure::new("a receive thread ended without a result"));
                }
            }
        }

        let total = finished
            .iter()
            .flatten()
            .fold(Totals::default(), |a, t| a.add(t));
        let secs = shared
            .start
            .get()
            .map_or(0.0, |s| s.elapsed().as_secs_f64());
        let rate = if secs > 0.0 {
            total.bytes as f64 / secs / (1024.0 * 1024.0)
        } else {
            0.0
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "received {} bytes in {secs:.3} s ({rate:.1} MiB/s)",
            total.bytes
        );
        let _ = writeln!(
            out,
            "{} connection(s), {} data completion(s) ({} per completion on average), {} thread(s)",
            total.connections,
            total.completions,
            human_bytes(total.bytes.checked_div(total.completions).unwrap_or(0)),
            threads,
        );
        if shared.cfg.verify {
            let _ = writeln!(out, "verified: every byte matches the pattern");
        }
        if shared.cfg.notify.is_some() {
            let [no_buffers, copy_fallback, unknown] = total.notifications;
            let _ = writeln!(
                out,
                "notifications: {copy_fallback} copy-fallback, {no_buffers} no-buffers{}, {} re-armed",
                if unknown > 0 {
                    format!(", {unknown} of unknown kinds")
                } else {
                    String::new()
                },
                total.rearmed
            );
            match total.stats {
                Some(st) => {
                    // The kernel counts only page fragments it copied: bytes
                    // copied from a packet's linear part are not counted, so
                    // this is a lower bound of the bytes copied, not a share
                    // of the bytes received.
                    let _ = writeln!(
                        out,
                        "stats: copy_count {}, copy_bytes {} (copied page fragments; copies \
                         from packets' linear parts are not counted)",
                        st.copy_count, st.copy_bytes
                    );
                }
                None => {
                    let _ = writeln!(out, "stats: none (the kernel kept no stats block)");
                }
            }
        }
        let _ = writeln!(
            out,
            "refill: {} buffers carried {} completions ({:.1} each on average), \
             ZCRX_CTRL_FLUSH_RQ sent {} time(s){}",
            total.buffers,
            total.completions,
            total.completions as f64 / total.buffers.max(1) as f64,
            total.flushes,
            match shared.cfg.source {
                Source::Nodev => " (NODEV: the kernel consumes returns only when flushed)",
                Source::Nic { .. } => " (NIC mode: the kernel refills by itself)",
            }
        );
        if let Source::Nic { ifname, queues } = &shared.cfg.source {
            for (i, t) in finished.iter().enumerate() {
                let Some(t) = t else { continue };
                let _ = writeln!(
                    out,
                    "thread {i}: {ifname} rx queue {}: {} connection(s), {} bytes in {} \
                     completions{}",
                    queues[i],
                    t.connections,
                    t.bytes,
                    t.completions,
                    thread_notes(t)
                );
            }
        }
        let _ = out.flush();
        Ok(())
    })
}

/// A NIC thread's stats and notifications, for its summary line.
fn thread_notes(t: &Totals) -> String {
    let mut notes = String::new();
    if let Some(st) = t.stats {
        notes += &format!(
            ", copy_count {}, copy_bytes {}",
            st.copy_count, st.copy_bytes
        );
    }
    let [no_buffers, copy_fallback, _] = t.notifications;
    if t.stats.is_some() {
        notes +=
            &format!(", notifications: {copy_fallback} copy-fallback, {no_buffers} no-buffers");
    }
    notes
}

/// The listeners: one shared by every thread (NODEV), or one per thread on
/// consecutive ports (NIC mode: each thread receives only the connections
/// steered to its queue, so each must accept only those).
fn listen(addr: SocketAddr, cfg: &Config) -> Result<Vec<TcpListener>, Failure> {
    let count = match cfg.source {
        Source::Nodev => 1,
        Source::Nic { .. } => cfg.threads,
    };
    (0..count)
        .map(|i| {
            let mut at = addr;
            if addr.port() != 0 {
                let port = u16::try_from(u32::from(addr.port()) + i)
                    .map_err(|_| Failure::usage("--listen port + --threads exceeds 65535"))?;
                at.set_port(port);
            }
            let listener = TcpListener::bind(at)
                .map_err(|e| Failure::from(e).context(format!("listening on {at}")))?;
            if let Some(bytes) = cfg.rcvbuf {
                // Before any connection: accepted sockets inherit it, and
                // their window scale is chosen from it.
                rustix::net::sockopt::set_socket_recv_buffer_size_force(&listener, bytes).map_err(
                    |e| {
                        Failure::from(std::io::Error::from(e))
                            .context(format!("SO_RCVBUFFORCE {bytes} on {at}"))
                    },
                )?;
            }
            Ok(listener)
        })
        .collect()
}

/// Reports a thread's failure and ends the process: the other threads may
/// be waiting for connections that will never come.
fn fail_now(f: &Failure) -> ! {
    let _ = std::io::stdout().flush();
    say_err!("{PROGRAM}: {}", f.message);
    std::process::exit(i32::from(f.code));
}

fn print_progress(shared: &Shared, (then, bytes_then): (Instant, u64)) -> (Instant, u64) {
    let now = Instant::now();
    let mut bytes = 0;
    let mut completions = 0;
    let mut in_flight = 0;
    let mut open = 0;
    for c in &shared.counters {
        bytes += c.bytes.load(Ordering::Relaxed);
        completions += c.completions.load(Ordering::Relaxed);
        in_flight += c.in_flight.load(Ordering::Relaxed);
        open += c.open.load(Ordering::Relaxed);
    }
    let dt = now.duration_since(then).as_secs_f64();
    let rate = if dt > 0.0 {
        bytes.saturating_sub(bytes_then) as f64 / dt / (1024.0 * 1024.0)
    } else {
        0.0
    };
    let elapsed = shared
        .start
        .get()
        .map_or(0.0, |s| s.elapsed().as_secs_f64());
    say!(
        "progress: {elapsed:6.1} s  {:>10} received  {rate:8.1} MiB/s  {completions} completions  \
         {in_flight} buffers in flight  {open} connection(s) open",
        human_bytes(bytes)
    );
    (now, bytes)
}

/// Queues an `IORING_OP_ACCEPT` on the listener.
fn arm_accept(rx: &mut Receiver<'_>, listener: &TcpListener) -> Result<(), Failure> {
    let sqe = io_uring_sqe {
        opcode: rustix::io_uring::IoringOp::Accept as u8,
        fd: listener.as_raw_fd(),
        // accept_flags: the new socket is close-on-exec.
        rw_flags: rustix::net::SocketFlags::CLOEXEC.bits(),
        user_data: ACCEPT_UD,
        // addr and addr2 (peer address and its length) stay null: the
        // peer's address is read with getpeername afterwards.
        ..Default::default()
    };
    // SAFETY: the SQE carries no pointers (addr and addr2 are 0); the
    // listener's fd stays open until the thread has reaped the accept's
    // completion (the listener outlives every thread); ACCEPT_UD does not
    // carry the receiver's tag.
    unsafe { rx.push(&sqe) }?;
    Ok(())
}

/// Builds this thread's ring and ZCRX instance.
fn setup(idx: usize, cfg: &Config) -> Result<(Ring, Zcrx, Option<Notifier>), Failure> {
    let ring: Ring = Ring::builder(64)
        .cq_entries(cfg.cq_entries)
        .build()
        .map_err(|e| Failure::from(e).context("setting up the io_uring"))?;
    let area = if cfg.huge_pages {
        Area::anonymous_huge(cfg.area_size)
    } else {
        Area::anonymous(cfg.area_size)
    }
    .map_err(|e| Failure::from(e).context("mapping the receive area"))?;
    let mut builder = match &cfg.source {
        Source::Nodev => Zcrx::builder_nodev(),
        Source::Nic { ifname, queues } => Zcrx::builder_nic_named(ifname, queues[idx])
            .map_err(|e| Failure::from(e).context(format!("interface {ifname}")))?,
    };
    builder = builder.area(area);
    if cfg.rq_entries != 0 {
        builder = builder.rq_entries(cfg.rq_entries);
    }
    if cfg.rx_buf_len != 0 {
        builder = builder.rx_buf_len(cfg.rx_buf_len);
    }
    // Name the queue in NIC mode: each thread binds its own.
    let on_queue = |f: Failure| match &cfg.source {
        Source::Nodev => f,
        Source::Nic { ifname, queues } => f.context(format!("{ifname} rx queue {}", queues[idx])),
    };
    if let Some(ncfg) = &cfg.notify {
        let support = Support::query();
        builder = builder.notifications(ncfg, &support)?;
        let zcrx = builder.register(&ring).map_err(|e| {
            // The notification crate names causes the ring's error does not
            // (a refused event descriptor); keep the ring's own wording
            // otherwise.
            let mapped = ncfg.register_error(&support, e);
            on_queue(if mapped == zcrx_notif::Error::from(e) {
                Failure::from(e)
            } else {
                Failure::from(mapped)
            })
        })?;
        let notifier = Notifier::new(ncfg, &support);
        return Ok((ring, zcrx, Some(notifier)));
    }
    let zcrx = builder
        .register(&ring)
        .map_err(|e| on_queue(Failure::from(e)))?;
    Ok((ring, zcrx, None))
}

/// One thread: its own ring and instance; accepts and receives until the
/// shared connection budget is used up and its connections have closed.
fn worker(
    idx: usize,
    shared: &Shared,
    listener: &TcpListener,
    tx: &mpsc::Sender<(usize, Msg)>,
) -> Result<Totals, (Stage, Failure)> {
    let (mut ring, zcrx, notifier) = setup(idx, &shared.cfg).map_err(|f| (Stage::Setup, f))?;
    let _ = tx.send((idx, Msg::Ready));
    receive(idx, shared, listener, &mut ring, &zcrx, notifier).map_err(|f| (Stage::Receive, f))
}

/// Where a thread failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Setting up its ring and instance.
    Setup,
    /// Accepting or receiving.
    Receive,
}

/// The thread's receive loop.
fn receive(
    idx: usize,
    shared: &Shared,
    listener: &TcpListener,
    ring: &mut Ring,
    zcrx: &Zcrx,
    mut notifier: Option<Notifier>,
) -> Result<Totals, Failure> {
    let cfg = &shared.cfg;
    let counters = &shared.counters[idx];

    let mut rx = Receiver::new(ring);
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut open: u64 = 0;
    let mut accept_armed = false;
    let mut totals = Totals::default();

    loop {
        if !accept_armed && shared.claim(idx) {
            arm_accept(&mut rx, listener)?;
            accept_armed = true;
        }
        if !accept_armed && open == 0 {
            break;
        }
        // Data is handled in batches, each buffer given back as soon as it
        // is checked (and hashed); other events come back one by one.
        let mut sink = DataSink {
            conns: &mut conns,
            totals: &mut totals,
            verify: cfg.verify,
            failure: None,
        };
        let event = match notifier.as_ref().and_then(Notifier::next_rearm) {
            // Wake up in time for a due re-arm.
            Some(wait) => rx.recv_batch_timeout(wait, |conn, data| sink.take(conn, data))?,
            None => rx.recv_batch(|conn, data| sink.take(conn, data))?,
        };
        if let Some(failure) = sink.failure {
            return Err(failure);
        }
        counters.bytes.store(totals.bytes, Ordering::Relaxed);
        counters
            .completions
            .store(totals.completions, Ordering::Relaxed);
        counters.in_flight.store(
            u64::from(zcrx.held()) + u64::from(zcrx.unpublished()),
            Ordering::Relaxed,
        );
        let event = match &mut notifier {
            None => event,
            Some(n) => {
                if !n.fired().is_empty() {
                    let armed = n.service(zcrx)?;
                    totals.rearmed += armed.kinds().count() as u64;
                    for kind in armed.kinds() {
                        say!("re-armed {kind} (thread {idx})");
                    }
                }
                let Some(event) = event else { continue };
                match n.route_event(event) {
                    Delivery::Notification(note) => {
                        let slot = match note.kind {
                            NotificationKind::NoBuffers => 0,
                            NotificationKind::CopyFallback => 1,
                            _ => 2,
                        };
                        totals.notifications[slot] += 1;
                        let stats = StatsSnapshot::read(zcrx).map_or_else(String::new, |s| {
                            format!(
                                "; stats: copy_count {}, copy_bytes {}",
                                s.copy_count, s.copy_bytes
                            )
                        });
                        say!("notification: {} (thread {idx}){stats}", note.kind);
                        continue;
                    }
                    Delivery::Other(event) => Some(event),
                }
            }
        };
        let Some(event) = event else { continue };
        match event {
            Recv::Eof { conn } | Recv::LimitReached { conn } => {
                let Some(c) = conns.get_mut(conn.index() as usize).and_then(Option::take) else {
                    return Err(Failure::new(
                        "end of a connection this thread does not know",
                    ));
                };
                open -= 1;
                totals.connections += 1;
                counters.open.store(open, Ordering::Relaxed);
                finish(c);
            }
            Recv::Failed { conn, error } => {
                let who = conns
                    .get(conn.index() as usize)
                    .and_then(Option::as_ref)
                    .map_or_else(String::new, |c| format!(" {} from {}", c.number, c.peer));
                return Err(Failure::new(format!(
                    "connection{who}: receive failed: {}",
                    cli::describe_ring_error(&error)
                )));
            }
            Recv::Cancelled { .. } => {
                return Err(Failure::new("a receive was cancelled unexpectedly"));
            }
            Recv::BuffersExhausted => {
                return Err(Failure::new(
                    "every buffer of the area is held and nothing is in flight",
                ));
            }
            Recv::Other(c) if c.user_data == ACCEPT_UD => {
                accept_armed = false;
                let fd = c
                    .result()
                    .map_err(|errno| Failure::new(format!("accepting a connection: {errno}")))?;
                // SAFETY: a successful accept's result is a new file
                // descriptor that the kernel installed for this process and
                // nothing else owns.
                let owned = unsafe { OwnedFd::from_raw_fd(fd as i32) };
                let stream = TcpStream::from(owned);
                let peer = stream
                    .peer_addr()
                    .map_or_else(|_| "?".to_owned(), |a| a.to_string());
                let number = shared.accepted.fetch_add(1, Ordering::Relaxed) + 1;
                shared.start.get_or_init(Instant::now);
                let id = rx.add(zcrx, &stream, None)?;
                let slot = id.index() as usize;
                if conns.len() <= slot {
                    conns.resize_with(slot + 1, || None);
                }
                conns[slot] = Some(Conn {
                    _stream: stream,
                    number,
                    peer,
                    offset: 0,
                    completions: 0,
                    sha: cfg.sha256.then(Sha256::new),
                });
                open += 1;
                counters.open.store(open, Ordering::Relaxed);
                if let Some(c) = &conns[slot] {
                    say!(
                        "connection {} from {} accepted (thread {idx})",
                        c.number,
                        c.peer
                    );
                }
            }
            // Completions of requests this program did not make, or events
            // added by a newer zcrx-ring: nothing to do.
            _ => {}
        }
    }
    if notifier.is_some() {
        totals.stats = StatsSnapshot::read(zcrx);
    }
    totals.flushes = zcrx.flushes();
    totals.buffers = u64::from(zcrx.buffers());
    Ok(totals)
}

/// Where received data goes: checked, hashed and counted per connection,
/// inside the receiver's batch (the buffer goes back right after).
struct DataSink<'a> {
    conns: &'a mut Vec<Option<Conn>>,
    totals: &'a mut Totals,
    verify: bool,
    /// The first failure (the rest of the batch is ignored).
    failure: Option<Failure>,
}

impl DataSink<'_> {
    fn take(&mut self, conn: ConnId, data: &[u8]) {
        if self.failure.is_some() {
            return;
        }
        let Some(c) = self
            .conns
            .get_mut(conn.index() as usize)
            .and_then(Option::as_mut)
        else {
            self.failure = Some(Failure::new(
                "data for a connection this thread does not know",
            ));
            return;
        };
        if self.verify {
            if let Err(m) = pattern::check(c.offset, data) {
                self.failure = Some(Failure::new(format!(
                    "connection {} from {}: {m}",
                    c.number, c.peer
                )));
                return;
            }
        }
        if let Some(h) = &mut c.sha {
            h.update(data);
        }
        let n = data.len() as u64;
        c.offset += n;
        c.completions += 1;
        self.totals.bytes += n;
        self.totals.completions += 1;
    }
}

/// Prints a finished connection's lines (together, so that threads do not
/// interleave them).
fn finish(c: Conn) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "connection {} from {} closed: {} bytes in {} completions",
        c.number, c.peer, c.offset, c.completions
    );
    if let Some(h) = c.sha {
        let digest = h.finalize();
        let mut hex = String::with_capacity(64);
        for b in digest.iter() {
            use std::fmt::Write as _;
            let _ = write!(hex, "{b:02x}");
        }
        let _ = writeln!(out, "sha256 {hex}");
    }
    let _ = out.flush();
}
