//! Guest test (`cargo xtask vm-test`: Linux 7.3 and 7.2 with
//! `ZCRX_REQUIRE_KERNEL=1`; skips with the reason on the host and on 6.19):
//! the example programs end to end, as separate processes on loopback.
//!
//! - byte-exact transfers of 1 byte, 4 KiB, 1 MiB and 64 MiB (`--verify`
//!   and `--sha256` against the digest computed here);
//! - several connections over several threads;
//! - `--notify`: notifications printed and re-armed, the stats counting
//!   every byte (NODEV copies all of them);
//! - `--sha256` of a file's contents, and `--verify` naming the first wrong
//!   byte;
//! - the one-line error without CAP_NET_ADMIN;
//! - `zcrx-info` on a kernel that has everything.
//!
//! The programs are found next to this test binary (vm-test ships the
//! package's binaries there) or where cargo built them.

mod common;

use std::time::Duration;

use common::{Receiver, digests, pattern_sha256, run, sha256};
use zcrx_ring::caps::Capabilities;
use zcrx_testkit::{has_cap_net_admin, lacks, require};

const LIMIT: Duration = Duration::from_secs(240);

/// Skips (or fails under ZCRX_REQUIRE_KERNEL=1) unless the kernel has NODEV
/// receive and this process may register.
macro_rules! require_nodev {
    () => {
        let caps = Capabilities::query();
        let zcrx = caps.zcrx();
        require!(zcrx.is_ok(), "{}", zcrx.as_ref().unwrap_err());
        require!(
            zcrx.is_ok_and(|z| z.supports_nodev()),
            "{}",
            lacks("ZCRX_REG_NODEV")
        );
        require!(has_cap_net_admin(), "needs CAP_NET_ADMIN");
    };
}

/// Skips unless the kernel has notifications (Linux 7.2).
macro_rules! require_notify {
    () => {
        let support = zcrx_notif::Support::query();
        require!(
            support.is_available(),
            "{}",
            support.error().map(|e| e.to_string()).unwrap_or_default()
        );
    };
}

/// One receiver, one sender: `conns` connections of `bytes` each.
fn transfer(bytes: u64, conns: u32, recv_extra: &[&str]) -> common::Outcome {
    let conns_s = conns.to_string();
    let mut args = vec!["--nodev", "--no-progress", "--connections", &conns_s];
    args.extend_from_slice(recv_extra);
    let recv = Receiver::start(&args, LIMIT);
    let bytes_s = bytes.to_string();
    let send = run(
        "zcrx-send",
        &[&recv.addr, "--bytes", &bytes_s, "--connections", &conns_s],
        LIMIT,
    );
    assert!(send.status.success(), "zcrx-send failed: {send:?}");
    let total = bytes * u64::from(conns);
    assert!(
        send.stdout.contains(&format!("sent {total} bytes")),
        "{send:?}"
    );
    let out = recv.finish(LIMIT);
    assert!(out.status.success(), "zcrx-recv failed: {out:?}");
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with(&format!("received {total} bytes in "))),
        "{out:?}"
    );
    eprintln!(
        "{} x {bytes} bytes: {}",
        conns,
        out.stdout
            .lines()
            .find(|l| l.starts_with("received "))
            .unwrap_or("")
    );
    out
}

fn check_exact(bytes: u64, conns: u32, recv_extra: &[&str]) -> common::Outcome {
    let mut extra = vec!["--verify", "--sha256"];
    extra.extend_from_slice(recv_extra);
    let out = transfer(bytes, conns, &extra);
    let want = pattern_sha256(bytes);
    let got = digests(&out);
    assert_eq!(got.len(), conns as usize, "{out:?}");
    for d in &got {
        assert_eq!(d, &want, "sha256 of a {bytes}-byte stream");
    }
    assert!(
        out.stdout
            .contains("verified: every byte matches the pattern")
    );
    assert!(out.stderr.is_empty(), "stderr: {}", out.stderr);
    out
}

#[test]
fn byte_exact_small_transfers() {
    require_nodev!();
    for bytes in [1, 4096, 1 << 20] {
        check_exact(bytes, 1, &["--area-size", "4M"]);
    }
}

#[test]
fn byte_exact_64_mib() {
    require_nodev!();
    require_notify!();
    // With notifications re-armed every 100 ms (the default) while it runs,
    // and progress lines although stdout is not a terminal.
    let out = check_exact(
        64 << 20,
        1,
        &["--area-size", "16M", "--notify", "--progress"],
    );
    let secs: f64 = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("received 67108864 bytes in "))
        .and_then(|l| l.split(' ').next())
        .and_then(|s| s.parse().ok())
        .expect("the summary line");
    if secs > 1.5 {
        let progress = out.stdout.lines().find(|l| l.starts_with("progress: "));
        let line =
            progress.unwrap_or_else(|| panic!("no progress line in {secs} s: {}", out.stdout));
        for part in ["received", "MiB/s", "completions", "buffers in flight"] {
            assert!(line.contains(part), "{line}");
        }
    }
}

