//! `cargo xtask ci`: every check of the project, in the order CI runs them.
//!
//! `.ci/run` calls exactly this. Each step is one command; the summary at
//! the end lists every step with its time and outcome. Toolchains the steps
//! need (the MSRV toolchain, nightly with Miri) are installed with rustup
//! when missing; QEMU and the kernels are fetched by `vm-test` itself.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use crate::debian::workspace_root;

/// Arguments of `cargo xtask ci`.
#[derive(clap::Args, Debug)]
pub struct CiArgs {
    /// Run every step even after one fails.
    #[arg(long)]
    keep_going: bool,
    /// Leave out the steps that boot the test VM.
    #[arg(long)]
    skip_vm: bool,
    /// Leave out Miri, loom and the MSRV build (the slow extra toolchains).
    #[arg(long)]
    quick: bool,
}

/// One step: a name and the command line.
struct Step {
    name: &'static str,
    program: String,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn step(name: &'static str, args: &[&str]) -> Step {
    Step {
        name,
        program: cargo(),
        args: args.iter().map(|s| (*s).to_owned()).collect(),
        env: Vec::new(),
    }
}

/// `rustup` steps run a toolchain other than the current one.
fn toolchain_step(name: &'static str, toolchain: &str, args: &[&str]) -> Step {
    let mut all = vec!["run".to_owned(), toolchain.to_owned(), "cargo".to_owned()];
    all.extend(args.iter().map(|s| (*s).to_owned()));
    Step {
        name,
        program: "rustup".to_owned(),
        args: all,
        env: Vec::new(),
    }
}

/// The workspace's declared `rust-version` (the MSRV).
fn msrv(root: &Path) -> Result<String, String> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml"))
        .map_err(|e| format!("reading Cargo.toml: {e}"))?;
    manifest
        .lines()
        .find_map(|l| {
            let l = l.trim();
            let rest = l
                .strip_prefix("rust-version")?
                .trim_start()
                .strip_prefix('=')?;
            Some(rest.trim().trim_matches('"').to_owned())
        })
        .ok_or_else(|| "Cargo.toml declares no rust-version".to_owned())
}

