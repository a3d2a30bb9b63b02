//! Guest test of the example programs in NIC mode over a (simulated) NIC:
//!
//! - `zcrx-recv --ifname IF --queue A,B --threads 2` against two `zcrx-send`
//!   processes in the peer's network namespace, each flow steered to one
//!   queue: each thread receives only its own flow, byte-exact (`--verify`,
//!   `--sha256`), nothing copied, no flush;
//! - `zcrx-info --interfaces`: which queues can take ZCRX, and why the
//!   others cannot (`lo`: unsupported; header split off; a queue bound by
//!   someone else: busy).
//!
//! The device comes from `zcrx_testkit::nic` (the zcrx-sim module that
//! vm-test loads on 7.3 and 7.2, or a real NIC named by `ZCRX_NIC_*`).

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{Receiver, bin, pattern_sha256};
use serde_json::Value;
use zcrx_ring::{Area, Ring, Zcrx};
use zcrx_testkit::nic::NicPair;
use zcrx_testkit::require;

const LIMIT: Duration = Duration::from_secs(240);

/// Runs `zcrx-send ARGS` in the peer's namespace.
fn send_from_peer(nic: &NicPair, args: Vec<String>) -> std::thread::JoinHandle<Output> {
    let sender = bin("zcrx-send");
    let thread = nic
        .spawn_sender(move || {
            Command::new(sender)
                .args(args)
                .output()
                .expect("starting zcrx-send")
        })
        .unwrap();
    std::thread::spawn(move || thread.join().unwrap())
}

/// The numbers after `key` in `line` (`"... 3 bytes"` → 3 for `" bytes"`).
fn number_before(line: &str, key: &str) -> Option<u64> {
    let head = &line[..line.find(key)?];
    head.rsplit(' ').next()?.parse().ok()
}

#[test]
fn two_threads_on_two_queues_each_receive_only_their_own_steered_flow() {
    let notify = zcrx_notif::Support::query();
    require!(
        notify.is_available(),
        "{}",
        notify.error().map(|e| e.to_string()).unwrap_or_default()
    );
    let Some(mut nic) = NicPair::acquire_or_skip() else {
        return;
    };
    let (Some(&qa), Some(&qb)) = (nic.queues().first(), nic.queues().get(1)) else {
        require!(false, "the test needs two rx queues (ZCRX_NIC_QUEUES)");
        return;
    };
    let sizes = [8u64 << 20, 3 << 20];
    let listen = format!("{}:0", nic.addr());
    let queues = format!("{qa},{qb}");
    let recv = Receiver::start_listening(
        &[
            "--listen",
            &listen,
            "--ifname",
            nic.ifname(),
            "--queue",
            &queues,
            "--threads",
            "2",
            "--connections",
            "2",
            "--area-size",
            "2M",
            "--notify",
            "--verify",
            "--sha256",
            "--no-progress",
        ],
        2,
        LIMIT,
    );
    // One port per thread; steer each to its thread's queue.
    let ports: Vec<u16> = recv
        .addrs
        .iter()
        .map(|a| a.rsplit(':').next().unwrap().parse().unwrap())
        .collect();
    for (&port, q) in ports.iter().zip([qa, qb]) {
        nic.steer_tcp4(port, q).unwrap();
    }
    let senders: Vec<_> = recv
        .addrs
        .iter()
        .zip(sizes)
        .map(|(addr, bytes)| {
            send_from_peer(
                &nic,
                vec![addr.clone(), "--bytes".into(), bytes.to_string()],
            )
        })
        .collect();
    for (s, bytes) in senders.into_iter().zip(sizes) {
        let out = s.join().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "zcrx-send: {out:?}");
        assert!(stdout.contains(&format!("sent {bytes} bytes")), "{stdout}");
    }
    let out = recv.finish(LIMIT);
    println!("{}", out.stdout);
    assert!(out.status.success(), "zcrx-recv: {out:?}");
    assert!(out.stderr.is_empty(), "stderr: {}", out.stderr);
    let lines = out.stdout_lines();
    let total: u64 = sizes.iter().sum();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("received {total} bytes in "))),
        "{lines:?}"
    );
    assert!(lines.contains(&"verified: every byte matches the pattern"));

    // Which thread accepted which connection, how much each carried, and
    // its digest (printed right after its `closed` line).
    for (thread, (q, bytes)) in [qa, qb].into_iter().zip(sizes).enumerate() {
        let accepted: Vec<&str> = lines
            .iter()
            .filter(|l| l.ends_with(&format!("accepted (thread {thread})")))
            .copied()
            .collect();
        assert_eq!(accepted.len(), 1, "thread {thread}: {accepted:?}");
        let number = accepted[0].split(' ').nth(1).unwrap();
        let closed = lines
            .iter()
            .position(|l| {
                l.starts_with(&format!("connection {number} from ")) && l.contains("closed")
            })
            .unwrap_or_else(|| panic!("connection {number} never closed: {lines:?}"));
        assert_eq!(
            number_before(lines[closed], " bytes in "),
            Some(bytes),
            "thread {thread} (queue {q}) received its own flow: {}",
            lines[closed]
        );
        assert_eq!(
            lines.get(closed + 1).copied(),
            Some(format!("sha256 {}", pattern_sha256(bytes)).as_str())
        );
        let summary = format!(
            "thread {thread}: {} rx queue {q}: 1 connection(s), {bytes} bytes",
            nic.ifname()
        );
        let line = lines
            .iter()
            .find(|l| l.starts_with(&summary))
            .unwrap_or_else(|| panic!("no {summary:?} in {lines:?}"));
        assert!(
            line.contains("copy_count 0, copy_bytes 0, notifications: 0 copy-fallback"),
            "{line}"
        );
    }
    let refill = lines
        .iter()
        .find(|l| l.starts_with("refill: "))
        .expect("a refill line");
    assert!(
        refill.contains("ZCRX_CTRL_FLUSH_RQ sent 0 time(s)"),
        "{refill}"
    );
}

