//! `zcrx-tokio-recv`: `zcrx-recv`'s job inside a tokio application.
//!
//! A multi-threaded tokio runtime accepts connections with tokio's
//! `TcpListener` and hands each one (round robin) to a ring thread. A ring
//! thread owns one io_uring and one ZCRX instance (the ring belongs to its
//! thread: `SINGLE_ISSUER`) and runs a current-thread runtime whose one
//! task `select!`s over new connections, the `AsyncReceiver`'s events and,
//! with `--notify`, the next notification re-arm: every branch is
//! cancel-safe, so the ones that lose lose nothing. Data is verified and
//! hashed in place on the ring thread (borrowed views), or with
//! `--offload` on the multi-threaded runtime, one task per connection fed
//! with `SharedBuf`s.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use sha2::{Digest, Sha256};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use zcrx_examples::cli::{self, ByteSize, Failure};
use zcrx_examples::{pattern, say};
use zcrx_notif::{
    Delivery, Fallback, NotificationMask, Notifier, NotifyConfig, RearmPolicy, StatsSnapshot,
    Support, ZcrxBuilderExt,
};
use zcrx_ring::caps::Capabilities;
use zcrx_ring::tokio::AsyncReceiver;
use zcrx_ring::{Area, Recv, Ring, SharedBuf, Zcrx};

const PROGRAM: &str = "zcrx-tokio-recv";

/// `user_data` of the notification completions.
const NOTIFY_UD: u64 = 2;

/// A TCP receiver over io_uring zero-copy receive (ZCRX) in a tokio
/// application.
///
/// Listens on ADDR:PORT with tokio, prints `listening on ADDR:PORT` once
/// every ring thread is ready, receives each connection on a ring thread
/// (NODEV: any TCP socket, Linux >= 7.1), and exits after --connections
/// connections have closed, printing `received N bytes in S s (R MiB/s)`.
///
/// Needs CAP_NET_ADMIN (root). Exit status: 0 on success, 1 on a failure,
/// 2 for bad arguments.
#[derive(Parser, Debug)]
#[command(name = "zcrx-tokio-recv", version, about, long_about)]
struct Args {
    /// Address to listen on; port 0 picks a free port (the one chosen is
    /// printed).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: SocketAddr,

    /// Receive without a NIC (ZCRX_REG_NODEV, Linux >= 7.1). The only mode
    /// of this program (a NIC queue per thread is `zcrx-recv`'s).
    #[arg(long, required = true)]
    nodev: bool,

    /// Exit after this many connections have closed.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..))]
    connections: u64,

    /// Ring threads, each with its own ring, ZCRX instance and
    /// current-thread runtime.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    threads: u32,

    /// Receive area per ring thread (suffixes K, M, G).
    #[arg(long, value_name = "SIZE", default_value = "16M")]
    area_size: ByteSize,

    /// Completion ring entries per ring thread.
    #[arg(long, value_name = "N", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(64..=65536))]
    cq_entries: u32,

    /// Check every stream against zcrx-send's pattern.
    #[arg(long)]
    verify: bool,

    /// Print `sha256 <hex>` of each connection's stream when it ends.
    #[arg(long)]
    sha256: bool,

    /// Verify and hash on the multi-threaded runtime (one task per
    /// connection, fed with `SharedBuf`s) instead of on the ring thread.
    #[arg(long)]
    offload: bool,

    /// Enable notifications (copy-fallback) and stats (Linux 7.2): print
    /// each, re-arm it after --rearm-ms with a tokio timer.
    #[arg(long)]
    notify: bool,

    /// With --notify: milliseconds before a notification is re-armed.
    #[arg(long, value_name = "MS", default_value_t = 100, requires = "notify")]
    rearm_ms: u64,
}

/// One accepted connection, on its way to a ring thread.
struct Accepted {
    number: u64,
    stream: std::net::TcpStream,
    peer: SocketAddr,
}

/// A ring thread's totals.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    bytes: u64,
    completions: u64,
    connections: u64,
    notifications: u64,
    stats: Option<StatsSnapshot>,
}

fn main() -> ExitCode {
    let args: Args = cli::parse_args();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Failure::from(e).report(PROGRAM),
    };
    match rt.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.report(PROGRAM),
    }
}

