//! Asks the C compiler what the headers say: sizes, alignments, offsets and
//! values.
//!
//! Only items that clang's front end found declared in the tree
//! ([`super::clang`]) are measured; the others are recorded as absent (and
//! macros that are no integer constant, such as include guards, as
//! invalid) without compiling anything. One C file is generated into
//! `target/zcrx-abi/`, compiled against the header tree and run; it prints
//! one line per item. Any compiler error is a hard error (exit 2).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::AbiError;
use super::clang::CHeader;
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

/// One line of the generated program.
#[derive(Clone, Debug)]
enum Item {
    Struct(String),
    Field(String, String),
    Const(String),
}

/// A C identifier (the only thing the generated code interpolates).
fn is_c_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The generated C source: one `printf` per item.
fn generate(tree: &HeaderTree, items: &[Item]) -> String {
    let mut lines: Vec<String> = vec![
        "/* Generated by cargo xtask check-abi; do not edit. */".into(),
        "/* Compiled with -nostdinc: every header comes from the tree under test. */".into(),
        "int printf(const char *, ...);".into(),
        "#include <linux/version.h>".into(),
        "#include <linux/io_uring.h>".into(),
    ];
    // Include the optional headers only when this tree has them.
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
    lines.push("int main(void) {".into());
    lines.push("    printf(\"V %lu\\n\", (unsigned long)(LINUX_VERSION_CODE));".into());
    for item in items {
        lines.push(match item {
            Item::Struct(s) => format!(
                "    printf(\"S %s %zu %zu\\n\", \"{s}\", sizeof(struct {s}), _Alignof(struct {s}));"
            ),
            Item::Field(s, f) => format!(
                "    printf(\"F %s %s %zu %zu\\n\", \"{s}\", \"{f}\", __builtin_offsetof(struct {s}, {f}), \
                 sizeof(((struct {s} *)0)->{f}));"
            ),
            Item::Const(c) => format!("    ZCRX_ABI_VALUE(\"{c}\", ({c}));"),
        });
    }
    lines.push("    return 0;".into());
    lines.push("}".into());
    let mut src = lines.join("\n");
    src.push('\n');
    src
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

/// The items of `req` that `declared` (everything the tree declares, as
/// clang lists it) has, to be measured; the others are recorded in
/// `result` as absent, or as invalid for macros that are no integer
/// constant (function-like, or empty).
fn select(req: &ProbeRequest, declared: &CHeader, result: &mut ProbeResult) -> Vec<Item> {
    fn absent<T>(what: String) -> Probed<T> {
        Probed::Absent(format!("{what} is not declared in these headers"))
    }
    let mut items = Vec::new();
    for s in &req.structs {
        if declared.find_struct(s).is_some() && is_c_ident(s) {
            items.push(Item::Struct(s.clone()));
        } else {
            result
                .structs
                .insert(s.clone(), absent(format!("struct {s}")));
        }
    }
    for (s, f) in &req.fields {
        let has = declared
            .find_struct(s)
            .is_some_and(|cs| cs.members.iter().any(|m| &m.name == f));
        if has && is_c_ident(f) {
            items.push(Item::Field(s.clone(), f.clone()));
        } else {
            let what = format!("member {f} of struct {s}");
            result.fields.insert((s.clone(), f.clone()), absent(what));
        }
    }
    for c in &req.consts {
        let define = declared.defines.iter().find(|d| &d.name == c);
        let enumerator = declared.enumerators.iter().any(|e| &e.name == c);
        let probed = match define {
            _ if !is_c_ident(c) => absent(c.clone()),
            Some(d) if d.function_like => Probed::Invalid("a function-like macro".into()),
            Some(d) if d.body.is_empty() => Probed::Invalid("a macro that defines nothing".into()),
            Some(_) => {
                items.push(Item::Const(c.clone()));
                continue;
            }
            None if enumerator => {
                items.push(Item::Const(c.clone()));
                continue;
            }
            None => absent(c.clone()),
        };
        result.consts.insert(c.clone(), probed);
    }
    items
}

/// Compiles and runs the probe for `req` against `tree`, whose declarations
/// (every file of the tree that its headers pull in) are `declared`.
pub fn probe(
    cc: &Compiler,
    tree: &HeaderTree,
    declared: &CHeader,
    req: &ProbeRequest,
) -> Result<ProbeResult, AbiError> {
    let mut result = ProbeResult::default();
    let items = select(req, declared, &mut result);
    let dir = run_dir()?;
    let c_path = dir.join("probe.c");
    std::fs::write(&c_path, generate(tree, &items))
        .map_err(|e| AbiError::io(&c_path, "write", e))?;
    let mut cmd = cc.command();
    cmd.current_dir(&dir)
        .args(["-std=gnu11", "-w", "-nostdinc", "-I"])
        .arg(&tree.include);
    if let Some(m) = &tree.multiarch {
        cmd.arg("-I").arg(m);
    }
    cmd.args(["-o", "probe", "probe.c"]);
    let out = cmd.output().map_err(|e| AbiError::Io {
        what: format!("run the C compiler ({})", cc.origin),
        err: e,
    })?;
    if !out.status.success() {
        return Err(AbiError::CompileFailed {
            compiler: cc.origin.clone(),
            c_file: c_path,
            detail: excerpt(&String::from_utf8_lossy(&out.stderr)),
        });
    }

    let exe = dir.join("probe");
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
    let mut version = None;
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
                let value: i128 = w.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
                let is_macro = declared.defines.iter().any(|d| d.name == name);
                result
                    .consts
                    .insert(name, Probed::Present(ConstValue { value, is_macro }));
            }
            _ => return Err(bad()),
        }
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

