//! The contract between `cargo xtask vm-test`/`vm-run` and the test VM's
//! `/init` (the `zcrx-guest-init` binary): the manifest format and the
//! console markers.
//!
//! # Manifest
//!
//! `/zcrx-vm/manifest` is UTF-8 text, one item per line:
//!
//! ```text
//! zcrx-vm-manifest 1
//! program zcrx-uapi/kernel_query
//! path /zcrx-vm/bin/0-kernel_query
//! arg --test-threads=2
//! env ZCRX_REQUIRE_KERNEL=1
//! end
//! ```
//!
//! Values run to the end of the line; a backslash escapes itself (`\\`) and a
//! newline (`\n`). Program names have no whitespace. Blank lines and lines
//! starting with `#` are ignored. Programs run in order.
//!
//! A kernel module to load before the programs run is one line outside the
//! program blocks, its path (without whitespace) then its parameters:
//!
//! ```text
//! module /zcrx-vm/bin/zcrx_sim.ko pairs=2 queues=4
//! ```
//!
//! # Console markers
//!
//! `/init` prints, each on its own line of the serial console:
//!
//! - `ZCRX-VM-KERNEL <uname -r>` once, after mounting;
//! - `ZCRX-VM-MODULE <path> loaded` for each module loaded (a module that
//!   cannot be loaded gives `ZCRX-VM-ERROR module <path>: <reason>`);
//! - `ZCRX-VM-RUN <index> <name>` before a program starts;
//! - `ZCRX-VM-EXIT <index> <status> <milliseconds>` after it ends, where
//!   status is the exit code, `signal:<n>` or `spawn-error`;
//! - `ZCRX-VM-ERROR <message>` if `/init` itself hits a problem;
//! - `ZCRX-VM-DONE <programs>` last, before powering off.

#![deny(missing_docs)]

use std::fmt;

/// Where the manifest is in the initramfs.
pub const MANIFEST_PATH: &str = "/zcrx-vm/manifest";
/// Where the programs are in the initramfs.
pub const BIN_DIR: &str = "/zcrx-vm/bin";
/// The first line of a manifest.
pub const MANIFEST_MAGIC: &str = "zcrx-vm-manifest 1";

/// Marker: the guest's kernel release.
pub const MARK_KERNEL: &str = "ZCRX-VM-KERNEL";
/// Marker: a kernel module was loaded.
pub const MARK_MODULE: &str = "ZCRX-VM-MODULE";
/// Marker: a program starts.
pub const MARK_RUN: &str = "ZCRX-VM-RUN";
/// Marker: a program ended.
pub const MARK_EXIT: &str = "ZCRX-VM-EXIT";
/// Marker: `/init` hit a problem of its own.
pub const MARK_ERROR: &str = "ZCRX-VM-ERROR";
/// Marker: every program ran; the guest powers off.
pub const MARK_DONE: &str = "ZCRX-VM-DONE";

/// The environment every program starts with (before its own `env` lines).
pub const BASE_ENV: &[(&str, &str)] = &[
    ("PATH", "/zcrx-vm/bin:/usr/bin:/bin"),
    ("HOME", "/tmp"),
    ("TMPDIR", "/tmp"),
    ("RUST_BACKTRACE", "1"),
    ("TERM", "dumb"),
    ("ZCRX_VM", "1"),
];

/// One program to run in the guest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Program {
    /// A name for the console and the summary (no whitespace).
    pub name: String,
    /// The executable, an absolute path in the guest.
    pub path: String,
    /// Arguments (without argv\[0\]).
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

/// A kernel module `/init` loads before running the programs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelModule {
    /// The `.ko`, an absolute path in the guest without whitespace.
    pub path: String,
    /// Its parameters, as for `insmod` (`pairs=2 queues=4`).
    pub params: String,
}

/// Everything the guest runs, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Kernel modules to load first, in order.
    pub modules: Vec<KernelModule>,
    /// The programs.
    pub programs: Vec<Program>,
}