async fn serve(args: Args) -> Result<(), Failure> {
    // What the kernel must have, named with the release that has it,
    // before any thread starts.
    let caps = Capabilities::query();
    if !caps.zcrx().is_ok_and(|z| z.supports_nodev()) {
        return Err(zcrx_ring::Unsupported {
            what: "ZCRX_REG_NODEV",
            needs: zcrx_uapi::abi::find_const("ZCRX_REG_NODEV").map(|c| c.since),
        }
        .into());
    }
    if args.notify {
        Support::from_caps(&caps).require()?;
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| Failure::from(e).context(format!("listening on {}", args.listen)))?;
    let local = listener.local_addr()?;
    let area_size = usize::try_from(args.area_size.0)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| Failure::usage("--area-size must be at least one page"))?;

    // The ring threads: each reports once it is set up, then its totals.
    let (report, mut reports) = mpsc::unbounded_channel::<Result<Option<Totals>, Failure>>();
    let mut conns = Vec::new();
    let mut threads = Vec::new();
    for idx in 0..args.threads {
        let (tx, rx) = mpsc::unbounded_channel();
        conns.push(tx);
        let ring = RingThread {
            idx,
            area_size,
            cq_entries: args.cq_entries,
            verify: args.verify,
            sha256: args.sha256,
            offload: args.offload.then(Handle::current),
            notify: args.notify.then_some(args.rearm_ms),
        };
        let report = report.clone();
        let t = std::thread::Builder::new()
            .name(format!("zcrx-ring-{idx}"))
            .spawn(move || {
                let done = ring.run(rx, &report);
                let _ = report.send(done.map(Some));
            })?;
        threads.push(t);
    }
    drop(report);
    for _ in 0..args.threads {
        match reports.recv().await {
            Some(Ok(None)) => {}
            Some(Err(f)) => return Err(f),
            Some(Ok(Some(_))) | None => return Err(Failure::new("a ring thread ended early")),
        }
    }
    say!("listening on {local}");

    let mut start = None;
    for number in 1..=args.connections {
        let (stream, peer) = listener.accept().await?;
        start.get_or_insert_with(Instant::now);
        // Off this runtime's reactor: the ring thread's receiver keeps its
        // own duplicate of the descriptor.
        let stream = stream.into_std()?;
        let to = &conns[(number % u64::from(args.threads)) as usize];
        if to
            .send(Accepted {
                number,
                stream,
                peer,
            })
            .is_err()
        {
            break; // that thread failed: its report says why
        }
    }
    drop(conns); // the ring threads finish once their connections have

    let mut total = Totals::default();
    for _ in 0..args.threads {
        match reports.recv().await {
            Some(Ok(Some(t))) => {
                total.bytes += t.bytes;
                total.completions += t.completions;
                total.connections += t.connections;
                total.notifications += t.notifications;
                total.stats = match (total.stats, t.stats) {
                    (Some(a), Some(b)) => Some(StatsSnapshot {
                        copy_count: a.copy_count + b.copy_count,
                        copy_bytes: a.copy_bytes + b.copy_bytes,
                    }),
                    (a, b) => a.or(b),
                };
            }
            Some(Err(f)) => return Err(f),
            _ => return Err(Failure::new("a ring thread ended without a result")),
        }
    }
    for t in threads {
        let _ = t.join();
    }
    let secs = start.map_or(0.0, |s| s.elapsed().as_secs_f64());
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
        "{} connection(s), {} data completion(s), {} ring thread(s){}",
        total.connections,
        total.completions,
        args.threads,
        if args.offload {
            ", verified on the multi-threaded runtime"
        } else {
            ""
        }
    );
    if args.verify {
        let _ = writeln!(out, "verified: every byte matches the pattern");
    }
    if args.notify {
        let _ = writeln!(out, "notifications: {}", total.notifications);
        if let Some(st) = total.stats {
            let _ = writeln!(
                out,
                "stats: copy_count {}, copy_bytes {} (copied page fragments)",
                st.copy_count, st.copy_bytes
            );
        }
    }
    Ok(())
}

