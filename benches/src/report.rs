//! Rust/C time ratios from criterion's `estimates.json` files.
//!
//! Criterion writes, per benchmark id, `<criterion dir>/<group>/<id>/new/estimates.json`;
//! the median of the per-iteration times is read from there. A ratio below
//! 1.0 means Rust is faster than the C baseline.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One benchmark pair of the report: `<group>/<rust>[/<param>]` against
/// `<group>/<c>[/<param>]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair {
    /// The criterion group.
    pub group: &'static str,
    /// The Rust side's function name (`rust`, or `rust-push`).
    pub rust: &'static str,
    /// The C side's function name (`c`: liburing's example's steps, or
    /// `c-tuned`: the faster hand-tuned C).
    pub c: &'static str,
    /// The parameter (`"32"`), or `""` for none.
    pub param: &'static str,
    /// Buffers per iteration (for buffers per second).
    pub elements: u64,
}

impl Pair {
    /// The Rust side's id inside its group.
    pub fn rust_id(&self) -> String {
        self.id(self.rust)
    }

    /// The C side's id inside its group.
    pub fn c_id(&self) -> String {
        self.id(self.c)
    }

    fn id(&self, side: &str) -> String {
        if self.param.is_empty() {
            side.to_owned()
        } else {
            format!("{side}/{}", self.param)
        }
    }

    /// The row label (`refill/32`, `refill/32 push`, `refill/32 tuned`).
    pub fn label(&self) -> String {
        let mut label = if self.param.is_empty() {
            self.group.to_owned()
        } else {
            format!("{}/{}", self.group, self.param)
        };
        if let Some(variant) = self.rust.strip_prefix("rust-") {
            label.push(' ');
            label.push_str(variant);
        }
        if self.c != "c" {
            label.push_str(" tuned");
        }
        label
    }
}

/// The batch sizes of the `refill` group.
pub const REFILL_BATCHES: [u32; 4] = [1, 8, 32, 256];

const fn pair(
    group: &'static str,
    rust: &'static str,
    c: &'static str,
    param: &'static str,
    elements: u64,
) -> Pair {
    Pair {
        group,
        rust,
        c,
        param,
        elements,
    }
}

/// Every pair the benchmarks produce, in report order: `rust/<batch>`
/// (`RefillQueue::push_with`) against `c/<batch>` (liburing's example's
/// steps) and against `c-tuned/<batch>`, and `rust-push/<batch>` (one
/// `RefillQueue::push` per entry, what a dropped view does) against `c`;
/// `complete` (`rust`: `Zcrx::for_each_view`, `rust-single`: one
/// `Zcrx::buf_from_completion` per completion) against both C sides;
/// `stats`.
pub const PAIRS: [Pair; 17] = [
    pair("refill", "rust", "c", "1", 1),
    pair("refill", "rust", "c", "8", 8),
    pair("refill", "rust", "c", "32", 32),
    pair("refill", "rust", "c", "256", 256),
    pair("refill", "rust", "c-tuned", "1", 1),
    pair("refill", "rust", "c-tuned", "8", 8),
    pair("refill", "rust", "c-tuned", "32", 32),
    pair("refill", "rust", "c-tuned", "256", 256),
    pair("refill", "rust-push", "c", "1", 1),
    pair("refill", "rust-push", "c", "8", 8),
    pair("refill", "rust-push", "c", "32", 32),
    pair("refill", "rust-push", "c", "256", 256),
    pair("complete", "rust", "c", "", 1),
    pair("complete", "rust", "c-tuned", "", 1),
    pair("complete", "rust-single", "c", "", 1),
    pair("complete", "rust-single", "c-tuned", "", 1),
    pair("stats", "rust", "c", "", 1),
];

/// Criterion's output directory, found the way criterion finds it:
/// `$CRITERION_HOME`, `$CARGO_TARGET_DIR/criterion`, else the `criterion`
/// directory of the target directory that holds the running executable.
pub fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return Path::new(&target).join("criterion");
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1) {
            if dir.join("criterion").is_dir() {
                return dir.join("criterion");
            }
            if dir.join("CACHEDIR.TAG").is_file() {
                return dir.join("criterion");
            }
        }
    }
    PathBuf::from("target/criterion")
}

/// A median time read from an estimates file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// Median time per iteration, in nanoseconds.
    pub median_ns: f64,
    /// When the file was written.
    pub written: Option<SystemTime>,
}

/// Reads the median of `<dir>/<group>/<id>/new/estimates.json`.
pub fn read_estimate(dir: &Path, group: &str, id: &str) -> Option<Estimate> {
    let path = dir.join(group).join(id).join("new").join("estimates.json");
    let text = std::fs::read_to_string(&path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let median_ns = json.get("median")?.get("point_estimate")?.as_f64()?;
    let written = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
    Some(Estimate { median_ns, written })
}

/// The current results: `"<group>/<id>"` to median nanoseconds per
/// iteration, only for estimates written at or after `since` (if given).
pub fn current(dir: &Path, since: Option<SystemTime>) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for pair in PAIRS {
        for id in [pair.rust_id(), pair.c_id()] {
            if out.contains_key(&format!("{}/{id}", pair.group)) {
                continue;
            }
            let Some(est) = read_estimate(dir, pair.group, &id) else {
                continue;
            };
            if let (Some(since), Some(written)) = (since, est.written) {
                if written < since {
                    continue;
                }
            }
            out.insert(format!("{}/{id}", pair.group), est.median_ns);
        }
    }
    out
}

