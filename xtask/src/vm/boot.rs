//! One boot: the kernel to boot, the initramfs of its programs, the
//! accelerator, QEMU, and the verdict.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use zcrx_guest_init::{BIN_DIR, KernelModule, Manifest, Program};

use super::console::{Console, Verdict};
use super::qemu::{self, Accel};
use super::{AccelMode, Error, VmOptions, initramfs};
use crate::debian::{self, workspace_root};
use crate::pins::KernelPin;

/// A kernel ready to boot.
#[derive(Debug, Clone)]
pub(super) struct Kernel {
    /// Short name: the series, or "custom".
    pub(super) label: String,
    /// The bzImage.
    pub(super) vmlinuz: PathBuf,
    /// Package and version, for pinned kernels.
    pub(super) package: Option<(String, String)>,
    /// What `uname -r` must print, when known.
    pub(super) release: Option<String>,
    /// Run with ZCRX_REQUIRE_KERNEL=1.
    pub(super) require: bool,
    /// The pin it was fetched for (`None` for `--kernel PATH`).
    pub(super) pin: Option<&'static KernelPin>,
}

pub(super) fn pinned_kernel(pin: &'static KernelPin) -> Result<Kernel, Error> {
    let image = debian::kernel_image(pin)?;
    println!(
        "xtask: kernel {}: {} {} ({})",
        pin.series,
        image.package,
        image.version,
        image.vmlinuz.display()
    );
    Ok(Kernel {
        label: pin.series.to_owned(),
        vmlinuz: image.vmlinuz,
        package: Some((image.package, image.version)),
        release: Some(image.release),
        require: pin.require_kernel,
        pin: Some(pin),
    })
}

pub(super) fn custom_kernel(path: &Path, require: bool) -> Result<Kernel, Error> {
    if !path.is_file() {
        return Err(Error::env(format!(
            "--kernel {}: no such file",
            path.display()
        )));
    }
    println!("xtask: kernel: {} (custom)", path.display());
    Ok(Kernel {
        label: "custom".to_owned(),
        vmlinuz: path.to_path_buf(),
        package: None,
        release: None,
        require,
        pin: None,
    })
}

/// Where the initramfs images go.
fn work_dir() -> Result<PathBuf, Error> {
    let dir = workspace_root().join("target").join("zcrx-vm");
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::env(format!("creating {}: {e}", dir.display())))?;
    Ok(dir)
}

/// A program for the initramfs: its manifest entry and its host file.
pub(super) struct GuestProgram {
    program: Program,
    host_path: PathBuf,
    /// Shipped next to the programs but not run (see [`guest_companion`]).
    companion: bool,
    /// A kernel module `/init` loads with these parameters (see
    /// [`guest_module`]).
    module_params: Option<String>,
}

pub(super) fn guest_program(
    index: usize,
    name: &str,
    host_path: &Path,
    args: &[String],
    env: &[(String, String)],
) -> GuestProgram {
    let file = format!(
        "{index}-{}",
        name.rsplit('/').next().unwrap_or(name).replace(' ', "_")
    );
    GuestProgram {
        program: Program {
            name: name.to_owned(),
            path: format!("{BIN_DIR}/{file}"),
            args: args.to_vec(),
            env: env.to_vec(),
        },
        host_path: host_path.to_path_buf(),
        companion: false,
        module_params: None,
    }
}

/// A program shipped as `/zcrx-vm/bin/<name>` (also on the guest's `PATH`)
/// without being run: one that a guest program starts itself, such as the
/// binaries of a guest test's package or the programs `zcrx-demo` drives.
pub(super) fn guest_companion(name: &str, host_path: &Path) -> GuestProgram {
    let file = name.rsplit('/').next().unwrap_or(name).replace(' ', "_");
    GuestProgram {
        program: Program {
            name: name.to_owned(),
            path: format!("{BIN_DIR}/{file}"),
            args: Vec::new(),
            env: Vec::new(),
        },
        host_path: host_path.to_path_buf(),
        companion: true,
        module_params: None,
    }
}

