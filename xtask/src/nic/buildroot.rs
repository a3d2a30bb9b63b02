//! Debian build roots for kernel modules: a minimal Debian of the suite
//! that built the kernel (its gcc and glibc), made once with `debootstrap`
//! and cached under `target/zcrx-cache/buildroot/<suite>/`, and a way to
//! run a command inside one (private mount namespace, bind mounts, `/proc`,
//! `chroot`), as root.
//!
//! Why: Debian built 7.3 with gcc-14 and 7.2 with gcc-16; the host's gcc-12
//! rejects their flags, and the kbuild helpers (`objtool`, `modpost`) need
//! glibc 2.38. A root per suite avoids both.

use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use rustix::mount::{MountFlags, MountPropagationFlags};

use crate::debian;
use crate::vm::Error;

/// Packages of every build root, besides the compiler: make, the C
/// library's headers, the libraries the kbuild helpers link (libelf,
/// libssl, zlib) and pahole (module BTF).
const BASE_PACKAGES: &[&str] = &[
    "make",
    "libc6-dev",
    "libelf1t64",
    "libssl3t64",
    "zlib1g",
    "dwarves",
];

/// The file whose presence marks a finished root; it lists the packages.
const STAMP: &str = ".zcrx-buildroot";

/// A finished build root.
#[derive(Debug, Clone)]
pub struct BuildRoot {
    /// The Debian suite (`trixie`, `sid`).
    pub suite: &'static str,
    /// Its directory.
    pub dir: PathBuf,
}

/// An exclusive `flock` on a file, released on drop.
pub(super) struct Lock(#[allow(dead_code, reason = "held for its drop")] File);

impl Lock {
    /// Blocks until the lock on `path` is ours.
    pub(super) fn take(path: &Path) -> Result<Self, Error> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| Error::env(format!("creating {}: {e}", parent.display())))?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| Error::env(format!("opening {}: {e}", path.display())))?;
        loop {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive) {
                Ok(()) => return Ok(Lock(file)),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(Error::env(format!("locking {}: {e}", path.display()))),
            }
        }
    }
}

