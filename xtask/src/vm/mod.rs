//! The real-kernel test bed: `cargo xtask vm-test` and `cargo xtask vm-run`.
//!
//! Each boot runs Debian's cloud kernel (or any bzImage) in QEMU with an
//! initramfs of ours: `/init` is the static `zcrx-guest-init`, which runs the
//! programs of a manifest and reports on the serial console. See
//! `docs/test-bed.md`.
//!
//! Modules: [`build`] (static builds, test discovery), [`initramfs`] (cpio),
//! [`qemu`] (QEMU, timeout, accelerator), [`console`] (reading the console),
//! `boot` (one boot and its verdict), `test` and `run` (the two commands).

mod boot;
pub mod build;
pub mod console;
pub mod initramfs;
pub mod qemu;
mod run;
mod test;

pub use run::vm_run;
pub use test::vm_test;

use std::fmt;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::debian;

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
    /// Run only the guest test targets whose name starts with PREFIX
    /// (e.g. `kernel_nic`); repeatable. Default: every `kernel_*` target.
    #[arg(long = "only", value_name = "PREFIX")]
    pub only: Vec<String>,
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
    /// Another program to ship next to BIN, as /zcrx-vm/bin/NAME (also on
    /// the guest's PATH), without running it: one that BIN starts itself.
    /// A workspace binary (NAME or PACKAGE/NAME) or a static executable;
    /// repeatable.
    #[arg(long = "with", value_name = "PROGRAM")]
    pub with: Vec<String>,
    /// Build the simulated NIC module (testbed/zcrx-sim) for the kernel and
    /// have /init load it (devices zsim0a/zsim0b, zsim1a/zsim1b).
    #[arg(long)]
    pub nic_module: bool,
    /// Boot options.
    #[command(flatten)]
    pub vm: VmOptions,
    /// The program (a workspace binary or example, as NAME or PACKAGE/NAME,
    /// or the path of a static executable) and its arguments.
    #[arg(last = true, required = true, value_name = "BIN ARGS")]
    pub command: Vec<String>,
}
