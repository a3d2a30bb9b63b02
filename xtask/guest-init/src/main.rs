//! The `/init` of the test VM: mounts proc, sysfs, devtmpfs and tmpfs,
//! brings `lo` up, runs the programs of `/zcrx-vm/manifest` in order
//! (their output goes to the console), reports each exit status, and powers
//! off. It never exits: an exiting PID 1 panics the kernel.
//!
//! Built statically (`-C target-feature=+crt-static`) by `cargo xtask`.

use std::ffi::CString;
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
    // SAFETY: getpid has no preconditions.
    if unsafe { libc::getpid() } != 1 {
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
    let mounts: [(&str, &str, &str, libc::c_ulong); 6] = [
        ("proc", "/proc", "proc", 0),
        ("sysfs", "/sys", "sysfs", 0),
        ("devtmpfs", "/dev", "devtmpfs", 0),
        ("tmpfs", "/dev/shm", "tmpfs", 0),
        ("tmpfs", "/tmp", "tmpfs", 0),
        ("tmpfs", "/run", "tmpfs", 0),
    ];
    for (source, target, fstype, flags) in mounts {
        let _ = std::fs::create_dir_all(target);
        if let Err(e) = mount(source, target, fstype, flags) {
            say(&format!("{MARK_ERROR} mount {fstype} on {target}: {e}"));
        }
    }
}

fn mount(
    source: &str,
    target: &str,
    fstype: &str,
    flags: libc::c_ulong,
) -> Result<(), std::io::Error> {
    let c = |s: &str| CString::new(s).map_err(|_| std::io::ErrorKind::InvalidInput);
    let (source, target, fstype) = (c(source)?, c(target)?, c(fstype)?);
    // SAFETY: three valid NUL-terminated strings alive for the call, and a
    // null data pointer, which mount(2) accepts.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            flags,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// `struct ifreq` with the `ifr_flags` member of its union (40 bytes).
#[repr(C)]
struct IfreqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

const SIOCGIFFLAGS: libc::c_ulong = 0x8913;
const SIOCSIFFLAGS: libc::c_ulong = 0x8914;

fn loopback_up() -> Result<(), std::io::Error> {
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut req = IfreqFlags {
        name: [0; libc::IFNAMSIZ],
        flags: 0,
        _pad: [0; 22],
    };
    req.name[..2].copy_from_slice(b"lo");
    // SAFETY: `req` is a valid, writable ifreq-sized buffer for the call.
    let mut rc = unsafe { libc::ioctl(fd, SIOCGIFFLAGS, &mut req as *mut IfreqFlags) };
    if rc == 0 {
        req.flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        // SAFETY: as above.
        rc = unsafe { libc::ioctl(fd, SIOCSIFFLAGS, &mut req as *mut IfreqFlags) };
    }
    let result = if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    };
    // SAFETY: `fd` is ours and closed once.
    unsafe { libc::close(fd) };
    result
}

/// Loads a kernel module with `finit_module(2)`.
fn load_module(m: &KernelModule) -> Result<(), std::io::Error> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(&m.path)?;
    let params = CString::new(m.params.as_str()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    // SAFETY: finit_module with a descriptor we own and a NUL-terminated
    // parameter string, both alive for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_finit_module,
            file.as_raw_fd(),
            params.as_ptr(),
            0 as libc::c_int,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// `uname -r`.
fn kernel_release() -> String {
    // SAFETY: utsname is plain data; all-zero is a valid value.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid, writable utsname for the call.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return "unknown".to_owned();
    }
    let bytes: Vec<u8> = uts
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn power_off() -> ! {
    // SAFETY: sync(2) has no preconditions.
    unsafe { libc::sync() };
    // SAFETY: reboot(2) with a valid command; on success it does not return.
    unsafe { libc::reboot(libc::RB_POWER_OFF) };
    say(&format!(
        "{MARK_ERROR} power off failed: {}",
        std::io::Error::last_os_error()
    ));
    loop {
        // SAFETY: pause(2) has no preconditions.
        unsafe { libc::pause() };
    }
}
