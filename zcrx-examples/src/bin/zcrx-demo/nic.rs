//! The demo's NIC-mode part: `zcrx-info --interfaces`, then `zcrx-recv` on
//! one rx queue of the (simulated) NIC and `zcrx-send` in the peer's
//! network namespace, the flow steered to that queue, and the checks: every
//! byte verified, the SHA-256 of the pattern, nothing copied, the kernel
//! refilling by itself.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use zcrx_examples::child::{self, Program, pattern_sha256};
use zcrx_examples::cli::Failure;
use zcrx_examples::say;
use zcrx_testkit::nic::{NicError, NicPair};

use super::{Args, find, release};

/// What the NIC-mode part did.
pub enum Outcome {
    /// It ran and every check passed: the summary.
    Ran(String),
    /// No NIC pair could be set up (and none was required): why.
    NoNic(String),
}

/// Shows the interfaces' section of `zcrx-info --interfaces`.
fn show_interfaces(info_bin: &std::path::Path) -> Result<(), Failure> {
    say!("demo: $ zcrx-info --interfaces   (which interfaces and rx queues can take ZCRX)");
    let out = Command::new(info_bin)
        .arg("--interfaces")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Failure::new(format!("starting zcrx-info: {e}")))?;
    if !out.status.success() {
        return Err(Failure::new(format!(
            "zcrx-info --interfaces {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines().skip_while(|l| !l.starts_with("INTERFACES")) {
        say!("info | {line}");
    }
    Ok(())
}

/// Runs the NIC-mode part.
pub fn run(args: &Args, required: bool) -> Result<Outcome, Failure> {
    let dir = args.bin_dir.as_deref();
    let recv_bin = find("zcrx-recv", dir)?;
    let send_bin = find("zcrx-send", dir)?;
    let info_bin = find("zcrx-info", dir)?;
    let deadline = Instant::now() + Duration::from_secs(args.timeout);

    // Before the pair is set up, so that its queues are free.
    show_interfaces(&info_bin)?;
    let mut nic = match NicPair::acquire() {
        Ok(nic) => nic,
        Err(NicError::Unavailable(why)) if !required => return Ok(Outcome::NoNic(why)),
        Err(e) => return Err(Failure::new(format!("setting up the NIC pair: {e}"))),
    };
    let queue = *nic
        .queues()
        .first()
        .ok_or_else(|| Failure::new(format!("{}: no rx queue to bind", nic.ifname())))?;
    let total = args.nic_bytes.0;
    let peer = nic
        .peer_addr()
        .map_or_else(|| "the peer".to_owned(), |a| a.to_string());
    let release = release();
    say!(
        "demo: Linux {release}: NIC mode, {total} bytes from {peer} (another network \
         namespace) to {} rx queue {queue} ({})",
        nic.ifname(),
        if nic.is_simulated() {
            "zcrx-sim, the simulated header-split NIC"
        } else {
            "ZCRX_NIC_IFNAME"
        }
    );

    let recv_args: Vec<String> = vec![
        "--listen".into(),
        format!("{}:0", nic.addr()),
        "--ifname".into(),
        nic.ifname().to_owned(),
        "--queue".into(),
        queue.to_string(),
        "--notify".into(),
        // The NIC runs out of buffers whenever TCP holds more segments than
        // the area has buffers (each segment takes one): say so once a
        // second at most.
        "--rearm-ms".into(),
        "1000".into(),
        "--verify".into(),
        "--sha256".into(),
        "--no-progress".into(),
        "--area-size".into(),
        args.nic_area_size.0.to_string(),
    ];
    say!("demo: $ zcrx-recv {}", recv_args.join(" "));
    let mut recv = child::spawn(
        "zcrx-recv",
        "recv",
        Command::new(&recv_bin).args(&recv_args),
    )?;
    let listening = recv.wait_for("listening on ", 1, deadline)?;
    let addr = listening[0]
        .strip_prefix("listening on ")
        .and_then(|a| a.split_whitespace().next())
        .unwrap_or_default()
        .to_owned();
    let port: u16 = addr
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| Failure::new(format!("zcrx-recv printed no port: {addr:?}")))?;
    nic.steer_tcp4(port, queue)
        .map_err(|e| Failure::new(format!("steering port {port}: {e}")))?;
    say!(
        "demo: steered: ethtool -N {} flow-type tcp4 dst-ip {} dst-port {port} action {queue}",
        nic.ifname(),
        nic.addr()
    );

    let send_args: Vec<String> = vec![addr, "--bytes".into(), total.to_string()];
    say!(
        "demo: $ zcrx-send {}   (in the sender's network namespace)",
        send_args.join(" ")
    );
    let spawned = nic
        .spawn_sender(move || {
            Command::new(send_bin)
                .args(&send_args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
        })
        .map_err(|e| Failure::new(format!("entering the sender's namespace: {e}")))?
        .join()
        .map_err(|_| Failure::new("the sender's thread panicked"))?
        .map_err(|e| Failure::new(format!("starting zcrx-send: {e}")))?;
    let send = Program::adopt("zcrx-send", "send", spawned);
    let (send_status, send_lines) = send.finish(deadline)?;
    let (recv_status, recv_lines) = recv.finish(deadline)?;
    check(
        &Checked {
            total,
            send_ok: send_status.success(),
            recv_ok: recv_status.success(),
            send_lines: &send_lines,
            recv_lines: &recv_lines,
        },
        &format!(
            "Linux {release}: {total} bytes from {peer} (another network namespace) to {} rx \
             queue {queue}",
            nic.ifname()
        ),
    )
    .map(Outcome::Ran)
}

/// What the checks look at.
struct Checked<'a> {
    total: u64,
    send_ok: bool,
    recv_ok: bool,
    send_lines: &'a [String],
    recv_lines: &'a [String],
}

/// The NIC-mode checks; the summary line's text when they pass.
fn check(c: &Checked<'_>, what: &str) -> Result<String, Failure> {
    let total = c.total;
    let mut problems = Vec::new();
    if !c.send_ok {
        problems.push("zcrx-send failed".to_owned());
    }
    if !c.recv_ok {
        problems.push("zcrx-recv failed".to_owned());
    }
    if !c
        .send_lines
        .iter()
        .any(|l| l.starts_with(&format!("sent {total} bytes")))
    {
        problems.push(format!("zcrx-send did not report {total} bytes sent"));
    }
    let received = child::line_after(c.recv_lines, &format!("received {total} bytes in "));
    if received.is_none() {
        problems.push(format!("zcrx-recv did not report {total} bytes received"));
    }
    if !c.recv_lines.iter().any(|l| l.starts_with("verified:")) {
        problems.push("zcrx-recv did not report the data verified".to_owned());
    }
    let want_sha = pattern_sha256(total);
    match child::line_after(c.recv_lines, "sha256 ") {
        Some(sha) if sha == want_sha => {}
        other => problems.push(format!("sha256 {other:?} is not the pattern's {want_sha}")),
    }
    // Zero copy: the kernel copied nothing and said nothing about copying.
    let stats = child::line_after(c.recv_lines, "stats: ").unwrap_or("");
    if !stats.starts_with("copy_count 0, copy_bytes 0") {
        problems.push(format!("the kernel copied: stats {stats:?}"));
    }
    let notes = child::line_after(c.recv_lines, "notifications: ").unwrap_or("");
    if !notes.starts_with("0 copy-fallback") {
        problems.push(format!("copy-fallback notifications: {notes:?}"));
    }
    // The kernel refilled by itself: no flush.
    let refill = child::line_after(c.recv_lines, "refill: ").unwrap_or("");
    if !refill.contains("ZCRX_CTRL_FLUSH_RQ sent 0 time(s)") {
        problems.push(format!("the refill ring was flushed: {refill:?}"));
    }
    if !problems.is_empty() {
        return Err(Failure::new(problems.join("; ")));
    }
    let rate = received.map_or_else(String::new, |r| format!(" in {r}"));
    let notes = notes.split(", ").take(2).collect::<Vec<_>>().join(", ");
    let reuse = refill
        .split(" (NIC mode")
        .next()
        .unwrap_or(refill)
        .replace(", ZCRX_CTRL_FLUSH_RQ sent 0 time(s)", "");
    Ok(format!(
        "{what}{rate}, every byte verified, sha256 {}… matches, copy_count 0, copy_bytes 0, \
         notifications: {notes}, ZCRX_CTRL_FLUSH_RQ 0 (the kernel refilled by itself: {reuse})",
        &want_sha[..16]
    ))
}
