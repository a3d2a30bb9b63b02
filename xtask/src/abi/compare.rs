//! Compares the crate's ABI tables with what the C compiler and clang's front end
//! say about a header tree.
//!
//! # The version rules
//!
//! Let *H* be the headers' kernel version (`LINUX_VERSION_CODE`).
//!
//! - A crate item (struct, field, union member, constant) with
//!   `since <= H` must be in the headers with the crate's layout or value;
//!   anything else is a difference.
//! - A crate item with `since > H` must be **absent** from the headers: it
//!   is then reported as *newer than these headers*, which is not an error.
//!   If the headers have it (same name, and for a field the same offset and
//!   size), its `since` is wrong: a difference ("marked since 7.0 but present
//!   in 6.19 headers"). A header member that merely shares the name but not
//!   the place (6.19's `__resv[3]` where the crate has 7.2's `__resv[2]`) is
//!   a different, older member and is judged by the next rule.
//! - A member of a `zcrx.h`/`query.h` struct that the crate lacks is
//!   accepted only as the *reserved predecessor* of newer crate fields: its
//!   name is a reserved one (`__resv…`, `__pad…`, `resv…`) and every byte of
//!   it is covered by crate fields with `since > H` (6.19's
//!   `io_uring_query_zcrx.__resv1` where the crate has 7.0's `features`).
//! - A struct's size and alignment must match, unless the crate's struct
//!   grew after *H* to hold newer fields: the header's struct is then smaller,
//!   still holds every crate field with `since <= H`, and is not more aligned.
//!   Uapi structs normally grow into reserved space, so this is rare.
//! - Whether a constant is a `#define` or an enumerator is checked against
//!   headers at least as new as the crate's newest item; the crate spells
//!   constants as that kernel does, and older headers may differ (6.1 has
//!   `IORING_CQE_BUFFER_SHIFT` as an enumerator, later kernels as a macro).
//!
//! Header items of `zcrx.h` and `query.h` the crate does not mirror are
//! differences unless listed in [`zcrx_uapi::abi::OMITTED`]. For those two
//! headers the member types are checked too (`__u32` ↔ `u32`, `__u64 x[9]` ↔
//! `[u64; 9]`, `struct io_uring_zcrx_offsets` ↔ `io_uring_zcrx_offsets`), and
//! so is the header each item lives in. Member types are checked for the
//! mirrored structs of `io_uring.h` as well.

use std::collections::BTreeSet;

use zcrx_uapi::abi::{self, ConstInfo, ConstKind, Header, KernelVersion, Omitted, StructInfo};

use super::clang::CStruct;
use super::cprobe::{ConstValue, ProbeRequest, ProbeResult, Probed};
use super::headers::ParsedHeaders;

/// The crate side of the comparison.
#[derive(Clone, Debug)]
pub struct CrateAbi<'a> {
    /// Mirrored structs.
    pub structs: &'a [StructInfo],
    /// Mirrored constants.
    pub consts: Vec<&'a ConstInfo>,
    /// Header items deliberately not mirrored.
    pub omitted: &'a [Omitted],
}

impl CrateAbi<'static> {
    /// The tables of the `zcrx-uapi` this tool is built with.
    pub fn current() -> Self {
        Self {
            structs: abi::STRUCTS,
            consts: abi::constants().collect(),
            omitted: abi::OMITTED,
        }
    }
}

impl CrateAbi<'_> {
    fn find_struct(&self, name: &str) -> Option<&StructInfo> {
        self.structs.iter().find(|s| s.name == name)
    }

    fn find_const(&self, name: &str) -> Option<&ConstInfo> {
        self.consts.iter().copied().find(|c| c.name == name)
    }

    fn is_omitted(&self, name: &str) -> bool {
        self.omitted.iter().any(|o| o.name == name)
    }

    /// The header the crate says an item (struct or constant) lives in.
    fn header_of(&self, name: &str) -> Option<Header> {
        self.find_struct(name)
            .map(|s| s.header)
            .or_else(|| self.find_const(name).map(|c| c.header))
            .or_else(|| {
                self.omitted
                    .iter()
                    .find(|o| o.name == name)
                    .map(|o| o.header)
            })
    }
}

