//! Asks the C compiler what the headers say: sizes, alignments, offsets and
//! values.
//!
//! One C file is generated into `target/zcrx-abi/`, compiled against the
//! header tree and run; it prints one line per item. Every item is probed in
//! a function of its own, so an item the headers lack (an undeclared
//! enumerator, a struct without that member) makes exactly the lines of that
//! function fail to compile. Those failures are read back from the
//! compiler's diagnostics, the items are recorded as absent, and the file is
//! compiled again without them. A diagnostic anywhere else (in the headers
//! themselves, or a missing include) is a hard error.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::AbiError;
use super::headers::HeaderTree;

/// What the compiler found for one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probed<T> {
    /// The item exists; its numbers.
    Present(T),
    /// The headers do not declare it; the compiler's reason.
    Absent(String),
    /// It exists but cannot be evaluated (a macro that is not an integer
    /// constant expression); the compiler's reason.
    Invalid(String),
}

impl<T> Probed<T> {
    /// The numbers, if present.
    pub fn present(&self) -> Option<&T> {
        match self {
            Probed::Present(v) => Some(v),
            _ => None,
        }
    }
}

/// Size and alignment, or offset and size.
pub type Layout = (u64, u64);

/// The items to ask about.
#[derive(Clone, Debug, Default)]
pub struct ProbeRequest {
    /// Struct tags.
    pub structs: BTreeSet<String>,
    /// `(struct tag, member name)`.
    pub fields: BTreeSet<(String, String)>,
    /// Constant names (macros or enumerators).
    pub consts: BTreeSet<String>,
}

/// A constant as the compiler sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConstValue {
    /// The value, sign-correct.
    pub value: i128,
    /// Whether the name is a macro (`#define`) rather than an enumerator.
    pub is_macro: bool,
}

/// The compiler's answers.
#[derive(Clone, Debug, Default)]
pub struct ProbeResult {
    /// `LINUX_VERSION_CODE` of the headers.
    pub version_code: u32,
    /// Struct tag → (size, align).
    pub structs: BTreeMap<String, Probed<Layout>>,
    /// (struct tag, member) → (offset, size).
    pub fields: BTreeMap<(String, String), Probed<Layout>>,
    /// Constant → value.
    pub consts: BTreeMap<String, Probed<ConstValue>>,
}

/// A C compiler found on this machine.
#[derive(Clone, Debug)]
pub struct Compiler {
    /// The program and any arguments `$CC` carried (`ccache gcc`).
    pub argv: Vec<String>,
    /// Where it came from, for messages (`$CC=clang`, `cc`).
    pub origin: String,
}

/// Finds the C compiler: `$CC` if set (an error if it does not run), else
/// `cc`, else `gcc`.
pub fn find_compiler() -> Result<Compiler, AbiError> {
    if let Some(cc) = std::env::var_os("CC") {
        let cc = cc.to_string_lossy().into_owned();
        let argv: Vec<String> = cc.split_whitespace().map(str::to_string).collect();
        if argv.is_empty() {
            return Err(AbiError::NoCompiler {
                tried: vec!["$CC (set but empty)".into()],
            });
        }
        return if runs(&argv) {
            Ok(Compiler {
                argv,
                origin: format!("$CC={cc}"),
            })
        } else {
            Err(AbiError::NoCompiler {
                tried: vec![format!("$CC={cc}")],
            })
        };
    }
    for name in ["cc", "gcc"] {
        let argv = vec![name.to_string()];
        if runs(&argv) {
            return Ok(Compiler {
                argv,
                origin: name.to_string(),
            });
        }
    }
    Err(AbiError::NoCompiler {
        tried: vec!["$CC (unset)".into(), "cc".into(), "gcc".into()],
    })
}

/// Whether `argv --version` runs and succeeds.
fn runs(argv: &[String]) -> bool {
    Command::new(&argv[0])
        .args(&argv[1..])
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

impl Compiler {
    fn command(&self) -> Command {
        let mut c = Command::new(&self.argv[0]);
        c.args(&self.argv[1..]);
        c
    }

    /// The compiler's multiarch name (`x86_64-linux-gnu`), if it reports one.
    pub fn multiarch(&self) -> Option<String> {
        let out = self.command().arg("-print-multiarch").output().ok()?;
        let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !s.is_empty() && !s.contains(char::is_whitespace)).then_some(s)
    }
}

/// One probe function of the generated file.
#[derive(Clone, Debug)]
enum Item {
    Version,
    Struct(String),
    Field(String, String),
    /// The value of a constant.
    Const(String),
    /// Whether a constant is a macro (never fails to compile).
    IsMacro(String),
}

