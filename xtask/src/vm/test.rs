//! `cargo xtask vm-test`: every guest test on every selected kernel.

use std::process::ExitCode;

use super::boot::{self, BootReport, GuestProgram, Kernel};
use super::build::{self, Target};
use super::console::Status;
use super::{Error, TestArgs, qemu};
use crate::{nic, pins};

/// Guest tests with this prefix need the simulated NIC: vm-test builds the
/// zcrx-sim module for each pinned kernel that supports it and has `/init`
/// load it.
pub const NIC_TEST_PREFIX: &str = "kernel_nic";

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
        if let Some(first) = &r.retried {
            println!("  (booted twice: the first boot crashed before /init: {first})");
        }
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
        Some(path) => vec![boot::custom_kernel(path, args.require_kernel)?],
        None if args.kernel_version.is_empty() => pins::PINS
            .iter()
            .map(boot::pinned_kernel)
            .collect::<Result<_, _>>()?,
        None => args
            .kernel_version
            .iter()
            .map(|v| pins::pin(v).map_err(|e| Error::env(e.to_string())))
            .map(|p| p.and_then(boot::pinned_kernel))
            .collect::<Result<_, _>>()?,
    };
    let targets = build::workspace_targets()?;
    let mut tests = build::guest_tests(&targets);
    if !args.only.is_empty() {
        tests.retain(|t| args.only.iter().any(|p| t.name.starts_with(p.as_str())));
    }
    if tests.is_empty() {
        return Err(Error::env(if args.only.is_empty() {
            format!(
                "no guest tests: no integration test target named {}* in the workspace",
                build::GUEST_TEST_PREFIX
            )
        } else {
            format!(
                "no guest test target's name starts with {}",
                args.only.join(" or ")
            )
        }));
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
    let companions = build::test_companions(&tests, &targets);
    let (built, companions): (Vec<_>, Vec<_>) = build::tests(&tests, &companions)?
        .into_iter()
        .partition(|b| b.target.kind == "test");

    let accel = boot::choose_accel(&args.vm, &qemu_bin, &kernels[0], &init)?;
    let wants_nic = tests.iter().any(|t| t.name.starts_with(NIC_TEST_PREFIX));

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
            .map(|(i, b)| boot::guest_program(i, &b.target.label(), &b.path, &args.test_args, &env))
            .chain(
                companions
                    .iter()
                    .map(|b| boot::guest_companion(&b.target.name, &b.path)),
            )
            .collect();
        if wants_nic {
            match kernel.pin.map(nic::module_for).transpose()?.flatten() {
                Some(m) => {
                    println!(
                        "xtask: kernel {}: zcrx-sim module {} ({}{})",
                        kernel.label,
                        m.ko.display(),
                        m.compiler,
                        if m.cached { ", cached" } else { "" }
                    );
                    programs.push(boot::guest_module(&m.ko, nic::MODULE_PARAMS));
                }
                None => println!(
                    "xtask: kernel {}: no zcrx-sim module (built for {} only); its NIC-mode \
                     tests have no device",
                    kernel.label,
                    nic::SERIES.join(", ")
                ),
            }
        }
        if args.inject_failure {
            programs.push(boot::guest_program(
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
        let report = boot::boot_once(
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
    // One plain closing line, counted over every kernel: libtest's tests, or
    // the program itself when it is not a libtest binary (or never ran).
    let (mut passed, mut failed) = (0u64, 0u64);
    for p in reports.iter().flat_map(|r| &r.console.programs) {
        if p.libtest && p.status.is_some() {
            passed += p.passed;
            failed += p.failed.max(u64::from(!p.ok()));
        } else if p.ok() {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    let boot_failures = reports.iter().filter(|r| !r.verdict.passed()).count() as u64;
    let closing = format!(
        "vm-test: {passed} passed, {} failed",
        failed.max(boot_failures)
    );
    let failures: Vec<String> = reports
        .iter()
        .filter(|r| !r.verdict.passed())
        .map(|r| format!("{}: {}", r.kernel.label, r.verdict))
        .collect();
    let skipped_kernels = kernels.len() - reports.len();
    if failures.is_empty() {
        let retried = reports.iter().filter(|r| r.retried.is_some()).count();
        if retried > 0 {
            println!("vm-test: {retried} boot(s) retried after a crash before /init (see above)");
        }
        println!("vm-test: every guest passed on {} kernel(s)", reports.len());
        println!("{closing}");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{closing}");
        let mut msg = format!("vm-test failed: {}", failures.join("; "));
        if skipped_kernels > 0 {
            msg.push_str(&format!(
                " ({skipped_kernels} kernel(s) not booted; --keep-going boots them all)"
            ));
        }
        Err(Error::failed(msg))
    }
}
