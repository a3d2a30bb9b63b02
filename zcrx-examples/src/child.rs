//! The example programs run as child processes (what `zcrx-demo` does):
//! their output echoed line by line with a prefix (`recv | ...`) and kept,
//! their `listening on` lines waited for, time limits, and no child left
//! running when the driver gives up.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::cli::Failure;
use crate::{pattern, say, say_err};

/// A running program: its output echoed and kept, killed if dropped
/// before it ended.
pub struct Program {
    name: &'static str,
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
    stdout: mpsc::Receiver<String>,
    pumps: Vec<std::thread::JoinHandle<()>>,
}

/// Starts `cmd` (named `name` in messages), echoing its stdout as
/// `PREFIX | line` and its stderr as `PREFIX ! line`.
///
/// # Errors
///
/// When it cannot be started.
pub fn spawn(
    name: &'static str,
    prefix: &'static str,
    cmd: &mut Command,
) -> Result<Program, Failure> {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Failure::new(format!("starting {name}: {e}")))?;
    Ok(Program::adopt(name, prefix, child))
}

impl Program {
    /// Takes over a child started with piped stdout and stderr (for one
    /// started elsewhere, e.g. in another network namespace).
    pub fn adopt(name: &'static str, prefix: &'static str, mut child: Child) -> Self {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, stdout) = mpsc::channel();
        let mut pumps = Vec::new();
        if let Some(out) = child.stdout.take() {
            let lines = lines.clone();
            pumps.push(std::thread::spawn(move || {
                pump(out, prefix, false, &lines, Some(&tx));
            }));
        }
        if let Some(err) = child.stderr.take() {
            let lines = lines.clone();
            pumps.push(std::thread::spawn(move || {
                pump(err, prefix, true, &lines, None);
            }));
        }
        Program {
            name,
            child: Some(child),
            lines,
            stdout,
            pumps,
        }
    }

    /// Waits until it printed `count` lines starting with `prefix` (or
    /// until `deadline`, or its end) and returns them.
    ///
    /// # Errors
    ///
    /// When it ended first (with its last `NAME:` error line), or time ran
    /// out.
    pub fn wait_for(
        &mut self,
        prefix: &str,
        count: usize,
        deadline: Instant,
    ) -> Result<Vec<String>, Failure> {
        let mut found = Vec::new();
        while found.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .stdout
                .recv_timeout(left.min(Duration::from_millis(100)))
            {
                Ok(line) if line.starts_with(prefix) => found.push(line),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(status) = self
                        .child
                        .as_mut()
                        .and_then(|c| c.try_wait().ok().flatten())
                    {
                        self.child = None;
                        let why = self
                            .lines()
                            .iter()
                            .rev()
                            .find(|l| l.starts_with(&format!("{}:", self.name)))
                            .cloned()
                            .unwrap_or_else(|| format!("it exited with {status}"));
                        return Err(Failure::new(format!(
                            "{} ended before printing {prefix:?}: {why}",
                            self.name
                        )));
                    }
                    if Instant::now() >= deadline {
                        return Err(Failure::new(format!(
                            "{} did not print {prefix:?} in time",
                            self.name
                        )));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Failure::new(format!(
                        "{} closed its output before printing {prefix:?}",
                        self.name
                    )));
                }
            }
        }
        Ok(found)
    }

    /// Every line printed so far (stdout and stderr).
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits for its end (killing it past `deadline`); returns its status
    /// and every line it printed.
    ///
    /// # Errors
    ///
    /// When it had to be killed, or could not be waited for.
    pub fn finish(mut self, deadline: Instant) -> Result<(ExitStatus, Vec<String>), Failure> {
        let Some(mut child) = self.child.take() else {
            return Err(Failure::new(format!("{} is gone", self.name)));
        };
        let status = wait_until(&mut child, deadline, self.name)?;
        for p in std::mem::take(&mut self.pumps) {
            let _ = p.join();
        }
        Ok((status, self.lines()))
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
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
    let _ = std::io::stdout().flush();
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

/// SHA-256 (hex) of the first `bytes` bytes of the [`pattern`]: what
/// `zcrx-recv --sha256` prints for a `zcrx-send --bytes` stream.
pub fn pattern_sha256(bytes: u64) -> String {
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

/// The first line starting with `prefix`, without it.
pub fn line_after<'a>(lines: &'a [String], prefix: &str) -> Option<&'a str> {
    lines.iter().find_map(|l| l.strip_prefix(prefix))
}