fn fmt_time(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.3} µs", ns / 1000.0)
    } else {
        format!("{ns:.3} ns")
    }
}

fn fmt_rate(elements: u64, ns: f64) -> String {
    let per_s = elements as f64 / ns * 1e9;
    if per_s >= 1e9 {
        format!("{:.2} G/s", per_s / 1e9)
    } else {
        format!("{:.1} M/s", per_s / 1e6)
    }
}

/// A table of the pairs of `groups` (all if empty) present in `results`,
/// with times, buffers per second and the Rust/C ratio.
pub fn table(results: &BTreeMap<String, f64>, groups: &[&str], note: &str) -> String {
    table_with_runs(results, None, groups, note)
}

/// The Rust/C ratio of every pair in each run, then its median over the
/// runs (`"refill/32"` style labels): steadier than the ratio of the
/// medians when the machine's load changes between runs.
pub fn run_ratio_medians(runs: &[BTreeMap<String, f64>]) -> BTreeMap<String, (f64, usize)> {
    let mut out = BTreeMap::new();
    for pair in PAIRS {
        let mut ratios: Vec<f64> = runs
            .iter()
            .filter_map(|r| {
                let rust = r.get(&format!("{}/{}", pair.group, pair.rust_id()))?;
                let c = r.get(&format!("{}/{}", pair.group, pair.c_id()))?;
                (*c > 0.0).then(|| rust / c)
            })
            .collect();
        let n = ratios.len();
        if let Some(m) = median(&mut ratios) {
            out.insert(pair.label(), (m, n));
        }
    }
    out
}

/// [`table`], with a last column of per-run ratio medians when given.
pub fn table_with_runs(
    results: &BTreeMap<String, f64>,
    run_ratios: Option<&BTreeMap<String, (f64, usize)>>,
    groups: &[&str],
    note: &str,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Rust/C time ratios{note} (below 1.0: Rust is faster)");
    let _ = write!(
        s,
        "{:<22} {:>12} {:>12} {:>11} {:>11} {:>8}",
        "benchmark", "rust", "c", "rust buf/s", "c buf/s", "rust/c"
    );
    if run_ratios.is_some() {
        let _ = write!(s, " {:>15}", "median of runs");
    }
    s.push('\n');
    for pair in PAIRS {
        if !groups.is_empty() && !groups.contains(&pair.group) {
            continue;
        }
        let rust = results.get(&format!("{}/{}", pair.group, pair.rust_id()));
        let c = results.get(&format!("{}/{}", pair.group, pair.c_id()));
        if rust.is_none() && c.is_none() {
            continue;
        }
        let cell = |v: Option<&f64>| v.map_or_else(|| "-".to_owned(), |&ns| fmt_time(ns));
        let rate =
            |v: Option<&f64>| v.map_or_else(|| "-".to_owned(), |&ns| fmt_rate(pair.elements, ns));
        let ratio = match (rust, c) {
            (Some(r), Some(c)) if *c > 0.0 => format!("{:.3}", r / c),
            _ => "n/a".to_owned(),
        };
        let _ = write!(
            s,
            "{:<22} {:>12} {:>12} {:>11} {:>11} {:>8}",
            pair.label(),
            cell(rust),
            cell(c),
            rate(rust),
            rate(c),
            ratio
        );
        if let Some(rr) = run_ratios {
            match rr.get(&pair.label()) {
                Some((m, n)) => {
                    let _ = write!(s, " {:>9.3} (n={n})", m);
                }
                None => {
                    let _ = write!(s, " {:>15}", "n/a");
                }
            }
        }
        s.push('\n');
    }
    s
}

/// Prints the ratios of `groups` measured since `since` (the end of a
/// benchmark binary's run).
pub fn print_group_ratios(groups: &[&str], since: SystemTime) {
    let dir = criterion_dir();
    let results = current(&dir, Some(since));
    if results.is_empty() {
        // `--list`, `--test`, or a filter that ran nothing here.
        return;
    }
    println!();
    print!("{}", table(&results, groups, ""));
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_labels() {
        assert_eq!(PAIRS[2].rust_id(), "rust/32");
        assert_eq!(PAIRS[2].c_id(), "c/32");
        assert_eq!(PAIRS[6].c_id(), "c-tuned/32");
        assert_eq!(PAIRS[6].label(), "refill/32 tuned");
        assert_eq!(PAIRS[10].rust_id(), "rust-push/32");
        assert_eq!(PAIRS[10].label(), "refill/32 push");
        assert_eq!(PAIRS[12].rust_id(), "rust");
        assert_eq!(PAIRS[12].label(), "complete");
        assert_eq!(PAIRS[13].label(), "complete tuned");
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn reads_criterion_estimates() {
        let dir = std::env::temp_dir().join(format!("zcrx-bench-report-{}", std::process::id()));
        let est = dir.join("refill/c/32/new");
        std::fs::create_dir_all(&est).unwrap();
        std::fs::write(
            est.join("estimates.json"),
            r#"{"mean":{"point_estimate":80.0},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":70.0,"upper_bound":90.0},"point_estimate":75.5}}"#,
        )
        .unwrap();
        let results = current(&dir, None);
        assert_eq!(results.get("refill/c/32"), Some(&75.5));
        let t = table(&results, &[], "");
        assert!(t.contains("refill/32"), "{t}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
