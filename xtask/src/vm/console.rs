//! Reading the guest's serial console: the markers of `/init`
//! (see [`zcrx_guest_init`]), libtest's summaries, `testkit`'s skips and the
//! kernel's panics and oopses.

use std::collections::VecDeque;
use std::fmt;

use zcrx_guest_init::{MARK_DONE, MARK_ERROR, MARK_EXIT, MARK_KERNEL, MARK_RUN};

/// How many console lines are kept for the report of a panic or a hang.
pub const TAIL_LINES: usize = 40;

/// How a guest program ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// It exited with this code.
    Exit(i32),
    /// A signal killed it.
    Signal(i32),
    /// `/init` could not start it.
    SpawnError,
    /// Something `/init` printed that this version does not know.
    Other(String),
}

impl Status {
    fn parse(s: &str) -> Status {
        if let Ok(code) = s.parse() {
            Status::Exit(code)
        } else if let Some(sig) = s.strip_prefix("signal:").and_then(|n| n.parse().ok()) {
            Status::Signal(sig)
        } else if s == "spawn-error" {
            Status::SpawnError
        } else {
            Status::Other(s.to_owned())
        }
    }

    /// Whether this is exit code 0.
    pub fn success(&self) -> bool {
        *self == Status::Exit(0)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Exit(c) => write!(f, "exit {c}"),
            Status::Signal(s) => write!(f, "killed by signal {s}"),
            Status::SpawnError => f.write_str("could not start"),
            Status::Other(s) => write!(f, "status {s}"),
        }
    }
}

/// What one guest program did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgramRun {
    /// Its name in the manifest.
    pub name: String,
    /// How it ended; `None` if it never did.
    pub status: Option<Status>,
    /// Its run time as measured in the guest.
    pub millis: u64,
    /// Tests passed, failed and ignored, summed over libtest's
    /// `test result:` lines.
    pub passed: u64,
    /// See [`ProgramRun::passed`].
    pub failed: u64,
    /// See [`ProgramRun::passed`].
    pub ignored: u64,
    /// `skipped: <test>: <reason>` lines (from `zcrx-testkit`).
    pub skipped: Vec<String>,
    /// Whether libtest printed any `test result:` line.
    pub libtest: bool,
    /// Tests that failed, from libtest's `---- NAME stdout ----` headers.
    pub failed_tests: Vec<String>,
}

impl ProgramRun {
    /// Whether it ran and exited 0.
    pub fn ok(&self) -> bool {
        self.status.as_ref().is_some_and(Status::success)
    }
}

/// The state of a guest, built from its console line by line.
#[derive(Debug, Clone, Default)]
pub struct Console {
    /// `uname -r` as reported by `/init`.
    pub kernel_release: Option<String>,
    /// The programs, by manifest index.
    pub programs: Vec<ProgramRun>,
    /// The index of the program running now.
    pub running: Option<usize>,
    /// Whether `/init` reported that every program ran.
    pub done: bool,
    /// The first line that shows a kernel panic.
    pub panic: Option<String>,
    /// Kernel oops, BUG and WARNING lines.
    pub kernel_problems: Vec<String>,
    /// `ZCRX-VM-ERROR` messages of `/init`.
    pub init_errors: Vec<String>,
    /// The kernel's "Initramfs unpacking failed" line.
    pub unpack_failed: Option<String>,
    tail: VecDeque<String>,
}

/// Finds `marker` followed by a space or the end of the line, anywhere in
/// `line` (the kernel may have printed on the same console line), and
/// returns what follows it.
fn after_marker<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let at = line.find(marker)?;
    let rest = &line[at + marker.len()..];
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix(' ').map(str::trim)
    }
}