/// The build root of `suite` with `compiler` (`gcc-14`) in it, made with
/// debootstrap when absent (about 30 s and 500 MB). Needs root.
pub fn ensure(suite: &'static str, compiler: &str) -> Result<BuildRoot, Error> {
    let base = debian::cache_root().join("buildroot");
    let dir = base.join(suite);
    let mut packages: Vec<&str> = BASE_PACKAGES.to_vec();
    packages.push(compiler);
    let wanted = packages.join(",");
    let stamp_ok = |dir: &Path| {
        fs::read_to_string(dir.join(STAMP)).is_ok_and(|s| s.trim() == wanted)
            && dir
                .join("usr/bin")
                .join(format!("x86_64-linux-gnu-{compiler}"))
                .is_file()
    };
    if stamp_ok(&dir) {
        return Ok(BuildRoot { suite, dir });
    }
    if !debian::is_root() {
        return Err(Error::env(format!(
            "building the zcrx-sim module needs a Debian {suite} build root with {compiler}, \
             made with debootstrap and used with chroot: both need root. Run as root \
             (sudo cargo xtask ...), or build the module elsewhere"
        )));
    }
    let debootstrap = debian::ensure_tool("debootstrap", "debootstrap")?;
    // debootstrap checks the suite's Release signature against the same
    // archive keyring as every other download.
    let keyring = debian::keyring()?;
    let _lock = Lock::take(&base.join(format!("{suite}.lock")))?;
    if stamp_ok(&dir) {
        return Ok(BuildRoot { suite, dir });
    }
    let tmp = base.join(format!("{suite}.tmp{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    let log_path = base.join(format!("{suite}.log"));
    let log = File::create(&log_path)
        .map_err(|e| Error::env(format!("creating {}: {e}", log_path.display())))?;
    let log_err = log
        .try_clone()
        .map_err(|e| Error::env(format!("{}: {e}", log_path.display())))?;
    let mirror = debian::mirror();
    eprintln!(
        "xtask: making the Debian {suite} build root ({wanted}) with debootstrap from {mirror} \
         (once; log in {})",
        log_path.display()
    );
    let t = Instant::now();
    let status = Command::new(debootstrap)
        .arg("--variant=minbase")
        .arg(format!("--keyring={}", keyring.display()))
        .arg(format!("--include={wanted}"))
        .arg(suite)
        .arg(&tmp)
        .arg(&mirror)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .status()
        .map_err(|e| Error::env(format!("running debootstrap: {e}")))?;
    if !status.success() {
        let tail = tail_of(&log_path, 6);
        let _ = fs::remove_dir_all(&tmp);
        return Err(Error::env(format!(
            "debootstrap {suite} failed ({status}): {tail} (full log: {})",
            log_path.display()
        )));
    }
    fs::write(tmp.join(STAMP), format!("{wanted}\n"))
        .map_err(|e| Error::env(format!("writing the build root's stamp: {e}")))?;
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&tmp, &dir).map_err(|e| {
        Error::env(format!(
            "moving {} to {}: {e}",
            tmp.display(),
            dir.display()
        ))
    })?;
    eprintln!(
        "xtask: build root {} ready in {:.0} s",
        dir.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(BuildRoot { suite, dir })
}

/// The last `n` non-empty lines of a file, joined with " / ".
pub(super) fn tail_of(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}

/// A directory of the host made visible at a path inside the root.
#[derive(Debug, Clone)]
pub struct Bind {
    /// The host directory.
    pub host: PathBuf,
    /// Where it appears inside the root (absolute).
    pub inside: String,
}

impl BuildRoot {
    /// Runs `argv` inside the root, with a clean environment, `binds`
    /// mounted, `/proc` mounted, in a private mount namespace (nothing stays
    /// mounted afterwards). Output goes to `log`. Returns whether it
    /// succeeded.
    pub fn run(&self, binds: &[Bind], argv: &[&str], log: &Path) -> Result<bool, Error> {
        let cstr = |p: &Path| {
            CString::new(p.as_os_str().as_bytes())
                .map_err(|_| Error::env(format!("{}: path with a NUL byte", p.display())))
        };
        let mut mounts = Vec::new();
        for b in binds {
            let target = self.dir.join(b.inside.trim_start_matches('/'));
            fs::create_dir_all(&target)
                .map_err(|e| Error::env(format!("creating {}: {e}", target.display())))?;
            mounts.push((cstr(&b.host)?, cstr(&target)?));
        }
        let root = cstr(&self.dir)?;
        let proc_dir = cstr(&self.dir.join("proc"))?;
        let slash = CString::new("/").map_err(|_| Error::env("CString"))?;
        let proc_name = CString::new("proc").map_err(|_| Error::env("CString"))?;
        let (prog, args) = argv
            .split_first()
            .ok_or_else(|| Error::env("BuildRoot::run: empty command"))?;
        let out = File::create(log)
            .map_err(|e| Error::env(format!("creating {}: {e}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(|e| Error::env(format!("{}: {e}", log.display())))?;
        let mut cmd = Command::new(prog);
        cmd.args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", "/tmp")
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let enter = move || -> io::Result<()> {
            // SAFETY: a new mount namespace for this (child, single-threaded
            // after fork) process; no descriptor table is unshared.
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS) }?;
            // Every mount private to that namespace.
            rustix::mount::mount_change(
                slash.as_c_str(),
                MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
            )?;
            for (host, target) in &mounts {
                rustix::mount::mount_bind_recursive(host.as_c_str(), target.as_c_str())?;
            }
            // procfs for the tools that read /proc.
            rustix::mount::mount(
                proc_name.as_c_str(),
                proc_dir.as_c_str(),
                proc_name.as_c_str(),
                MountFlags::empty(),
                None,
            )?;
            rustix::process::chroot(root.as_c_str())?;
            rustix::process::chdir(slash.as_c_str())?;
            Ok(())
        };
        // SAFETY: `enter` runs in the forked child before exec and only
        // makes system calls (rustix's, raw and async-signal-safe) on C
        // strings prepared before the fork: no allocation, no locks.
        unsafe {
            cmd.pre_exec(enter);
        }
        let status = cmd.status().map_err(|e| {
            Error::env(format!(
                "running {prog} in the {} build root {}: {e}",
                self.suite,
                self.dir.display()
            ))
        })?;
        Ok(status.success())
    }
}