/// One difference: the item, what the headers say, what the crate says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diff {
    /// `struct.member offset`, a constant's name …
    pub item: String,
    /// The headers' side.
    pub header: String,
    /// The crate's side.
    pub krate: String,
}

/// The outcome of one comparison.
#[derive(Clone, Debug)]
pub struct Report {
    /// The headers' kernel version.
    pub kernel: KernelVersion,
    /// Structs whose size, alignment and fields all match.
    pub structs_ok: usize,
    /// Fields (union members included) whose offset, size and type match.
    pub fields_ok: usize,
    /// Constants whose value and kind match.
    pub consts_ok: usize,
    /// Crate items newer than the headers: `(item, since)`.
    pub newer: Vec<(String, KernelVersion)>,
    /// Differences explained by versioning (reserved predecessors, grown
    /// structs), for `--verbose`.
    pub notes: Vec<String>,
    /// Everything that differs.
    pub diffs: Vec<Diff>,
}

/// Everything the compiler has to measure: the crate's items and every item
/// the parsed headers declare.
pub fn request(krate: &CrateAbi<'_>, parsed: &ParsedHeaders) -> ProbeRequest {
    let mut req = ProbeRequest::default();
    for s in krate.structs {
        req.structs.insert(s.name.to_string());
        for f in s.fields {
            req.fields.insert((s.name.to_string(), f.name.to_string()));
        }
    }
    for c in &krate.consts {
        req.consts.insert(c.name.to_string());
    }
    for (_, h) in &parsed.files {
        for s in &h.structs {
            req.structs.insert(s.name.clone());
            for m in &s.members {
                req.fields.insert((s.name.clone(), m.name.clone()));
            }
        }
        for e in &h.enumerators {
            req.consts.insert(e.name.clone());
        }
        for d in &h.defines {
            req.consts.insert(d.name.clone());
        }
    }
    req
}

/// A name the kernel uses for reserved space.
fn is_reserved_name(name: &str) -> bool {
    let n = name.trim_start_matches('_').to_ascii_lowercase();
    n.starts_with("resv")
        || n.starts_with("pad")
        || n.starts_with("reserved")
        || n.starts_with("rsvd")
}

/// Whether every byte of `[off, off + size)` is covered by fields of `s`
/// newer than `h`.
fn covered_by_newer(s: &StructInfo, h: KernelVersion, off: u64, size: u64) -> bool {
    (off..off + size).all(|b| {
        s.fields
            .iter()
            .any(|f| f.since > h && (f.offset as u64) <= b && b < (f.offset + f.size) as u64)
    })
}

/// The width in bits of an unsigned Rust integer type, if `ty` is one.
fn unsigned_bits(ty: &str) -> Option<u32> {
    match ty {
        "u8" => Some(8),
        "u16" => Some(16),
        "u32" => Some(32),
        "u64" => Some(64),
        _ => None,
    }
}

/// Whether the header's value equals the crate's. An enumerator the
/// compiler typed as a negative `int` matches the unsigned crate constant
/// with the same bits (`1U << 31`).
fn same_value(header: i128, krate: i128, ty: &str) -> bool {
    header == krate
        || (header < 0
            && unsigned_bits(ty).is_some_and(|bits| {
                header >= -(1i128 << (bits - 1)) && header + (1i128 << bits) == krate
            }))
}

/// A value for the table: decimal, with hex for large ones.
fn show_value(v: i128) -> String {
    if v >= 0x100 {
        format!("{v} ({v:#x})")
    } else {
        v.to_string()
    }
}

fn reason<T>(p: Option<&Probed<T>>) -> String {
    match p {
        Some(Probed::Absent(r)) | Some(Probed::Invalid(r)) => r.clone(),
        Some(Probed::Present(_)) => "present".into(),
        None => "not probed".into(),
    }
}

fn normalize_ty(ty: &str) -> String {
    ty.chars().filter(|c| !c.is_whitespace()).collect()
}

struct Comparer<'a> {
    krate: &'a CrateAbi<'a>,
    parsed: &'a ParsedHeaders,
    probe: &'a ProbeResult,
    h: KernelVersion,
    /// The newest kernel the crate mirrors (the largest `since`).
    newest: KernelVersion,
    report: Report,
}