/// Installs a toolchain (and components) with rustup if it is missing.
fn ensure_toolchain(toolchain: &str, components: &[&str]) -> Result<(), String> {
    let have = Command::new("rustup")
        .args(["run", toolchain, "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut missing_component = false;
    if have {
        for c in components {
            let listed = Command::new("rustup")
                .args(["component", "list", "--installed", "--toolchain", toolchain])
                .output()
                .map_err(|e| format!("rustup: {e}"))?;
            if !String::from_utf8_lossy(&listed.stdout)
                .lines()
                .any(|l| l.starts_with(c))
            {
                missing_component = true;
            }
        }
    }
    if have && !missing_component {
        return Ok(());
    }
    eprintln!("xtask ci: installing the {toolchain} toolchain {components:?} with rustup");
    let mut cmd = Command::new("rustup");
    cmd.args(["toolchain", "install", toolchain, "--profile", "minimal"]);
    for c in components {
        cmd.args(["--component", c]);
    }
    let status = cmd
        .status()
        .map_err(|e| format!("rustup is needed to install the {toolchain} toolchain: {e}"))?;
    if !status.success() {
        return Err(format!(
            "could not install the {toolchain} toolchain with rustup (run: rustup toolchain install {toolchain} --profile minimal{})",
            components
                .iter()
                .map(|c| format!(" --component {c}"))
                .collect::<String>()
        ));
    }
    Ok(())
}

/// Each library crate on its own, as a user depends on it: `zcrx-uapi`
/// alone, `zcrx-uapi` + `zcrx-ring`, all three; default features off where
/// that makes sense, and the `io-uring` interop on (clippy, warnings
/// denied). `-p X` resolves the features of `X` alone (resolver 3), not the
/// workspace's, which turns `io-uring` on through `zcrx-examples`.
/// Then `cargo package` of the three together: each packaged crate is built
/// from its `.crate` file with every feature (as docs.rs builds it), its
/// unpublished path dependencies served from the same run (cargo packages
/// several `-p` together through a temporary local registry; no
/// `--no-verify` needed). `--allow-dirty`: the check is of the manifests
/// and file lists, not of the working tree.
fn standalone_steps() -> Vec<Step> {
    let check = |name, args: &[&str]| {
        let mut all = vec!["clippy", "--all-targets"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--", "-D", "warnings"]);
        step(name, &all)
    };
    vec![
        check("alone: zcrx-uapi (default features)", &["-p", "zcrx-uapi"]),
        check("alone: zcrx-ring (default features)", &["-p", "zcrx-ring"]),
        check(
            "alone: zcrx-ring --features io-uring",
            &["-p", "zcrx-ring", "--features", "io-uring"],
        ),
        check(
            "alone: zcrx-notif (default features)",
            &["-p", "zcrx-notif"],
        ),
        check(
            "alone: zcrx-notif --features io-uring",
            &["-p", "zcrx-notif", "--features", "io-uring"],
        ),
        step(
            "cargo package (zcrx-uapi, zcrx-ring, zcrx-notif)",
            &[
                "package",
                "--allow-dirty",
                "--all-features",
                "-p",
                "zcrx-uapi",
                "-p",
                "zcrx-ring",
                "-p",
                "zcrx-notif",
            ],
        ),
    ]
}

fn steps(args: &CiArgs, root: &Path) -> Result<Vec<Step>, String> {
    let mut steps = vec![
        step("fmt", &["fmt", "--all", "--", "--check"]),
        step(
            "clippy",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        ),
        step(
            "no_std builds",
            &[
                "build",
                "-p",
                "zcrx-uapi",
                "-p",
                "zcrx-uapi-no-std-user",
                "--no-default-features",
            ],
        ),
        step(
            "zcrx-ring without std",
            &[
                "build",
                "-p",
                "zcrx-ring",
                "-p",
                "zcrx-notif",
                "--no-default-features",
            ],
        ),
        step("tests (host)", &["test", "--workspace"]),
        {
            let mut s = step("docs", &["doc", "--workspace", "--no-deps"]);
            s.env.push(("RUSTDOCFLAGS", "-D warnings".to_owned()));
            s
        },
        step(
            "check-abi (7.3, 7.2, 6.19)",
            &["xtask", "check-abi", "--all-pinned"],
        ),
        step("regen-abi --check", &["xtask", "regen-abi", "--check"]),
        step("benches compile", &["build", "-p", "benches", "--benches"]),
    ];
    steps.extend(standalone_steps());
    if !args.quick {
        let msrv = msrv(root)?;
        ensure_toolchain(&msrv, &[])?;
        let mut s = toolchain_step(
            "MSRV build (rust-version)",
            &msrv,
            &[
                "check",
                "-p",
                "zcrx-uapi",
                "-p",
                "zcrx-ring",
                "-p",
                "zcrx-notif",
                "-p",
                "zcrx-examples",
            ],
        );
        s.env.push((
            "CARGO_TARGET_DIR",
            root.join("target/msrv").display().to_string(),
        ));
        steps.push(s);

        ensure_toolchain("nightly", &["miri", "rust-src"])?;
        let mut s = toolchain_step(
            "miri (ring parsing, refill indices, uapi)",
            "nightly",
            &[
                "miri",
                "test",
                "-p",
                "zcrx-ring",
                "--lib",
                "--",
                "ring::",
                "refill::",
                "--skip",
                "arbitrary",
            ],
        );
        s.env.push(("MIRIFLAGS", "-Zmiri-tree-borrows".to_owned()));
        steps.push(s);
        let mut s = toolchain_step(
            "miri (io-uring conversions)",
            "nightly",
            &[
                "miri",
                "test",
                "-p",
                "zcrx-ring",
                "--features",
                "io-uring",
                "--lib",
                "--",
                "io_uring::layout::tests::values",
                "io_uring::layout::tests::parameters",
                "io_uring::layout::tests::zcrx_structs",
                "io_uring::receiver::tests::completions",
                "io_uring::epoch",
            ],
        );
        s.env.push(("MIRIFLAGS", "-Zmiri-tree-borrows".to_owned()));
        steps.push(s);
        let mut s = toolchain_step(
            "miri (zcrx-uapi)",
            "nightly",
            &["miri", "test", "-p", "zcrx-uapi", "--lib"],
        );
        s.env.push(("MIRIFLAGS", "-Zmiri-tree-borrows".to_owned()));
        steps.push(s);

        let mut s = step(
            "loom model of the refill producer",
            &[
                "test",
                "-p",
                "zcrx-ring",
                "--release",
                "--lib",
                "--",
                "refill::loom_model",
            ],
        );
        s.env.push(("RUSTFLAGS", "--cfg loom".to_owned()));
        s.env.push((
            "CARGO_TARGET_DIR",
            root.join("target/loom").display().to_string(),
        ));
        steps.push(s);

        // Runs the library under valgrind (callgrind) and prints the hot
        // paths' instructions per buffer beside the C baselines: a report,
        // not a pass/fail on the figures.
        steps.push(step(
            "instruction counts (callgrind)",
            &[
                "run",
                "--release",
                "-q",
                "-p",
                "benches",
                "--bin",
                "icount",
                "--",
                "--quick",
            ],
        ));
    }
    if !args.skip_vm {
        steps.push(step("vm-test (7.3, 7.2, 6.19)", &["xtask", "vm-test"]));
    }
    Ok(steps)
}

/// Runs every step; exit 0 only if all pass.
pub fn ci(args: &CiArgs) -> ExitCode {
    let root = workspace_root();
    let steps = match steps(args, &root) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: xtask ci: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let mut results: Vec<(&str, Duration, bool)> = Vec::new();
    for s in &steps {
        eprintln!(
            "\n==> xtask ci: {} ({} {})",
            s.name,
            s.program,
            s.args.join(" ")
        );
        let t = Instant::now();
        let mut cmd = Command::new(&s.program);
        cmd.args(&s.args).current_dir(&root);
        for (k, v) in &s.env {
            cmd.env(k, v);
        }
        let ok = match cmd.status() {
            Ok(status) => status.success(),
            Err(e) => {
                eprintln!("error: xtask ci: cannot run {}: {e}", s.program);
                false
            }
        };
        results.push((s.name, t.elapsed(), ok));
        if !ok && !args.keep_going {
            break;
        }
    }
    eprintln!("\nxtask ci summary");
    for (name, took, ok) in &results {
        eprintln!(
            "  {:<45} {:>7.1}s  {}",
            name,
            took.as_secs_f64(),
            if *ok { "ok" } else { "FAILED" }
        );
    }
    let failed = results.iter().filter(|r| !r.2).count();
    let skipped = steps.len() - results.len();
    eprintln!(
        "xtask ci: {} of {} steps passed{} in {:.0} s",
        results.len() - failed,
        steps.len(),
        if skipped > 0 {
            format!(", {skipped} not run")
        } else {
            String::new()
        },
        started.elapsed().as_secs_f64()
    );
    if failed == 0 && skipped == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
