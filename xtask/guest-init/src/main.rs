//! The `/init` of the test VM: mounts proc, sysfs, devtmpfs and tmpfs,
//! brings `lo` up, runs the programs of `/zcrx-vm/manifest` in order
//! (their output goes to the console), reports each exit status, and powers
//! off. It never exits: an exiting PID 1 panics the kernel.
//!
//! Built statically (`-C target-feature=+crt-static`) by `cargo xtask`.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Instant;

use zcrx_guest_init::{
    BASE_ENV, KernelModule, MANIFEST_PATH, MARK_DONE, MARK_ERROR, MARK_EXIT, MARK_KERNEL,
    MARK_MODULE, MARK_RUN, Manifest,
};

/// The argument that makes this binary the deliberately failing program of
/// `cargo xtask vm-test --inject-failure`.
const INJECTED_FAILURE: &str = "--injected-failure";

fn main() {
    if std::env::args().nth(1).as_deref() == Some(INJECTED_FAILURE) {
        eprintln!(
            "injected-failure: failing on purpose (cargo xtask vm-test --inject-failure); \
             the run must fail naming this program"
        );
        std::process::exit(1);
    }
    if !rustix::process::getpid().is_init() {
        eprintln!(
            "zcrx-guest-init: not PID 1; this program is the test VM's /init and powers the \
             machine off (run it through `cargo xtask vm-run`)"
        );
        std::process::exit(2);
    }
    match std::panic::catch_unwind(run) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => say(&format!("{MARK_ERROR} {e}")),
        Err(_) => say(&format!("{MARK_ERROR} /init panicked")),
    }
    power_off()
}

/// Prints a line on the console and flushes.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn run() -> Result<(), String> {
    setup_filesystems();
    if let Err(e) = loopback_up() {
        say(&format!("{MARK_ERROR} bringing lo up: {e}"));
    }
    say(&format!("{MARK_KERNEL} {}", kernel_release()));

    let text = std::fs::read_to_string(MANIFEST_PATH)
        .map_err(|e| format!("reading {MANIFEST_PATH}: {e}"))?;
    let manifest = Manifest::parse(&text).map_err(|e| e.to_string())?;
    for m in &manifest.modules {
        match load_module(m) {
            Ok(()) => say(&format!("{MARK_MODULE} {} loaded", m.path)),
            Err(e) => say(&format!("{MARK_ERROR} module {}: {e}", m.path)),
        }
    }
    for (i, p) in manifest.programs.iter().enumerate() {
        say(&format!("{MARK_RUN} {i} {}", p.name));
        let start = Instant::now();
        let status = Command::new(&p.path)
            .args(&p.args)
            .env_clear()
            .envs(BASE_ENV.iter().copied())
            .envs(p.env.iter().map(|(k, v)| (k, v)))
            .current_dir("/tmp")
            .stdin(Stdio::null())
            .status();
        let ms = start.elapsed().as_millis();
        let status = match status {
            Ok(s) => match (s.code(), s.signal()) {
                (Some(code), _) => code.to_string(),
                (None, Some(sig)) => format!("signal:{sig}"),
                (None, None) => "unknown".to_owned(),
            },
            Err(e) => {
                say(&format!("{MARK_ERROR} starting {}: {e}", p.path));
                "spawn-error".to_owned()
            }
        };
        say(&format!("{MARK_EXIT} {i} {status} {ms}"));
    }
    say(&format!("{MARK_DONE} {}", manifest.programs.len()));
    Ok(())
}

fn setup_filesystems() {
    let mounts = [
        ("proc", "/proc", "proc"),
        ("sysfs", "/sys", "sysfs"),
        ("devtmpfs", "/dev", "devtmpfs"),
        ("tmpfs", "/dev/shm", "tmpfs"),
        ("tmpfs", "/tmp", "tmpfs"),
        ("tmpfs", "/run", "tmpfs"),
    ];
    for (source, target, fstype) in mounts {
        let _ = std::fs::create_dir_all(target);
        let flags = rustix::mount::MountFlags::empty();
        if let Err(e) = rustix::mount::mount(source, target, fstype, flags, None) {
            say(&format!("{MARK_ERROR} mount {fstype} on {target}: {e}"));
        }
    }
}

/// `struct ifreq` with the `ifr_flags` member of its union (40 bytes).
#[repr(C)]
struct IfreqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

const SIOCGIFFLAGS: rustix::ioctl::Opcode = 0x8913;
const SIOCSIFFLAGS: rustix::ioctl::Opcode = 0x8914;

fn loopback_up() -> Result<(), std::io::Error> {
    use rustix::net::{AddressFamily, SocketType, socket};
    let fd = socket(AddressFamily::INET, SocketType::DGRAM, None)?;
    let mut req = IfreqFlags {
        name: [0; libc::IFNAMSIZ],
        flags: 0,
        _pad: [0; 22],
    };
    req.name[..2].copy_from_slice(b"lo");
    if_flags::<SIOCGIFFLAGS>(&fd, &mut req)?;
    req.flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    if_flags::<SIOCSIFFLAGS>(&fd, &mut req)?;
    Ok(())
}

/// SIOCGIFFLAGS or SIOCSIFFLAGS on `req`.
fn if_flags<const OPCODE: rustix::ioctl::Opcode>(
    fd: &rustix::fd::OwnedFd,
    req: &mut IfreqFlags,
) -> rustix::io::Result<()> {
    use rustix::ioctl::{Updater, ioctl};
    // SAFETY: both opcodes read and write a `struct ifreq`, which
    // `IfreqFlags` is (the name, then the flags member of the union, padded
    // to the full size).
    let updater = unsafe { Updater::<OPCODE, IfreqFlags>::new(req) };
    // SAFETY: `updater` pairs the opcode with the buffer it expects (above).
    unsafe { ioctl(fd, updater) }
}

/// Loads a kernel module with `finit_module(2)`.
fn load_module(m: &KernelModule) -> Result<(), std::io::Error> {
    let file = std::fs::File::open(&m.path)?;
    let params =
        std::ffi::CString::new(m.params.as_str()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    rustix::system::finit_module(&file, &params, 0)?;
    Ok(())
}

/// `uname -r`.
fn kernel_release() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

fn power_off() -> ! {
    rustix::fs::sync();
    // On success reboot(2) does not return.
    let why = match rustix::system::reboot(rustix::system::RebootCommand::PowerOff) {
        Ok(()) => "reboot(2) returned".to_owned(),
        Err(e) => e.to_string(),
    };
    say(&format!("{MARK_ERROR} power off failed: {why}"));
    loop {
        rustix::event::pause();
    }
}
