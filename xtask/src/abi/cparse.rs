//! A small, tolerant parser for the subset of C that Linux uapi headers use.
//!
//! It lists what a header declares, not what it means: every `struct` (with
//! its members, flattening anonymous unions and structs), every enumerator
//! and every `#define`. Values are left to the C compiler (see
//! [`super::cprobe`]); this module only needs names and member types.
//!
//! Preprocessor conditionals are not evaluated: every branch is read, which
//! is right for uapi headers (their conditionals guard C++ linkage, include
//! guards and alternative spellings of the same declaration). Anything the
//! parser does not understand (function prototypes, `typedef`s, static inline
//! functions, macro invocations) is skipped up to the end of its declaration.

use std::fmt;

/// One token of C source, after comments are removed.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    /// An identifier or keyword.
    Ident(String),
    /// A number, as written (`0x10`, `1U`).
    Number(String),
    /// A string or character literal, as written.
    Literal(String),
    /// Punctuation: one character, or `<<` / `>>` / `->` / `...`.
    Punct(String),
    /// A whole preprocessor line (continuations joined, comments removed),
    /// without the leading `#`.
    Directive(String),
}

impl Tok {
    fn is_punct(&self, p: &str) -> bool {
        matches!(self, Tok::Punct(s) if s == p)
    }

    fn is_ident(&self, i: &str) -> bool {
        matches!(self, Tok::Ident(s) if s == i)
    }

    fn ident(&self) -> Option<&str> {
        match self {
            Tok::Ident(s) => Some(s),
            _ => None,
        }
    }

    fn text(&self) -> &str {
        match self {
            Tok::Ident(s) | Tok::Number(s) | Tok::Literal(s) | Tok::Punct(s) => s,
            Tok::Directive(s) => s,
        }
    }
}

/// A syntax problem the tokenizer cannot recover from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line of the problem.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Splits C source into tokens, removing comments and collecting
/// preprocessor lines as [`Tok::Directive`].
fn tokenize(src: &str) -> Result<Vec<Tok>, ParseError> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let mut line = 1;
    // Whether only whitespace (and comments) precede `i` on its line.
    let mut at_line_start = true;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            at_line_start = true;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            let start = line;
            i += 2;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(ParseError {
                            line: start,
                            message: "unterminated /* comment".into(),
                        });
                    }
                    Some('*') if chars.get(i + 1) == Some(&'/') => {
                        i += 2;
                        break;
                    }
                    Some('\n') => {
                        line += 1;
                        i += 1;
                    }
                    Some(_) => i += 1,
                }
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '#' && at_line_start {
            // A directive: up to the end of the line, honouring `\` line
            // continuations and dropping comments.
            let start = line;
            let mut text = String::new();
            i += 1;
            while i < chars.len() {
                match chars[i] {
                    '\\' if chars.get(i + 1) == Some(&'\n') => {
                        text.push(' ');
                        line += 1;
                        i += 2;
                    }
                    '\n' => break,
                    '/' if chars.get(i + 1) == Some(&'*') => {
                        i += 2;
                        loop {
                            match chars.get(i) {
                                None => {
                                    return Err(ParseError {
                                        line: start,
                                        message: "unterminated /* comment in a directive".into(),
                                    });
                                }
                                Some('*') if chars.get(i + 1) == Some(&'/') => {
                                    i += 2;
                                    break;
                                }
                                Some('\n') => {
                                    line += 1;
                                    i += 1;
                                }
                                Some(_) => i += 1,
                            }
                        }
                        text.push(' ');
                    }
                    '/' if chars.get(i + 1) == Some(&'/') => {
                        while i < chars.len() && chars[i] != '\n' {
                            i += 1;
                        }
                    }
                    ch => {
                        text.push(ch);
                        i += 1;
                    }
                }
            }
            toks.push(Tok::Directive(text.trim().to_string()));
        } else if c == '"' || c == '\'' {
            let start = line;
            let mut text = String::from(c);
            i += 1;
            loop {
                match chars.get(i) {
                    None | Some('\n') => {
                        return Err(ParseError {
                            line: start,
                            message: "unterminated string or character literal".into(),
                        });
                    }
                    Some('\\') => {
                        text.push('\\');
                        if let Some(&n) = chars.get(i + 1) {
                            text.push(n);
                        }
                        i += 2;
                    }
                    Some(&q) if q == c => {
                        text.push(q);
                        i += 1;
                        break;
                    }
                    Some(&o) => {
                        text.push(o);
                        i += 1;
                    }
                }
            }
            toks.push(Tok::Literal(text));
            at_line_start = false;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let s = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            toks.push(Tok::Ident(chars[s..i].iter().collect()));
            at_line_start = false;
        } else if c.is_ascii_digit() {
            let s = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            toks.push(Tok::Number(chars[s..i].iter().collect()));
            at_line_start = false;
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let three: String = chars[i..(i + 3).min(chars.len())].iter().collect();
            let p = if three == "..." {
                three
            } else if matches!(two.as_str(), "<<" | ">>" | "->" | "<=" | ">=" | "==" | "!=") {
                two
            } else {
                c.to_string()
            };
            i += p.chars().count();
            toks.push(Tok::Punct(p));
            at_line_start = false;
        }
    }
    Ok(toks)
}