/// `zcrx-info --interfaces IFNAME,lo --json`'s entries for `ifname` and
/// `lo`.
fn info_for(ifname: &str) -> (Value, Value) {
    let out = Command::new(bin("zcrx-info"))
        .args(["--json", "--interfaces", &format!("{ifname},lo")])
        .output()
        .expect("starting zcrx-info");
    assert!(out.status.success(), "zcrx-info: {out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("zcrx-info --json");
    let list = &v["interfaces"]["list"];
    assert!(list.is_array(), "{}", v["interfaces"]);
    let find = |name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} not listed: {list}"))
    };
    (find(ifname), find("lo"))
}

#[test]
fn zcrx_info_lists_the_queues_that_take_zcrx_and_says_why_the_others_cannot() {
    let Some(mut nic) = NicPair::acquire_or_skip() else {
        return;
    };
    // Every queue of the interface is probed (each restarts briefly).
    let all: Vec<u32> = (0..nic.rx_queues()).collect();
    let usable = |v: &Value| -> Vec<u32> {
        serde_json::from_value(v["usable"].clone()).expect("usable queues")
    };

    let (sim, lo) = info_for(nic.ifname());
    if nic.is_simulated() {
        assert_eq!(usable(&sim), all, "{sim}");
    } else {
        // A real NIC's other queues may be taken by someone else.
        assert!(
            nic.queues().iter().all(|q| usable(&sim).contains(q)),
            "{sim}"
        );
    }
    assert!(usable(&lo).is_empty(), "{lo}");
    let why_lo = lo["summary"].as_str().unwrap();
    assert!(why_lo.contains("unsupported"), "{why_lo}");
    println!(
        "zcrx-info: {}: {}; lo: {why_lo}",
        nic.ifname(),
        sim["summary"]
    );

    // A queue someone holds is busy; the others still take ZCRX.
    let q = nic.queues()[0];
    let ring: Ring = Ring::new(64).unwrap();
    let held = Zcrx::builder_nic(nic.ifindex(), q)
        .area(Area::anonymous(64 * 4096).unwrap())
        .register(&ring)
        .unwrap();
    let (sim, _) = info_for(nic.ifname());
    assert!(!usable(&sim).contains(&q), "{sim}");
    if nic.is_simulated() {
        let others: Vec<u32> = all.iter().copied().filter(|&x| x != q).collect();
        assert_eq!(usable(&sim), others, "{sim}");
    }
    let busy = &sim["queues"][q as usize];
    assert!(
        busy["reason"].as_str().unwrap().starts_with("busy"),
        "{busy}"
    );
    println!("zcrx-info: queue {q} bound: {}", sim["summary"]);
    drop(held);
    drop(ring);

    // Header split off: no queue, and the fix named. (The kernel refuses
    // the change while a provider is bound: the ring's instance is
    // released asynchronously. Some NICs, bnxt and fbnic, refuse it
    // always.)
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(e) = nic.set_tcp_data_split(false) {
        if !nic.is_simulated() && Instant::now() >= deadline {
            println!(
                "zcrx-info: {} keeps header split on ({e}): not shown",
                nic.ifname()
            );
            return;
        }
        assert!(Instant::now() < deadline, "tcp-data-split off: {e}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (sim, _) = info_for(nic.ifname());
    assert!(usable(&sim).is_empty(), "{sim}");
    let why = sim["summary"].as_str().unwrap();
    assert!(
        why.contains("header split off") && why.contains("tcp-data-split on hds-thresh 0"),
        "{why}"
    );
    println!("zcrx-info: tcp-data-split off: {why}");
}
