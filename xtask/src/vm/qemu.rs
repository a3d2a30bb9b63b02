//! Running QEMU: finding (or installing) it, choosing TCG or KVM, booting a
//! kernel with an initramfs, streaming the serial console, enforcing the
//! timeout, and never leaving QEMU running.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use super::Error;
use super::console::Console;
use rustix::process::Pid;

use crate::debian;

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-x86_64";

/// Finds `qemu-system-x86_64`; as root, installs Debian's `qemu-system-x86`
/// when it is missing; otherwise fails naming the package.
pub fn ensure_qemu() -> Result<PathBuf, Error> {
    Ok(debian::ensure_tool(QEMU, "qemu-system-x86")?)
}

/// The accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Software emulation (`-accel tcg,thread=single -cpu max`): works
    /// everywhere. One host thread runs every vCPU in turn: with a thread
    /// per vCPU, QEMU 7.2 (Debian 12's) races the kernel's run-time code
    /// patching (jump labels, through int3) and the guest occasionally dies
    /// of an "Oops: int3" in unrelated code (seen on 7.2 in
    /// __skb_get_hash_net and on 6.19 in sched_clock_cpu). QEMU 8.1 fixed a
    /// race of this kind ("accel/tcg: Always lock pages before
    /// translation"); whether it fixes this one was not tried here.
    Tcg,
    /// KVM (`-accel kvm -cpu host`): only where a probe boot succeeded.
    Kvm,
}

impl Accel {
    /// The name, as in `-accel`.
    pub fn name(self) -> &'static str {
        match self {
            Accel::Tcg => "tcg",
            Accel::Kvm => "kvm",
        }
    }

    fn args(self) -> [&'static str; 4] {
        match self {
            Accel::Tcg => ["-accel", "tcg,thread=single", "-cpu", "max"],
            Accel::Kvm => ["-accel", "kvm", "-cpu", "host"],
        }
    }
}

/// Whether `/dev/kvm` can be opened for reading and writing.
pub fn kvm_usable() -> bool {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// The cached result of a KVM probe for `key`, if any. The cache file has
/// one `key<TAB>tcg|kvm` line per host, QEMU and kernel probed.
pub fn cached_probe(key: &str) -> Option<Accel> {
    let text = fs::read_to_string(probe_file()).ok()?;
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(k, _)| *k == key)
        .find_map(|(_, v)| match v {
            "kvm" => Some(Accel::Kvm),
            "tcg" => Some(Accel::Tcg),
            _ => None,
        })
}

/// Records the result of a KVM probe.
pub fn store_probe(key: &str, accel: Accel) {
    let path = probe_file();
    if let Some(dir) = path.parent() {
        let _ = fs::create_dir_all(dir);
    }
    let mut text: String = fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split_once('\t').is_some_and(|(k, _)| k != key))
        .map(|l| format!("{l}\n"))
        .collect();
    text.push_str(&format!("{key}\t{}\n", accel.name()));
    let _ = fs::write(path, text);
}

fn probe_file() -> PathBuf {
    debian::cache_root().join("kvm-probe")
}

/// One boot.
pub struct Boot<'a> {
    /// The QEMU binary.
    pub qemu: &'a Path,
    /// The bzImage.
    pub kernel: &'a Path,
    /// The initramfs.
    pub initrd: &'a Path,
    /// The accelerator.
    pub accel: Accel,
    /// The guest's memory, as in `-m`.
    pub memory: &'a str,
    /// Virtual CPUs.
    pub cpus: u32,
    /// Extra kernel command-line arguments.
    pub append: &'a str,
    /// The limit for the whole boot.
    pub timeout: Duration,
    /// Prefix of echoed console lines; `None` echoes nothing.
    pub echo: Option<&'a str>,
}

/// How a boot ended.
#[derive(Debug)]
pub struct Ended {
    /// Seconds of the timeout, if it expired (QEMU was killed).
    pub timed_out: Option<u64>,
    /// Wall time from QEMU's start to its end.
    pub wall: Duration,
    /// QEMU's own messages (stderr).
    pub qemu_stderr: String,
    /// QEMU's exit status, as text.
    pub qemu_status: String,
    /// Whether QEMU exited with status 0 (as it does after the guest powers
    /// off, and after a guest panic with `-no-reboot`).
    pub qemu_ok: bool,
}

/// Set by the SIGINT/SIGTERM/SIGHUP handler; the boot loop then kills QEMU.
static INTERRUPTED: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Installs the handler that turns Ctrl-C (and SIGTERM, SIGHUP) into a clean
/// stop: QEMU is killed and the run fails with "interrupted". (Where it
/// cannot be installed, a signal ends xtask, and QEMU with it.)
pub fn install_signal_handlers() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let flag = INTERRUPTED.get_or_init(Arc::default);
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        let _ = signal_hook::flag::register(sig, Arc::clone(flag));
    }
}