impl Comparer<'_> {
    fn diff(
        &mut self,
        item: impl Into<String>,
        header: impl Into<String>,
        krate: impl Into<String>,
    ) {
        self.report.diffs.push(Diff {
            item: item.into(),
            header: header.into(),
            krate: krate.into(),
        });
    }

    fn structs(&mut self) {
        let h = self.h;
        for s in self.krate.structs {
            match self.probe.structs.get(s.name) {
                Some(&Probed::Present((size, align))) => {
                    if s.since > h {
                        self.diff(
                            s.name,
                            format!("present in {h} headers (size {size})"),
                            format!("marked since {}", s.since),
                        );
                    } else {
                        self.present_struct(s, size, align);
                    }
                }
                other => {
                    if s.since > h {
                        self.report.newer.push((s.name.to_string(), s.since));
                        for f in s.fields {
                            self.report
                                .newer
                                .push((format!("{}.{}", s.name, f.name), f.since.max(s.since)));
                        }
                    } else {
                        self.diff(
                            s.name,
                            format!("absent ({})", reason(other)),
                            format!("since {}, size {}", s.since, s.size),
                        );
                    }
                }
            }
        }
    }

    fn present_struct(&mut self, s: &StructInfo, size: u64, align: u64) {
        let h = self.h;
        let before = self.report.diffs.len();
        let parsed = parsed_struct(self.parsed, s.name);
        // Header members that the crate does not have at that place.
        let mut unmatched: Vec<String> = Vec::new();
        for f in s.fields {
            let item = format!("{}.{}", s.name, f.name);
            let probed = self
                .probe
                .fields
                .get(&(s.name.to_string(), f.name.to_string()));
            match probed {
                Some(&Probed::Present((off, sz))) => {
                    if f.since > h {
                        if (off, sz) == (f.offset as u64, f.size as u64) {
                            self.diff(
                                item,
                                format!("present in {h} headers (offset {off}, size {sz})"),
                                format!("marked since {}", f.since),
                            );
                        } else {
                            // An older member of the same name elsewhere.
                            self.report.newer.push((item, f.since));
                            unmatched.push(f.name.to_string());
                        }
                        continue;
                    }
                    let mut ok = true;
                    if off != f.offset as u64 {
                        self.diff(
                            format!("{item} offset"),
                            off.to_string(),
                            f.offset.to_string(),
                        );
                        ok = false;
                    }
                    if sz != f.size as u64 {
                        self.diff(format!("{item} size"), sz.to_string(), f.size.to_string());
                        ok = false;
                    }
                    if let Some((hdr, cr)) = type_mismatch(parsed.map(|p| p.1), f.name, f.ty) {
                        self.diff(format!("{item} type"), hdr, cr);
                        ok = false;
                    }
                    if ok {
                        self.report.fields_ok += 1;
                    }
                }
                other => {
                    if f.since > h {
                        self.report.newer.push((item, f.since));
                    } else {
                        self.diff(
                            item,
                            format!("absent ({})", reason(other)),
                            format!("since {}, offset {}, size {}", f.since, f.offset, f.size),
                        );
                    }
                }
            }
        }
        // Members the crate lacks count only for the ZCRX and query headers:
        // of `io_uring.h` the crate mirrors a chosen part.
        if let Some((_, cs)) = parsed.filter(|_| s.header != Header::IoUring) {
            for m in &cs.members {
                if s.field(&m.name).is_none() {
                    unmatched.push(m.name.clone());
                }
            }
        }
        for name in unmatched {
            let item = format!("{}.{name}", s.name);
            let ty = parsed
                .and_then(|(_, cs)| cs.members.iter().find(|m| m.name == name))
                .map(|m| format!("{} ", m.ty))
                .unwrap_or_default();
            let probed = self.probe.fields.get(&(s.name.to_string(), name.clone()));
            match probed {
                Some(&Probed::Present((off, sz))) => {
                    if is_reserved_name(&name) && covered_by_newer(s, h, off, sz) {
                        self.report.notes.push(format!(
                            "{item} (offset {off}, size {sz}) is the reserved predecessor of newer crate fields"
                        ));
                    } else {
                        self.diff(item, format!("{ty}at offset {off}, size {sz}"), "missing");
                    }
                }
                other => self.diff(
                    item,
                    format!("{ty}declared, not measurable ({})", reason(other)),
                    "missing",
                ),
            }
        }
        if (size, align) != (s.size as u64, s.align as u64) {
            let has_newer = s.fields.iter().any(|f| f.since > h);
            let old_end = s
                .fields
                .iter()
                .filter(|f| f.since <= h)
                .map(|f| (f.offset + f.size) as u64)
                .max()
                .unwrap_or(0);
            let grew =
                has_newer && size < s.size as u64 && old_end <= size && align <= s.align as u64;
            if grew {
                self.report.notes.push(format!(
                    "{} is {size} bytes (align {align}) in {h} headers; the crate's {} bytes hold newer fields",
                    s.name, s.size
                ));
            } else {
                self.diff(
                    format!("{} size, align", s.name),
                    format!("{size}, {align}"),
                    format!("{}, {}", s.size, s.align),
                );
            }
        }
        if self.report.diffs.len() == before {
            self.report.structs_ok += 1;
        }
    }

    fn consts(&mut self) {
        let h = self.h;
        for c in &self.krate.consts {
            let probed = self.probe.consts.get(c.name);
            match probed {
                Some(Probed::Present(ConstValue { value, is_macro })) => {
                    if c.since > h {
                        self.diff(
                            c.name,
                            format!("= {} in {h} headers", show_value(*value)),
                            format!("marked since {}", c.since),
                        );
                        continue;
                    }
                    let mut ok = true;
                    if !same_value(*value, c.value, c.ty) {
                        self.diff(c.name, show_value(*value), show_value(c.value));
                        ok = false;
                    }
                    let crate_macro = c.kind == ConstKind::Define;
                    if *is_macro != crate_macro {
                        let kind = |m: bool| if m { "#define" } else { "enumerator" };
                        if h >= self.newest {
                            self.diff(
                                format!("{} kind", c.name),
                                kind(*is_macro),
                                kind(crate_macro),
                            );
                            ok = false;
                        } else {
                            // The crate spells constants as its newest
                            // kernel does; older headers may differ.
                            self.report.notes.push(format!(
                                "{} is an {} in {h} headers, a {} in the crate's (Linux {})",
                                c.name,
                                kind(*is_macro),
                                kind(crate_macro),
                                self.newest
                            ));
                        }
                    }
                    if ok {
                        self.report.consts_ok += 1;
                    }
                }
                Some(Probed::Invalid(r)) => self.diff(
                    c.name,
                    format!("defined, but not an integer constant ({r})"),
                    show_value(c.value),
                ),
                other => {
                    if c.since > h {
                        self.report.newer.push((c.name.to_string(), c.since));
                    } else {
                        self.diff(
                            c.name,
                            format!("absent ({})", reason(other)),
                            format!("= {}, since {}", show_value(c.value), c.since),
                        );
                    }
                }
            }
        }
    }

    /// Items of the parsed headers that the crate lacks, and items in the
    /// wrong header.
    fn header_items(&mut self) {
        let parsed = self.parsed;
        for (path, hdr) in &parsed.files {
            // `linux/io_uring.h` stands in for `zcrx.h` in old trees.
            let stand_in = *path == Header::IoUring.path();
            let mut names: Vec<(String, String)> = Vec::new();
            for s in &hdr.structs {
                if self.krate.find_struct(&s.name).is_none() && !self.krate.is_omitted(&s.name) {
                    let layout = match self.probe.structs.get(&s.name) {
                        Some(Probed::Present((size, align))) => {
                            format!("size {size}, align {align}")
                        }
                        other => format!("not measurable: {}", reason(other)),
                    };
                    self.diff(
                        s.name.clone(),
                        format!("struct in {path}, {layout}"),
                        "missing",
                    );
                }
                names.push((s.name.clone(), "struct".into()));
            }
            let enumerators = hdr.enumerators.iter().map(|e| (&e.name, "enumerator"));
            let defines = hdr.defines.iter().map(|d| (&d.name, "#define"));
            for (name, kind) in enumerators.chain(defines) {
                if self.krate.find_const(name).is_none() && !self.krate.is_omitted(name) {
                    let value = match self.probe.consts.get(name) {
                        Some(Probed::Present(v)) => format!("= {}", show_value(v.value)),
                        Some(Probed::Invalid(_)) => "(not an integer constant)".into(),
                        other => format!("(not measurable: {})", reason(other)),
                    };
                    self.diff(name.clone(), format!("{kind} in {path} {value}"), "missing");
                }
                names.push((name.clone(), kind.into()));
            }
            for (name, _) in names {
                let Some(declared) = self.krate.header_of(&name) else {
                    continue;
                };
                let ok = if stand_in {
                    declared != Header::Query
                } else {
                    declared.path() == *path
                };
                if !ok {
                    self.diff(format!("{name} header"), *path, declared.path());
                }
            }
        }
        // Crate items said to be in zcrx.h / query.h must be found there when
        // the tree has that header.
        let mut in_files: BTreeSet<(&str, &str)> = BTreeSet::new();
        for (path, hdr) in &parsed.files {
            for s in &hdr.structs {
                in_files.insert((path, &s.name));
            }
            for e in &hdr.enumerators {
                in_files.insert((path, &e.name));
            }
            for d in &hdr.defines {
                in_files.insert((path, &d.name));
            }
        }
        let h = self.h;
        let present_structs = self.krate.structs.iter().filter(|s| {
            s.since <= h
                && self
                    .probe
                    .structs
                    .get(s.name)
                    .and_then(Probed::present)
                    .is_some()
        });
        let mut misplaced = Vec::new();
        for s in present_structs {
            misplaced.push((s.name, s.header));
        }
        for c in &self.krate.consts {
            if c.since <= h
                && self
                    .probe
                    .consts
                    .get(c.name)
                    .and_then(Probed::present)
                    .is_some()
            {
                misplaced.push((c.name, c.header));
            }
        }
        for (name, header) in misplaced {
            if header == Header::IoUring || !parsed.files.iter().any(|(p, _)| *p == header.path()) {
                continue;
            }
            if !in_files.contains(&(header.path(), name)) {
                self.diff(
                    format!("{name} header"),
                    format!("not in {}", header.path()),
                    header.path(),
                );
            }
        }
    }
}

