//! Host tests of the programs' command lines: `--help`, one-line errors for
//! bad arguments (exit status 2), failures (exit status 1), and `zcrx-info`
//! on whatever kernel runs the tests (the host's 6.18 lacks most of ZCRX:
//! the report must name what is missing and the release that has it).

mod common;

use std::time::Duration;

use common::run;
use zcrx_ring::caps::Capabilities;

const LIMIT: Duration = Duration::from_secs(60);
const PROGRAMS: [&str; 5] = [
    "zcrx-recv",
    "zcrx-send",
    "zcrx-info",
    "zcrx-demo",
    "zcrx-tokio-recv",
];

/// Exit status 2 and exactly one line on stderr, naming the program.
fn assert_usage_error(name: &str, args: &[&str], wanted: &str) {
    let out = run(name, args, LIMIT);
    assert_eq!(out.status.code(), Some(2), "{name} {args:?}: {out:?}");
    let err = out.stderr_lines();
    assert_eq!(err.len(), 1, "{name} {args:?}: one line, got {err:?}");
    assert!(
        err[0].starts_with(&format!("{name}: ")),
        "{name} {args:?}: {err:?}"
    );
    assert!(
        err[0].contains(wanted),
        "{name} {args:?}: {err:?} lacks {wanted:?}"
    );
    assert!(out.stdout.is_empty(), "{name} {args:?}: {}", out.stdout);
}

#[test]
fn help_and_version_exit_0() {
    for name in PROGRAMS {
        let out = run(name, &["--help"], LIMIT);
        assert!(out.status.success(), "{name} --help: {out:?}");
        assert!(out.stdout.contains("Usage:"), "{name}: {}", out.stdout);
        assert!(out.stderr.is_empty());
        let out = run(name, &["--version"], LIMIT);
        assert!(out.status.success(), "{name} --version: {out:?}");
        assert!(out.stdout.starts_with(name), "{}", out.stdout);
    }
}

#[test]
fn unknown_options_are_one_line_errors() {
    for name in PROGRAMS {
        assert_usage_error(name, &["--no-such-option"], "--no-such-option");
    }
}

#[test]
fn recv_argument_errors() {
    assert_usage_error("zcrx-recv", &["--nodev"], "--listen");
    assert_usage_error("zcrx-recv", &["--listen", "127.0.0.1:0"], "--nodev");
    assert_usage_error("zcrx-recv", &["--listen", "nowhere", "--nodev"], "nowhere");
    assert_usage_error(
        "zcrx-recv",
        &[
            "--listen",
            "127.0.0.1:0",
            "--nodev",
            "--ifname",
            "eth0",
            "--queue",
            "1",
        ],
        "cannot be used with",
    );
    assert_usage_error(
        "zcrx-recv",
        &["--listen", "127.0.0.1:0", "--ifname", "eth0"],
        "--queue",
    );
    assert_usage_error(
        "zcrx-recv",
        &["--listen", "127.0.0.1:0", "--nodev", "--threads", "0"],
        "--threads",
    );
    assert_usage_error(
        "zcrx-recv",
        &["--listen", "127.0.0.1:0", "--nodev", "--connections", "0"],
        "--connections",
    );
    assert_usage_error(
        "zcrx-recv",
        &[
            "--listen",
            "127.0.0.1:0",
            "--nodev",
            "--area-size",
            "12parsecs",
        ],
        "unknown suffix",
    );
    assert_usage_error(
        "zcrx-recv",
        &["--listen", "127.0.0.1:0", "--nodev", "--area-size", "0"],
        "--area-size",
    );
    assert_usage_error(
        "zcrx-recv",
        &["--listen", "127.0.0.1:0", "--nodev", "--rcvbuf", "2G"],
        "--rcvbuf",
    );
    assert_usage_error(
        "zcrx-recv",
        &["--listen", "127.0.0.1:0", "--nodev", "--rearm-ms", "5"],
        "--notify",
    );
    // NIC mode: one queue per thread, or one to start from; each thread
    // accepts the same share of the connections on its own port.
    let nic = ["--listen", "127.0.0.1:0", "--ifname", "lo"];
    assert_usage_error(
        "zcrx-recv",
        &[&nic[..], &["--queue", "1,2,3", "--threads", "2"]].concat(),
        "--queue lists 3 queues for 2 thread(s)",
    );
    assert_usage_error(
        "zcrx-recv",
        &[&nic[..], &["--queue", "1,2", "--connections", "3"]].concat(),
        "not a multiple of --threads 2",
    );
    assert_usage_error(
        "zcrx-recv",
        &[&nic[..], &["--queue", "4294967295", "--threads", "2"]].concat(),
        "overflows",
    );
    assert_usage_error(
        "zcrx-recv",
        &[
            "--listen",
            "127.0.0.1:65535",
            "--ifname",
            "lo",
            "--queue",
            "1,2",
        ],
        "exceeds 65535",
    );
}

#[test]
fn send_argument_errors() {
    assert_usage_error("zcrx-send", &["127.0.0.1:1"], "--bytes");
    assert_usage_error("zcrx-send", &["--bytes", "1"], "ADDR:PORT");
    assert_usage_error(
        "zcrx-send",
        &["127.0.0.1:1", "--bytes", "1", "--file", "/etc/hostname"],
        "cannot be used with",
    );
    assert_usage_error("zcrx-send", &["127.0.0.1:1", "--bytes", "1.5G"], "1.5G");
    assert_usage_error(
        "zcrx-send",
        &["127.0.0.1:1", "--bytes", "1", "--connections", "0"],
        "--connections",
    );
    assert_usage_error(
        "zcrx-send",
        &["no-such-host.invalid:1", "--bytes", "1"],
        "cannot resolve",
    );
}