/// A C identifier (the only thing the generated code interpolates).
fn is_c_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The generated C source and the line range of each item's function.
fn generate(tree: &HeaderTree, items: &[Item]) -> (String, Vec<(usize, usize)>) {
    let mut lines: Vec<String> = vec![
        "/* Generated by cargo xtask check-abi; do not edit. */".into(),
        "#include <stddef.h>".into(),
        "#include <stdio.h>".into(),
        "#include <linux/version.h>".into(),
        "#include <linux/io_uring.h>".into(),
    ];
    // Include the optional headers only when this tree has them: a
    // `__has_include` would also find the build machine's own copies in
    // the system include path.
    for h in ["linux/io_uring/zcrx.h", "linux/io_uring/query.h"] {
        if tree.has(h) {
            lines.push(format!("#include <{h}>"));
        }
    }
    lines.push(
        "#define ZCRX_ABI_VALUE(name, expr) do { if ((expr) < 0) printf(\"C %s %lld\\n\", name, \
         (long long)(expr)); else printf(\"C %s %llu\\n\", name, (unsigned long long)(expr)); } \
         while (0)"
            .into(),
    );
    let mut ranges = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let start = lines.len() + 1;
        match item {
            Item::Version => lines.push(format!(
                "static void p{i}(void) {{ printf(\"V %lu\\n\", (unsigned long)(LINUX_VERSION_CODE)); }}"
            )),
            Item::Struct(s) => lines.push(format!(
                "static void p{i}(void) {{ printf(\"S %s %zu %zu\\n\", \"{s}\", sizeof(struct {s}), \
                 _Alignof(struct {s})); }}"
            )),
            Item::Field(s, f) => lines.push(format!(
                "static void p{i}(void) {{ printf(\"F %s %s %zu %zu\\n\", \"{s}\", \"{f}\", \
                 offsetof(struct {s}, {f}), sizeof(((struct {s} *)0)->{f})); }}"
            )),
            Item::Const(c) => lines.push(format!(
                "static void p{i}(void) {{ ZCRX_ABI_VALUE(\"{c}\", ({c})); }}"
            )),
            Item::IsMacro(c) => {
                lines.push(format!("static void p{i}(void) {{"));
                lines.push(format!("#ifdef {c}"));
                lines.push(format!("    printf(\"D %s\\n\", \"{c}\");"));
                lines.push("#endif".into());
                lines.push("}".into());
            }
        }
        ranges.push((start, lines.len()));
    }
    lines.push("int main(void) {".into());
    for i in 0..items.len() {
        lines.push(format!("    p{i}();"));
    }
    lines.push("    return 0;".into());
    lines.push("}".into());
    let mut src = lines.join("\n");
    src.push('\n');
    (src, ranges)
}