/// The parsed struct `name` and the header it is in.
fn parsed_struct<'p>(parsed: &'p ParsedHeaders, name: &str) -> Option<(&'static str, &'p CStruct)> {
    parsed
        .files
        .iter()
        .find_map(|(path, h)| h.find_struct(name).map(|s| (*path, s)))
        .or_else(|| {
            let h = parsed.io_uring.as_ref()?;
            h.find_struct(name).map(|s| (Header::IoUring.path(), s))
        })
}

/// Whether the parsed C type of `member` maps to the crate's Rust type;
/// `Some((header, crate))` describes a mismatch.
fn type_mismatch(
    parsed: Option<&CStruct>,
    member: &str,
    rust_ty: &str,
) -> Option<(String, String)> {
    let cs = parsed?;
    let Some(m) = cs.members.iter().find(|m| m.name == member) else {
        return Some(("(member not found by clang)".into(), rust_ty.to_string()));
    };
    match m.ty.rust_equivalent() {
        Some(r) if normalize_ty(&r) == normalize_ty(rust_ty) => None,
        Some(r) => Some((format!("{} (= {r})", m.ty), rust_ty.to_string())),
        None => Some((
            format!("{} (no known Rust equivalent)", m.ty),
            rust_ty.to_string(),
        )),
    }
}

