//! What the headers declare, from clang's front end: every struct (with its
//! members, anonymous unions and structs flattened in), every enumerator
//! (`clang -Xclang -ast-dump=json -fsyntax-only`) and every `#define`
//! (`clang -E -dD`), each attributed to the header file that declares it.
//!
//! Values and layouts are left to [`super::cprobe`]; this module only needs
//! names, member types and files. Clang is Debian's `clang` package,
//! installed by xtask when it runs as root (see [`crate::debian::ensure_tool`]).
//!
//! Clang's JSON dump names a location's file only when it differs from the
//! previous location it printed, so the locations are followed in document
//! order (`serde_json`'s `preserve_order`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::AbiError;
use super::headers::HeaderTree;

/// The type of a struct member, as clang spells it (`__u32`, `__u64[9]`,
/// `struct io_uring_zcrx_offsets`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CType(pub String);

impl fmt::Display for CType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl CType {
    /// The Rust spelling of this type in a `#[repr(C)]` mirror (`__u64[9]`
    /// → `[u64; 9]`, `struct foo` → `foo`), or `None` when there is no
    /// single obvious one (pointers, plain `int`, anonymous records).
    pub fn rust_equivalent(&self) -> Option<String> {
        let (base, dims) = match self.0.find('[') {
            Some(i) => (self.0[..i].trim(), &self.0[i..]),
            None => (self.0.trim(), ""),
        };
        if base.contains(['*', '(']) {
            return None;
        }
        let mut ty = match base {
            "__u8" | "__aligned_u8" => "u8".to_owned(),
            "__u16" | "__aligned_u16" | "__be16" | "__le16" => "u16".to_owned(),
            "__u32" | "__aligned_u32" | "__be32" | "__le32" => "u32".to_owned(),
            "__u64" | "__aligned_u64" | "__aligned_be64" | "__aligned_le64" | "__be64"
            | "__le64" => "u64".to_owned(),
            "__s8" => "i8".to_owned(),
            "__s16" => "i16".to_owned(),
            "__s32" => "i32".to_owned(),
            "__s64" | "__aligned_s64" => "i64".to_owned(),
            other => {
                let tag = other
                    .strip_prefix("struct ")
                    .or_else(|| other.strip_prefix("union "))?;
                if !tag.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
                    return None;
                }
                tag.to_owned()
            }
        };
        let dims: Vec<&str> = dims
            .split(['[', ']'])
            .filter(|d| !d.trim().is_empty())
            .collect();
        for d in dims.iter().rev() {
            let n: u64 = d.trim().parse().ok()?;
            ty = format!("[{ty}; {n}]");
        }
        Some(ty)
    }
}

/// One member of a struct, possibly reached through anonymous unions or
/// structs (`offsetof(struct s, name)` works for it in C).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CMember {
    /// The member's name.
    pub name: String,
    /// Its declared type.
    pub ty: CType,
}

/// A struct (or union) definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CStruct {
    /// The tag.
    pub name: String,
    /// Every named member in declaration order, with members of anonymous
    /// unions and structs flattened in.
    pub members: Vec<CMember>,
}

/// One enumerator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CEnumerator {
    /// Its name.
    pub name: String,
    /// The tag of its enum, `None` for an anonymous enum.
    pub enum_tag: Option<String>,
}

/// One `#define`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CDefine {
    /// The macro's name.
    pub name: String,
    /// Whether it takes parameters (`#define F(x) ...`).
    pub function_like: bool,
    /// The replacement text, trimmed (empty for an include guard).
    pub body: String,
}

impl CDefine {
    /// Parses what follows `#define ` on a line of `clang -E -dD` output.
    pub fn parse(rest: &str) -> Option<Self> {
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            return None;
        }
        let after = &rest[end..];
        let function_like = after.starts_with('(');
        let body = if function_like {
            after.split_once(')').map_or("", |(_, b)| b)
        } else {
            after
        };
        Some(CDefine {
            name: rest[..end].to_owned(),
            function_like,
            body: body.trim().to_owned(),
        })
    }
}

/// Everything a header declares that the ABI check cares about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CHeader {
    /// Struct and union definitions, in order.
    pub structs: Vec<CStruct>,
    /// Enumerators, in order.
    pub enumerators: Vec<CEnumerator>,
    /// Macro definitions, in order.
    pub defines: Vec<CDefine>,
}

