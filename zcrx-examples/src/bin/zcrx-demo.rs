//! `zcrx-demo`: runs `zcrx-recv --nodev --notify --verify --sha256` (or
//! `zcrx-tokio-recv`, `--receiver`) against `zcrx-send` on loopback and
//! checks every outcome; what
//! `cargo xtask demo` runs (natively, or as the one program of a guest boot).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use sha2::{Digest, Sha256};
use zcrx_examples::cli::{self, ByteSize, Failure};
use zcrx_examples::{locate, pattern};
use zcrx_examples::{say, say_err};

/// Runs zcrx-recv against zcrx-send on loopback and checks the outcome.
///
/// Starts `zcrx-recv --listen 127.0.0.1:0 --nodev --notify --verify
/// --sha256`, waits for its `listening on ADDR:PORT` line, runs `zcrx-send`
/// to that address, and checks that both exit with status 0, that the
/// receiver verified every byte, that each connection's SHA-256 is the one
/// of the pattern sent (computed here), that copy-fallback notifications
/// arrived (they are re-armed 100 ms after each), and that the kernel's
/// stats count every byte as copied (NODEV copies everything). The programs' output is shown, prefixed `recv |` and
/// `send |`.
///
/// The programs are looked for next to this one (or in
/// $ZCRX_EXAMPLES_BIN_DIR). Needs Linux >= 7.2 and CAP_NET_ADMIN; `cargo
/// xtask demo` runs it in a Linux 7.3 guest when this machine lacks either.
///
/// Exit status: 0 when every check passed, 1 otherwise, 2 for bad arguments.
#[derive(Parser, Debug)]
#[command(name = "zcrx-demo", version, about, long_about)]
struct Args {
    /// Bytes per connection (suffixes K, M, G).
    #[arg(long, value_name = "SIZE", default_value = "16M")]
    bytes: ByteSize,

    /// Connections (sent at the same time).
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    connections: u32,

    /// Receiver threads.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=16))]
    threads: u32,

    /// Receiver area per thread.
    #[arg(long, value_name = "SIZE", default_value = "16M")]
    area_size: ByteSize,

    /// Give up (and stop the programs) after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    timeout: u64,

    /// Where zcrx-recv and zcrx-send are (default: next to this program).
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,

    /// The receiver to run: zcrx-recv (threads with blocking loops) or
    /// zcrx-tokio-recv (tokio: an accepting runtime, ring threads with
    /// async receivers).
    #[arg(long, value_name = "PROGRAM", default_value = "zcrx-recv",
          value_parser = ["zcrx-recv", "zcrx-tokio-recv"])]
    receiver: String,
}

