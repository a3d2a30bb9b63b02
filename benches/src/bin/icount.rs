//! Instructions per buffer of every hot path, Rust beside the two C
//! baselines, counted by callgrind: the same for the same binary and
//! inputs whatever else the machine is doing, unlike time.
//!
//! ```text
//! cargo run --release -p benches --bin icount            # every case
//! cargo run --release -p benches --bin icount -- --quick # fewer iterations
//! ```
//!
//! Each case runs twice under `valgrind --tool=callgrind`, with `N` and
//! `2N` iterations, in a child process (this program, re-executed); the
//! difference divided by `N` times the buffers per iteration is the cost per
//! buffer, free of setup and teardown. The model kernel consumes inline,
//! after every batch (its instructions are in every figure, the same for
//! every side). Needs valgrind: installed with apt-get when run as root,
//! otherwise named (exit 2).

use std::process::{Command, ExitCode};

use benches::hotloop::Case;

const COMPLETE: [Case; 4] = [
    Case::CompleteRust,
    Case::CompleteRustSingle,
    Case::CompleteC,
    Case::CompleteCTuned,
];
const BATCHES: [u32; 4] = [1, 8, 32, 256];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[1..]);
    }
    let quick = args.iter().any(|a| a == "--quick");
    if let Some(bad) = args.iter().find(|a| *a != "--quick") {
        eprintln!("icount: unknown argument {bad}\nusage: icount [--quick]");
        return ExitCode::from(2);
    }
    if let Err(e) = ensure_valgrind() {
        eprintln!("icount: {e}");
        return ExitCode::from(2);
    }
    let scale = if quick { 1 } else { 4 };
    match report(scale) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("icount: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--child GROUP SIDE BATCH ITERS`: runs one case (under valgrind).
fn child(args: &[String]) -> ExitCode {
    let parsed = (|| {
        let batch = args.get(2)?.parse().ok()?;
        let case = Case::parse(args.first()?, args.get(1)?, batch)?;
        Some((case, args.get(3)?.parse::<u64>().ok()?))
    })();
    let Some((case, iters)) = parsed else {
        eprintln!("icount: bad child arguments {args:?}");
        return ExitCode::from(2);
    };
    println!("{}", case.run(iters));
    ExitCode::SUCCESS
}

/// Installs valgrind as root, or names what is missing.
fn ensure_valgrind() -> Result<(), String> {
    let have = || {
        Command::new("valgrind")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if have() {
        return Ok(());
    }
    if !rustix::process::geteuid().is_root() {
        return Err("valgrind is not installed: run `apt-get install valgrind` as root".into());
    }
    eprintln!("icount: installing valgrind (apt-get install -y valgrind)");
    let ok = Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", "valgrind"])
        .status()
        .is_ok_and(|s| s.success());
    if ok && have() {
        Ok(())
    } else {
        Err("could not install valgrind with apt-get".into())
    }
}

/// Instructions callgrind counted for `iters` iterations of `case`.
fn instructions(case: Case, iters: u64) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let (group, side, batch) = case.args();
    let out = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(&exe)
        .args([
            "--child",
            group,
            side,
            &batch.to_string(),
            &iters.to_string(),
        ])
        .output()
        .map_err(|e| format!("running valgrind: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!(
            "{group} {side} {batch} under callgrind: {}\n{stderr}",
            out.status
        ));
    }
    stderr
        .lines()
        .find_map(|l| l.split("Collected :").nth(1))
        .and_then(|n| n.trim().replace(',', "").parse().ok())
        .ok_or_else(|| format!("no instruction count in callgrind's output:\n{stderr}"))
}

/// Instructions per buffer, from two runs.
fn per_buffer(case: Case, iters: u64) -> Result<f64, String> {
    let one = instructions(case, iters)?;
    let two = instructions(case, 2 * iters)?;
    Ok(two.saturating_sub(one) as f64 / (iters * case.buffers_per_iter()) as f64)
}

fn report(scale: u64) -> Result<(), String> {
    println!("instructions per buffer (callgrind; model kernel inline, in every figure)\n");
    println!(
        "{:<16} {:>9} {:>12} {:>9} {:>9} {:>14}",
        "case", "rust", "rust-single", "c", "c-tuned", "rust/c-tuned"
    );
    let complete: Vec<f64> = COMPLETE
        .iter()
        .map(|&c| per_buffer(c, 100_000 * scale))
        .collect::<Result<_, _>>()?;
    println!(
        "{:<16} {:>9.2} {:>12.2} {:>9.2} {:>9.2} {:>14.3}",
        "complete",
        complete[0],
        complete[1],
        complete[2],
        complete[3],
        complete[0] / complete[3]
    );
    for b in BATCHES {
        let iters = (200_000 / u64::from(b)).max(1_000) * scale;
        let rust = per_buffer(Case::RefillRust(b), iters)?;
        let push = per_buffer(Case::RefillRustPush(b), iters)?;
        let c = per_buffer(Case::RefillC(b), iters)?;
        let tuned = per_buffer(Case::RefillCTuned(b), iters)?;
        println!(
            "{:<16} {rust:>9.2} {push:>12.2} {c:>9.2} {tuned:>9.2} {:>14.3}",
            format!("refill/{b}"),
            rust / tuned
        );
    }
    println!(
        "\nrust: complete through Zcrx::for_each_view, refill through RefillQueue::push_with; \
         rust-single: one buf_from_completion (complete) or RefillQueue::push (refill) per buffer"
    );
    Ok(())
}
