//! `cargo xtask check-abi` and `cargo xtask regen-abi`: the crate
//! `zcrx-uapi` against real Linux uapi headers.
//!
//! The crate side is read from [`zcrx_uapi::abi`] (the tables the crate's
//! own compiler computes); the header side comes from the C compiler
//! ([`cprobe`]: sizes, alignments, offsets, values) and from clang's front
//! end ([`clang`]: which items and member types each header declares).
//! [`compare`] applies the version rules; [`regen`] writes the offline
//! snapshot test.
//!
//! Exit status: 0 when everything matches, 1 when something differs (a
//! table `item | header | crate` is printed), 2 when the check could not run
//! (bad `--headers`, no C compiler, no registry …), with a message naming
//! the cause.

pub mod clang;
pub mod compare;
pub mod cprobe;
pub mod headers;
pub mod regen;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::debian::{self, FetchError};
use crate::pins;
use compare::{CrateAbi, Report};
use cprobe::Compiler;
use headers::{HeaderTree, ParsedHeaders};

/// Why a command could not run (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum AbiError {
    /// `--headers DIR` is not a uapi include tree.
    #[error(
        "{} is not a Linux uapi include tree: {reason} (expected a directory holding \
         linux/io_uring.h and linux/version.h, such as /usr/include or the usr/include of \
         `make headers_install`)",
        dir.display()
    )]
    NoHeaders {
        /// The directory given.
        dir: PathBuf,
        /// What is wrong with it (`linux/io_uring.h is missing`).
        reason: String,
    },
    /// No usable C compiler.
    #[error("no C compiler found (tried {}); install gcc or clang, or set $CC", tried.join(", "))]
    NoCompiler {
        /// What was tried.
        tried: Vec<String>,
    },
    /// A compiler failed on the generated file (or clang on the headers).
    #[error("the C compiler ({compiler}) failed on {}:\n{detail}", c_file.display())]
    CompileFailed {
        /// Which compiler.
        compiler: String,
        /// The generated file (kept for inspection).
        c_file: PathBuf,
        /// The compiler's complaints.
        detail: String,
    },
    /// The compiled probe failed to run.
    #[error("the compiled probe {} failed: {detail}", exe.display())]
    ProbeFailed {
        /// The executable.
        exe: PathBuf,
        /// Status and stderr.
        detail: String,
    },
    /// The probe printed something unexpected.
    #[error("unexpected probe output: {0:?}")]
    ProbeOutput(String),
    /// Clang's output could not be read.
    #[error("clang: {detail}")]
    FrontEnd {
        /// What went wrong.
        detail: String,
    },
    /// A tool (clang) is missing and could not be installed.
    #[error("{0}")]
    MissingTool(FetchError),
    /// `--kernel-version` names no pinned kernel.
    #[error(
        "no pinned kernel matches {asked:?} (pinned: {pinned}); use --headers DIR for any other \
         uapi tree"
    )]
    UnknownKernel {
        /// What was asked for.
        asked: String,
        /// The pinned series.
        pinned: String,
    },
    /// Pinned headers could not be obtained.
    #[error("cannot obtain the pinned headers: {0}")]
    Fetch(FetchError),
    /// An I/O operation failed.
    #[error("cannot {what}: {err}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        err: std::io::Error,
    },
    /// `rustfmt` could not format the generated test.
    #[error("rustfmt failed: {0}")]
    Rustfmt(String),
}

impl AbiError {
    /// An I/O error on `path` while doing `verb` (`read`, `write` …).
    pub fn io(path: &Path, verb: &str, err: std::io::Error) -> Self {
        AbiError::Io {
            what: format!("{verb} {}", path.display()),
            err,
        }
    }
}

/// Clang from Debian's `clang` package (installed as root when missing).
pub fn find_clang() -> Result<PathBuf, AbiError> {
    crate::debian::ensure_tool("clang", "clang").map_err(AbiError::MissingTool)
}