#[test]
fn send_failures_are_one_line_with_status_1() {
    // A port nobody listens on: bind one, learn its number, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let to = format!("127.0.0.1:{port}");
    let out = run("zcrx-send", &[&to, "--bytes", "1"], LIMIT);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = out.stderr_lines();
    assert_eq!(err.len(), 1, "{err:?}");
    assert!(
        err[0].starts_with("zcrx-send: connection 1: connecting to"),
        "{err:?}"
    );

    let out = run("zcrx-send", &[&to, "--file", "/no/such/file"], LIMIT);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(out.stderr_lines().len(), 1, "{out:?}");
    assert!(out.stderr.contains("cannot open /no/such/file"), "{out:?}");
}

#[test]
fn send_delivers_the_pattern_to_a_plain_socket() {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        for _ in 0..2 {
            let (mut s, _) = listener.accept().unwrap();
            let mut data = Vec::new();
            s.read_to_end(&mut data).unwrap();
            all.push(data);
        }
        all
    });
    let out = run(
        "zcrx-send",
        &[
            &addr,
            "--bytes",
            "100001",
            "--connections",
            "2",
            "--write-size",
            "4093",
        ],
        LIMIT,
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stdout
            .starts_with("sent 200002 bytes of the pattern over 2 connection(s)"),
        "{}",
        out.stdout
    );
    for data in reader.join().unwrap() {
        assert_eq!(data.len(), 100_001);
        assert_eq!(zcrx_examples::pattern::check(0, &data), Ok(()));
    }
}

/// On a kernel without NODEV (the host's 6.18, the 6.19 guest), `--nodev`
/// fails at once with the missing item and the release that has it.
#[test]
fn recv_nodev_on_a_kernel_without_it() {
    let caps = Capabilities::query();
    if caps.zcrx().is_ok_and(|z| z.supports_nodev()) {
        eprintln!("skipped: this kernel has ZCRX_REG_NODEV");
        return;
    }
    for name in ["zcrx-recv", "zcrx-tokio-recv"] {
        let out = run(
            name,
            &["--listen", "127.0.0.1:0", "--nodev", "--notify"],
            LIMIT,
        );
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert_eq!(
            out.stderr_lines(),
            [format!(
                "{name}: kernel lacks ZCRX_REG_NODEV (needs Linux >= 7.1)"
            )]
        );
        assert!(!out.stdout.contains("listening on"), "{}", out.stdout);
    }
}

#[test]
fn info_table_names_each_query_and_its_release() {
    let out = run("zcrx-info", &[], LIMIT);
    assert!(out.status.success(), "{out:?}");
    let t = &out.stdout;
    for item in [
        "IO_URING_QUERY_OPCODES",
        "IO_URING_QUERY_ZCRX",
        "IO_URING_QUERY_SCQ",
        "IO_URING_QUERY_ZCRX_EVENT",
        "ZCRX_REG_NODEV",
        "ZCRX_FEATURE_EVENT",
        "ZCRX_CTRL_ADD_AREA",
        "ZCRX_EVENT_COPY",
        "CAP_NET_ADMIN",
    ] {
        assert!(t.contains(item), "{item} missing from:\n{t}");
    }
    let caps = Capabilities::query();
    if caps.zcrx().is_err() {
        // The host: the missing queries with the releases that have them.
        let line = |name: &str| {
            t.lines()
                .find(|l| l.trim_start().starts_with(&format!("{name} ")))
                .unwrap_or_else(|| panic!("no line for {name} in:\n{t}"))
                .split_whitespace()
                .collect::<Vec<_>>()
        };
        assert_eq!(line("IO_URING_QUERY_ZCRX")[1..3], ["no", "6.19"]);
        assert_eq!(line("IO_URING_QUERY_ZCRX_EVENT")[1..3], ["no", "7.2"]);
        assert_eq!(line("ZCRX_REG_NODEV")[1..3], ["no", "7.1"]);
        assert!(
            t.contains("kernel lacks IO_URING_QUERY_ZCRX (needs Linux >= 6.19)"),
            "{t}"
        );
        assert!(
            t.contains("kernel lacks ZCRX_REG_NODEV (needs Linux >= 7.1)"),
            "{t}"
        );
    }
}

#[test]
fn info_json_parses_and_agrees_with_the_kernel() {
    let out = run("zcrx-info", &["--json"], LIMIT);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("invalid JSON ({e}):\n{}", out.stdout));
    assert!(v["kernel"]["release"].is_string());
    let queries = v["queries"].as_array().unwrap();
    let names: Vec<&str> = queries
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "IO_URING_QUERY_OPCODES",
            "IO_URING_QUERY_ZCRX",
            "IO_URING_QUERY_SCQ",
            "IO_URING_QUERY_ZCRX_EVENT"
        ]
    );
    let caps = Capabilities::query();
    let zcrx_q = &queries[1];
    assert_eq!(zcrx_q["since"], "6.19");
    assert_eq!(
        zcrx_q["supported"],
        serde_json::Value::Bool(caps.zcrx().is_ok())
    );
    assert_eq!(queries[3]["since"], "7.2");
    if caps.zcrx().is_err() {
        assert!(
            zcrx_q["detail"]
                .as_str()
                .unwrap()
                .contains("needs Linux >= 6.19")
        );
        assert!(v["zcrx"]["refill"].is_null());
        let nodev = v["zcrx"]["register_flags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "ZCRX_REG_NODEV")
            .unwrap();
        assert_eq!(nodev["supported"], serde_json::Value::Bool(false));
        assert_eq!(nodev["since"], "7.1");
    }
    for key in [
        "nic",
        "nodev",
        "notifications",
        "add_area",
        "import",
        "register",
    ] {
        assert!(
            v["abilities"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["key"] == key),
            "ability {key} missing"
        );
    }
}