/// A manifest that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "manifest line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ManifestError {}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Manifest {
    /// The manifest as text. Whitespace in a name is replaced by `_`.
    pub fn render(&self) -> String {
        let mut s = format!("{MANIFEST_MAGIC}\n");
        for m in &self.modules {
            s.push_str(&format!(
                "module {} {}\n",
                escape(&m.path),
                escape(&m.params)
            ));
        }
        for p in &self.programs {
            let name: String = p
                .name
                .chars()
                .map(|c| if c.is_whitespace() { '_' } else { c })
                .collect();
            s.push_str(&format!("program {name}\npath {}\n", escape(&p.path)));
            for a in &p.args {
                s.push_str(&format!("arg {}\n", escape(a)));
            }
            for (k, v) in &p.env {
                s.push_str(&format!("env {}={}\n", escape(k), escape(v)));
            }
            s.push_str("end\n");
        }
        s
    }

    /// Parses a manifest.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let err = |line: usize, reason: &str| ManifestError {
            line,
            reason: reason.to_owned(),
        };
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        match lines.next() {
            Some((_, l)) if l.trim_end() == MANIFEST_MAGIC => {}
            _ => return Err(err(1, "missing `zcrx-vm-manifest 1` header")),
        }
        let mut programs = Vec::new();
        let mut modules = Vec::new();
        let mut current: Option<Program> = None;
        for (n, line) in lines {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            match (key, current.as_mut()) {
                ("module", None) => {
                    let (path, params) = value.split_once(' ').unwrap_or((value, ""));
                    if !path.starts_with('/') {
                        return Err(err(n, "`module` needs an absolute path"));
                    }
                    modules.push(KernelModule {
                        path: unescape(path),
                        params: unescape(params.trim()),
                    });
                }
                ("program", None) => {
                    if value.is_empty() || value.contains(char::is_whitespace) {
                        return Err(err(n, "a program name is one word"));
                    }
                    current = Some(Program {
                        name: value.to_owned(),
                        ..Program::default()
                    });
                }
                ("program", Some(_)) => return Err(err(n, "`program` before `end`")),
                ("path", Some(p)) => p.path = unescape(value),
                ("arg", Some(p)) => p.args.push(unescape(value)),
                ("env", Some(p)) => match value.split_once('=') {
                    Some((k, v)) if !k.is_empty() => p.env.push((unescape(k), unescape(v))),
                    _ => return Err(err(n, "`env` needs KEY=VALUE")),
                },
                ("end", Some(_)) => {
                    let p = current.take().unwrap_or_default();
                    if p.path.is_empty() {
                        return Err(err(n, "program without `path`"));
                    }
                    programs.push(p);
                }
                (_, None) => return Err(err(n, "expected `program NAME`")),
                (other, Some(_)) => {
                    return Err(err(n, &format!("unknown key `{other}`")));
                }
            }
        }
        if current.is_some() {
            return Err(err(text.lines().count(), "missing `end`"));
        }
        Ok(Manifest { modules, programs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let m = Manifest {
            programs: vec![
                Program {
                    name: "zcrx-uapi/kernel_query".into(),
                    path: "/zcrx-vm/bin/0-kernel_query".into(),
                    args: vec!["--test-threads=2".into(), "a b\\c\nd".into(), String::new()],
                    env: vec![("ZCRX_REQUIRE_KERNEL".into(), "1".into())],
                },
                Program {
                    name: "two words".into(),
                    path: "/bin/x".into(),
                    ..Program::default()
                },
            ],
            ..Manifest::default()
        };
        let text = m.render();
        let back = Manifest::parse(&text).unwrap();
        assert!(back.modules.is_empty());
        assert_eq!(back.programs[0], m.programs[0]);
        assert_eq!(back.programs[1].name, "two_words");
    }

    #[test]
    fn modules_round_trip() {
        let m = Manifest {
            modules: vec![
                KernelModule {
                    path: "/zcrx-vm/bin/zcrx_sim.ko".into(),
                    params: "pairs=2 queues=4".into(),
                },
                KernelModule {
                    path: "/m/x.ko".into(),
                    params: String::new(),
                },
            ],
            programs: vec![Program {
                name: "p".into(),
                path: "/bin/p".into(),
                ..Program::default()
            }],
        };
        let text = m.render();
        assert!(text.contains("module /zcrx-vm/bin/zcrx_sim.ko pairs=2 queues=4\n"));
        assert_eq!(Manifest::parse(&text).unwrap(), m);
        let e = Manifest::parse("zcrx-vm-manifest 1\nmodule x.ko\n").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(Manifest::parse("").unwrap_err().line, 1);
        let e = Manifest::parse("zcrx-vm-manifest 1\nprogram a\narg x\n").unwrap_err();
        assert!(e.reason.contains("end"), "{e}");
        let e = Manifest::parse("zcrx-vm-manifest 1\nprogram a\nend\n").unwrap_err();
        assert_eq!((e.line, e.reason.as_str()), (3, "program without `path`"));
        let e = Manifest::parse("zcrx-vm-manifest 1\nprogram a\nenv X\n").unwrap_err();
        assert_eq!(e.line, 3);
        let e = Manifest::parse("zcrx-vm-manifest 1\npath /x\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        assert!(
            Manifest::parse("zcrx-vm-manifest 1\n# c\n\n")
                .unwrap()
                .programs
                .is_empty()
        );
    }
}
