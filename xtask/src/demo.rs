//! `cargo xtask demo`: the README's main command.
//!
//! Runs `zcrx-demo` (zcrx-examples), which, in one run: starts `zcrx-recv
//! --nodev --notify --verify --sha256` on loopback, waits for its
//! `listening on` line, runs `zcrx-send` against it, and checks both exit
//! statuses, the byte count, the verification and each connection's
//! SHA-256 (`demo: NODEV mode OK: ...`); then shows `zcrx-info
//! --interfaces` and does the same in NIC mode over the simulated NIC,
//! the sender in another network namespace and its flow steered to the
//! receiver's rx queue, checking also that nothing was copied and that the
//! kernel refilled by itself (`demo: NIC mode OK: ...`, the last line).
//!
//! Where it runs: natively when this machine's kernel has NODEV receive and
//! notifications (Linux >= 7.2), this process holds CAP_NET_ADMIN (as
//! `zcrx-info --json` reports) and a NIC is there (the simulated NIC's
//! `zsim0a`, or `ZCRX_NIC_IFNAME`); otherwise in one boot of the Linux 7.3
//! guest of the test bed with the simulated NIC loaded (`vm-run
//! --nic-module --with zcrx-recv --with zcrx-send --with zcrx-info --
//! zcrx-demo --nic require`), which builds, ships and boots everything the
//! same way `cargo xtask vm-run` does.

use std::process::{Command, ExitCode};

use clap::{Args, ValueEnum};
use serde_json::Value;

use crate::vm::{self, Error, build};

/// Where the demo runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Place {
    /// Natively if this kernel and process can (see `zcrx-info`), else in
    /// the guest.
    Auto,
    /// On this machine, whatever it lacks (the programs say what).
    Native,
    /// In a QEMU guest (Linux 7.3 unless --kernel-version says otherwise).
    Vm,
}

/// `cargo xtask demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Where to run.
    #[arg(long, value_enum, default_value = "auto")]
    pub on: Place,
    /// Pinned kernel of the guest (default: the default pin, 7.3).
    #[arg(long = "kernel-version", value_name = "VER")]
    pub kernel_version: Option<String>,
    /// Build the programs with --release.
    #[arg(long)]
    pub release: bool,
    /// Boot options (for the guest).
    #[command(flatten)]
    pub vm: vm::VmOptions,
    /// Arguments for zcrx-demo: --bytes SIZE (per NODEV connection,
    /// default 16M), --connections N (2), --threads N (1), --area-size
    /// SIZE, --nic-bytes SIZE (64M), --nic-area-size SIZE (4M).
    #[arg(last = true, value_name = "DEMO-ARGS")]
    pub demo_args: Vec<String>,
}

const PACKAGE: &str = "zcrx-examples";

/// The programs zcrx-demo starts.
const COMPANIONS: [&str; 3] = ["zcrx-recv", "zcrx-send", "zcrx-info"];

/// Builds one of the examples (statically, as for the guest: the same
/// build runs natively too) and returns its path.
fn example(
    targets: &[build::Target],
    name: &str,
    release: bool,
) -> Result<std::path::PathBuf, Error> {
    let t = targets
        .iter()
        .find(|t| t.package == PACKAGE && t.kind == "bin" && t.name == name)
        .ok_or_else(|| Error::env(format!("the workspace has no {PACKAGE}/{name} binary")))?;
    build::program(t, release)
}