/// A kernel module shipped as `/zcrx-vm/bin/<file name>`, which `/init`
/// loads with `params` before the programs run (a failed load fails the
/// boot).
pub(super) fn guest_module(host_path: &Path, params: &str) -> GuestProgram {
    let name = host_path.file_name().map_or_else(
        || "module.ko".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    );
    GuestProgram {
        module_params: Some(params.to_owned()),
        ..guest_companion(&name, host_path)
    }
}

/// Writes the initramfs for one boot: the programs' archive (re-used while
/// the programs are unchanged) plus this boot's manifest. Returns the
/// manifest's program names.
fn write_initramfs(
    out: &Path,
    init: &Path,
    programs: &[GuestProgram],
) -> Result<Vec<String>, Error> {
    let manifest = Manifest {
        modules: programs
            .iter()
            .filter_map(|p| {
                p.module_params.as_ref().map(|params| KernelModule {
                    path: p.program.path.clone(),
                    params: params.clone(),
                })
            })
            .collect(),
        programs: programs
            .iter()
            .filter(|p| !p.companion)
            .map(|p| p.program.clone())
            .collect(),
    };
    let files: Vec<(String, &Path)> = programs
        .iter()
        .map(|p| {
            let file = p.program.path.rsplit('/').next().unwrap_or_default();
            (file.to_owned(), p.host_path.as_path())
        })
        .collect();
    let base = base_archive(init, &files)?;
    initramfs::write_with_manifest(out, &base, &manifest.render())
        .map_err(|e| Error::env(format!("writing the initramfs {}: {e}", out.display())))?;
    Ok(manifest.programs.into_iter().map(|p| p.name).collect())
}

/// The programs' archive, named after a hash of the files' names, paths,
/// sizes and times; written when absent (archives unused for ten minutes
/// are removed).
fn base_archive(init: &Path, files: &[(String, &Path)]) -> Result<PathBuf, Error> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (name, path) in std::iter::once(&("init".to_owned(), init)).chain(files) {
        name.hash(&mut h);
        path.hash(&mut h);
        let meta =
            std::fs::metadata(path).map_err(|e| Error::env(format!("{}: {e}", path.display())))?;
        meta.len().hash(&mut h);
        meta.modified().ok().hash(&mut h);
    }
    let dir = work_dir()?;
    let name = format!("programs-{:016x}.cpio.gz", h.finish());
    let base = dir.join(&name);
    if base.is_file() {
        return Ok(base);
    }
    // Remove archives of older programs, but not ones another run in this
    // workspace may be using right now.
    let stale = |e: &std::fs::DirEntry| {
        e.metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(600))
    };
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("programs-") && n != name && stale(&e) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let tmp = dir.join(format!("{name}.tmp{}", std::process::id()));
    initramfs::write_base(&tmp, init, files)
        .and_then(|()| std::fs::rename(&tmp, &base))
        .map_err(|e| Error::env(format!("writing {}: {e}", base.display())))?;
    Ok(base)
}