/// Whether a stop was requested by a signal.
pub fn interrupted() -> bool {
    INTERRUPTED
        .get()
        .is_some_and(|flag| flag.load(Ordering::SeqCst))
}

/// Kills and reaps QEMU when dropped: on every way out of [`run`], including
/// errors and panics. (A kill of xtask itself is covered by
/// `PR_SET_PDEATHSIG`.)
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// In a forked child: ask the kernel to kill it when its parent (xtask)
/// dies, however xtask dies; if xtask is already gone, die now.
fn die_with_parent(parent: Pid) {
    use rustix::process::{Signal, getpid, getppid, kill_process, set_parent_process_death_signal};
    let _ = set_parent_process_death_signal(Some(Signal::KILL));
    if getppid() != Some(parent) {
        let _ = kill_process(getpid(), Signal::KILL);
    }
}

enum Event {
    Line(String),
    Eof,
}

/// Boots, feeding every console line to `console` (and echoing it), until
/// QEMU exits or the timeout expires.
pub fn run(boot: &Boot<'_>, console: &mut Console) -> Result<Ended, Error> {
    let mut cmd = Command::new(boot.qemu);
    cmd.args(boot.accel.args())
        .args(["-m", boot.memory, "-smp", &boot.cpus.to_string()])
        .args([
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-serial",
            "stdio",
            "-monitor",
            "none",
            "-no-reboot",
        ])
        .arg("-kernel")
        .arg(boot.kernel)
        .arg("-initrd")
        .arg(boot.initrd)
        .arg("-append")
        .arg(format!("console=ttyS0 quiet panic=-1 {}", boot.append).trim_end())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let parent = rustix::process::getpid();
    let hook = move || {
        die_with_parent(parent);
        Ok(())
    };
    // SAFETY: the hook runs in the child between fork and exec and only makes
    // raw system calls through rustix (prctl, getppid, getpid, kill), which
    // are async-signal-safe; it does not allocate or take locks.
    unsafe { cmd.pre_exec(hook) };
    let start = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| Error::env(format!("starting {}: {e}", boot.qemu.display())))?;
    let mut reaper = Reaper(child);

    let (tx, rx) = mpsc::channel();
    let stdout = reaper.0.stdout.take();
    let out_thread = thread::spawn(move || {
        if let Some(stdout) = stdout {
            let mut r = BufReader::new(stdout);
            let mut buf = Vec::new();
            while let Ok(n) = r.read_until(b'\n', &mut buf) {
                if n == 0 {
                    break;
                }
                let line = String::from_utf8_lossy(&buf).into_owned();
                buf.clear();
                if tx.send(Event::Line(line)).is_err() {
                    return;
                }
            }
        }
        let _ = tx.send(Event::Eof);
    });
    let stderr = reaper.0.stderr.take();
    let err_thread = thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut e) = stderr {
            let _ = e.read_to_string(&mut s);
        }
        s
    });

    let deadline = start + boot.timeout;
    // Once /init has reported DONE, QEMU has this long to power off.
    let mut grace: Option<Instant> = None;
    let mut timed_out = None;
    loop {
        if interrupted() {
            return Err(Error {
                code: 130,
                message: "interrupted; QEMU was stopped".to_owned(),
            });
        }
        let now = Instant::now();
        let limit = grace.map_or(deadline, |g| g.min(deadline));
        if now >= limit {
            if grace.is_none() || now >= deadline {
                timed_out = Some(boot.timeout.as_secs());
            }
            let _ = reaper.0.kill();
            break;
        }
        let tick = (limit - now).min(Duration::from_millis(250));
        match rx.recv_timeout(tick) {
            Ok(Event::Line(line)) => {
                let line = line.trim_end_matches(['\r', '\n']);
                if let Some(prefix) = boot.echo {
                    // Not println!: a closed stdout (`| head`) must not panic.
                    let _ = writeln!(std::io::stdout().lock(), "{prefix}{line}");
                }
                console.feed(line);
                if console.done && grace.is_none() {
                    grace = Some(Instant::now() + Duration::from_secs(20));
                }
            }
            Ok(Event::Eof) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
    // QEMU closed its console or was killed: wait for it (bounded).
    let wait_until = Instant::now() + Duration::from_secs(10);
    let (status, qemu_ok) = loop {
        match reaper.0.try_wait() {
            Ok(Some(s)) => break (s.to_string(), s.success()),
            Ok(None) if Instant::now() < wait_until => thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = reaper.0.kill();
                break reaper
                    .0
                    .wait()
                    .map_or_else(|e| (e.to_string(), false), |s| (s.to_string(), false));
            }
        }
    };
    let wall = start.elapsed();
    drop(reaper);
    let _ = out_thread.join();
    let qemu_stderr = err_thread.join().unwrap_or_default();
    Ok(Ended {
        timed_out,
        wall,
        qemu_stderr,
        qemu_status: status,
        qemu_ok,
    })
}
