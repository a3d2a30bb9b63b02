//! `cargo xtask vm-run`: one program in a guest; its exit status is ours.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::boot;
use super::build::{self, Target};
use super::console::{Status, Verdict};
use super::{Error, RunArgs, qemu};
use crate::{nic, pins};

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
        (Some(path), _) => boot::custom_kernel(path, false)?,
        (None, Some(v)) => {
            boot::pinned_kernel(pins::pin(v).map_err(|e| Error::env(e.to_string()))?)?
        }
        (None, None) => boot::pinned_kernel(pins::default_pin())?,
    };
    let targets = build::workspace_targets()?;
    let init = build::guest_init(&targets)?;
    let (name, path) = resolve_program(bin, args.release)?;
    let accel = boot::choose_accel(&args.vm, &qemu_bin, &kernel, &init)?;
    let mut programs = vec![boot::guest_program(0, &name, &path, prog_args, &env)];
    for with in &args.with {
        let (label, path) = resolve_program(with, args.release)?;
        programs.push(boot::guest_companion(&label, &path));
    }
    if args.nic_module {
        let pin = kernel.pin.ok_or_else(|| {
            Error::env("--nic-module needs a pinned kernel (--kernel-version), not --kernel")
        })?;
        let built = nic::module_for(pin)?.ok_or_else(|| {
            Error::env(format!(
                "--nic-module: the zcrx-sim module supports kernel series {} only",
                nic::SERIES.join(", ")
            ))
        })?;
        programs.push(boot::guest_module(&built.ko, nic::MODULE_PARAMS));
    }
    let report = boot::boot_once(
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
