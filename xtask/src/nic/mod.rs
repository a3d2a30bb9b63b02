//! The simulated NIC for NIC-mode ZCRX tests: `testbed/zcrx-sim` (a GPL-2.0
//! kernel module, see its README) built for the pinned guest kernels.
//!
//! - `cargo xtask nic-module [--kernel-version V]...` builds it (cached) and
//!   prints the `.ko` path of each kernel.
//! - [`module_for`] is what `vm-test`/`vm-run` use to ship it in the
//!   initramfs; the guest's `/init` loads it (`finit_module`) with
//!   [`MODULE_PARAMS`].
//!
//! [`kbuild`] fetches Debian's headers and kbuild packages of the kernel and
//! runs kbuild in a [`buildroot`] of the suite that built the kernel.

pub mod buildroot;
pub mod kbuild;

use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use crate::pins::{self, KernelPin};
use crate::vm::Error;

/// The kernel series the module is built for. Older kernels lack the queue
/// API it uses; their NIC-mode tests skip (they are not required there).
pub const SERIES: &[&str] = &["7.3", "7.2"];

/// The parameters `/init` loads the module with: two pairs
/// (`zsim0a`/`zsim0b`, `zsim1a`/`zsim1b`) of four rx and tx queues each.
pub const MODULE_PARAMS: &str = "pairs=2 queues=4";

/// `cargo xtask nic-module`.
#[derive(Debug, Clone, Args)]
pub struct NicModuleArgs {
    /// Pinned kernel to build for (7.3, 7.2); repeatable. Default: every
    /// kernel the module supports.
    #[arg(long = "kernel-version", value_name = "VER")]
    pub kernel_version: Vec<String>,
}

/// The module for a pinned kernel, built or from the cache; `None` for a
/// series it does not support.
pub fn module_for(pin: &'static KernelPin) -> Result<Option<kbuild::BuiltModule>, Error> {
    if !SERIES.contains(&pin.series) {
        return Ok(None);
    }
    kbuild::build(pin).map(Some)
}

/// `cargo xtask nic-module`: builds and prints one `.ko` path per kernel on
/// stdout (the messages go to stderr).
pub fn nic_module(args: &NicModuleArgs) -> Result<ExitCode, Error> {
    let pins: Vec<&'static KernelPin> = if args.kernel_version.is_empty() {
        SERIES
            .iter()
            .map(|s| pins::pin(s).map_err(|e| Error::env(e.to_string())))
            .collect::<Result<_, _>>()?
    } else {
        args.kernel_version
            .iter()
            .map(|v| pins::pin(v).map_err(|e| Error::env(e.to_string())))
            .collect::<Result<_, _>>()?
    };
    for pin in pins {
        let t = Instant::now();
        let Some(built) = module_for(pin)? else {
            return Err(Error::env(format!(
                "the zcrx-sim module supports kernel series {} only, not {}",
                SERIES.join(", "),
                pin.series
            )));
        };
        eprintln!(
            "xtask: {} for {} ({}, {}) in {:.1} s",
            kbuild::MODULE_FILE,
            built.release,
            built.compiler,
            if built.cached { "cached" } else { "built" },
            t.elapsed().as_secs_f64()
        );
        println!("{}", built.ko.display());
    }
    Ok(ExitCode::SUCCESS)
}