/// The notification lines of a receiver's output: (notifications, re-arms).
fn notification_lines(out: &common::Outcome) -> (usize, usize) {
    let notes = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("notification: copy-fallback (ZCRX_EVENT_COPY) (thread "))
        .count();
    let rearms = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("re-armed copy-fallback (ZCRX_EVENT_COPY) (thread "))
        .count();
    (notes, rearms)
}

#[test]
fn notifications_are_printed_and_rearmed() {
    require_nodev!();
    require_notify!();
    // Three connections one after the other, each sent only once the
    // previous one is closed and its notification re-armed: the kernel
    // copies a connection's data as it arrives, possibly before the loop
    // reads the notification, so a single stream may cause one notification
    // only; a stream that starts after the re-arm must cause another.
    let mut recv = Receiver::start(
        &[
            "--nodev",
            "--no-progress",
            "--notify",
            "--rearm-ms",
            "0",
            "--verify",
            "--connections",
            "3",
            "--area-size",
            "4M",
        ],
        LIMIT,
    );
    let is_note = |l: &str| l.starts_with("notification: copy-fallback (ZCRX_EVENT_COPY) (thread ");
    let is_rearm = |l: &str| l.starts_with("re-armed copy-fallback (ZCRX_EVENT_COPY) (thread ");
    let is_closed = |l: &str| l.starts_with("connection ") && l.contains(" closed: ");
    for i in 1..=3 {
        let send = run("zcrx-send", &[&recv.addr, "--bytes", "256K"], LIMIT);
        assert!(send.status.success(), "{send:?}");
        recv.wait_lines(is_closed, i, LIMIT);
        recv.wait_lines(is_note, i, LIMIT);
        recv.wait_lines(is_rearm, i, LIMIT);
    }
    let out = recv.finish(LIMIT);
    assert!(out.status.success(), "{out:?}");
    let notes = out.stdout.lines().filter(|l| is_note(l)).count();
    let rearms = out.stdout.lines().filter(|l| is_rearm(l)).count();
    assert!(notes >= 3 && rearms >= 3, "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!(
            "notifications: {notes} copy-fallback, 0 no-buffers, {rearms} re-armed"
        )),
        "{}",
        out.stdout
    );
    // NODEV copies every byte; with 256 KiB writes over loopback the
    // payload arrives in page fragments, which the kernel's stats count.
    let stats = out
        .stdout
        .lines()
        .find(|l| l.starts_with("stats: "))
        .expect("a stats line");
    assert!(
        stats.contains("copy_bytes 786432 (copied page fragments;"),
        "{stats}"
    );
    assert!(
        out.stdout
            .contains("verified: every byte matches the pattern")
    );
}

#[test]
fn notifications_and_stats_over_several_threads() {
    require_nodev!();
    require_notify!();
    let out = transfer(
        128 << 10,
        4,
        &[
            "--notify",
            "--threads",
            "2",
            "--area-size",
            "2M",
            "--sha256",
        ],
    );
    let (notes, _) = notification_lines(&out);
    assert!(notes >= 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("copy_bytes 524288 (copied page fragments"),
        "{}",
        out.stdout
    );
    let want = pattern_sha256(128 << 10);
    assert_eq!(digests(&out), vec![want; 4]);
}

#[test]
fn several_connections_over_several_threads() {
    require_nodev!();
    check_exact(
        256 << 10,
        6,
        &["--threads", "3", "--area-size", "4M", "--rq-entries", "256"],
    );
}

#[test]
fn a_small_area_is_recycled_many_times() {
    require_nodev!();
    // 64 buffers of 4 KiB for 4 MiB: every buffer is reused 16 times.
    check_exact(4 << 20, 1, &["--area-size", "256K"]);
}

