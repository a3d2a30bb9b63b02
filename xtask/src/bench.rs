//! `cargo xtask vm-bench`: the end-to-end receive comparison in the test VM.
//!
//! Builds `benches/vm-recv` (release, static) and runs it in a Linux 7.3
//! guest through `vm-run`'s machinery: the same 256 MiB loopback stream
//! received with NODEV ZCRX (`zcrx-ring`'s `Receiver`) and with plain
//! `recv(2)` into user buffers; it prints time ratios only (the guest is
//! software emulated).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::vm::{self, Error, RunArgs, VmOptions};

/// `cargo xtask vm-bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Pinned kernel to boot (default: the default pin, 7.3; NODEV needs
    /// 7.1 or later).
    #[arg(long = "kernel-version", value_name = "VER", conflicts_with = "kernel")]
    pub kernel_version: Option<String>,
    /// Boot this bzImage instead.
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<PathBuf>,
    /// Boot options.
    #[command(flatten)]
    pub vm: VmOptions,
    /// Arguments for the guest program (`--size 256M --rounds 3 --bufs 1024`).
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

/// Runs `benches/vm-recv` in the guest; the exit status is the program's.
pub fn vm_bench(args: &BenchArgs) -> Result<ExitCode, Error> {
    let mut command = vec!["benches/vm-recv".to_owned()];
    command.extend(args.args.iter().cloned());
    vm::vm_run(&RunArgs {
        kernel_version: args.kernel_version.clone(),
        kernel: args.kernel.clone(),
        env: Vec::new(),
        release: true,
        with: Vec::new(),
        nic_module: false,
        vm: args.vm.clone(),
        command,
    })
}