pub use crate::debian::workspace_root;

/// The cargo target directory (`$CARGO_TARGET_DIR` or `<workspace>/target`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                workspace_root().join(d)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// Arguments of `cargo xtask check-abi`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Check against this uapi include tree (the directory holding
    /// linux/io_uring.h) instead of a pinned Debian linux-libc-dev.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["kernel_version", "all_pinned"])]
    pub headers: Option<PathBuf>,
    /// Check against the pinned linux-libc-dev of this kernel series (7.3,
    /// 7.2, 6.19); default: 7.3.
    #[arg(long, value_name = "VER", conflicts_with = "all_pinned")]
    pub kernel_version: Option<String>,
    /// Check against every pinned version, one line each.
    #[arg(long)]
    pub all_pinned: bool,
    /// Also list the items newer than the headers and the differences that
    /// versioning explains.
    #[arg(long, short)]
    pub verbose: bool,
    /// Only print the include directory that would be checked (fetching it
    /// if needed), then exit.
    #[arg(long)]
    pub print_headers_dir: bool,
}

/// Arguments of `cargo xtask regen-abi`.
#[derive(Debug, clap::Args)]
pub struct RegenArgs {
    /// Generate from this uapi include tree instead of the pinned default
    /// (Linux 7.3) linux-libc-dev.
    #[arg(long, value_name = "DIR")]
    pub headers: Option<PathBuf>,
    /// Do not write: fail (exit 1) if the committed file differs from what
    /// would be generated.
    #[arg(long)]
    pub check: bool,
}

/// Where a tree comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A directory given with `--headers`.
    Dir(PathBuf),
    /// A pinned Debian package; `None` for the default.
    Pinned(Option<String>),
}

/// Every pinned series, newest first (what `--all-pinned` checks).
fn pinned_series() -> Vec<&'static str> {
    pins::PINS.iter().map(|p| p.series).collect()
}

/// Opens the tree of `source`, fetching a pinned package if needed.
pub fn open_tree(source: &Source, cc: &Compiler) -> Result<HeaderTree, AbiError> {
    match source {
        Source::Dir(dir) => HeaderTree::open(dir, None, cc),
        Source::Pinned(sel) => {
            let pin = match sel.as_deref() {
                None => pins::default_pin(),
                Some(s) => pins::pin(s).map_err(|_| AbiError::UnknownKernel {
                    asked: s.to_owned(),
                    pinned: pinned_series().join(", "),
                })?,
            };
            let f = debian::uapi_headers(pin).map_err(AbiError::Fetch)?;
            let label = format!("{} {}", f.package, f.version);
            HeaderTree::open(&f.include_dir(), Some(label), cc)
        }
    }
}

/// The outcome of checking one tree.
pub struct Checked {
    /// The tree.
    pub tree: HeaderTree,
    /// The comparison.
    pub report: Report,
}

/// Runs the whole check against one tree.
pub fn check_tree(tree: HeaderTree, cc: &Compiler) -> Result<Checked, AbiError> {
    let krate = CrateAbi::current();
    let parsed = ParsedHeaders::read(&tree, &find_clang()?)?;
    let req = compare::request(&krate, &parsed);
    let probe = cprobe::probe(cc, &tree, &parsed.all, &req)?;
    let report = compare::compare(&krate, &parsed, &probe);
    Ok(Checked { tree, report })
}

