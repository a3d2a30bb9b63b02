//! `zcrx-send`: sends the examples' test pattern (or a file) over one or
//! more TCP connections, for `zcrx-recv` to receive.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use zcrx_examples::cli::{self, ByteSize, Failure, human_bytes};
use zcrx_examples::pattern;
use zcrx_examples::say;

const PROGRAM: &str = "zcrx-send";

/// Sends the test pattern (or a file) to ADDR:PORT over TCP.
///
/// Every connection sends the whole stream: --bytes bytes of the pattern
/// (byte i of each connection's stream is `zcrx_examples::pattern::byte_at(i)`,
/// which `zcrx-recv --verify` checks), or the whole --file. With
/// --connections N the N connections run at the same time, one thread each,
/// so N times the amount is sent in all. Each connection is shut down for
/// writing once its stream is sent, then closed.
///
/// Exit status: 0 when every connection sent everything, 1 on a failure
/// (connection refused, reset ...), 2 for bad arguments.
#[derive(Parser, Debug)]
#[command(name = "zcrx-send", version, about, long_about)]
struct Args {
    /// Where to connect (a host name is resolved).
    #[arg(value_name = "ADDR:PORT")]
    to: String,

    /// Bytes of the pattern per connection (suffixes K, M, G: powers of
    /// 1024).
    #[arg(
        long,
        value_name = "N",
        required_unless_present = "file",
        conflicts_with = "file"
    )]
    bytes: Option<ByteSize>,

    /// Send this file's contents instead of the pattern (every connection
    /// sends all of it).
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,

    /// Connections, sending at the same time.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    connections: u32,

    /// Bytes per write(2).
    #[arg(long, value_name = "SIZE", default_value = "256K")]
    write_size: ByteSize,

    /// Keep trying to connect for this many milliseconds while the
    /// receiver is not listening yet (connection refused).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    retry_ms: u64,
}

/// What a connection sends.
#[derive(Debug, Clone)]
enum Payload {
    Pattern(u64),
    File(PathBuf),
}

fn main() -> ExitCode {
    let args: Args = cli::parse_args();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.report(PROGRAM),
    }
}

fn run(args: &Args) -> Result<(), Failure> {
    let write_size = usize::try_from(args.write_size.0)
        .ok()
        .filter(|&n| (1..=(64 << 20)).contains(&n))
        .ok_or_else(|| Failure::usage("--write-size must be between 1 byte and 64 MiB"))?;
    let addrs: Vec<SocketAddr> = args
        .to
        .to_socket_addrs()
        .map_err(|e| Failure::usage(format!("cannot resolve {:?}: {e}", args.to)))?
        .collect();
    if addrs.is_empty() {
        return Err(Failure::usage(format!(
            "{:?} resolves to no address",
            args.to
        )));
    }
    let payload = match (&args.file, args.bytes) {
        (Some(path), _) => {
            // Fail early, in one line, if it cannot be read.
            File::open(path)
                .map_err(|e| Failure::new(format!("cannot open {}: {e}", path.display())))?;
            Payload::File(path.clone())
        }
        (None, Some(n)) => Payload::Pattern(n.0),
        (None, None) => return Err(Failure::usage("give --bytes or --file")),
    };

    let start = Instant::now();
    let results: Vec<Result<u64, Failure>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.connections)
            .map(|i| {
                let payload = &payload;
                let addrs = &addrs;
                scope.spawn(move || {
                    send_one(addrs, payload, write_size, args.retry_ms)
                        .map_err(|f| f.context(format!("connection {}", i + 1)))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Failure::new("a sending thread panicked")))
            })
            .collect()
    });
    let secs = start.elapsed().as_secs_f64();
    let mut total = 0u64;
    for r in results {
        total += r?;
    }
    let rate = if secs > 0.0 {
        total as f64 / secs / (1024.0 * 1024.0)
    } else {
        0.0
    };
    let what = match &payload {
        Payload::Pattern(_) => "of the pattern".to_owned(),
        Payload::File(p) => format!("of {}", p.display()),
    };
    say!(
        "sent {total} bytes {what} over {} connection(s) in {secs:.3} s ({rate:.1} MiB/s)",
        args.connections
    );
    if std::io::stdout().is_terminal() {
        say!(
            "({} per connection)",
            human_bytes(total / u64::from(args.connections))
        );
    }
    Ok(())
}

fn connect(addrs: &[SocketAddr], retry_ms: u64) -> Result<TcpStream, Failure> {
    let deadline = Instant::now() + Duration::from_millis(retry_ms);
    loop {
        match TcpStream::connect(addrs) {
            Ok(s) => return Ok(s),
            Err(e)
                if e.kind() == std::io::ErrorKind::ConnectionRefused
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                return Err(Failure::new(format!(
                    "connecting to {}: {e}",
                    addrs
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(" or ")
                )));
            }
        }
    }
}

/// Sends one connection's stream; returns the bytes sent.
fn send_one(
    addrs: &[SocketAddr],
    payload: &Payload,
    write_size: usize,
    retry_ms: u64,
) -> Result<u64, Failure> {
    let mut stream = connect(addrs, retry_ms)?;
    let mut buf = vec![0u8; write_size];
    let mut sent = 0u64;
    match payload {
        Payload::Pattern(total) => {
            while sent < *total {
                let n =
                    usize::try_from(total - sent).map_or(write_size, |left| left.min(write_size));
                pattern::fill(sent, &mut buf[..n]);
                stream
                    .write_all(&buf[..n])
                    .map_err(|e| Failure::new(format!("sending at offset {sent}: {e}")))?;
                sent += n as u64;
            }
        }
        Payload::File(path) => {
            let mut file = File::open(path)
                .map_err(|e| Failure::new(format!("cannot open {}: {e}", path.display())))?;
            loop {
                let n = file
                    .read(&mut buf)
                    .map_err(|e| Failure::new(format!("reading {}: {e}", path.display())))?;
                if n == 0 {
                    break;
                }
                stream
                    .write_all(&buf[..n])
                    .map_err(|e| Failure::new(format!("sending at offset {sent}: {e}")))?;
                sent += n as u64;
            }
        }
    }
    stream
        .shutdown(Shutdown::Write)
        .map_err(|e| Failure::new(format!("closing: {e}")))?;
    Ok(sent)
}