/// Parses libtest's `test result: ok. 7 passed; 0 failed; 1 ignored; ...`.
fn libtest_counts(line: &str) -> Option<(u64, u64, u64)> {
    let rest = &line[line.find("test result: ")? + "test result: ".len()..];
    let rest = rest.split_once(". ")?.1;
    let mut counts = (0, 0, 0);
    for part in rest.split(';') {
        let mut words = part.split_whitespace();
        let (Some(n), Some(what)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        match what {
            "passed" => counts.0 = n,
            "failed" => counts.1 = n,
            "ignored" => counts.2 = n,
            _ => {}
        }
    }
    Some(counts)
}

impl Console {
    /// The programs the manifest lists, so that one that never ran shows.
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        Console {
            programs: names
                .into_iter()
                .map(|name| ProgramRun {
                    name,
                    ..ProgramRun::default()
                })
                .collect(),
            ..Console::default()
        }
    }

    /// Takes one console line (without its line ending).
    pub fn feed(&mut self, raw: &str) {
        let line = raw.trim_end_matches(['\r', '\n']);
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_owned());

        if self.panic.is_none() && (line.contains("Kernel panic") || line.contains("kernel BUG at"))
        {
            self.panic = Some(line.trim().to_owned());
        }
        if self.unpack_failed.is_none() && line.contains("Initramfs unpacking failed") {
            self.unpack_failed = Some(line.trim().to_owned());
        }
        if ["Oops:", "BUG:", "WARNING: CPU:", "general protection fault"]
            .iter()
            .any(|p| line.contains(p))
        {
            self.kernel_problems.push(line.trim().to_owned());
        }

        if let Some(rel) = after_marker(line, MARK_KERNEL) {
            self.kernel_release = Some(rel.to_owned());
        } else if let Some(rest) = after_marker(line, MARK_RUN) {
            let mut it = rest.splitn(2, ' ');
            if let Some(i) = it.next().and_then(|i| i.parse::<usize>().ok()) {
                let name = it.next().unwrap_or("?").to_owned();
                self.slot(i, &name);
                self.running = Some(i);
            }
        } else if let Some(rest) = after_marker(line, MARK_EXIT) {
            let mut it = rest.split_whitespace();
            if let (Some(i), Some(status)) = (it.next().and_then(|i| i.parse().ok()), it.next()) {
                let millis = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
                let p = self.slot(i, "?");
                p.status = Some(Status::parse(status));
                p.millis = millis;
                self.running = None;
            }
        } else if let Some(rest) = after_marker(line, MARK_DONE) {
            let _ = rest;
            self.done = true;
            self.running = None;
        } else if let Some(msg) = after_marker(line, MARK_ERROR) {
            self.init_errors.push(msg.to_owned());
        } else if let Some(i) = self.running {
            if let Some((passed, failed, ignored)) = libtest_counts(line) {
                let p = &mut self.programs[i];
                p.libtest = true;
                p.passed += passed;
                p.failed += failed;
                p.ignored += ignored;
            } else if let Some(at) = skip_line_at(line) {
                self.programs[i].skipped.push(line[at..].to_owned());
            } else if let Some(name) = line
                .trim()
                .strip_prefix("---- ")
                .and_then(|l| l.strip_suffix(" stdout ----"))
            {
                self.programs[i].failed_tests.push(name.to_owned());
            }
        }
    }

    fn slot(&mut self, i: usize, name: &str) -> &mut ProgramRun {
        if self.programs.len() <= i {
            self.programs.resize_with(i + 1, ProgramRun::default);
        }
        let p = &mut self.programs[i];
        if p.name.is_empty() {
            p.name = name.to_owned();
        }
        p
    }

    /// The last console lines (at most [`TAIL_LINES`]).
    pub fn tail(&self) -> impl Iterator<Item = &str> {
        self.tail.iter().map(String::as_str)
    }

    /// The outcome of the boot, given how QEMU ended.
    pub fn verdict(&self, timed_out: Option<u64>) -> Verdict {
        // First: a truncated initramfs explains whatever follows (no /init,
        // a panic for want of one, a hang).
        if let Some(line) = &self.unpack_failed {
            return Verdict::UnpackFailed(line.clone());
        }
        if let Some(line) = &self.panic {
            return Verdict::KernelPanic(line.clone());
        }
        if let Some(secs) = timed_out {
            return Verdict::Hang {
                secs,
                running: self.running.map(|i| self.programs[i].name.clone()),
                init_started: self.kernel_release.is_some(),
            };
        }
        if !self.done {
            return Verdict::NoDone {
                running: self.running.map(|i| self.programs[i].name.clone()),
                init_error: self.init_errors.last().cloned(),
            };
        }
        let failed: Vec<String> = self
            .programs
            .iter()
            .filter(|p| !p.ok())
            .map(|p| match &p.status {
                Some(s) if p.failed_tests.is_empty() => format!("{} ({s})", p.name),
                Some(s) => format!("{} ({s}; failed: {})", p.name, p.failed_tests.join(", ")),
                None => format!("{} (never ran)", p.name),
            })
            .collect();
        if !failed.is_empty() {
            return Verdict::Failed(failed);
        }
        if !self.kernel_problems.is_empty() {
            return Verdict::KernelProblem(self.kernel_problems[0].clone());
        }
        Verdict::Passed
    }
}

/// The outcome of one boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every program ran and exited 0.
    Passed,
    /// These programs failed (name and status).
    Failed(Vec<String>),
    /// The kernel panicked (the line).
    KernelPanic(String),
    /// The kernel reported an oops, BUG or WARNING (the first line).
    KernelProblem(String),
    /// The kernel could not unpack the initramfs (the line saying so):
    /// nearly always a guest too small to hold it.
    UnpackFailed(String),
    /// The guest did not finish in time.
    Hang {
        /// The timeout.
        secs: u64,
        /// The program running then, if any.
        running: Option<String>,
        /// Whether `/init` had started (reported the kernel release).
        init_started: bool,
    },
    /// QEMU itself failed (its status and last message).
    QemuFailed(String),
    /// QEMU ended before `/init` reported `ZCRX-VM-DONE`.
    NoDone {
        /// The program running then, if any.
        running: Option<String>,
        /// The last error `/init` reported.
        init_error: Option<String>,
    },
}

