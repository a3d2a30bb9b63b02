//! `zcrx-demo`: runs `zcrx-recv` against `zcrx-send` twice and checks every
//! outcome: NODEV mode on loopback, then NIC mode over a (simulated) NIC
//! with the sender in another network namespace. What `cargo xtask demo`
//! runs (natively, or as the one program of a guest boot with the
//! simulated NIC loaded).

mod nic;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use zcrx_examples::child::{self, pattern_sha256};
use zcrx_examples::cli::{self, ByteSize, Failure};
use zcrx_examples::locate;
use zcrx_examples::say;

/// Runs zcrx-recv against zcrx-send, in NODEV mode and in NIC mode, and
/// checks the outcome.
///
/// NODEV: starts `zcrx-recv --listen 127.0.0.1:0 --nodev --notify --verify
/// --sha256`, waits for its `listening on ADDR:PORT` line, runs `zcrx-send`
/// to that address, and checks that both exit with status 0, that the
/// receiver verified every byte, that each connection's SHA-256 is the one
/// of the pattern sent (computed here), that copy-fallback notifications
/// arrived (they are re-armed 100 ms after each), and that the kernel's
/// stats count every byte as copied (NODEV copies everything). Ends with
/// `demo: NODEV mode OK: ...`.
///
/// NIC: sets up the simulated NIC pair (zcrx-sim's zsim0a here, zsim0b in a
/// new network namespace; or the real NIC of ZCRX_NIC_IFNAME and its peer
/// namespace), shows `zcrx-info --interfaces`, starts `zcrx-recv --ifname
/// zsim0a --queue Q --notify --verify --sha256`, steers its port to queue
/// Q, runs `zcrx-send` in the other namespace, and checks the bytes, the
/// SHA-256, that nothing was copied (copy_count 0, no copy-fallback) and
/// that the kernel refilled by itself (no ZCRX_CTRL_FLUSH_RQ). Ends with
/// `demo: NIC mode OK: ...`.
///
/// The programs' output is shown, prefixed `recv |`, `send |` and `info |`;
/// they are looked for next to this one (or in $ZCRX_EXAMPLES_BIN_DIR).
/// Needs Linux >= 7.2 and root; `cargo xtask demo` runs it in a Linux 7.3
/// guest when this machine lacks either.
///
/// Exit status: 0 when every check passed, 1 otherwise, 2 for bad arguments.
#[derive(Parser, Debug)]
#[command(name = "zcrx-demo", version, about, long_about)]
struct Args {
    /// Bytes per connection in NODEV mode (suffixes K, M, G).
    #[arg(long, value_name = "SIZE", default_value = "16M")]
    bytes: ByteSize,

    /// Connections in NODEV mode (sent at the same time).
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    connections: u32,

    /// Receiver threads in NODEV mode.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=16))]
    threads: u32,

    /// Receiver area per thread.
    #[arg(long, value_name = "SIZE", default_value = "16M")]
    area_size: ByteSize,

    /// The NIC-mode part: `auto` runs it when a NIC pair can be set up
    /// (the simulated NIC is loaded, or ZCRX_NIC_IFNAME names a real one)
    /// and says why not otherwise; `require` fails without one.
    #[arg(long, value_enum, default_value = "auto")]
    nic: NicMode,

    /// Bytes of the NIC-mode stream.
    #[arg(long, value_name = "SIZE", default_value = "64M")]
    nic_bytes: ByteSize,

    /// Receiver area in NIC mode (much smaller than the stream: the kernel
    /// refills from the returned buffers).
    #[arg(long, value_name = "SIZE", default_value = "4M")]
    nic_area_size: ByteSize,

    /// Give up (and stop the programs) after this many seconds, per part.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    timeout: u64,

    /// Where zcrx-recv, zcrx-send and zcrx-info are (default: next to this
    /// program).
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,

    /// The receiver of the NODEV part: zcrx-recv (threads with blocking
    /// loops) or zcrx-tokio-recv (tokio: an accepting runtime, ring threads
    /// with async receivers).
    #[arg(long, value_enum, value_name = "PROGRAM", default_value = "zcrx-recv")]
    receiver: ReceiverProgram,
}

/// The receiving program of the NODEV part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReceiverProgram {
    /// `zcrx-recv`.
    #[value(name = "zcrx-recv")]
    ZcrxRecv,
    /// `zcrx-tokio-recv`.
    #[value(name = "zcrx-tokio-recv")]
    ZcrxTokioRecv,
}

impl ReceiverProgram {
    fn name(self) -> &'static str {
        match self {
            ReceiverProgram::ZcrxRecv => "zcrx-recv",
            ReceiverProgram::ZcrxTokioRecv => "zcrx-tokio-recv",
        }
    }
}

/// Whether to run the NIC-mode part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum NicMode {
    /// When a NIC pair can be set up.
    Auto,
    /// Fail without one.
    Require,
    /// Never.
    Off,
}