/// What a ring thread needs.
struct RingThread {
    idx: u32,
    area_size: usize,
    cq_entries: u32,
    verify: bool,
    sha256: bool,
    /// With --offload: the multi-threaded runtime that checks the data.
    offload: Option<Handle>,
    /// With --notify: the re-arm delay in milliseconds.
    notify: Option<u64>,
}

/// A connection on a ring thread.
struct Conn {
    number: u64,
    peer: SocketAddr,
    offset: u64,
    completions: u64,
    sha: Option<Sha256>,
    /// With --offload: where its data goes, and the task checking it.
    offload: Option<Offload>,
}

/// A connection's checking task on the multi-threaded runtime, and its
/// data's way there.
type Offload = (
    mpsc::UnboundedSender<SharedBuf>,
    tokio::task::JoinHandle<Result<(), Failure>>,
);

impl RingThread {
    /// Sets up the ring and instance on this thread, reports, and receives
    /// until the connection channel is closed and every connection ended.
    fn run(
        self,
        accepted: mpsc::UnboundedReceiver<Accepted>,
        report: &mpsc::UnboundedSender<Result<Option<Totals>, Failure>>,
    ) -> Result<Totals, Failure> {
        let mut ring: Ring = Ring::builder(64)
            .cq_entries(self.cq_entries)
            .build()
            .map_err(|e| Failure::from(e).context("setting up the io_uring"))?;
        let area = Area::anonymous(self.area_size)
            .map_err(|e| Failure::from(e).context("mapping the receive area"))?;
        let mut builder = Zcrx::builder_nodev().area(area);
        let mut notifier = None;
        if let Some(ms) = self.notify {
            let support = Support::query();
            let cfg = NotifyConfig::new(NOTIFY_UD)
                .kinds(NotificationMask::COPY_FALLBACK)
                .stats(true)
                .fallback(Fallback::Require)
                .rearm(RearmPolicy::AfterInterval(Duration::from_millis(ms)));
            builder = builder.notifications(&cfg, &support)?;
            notifier = Some(Notifier::new(&cfg, &support));
        }
        let zcrx = builder.register(&ring)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let _ = report.send(Ok(None));
        rt.block_on(self.receive(&mut ring, &zcrx, notifier, accepted))
    }

    async fn receive(
        &self,
        ring: &mut Ring,
        zcrx: &Zcrx,
        mut notifier: Option<Notifier>,
        mut accepted: mpsc::UnboundedReceiver<Accepted>,
    ) -> Result<Totals, Failure> {
        let mut rx = AsyncReceiver::new(ring)?;
        let mut conns: Vec<Option<Conn>> = Vec::new();
        let mut totals = Totals::default();
        let (mut open, mut more) = (0u64, true);
        while more || open > 0 {
            let rearm = notifier.as_ref().and_then(Notifier::next_rearm);
            tokio::select! {
                a = accepted.recv(), if more => {
                    let Some(a) = a else {
                        more = false;
                        continue;
                    };
                    let id = rx.add(zcrx, &a.stream, None)?;
                    let slot = id.index() as usize;
                    if conns.len() <= slot {
                        conns.resize_with(slot + 1, || None);
                    }
                    let offload = self.offload.as_ref().map(|rt| {
                        let (tx, rx) = mpsc::unbounded_channel();
                        let task = rt.spawn(check(rx, a.number, self.verify, self.sha256));
                        (tx, task)
                    });
                    say!("connection {} from {} accepted (ring thread {})", a.number, a.peer, self.idx);
                    conns[slot] = Some(Conn {
                        number: a.number,
                        peer: a.peer,
                        offset: 0,
                        completions: 0,
                        sha: (self.sha256 && offload.is_none()).then(Sha256::new),
                        offload,
                    });
                    open += 1;
                    // `a.stream` closes here: the receiver holds a duplicate.
                }
                () = tokio::time::sleep(rearm.unwrap_or_default()), if rearm.is_some() => {}
                event = rx.recv() => {
                    let event = match &mut notifier {
                        Some(n) => match n.route_event(event?) {
                            Delivery::Notification(note) => {
                                totals.notifications += 1;
                                say!("notification: {} (ring thread {})", note.kind, self.idx);
                                None
                            }
                            Delivery::Other(ev) => Some(ev),
                        },
                        None => Some(event?),
                    };
                    if let Some(ev) = event {
                        if self.handle(ev, &mut conns, &mut totals).await? {
                            open -= 1;
                        }
                    }
                }
            }
            if let Some(n) = &mut notifier {
                if !n.fired().is_empty() {
                    for kind in n.service(zcrx)?.kinds() {
                        say!("re-armed {kind} (ring thread {})", self.idx);
                    }
                }
            }
        }
        for c in conns.into_iter().flatten() {
            if let Some((_, task)) = c.offload {
                task.await.map_err(|e| Failure::new(e.to_string()))??;
            }
        }
        if notifier.is_some() {
            totals.stats = StatsSnapshot::read(zcrx);
        }
        Ok(totals)
    }