impl Verdict {
    /// Whether the boot passed.
    pub fn passed(&self) -> bool {
        *self == Verdict::Passed
    }

    /// Whether the report should show the last console lines.
    pub fn wants_tail(&self) -> bool {
        !matches!(self, Verdict::Passed | Verdict::Failed(_))
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Passed => f.write_str("passed"),
            Verdict::Failed(names) => write!(f, "failed: {}", names.join(", ")),
            Verdict::KernelPanic(line) => write!(f, "guest kernel panic: {line}"),
            Verdict::KernelProblem(line) => write!(f, "guest kernel reported a problem: {line}"),
            Verdict::UnpackFailed(line) => {
                write!(f, "the guest could not unpack its initramfs ({line})")?;
                if line.contains("write error") {
                    f.write_str(
                        ": its memory is too small for the test programs; raise --memory \
                         (ZCRX_VM_MEMORY)",
                    )?;
                }
                Ok(())
            }
            Verdict::QemuFailed(why) => write!(f, "QEMU failed: {why}"),
            Verdict::Hang {
                secs,
                running,
                init_started,
            } => {
                write!(f, "guest hung: no power-off within {secs} s")?;
                match (running, init_started) {
                    (Some(p), _) => write!(f, " (while running {p})"),
                    (None, true) => f.write_str(" (in /init, between programs)"),
                    (None, false) => f.write_str(" (before /init started: still booting?)"),
                }
            }
            Verdict::NoDone {
                running,
                init_error,
            } => {
                f.write_str("guest stopped before /init reported ZCRX-VM-DONE")?;
                if let Some(p) = running {
                    write!(f, " (while running {p})")?;
                }
                if let Some(e) = init_error {
                    write!(f, "; /init: {e}")?;
                }
                Ok(())
            }
        }
    }
}