/// The type of a struct member, as the header writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CType {
    /// The type specifier: `__u32`, `unsigned int`, `struct io_uring_zcrx_offsets`.
    /// Anonymous structs and unions are `struct <anonymous>`.
    pub base: String,
    /// Number of `*` in the declarator.
    pub pointers: usize,
    /// Array dimensions, outermost first, as written (`"11"`, `""` for `[]`).
    pub dims: Vec<String>,
}

impl fmt::Display for CType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.base)?;
        for _ in 0..self.pointers {
            write!(f, " *")?;
        }
        for d in &self.dims {
            write!(f, "[{d}]")?;
        }
        Ok(())
    }
}

impl CType {
    /// The Rust spelling of this type in a `#[repr(C)]` mirror (`__u64 x[9]`
    /// → `[u64; 9]`, `struct foo` → `foo`), or `None` when there is no
    /// single obvious one (pointers, plain `int`, unknown typedefs).
    pub fn rust_equivalent(&self) -> Option<String> {
        if self.pointers != 0 {
            return None;
        }
        let mut ty = match self.base.as_str() {
            "__u8" | "__aligned_u8" => "u8".to_string(),
            "__u16" | "__aligned_u16" | "__be16" | "__le16" => "u16".to_string(),
            "__u32" | "__aligned_u32" | "__be32" | "__le32" => "u32".to_string(),
            "__u64" | "__aligned_u64" | "__aligned_be64" | "__aligned_le64" | "__be64"
            | "__le64" => "u64".to_string(),
            "__s8" => "i8".to_string(),
            "__s16" => "i16".to_string(),
            "__s32" => "i32".to_string(),
            "__s64" | "__aligned_s64" => "i64".to_string(),
            other => {
                let tag = other
                    .strip_prefix("struct ")
                    .or_else(|| other.strip_prefix("union "))?;
                if tag.starts_with('<') {
                    return None;
                }
                tag.to_string()
            }
        };
        for d in self.dims.iter().rev() {
            let n = parse_c_integer(d)?;
            ty = format!("[{ty}; {n}]");
        }
        Some(ty)
    }
}

/// Parses a C integer literal (`11`, `0x10`, `1U`), or `None`.
fn parse_c_integer(s: &str) -> Option<u128> {
    let s = s.trim_end_matches(['u', 'U', 'l', 'L']);
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u128::from_str_radix(hex, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        u128::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok()
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
    /// Whether it sits inside an anonymous union (it shares its bytes).
    pub in_union: bool,
}

/// A struct (or union) definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CStruct {
    /// The tag.
    pub name: String,
    /// `true` for `union tag { ... }`.
    pub is_union: bool,
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
    /// The value expression as written, `None` when implicit.
    pub expr: Option<String>,
}

