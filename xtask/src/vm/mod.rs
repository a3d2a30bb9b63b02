//! The real-kernel test bed: `cargo xtask vm-test` and `cargo xtask vm-run`.
//!
//! Each boot runs Debian's cloud kernel (or any bzImage) in QEMU with an
//! initramfs of ours: `/init` is the static `zcrx-guest-init`, which runs the
//! programs of a manifest and reports on the serial console. See
//! `docs/test-bed.md`.
//!
//! Modules: [`build`] (static builds, test discovery), [`initramfs`] (cpio),
//! [`qemu`] (boot, timeout, accelerator), [`console`] (reading the console).

pub mod build;
pub mod console;
pub mod initramfs;
pub mod qemu;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use zcrx_guest_init::{BIN_DIR, Manifest, Program};

use crate::debian::{self, workspace_root};
use crate::pins::{self, KernelPin};
use build::Target;
use console::{Console, Status, Verdict};
use qemu::Accel;

/// A failure of a vm command, with its exit code: 2 for a bad environment or
/// bad input, 1 for a failing guest, 130 when interrupted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The process exit code.
    pub code: u8,
    /// What went wrong, naming the cause.
    pub message: String,
}

impl Error {
    /// A bad environment or bad input (exit 2).
    pub fn env(message: impl Into<String>) -> Self {
        Error {
            code: 2,
            message: message.into(),
        }
    }

    /// A guest failure (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Error {
            code: 1,
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<debian::FetchError> for Error {
    fn from(e: debian::FetchError) -> Self {
        Error {
            code: debian::FetchError::EXIT_CODE,
            message: e.to_string(),
        }
    }
}

/// How to choose the accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccelMode {
    /// KVM if a probe boot with it reaches /init (cached), else TCG.
    Auto,
    /// Software emulation only.
    Tcg,
    /// KVM only.
    Kvm,
}

/// Options of every boot.
#[derive(Debug, Clone, Args)]
pub struct VmOptions {
    /// Limit for one boot, in seconds; QEMU is killed past it.
    #[arg(
        long,
        value_name = "SECS",
        env = "ZCRX_VM_TIMEOUT",
        default_value_t = 600
    )]
    pub timeout: u64,
    /// Accelerator.
    #[arg(long, value_enum, env = "ZCRX_VM_ACCEL", default_value = "auto")]
    pub accel: AccelMode,
    /// Guest memory (QEMU's -m).
    #[arg(long, env = "ZCRX_VM_MEMORY", default_value = "2G")]
    pub memory: String,
    /// Guest CPUs.
    #[arg(long, env = "ZCRX_VM_CPUS", default_value_t = 2)]
    pub cpus: u32,
    /// Extra kernel command-line arguments (e.g. "loglevel=7").
    #[arg(long, value_name = "ARGS", env = "ZCRX_VM_APPEND", default_value = "")]
    pub append: String,
}

/// `cargo xtask vm-test`.
#[derive(Debug, Clone, Args)]
pub struct TestArgs {
    /// Pinned kernel to boot: a series or version (7.3, 7.2.13, 6.19);
    /// repeatable. Default: every pinned kernel.
    #[arg(long = "kernel-version", value_name = "VER", conflicts_with = "kernel")]
    pub kernel_version: Vec<String>,
    /// Boot this bzImage instead of the pinned kernels.
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<PathBuf>,
    /// With --kernel: run the tests with ZCRX_REQUIRE_KERNEL=1.
    #[arg(long, requires = "kernel")]
    pub require_kernel: bool,
    /// Boot every kernel even after one failed.
    #[arg(long)]
    pub keep_going: bool,
    /// Add a deliberately failing program to every guest (checks that a
    /// failure fails the run).
    #[arg(long, env = "ZCRX_VM_INJECT_FAILURE")]
    pub inject_failure: bool,
    /// Boot options.
    #[command(flatten)]
    pub vm: VmOptions,
    /// Arguments for every guest test binary (libtest filters and flags).
    #[arg(last = true, value_name = "TEST-ARGS")]
    pub test_args: Vec<String>,
}