/// Picks the accelerator, probing KVM once per host, QEMU and kernel.
pub(super) fn choose_accel(
    opts: &VmOptions,
    qemu_bin: &Path,
    kernel: &Kernel,
    init: &Path,
) -> Result<Accel, Error> {
    match opts.accel {
        AccelMode::Tcg => return Ok(Accel::Tcg),
        AccelMode::Kvm if !qemu::kvm_usable() => {
            return Err(Error::env("--accel kvm: /dev/kvm cannot be opened"));
        }
        AccelMode::Kvm => return Ok(Accel::Kvm),
        AccelMode::Auto if !qemu::kvm_usable() => return Ok(Accel::Tcg),
        AccelMode::Auto => {}
    }
    let qemu_id = std::fs::metadata(qemu_bin)
        .map(|m| format!("{}", m.len()))
        .unwrap_or_default();
    let key = format!(
        "host={} qemu={}:{} kernel={}",
        host_release(),
        qemu_bin.display(),
        qemu_id,
        kernel
            .release
            .clone()
            .unwrap_or_else(|| kernel.vmlinuz.display().to_string())
    );
    if let Some(accel) = qemu::cached_probe(&key) {
        println!(
            "xtask: accelerator: {} (cached KVM probe, {})",
            accel.name(),
            debian::cache_root().join("kvm-probe").display()
        );
        return Ok(accel);
    }
    println!("xtask: /dev/kvm is present; probing whether KVM boots the guest (once)...");
    let initrd = work_dir()?.join("kvm-probe.cpio.gz");
    write_initramfs(&initrd, init, &[])?;
    let mut console = Console::new(Vec::new());
    let ended = qemu::run(
        &qemu::Boot {
            qemu: qemu_bin,
            kernel: &kernel.vmlinuz,
            initrd: &initrd,
            accel: Accel::Kvm,
            memory: &opts.memory,
            cpus: opts.cpus,
            append: &opts.append,
            timeout: Duration::from_secs(30),
            echo: None,
        },
        &mut console,
    )?;
    let accel = if console.done && console.panic.is_none() {
        Accel::Kvm
    } else {
        Accel::Tcg
    };
    let why = if accel == Accel::Kvm {
        "reached /init".to_owned()
    } else {
        let last = console
            .panic
            .clone()
            .or_else(|| console.tail().last().map(str::to_owned))
            .or_else(|| ended.qemu_stderr.lines().last().map(str::to_owned))
            .unwrap_or_else(|| "no output".to_owned());
        format!("did not reach /init: {last}")
    };
    println!(
        "xtask: KVM probe {why} ({:.1} s); accelerator: {}",
        ended.wall.as_secs_f64(),
        accel.name()
    );
    qemu::store_probe(&key, accel);
    Ok(accel)
}

fn host_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The result of one boot.
pub(super) struct BootReport {
    /// The kernel booted.
    pub(super) kernel: Kernel,
    /// The accelerator used.
    pub(super) accel: Accel,
    /// What the console showed.
    pub(super) console: Console,
    /// The outcome.
    pub(super) verdict: Verdict,
    /// QEMU's wall time (of the last attempt).
    pub(super) wall: Duration,
    /// Why the first attempt was retried (a crash before /init), if it was.
    pub(super) retried: Option<String>,
}