#[test]
fn sha256_of_a_file_matches() {
    require_nodev!();
    let data: Vec<u8> = (0..300_001u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let path = std::env::temp_dir().join(format!("zcrx-examples-{}.bin", std::process::id()));
    std::fs::write(&path, &data).unwrap();
    let recv = Receiver::start(
        &["--nodev", "--no-progress", "--sha256", "--area-size", "4M"],
        LIMIT,
    );
    let send = run(
        "zcrx-send",
        &[&recv.addr, "--file", path.to_str().unwrap()],
        LIMIT,
    );
    let _ = std::fs::remove_file(&path);
    assert!(send.status.success(), "{send:?}");
    let out = recv.finish(LIMIT);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(digests(&out), vec![sha256(&data)]);
}

#[test]
fn verify_names_the_first_wrong_byte() {
    require_nodev!();
    let mut data = vec![0u8; 100_000];
    zcrx_examples::pattern::fill(0, &mut data);
    data[77_777] ^= 0x5a;
    data[88_888] ^= 0x5a;
    let path = std::env::temp_dir().join(format!("zcrx-examples-bad-{}.bin", std::process::id()));
    std::fs::write(&path, &data).unwrap();
    let recv = Receiver::start(
        &["--nodev", "--no-progress", "--verify", "--area-size", "4M"],
        LIMIT,
    );
    // The sender may see its connection reset when the receiver exits.
    let _ = run(
        "zcrx-send",
        &[&recv.addr, "--file", path.to_str().unwrap()],
        LIMIT,
    );
    let _ = std::fs::remove_file(&path);
    let out = recv.finish(LIMIT);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = out.stderr_lines();
    assert_eq!(err.len(), 1, "one line: {err:?}");
    assert!(
        err[0].starts_with("zcrx-recv: connection 1 from 127.0.0.1:"),
        "{err:?}"
    );
    let want = zcrx_examples::pattern::byte_at(77_777);
    assert!(
        err[0].ends_with(&format!(
            ": wrong byte at stream offset 77777: expected {want:#04x}, found {:#04x}",
            want ^ 0x5a
        )),
        "{err:?}"
    );
}

#[test]
fn without_cap_net_admin_the_error_says_so() {
    require_nodev!();
    require!(
        zcrx_testkit::is_root(),
        "needs root to drop to another user"
    );
    use std::os::unix::process::CommandExt;
    // A non-root uid has no capabilities.
    let out = std::process::Command::new(common::bin("zcrx-recv"))
        .args(["--listen", "127.0.0.1:0", "--nodev", "--area-size", "1M"])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        err.trim_end(),
        "zcrx-recv: needs CAP_NET_ADMIN: run as root or grant it"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("listening on"),
        "it must not claim to listen before it can receive"
    );
}

#[test]
fn info_reports_what_this_kernel_has() {
    require_nodev!();
    let out = run("zcrx-info", &["--json"], LIMIT);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let ability = |key: &str| {
        v["abilities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == key)
            .unwrap()["available"]
            .clone()
    };
    assert_eq!(ability("nodev"), serde_json::Value::Bool(true));
    assert_eq!(ability("register"), serde_json::Value::Bool(true));
    let zcrx = Capabilities::query();
    let z = zcrx.zcrx().unwrap();
    assert_eq!(v["zcrx"]["refill"]["hdr_size"], z.rq_hdr_size);
    for q in v["queries"].as_array().unwrap() {
        assert!(q["since"].is_string(), "{q}");
    }
    let table = run("zcrx-info", &[], LIMIT);
    assert!(table.status.success());
    assert!(table.stdout.contains("ZCRX_REG_NODEV"), "{}", table.stdout);
}

/// Runs on every kernel, 6.19 included: a kernel that lacks what a program
/// needs gets one line naming the missing item and the release that has it,
/// and `zcrx-info` reports every query with its release.
#[test]
fn degrade_missing_features_are_named() {
    let info = run("zcrx-info", &["--json"], LIMIT);
    assert!(info.status.success(), "{info:?}");
    let v: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
    for q in v["queries"].as_array().unwrap() {
        assert!(q["since"].is_string(), "{q}");
        if q["supported"] == serde_json::Value::Bool(false) {
            let detail = q["detail"].as_str().unwrap_or_default();
            assert!(detail.contains("(needs Linux >= "), "{q}");
        }
    }
    let caps = Capabilities::query();
    let nodev = caps.zcrx().is_ok_and(|z| z.supports_nodev());
    let events = zcrx_notif::Support::from_caps(&caps).is_available();
    // A kernel with both would wait for a connection: only where one lacks.
    if nodev && events {
        return;
    }
    let out = run(
        "zcrx-recv",
        &["--listen", "127.0.0.1:0", "--nodev", "--notify"],
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let want = if nodev {
        "zcrx-recv: kernel lacks IO_URING_QUERY_ZCRX_EVENT (needs Linux >= 7.2)"
    } else {
        "zcrx-recv: kernel lacks ZCRX_REG_NODEV (needs Linux >= 7.1)"
    };
    assert_eq!(out.stderr.trim_end(), want);
    assert!(!out.stdout.contains("listening on"), "{}", out.stdout);
}