/// `cargo xtask vm-run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Pinned kernel to boot (default: the default pin, 7.3).
    #[arg(long = "kernel-version", value_name = "VER", conflicts_with = "kernel")]
    pub kernel_version: Option<String>,
    /// Boot this bzImage instead.
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<PathBuf>,
    /// An environment variable for the program; repeatable.
    #[arg(long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Build the program with --release.
    #[arg(long)]
    pub release: bool,
    /// Boot options.
    #[command(flatten)]
    pub vm: VmOptions,
    /// The program (a workspace binary or example, as NAME or PACKAGE/NAME,
    /// or the path of a static executable) and its arguments.
    #[arg(last = true, required = true, value_name = "BIN ARGS")]
    pub command: Vec<String>,
}

/// A kernel ready to boot.
#[derive(Debug, Clone)]
struct Kernel {
    /// Short name: the series, or "custom".
    label: String,
    vmlinuz: PathBuf,
    /// Package and version, for pinned kernels.
    package: Option<(String, String)>,
    /// What `uname -r` must print, when known.
    release: Option<String>,
    /// Run with ZCRX_REQUIRE_KERNEL=1.
    require: bool,
}

fn pinned_kernel(pin: &'static KernelPin) -> Result<Kernel, Error> {
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
    })
}

fn custom_kernel(path: &Path, require: bool) -> Result<Kernel, Error> {
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
struct GuestProgram {
    program: Program,
    host_path: PathBuf,
}

fn guest_program(
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
        programs: programs.iter().map(|p| p.program.clone()).collect(),
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
/// sizes and times; written when absent (older ones are removed).
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
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("programs-") && n != name {
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
fn choose_accel(
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
struct BootReport {
    kernel: Kernel,
    accel: Accel,
    console: Console,
    verdict: Verdict,
    wall: Duration,
}

/// Boots one kernel with the given programs and reports.
fn boot_once(
    opts: &VmOptions,
    qemu_bin: &Path,
    kernel: &Kernel,
    accel: Accel,
    init: &Path,
    programs: &[GuestProgram],
    echo: Option<&str>,
) -> Result<BootReport, Error> {
    let initrd = work_dir()?.join(format!("initramfs-{}.cpio.gz", kernel.label));
    let t = Instant::now();
    let names = write_initramfs(&initrd, init, programs)?;
    let size = std::fs::metadata(&initrd).map(|m| m.len()).unwrap_or(0);
    println!(
        "xtask: booting {} with {} ({} program(s), initramfs {:.1} MiB in {:.1} s, timeout {} s)",
        kernel.label,
        accel.name(),
        names.len(),
        size as f64 / (1024.0 * 1024.0),
        t.elapsed().as_secs_f64(),
        opts.timeout
    );
    let mut console = Console::new(names);
    let ended = qemu::run(
        &qemu::Boot {
            qemu: qemu_bin,
            kernel: &kernel.vmlinuz,
            initrd: &initrd,
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
    if verdict.passed() {
        if let (Some(want), Some(got)) = (&kernel.release, &console.kernel_release) {
            if want != got {
                verdict = Verdict::Failed(vec![format!(
                    "booted the wrong kernel: uname -r says {got}, the package is {want}"
                )]);
            }
        }
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
    Ok(BootReport {
        kernel: kernel.clone(),
        accel,
        console,
        verdict,
        wall: ended.wall,
    })
}

fn print_summary(reports: &[BootReport]) {
    println!();
    println!("vm-test summary");
    println!(
        "{:<8} {:<48} {:<28} {:<5} {:>7}  result",
        "kernel", "package (version)", "uname -r", "accel", "boot"
    );
    for r in reports {
        let package = r.kernel.package.as_ref().map_or_else(
            || r.kernel.vmlinuz.display().to_string(),
            |(p, v)| format!("{} ({v})", p.trim_start_matches(pins::BINARY_PKG_PREFIX)),
        );
        println!(
            "{:<8} {:<48} {:<28} {:<5} {:>6.1}s  {}",
            r.kernel.label,
            package,
            r.console.kernel_release.as_deref().unwrap_or("?"),
            r.accel.name(),
            r.wall.as_secs_f64(),
            r.verdict
        );
        for p in &r.console.programs {
            let status = p
                .status
                .as_ref()
                .map_or_else(|| "did not run".to_owned(), Status::to_string);
            let tests = if p.libtest {
                format!(
                    "{} passed, {} failed, {} ignored, {} skipped",
                    p.passed,
                    p.failed,
                    p.ignored,
                    p.skipped.len()
                )
            } else {
                String::new()
            };
            println!(
                "  {:<44} {:<12} {:>6.2}s  {}",
                p.name,
                status,
                p.millis as f64 / 1000.0,
                tests
            );
        }
    }
}

/// `cargo xtask vm-test`.
pub fn vm_test(args: &TestArgs) -> Result<ExitCode, Error> {
    qemu::install_signal_handlers();
    let qemu_bin = qemu::ensure_qemu()?;
    let kernels: Vec<Kernel> = match &args.kernel {
        Some(path) => vec![custom_kernel(path, args.require_kernel)?],
        None if args.kernel_version.is_empty() => pins::PINS
            .iter()
            .map(pinned_kernel)
            .collect::<Result<_, _>>()?,
        None => args
            .kernel_version
            .iter()
            .map(|v| pins::pin(v).map_err(|e| Error::env(e.to_string())))
            .map(|p| p.and_then(pinned_kernel))
            .collect::<Result<_, _>>()?,
    };
    let targets = build::workspace_targets()?;
    let tests = build::guest_tests(&targets);
    if tests.is_empty() {
        return Err(Error::env(format!(
            "no guest tests: no integration test target named {}* in the workspace",
            build::GUEST_TEST_PREFIX
        )));
    }
    println!(
        "xtask: guest tests: {}",
        tests
            .iter()
            .map(Target::label)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let init = build::guest_init(&targets)?;
    let built = build::tests(&tests)?;

    let accel = choose_accel(&args.vm, &qemu_bin, &kernels[0], &init)?;

    let mut reports = Vec::new();
    for kernel in &kernels {
        let env: Vec<(String, String)> = if kernel.require {
            vec![("ZCRX_REQUIRE_KERNEL".to_owned(), "1".to_owned())]
        } else {
            Vec::new()
        };
        let mut programs: Vec<GuestProgram> = built
            .iter()
            .enumerate()
            .map(|(i, b)| guest_program(i, &b.target.label(), &b.path, &args.test_args, &env))
            .collect();
        if args.inject_failure {
            programs.push(guest_program(
                programs.len(),
                "injected-failure",
                &init,
                &["--injected-failure".to_owned()],
                &env,
            ));
        }
        println!(
            "xtask: ===== kernel {} ({}) {} =====",
            kernel.label,
            kernel.package.as_ref().map_or_else(
                || kernel.vmlinuz.display().to_string(),
                |(p, v)| format!("{p} {v}")
            ),
            if kernel.require {
                "with ZCRX_REQUIRE_KERNEL=1"
            } else {
                "without ZCRX_REQUIRE_KERNEL"
            }
        );
        let prefix = format!("[{}] ", kernel.label);
        let report = boot_once(
            &args.vm,
            &qemu_bin,
            kernel,
            accel,
            &init,
            &programs,
            Some(&prefix),
        )?;
        println!(
            "xtask: kernel {}: uname -r in the guest: {}; {} in {:.1} s",
            kernel.label,
            report
                .console
                .kernel_release
                .as_deref()
                .unwrap_or("(not reported)"),
            report.verdict,
            report.wall.as_secs_f64()
        );
        let failed = !report.verdict.passed();
        reports.push(report);
        if failed && !args.keep_going {
            break;
        }
    }
    print_summary(&reports);
    let failures: Vec<String> = reports
        .iter()
        .filter(|r| !r.verdict.passed())
        .map(|r| format!("{}: {}", r.kernel.label, r.verdict))
        .collect();
    let skipped_kernels = kernels.len() - reports.len();
    if failures.is_empty() {
        println!("vm-test: {} kernel(s) passed, 0 failed", reports.len());
        Ok(ExitCode::SUCCESS)
    } else {
        let mut msg = format!("vm-test failed: {}", failures.join("; "));
        if skipped_kernels > 0 {
            msg.push_str(&format!(
                " ({skipped_kernels} kernel(s) not booted; --keep-going boots them all)"
            ));
        }
        Err(Error::failed(msg))
    }
}

/// Resolves vm-run's BIN: a path, `NAME` or `PACKAGE/NAME`.
fn resolve_program(bin: &str, release: bool) -> Result<(String, PathBuf), Error> {
    let as_path = Path::new(bin);
    if as_path.is_file() {
        build::check_static(as_path)?;
        let name = as_path
            .file_name()
            .map_or_else(|| bin.to_owned(), |n| n.to_string_lossy().into_owned());
        return Ok((name, as_path.to_path_buf()));
    }
    let targets = build::workspace_targets()?;
    let (package, name) = match bin.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, bin),
    };
    let matches: Vec<&Target> = targets
        .iter()
        .filter(|t| (t.kind == "bin" || t.kind == "example") && t.name == name)
        .filter(|t| package.is_none_or(|p| t.package == p))
        .collect();
    match matches.as_slice() {
        [t] => {
            let path = build::program(t, release)?;
            Ok((t.label(), path))
        }
        [] => {
            let known: Vec<String> = targets
                .iter()
                .filter(|t| {
                    (t.kind == "bin" || t.kind == "example")
                        && t.package != "zcrx-guest-init"
                        && t.package != "xtask"
                })
                .map(|t| format!("{} ({})", t.label(), t.kind))
                .collect();
            Err(Error::env(format!(
                "{bin}: not a file, nor a binary or example of the workspace (known: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )))
        }
        many => Err(Error::env(format!(
            "{bin} is ambiguous: {}; write PACKAGE/NAME",
            many.iter()
                .map(|t| t.label())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// `cargo xtask vm-run`.
pub fn vm_run(args: &RunArgs) -> Result<ExitCode, Error> {
    qemu::install_signal_handlers();
    let (bin, prog_args) = args
        .command
        .split_first()
        .ok_or_else(|| Error::env("vm-run needs a program: cargo xtask vm-run -- BIN ARGS..."))?;
    let env = args
        .env
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(Error::env(format!("--env {kv:?}: expected KEY=VALUE"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let qemu_bin = qemu::ensure_qemu()?;
    let kernel = match (&args.kernel, &args.kernel_version) {
        (Some(path), _) => custom_kernel(path, false)?,
        (None, Some(v)) => pinned_kernel(pins::pin(v).map_err(|e| Error::env(e.to_string()))?)?,
        (None, None) => pinned_kernel(pins::default_pin())?,
    };
    let targets = build::workspace_targets()?;
    let init = build::guest_init(&targets)?;
    let (name, path) = resolve_program(bin, args.release)?;
    let accel = choose_accel(&args.vm, &qemu_bin, &kernel, &init)?;
    let programs = [guest_program(0, &name, &path, prog_args, &env)];
    let report = boot_once(
        &args.vm,
        &qemu_bin,
        &kernel,
        accel,
        &init,
        &programs,
        Some(""),
    )?;
    let outcome = match (&report.verdict, report.console.programs.first()) {
        (Verdict::Passed | Verdict::Failed(_), Some(p)) => p
            .status
            .as_ref()
            .map_or_else(|| "did not run".to_owned(), Status::to_string),
        (verdict, _) => verdict.to_string(),
    };
    println!(
        "xtask: {} on {} (uname -r {}): {} in {:.1} s",
        name,
        kernel.label,
        report.console.kernel_release.as_deref().unwrap_or("?"),
        outcome,
        report.wall.as_secs_f64()
    );
    match (
        &report.verdict,
        report
            .console
            .programs
            .first()
            .and_then(|p| p.status.clone()),
    ) {
        (Verdict::Passed | Verdict::Failed(_), Some(Status::Exit(code))) => {
            Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
        }
        (Verdict::Passed | Verdict::Failed(_), Some(Status::Signal(sig))) => {
            Ok(ExitCode::from(128u8.saturating_add(sig as u8)))
        }
        (Verdict::Failed(_), Some(Status::SpawnError)) => Err(Error::failed(format!(
            "{name} could not be started in the guest"
        ))),
        (verdict, _) => Err(Error::failed(format!("vm-run: {verdict}"))),
    }
}