/// The newest kernel the crate mirrors: the largest `since` of its items.
fn newest(krate: &CrateAbi<'_>) -> KernelVersion {
    let structs = krate
        .structs
        .iter()
        .flat_map(|s| std::iter::once(s.since).chain(s.fields.iter().map(|f| f.since)));
    let consts = krate.consts.iter().map(|c| c.since);
    structs
        .chain(consts)
        .max()
        .unwrap_or(KernelVersion::new(0, 0))
}

/// Compares the crate with one header tree.
pub fn compare(krate: &CrateAbi<'_>, parsed: &ParsedHeaders, probe: &ProbeResult) -> Report {
    let h = KernelVersion::from_version_code(probe.version_code);
    let mut c = Comparer {
        krate,
        parsed,
        probe,
        h,
        newest: newest(krate),
        report: Report {
            kernel: h,
            structs_ok: 0,
            fields_ok: 0,
            consts_ok: 0,
            newer: Vec::new(),
            notes: Vec::new(),
            diffs: Vec::new(),
        },
    };
    c.structs();
    c.consts();
    c.header_items();
    c.report
}

#[cfg(test)]
mod tests {
    use super::super::clang::{CEnumerator, CHeader, CMember, CType};
    use super::*;
    use zcrx_uapi::abi::FieldInfo;

