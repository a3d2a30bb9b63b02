//! A uapi include tree under test: where it is, what it holds, and what it
//! is called in messages.

use std::path::{Path, PathBuf};

use super::AbiError;
use super::clang::{self, CHeader};
use super::cprobe::Compiler;

/// Headers that must exist in any tree the check accepts.
const REQUIRED: [&str; 3] = ["linux/io_uring.h", "linux/version.h", "linux/types.h"];

/// A uapi include tree (the directory that holds `linux/`).
#[derive(Clone, Debug)]
pub struct HeaderTree {
    /// The include directory, canonicalised.
    pub include: PathBuf,
    /// The architecture directory holding `asm/` (Debian puts it under
    /// `<include>/<multiarch>/`), when it is not directly in `include`.
    pub multiarch: Option<PathBuf>,
    /// What the headers are, for messages: `linux-libc-dev 7.3.4-1~bpo13+1`
    /// or `headers at /path`.
    pub label: String,
}

impl HeaderTree {
    /// Opens and validates a tree. `label` names its origin; without one
    /// the path is used.
    pub fn open(dir: &Path, label: Option<String>, cc: &Compiler) -> Result<Self, AbiError> {
        if !dir.is_dir() {
            return Err(AbiError::NoHeaders {
                dir: dir.to_path_buf(),
                reason: "no such directory".into(),
            });
        }
        let include = dir
            .canonicalize()
            .map_err(|e| AbiError::io(dir, "resolve", e))?;
        for rel in REQUIRED {
            if !include.join(rel).is_file() {
                return Err(AbiError::NoHeaders {
                    dir: dir.to_path_buf(),
                    reason: format!("{rel} is missing"),
                });
            }
        }
        let multiarch = if include.join("asm/types.h").is_file() {
            None
        } else {
            let mut candidates = Vec::new();
            if let Some(m) = cc.multiarch() {
                candidates.push(m);
            }
            candidates.push(format!("{}-linux-gnu", std::env::consts::ARCH));
            candidates
                .into_iter()
                .map(|m| include.join(m))
                .find(|d| d.join("asm/types.h").is_file())
        };
        let label = label.unwrap_or_else(|| format!("headers at {}", dir.display()));
        Ok(Self {
            include,
            multiarch,
            label,
        })
    }

    /// A tree that is not validated, for unit tests of code generation.
    #[cfg(test)]
    pub fn for_tests(dir: &str) -> Self {
        Self {
            include: PathBuf::from(dir),
            multiarch: None,
            label: format!("headers at {dir}"),
        }
    }

    /// Whether the tree has the header `rel` (`linux/io_uring/zcrx.h`).
    pub fn has(&self, rel: &str) -> bool {
        self.include.join(rel).is_file()
    }
}

/// The headers whose declarations the check reads.
const ZCRX: &str = "linux/io_uring/zcrx.h";
const QUERY: &str = "linux/io_uring/query.h";
const IO_URING: &str = "linux/io_uring.h";

/// The ZCRX and query headers of a tree, as clang lists their declarations.
#[derive(Clone, Debug, Default)]
pub struct ParsedHeaders {
    /// `(include path as the crate spells it, what it declares)`. For a
    /// tree older than Linux 7.1, the ZCRX part of `linux/io_uring.h`
    /// stands in for `linux/io_uring/zcrx.h` (under the name
    /// `linux/io_uring.h`).
    pub files: Vec<(&'static str, CHeader)>,
    /// All of `linux/io_uring.h`, for the member types of its structs (its
    /// items are not all mirrored, so it is not searched for missing ones).
    pub io_uring: Option<CHeader>,
    /// Everything the tree's files declare (these headers and what they
    /// include): what the C compiler is asked to measure.
    pub all: CHeader,
}

impl ParsedHeaders {
    /// The declarations of `linux/io_uring/zcrx.h` (or, when the tree has
    /// none, the items of `linux/io_uring.h` named after ZCRX),
    /// `linux/io_uring/query.h` when present, and `linux/io_uring.h`.
    pub fn read(tree: &HeaderTree, clang: &Path) -> Result<Self, AbiError> {
        let present: Vec<&str> = [IO_URING, ZCRX, QUERY]
            .into_iter()
            .filter(|h| tree.has(h))
            .collect();
        let mut decls = clang::declarations(clang, tree, &present)?;
        let mut all = CHeader::default();
        decls.values().for_each(|h| all.extend(h));
        let io_uring = decls.remove(IO_URING).unwrap_or_default();
        let mut files = Vec::new();
        if tree.has(ZCRX) {
            files.push((ZCRX, decls.remove(ZCRX).unwrap_or_default()));
        } else {
            let mut h = io_uring.clone();
            h.retain_named("zcrx");
            files.push((IO_URING, h));
        }
        if tree.has(QUERY) {
            files.push((QUERY, decls.remove(QUERY).unwrap_or_default()));
        }
        Ok(Self {
            files,
            io_uring: Some(io_uring),
            all,
        })
    }
}
