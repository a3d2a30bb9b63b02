//! Building the guest's programs: statically linked, for
//! `x86_64-unknown-linux-gnu`, with cargo's JSON messages telling where the
//! executables are.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::Error;
use crate::debian::workspace_root;

/// The target every guest program is built for. Giving it explicitly keeps
/// `RUSTFLAGS` away from build scripts and proc-macros.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// Prefix of the integration-test targets that run in the guest.
pub const GUEST_TEST_PREFIX: &str = "kernel_";

/// A target of a workspace package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The package.
    pub package: String,
    /// The target's name.
    pub name: String,
    /// `bin`, `example`, `test` ...
    pub kind: String,
    /// Its main source file (identifies it in cargo's messages).
    pub src_path: PathBuf,
}

impl Target {
    /// `package/name`, the name used on the console and in the summary.
    pub fn label(&self) -> String {
        format!("{}/{}", self.package, self.name)
    }
}

/// A built executable.
#[derive(Debug, Clone)]
pub struct Built {
    /// What it was built from.
    pub target: Target,
    /// The executable.
    pub path: PathBuf,
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// Every target of every workspace package (`cargo metadata --no-deps`).
pub fn workspace_targets() -> Result<Vec<Target>, Error> {
    let out = cargo()
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Error::env(format!("running cargo metadata: {e}")))?;
    if !out.status.success() {
        return Err(Error::env(format!(
            "cargo metadata failed ({})",
            out.status
        )));
    }
    let meta: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| Error::env(format!("cargo metadata printed invalid JSON: {e}")))?;
    Ok(parse_targets(&meta))
}

fn parse_targets(meta: &Value) -> Vec<Target> {
    let mut targets = Vec::new();
    for pkg in meta["packages"].as_array().into_iter().flatten() {
        let package = pkg["name"].as_str().unwrap_or_default();
        for t in pkg["targets"].as_array().into_iter().flatten() {
            let kinds: Vec<&str> = t["kind"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let (Some(name), Some(src), Some(kind)) =
                (t["name"].as_str(), t["src_path"].as_str(), kinds.first())
            else {
                continue;
            };
            targets.push(Target {
                package: package.to_owned(),
                name: name.to_owned(),
                kind: (*kind).to_owned(),
                src_path: PathBuf::from(src),
            });
        }
    }
    targets
}

/// The guest tests: integration tests named `kernel_*`, in any package.
pub fn guest_tests(all: &[Target]) -> Vec<Target> {
    all.iter()
        .filter(|t| t.kind == "test" && t.name.starts_with(GUEST_TEST_PREFIX))
        .cloned()
        .collect()
}

/// Runs a cargo build command with the static flags and JSON messages, and
/// returns the executables of `wanted` targets.
fn build(args: &[String], wanted: &[Target], what: &str) -> Result<Vec<Built>, Error> {
    let mut rustflags = std::env::var("RUSTFLAGS").unwrap_or_default();
    if !rustflags.is_empty() {
        rustflags.push(' ');
    }
    // Line tables only: backtraces keep file and line, and the guest's
    // programs stay small enough to unpack into its memory (with full
    // debug info the 16 test programs came to 885 MB and the initramfs
    // failed to unpack in a 2 GiB guest).
    rustflags.push_str("-C target-feature=+crt-static -C debuginfo=line-tables-only");
    let mut cmd = cargo();
    cmd.args(args)
        .args([
            "--target",
            TARGET,
            "--message-format=json-render-diagnostics",
        ])
        .env("RUSTFLAGS", rustflags)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    eprintln!(
        "xtask: building {what} statically: cargo {} --target {TARGET}",
        args.join(" ")
    );
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::env(format!("running cargo: {e}")))?;
    let mut built = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| Error::env(format!("reading cargo's output: {e}")))?;
            let Ok(msg) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if msg["reason"] != "compiler-artifact" {
                continue;
            }
            let (Some(exe), Some(src)) = (
                msg["executable"].as_str(),
                msg["target"]["src_path"].as_str(),
            ) else {
                continue;
            };
            if let Some(t) = wanted.iter().find(|t| t.src_path == Path::new(src)) {
                built.push(Built {
                    target: t.clone(),
                    path: PathBuf::from(exe),
                });
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| Error::env(format!("waiting for cargo: {e}")))?;
    if !status.success() {
        return Err(Error::env(format!(
            "building {what} failed ({status}); see cargo's messages above"
        )));
    }
    // In the order asked for, not in cargo's order of completion.
    built.sort_by_key(|b| wanted.iter().position(|t| *t == b.target));
    built.dedup_by(|a, b| a.target == b.target);
    for t in wanted {
        if !built.iter().any(|b| b.target == *t) {
            return Err(Error::env(format!(
                "cargo built no executable for {}",
                t.label()
            )));
        }
    }
    Ok(built)
}

/// Builds the guest's `/init`.
pub fn guest_init(all: &[Target]) -> Result<PathBuf, Error> {
    let init = all
        .iter()
        .find(|t| t.package == "zcrx-guest-init" && t.kind == "bin")
        .ok_or_else(|| Error::env("the workspace has no zcrx-guest-init binary"))?;
    let args = vec![
        "build".to_owned(),
        "-p".to_owned(),
        init.package.clone(),
        "--bin".to_owned(),
        init.name.clone(),
    ];
    let built = build(&args, std::slice::from_ref(init), "the guest's /init")?;
    Ok(built[0].path.clone())
}