/// Where a `zcrx-testkit` skip line (`skipped: <test>: <reason>`) starts:
/// at the start of the line, or right after libtest's `test <name> ... `
/// when the two outputs share a console line. Text that merely contains
/// "skipped: " (a test's own output) is not a skip.
fn skip_line_at(line: &str) -> Option<usize> {
    let at = line.find("skipped: ")?;
    let before = line[..at].trim_start();
    let rest = &line[at + "skipped: ".len()..];
    (rest.contains(": ")
        && (before.is_empty() || (before.starts_with("test ") && before.ends_with("... "))))
    .then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(c: &mut Console, text: &str) {
        for l in text.lines() {
            c.feed(l);
        }
    }

    #[test]
    fn a_passing_boot() {
        let mut c = Console::new(["a/kernel_x".to_owned(), "b/kernel_y".to_owned()]);
        feed(
            &mut c,
            "[    0.5] random kernel line\r\n\
             ZCRX-VM-KERNEL 7.3.4+deb13-cloud-amd64\r\n\
             ZCRX-VM-RUN 0 a/kernel_x\r\n\
             running 3 tests\n\
             test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out\n\
             ZCRX-VM-EXIT 0 0 120\n\
             ZCRX-VM-RUN 1 b/kernel_y\n\
             skipped: zcrx_probe: kernel lacks IO_URING_QUERY_ZCRX_EVENT (needs Linux >= 7.2)\n\
             test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n\
             ZCRX-VM-EXIT 1 0 80\n\
             ZCRX-VM-DONE 2\n",
        );
        assert_eq!(c.kernel_release.as_deref(), Some("7.3.4+deb13-cloud-amd64"));
        assert_eq!(c.verdict(None), Verdict::Passed);
        assert_eq!((c.programs[0].passed, c.programs[0].ignored), (3, 1));
        assert_eq!(c.programs[0].millis, 120);
        assert_eq!(c.programs[1].skipped.len(), 1);
        assert!(c.programs[1].skipped[0].starts_with("skipped: zcrx_probe"));
    }

    #[test]
    fn failures_are_named() {
        let mut c = Console::new(["ok".to_owned(), "bad".to_owned(), "sig".to_owned()]);
        feed(
            &mut c,
            "ZCRX-VM-RUN 0 ok\nZCRX-VM-EXIT 0 0 1\n\
             ZCRX-VM-RUN 1 bad\n\
             ---- first stdout ----\n\
             ---- mod::second stdout ----\n\
             test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out\n\
             ZCRX-VM-EXIT 1 101 5\n\
             ZCRX-VM-RUN 2 sig\nZCRX-VM-EXIT 2 signal:11 5\nZCRX-VM-DONE 3\n",
        );
        assert_eq!(c.programs[1].failed, 2);
        let v = c.verdict(None);
        assert_eq!(
            v,
            Verdict::Failed(vec![
                "bad (exit 101; failed: first, mod::second)".into(),
                "sig (killed by signal 11)".into()
            ])
        );
        assert!(!v.wants_tail());
    }

    #[test]
    fn kernel_panic_wins() {
        let mut c = Console::new(["p".to_owned()]);
        feed(
            &mut c,
            "ZCRX-VM-RUN 0 p\n\
             [    3.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\n\
             [    3.1] ---[ end Kernel panic - not syncing: Attempted to kill init! ]---\n",
        );
        let v = c.verdict(None);
        assert!(
            matches!(&v, Verdict::KernelPanic(l) if l.contains("Attempted to kill init")),
            "{v:?}"
        );
        assert!(v.wants_tail());
        assert!(v.to_string().starts_with("guest kernel panic"));
    }

    #[test]
    fn missing_done_and_hang() {
        let mut c = Console::new(["p".to_owned(), "q".to_owned()]);
        feed(
            &mut c,
            "ZCRX-VM-RUN 0 p\nZCRX-VM-EXIT 0 0 3\nZCRX-VM-RUN 1 q\n",
        );
        let v = c.verdict(None);
        assert_eq!(
            v,
            Verdict::NoDone {
                running: Some("q".into()),
                init_error: None
            }
        );
        assert!(v.to_string().contains("while running q"));
        let v = c.verdict(Some(600));
        assert!(
            v.to_string()
                .contains("no power-off within 600 s (while running q)")
        );

        // DONE with a program that never reported an exit.
        let mut c = Console::new(["p".to_owned()]);
        feed(
            &mut c,
            "ZCRX-VM-ERROR reading /zcrx-vm/manifest: No such file\n",
        );
        assert!(
            c.verdict(None)
                .to_string()
                .contains("/init: reading /zcrx-vm/manifest")
        );
        let mut c = Console::new(["p".to_owned()]);
        feed(&mut c, "ZCRX-VM-DONE 0\n");
        assert_eq!(
            c.verdict(None),
            Verdict::Failed(vec!["p (never ran)".into()])
        );
    }

    #[test]
    fn an_initramfs_that_did_not_unpack_names_the_guest_memory() {
        let mut c = Console::new(["p".to_owned()]);
        feed(
            &mut c,
            "[   14.9] Initramfs unpacking failed: write error\n\
             ZCRX-VM-ERROR reading /zcrx-vm/manifest: No such file or directory\n",
        );
        let v = c.verdict(None);
        assert!(matches!(v, Verdict::UnpackFailed(_)), "{v:?}");
        assert!(v.to_string().contains("--memory"), "{v}");
        assert!(v.wants_tail());
        // Before the panic it causes; other unpack errors name no cause.
        let mut c = Console::new(["p".to_owned()]);
        feed(
            &mut c,
            "[ 1.0] Initramfs unpacking failed: junk within compressed archive\n\
             [ 1.2] Kernel panic - not syncing: No working init found.\n",
        );
        let v = c.verdict(None);
        assert!(matches!(v, Verdict::UnpackFailed(_)), "{v:?}");
        assert!(!v.to_string().contains("--memory"), "{v}");
    }

    #[test]
    fn oops_fails_an_otherwise_good_boot() {
        let mut c = Console::new(Vec::new());
        feed(
            &mut c,
            "[ 1.0] BUG: kernel NULL pointer dereference, address: 0000000000000008\n\
             ZCRX-VM-DONE 0\n",
        );
        assert!(matches!(c.verdict(None), Verdict::KernelProblem(_)));
    }

    #[test]
    fn tail_is_bounded_and_markers_need_a_word_boundary() {
        let mut c = Console::new(Vec::new());
        for i in 0..100 {
            c.feed(&format!("line {i}"));
        }
        c.feed("ZCRX-VM-DONEX");
        assert!(!c.done);
        let tail: Vec<&str> = c.tail().collect();
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail[TAIL_LINES - 1], "ZCRX-VM-DONEX");
        assert_eq!(
            libtest_counts("test result: ok. 0 passed; 0 failed;"),
            Some((0, 0, 0))
        );
        assert_eq!(libtest_counts("no"), None);
    }

    #[test]
    fn only_testkit_lines_count_as_skips() {
        assert_eq!(skip_line_at("skipped: t: kernel lacks X"), Some(0));
        assert_eq!(
            skip_line_at("test t ... skipped: t: kernel lacks X"),
            Some(11)
        );
        assert_eq!(skip_line_at("padding entries skipped: 1249"), None);
        assert_eq!(skip_line_at("skipped: no reason"), None);
    }
}