fn main() -> ExitCode {
    let args: Args = cli::parse_args();
    match run(&args) {
        Ok(summary) => {
            say!("demo: OK: {summary}");
            ExitCode::SUCCESS
        }
        Err(f) => {
            let _ = std::io::stdout().flush();
            say!("demo: FAILED: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

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

/// The output of a child, echoed with a prefix as it arrives and kept.
struct Captured {
    lines: Arc<Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn join(self) -> Vec<String> {
        for t in self.threads {
            let _ = t.join();
        }
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// Echoes and keeps a child's stdout and stderr; `watch` sees every stdout
/// line as it arrives.
fn capture(
    child: &mut Child,
    prefix: &'static str,
    watch: Option<mpsc::Sender<String>>,
) -> Captured {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    if let Some(out) = child.stdout.take() {
        let lines = lines.clone();
        threads.push(std::thread::spawn(move || {
            pump(out, prefix, false, &lines, watch.as_ref());
        }));
    }
    if let Some(err) = child.stderr.take() {
        let lines = lines.clone();
        threads.push(std::thread::spawn(move || {
            pump(err, prefix, true, &lines, None);
        }));
    }
    Captured { lines, threads }
}

fn pump(
    from: impl Read,
    prefix: &str,
    is_stderr: bool,
    lines: &Mutex<Vec<String>>,
    watch: Option<&mpsc::Sender<String>>,
) {
    for line in BufReader::new(from).lines() {
        let Ok(line) = line else { break };
        if is_stderr {
            say_err!("{prefix} ! {line}");
        } else {
            say!("{prefix} | {line}");
        }
        if let Some(w) = watch {
            let _ = w.send(line.clone());
        }
        if let Ok(mut l) = lines.lock() {
            l.push(line);
        }
    }
}

/// Waits for `child` until `deadline`; kills it past that.
fn wait_until(child: &mut Child, deadline: Instant, what: &str) -> Result<ExitStatus, Failure> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Failure::new(format!(
                    "{what} did not finish in time; stopped it"
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(Failure::new(format!("waiting for {what}: {e}"))),
        }
    }
}

/// Kills the receiver if the demo gives up early.
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn expected_sha256(bytes: u64) -> String {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0u64;
    while off < bytes {
        let n = usize::try_from(bytes - off).map_or(buf.len(), |l| l.min(buf.len()));
        pattern::fill(off, &mut buf[..n]);
        h.update(&buf[..n]);
        off += n as u64;
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn run(args: &Args) -> Result<String, Failure> {
    let dir = args.bin_dir.as_deref();
    let receiver = args.receiver.as_str();
    let recv_bin = find(receiver, dir)?;
    let send_bin = find("zcrx-send", dir)?;
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let release = rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned();
    say!(
        "demo: Linux {release}: {receiver} and zcrx-send on loopback, {} connection(s) of {} bytes",
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
    if receiver == "zcrx-recv" {
        recv_args.push("--no-progress".into());
    }
    say!("demo: $ {receiver} {}", recv_args.join(" "));
    let mut recv = Command::new(&recv_bin)
        .args(&recv_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Failure::new(format!("starting {}: {e}", recv_bin.display())))?;
    let (tx, rx) = mpsc::channel();
    let recv_out = capture(&mut recv, "recv", Some(tx));
    let mut recv = KillOnDrop(Some(recv));

    // Wait for "listening on ADDR:PORT" (or for the receiver to end).
    let addr = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left.min(Duration::from_millis(100))) {
            Ok(line) => {
                if let Some(a) = line.strip_prefix("listening on ") {
                    break a.trim().to_owned();
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(c) = &mut recv.0 {
                    if let Ok(Some(status)) = c.try_wait() {
                        recv.0 = None;
                        let lines = recv_out.join();
                        let why = lines
                            .iter()
                            .rev()
                            .find(|l| l.starts_with(&format!("{receiver}:")))
                            .cloned()
                            .unwrap_or_else(|| format!("it exited with {status}"));
                        return Err(Failure::new(format!(
                            "{receiver} ended before listening: {why}"
                        )));
                    }
                }
                if Instant::now() >= deadline {
                    return Err(Failure::new(format!(
                        "{receiver} did not start listening in time"
                    )));
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Failure::new(format!(
                    "{receiver} closed its output before listening"
                )));
            }
        }
    };

    let send_args: Vec<String> = vec![
        addr.clone(),
        "--bytes".into(),
        args.bytes.0.to_string(),
        "--connections".into(),
        args.connections.to_string(),
    ];
    say!("demo: $ zcrx-send {}", send_args.join(" "));
    let mut send = Command::new(&send_bin)
        .args(&send_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Failure::new(format!("starting {}: {e}", send_bin.display())))?;
    let send_out = capture(&mut send, "send", None);
    let send_status = wait_until(&mut send, deadline, "zcrx-send")?;
    let send_lines = send_out.join();
    let recv_status = match &mut recv.0 {
        Some(c) => wait_until(c, deadline, receiver)?,
        None => return Err(Failure::new(format!("{receiver} is gone"))),
    };
    recv.0 = None;
    let _ = recv_out.lines();
    let recv_lines = recv_out.join();

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
    let want_sha = expected_sha256(args.bytes.0);
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
    let stats = recv_lines
        .iter()
        .find_map(|l| l.strip_prefix("stats: "))
        .unwrap_or("");
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