/// Errors the compiler reported in `file` (by line), from its diagnostics.
fn errors_in(stderr: &str, file: &str) -> Vec<(usize, String)> {
    let prefix = format!("{file}:");
    let mut out = Vec::new();
    for line in stderr.lines() {
        let Some(rest) = line.strip_prefix(&prefix) else {
            continue;
        };
        let mut parts = rest.splitn(3, ':');
        let (Some(l), Some(_col), Some(msg)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let msg = msg.trim();
        let Some(msg) = msg
            .strip_prefix("error:")
            .or_else(|| msg.strip_prefix("fatal error:"))
        else {
            continue;
        };
        if let Ok(l) = l.parse() {
            out.push((l, msg.trim().to_string()));
        }
    }
    out
}

/// The first few lines of the compiler's complaints, for error messages.
fn excerpt(stderr: &str) -> String {
    let mut lines: Vec<&str> = Vec::new();
    for l in stderr.lines().filter(|l| l.contains("error")) {
        if !lines.contains(&l) && lines.len() < 8 {
            lines.push(l);
        }
    }
    if lines.is_empty() {
        stderr.lines().take(8).collect::<Vec<_>>().join("\n")
    } else {
        lines.join("\n")
    }
}

static RUN_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory under `target/zcrx-abi/` for one probe run.
fn run_dir() -> Result<PathBuf, AbiError> {
    let n = RUN_COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = super::target_dir()
        .join("zcrx-abi")
        .join(format!("probe-{}-{n}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| AbiError::io(&dir, "clear", e))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| AbiError::io(&dir, "create", e))?;
    Ok(dir)
}

/// How many times absent items are removed and the file recompiled.
const MAX_ROUNDS: usize = 12;

/// Compiles and runs the probe for `req` against `tree`.
pub fn probe(
    cc: &Compiler,
    tree: &HeaderTree,
    req: &ProbeRequest,
) -> Result<ProbeResult, AbiError> {
    let mut items = vec![Item::Version];
    let mut result = ProbeResult::default();
    for s in &req.structs {
        if is_c_ident(s) {
            items.push(Item::Struct(s.clone()));
        } else {
            result
                .structs
                .insert(s.clone(), Probed::Absent("not a C identifier".into()));
        }
    }
    for (s, f) in &req.fields {
        if is_c_ident(s) && is_c_ident(f) {
            items.push(Item::Field(s.clone(), f.clone()));
        } else {
            result.fields.insert(
                (s.clone(), f.clone()),
                Probed::Absent("not a C identifier".into()),
            );
        }
    }
    let mut macros = BTreeSet::new();
    for c in &req.consts {
        if is_c_ident(c) {
            items.push(Item::Const(c.clone()));
            items.push(Item::IsMacro(c.clone()));
        } else {
            result
                .consts
                .insert(c.clone(), Probed::Absent("not a C identifier".into()));
        }
    }

    let dir = run_dir()?;
    let c_file = "probe.c";
    let exe = dir.join("probe");
    // Items that failed to compile, with the compiler's reason.
    let mut failed: BTreeMap<usize, String> = BTreeMap::new();
    let mut rounds = 0;
    loop {
        rounds += 1;
        let live: Vec<(usize, &Item)> = items
            .iter()
            .enumerate()
            .filter(|(i, _)| !failed.contains_key(i))
            .collect();
        let live_items: Vec<Item> = live.iter().map(|(_, it)| (*it).clone()).collect();
        let (src, ranges) = generate(tree, &live_items);
        let c_path = dir.join(c_file);
        std::fs::write(&c_path, &src).map_err(|e| AbiError::io(&c_path, "write", e))?;
        let mut cmd = cc.command();
        cmd.current_dir(&dir)
            .args(["-std=gnu11", "-w", "-MD", "-MF", "probe.d", "-I"])
            .arg(&tree.include);
        if let Some(m) = &tree.multiarch {
            cmd.arg("-I").arg(m);
        }
        cmd.arg("-o").arg("probe").arg(c_file);
        let out = cmd.output().map_err(|e| AbiError::Io {
            what: format!("run the C compiler ({})", cc.origin),
            err: e,
        })?;
        if out.status.success() {
            break;
        }
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let errors = errors_in(&stderr, c_file);
        let mut newly = 0;
        let mut unmapped = Vec::new();
        for (line, msg) in errors {
            match ranges.iter().position(|&(a, b)| a <= line && line <= b) {
                Some(k) if !matches!(live[k].1, Item::Version | Item::IsMacro(_)) => {
                    if let std::collections::btree_map::Entry::Vacant(e) = failed.entry(live[k].0) {
                        e.insert(msg);
                        newly += 1;
                    }
                }
                _ => unmapped.push(format!("{c_file}:{line}: {msg}")),
            }
        }
        if newly == 0 || !unmapped.is_empty() || rounds >= MAX_ROUNDS {
            let detail = if unmapped.is_empty() {
                excerpt(&stderr)
            } else {
                unmapped.join("\n")
            };
            return Err(AbiError::CompileFailed {
                compiler: cc.origin.clone(),
                c_file: dir.join(c_file),
                detail,
            });
        }
    }
    check_dependencies(&dir.join("probe.d"), tree)?;

    let out = Command::new(&exe).output().map_err(|e| AbiError::Io {
        what: format!("run the compiled probe {}", exe.display()),
        err: e,
    })?;
    if !out.status.success() {
        return Err(AbiError::ProbeFailed {
            exe: exe.clone(),
            detail: format!(
                "{}; {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();

    for (i, reason) in &failed {
        match &items[*i] {
            Item::Struct(s) => {
                result
                    .structs
                    .insert(s.clone(), Probed::Absent(reason.clone()));
            }
            Item::Field(s, f) => {
                result
                    .fields
                    .insert((s.clone(), f.clone()), Probed::Absent(reason.clone()));
            }
            Item::Const(_) | Item::Version | Item::IsMacro(_) => {}
        }
    }
    let mut version = None;
    let mut values: BTreeMap<String, i128> = BTreeMap::new();
    for line in stdout.lines() {
        let bad = || AbiError::ProbeOutput(line.to_string());
        let mut w = line.split(' ');
        match w.next() {
            Some("V") => version = Some(w.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?),
            Some("S") => {
                let (name, a, b) = three(&mut w).ok_or_else(bad)?;
                result.structs.insert(name, Probed::Present((a, b)));
            }
            Some("F") => {
                let s = w.next().ok_or_else(bad)?.to_string();
                let (f, a, b) = three(&mut w).ok_or_else(bad)?;
                result.fields.insert((s, f), Probed::Present((a, b)));
            }
            Some("C") => {
                let name = w.next().ok_or_else(bad)?.to_string();
                let v: i128 = w.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
                values.insert(name, v);
            }
            Some("D") => {
                macros.insert(w.next().ok_or_else(bad)?.to_string());
            }
            _ => return Err(bad()),
        }
    }
    for (i, item) in items.iter().enumerate() {
        let Item::Const(c) = item else { continue };
        let is_macro = macros.contains(c);
        let probed = match (values.get(c), failed.get(&i)) {
            (Some(&value), _) => Probed::Present(ConstValue { value, is_macro }),
            (None, Some(reason)) if is_macro => Probed::Invalid(reason.clone()),
            (None, Some(reason)) => Probed::Absent(reason.clone()),
            (None, None) => Probed::Absent("no output".into()),
        };
        result.consts.insert(c.clone(), probed);
    }
    result.version_code = version.ok_or_else(|| {
        AbiError::ProbeOutput("no LINUX_VERSION_CODE line in the probe's output".into())
    })?;
    // The run succeeded: the directory is of no further use.
    let _ = std::fs::remove_dir_all(&dir);
    Ok(result)
}

/// Parses `name a b` of a probe line.
fn three<'a>(w: &mut impl Iterator<Item = &'a str>) -> Option<(String, u64, u64)> {
    let name = w.next()?.to_string();
    let a = w.next()?.parse().ok()?;
    let b = w.next()?.parse().ok()?;
    Some((name, a, b))
}

/// Makes sure `linux/io_uring.h` and `linux/version.h` came from the tree
/// under test, not from the system's include path.
fn check_dependencies(dep_file: &Path, tree: &HeaderTree) -> Result<(), AbiError> {
    let Ok(deps) = std::fs::read_to_string(dep_file) else {
        // A compiler without -MD support still compiled: nothing to check.
        return Ok(());
    };
    let deps = deps.replace("\\\n", " ");
    for wanted in ["linux/io_uring.h", "linux/version.h"] {
        let found: Vec<&str> = deps
            .split_whitespace()
            .filter(|p| p.ends_with(wanted))
            .collect();
        let inside = found.iter().any(|p| {
            let p = Path::new(p);
            let p = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
            p.starts_with(&tree.include)
        });
        if !found.is_empty() && !inside {
            return Err(AbiError::HeadersOutsideTree {
                header: wanted,
                used: found.join(", "),
                tree: tree.include.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gcc_and_clang_diagnostics() {
        let stderr = "probe.c: In function 'p3':\n\
            probe.c:13:4: error: 'ZCRX_CTRL_ADD_AREA' undeclared (first use in this function)\n\
            probe.c:13:4: note: each undeclared identifier is reported only once\n\
            In file included from probe.c:2:\n\
            probe.c:14:17: error: 'struct zcrx_ctrl' has no member named 'zc_nope'\n\
            /x/linux/io_uring.h:9:1: error: unknown type name 'foo'\n\
            probe.c:3:10: fatal error: linux/version.h: No such file or directory\n";
        let e = errors_in(stderr, "probe.c");
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].0, 13);
        assert!(e[0].1.contains("undeclared"));
        assert_eq!(e[1].0, 14);
        assert_eq!(e[2].0, 3);
    }

    #[test]
    fn identifiers_only() {
        assert!(is_c_ident("io_uring_sqe"));
        assert!(is_c_ident("__resv"));
        assert!(!is_c_ident("a b"));
        assert!(!is_c_ident("1x"));
        assert!(!is_c_ident(""));
        assert!(!is_c_ident("x);system(\"y\""));
    }

    #[test]
    fn one_function_per_item() {
        let tree = HeaderTree::for_tests("/nonexistent");
        let items = vec![
            Item::Version,
            Item::Struct("a".into()),
            Item::IsMacro("B".into()),
            Item::Const("B".into()),
        ];
        let (src, ranges) = generate(&tree, &items);
        let lines: Vec<&str> = src.lines().collect();
        assert_eq!(ranges.len(), 4);
        assert!(lines[ranges[1].0 - 1].contains("sizeof(struct a)"));
        assert_eq!(ranges[2].1 - ranges[2].0, 4);
        assert!(lines[ranges[3].0 - 1].contains("ZCRX_ABI_VALUE(\"B\", (B))"));
        assert!(!src.contains("query.h"));
    }
}