    const fn field(
        name: &'static str,
        offset: usize,
        size: usize,
        ty: &'static str,
        since: (u16, u16),
    ) -> FieldInfo {
        FieldInfo {
            name,
            rust_field: name,
            offset,
            size,
            ty,
            since: KernelVersion::new(since.0, since.1),
        }
    }

    /// A 7.2-style registration struct: `rx_buf_len` since 7.0, then
    /// `event_desc` and `__resv[2]` since 7.2 over 6.19's `__resv2` and
    /// `__resv[3]`.
    static REG: StructInfo = StructInfo {
        name: "reg",
        header: Header::Zcrx,
        size: 32,
        align: 8,
        since: KernelVersion::new(6, 15),
        fields: &[
            field("zcrx_id", 0, 4, "u32", (6, 15)),
            field("rx_buf_len", 4, 4, "u32", (7, 0)),
            field("event_desc", 8, 8, "u64", (7, 2)),
            field("__resv", 16, 16, "[u64; 2]", (7, 2)),
        ],
    };

    static NEWER: StructInfo = StructInfo {
        name: "newer",
        header: Header::Zcrx,
        size: 8,
        align: 8,
        since: KernelVersion::new(7, 3),
        fields: &[field("area_ptr", 0, 8, "u64", (7, 3))],
    };

    static CONSTS: [ConstInfo; 2] = [
        ConstInfo {
            name: "OLD",
            header: Header::Zcrx,
            kind: ConstKind::Enumerator,
            value: 1,
            ty: "u32",
            since: KernelVersion::new(6, 19),
        },
        ConstInfo {
            name: "NEW",
            header: Header::Zcrx,
            kind: ConstKind::Enumerator,
            value: 2,
            ty: "u32",
            since: KernelVersion::new(7, 2),
        },
    ];

    static STRUCTS: [StructInfo; 2] = [REG, NEWER];