impl CHeader {
    /// Looks a struct up by its tag.
    pub fn find_struct(&self, name: &str) -> Option<&CStruct> {
        self.structs.iter().find(|s| s.name == name)
    }

    /// Keeps only the items whose name, or whose enum's tag, contains
    /// `needle` (ASCII case-insensitive). Used to cut the ZCRX part out of
    /// a `linux/io_uring.h` that predates `linux/io_uring/zcrx.h`.
    pub fn retain_named(&mut self, needle: &str) {
        let needle = needle.to_ascii_lowercase();
        let has = |s: &str| s.to_ascii_lowercase().contains(&needle);
        self.structs.retain(|s| has(&s.name));
        self.enumerators
            .retain(|e| has(&e.name) || e.enum_tag.as_deref().is_some_and(has));
        self.defines.retain(|d| has(&d.name));
    }

    /// Adds everything `other` declares.
    pub fn extend(&mut self, other: &CHeader) {
        self.structs.extend_from_slice(&other.structs);
        self.enumerators.extend_from_slice(&other.enumerators);
        self.defines.extend_from_slice(&other.defines);
    }
}

/// The declarations of every header of a tree that `headers` (paths
/// relative to the tree, `linux/io_uring.h`) pulls in, by relative path.
pub fn declarations(
    clang: &Path,
    tree: &HeaderTree,
    headers: &[&str],
) -> Result<BTreeMap<String, CHeader>, AbiError> {
    let source: String = headers
        .iter()
        .map(|h| format!("#include <{h}>\n"))
        .collect();
    let relative = |file: &str| relative_path(tree, file);
    let ast = run(
        clang,
        tree,
        &source,
        &["-fsyntax-only", "-Xclang", "-ast-dump=json"],
    )?;
    let ast: Value = serde_json::from_str(&ast).map_err(|e| AbiError::FrontEnd {
        detail: format!("clang's JSON AST does not parse: {e}"),
    })?;
    let mut out: BTreeMap<String, CHeader> = BTreeMap::new();
    let mut file = String::new();
    for decl in ast["inner"].as_array().into_iter().flatten() {
        let mut decl_file = None;
        for (key, value) in decl.as_object().into_iter().flatten() {
            follow_locations(value, &mut file);
            if key == "loc" {
                decl_file = relative(&file);
            }
        }
        if let Some(rel) = decl_file {
            add_declaration(out.entry(rel).or_default(), decl);
        }
    }
    let macros = run(clang, tree, &source, &["-E", "-dD"])?;
    for (file, define) in defines(&macros) {
        if let Some(rel) = relative(file) {
            out.entry(rel).or_default().defines.push(define);
        }
    }
    Ok(out)
}