fn main() -> ExitCode {
    let args: Args = cli::parse_args();
    let outcome = run_nodev(&args).and_then(|summary| {
        say!("demo: NODEV mode OK: {summary}");
        match args.nic {
            NicMode::Off => Ok(()),
            mode => match nic::run(&args, mode == NicMode::Require)? {
                nic::Outcome::Ran(summary) => {
                    say!("demo: NIC mode OK: {summary}");
                    Ok(())
                }
                nic::Outcome::NoNic(why) => {
                    say!("demo: NIC mode not run: {why}");
                    Ok(())
                }
            },
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let _ = std::io::stdout().flush();
            say!("demo: FAILED: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// Where program `name` is.
fn find(name: &str, dir: Option<&Path>) -> Result<PathBuf, Failure> {
    match dir {
        Some(d) => {
            let p = d.join(name);
            if p.is_file() {
                Ok(p)
            } else {
                Err(Failure::new(format!("{} does not exist", p.display())))
            }
        }
        None => locate::sibling(name).map_err(Failure::new),
    }
}

/// The running kernel's release.
fn release() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

/// The NODEV part: zcrx-recv and zcrx-send on loopback.
fn run_nodev(args: &Args) -> Result<String, Failure> {
    let dir = args.bin_dir.as_deref();
    let receiver = args.receiver.name();
    let recv_bin = find(receiver, dir)?;
    let send_bin = find("zcrx-send", dir)?;
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let release = release();
    say!(
        "demo: Linux {release}: NODEV mode, {receiver} and zcrx-send on loopback, {} \
         connection(s) of {} bytes",
        args.connections,
        args.bytes.0
    );

    let mut recv_args: Vec<String> = vec![
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--nodev".into(),
        "--notify".into(),
        "--verify".into(),
        "--sha256".into(),
        "--connections".into(),
        args.connections.to_string(),
        "--threads".into(),
        args.threads.to_string(),
        "--area-size".into(),
        args.area_size.0.to_string(),
    ];
    if args.receiver == ReceiverProgram::ZcrxRecv {
        recv_args.push("--no-progress".into());
    }
    say!("demo: $ {receiver} {}", recv_args.join(" "));
    let mut recv = child::spawn(receiver, "recv", Command::new(&recv_bin).args(&recv_args))?;
    let listening = recv.wait_for("listening on ", 1, deadline)?;
    let addr = listening[0]
        .strip_prefix("listening on ")
        .and_then(|a| a.split_whitespace().next())
        .unwrap_or_default()
        .to_owned();

    let send_args: Vec<String> = vec![
        addr,
        "--bytes".into(),
        args.bytes.0.to_string(),
        "--connections".into(),
        args.connections.to_string(),
    ];
    say!("demo: $ zcrx-send {}", send_args.join(" "));
    let send = child::spawn(
        "zcrx-send",
        "send",
        Command::new(&send_bin).args(&send_args),
    )?;
    let (send_status, send_lines) = send.finish(deadline)?;
    let (recv_status, recv_lines) = recv.finish(deadline)?;

    // The checks.
    let mut problems = Vec::new();
    if !send_status.success() {
        problems.push(format!("zcrx-send {send_status}"));
    }
    if !recv_status.success() {
        problems.push(format!("{receiver} {recv_status}"));
    }
    let total = args.bytes.0 * u64::from(args.connections);
    let want_summary = format!("received {total} bytes in ");
    if !recv_lines.iter().any(|l| l.starts_with(&want_summary)) {
        problems.push(format!("{receiver} did not report {total} bytes received"));
    }
    if !recv_lines.iter().any(|l| l.starts_with("verified:")) {
        problems.push(format!("{receiver} did not report the data verified"));
    }
    let want_sha = pattern_sha256(args.bytes.0);
    let shas: Vec<&str> = recv_lines
        .iter()
        .filter_map(|l| l.strip_prefix("sha256 "))
        .collect();
    if shas.len() != args.connections as usize {
        problems.push(format!(
            "{} sha256 line(s) for {} connection(s)",
            shas.len(),
            args.connections
        ));
    }
    if let Some(bad) = shas.iter().find(|s| **s != want_sha) {
        problems.push(format!(
            "sha256 {bad} differs from the pattern's {want_sha}"
        ));
    }
    let notifications = recv_lines
        .iter()
        .filter(|l| l.starts_with("notification: copy-fallback"))
        .count();
    if notifications == 0 {
        problems.push("no copy-fallback notification arrived".to_owned());
    }
    // A NODEV instance copies every byte, and the kernel counts them all.
    let stats = child::line_after(&recv_lines, "stats: ").unwrap_or("");
    if !stats.contains(&format!("copy_bytes {total}")) {
        problems.push(format!(
            "the stats do not count {total} bytes copied: {stats:?}"
        ));
    }
    let rearmed = recv_lines
        .iter()
        .filter(|l| l.starts_with("re-armed "))
        .count();
    if !send_lines
        .iter()
        .any(|l| l.starts_with(&format!("sent {total} bytes")))
    {
        problems.push(format!("zcrx-send did not report {total} bytes sent"));
    }
    if !problems.is_empty() {
        return Err(Failure::new(problems.join("; ")));
    }
    let rate = recv_lines
        .iter()
        .find(|l| l.starts_with(&want_summary))
        .and_then(|l| l.split_once(" in "))
        .map_or_else(String::new, |(_, r)| format!(" in {r}"));
    Ok(format!(
        "Linux {release}: {total} bytes over {} connection(s){rate}, every byte verified, \
         sha256 {}… matches on every connection, {notifications} copy-fallback \
         notification(s) ({rearmed} re-armed), the kernel's stats count every byte copied",
        args.connections,
        &want_sha[..16]
    ))
}