    fn krate() -> CrateAbi<'static> {
        CrateAbi {
            structs: &STRUCTS,
            consts: CONSTS.iter().collect(),
            omitted: &[],
        }
    }

    /// A header declaring `struct reg` with `members` (name, C type) and
    /// the enumerators `enums` of `enum e`.
    fn header(members: &[(&str, &str)], enums: &[&str]) -> CHeader {
        CHeader {
            structs: vec![CStruct {
                name: "reg".into(),
                members: members
                    .iter()
                    .map(|(name, ty)| CMember {
                        name: (*name).into(),
                        ty: CType((*ty).into()),
                    })
                    .collect(),
            }],
            enumerators: enums
                .iter()
                .map(|name| CEnumerator {
                    name: (*name).into(),
                    enum_tag: Some("e".into()),
                })
                .collect(),
            defines: Vec::new(),
        }
    }

    /// A 6.19 header and what its compiler says.
    fn old_headers(resv_len: u64, extra_const: bool) -> (ParsedHeaders, ProbeResult) {
        let resv = format!("__u64[{resv_len}]");
        let members = [
            ("zcrx_id", "__u32"),
            ("__resv2", "__u32"),
            ("__resv", &resv),
        ];
        let enums: &[&str] = if extra_const {
            &["OLD", "NEW"]
        } else {
            &["OLD"]
        };
        let parsed = ParsedHeaders {
            files: vec![("linux/io_uring/zcrx.h", header(&members, enums))],
            ..Default::default()
        };
        let mut probe = ProbeResult {
            version_code: (6 << 16) | (19 << 8) | 13,
            ..Default::default()
        };
        let p = |a, b| Probed::Present((a, b));
        probe.structs.insert("reg".into(), p(8 + 8 * resv_len, 8));
        probe
            .structs
            .insert("newer".into(), Probed::Absent("incomplete".into()));
        let f = |s: &str, m: &str| (s.to_string(), m.to_string());
        probe.fields.insert(f("reg", "zcrx_id"), p(0, 4));
        probe.fields.insert(f("reg", "__resv2"), p(4, 4));
        probe.fields.insert(f("reg", "__resv"), p(8, 8 * resv_len));
        probe
            .fields
            .insert(f("reg", "rx_buf_len"), Probed::Absent("no member".into()));
        probe
            .fields
            .insert(f("reg", "event_desc"), Probed::Absent("no member".into()));
        probe
            .fields
            .insert(f("newer", "area_ptr"), Probed::Absent("incomplete".into()));
        let v = |value| {
            Probed::Present(ConstValue {
                value,
                is_macro: false,
            })
        };
        probe.consts.insert("OLD".into(), v(1));
        probe.consts.insert(
            "NEW".into(),
            if extra_const {
                v(2)
            } else {
                Probed::Absent("undeclared".into())
            },
        );
        (parsed, probe)
    }

    #[test]
    fn reserved_predecessors_and_newer_items_pass() {
        let (parsed, probe) = old_headers(3, false);
        let r = compare(&krate(), &parsed, &probe);
        assert_eq!(r.diffs, [], "{r:#?}");
        assert_eq!((r.structs_ok, r.fields_ok, r.consts_ok), (1, 1, 1));
        let newer: Vec<_> = r.newer.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            newer,
            [
                "reg.rx_buf_len",
                "reg.event_desc",
                "reg.__resv",
                "newer",
                "newer.area_ptr",
                "NEW"
            ]
        );
        assert_eq!(r.notes.len(), 2, "{:?}", r.notes);
    }

    #[test]
    fn present_although_marked_newer_is_an_error() {
        let (parsed, probe) = old_headers(3, true);
        let r = compare(&krate(), &parsed, &probe);
        assert_eq!(
            r.diffs,
            [Diff {
                item: "NEW".into(),
                header: "= 2 in 6.19 headers".into(),
                krate: "marked since 7.2".into(),
            }]
        );
    }

    #[test]
    fn an_uncovered_header_member_is_an_error() {
        // `__resv[4]` reaches past the crate's struct: bytes 32..40 are not
        // covered by newer crate fields, and the sizes differ.
        let (parsed, probe) = old_headers(4, false);
        let r = compare(&krate(), &parsed, &probe);
        let items: Vec<_> = r.diffs.iter().map(|d| d.item.as_str()).collect();
        assert_eq!(items, ["reg.__resv", "reg size, align"], "{r:#?}");
    }

    #[test]
    fn a_crate_struct_may_outgrow_old_headers() {
        // The header's struct stops after `__resv2` (8 bytes).
        let (mut parsed, mut probe) = old_headers(3, false);
        parsed.files[0].1 = header(&[("zcrx_id", "__u32"), ("__resv2", "__u32")], &["OLD"]);
        probe.structs.insert("reg".into(), Probed::Present((8, 4)));
        probe
            .fields
            .remove(&("reg".to_string(), "__resv".to_string()));
        let r = compare(&krate(), &parsed, &probe);
        assert_eq!(r.diffs, [], "{r:#?}");
        assert!(
            r.notes.iter().any(|n| n.contains("newer fields")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn types_are_checked() {
        let (mut parsed, probe) = old_headers(3, false);
        parsed.files[0].1 = header(
            &[
                ("zcrx_id", "__s32"),
                ("__resv2", "__u32"),
                ("__resv", "__u64[3]"),
            ],
            &["OLD"],
        );
        let r = compare(&krate(), &parsed, &probe);
        assert_eq!(
            r.diffs,
            [Diff {
                item: "reg.zcrx_id type".into(),
                header: "__s32 (= i32)".into(),
                krate: "u32".into(),
            }]
        );
    }

    #[test]
    fn values() {
        assert!(same_value(2147483648, 2147483648, "u32"));
        assert!(same_value(-2147483648, 2147483648, "u32"));
        assert!(!same_value(-1, 255, "u32"));
        assert!(!same_value(-2147483648, 2147483648, "i64"));
        assert_eq!(show_value(4), "4");
        assert_eq!(show_value(4096), "4096 (0x1000)");
    }

    #[test]
    fn reserved_names() {
        for n in ["__resv", "__resv1", "__pad", "resv1", "__pad4", "rsvd"] {
            assert!(is_reserved_name(n), "{n}");
        }
        for n in ["features", "rx_buf_len", "padding_bytes_used_for_data"] {
            // A leading "pad" counts; whole words that merely contain it do not.
            assert_eq!(is_reserved_name(n), n.starts_with("pad"), "{n}");
        }
    }
}