/// Runs clang on `source` against the tree only (`-nostdinc`); its stdout.
fn run(clang: &Path, tree: &HeaderTree, source: &str, args: &[&str]) -> Result<String, AbiError> {
    let dir = super::target_dir().join("zcrx-abi");
    std::fs::create_dir_all(&dir).map_err(|e| AbiError::io(&dir, "create", e))?;
    let file = dir.join(format!("headers-{}.c", std::process::id()));
    std::fs::write(&file, source).map_err(|e| AbiError::io(&file, "write", e))?;
    let mut cmd = Command::new(clang);
    cmd.args(["-x", "c", "-std=gnu11", "-nostdinc", "-w", "-I"])
        .arg(&tree.include);
    if let Some(m) = &tree.multiarch {
        cmd.arg("-I").arg(m);
    }
    let out = cmd
        .args(args)
        .arg(&file)
        .output()
        .map_err(|e| AbiError::Io {
            what: format!("run {}", clang.display()),
            err: e,
        })?;
    if !out.status.success() {
        return Err(AbiError::CompileFailed {
            compiler: clang.display().to_string(),
            c_file: file,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    let _ = std::fs::remove_file(&file);
    String::from_utf8(out.stdout).map_err(|e| AbiError::FrontEnd {
        detail: format!("clang printed something that is not UTF-8: {e}"),
    })
}

/// A file clang names, relative to the tree (`linux/io_uring.h`), if it is
/// in the tree.
fn relative_path(tree: &HeaderTree, file: &str) -> Option<String> {
    let file = PathBuf::from(file);
    [Some(&tree.include), tree.multiarch.as_ref()]
        .into_iter()
        .flatten()
        .find_map(|dir| file.strip_prefix(dir).ok())
        .map(|p| p.to_string_lossy().into_owned())
}

/// Follows every location in `v` in document order: a location object (one
/// with an `offset`) that names a `file` makes it the current one.
/// (`includedFrom` objects name a file without being a location.)
fn follow_locations(v: &Value, file: &mut String) {
    match v {
        Value::Object(map) => {
            if let (true, Some(Value::String(f))) = (map.contains_key("offset"), map.get("file")) {
                f.clone_into(file);
            }
            for (key, value) in map {
                if key != "includedFrom" {
                    follow_locations(value, file);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| follow_locations(i, file)),
        _ => {}
    }
}

/// Adds a top-level declaration (a struct or union definition, or an enum)
/// to `header`.
fn add_declaration(header: &mut CHeader, decl: &Value) {
    let name = decl["name"].as_str();
    match decl["kind"].as_str() {
        Some("RecordDecl") if decl["completeDefinition"] == true => {
            if let Some(name) = name {
                let mut members = Vec::new();
                record_members(decl, &mut members);
                header.structs.push(CStruct {
                    name: name.to_owned(),
                    members,
                });
            }
        }
        Some("EnumDecl") => {
            for c in decl["inner"].as_array().into_iter().flatten() {
                if let (Some("EnumConstantDecl"), Some(n)) =
                    (c["kind"].as_str(), c["name"].as_str())
                {
                    header.enumerators.push(CEnumerator {
                        name: n.to_owned(),
                        enum_tag: name.map(str::to_owned),
                    });
                }
            }
        }
        _ => {}
    }
}

/// The named members of a record, with those of its anonymous members (an
/// unnamed field whose record definition precedes it) flattened in.
fn record_members(record: &Value, out: &mut Vec<CMember>) {
    let mut anonymous: Option<&Value> = None;
    for child in record["inner"].as_array().into_iter().flatten() {
        match (child["kind"].as_str(), child["name"].as_str()) {
            (Some("RecordDecl"), None) => anonymous = Some(child),
            (Some("FieldDecl"), Some(name)) => out.push(CMember {
                name: name.to_owned(),
                ty: CType(child["type"]["qualType"].as_str().unwrap_or("?").to_owned()),
            }),
            (Some("FieldDecl"), None) => {
                if let Some(inner) = anonymous.take() {
                    record_members(inner, out);
                }
            }
            _ => {}
        }
    }
}

/// `(file, macro)` of every `#define` in `clang -E -dD` output, the file
/// taken from the preceding line marker (`# 12 "path" 1`).
fn defines(preprocessed: &str) -> Vec<(&str, CDefine)> {
    let mut file = "";
    let mut out = Vec::new();
    for line in preprocessed.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            if let Some((_, quoted)) = rest.split_once(" \"") {
                file = quoted.rsplit_once('"').map_or(quoted, |(f, _)| f);
            }
        } else if let Some(define) = line.strip_prefix("#define ").and_then(CDefine::parse) {
            out.push((file, define));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_equivalents() {
        let r = |t: &str| CType(t.to_owned()).rust_equivalent();
        assert_eq!(r("__u32").as_deref(), Some("u32"));
        assert_eq!(r("__u64[9]").as_deref(), Some("[u64; 9]"));
        assert_eq!(r("__u8[2][3]").as_deref(), Some("[[u8; 3]; 2]"));
        assert_eq!(r("__u8[0]").as_deref(), Some("[u8; 0]"));
        assert_eq!(r("__s32").as_deref(), Some("i32"));
        assert_eq!(
            r("struct io_uring_zcrx_offsets").as_deref(),
            Some("io_uring_zcrx_offsets")
        );
        assert_eq!(r("__u64 *"), None);
        assert_eq!(r("int"), None);
        assert_eq!(r("union io_uring_sqe::(anonymous at x.h:1:2)"), None);
    }

    #[test]
    fn locations_are_followed_in_document_order() {
        // The file is named once, then implied; `includedFrom` is no location.
        let ast: Value = serde_json::from_str(
            r#"{"inner": [
                {"kind": "RecordDecl", "name": "a", "completeDefinition": true,
                 "loc": {"offset": 1, "file": "/t/linux/io_uring/zcrx.h", "line": 3,
                         "includedFrom": {"file": "/t/x.c"}},
                 "inner": [{"kind": "FieldDecl", "name": "len", "type": {"qualType": "__u32"},
                            "loc": {"offset": 9}}]},
                {"kind": "EnumDecl", "loc": {"offset": 20, "includedFrom": {"file": "/t/x.c"}},
                 "inner": [{"kind": "EnumConstantDecl", "name": "ZCRX_X"}]},
                {"kind": "RecordDecl", "name": "b", "completeDefinition": true,
                 "loc": {"spellingLoc": {"offset": 5, "file": "<scratch space>"},
                         "expansionLoc": {"offset": 7, "file": "/t/linux/io_uring.h"}}}
            ]}"#,
        )
        .unwrap();
        let mut file = String::new();
        let mut seen = Vec::new();
        for decl in ast["inner"].as_array().unwrap() {
            for (key, value) in decl.as_object().unwrap() {
                follow_locations(value, &mut file);
                if key == "loc" {
                    seen.push(file.clone());
                }
            }
        }
        assert_eq!(
            seen,
            [
                "/t/linux/io_uring/zcrx.h",
                "/t/linux/io_uring/zcrx.h",
                "/t/linux/io_uring.h"
            ]
        );
        let mut h = CHeader::default();
        for decl in ast["inner"].as_array().unwrap() {
            add_declaration(&mut h, decl);
        }
        assert_eq!(h.structs[0].members[0].ty.0, "__u32");
        assert_eq!(h.enumerators[0].name, "ZCRX_X");
        assert_eq!(h.enumerators[0].enum_tag, None);
    }

    #[test]
    fn anonymous_members_are_flattened() {
        let rec: Value = serde_json::from_str(
            r#"{"inner": [
                {"kind": "FieldDecl", "name": "a", "type": {"qualType": "__u8"}},
                {"kind": "RecordDecl", "tagUsed": "union", "inner": [
                    {"kind": "FieldDecl", "name": "b", "type": {"qualType": "__u32"}},
                    {"kind": "RecordDecl", "tagUsed": "struct", "inner": [
                        {"kind": "FieldDecl", "name": "c", "type": {"qualType": "__u16"}}]},
                    {"kind": "FieldDecl", "isImplicit": true, "type": {"qualType": "struct (anonymous)"}}]},
                {"kind": "FieldDecl", "isImplicit": true, "type": {"qualType": "union (anonymous)"}},
                {"kind": "IndirectFieldDecl", "name": "b"},
                {"kind": "RecordDecl", "tagUsed": "struct", "inner": [
                    {"kind": "FieldDecl", "name": "hidden", "type": {"qualType": "__u8"}}]},
                {"kind": "FieldDecl", "name": "named", "type": {"qualType": "struct (unnamed)"}}
            ]}"#,
        )
        .unwrap();
        let mut members = Vec::new();
        record_members(&rec, &mut members);
        let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "named"]);
    }

    #[test]
    fn macros_with_their_files() {
        let out = "# 1 \"<built-in>\" 1\n#define __STDC__ 1\n\
                   # 1 \"/t/linux/io_uring/zcrx.h\" 1\n#define LINUX_IO_ZCRX_H \n\
                   #define IORING_ZCRX_AREA_SHIFT 48\n#define F(x) ((x) + 1)\n\
                   # 14 \"/t/linux/io_uring.h\" 2\n#define IORING_SETUP_X (1U << 2)\n";
        let found: Vec<String> = defines(out)
            .iter()
            .map(|(f, d)| format!("{f} {} {} {:?}", d.name, d.function_like, d.body))
            .collect();
        assert_eq!(
            found,
            [
                "<built-in> __STDC__ false \"1\"",
                "/t/linux/io_uring/zcrx.h LINUX_IO_ZCRX_H false \"\"",
                "/t/linux/io_uring/zcrx.h IORING_ZCRX_AREA_SHIFT false \"48\"",
                "/t/linux/io_uring/zcrx.h F true \"((x) + 1)\"",
                "/t/linux/io_uring.h IORING_SETUP_X false \"(1U << 2)\"",
            ]
        );
    }
}