/// Why this machine cannot run the demo natively, per `zcrx-info --json`
/// and whether it has a NIC for the NIC-mode part; `None` if it can.
fn native_obstacle(info: &Value, has_nic: bool) -> Option<String> {
    let mut why = Vec::new();
    if !has_nic {
        why.push(
            "no NIC for the NIC-mode part (neither the simulated NIC's zsim0a nor \
             ZCRX_NIC_IFNAME)"
                .to_owned(),
        );
    }
    for key in ["nodev", "notifications", "register"] {
        let ability = info["abilities"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["key"] == key));
        match ability {
            Some(a) if a["available"] == Value::Bool(true) => {}
            Some(a) => why.push(
                a["note"]
                    .as_str()
                    .map_or_else(|| format!("{key}: unavailable"), str::to_owned),
            ),
            None => why.push(format!("zcrx-info did not report {key:?}")),
        }
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// `cargo xtask demo`.
pub fn demo(args: &DemoArgs) -> Result<ExitCode, Error> {
    let targets = build::workspace_targets()?;
    let native = match args.on {
        Place::Vm => false,
        Place::Native => true,
        Place::Auto => {
            let info_bin = example(&targets, "zcrx-info", args.release)?;
            let out = Command::new(&info_bin)
                .arg("--json")
                .output()
                .map_err(|e| Error::env(format!("running {}: {e}", info_bin.display())))?;
            let info: Value = serde_json::from_slice(&out.stdout)
                .map_err(|e| Error::env(format!("zcrx-info --json printed invalid JSON: {e}")))?;
            let release = info["kernel"]["release"].as_str().unwrap_or("?").to_owned();
            let has_nic = std::env::var_os("ZCRX_NIC_IFNAME").is_some()
                || std::path::Path::new("/sys/class/net/zsim0a").exists();
            match native_obstacle(&info, has_nic) {
                None => {
                    println!(
                        "xtask demo: Linux {release} here has what the demo needs: running natively"
                    );
                    true
                }
                Some(why) => {
                    println!(
                        "xtask demo: not natively on Linux {release} ({why}); in a QEMU guest instead"
                    );
                    false
                }
            }
        }
    };

    let code = if native {
        let demo_bin = example(&targets, "zcrx-demo", args.release)?;
        for companion in COMPANIONS {
            example(&targets, companion, args.release)?;
        }
        let status = Command::new(&demo_bin)
            .args(&args.demo_args)
            .status()
            .map_err(|e| Error::env(format!("running {}: {e}", demo_bin.display())))?;
        match status.code() {
            Some(0) => ExitCode::SUCCESS,
            Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
            None => ExitCode::from(1),
        }
    } else {
        let run = vm::RunArgs {
            kernel_version: args.kernel_version.clone(),
            kernel: None,
            env: Vec::new(),
            release: args.release,
            nic_module: true,
            vm: args.vm.clone(),
            with: COMPANIONS
                .iter()
                .map(|c| format!("{PACKAGE}/{c}"))
                .collect(),
            // The guest has the simulated NIC: its part must run.
            command: [
                format!("{PACKAGE}/zcrx-demo"),
                "--nic".into(),
                "require".into(),
            ]
            .into_iter()
            .chain(args.demo_args.iter().cloned())
            .collect(),
        };
        vm::vm_run(&run)?
    };
    if code == ExitCode::SUCCESS {
        println!("xtask demo: success");
    } else {
        println!("xtask demo: FAILED (see the demo's output above)");
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_needs_nodev_notifications_and_the_capability() {
        let ok: Value = serde_json::from_str(
            r#"{"abilities": [
                {"key": "nodev", "available": true},
                {"key": "notifications", "available": true},
                {"key": "register", "available": true}]}"#,
        )
        .unwrap();
        assert_eq!(native_obstacle(&ok, true), None);
        let why = native_obstacle(&ok, false).unwrap();
        assert!(why.contains("zsim0a"), "{why}");
        let host: Value = serde_json::from_str(
            r#"{"abilities": [
                {"key": "nodev", "available": false, "note": "kernel lacks ZCRX_REG_NODEV (needs Linux >= 7.1)"},
                {"key": "notifications", "available": null, "note": "cannot tell"},
                {"key": "register", "available": true}]}"#,
        )
        .unwrap();
        let why = native_obstacle(&host, true).unwrap();
        assert!(why.contains("ZCRX_REG_NODEV"), "{why}");
        assert!(why.contains("cannot tell"), "{why}");
        assert!(native_obstacle(&Value::Null, true).is_some());
    }
}