    /// One receive event; returns whether a connection ended.
    async fn handle(
        &self,
        event: Recv<'_>,
        conns: &mut [Option<Conn>],
        totals: &mut Totals,
    ) -> Result<bool, Failure> {
        match event {
            Recv::Data { conn, buf } => {
                let c = conns
                    .get_mut(conn.index() as usize)
                    .and_then(Option::as_mut)
                    .ok_or_else(|| Failure::new("data for an unknown connection"))?;
                let n = buf.len() as u64;
                match &c.offload {
                    // To the connection's task, in order.
                    Some((tx, _)) => {
                        let _ = tx.send(buf.into_shared());
                    }
                    None => {
                        if self.verify {
                            pattern::check(c.offset, &buf).map_err(|m| {
                                Failure::new(format!(
                                    "connection {} from {}: {m}",
                                    c.number, c.peer
                                ))
                            })?;
                        }
                        if let Some(h) = &mut c.sha {
                            h.update(&*buf);
                        }
                    } // the view goes back to the kernel here
                }
                c.offset += n;
                c.completions += 1;
                totals.bytes += n;
                totals.completions += 1;
                Ok(false)
            }
            Recv::Eof { conn } => {
                let c = conns
                    .get_mut(conn.index() as usize)
                    .and_then(Option::take)
                    .ok_or_else(|| Failure::new("end of an unknown connection"))?;
                totals.connections += 1;
                say!(
                    "connection {} from {} closed: {} bytes in {} completions",
                    c.number,
                    c.peer,
                    c.offset,
                    c.completions
                );
                if let Some(h) = c.sha {
                    say!("sha256 {}", hex(&h.finalize()));
                }
                if let Some((tx, task)) = c.offload {
                    drop(tx); // the task ends after the last buffer
                    task.await.map_err(|e| Failure::new(e.to_string()))??;
                }
                Ok(true)
            }
            // Every buffer is held by the offload tasks: they give them
            // back as they go, and nothing wakes the receiver for that.
            Recv::BuffersExhausted if self.offload.is_some() => {
                tokio::time::sleep(Duration::from_millis(1)).await;
                Ok(false)
            }
            Recv::BuffersExhausted => Err(Failure::new(
                "every buffer of the area is held and nothing is in flight",
            )),
            Recv::Failed { conn, error } => Err(Failure::new(format!(
                "connection {}: receive failed: {}",
                conn.index(),
                cli::describe_ring_error(&error)
            ))),
            other => Err(Failure::new(format!("unexpected event {other:?}"))),
        }
    }
}

/// With --offload: checks one connection's data on the multi-threaded
/// runtime; each `SharedBuf` goes back to the kernel when dropped here.
async fn check(
    mut bufs: mpsc::UnboundedReceiver<SharedBuf>,
    number: u64,
    verify: bool,
    sha256: bool,
) -> Result<(), Failure> {
    let mut sha = sha256.then(Sha256::new);
    let mut offset = 0u64;
    while let Some(buf) = bufs.recv().await {
        if verify {
            pattern::check(offset, &buf)
                .map_err(|m| Failure::new(format!("connection {number}: {m}")))?;
        }
        if let Some(h) = &mut sha {
            h.update(&*buf);
        }
        offset += buf.len() as u64;
    }
    if let Some(h) = sha {
        say!("sha256 {}", hex(&h.finalize()));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