/// Boots one kernel with the given programs and reports. The initramfs is
/// private to this process while QEMU runs, then kept as
/// `target/zcrx-vm/initramfs-<kernel>.cpio.gz` for debugging.
pub(super) fn boot_once(
    opts: &VmOptions,
    qemu_bin: &Path,
    kernel: &Kernel,
    accel: Accel,
    init: &Path,
    programs: &[GuestProgram],
    echo: Option<&str>,
) -> Result<BootReport, Error> {
    let dir = work_dir()?;
    let initrd = dir.join(format!(
        "initramfs-{}.{}.cpio.gz",
        kernel.label,
        std::process::id()
    ));
    let result = boot_with(opts, qemu_bin, kernel, accel, init, programs, echo, &initrd);
    let kept = dir.join(format!("initramfs-{}.cpio.gz", kernel.label));
    if std::fs::rename(&initrd, &kept).is_err() {
        let _ = std::fs::remove_file(&initrd);
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn boot_with(
    opts: &VmOptions,
    qemu_bin: &Path,
    kernel: &Kernel,
    accel: Accel,
    init: &Path,
    programs: &[GuestProgram],
    echo: Option<&str>,
    initrd: &Path,
) -> Result<BootReport, Error> {
    let t = Instant::now();
    let names = write_initramfs(initrd, init, programs)?;
    let size = std::fs::metadata(initrd).map(|m| m.len()).unwrap_or(0);
    println!(
        "xtask: booting {} with {} ({} program(s), initramfs {:.1} MiB in {:.1} s, timeout {} s)",
        kernel.label,
        accel.name(),
        names.len(),
        size as f64 / (1024.0 * 1024.0),
        t.elapsed().as_secs_f64(),
        opts.timeout
    );
    let mut retried = None;
    loop {
        let mut console = Console::new(names.clone());
        let ended = qemu::run(
            &qemu::Boot {
                qemu: qemu_bin,
                kernel: &kernel.vmlinuz,
                initrd,
                accel,
                memory: &opts.memory,
                cpus: opts.cpus,
                append: &opts.append,
                timeout: Duration::from_secs(opts.timeout),
                echo,
            },
            &mut console,
        )?;
        let mut verdict = console.verdict(ended.timed_out);
        if !ended.qemu_ok && ended.timed_out.is_none() && !console.done {
            let said = ended.qemu_stderr.lines().last().unwrap_or("no message");
            verdict = Verdict::QemuFailed(format!("{}: {said}", ended.qemu_status));
        }
        if verdict.passed() {
            if let (Some(want), Some(got)) = (&kernel.release, &console.kernel_release) {
                if want != got {
                    verdict = Verdict::Failed(vec![format!(
                        "booted the wrong kernel: uname -r says {got}, the package is {want}"
                    )]);
                }
            }
        }
        let module_errors: Vec<String> = console
            .init_errors
            .iter()
            .filter(|e| e.starts_with("module "))
            .map(|e| format!("/init could not load a kernel {e}"))
            .collect();
        if verdict.passed() && !module_errors.is_empty() {
            verdict = Verdict::Failed(module_errors);
        }
        if verdict.passed() && kernel.require {
            let skipped: Vec<String> = console
                .programs
                .iter()
                .filter(|p| !p.skipped.is_empty())
                .map(|p| format!("{} skipped tests under ZCRX_REQUIRE_KERNEL=1", p.name))
                .collect();
            if !skipped.is_empty() {
                verdict = Verdict::Failed(skipped);
            }
        }
        // A program's own failure is vm-run's normal outcome; it reports it.
        let program_failure = matches!(verdict, Verdict::Failed(_)) && echo == Some("");
        if !verdict.passed() && !program_failure {
            println!("xtask: {} guest: {verdict}", kernel.label);
            if verdict.wants_tail() {
                match console.tail().count() {
                    0 => println!(
                        "xtask: the {} guest printed nothing on its console",
                        kernel.label
                    ),
                    n => println!(
                        "xtask: last {n} console lines of the {} guest:",
                        kernel.label
                    ),
                }
                for l in console.tail() {
                    println!("    {l}");
                }
                let stderr = ended.qemu_stderr.trim();
                if !stderr.is_empty() {
                    println!("xtask: QEMU said ({}): {stderr}", ended.qemu_status);
                }
            }
        }
        // A crash before /init ran anything is retried once: software
        // emulation occasionally trips over the kernel's boot-time code
        // patching (seen: an int3 Oops in sched_clock_cpu on 6.19). A real
        // kernel bug repeats and fails the second boot too.
        let crashed_before_init = ended.qemu_ok
            && console.kernel_release.is_none()
            && matches!(
                verdict,
                Verdict::KernelPanic(_) | Verdict::KernelProblem(_) | Verdict::NoDone { .. }
            );
        if crashed_before_init && retried.is_none() {
            println!(
                "xtask: the {} guest crashed before /init started; booting it once more \
                 (emulation can flake at boot; a kernel bug repeats)",
                kernel.label
            );
            retried = Some(verdict.to_string());
            continue;
        }
        return Ok(BootReport {
            kernel: kernel.clone(),
            accel,
            console,
            verdict,
            wall: ended.wall,
            retried,
        });
    }
}
