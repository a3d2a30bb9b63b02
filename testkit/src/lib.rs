//! Test helpers for the zcrx workspace (dev-only, not published).
//!
//! # Skip or require
//!
//! A test that needs something the running kernel may lack starts with
//! [`require!`]:
//!
//! ```no_run
//! # fn demo() {
//! let probe = zcrx_testkit::probe();
//! zcrx_testkit::require!(probe.zcrx().is_ok(), "{}", zcrx_testkit::lacks("IO_URING_QUERY_ZCRX"));
//! // ... the test proper
//! # }
//! ```
//!
//! - On a developer's host (`ZCRX_REQUIRE_KERNEL` unset) a missing feature
//!   prints `skipped: <test>: <reason>` to stderr and returns early: the
//!   test passes.
//! - With `ZCRX_REQUIRE_KERNEL=1` (what `cargo xtask vm-test` sets on the
//!   7.3 and 7.2 guests) it panics with
//!   `required kernel feature missing: <reason>`: a guest run can never pass
//!   by skipping.
//!
//! Tests returning `Result` use the function form [`require()`]:
//! `if !zcrx_testkit::require(cond, "reason") { return Ok(()); }`.
//!
//! # Probe
//!
//! [`probe()`] asks the kernel `IORING_REGISTER_QUERY` (no ring needed) for the
//! opcode, ZCRX, ZCRX event and SQ/CQ replies in one chain. It is
//! deliberately tiny; the real capability API is `zcrx-ring`'s.
//!
//! # NIC
//!
//! [`nic::NicPair`] sets up (or, with `ZCRX_NIC_*`, finds) a receiving
//! interface and a sender namespace linked to it, for NIC-mode tests.
//!
//! # Counting allocations
//!
//! [`CountingAlloc`], installed as a test binary's global allocator, counts
//! allocations per process ([`allocations`]) and per thread
//! ([`thread_allocations`]).

#![deny(missing_docs)]

mod alloc;
pub mod nic;
mod probe;

pub use alloc::{CountingAlloc, allocations, thread_allocations};
pub use probe::{Probe, ProbeError, Reply, probe, query_chain};

/// The environment variable that turns skips into failures.
pub const REQUIRE_ENV: &str = "ZCRX_REQUIRE_KERNEL";

/// Whether `ZCRX_REQUIRE_KERNEL` is set (to anything but empty or `0`).
pub fn require_kernel() -> bool {
    std::env::var_os(REQUIRE_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

/// The name of the running test: libtest names each test's thread after it.
pub fn current_test() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_owned(),
        _ => "<test>".to_owned(),
    }
}

/// `true` if `available`; otherwise skips (prints `skipped: <test>: <reason>`
/// and returns `false`) or, under `ZCRX_REQUIRE_KERNEL=1`, panics with
/// `required kernel feature missing: <reason>`.
#[track_caller]
pub fn require(available: bool, reason: &str) -> bool {
    require_in_mode(available, reason, require_kernel())
}

#[track_caller]
fn require_in_mode(available: bool, reason: &str, required: bool) -> bool {
    if available {
        return true;
    }
    if required {
        panic!("required kernel feature missing: {reason} ({REQUIRE_ENV}=1)");
    }
    // Written to the stderr handle, not with `eprintln!`: libtest captures
    // the macros' output of passing tests, and a skip must always show. One
    // write, so that the line stays whole next to libtest's own output.
    use std::io::Write as _;
    let line = format!("skipped: {}: {reason}\n", current_test());
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    false
}

/// Skips the rest of the test (returns from the enclosing function) when
/// `$cond` is false; panics instead under `ZCRX_REQUIRE_KERNEL=1`. The reason
/// is formatted like `format!`, and only when `$cond` is false.
///
/// ```
/// fn needs_something() {
///     zcrx_testkit::require!(1 + 1 == 2, "arithmetic");
///     // runs
/// }
/// needs_something();
/// ```
#[macro_export]
macro_rules! require {
    ($cond:expr, $($reason:tt)+) => {
        // The reason is formatted only when the feature is missing.
        if !($cond) && !$crate::require(false, &::std::format!($($reason)+)) {
            return;
        }
    };
}