/// The binaries of the guest tests' packages: cargo builds them with the
/// tests (statically too, with the same flags), and the tests may run them
/// (`CARGO_BIN_EXE_<name>` on the host; in the guest they are shipped next
/// to the test binaries, in `/zcrx-vm/bin/`).
pub fn test_companions(tests: &[Target], all: &[Target]) -> Vec<Target> {
    all.iter()
        .filter(|t| t.kind == "bin" && tests.iter().any(|g| g.package == t.package))
        .cloned()
        .collect()
}

/// Builds the guest tests and their `companions` (binaries of the same
/// packages, see [`test_companions`]) in one cargo invocation.
pub fn tests(tests: &[Target], companions: &[Target]) -> Result<Vec<Built>, Error> {
    let mut args = vec!["test".to_owned(), "--no-run".to_owned()];
    let mut packages: Vec<&str> = tests.iter().map(|t| t.package.as_str()).collect();
    packages.dedup();
    for p in packages {
        args.push("-p".to_owned());
        args.push(p.to_owned());
    }
    let mut names: Vec<&str> = tests.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    for n in names {
        args.push("--test".to_owned());
        args.push(n.to_owned());
    }
    let wanted: Vec<Target> = tests.iter().chain(companions).cloned().collect();
    build(&args, &wanted, "the guest tests")
}

/// Builds a workspace binary or example.
pub fn program(target: &Target, release: bool) -> Result<PathBuf, Error> {
    let mut args = vec![
        "build".to_owned(),
        "-p".to_owned(),
        target.package.clone(),
        format!("--{}", target.kind),
        target.name.clone(),
    ];
    if release {
        args.push("--release".to_owned());
    }
    let built = build(&args, std::slice::from_ref(target), &target.label())?;
    Ok(built[0].path.clone())
}

/// Checks that `path` is a statically linked x86-64 ELF executable (no
/// `PT_INTERP`): a dynamic one cannot start in the guest, which has no
/// libraries.
pub fn check_static(path: &Path) -> Result<(), Error> {
    let data =
        std::fs::read(path).map_err(|e| Error::env(format!("reading {}: {e}", path.display())))?;
    elf_is_static(&data).map_err(|reason| Error::env(format!("{}: {reason}", path.display())))
}

fn elf_is_static(data: &[u8]) -> Result<(), String> {
    if data.len() < 64 || &data[..4] != b"\x7fELF" {
        return Err("not an ELF executable".into());
    }
    if data[4] != 2 || data[5] != 1 || u16::from_le_bytes([data[18], data[19]]) != 62 {
        return Err("not a 64-bit little-endian x86-64 ELF".into());
    }
    let u64_at = |o: usize| {
        data.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    };
    let u16_at = |o: usize| data.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return Err("truncated ELF header".into());
    };
    for i in 0..usize::from(phnum) {
        let at = usize::try_from(phoff)
            .ok()
            .and_then(|o| o.checked_add(i * usize::from(phentsize)))
            .ok_or("corrupt ELF program headers")?;
        let p_type = data
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or("truncated ELF program headers")?;
        if p_type == 3 {
            return Err(
                "dynamically linked (has an ELF interpreter); the guest has no \
                        libraries: build it with RUSTFLAGS=\"-C target-feature=+crt-static\" \
                        --target x86_64-unknown-linux-gnu"
                    .into(),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovers_kernel_tests_in_any_package() {
        let meta: Value = serde_json::from_str(
            r#"{"packages": [
              {"name": "zcrx-uapi", "targets": [
                {"name": "zcrx_uapi", "kind": ["lib"], "src_path": "/w/zcrx-uapi/src/lib.rs"},
                {"name": "kernel_query", "kind": ["test"], "src_path": "/w/zcrx-uapi/tests/kernel_query.rs"},
                {"name": "layout", "kind": ["test"], "src_path": "/w/zcrx-uapi/tests/layout.rs"}]},
              {"name": "zcrx-ring", "targets": [
                {"name": "kernel_recv", "kind": ["test"], "src_path": "/w/zcrx-ring/tests/kernel_recv.rs"},
                {"name": "kernel_demo", "kind": ["bin"], "src_path": "/w/zcrx-ring/src/bin/d.rs"}]}
            ]}"#,
        )
        .unwrap();
        let all = parse_targets(&meta);
        assert_eq!(all.len(), 5);
        let labels: Vec<String> = guest_tests(&all).iter().map(Target::label).collect();
        assert_eq!(labels, ["zcrx-uapi/kernel_query", "zcrx-ring/kernel_recv"]);
    }

    #[test]
    fn the_real_workspace_has_guest_tests() {
        let all = workspace_targets().unwrap();
        assert!(
            guest_tests(&all)
                .iter()
                .any(|t| t.label() == "zcrx-uapi/kernel_query")
        );
        assert!(
            all.iter()
                .any(|t| t.package == "zcrx-guest-init" && t.kind == "bin")
        );
    }

    #[test]
    fn elf_checks() {
        assert!(elf_is_static(b"#!/bin/sh\n").is_err());
        // This test binary itself is dynamically linked (host build).
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let err = elf_is_static(&me).unwrap_err();
        assert!(err.contains("dynamically linked"), "{err}");
        // A minimal static header: no program headers.
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[18] = 62;
        assert!(elf_is_static(&h).is_ok());
        h[0x38] = 1; // one program header beyond the end
        h[0x20] = 64;
        h[0x36] = 56;
        assert!(elf_is_static(&h).is_err());
    }
}
