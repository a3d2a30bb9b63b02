//! Guest test (`cargo xtask vm-test`: Linux 7.3 and 7.2 with
//! `ZCRX_REQUIRE_KERNEL=1`; skips with the reason on the host): the tokio
//! example, `zcrx-tokio-recv`, end to end against `zcrx-send` on loopback.
//!
//! - what `zcrx-demo --receiver zcrx-tokio-recv` checks: several
//!   connections over two ring threads, every byte verified, the SHA-256
//!   of every connection, copy-fallback notifications re-armed with tokio
//!   timers, the stats counting every byte;
//! - `--offload`: the checks on the multi-threaded runtime, fed with
//!   `SharedBuf`s, with an area small enough that the ring threads run out
//!   of buffers while the checking tasks hold them.

mod common;

use std::time::Duration;

use common::{Receiver, digests, pattern_sha256, run};
use zcrx_ring::caps::Capabilities;
use zcrx_testkit::{has_cap_net_admin, lacks, require};

const LIMIT: Duration = Duration::from_secs(240);

/// Skips (or fails under ZCRX_REQUIRE_KERNEL=1) unless the kernel has NODEV
/// receive, notifications, and this process may register.
macro_rules! require_nodev_and_notify {
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
        let support = zcrx_notif::Support::query();
        require!(
            support.is_available(),
            "{}",
            support.error().map(|e| e.to_string()).unwrap_or_default()
        );
    };
}

#[test]
fn the_demo_passes_with_the_tokio_receiver() {
    require_nodev_and_notify!();
    let out = run(
        "zcrx-demo",
        &[
            "--receiver",
            "zcrx-tokio-recv",
            "--bytes",
            "16M",
            "--connections",
            "3",
            "--threads",
            "2",
            "--area-size",
            "4M",
            // NIC mode is zcrx-recv's part of the demo, tested elsewhere.
            "--nic",
            "off",
        ],
        LIMIT,
    );
    assert!(out.status.success(), "{out:?}");
    let ok = out
        .stdout
        .lines()
        .find(|l| l.starts_with("demo: NODEV mode OK: "));
    eprintln!("{}", ok.unwrap_or_default());
    assert!(ok.is_some(), "{}", out.stdout);
    for thread in ["(ring thread 0)", "(ring thread 1)"] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.contains("accepted") && l.ends_with(thread)),
            "no connection on {thread}: {}",
            out.stdout
        );
    }
}

#[test]
fn offloaded_checks_see_every_byte() {
    require_nodev_and_notify!();
    const BYTES: u64 = 8 << 20;
    let recv = Receiver::start_program(
        "zcrx-tokio-recv",
        &[
            "--nodev",
            "--offload",
            "--verify",
            "--sha256",
            "--connections",
            "4",
            "--threads",
            "2",
            // 64 buffers per ring thread for two connections of 8 MiB each.
            "--area-size",
            "256K",
        ],
        LIMIT,
    );
    let bytes = BYTES.to_string();
    let send = run(
        "zcrx-send",
        &[&recv.addr, "--bytes", &bytes, "--connections", "4"],
        LIMIT,
    );
    assert!(send.status.success(), "zcrx-send failed: {send:?}");
    let out = recv.finish(LIMIT);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stderr.is_empty(), "stderr: {}", out.stderr);
    let total = 4 * BYTES;
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with(&format!("received {total} bytes in "))),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("verified on the multi-threaded runtime"),
        "{}",
        out.stdout
    );
    let want = pattern_sha256(BYTES);
    let got = digests(&out);
    assert_eq!(got.len(), 4, "{}", out.stdout);
    assert!(got.iter().all(|d| *d == want), "{}", out.stdout);
}
