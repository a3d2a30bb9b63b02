//! Prints the Rust/C time ratios of the last criterion run, and keeps a
//! record of runs to report medians over several of them.
//!
//! ```text
//! cargo run -p benches --bin ratios                     # the last run
//! cargo run -p benches --bin ratios -- --record FILE    # append it to FILE
//! cargo run -p benches --bin ratios -- --median FILE    # medians over FILE
//! ```
//!
//! The ratio is the median time per iteration of `rust` divided by that of
//! `c`, for each benchmark; below 1.0, Rust is faster.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::ExitCode;

use benches::report::{self, criterion_dir, current, table};

fn usage() -> ExitCode {
    eprintln!("usage: ratios [--record FILE | --median FILE]");
    ExitCode::from(2)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = criterion_dir();
    match args.as_slice() {
        [] => {
            let results = current(&dir, None);
            if results.is_empty() {
                eprintln!(
                    "no criterion results under {}: run `cargo bench -p benches` first",
                    dir.display()
                );
                return ExitCode::FAILURE;
            }
            print!("{}", table(&results, &[], ""));
            ExitCode::SUCCESS
        }
        [flag, file] if flag == "--record" => {
            let results = current(&dir, None);
            if results.is_empty() {
                eprintln!("no criterion results under {}", dir.display());
                return ExitCode::FAILURE;
            }
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let line = serde_json::json!({
                "unix_time": secs,
                "loadavg_1min": loadavg(),
                "median_ns": results,
            });
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
                .and_then(|mut f| writeln!(f, "{line}"));
            if let Err(e) = written {
                eprintln!("{file}: {e}");
                return ExitCode::FAILURE;
            }
            print!("{}", table(&results, &[], ""));
            ExitCode::SUCCESS
        }
        [flag, file] if flag == "--median" => {
            let text = match std::fs::read_to_string(file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{file}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let mut runs: Vec<BTreeMap<String, f64>> = Vec::new();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    eprintln!("{file}: skipping a line that is not JSON");
                    continue;
                };
                let Some(m) = v.get("median_ns").and_then(|m| m.as_object()) else {
                    continue;
                };
                runs.push(
                    m.iter()
                        .filter_map(|(id, ns)| Some((id.clone(), ns.as_f64()?)))
                        .collect(),
                );
            }
            let mut all: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for run in &runs {
                for (id, ns) in run {
                    all.entry(id.clone()).or_default().push(*ns);
                }
            }
            let medians: BTreeMap<String, f64> = all
                .into_iter()
                .filter_map(|(id, mut v)| report::median(&mut v).map(|m| (id, m)))
                .collect();
            let ratios = report::run_ratio_medians(&runs);
            print!(
                "{}",
                report::table_with_runs(
                    &medians,
                    Some(&ratios),
                    &[],
                    &format!(", medians of {} runs", runs.len())
                )
            );
            ExitCode::SUCCESS
        }
        _ => usage(),
    }
}