/// Formats rows as a `|`-separated table with a header line.
pub fn table(rows: &[[&str; 3]]) -> String {
    let head = ["item", "header", "crate"];
    let mut w = [0usize; 3];
    for r in std::iter::once(&head).chain(rows) {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |r: &[&str; 3]| {
        format!(
            "{:<w0$} | {:<w1$} | {}",
            r[0],
            r[1],
            r[2],
            w0 = w[0],
            w1 = w[1]
        )
        .trim_end()
        .to_string()
    };
    let mut out = line(&head);
    out.push('\n');
    out.push_str(&format!(
        "{}-+-{}-+-{}\n",
        "-".repeat(w[0]),
        "-".repeat(w[1]),
        "-".repeat(w[2])
    ));
    for r in rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

/// Prints one tree's result; returns whether it matched.
fn print_checked(c: &Checked, verbose: bool) -> bool {
    let r = &c.report;
    let kernel = format!("Linux {} ({})", r.kernel, c.tree.label);
    if verbose {
        for (item, since) in &r.newer {
            println!("  newer than these headers: {item} (since {since})");
        }
        for n in &r.notes {
            println!("  accepted: {n}");
        }
    }
    if r.diffs.is_empty() {
        println!(
            "check-abi: {kernel}: {} structs, {} fields, {} constants match; {} newer than these headers",
            r.structs_ok,
            r.fields_ok,
            r.consts_ok,
            r.newer.len()
        );
        true
    } else {
        let rows: Vec<[&str; 3]> = r
            .diffs
            .iter()
            .map(|d| [d.item.as_str(), d.header.as_str(), d.krate.as_str()])
            .collect();
        print!("{}", table(&rows));
        println!(
            "check-abi: {kernel}: {} differences ({} structs, {} fields, {} constants match; {} newer than these headers)",
            r.diffs.len(),
            r.structs_ok,
            r.fields_ok,
            r.consts_ok,
            r.newer.len()
        );
        false
    }
}

/// `cargo xtask check-abi`.
pub fn check_abi(args: &CheckArgs) -> ExitCode {
    let sources: Vec<Source> = if let Some(dir) = &args.headers {
        vec![Source::Dir(dir.clone())]
    } else if args.all_pinned {
        pinned_series()
            .into_iter()
            .map(|s| Source::Pinned(Some(s.to_string())))
            .collect()
    } else {
        vec![Source::Pinned(args.kernel_version.clone())]
    };
    let cc = match cprobe::find_compiler() {
        Ok(cc) => cc,
        Err(e) => return fail("check-abi", &e),
    };
    let mut status = 0u8;
    for source in &sources {
        let tree = match open_tree(source, &cc) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("check-abi: error: {e}");
                status = 2;
                continue;
            }
        };
        if args.print_headers_dir {
            println!("{}", tree.include.display());
            continue;
        }
        match check_tree(tree, &cc) {
            Ok(c) => {
                if !print_checked(&c, args.verbose) && status == 0 {
                    status = 1;
                }
            }
            Err(e) => {
                eprintln!("check-abi: error: {e}");
                status = 2;
            }
        }
    }
    ExitCode::from(status)
}

fn fail(command: &str, e: &AbiError) -> ExitCode {
    eprintln!("{command}: error: {e}");
    ExitCode::from(2)
}

/// `cargo xtask regen-abi`.
pub fn regen_abi(args: &RegenArgs) -> ExitCode {
    match regen::run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => fail("regen-abi", &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let t = table(&[["a.len size", "8", "4"], ["ZCRX_REG_NODEV", "4", "2"]]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "item           | header | crate");
        assert_eq!(lines[1], "---------------+--------+------");
        assert_eq!(lines[2], "a.len size     | 8      | 4");
        assert_eq!(lines[3], "ZCRX_REG_NODEV | 4      | 2");
    }

    #[test]
    fn bad_headers_dir_names_the_cause() {
        let cc = Compiler {
            argv: vec!["cc".into()],
            origin: "cc".into(),
        };
        let dir = std::env::temp_dir().join(format!("zcrx-abi-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = HeaderTree::open(&dir, None, &cc).unwrap_err();
        assert!(e.to_string().contains("linux/io_uring.h is missing"), "{e}");
        let e = HeaderTree::open(&dir.join("nope"), None, &cc).unwrap_err();
        assert!(
            e.to_string().contains("not a Linux uapi include tree"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