/// One `#define`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CDefine {
    /// The macro name.
    pub name: String,
    /// Whether it takes parameters (`#define F(x) ...`).
    pub function_like: bool,
    /// The replacement text (whitespace-normalised).
    pub body: String,
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
}

/// Parses the text of a header.
pub fn parse_header(src: &str) -> Result<CHeader, ParseError> {
    let toks = tokenize(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        out: CHeader::default(),
    };
    p.top_level();
    Ok(p.out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    out: CHeader,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        if self.peek().is_some_and(|t| t.is_punct(p)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Skips a balanced group starting at an opening bracket at `pos`.
    fn skip_group(&mut self) {
        let mut depth = 0usize;
        while let Some(t) = self.next() {
            match t.text() {
                "(" | "[" | "{" if !matches!(t, Tok::Literal(_) | Tok::Directive(_)) => depth += 1,
                ")" | "]" | "}" if !matches!(t, Tok::Literal(_) | Tok::Directive(_)) => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
            if depth == 0 {
                return;
            }
        }
    }

    /// Skips `__attribute__((...))`, `__attribute((...))` and `__packed`-like
    /// decorations at `pos`.
    fn skip_attributes(&mut self) {
        loop {
            match self.peek() {
                Some(Tok::Ident(s))
                    if s == "__attribute__" || s == "__attribute" || s == "__declspec" =>
                {
                    self.pos += 1;
                    if self.peek().is_some_and(|t| t.is_punct("(")) {
                        self.skip_group();
                    }
                }
                Some(Tok::Ident(s)) if s == "__packed" || s == "__user" => self.pos += 1,
                _ => return,
            }
        }
    }

    /// Skips one unknown declaration: up to a `;` outside brackets, or up to
    /// the end of a brace group that ends it (a function body).
    fn skip_declaration(&mut self) {
        let mut depth = 0usize;
        while let Some(t) = self.peek().cloned() {
            if let Tok::Directive(_) = t {
                if depth == 0 {
                    return;
                }
                self.pos += 1;
                continue;
            }
            self.pos += 1;
            match t.text() {
                "(" | "[" | "{" if !matches!(t, Tok::Literal(_)) => depth += 1,
                ")" | "]" if !matches!(t, Tok::Literal(_)) => depth = depth.saturating_sub(1),
                "}" if !matches!(t, Tok::Literal(_)) => {
                    if depth == 0 {
                        // A stray closing brace (`extern "C" { ... }`): done.
                        return;
                    }
                    depth -= 1;
                    if depth == 0 {
                        // A function body or initializer ends here.
                        self.eat_punct(";");
                        return;
                    }
                }
                ";" if depth == 0 => return,
                _ => {}
            }
        }
    }

    fn top_level(&mut self) {
        while let Some(t) = self.peek().cloned() {
            match t {
                Tok::Directive(d) => {
                    self.pos += 1;
                    self.directive(&d);
                }
                Tok::Punct(p) if p == "}" || p == ";" => self.pos += 1,
                Tok::Ident(ref s) if s == "extern" => {
                    // `extern "C" {`: the braces just nest declarations.
                    if matches!(self.peek_at(1), Some(Tok::Literal(_)))
                        && self.peek_at(2).is_some_and(|t| t.is_punct("{"))
                    {
                        self.pos += 3;
                    } else {
                        self.skip_declaration();
                    }
                }
                Tok::Ident(ref s)
                    if s == "typedef"
                        && self.peek_at(1).is_some_and(|t| {
                            t.is_ident("struct") || t.is_ident("union") || t.is_ident("enum")
                        }) =>
                {
                    // `typedef struct tag { ... } name;`: the tag counts.
                    self.pos += 1;
                    let start = self.pos;
                    if !self.tagged_definition() {
                        self.pos = start;
                        self.skip_declaration();
                    }
                }
                Tok::Ident(ref s) if s == "struct" || s == "union" || s == "enum" => {
                    let start = self.pos;
                    if !self.tagged_definition() {
                        self.pos = start;
                        self.skip_declaration();
                    }
                }
                _ => self.skip_declaration(),
            }
        }
    }

    fn directive(&mut self, d: &str) {
        let Some(rest) = d.strip_prefix("define") else {
            return;
        };
        if !rest.starts_with(char::is_whitespace) {
            return;
        }
        let rest = rest.trim_start();
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if name_len == 0 {
            return;
        }
        let name = &rest[..name_len];
        let after = &rest[name_len..];
        let function_like = after.starts_with('(');
        let body = if function_like {
            after.find(')').map_or("", |i| &after[i + 1..])
        } else {
            after
        };
        self.out.defines.push(CDefine {
            name: name.to_string(),
            function_like,
            body: body.split_whitespace().collect::<Vec<_>>().join(" "),
        });
    }

    /// At `struct|union|enum`: parses a definition with a body, followed by
    /// optional declarators and `;`. Returns `false` (without consuming
    /// anything useful) when it is not a definition.
    fn tagged_definition(&mut self) -> bool {
        let Some(Tok::Ident(kw)) = self.next() else {
            return false;
        };
        self.skip_attributes();
        let tag = match self.peek() {
            Some(Tok::Ident(s)) => {
                let s = s.clone();
                self.pos += 1;
                Some(s)
            }
            _ => None,
        };
        self.skip_attributes();
        if !self.peek().is_some_and(|t| t.is_punct("{")) {
            return false;
        }
        if kw == "enum" {
            self.enum_body(tag);
        } else {
            let members = self.struct_body();
            if let Some(name) = tag {
                self.out.structs.push(CStruct {
                    name,
                    is_union: kw == "union",
                    members,
                });
            }
        }
        // Declarators of a variable or typedef: skip to the `;`.
        self.skip_declaration();
        true
    }

    /// At `{` of an enum: records its enumerators, consumes the `}`.
    fn enum_body(&mut self, tag: Option<String>) {
        self.pos += 1; // `{`
        loop {
            match self.peek().cloned() {
                None => return,
                Some(Tok::Directive(d)) => {
                    self.pos += 1;
                    self.directive(&d);
                }
                Some(t) if t.is_punct("}") => {
                    self.pos += 1;
                    return;
                }
                Some(t) if t.is_punct(",") => self.pos += 1,
                Some(Tok::Ident(name)) => {
                    self.pos += 1;
                    self.skip_attributes();
                    let mut expr = None;
                    if self.eat_punct("=") {
                        let mut parts = Vec::new();
                        let mut depth = 0usize;
                        while let Some(t) = self.peek().cloned() {
                            if depth == 0 && (t.is_punct(",") || t.is_punct("}")) {
                                break;
                            }
                            if let Tok::Directive(_) = t {
                                self.pos += 1;
                                continue;
                            }
                            if t.is_punct("(") {
                                depth += 1;
                            } else if t.is_punct(")") {
                                depth = depth.saturating_sub(1);
                            }
                            parts.push(t.text().to_string());
                            self.pos += 1;
                        }
                        expr = Some(parts.join(" "));
                    }
                    self.out.enumerators.push(CEnumerator {
                        name,
                        enum_tag: tag.clone(),
                        expr,
                    });
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    /// At `{` of a struct or union body: returns its members (anonymous
    /// members flattened), consumes the `}`.
    fn struct_body(&mut self) -> Vec<CMember> {
        self.pos += 1; // `{`
        let mut members = Vec::new();
        loop {
            match self.peek().cloned() {
                None => return members,
                Some(Tok::Directive(d)) => {
                    self.pos += 1;
                    self.directive(&d);
                }
                Some(t) if t.is_punct("}") => {
                    self.pos += 1;
                    return members;
                }
                Some(t) if t.is_punct(";") => self.pos += 1,
                Some(_) => self.member_declaration(&mut members),
            }
        }
    }

    /// Parses one member declaration (up to and including its `;`).
    fn member_declaration(&mut self, members: &mut Vec<CMember>) {
        self.skip_attributes();
        let first = self.peek().and_then(|t| t.ident().map(str::to_string));
        // A nested struct, union or enum, possibly anonymous.
        if let Some(kw) = first.as_deref() {
            if matches!(kw, "struct" | "union" | "enum") {
                let has_body = {
                    let mut k = 1;
                    // skip an attribute between keyword and tag is rare; look
                    // at `kw tag {` or `kw {`.
                    if self.peek_at(k).and_then(Tok::ident).is_some() {
                        k += 1;
                    }
                    self.peek_at(k).is_some_and(|t| t.is_punct("{"))
                };
                if has_body {
                    self.pos += 1;
                    let tag = match self.peek() {
                        Some(Tok::Ident(s)) => {
                            let s = s.clone();
                            self.pos += 1;
                            Some(s)
                        }
                        _ => None,
                    };
                    let base = match &tag {
                        Some(t) => format!("{kw} {t}"),
                        None => format!("{kw} <anonymous>"),
                    };
                    if kw == "enum" {
                        self.enum_body(tag);
                        self.declarators(base, members);
                        return;
                    }
                    let inner = self.struct_body();
                    if let Some(t) = &tag {
                        self.out.structs.push(CStruct {
                            name: t.clone(),
                            is_union: kw == "union",
                            members: inner.clone(),
                        });
                    }
                    self.skip_attributes();
                    if self.eat_punct(";") {
                        if tag.is_none() {
                            // An anonymous member: its members are the
                            // struct's own.
                            let is_union = kw == "union";
                            members.extend(inner.into_iter().map(|mut m| {
                                m.in_union |= is_union;
                                m
                            }));
                        }
                        return;
                    }
                    self.declarators(base, members);
                    return;
                }
            }
        }
        // An ordinary declaration: specifier tokens, then declarators.
        let start = self.pos;
        let mut spec = Vec::new();
        loop {
            self.skip_attributes();
            match self.peek().cloned() {
                Some(Tok::Ident(s)) => {
                    // The identifier is part of the specifier unless what
                    // follows makes it the declarator's name.
                    let next = self.peek_at(1);
                    let ends = next.is_none_or(|t| {
                        t.is_punct("[")
                            || t.is_punct(";")
                            || t.is_punct(",")
                            || t.is_punct(":")
                            || t.ident() == Some("__attribute__")
                    });
                    if ends && !spec.is_empty() {
                        break;
                    }
                    spec.push(s);
                    self.pos += 1;
                }
                Some(t) if t.is_punct("*") && !spec.is_empty() => break,
                _ => break,
            }
        }
        let is_decl_start = self
            .peek()
            .is_some_and(|t| t.ident().is_some() || t.is_punct("*"));
        if spec.is_empty() || !is_decl_start {
            // A macro invocation (`__DECLARE_FLEX_ARRAY(...)`), a function
            // pointer or something else: skip it.
            self.pos = start;
            self.skip_member();
            return;
        }
        let base = normalize_specifier(&spec);
        self.declarators(base, members);
    }

    /// Skips a member declaration this parser does not understand.
    fn skip_member(&mut self) {
        let mut depth = 0usize;
        while let Some(t) = self.peek().cloned() {
            if matches!(t, Tok::Directive(_)) {
                self.pos += 1;
                continue;
            }
            if depth == 0 && t.is_punct("}") {
                return;
            }
            self.pos += 1;
            if t.is_punct("(") || t.is_punct("[") || t.is_punct("{") {
                depth += 1;
            } else if t.is_punct(")") || t.is_punct("]") || t.is_punct("}") {
                depth = depth.saturating_sub(1);
            } else if depth == 0 && t.is_punct(";") {
                return;
            }
        }
    }

    /// Parses `*name[N][M] : bits, ...;` after a specifier.
    fn declarators(&mut self, base: String, members: &mut Vec<CMember>) {
        loop {
            self.skip_attributes();
            let mut pointers = 0;
            while self.eat_punct("*") {
                pointers += 1;
                while self
                    .peek()
                    .is_some_and(|t| t.is_ident("const") || t.is_ident("volatile"))
                {
                    self.pos += 1;
                }
            }
            let Some(Tok::Ident(name)) = self.peek().cloned() else {
                self.skip_member();
                return;
            };
            self.pos += 1;
            let mut dims = Vec::new();
            while self.eat_punct("[") {
                let mut parts = Vec::new();
                while let Some(t) = self.next() {
                    if t.is_punct("]") {
                        break;
                    }
                    parts.push(t.text().to_string());
                }
                dims.push(parts.join(" "));
            }
            if self.eat_punct(":") {
                // A bit-field width.
                while self
                    .peek()
                    .is_some_and(|t| !t.is_punct(",") && !t.is_punct(";") && !t.is_punct("}"))
                {
                    self.pos += 1;
                }
            }
            self.skip_attributes();
            members.push(CMember {
                name,
                ty: CType {
                    base: base.clone(),
                    pointers,
                    dims,
                },
                in_union: false,
            });
            if self.eat_punct(",") {
                continue;
            }
            if !self.eat_punct(";") {
                self.skip_member();
            }
            return;
        }
    }
}

/// Drops qualifiers and joins a specifier: `const __u32` → `__u32`.
fn normalize_specifier(spec: &[String]) -> String {
    spec.iter()
        .filter(|s| !matches!(s.as_str(), "const" | "volatile" | "__extension__"))
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member<'a>(s: &'a CStruct, name: &str) -> &'a CMember {
        s.members
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no member {name} in {}", s.name))
    }

    #[test]
    fn comments_and_defines() {
        let h = parse_header(
            "/* a\n * comment #define NOT_ME 1\n */\n#ifndef GUARD\n#define GUARD\n\
             #define A\t48 /* trailing */\n#define B (~(((__u64)1 << A) - 1))\n\
             // #define NOT_ME_EITHER 2\n#define LONG 1 + \\\n  2\n#define F(x) ((x) + 1)\n#endif\n",
        )
        .unwrap();
        let names: Vec<_> = h.defines.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["GUARD", "A", "B", "LONG", "F"]);
        assert_eq!(h.defines[1].body, "48");
        assert_eq!(h.defines[2].body, "(~(((__u64)1 << A) - 1))");
        assert_eq!(h.defines[3].body, "1 + 2");
        assert!(h.defines[4].function_like);
        assert_eq!(h.defines[4].body, "((x) + 1)");
        assert!(!h.defines[1].function_like);
    }

    #[test]
    fn enums_tagged_and_anonymous() {
        let h = parse_header(
            "enum flags {\n\tA = 1,\n\t/* note */ B = 1 << 1, C = (1U << 31)\n};\n\
             enum { X, Y = 5, __LAST, };\nenum e2 { Z };",
        )
        .unwrap();
        let got: Vec<_> = h
            .enumerators
            .iter()
            .map(|e| (e.name.as_str(), e.enum_tag.as_deref(), e.expr.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("A", Some("flags"), Some("1")),
                ("B", Some("flags"), Some("1 << 1")),
                ("C", Some("flags"), Some("( 1U << 31 )")),
                ("X", None, None),
                ("Y", None, Some("5")),
                ("__LAST", None, None),
                ("Z", Some("e2"), None),
            ]
        );
    }

    #[test]
    fn structs_with_arrays_and_nested_types() {
        let h = parse_header(
            "struct off { __u32 head; __u32 tail; __u64 __resv[2]; };\n\
             struct reg {\n\t__u32 a, b;\n\tstruct off offsets;\n\t__aligned_u64 p;\n\
             \t__s32 res; const __u8 m[2][3]; void *ptr; __u32 bits : 3;\n};",
        )
        .unwrap();
        let reg = h.find_struct("reg").unwrap();
        let names: Vec<_> = reg.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "offsets", "p", "res", "m", "ptr", "bits"]);
        let ty = |n| member(reg, n).ty.rust_equivalent();
        assert_eq!(ty("a").as_deref(), Some("u32"));
        assert_eq!(ty("offsets").as_deref(), Some("off"));
        assert_eq!(ty("p").as_deref(), Some("u64"));
        assert_eq!(ty("res").as_deref(), Some("i32"));
        assert_eq!(ty("m").as_deref(), Some("[[u8; 3]; 2]"));
        assert_eq!(ty("ptr"), None);
        assert_eq!(member(reg, "ptr").ty.to_string(), "void *");
        let off = h.find_struct("off").unwrap();
        assert_eq!(
            member(off, "__resv").ty.rust_equivalent().as_deref(),
            Some("[u64; 2]")
        );
    }

    #[test]
    fn anonymous_unions_and_structs_are_flattened() {
        let h = parse_header(
            "struct ctrl {\n\t__u32 id;\n\tunion {\n\t\tstruct export zc_export;\n\
             \t\tstruct flush zc_flush;\n\t\tstruct {\n\t\t\t__u16 lo;\n\t\t\t__u16 hi[1];\n\
             \t\t};\n\t};\n\tunion {\n\t\t__u16 buf_index;\n\t} __attribute__((packed));\n\
             \tstruct { __u8 x; } named;\n};",
        )
        .unwrap();
        let s = h.find_struct("ctrl").unwrap();
        let got: Vec<_> = s
            .members
            .iter()
            .map(|m| (m.name.as_str(), m.ty.to_string(), m.in_union))
            .collect();
        assert_eq!(
            got,
            [
                ("id", "__u32".to_string(), false),
                ("zc_export", "struct export".to_string(), true),
                ("zc_flush", "struct flush".to_string(), true),
                ("lo", "__u16".to_string(), true),
                ("hi", "__u16[1]".to_string(), true),
                ("buf_index", "__u16".to_string(), true),
                ("named", "struct <anonymous>".to_string(), false),
            ]
        );
        assert_eq!(
            member(s, "zc_export").ty.rust_equivalent().as_deref(),
            Some("export")
        );
    }

    #[test]
    fn skips_what_it_does_not_understand() {
        let h = parse_header(
            "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\
             typedef int __kernel_rwf_t;\n\
             static inline int f(int x) { if (x) { return 1; } return 0; }\n\
             struct fwd;\nstruct fwd *g(void);\n\
             struct flex { __u32 n; __DECLARE_FLEX_ARRAY(__u8, data); void (*cb)(int); __u32 tail; };\n\
             typedef struct { int q; } anon_t;\n\
             struct after { __u64 x; };\n\
             #ifdef __cplusplus\n}\n#endif\n",
        )
        .unwrap();
        let names: Vec<_> = h.structs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["flex", "after"]);
        let flex = h.find_struct("flex").unwrap();
        let m: Vec<_> = flex.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(m, ["n", "tail"]);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_header("struct a {};\n/* never closed\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("unterminated"));
    }

    #[test]
    fn retain_named_keeps_the_zcrx_part() {
        let mut h = parse_header(
            "struct io_uring_sqe { __u32 zcrx_ifq_idx; };\nstruct io_uring_zcrx_rqe { __u64 off; };\n\
             enum io_uring_register_op { IORING_REGISTER_ZCRX_IFQ = 32 };\n\
             enum zcrx_ctrl_op { ZCRX_CTRL_FLUSH_RQ, __ZCRX_CTRL_LAST };\n\
             #define IORING_ZCRX_AREA_SHIFT 48\n#define IORING_OFF_SQ_RING 0ULL\n",
        )
        .unwrap();
        h.retain_named("zcrx");
        assert_eq!(h.structs.len(), 1);
        assert_eq!(h.structs[0].name, "io_uring_zcrx_rqe");
        let e: Vec<_> = h.enumerators.iter().map(|e| e.name.as_str()).collect();
        // An enumerator is kept for its own name or its enum's tag.
        assert_eq!(
            e,
            [
                "IORING_REGISTER_ZCRX_IFQ",
                "ZCRX_CTRL_FLUSH_RQ",
                "__ZCRX_CTRL_LAST"
            ]
        );
        assert_eq!(h.defines.len(), 1);
    }

    #[test]
    fn integers() {
        assert_eq!(parse_c_integer("11"), Some(11));
        assert_eq!(parse_c_integer("0x10"), Some(16));
        assert_eq!(parse_c_integer("010"), Some(8));
        assert_eq!(parse_c_integer("3U"), Some(3));
        assert_eq!(parse_c_integer("N"), None);
    }
}