/// `"kernel lacks ITEM (needs Linux >= X.Y)"`, with the version from
/// `zcrx-uapi`'s ABI tables (constants and structs).
pub fn lacks(item: &str) -> String {
    let since = zcrx_uapi::abi::find_const(item)
        .map(|c| c.since)
        .or_else(|| zcrx_uapi::abi::find_struct(item).map(|s| s.since));
    match since {
        Some(v) => format!("kernel lacks {item} (needs Linux >= {v})"),
        None => format!("kernel lacks {item}"),
    }
}

/// The running kernel's release (`uname -r`).
pub fn kernel_release() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

/// `(major, minor, patch)` of a release such as `7.3.4+deb13-cloud-amd64`;
/// missing numbers are 0.
pub fn parse_release(release: &str) -> (u32, u32, u32) {
    let mut nums = release
        .split(|c: char| !c.is_ascii_digit())
        .take(3)
        .map(|n| n.parse().unwrap_or(0));
    (
        nums.next().unwrap_or(0),
        nums.next().unwrap_or(0),
        nums.next().unwrap_or(0),
    )
}

/// `(major, minor)` of the running kernel.
pub fn kernel_version() -> (u32, u32) {
    let (major, minor, _) = parse_release(&kernel_release());
    (major, minor)
}

/// Whether the running kernel is at least `major.minor`.
pub fn kernel_at_least(major: u32, minor: u32) -> bool {
    kernel_version() >= (major, minor)
}

/// Whether the process runs as root (effective uid 0).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Whether the process has `CAP_NET_ADMIN` in its effective set (from
/// `/proc/self/status`), which ZCRX registration needs.
pub fn has_cap_net_admin() -> bool {
    /// Its bit number (`linux/capability.h`).
    const CAP_NET_ADMIN: u32 = 12;
    effective_caps().is_some_and(|caps| caps & (1 << CAP_NET_ADMIN) != 0)
}

fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// Whether this runs in `cargo xtask`'s guest (`ZCRX_VM=1`, set by its
/// `/init`).
pub fn in_test_vm() -> bool {
    std::env::var_os("ZCRX_VM").is_some_and(|v| v == "1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases() {
        assert_eq!(parse_release("7.3.4+deb13-cloud-amd64"), (7, 3, 4));
        assert_eq!(parse_release("6.18.44-fc-v657"), (6, 18, 44));
        assert_eq!(parse_release("7.2-rc7"), (7, 2, 0));
        assert_eq!(parse_release(""), (0, 0, 0));
        let (major, _) = kernel_version();
        assert!(major >= 5, "{}", kernel_release());
    }

    #[test]
    fn lacks_names_the_version() {
        assert_eq!(
            lacks("IO_URING_QUERY_ZCRX"),
            "kernel lacks IO_URING_QUERY_ZCRX (needs Linux >= 6.19)"
        );
        assert_eq!(
            lacks("ZCRX_REG_NODEV"),
            "kernel lacks ZCRX_REG_NODEV (needs Linux >= 7.1)"
        );
        assert_eq!(lacks("NO_SUCH_THING"), "kernel lacks NO_SUCH_THING");
    }

    #[test]
    fn require_skips_or_passes() {
        // Runs on the host; under ZCRX_REQUIRE_KERNEL the skip would panic,
        // which the next test covers.
        if !require_kernel() {
            assert!(!require(false, "testing the skip path"));
        }
        assert!(require(true, "never printed"));
    }

    #[test]
    fn the_macro_returns_early() {
        fn body(reached: &mut bool) {
            if require_kernel() {
                return;
            }
            require!(false, "macro {}", "skip");
            *reached = true;
        }
        let mut reached = false;
        body(&mut reached);
        assert!(!reached);
    }

    #[test]
    fn require_panics_in_require_mode() {
        assert!(!require_in_mode(false, "skip path", false));
        assert!(require_in_mode(true, "x", true));
        let err = std::panic::catch_unwind(|| require_in_mode(false, "x", true)).unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.starts_with("required kernel feature missing: x"),
            "{msg}"
        );
    }

    #[test]
    fn host_facts_do_not_panic() {
        let _ = is_root();
        let _ = has_cap_net_admin();
        let _ = in_test_vm();
        assert!(current_test().contains("host_facts_do_not_panic"));
    }
}