#[cfg(test)]
mod tests {
    use super::super::clang::{CDefine, CEnumerator, CMember, CStruct, CType};
    use super::*;

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
    fn only_declared_items_are_measured() {
        let declared = CHeader {
            structs: vec![CStruct {
                name: "a".into(),
                members: vec![CMember {
                    name: "x".into(),
                    ty: CType("__u32".into()),
                }],
            }],
            enumerators: vec![CEnumerator {
                name: "E".into(),
                enum_tag: None,
            }],
            defines: ["D 1", "GUARD ", "F(x) x"]
                .iter()
                .map(|d| CDefine::parse(d).unwrap())
                .collect(),
        };
        let mut req = ProbeRequest::default();
        for s in ["a", "b"] {
            req.structs.insert(s.into());
        }
        for f in [("a", "x"), ("a", "y"), ("b", "x")] {
            req.fields.insert((f.0.into(), f.1.into()));
        }
        for c in ["D", "E", "GUARD", "F", "NEW"] {
            req.consts.insert(c.into());
        }
        let mut result = ProbeResult::default();
        let items = select(&req, &declared, &mut result);
        let names: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
        assert_eq!(
            names,
            [
                "Struct(\"a\")",
                "Field(\"a\", \"x\")",
                "Const(\"D\")",
                "Const(\"E\")"
            ]
        );
        assert!(matches!(result.structs["b"], Probed::Absent(_)));
        assert!(matches!(
            result.fields[&("a".into(), "y".into())],
            Probed::Absent(_)
        ));
        assert!(matches!(result.consts["GUARD"], Probed::Invalid(_)));
        assert!(matches!(result.consts["F"], Probed::Invalid(_)));
        assert!(matches!(result.consts["NEW"], Probed::Absent(_)));
        let src = generate(&HeaderTree::for_tests("/nonexistent"), &items);
        assert!(src.contains("sizeof(struct a)"));
        assert!(src.contains("__builtin_offsetof(struct a, x)"));
        assert!(src.contains("ZCRX_ABI_VALUE(\"D\", (D));"));
        assert!(!src.contains("query.h"));
    }
}
