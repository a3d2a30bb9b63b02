//! `cargo xtask`: project automation for the zcrx workspace.
//!
//! Run `cargo xtask --help` for the list of commands.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod abi;
mod bench;
mod ci;
mod debian;
mod demo;
mod fetch;
mod nic;
mod pins;
mod vm;

/// Project automation for the zcrx workspace.
#[derive(Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the guest tests (`kernel_*` integration tests) in QEMU on every
    /// pinned kernel (7.3 and 7.2 with ZCRX_REQUIRE_KERNEL=1, then 6.19).
    VmTest(vm::TestArgs),
    /// Run one workspace binary (or static executable) in a QEMU guest; the
    /// exit status is the program's.
    VmRun(vm::RunArgs),
    /// End-to-end receive comparison in a 7.3 guest: a 256 MiB loopback
    /// stream with NODEV ZCRX and with plain recv; prints time ratios.
    VmBench(bench::BenchArgs),
    /// Every check of the project, as CI runs it (`.ci/run`): fmt, clippy,
    /// no_std builds, host tests, docs, ABI checks, MSRV, Miri, loom, the
    /// benchmarks' build and the guest tests.
    Ci(ci::CiArgs),
    /// Compare zcrx-uapi with real Linux uapi headers (exit 1 on a difference).
    CheckAbi(abi::CheckArgs),
    /// Fetch Debian packages, verified (signed index, pinned SHA-256), into
    /// target/zcrx-cache; print NAME VERSION SHA256 DIR DEB per package.
    Fetch(fetch::FetchArgs),
    /// Regenerate zcrx-uapi/tests/layout_generated.rs from the pinned headers.
    RegenAbi(abi::RegenArgs),
    /// Run zcrx-recv --nodev --notify --verify against zcrx-send on
    /// loopback: natively on Linux >= 7.2 with CAP_NET_ADMIN, else in the
    /// Linux 7.3 guest. Exit status 0 only on success.
    Demo(demo::DemoArgs),
    /// Build the simulated NIC module (testbed/zcrx-sim) for the pinned
    /// guest kernels (cached) and print the .ko paths.
    NicModule(nic::NicModuleArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ci(args) => return ci::ci(&args),
        Command::VmTest(args) => vm::vm_test(&args),
        Command::VmRun(args) => vm::vm_run(&args),
        Command::VmBench(args) => bench::vm_bench(&args),
        Command::CheckAbi(args) => return abi::check_abi(&args),
        Command::RegenAbi(args) => return abi::regen_abi(&args),
        Command::Fetch(args) => return fetch::run(&args),
        Command::Demo(args) => demo::demo(&args),
        Command::NicModule(args) => nic::nic_module(&args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        ExitCode::from(e.code)
    })
}
