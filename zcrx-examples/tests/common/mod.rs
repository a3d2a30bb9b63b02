//! Helpers shared by the examples' integration tests: finding the programs,
//! running them with a time limit, and the pattern's expected digest.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// A program of this package: next to the test binary (the guest: vm-test
/// ships the package's binaries to `/zcrx-vm/bin/`, where the test runs
/// from), else where cargo built it for the host (`CARGO_BIN_EXE_<name>`).
pub fn bin(name: &str) -> PathBuf {
    if let Ok(p) = zcrx_examples::locate::sibling(name) {
        return p;
    }
    let built = match name {
        "zcrx-recv" => env!("CARGO_BIN_EXE_zcrx-recv"),
        "zcrx-send" => env!("CARGO_BIN_EXE_zcrx-send"),
        "zcrx-info" => env!("CARGO_BIN_EXE_zcrx-info"),
        "zcrx-demo" => env!("CARGO_BIN_EXE_zcrx-demo"),
        "zcrx-io-uring" => env!("CARGO_BIN_EXE_zcrx-io-uring"),
        "zcrx-tokio-recv" => env!("CARGO_BIN_EXE_zcrx-tokio-recv"),
        other => panic!("no program {other} in zcrx-examples"),
    };
    let built = PathBuf::from(built);
    assert!(
        built.is_file(),
        "{name} is neither next to this test ({:?}) nor at {} (the guest must ship the \
         package's binaries next to its tests)",
        std::env::current_exe().ok(),
        built.display()
    );
    built
}

/// What a finished program printed.
#[derive(Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }
}

/// Runs a program to its end (killed after `limit`).
pub fn run(name: &str, args: &[&str], limit: Duration) -> Outcome {
    let child = Command::new(bin(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {name}: {e}"));
    finish(name, child, limit)
}

/// Waits for `child`, reading its output; kills it past `limit`.
pub fn finish(name: &str, mut child: Child, limit: Duration) -> Outcome {
    let out = child.stdout.take().map(reader);
    let err = child.stderr.take().map(reader);
    let status = wait(&mut child, name, limit);
    Outcome {
        status,
        stdout: out.map(|h| h.join().unwrap()).unwrap_or_default(),
        stderr: err.map(|h| h.join().unwrap()).unwrap_or_default(),
    }
}

fn reader(mut from: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = from.read_to_string(&mut s);
        s
    })
}

fn wait(child: &mut Child, name: &str, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A receiver started with `args`, once it printed `listening on ADDR`.
pub struct Receiver {
    child: Child,
    /// Where it listens (the first listener).
    pub addr: String,
    /// Every `listening on` line's address (NIC mode: one per thread).
    pub addrs: Vec<String>,
    lines: mpsc::Receiver<String>,
    reader: std::thread::JoinHandle<()>,
    stderr: Option<std::thread::JoinHandle<String>>,
    seen: Vec<String>,
}

impl Receiver {
    /// Starts `zcrx-recv --listen 127.0.0.1:0 ARGS` and waits (at most
    /// `limit`) for its `listening on` line.
    pub fn start(args: &[&str], limit: Duration) -> Self {
        Self::start_program("zcrx-recv", args, limit)
    }

    /// As [`start`](Self::start) for another receiving program of this
    /// package (`zcrx-tokio-recv`).
    pub fn start_program(program: &str, args: &[&str], limit: Duration) -> Self {
        Self::start_listening_program(
            program,
            &[&["--listen", "127.0.0.1:0"], args].concat(),
            1,
            limit,
        )
    }

    /// Starts `zcrx-recv ARGS` and waits (at most `limit`) for `count`
    /// `listening on ADDR ...` lines.
    pub fn start_listening(args: &[&str], count: usize, limit: Duration) -> Self {
        Self::start_listening_program("zcrx-recv", args, count, limit)
    }

    /// Starts `PROGRAM ARGS` and waits (at most `limit`) for `count`
    /// `listening on ADDR ...` lines.
    pub fn start_listening_program(
        program: &str,
        args: &[&str],
        count: usize,
        limit: Duration,
    ) -> Self {
        let mut child = Command::new(bin(program))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().map(reader);
        let (tx, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut r = Receiver {
            child,
            addr: String::new(),
            addrs: Vec::new(),
            lines,
            reader,
            stderr,
            seen: Vec::new(),
        };
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match r.lines.recv_timeout(left) {
                Ok(line) => {
                    let addr = line
                        .strip_prefix("listening on ")
                        .and_then(|rest| rest.split_whitespace().next())
                        .map(str::to_owned);
                    r.seen.push(line);
                    if let Some(a) = addr {
                        r.addrs.push(a);
                        if r.addrs.len() == count {
                            r.addr = r.addrs[0].clone();
                            return r;
                        }
                    }
                }
                Err(_) => {
                    let _ = r.child.kill();
                    let status = r.child.wait().unwrap();
                    let err = r
                        .stderr
                        .take()
                        .map(|h| h.join().unwrap())
                        .unwrap_or_default();
                    panic!(
                        "{program} {args:?} never printed `listening on` ({status}); stdout {:?}, stderr {err:?}",
                        r.seen
                    );
                }
            }
        }
    }

    /// Waits (at most `limit`) until `count` of the lines printed so far
    /// satisfy `pred`.
    pub fn wait_lines(&mut self, pred: impl Fn(&str) -> bool, count: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.seen.iter().filter(|l| pred(l)).count() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!(
                        "zcrx-recv did not print the expected lines: {:?}",
                        self.seen
                    );
                }
            }
        }
    }

    /// Waits (at most `limit`) for the receiver to exit.
    pub fn finish(mut self, limit: Duration) -> Outcome {
        let status = wait(&mut self.child, "zcrx-recv", limit);
        let _ = self.reader.join();
        let mut stdout = self.seen.join("\n");
        for line in self.lines.try_iter() {
            stdout.push('\n');
            stdout.push_str(&line);
        }
        stdout.push('\n');
        Outcome {
            status,
            stdout,
            stderr: self
                .stderr
                .take()
                .map(|h| h.join().unwrap())
                .unwrap_or_default(),
        }
    }
}

/// SHA-256 (hex) of the pattern's first `len` bytes.
pub fn pattern_sha256(len: u64) -> String {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0;
    while off < len {
        let n = (len - off).min(buf.len() as u64) as usize;
        zcrx_examples::pattern::fill(off, &mut buf[..n]);
        h.update(&buf[..n]);
        off += n as u64;
    }
    hex(&h.finalize())
}

/// SHA-256 (hex) of `data`.
pub fn sha256(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `sha256 <hex>` lines of a receiver's output.
pub fn digests(out: &Outcome) -> Vec<String> {
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("sha256 "))
        .map(str::to_owned)
        .collect()
}
