//! What the example programs share on the command line: one-line argument
//! errors, byte sizes with suffixes, and one-line failure messages with the
//! exit statuses every program uses.
//!
//! | exit status | meaning |
//! |---|---|
//! | 0 | success (and `--help`, `--version`) |
//! | 1 | failure: the kernel refused, data did not verify, a peer failed ... |
//! | 2 | bad arguments |

use std::fmt;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

/// Prints one line on stdout, ignoring a closed stdout (`| head`): the
/// programs' own work must not fail, or panic, because nobody reads their
/// report any more. Rust's standard output is line-buffered, so the line is
/// flushed at once.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let mut out = ::std::io::stdout().lock();
        let _ = ::std::writeln!(out, $($arg)*);
    }};
}

/// Prints one line on stderr, ignoring a closed stderr.
#[macro_export]
macro_rules! say_err {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let mut err = ::std::io::stderr().lock();
        let _ = ::std::writeln!(err, $($arg)*);
    }};
}

/// Exit status for a failure.
pub const EXIT_FAILURE: u8 = 1;
/// Exit status for bad arguments (clap's own).
pub const EXIT_USAGE: u8 = 2;

/// Parses the process's arguments; on an error, prints it on one line
/// (`PROGRAM: MESSAGE (see --help)`) and exits with status 2. `--help` and
/// `--version` print as usual and exit 0.
pub fn parse_args<T: Parser>() -> T {
    match T::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let name = T::command().get_name().to_owned();
            exit_on_clap_error(&name, &e)
        }
    }
}

/// Parses `args` (the first one being the program name), returning a
/// one-line message on error; for tests and for programs that parse more
/// than once.
pub fn try_parse_from<T: Parser, I, S>(args: I) -> Result<T, String>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    T::try_parse_from(args).map_err(|e| one_line(&e))
}

fn exit_on_clap_error(name: &str, e: &clap::Error) -> ! {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            std::process::exit(0);
        }
        _ => {
            crate::say_err!("{name}: {}", one_line(e));
            std::process::exit(i32::from(EXIT_USAGE));
        }
    }
}

/// clap's message reduced to one line: its first paragraph, without the
/// `error: ` prefix, followed by `(see --help)`.
pub fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut parts: Vec<&str> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            if parts.is_empty() {
                continue;
            }
            break;
        }
        parts.push(line);
    }
    let joined = parts.join(" ");
    let msg = joined.strip_prefix("error: ").unwrap_or(&joined);
    format!("{msg} (see --help)")
}

/// A byte count given on the command line: a plain number of bytes, or a
/// number with a binary suffix `K`/`KiB`, `M`/`MiB`, `G`/`GiB`, `T`/`TiB`
/// (case-insensitive; `64M` is 64 × 2^20 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl std::str::FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        parse_size(s).map(ByteSize)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&human_bytes(self.0))
    }
}

/// Parses a byte count (see [`ByteSize`]).
///
/// ```
/// use zcrx_examples::cli::parse_size;
/// assert_eq!(parse_size("4096"), Ok(4096));
/// assert_eq!(parse_size("64M"), Ok(64 << 20));
/// assert_eq!(parse_size("1GiB"), Ok(1 << 30));
/// assert!(parse_size("12 parsecs").is_err());
/// ```
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let num: String = num.chars().filter(|&c| c != '_').collect();
    if num.is_empty() {
        return Err(format!(
            "invalid size {s:?}: expected a number of bytes, optionally with K, M, G or T"
        ));
    }
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?}: too large"))?;
    let shift = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" | "kb" => 10,
        "m" | "mib" | "mb" => 20,
        "g" | "gib" | "gb" => 30,
        "t" | "tib" | "tb" => 40,
        other => {
            return Err(format!(
                "invalid size {s:?}: unknown suffix {other:?} (use K, M, G or T: powers of 1024)"
            ));
        }
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("invalid size {s:?}: too large"))
}

/// A byte count for people: `512 B`, `4.0 KiB`, `64.0 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// A failure of a program: one line for the user, and an exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The message (one line, no program name).
    pub message: String,
    /// The exit status.
    pub code: u8,
}

impl Failure {
    /// A failure with exit status 1.
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code: EXIT_FAILURE,
        }
    }

    /// Bad arguments found after parsing (exit status 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            message: format!("{} (see --help)", message.into()),
            code: EXIT_USAGE,
        }
    }

    /// Prefixes the message with what was being done.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// Prints `PROGRAM: MESSAGE` on stderr and returns the exit status.
    pub fn report(&self, program: &str) -> ExitCode {
        crate::say_err!("{program}: {}", self.message);
        ExitCode::from(self.code)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The message for missing privileges, the same in every program.
pub const NEEDS_CAP_NET_ADMIN: &str = "needs CAP_NET_ADMIN: run as root or grant it";

/// The one-line message for an error of `zcrx-ring`: missing privileges and
/// missing kernel features get the wording every program shares.
pub fn describe_ring_error(e: &zcrx_ring::Error) -> String {
    match e {
        zcrx_ring::Error::PermissionDenied { op, .. } if op.contains("ZCRX") => {
            NEEDS_CAP_NET_ADMIN.to_owned()
        }
        zcrx_ring::Error::PermissionDenied { op, .. } => {
            format!(
                "{op}: permission denied (io_uring may be disabled for this process: see sysctl kernel.io_uring_disabled)"
            )
        }
        other => other.to_string(),
    }
}

impl From<zcrx_ring::Error> for Failure {
    fn from(e: zcrx_ring::Error) -> Self {
        Failure::new(describe_ring_error(&e))
    }
}

impl From<zcrx_ring::Unsupported> for Failure {
    fn from(u: zcrx_ring::Unsupported) -> Self {
        Failure::new(u.to_string())
    }
}

impl From<zcrx_notif::Error> for Failure {
    fn from(e: zcrx_notif::Error) -> Self {
        match e {
            zcrx_notif::Error::Ring(r) => r.into(),
            other => Failure::new(other.to_string()),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::new(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("1"), Ok(1));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("4 KiB"), Ok(4096));
        assert_eq!(parse_size("1_000"), Ok(1000));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
        assert!(parse_size("").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("1.5M").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("16777216T").is_err());
        assert!(
            parse_size("3 apples")
                .unwrap_err()
                .contains("unknown suffix")
        );
    }

    #[test]
    fn human() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(4096), "4.0 KiB");
        assert_eq!(human_bytes(64 << 20), "64.0 MiB");
    }

    #[test]
    fn ring_errors_share_wording() {
        let e = zcrx_ring::Error::PermissionDenied {
            op: "IORING_REGISTER_ZCRX_IFQ",
            capability: "CAP_NET_ADMIN",
        };
        assert_eq!(describe_ring_error(&e), NEEDS_CAP_NET_ADMIN);
        let u = zcrx_ring::Error::unsupported(
            "ZCRX_REG_NODEV",
            Some(zcrx_uapi::abi::KernelVersion::new(7, 1)),
        );
        assert_eq!(
            describe_ring_error(&u),
            "kernel lacks ZCRX_REG_NODEV (needs Linux >= 7.1)"
        );
    }
}
