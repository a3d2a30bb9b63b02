//! Which network interfaces and rx queues can take zero-copy receive
//! (`zcrx-info --interfaces`), found by trying: a NIC-mode registration on
//! each rx queue of each interface of this network namespace, dropped at
//! once. The kernel's answer, as `zcrx-ring`'s typed error, says why a
//! queue cannot (no queue management in the driver, header split off, the
//! queue busy ...).
//!
//! A registration that succeeds restarts the queue twice (bound, then
//! released): on a NIC carrying traffic that is a short interruption of
//! that queue, which is why `zcrx-info` probes only when asked. It needs
//! `CAP_NET_ADMIN`. When the first queue of an interface fails for a
//! reason that holds for the whole interface (no support in its driver,
//! header split off), its other queues are not tried.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};
use zcrx_ring::{Area, Error, Ring, Zcrx};

/// The area of each probing registration: enough buffers for a driver to
/// fill a receive ring when the queue restarts.
const PROBE_AREA: usize = 4 << 20;

/// The most queues probed per interface.
const MAX_QUEUES: u32 = 64;

/// What a registration on one rx queue said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It registered: the queue can take ZCRX.
    Yes,
    /// Another instance (or devmem TCP, or AF_XDP) has it.
    Busy,
    /// The queue's ring parameters refuse a memory provider.
    HeaderSplitOff,
    /// The driver cannot bind a memory provider (or the kernel lacks ZCRX).
    Unsupported(String),
    /// Anything else, as the error says.
    Failed(String),
}

impl Verdict {
    fn from_result(r: zcrx_ring::Result<Zcrx>) -> Self {
        match r {
            Ok(_) => Verdict::Yes,
            Err(Error::QueueBusy { .. }) => Verdict::Busy,
            Err(Error::HeaderSplitOff { .. }) => Verdict::HeaderSplitOff,
            Err(Error::Unsupported(u)) => Verdict::Unsupported(u.to_string()),
            Err(e) => Verdict::Failed(crate::cli::describe_ring_error(&e)),
        }
    }

    /// Whether the answer holds for every queue of the interface.
    fn whole_interface(&self) -> bool {
        matches!(self, Verdict::HeaderSplitOff | Verdict::Unsupported(_))
    }

    /// The reason, for people (`None` for [`Verdict::Yes`]).
    pub fn reason(&self, ifname: &str) -> Option<String> {
        match self {
            Verdict::Yes => None,
            Verdict::Busy => Some("busy: already bound (ZCRX, devmem TCP or AF_XDP)".to_owned()),
            Verdict::HeaderSplitOff => Some(format!(
                "header split off: ethtool -G {ifname} tcp-data-split on hds-thresh 0"
            )),
            Verdict::Unsupported(why) => Some(format!("unsupported: {why}")),
            Verdict::Failed(why) => Some(why.clone()),
        }
    }
}

/// One interface and what its queues said.
#[derive(Clone, Debug)]
pub struct Interface {
    /// Its name.
    pub name: String,
    /// Its index.
    pub ifindex: u32,
    /// Its rx queues (from sysfs).
    pub rx_queues: u32,
    /// The queues tried, with the answer; the interface's first answer
    /// stands for the rest when it holds for the whole interface.
    pub queues: Vec<(u32, Verdict)>,
}

impl Interface {
    /// The queues that can take ZCRX.
    pub fn usable(&self) -> Vec<u32> {
        self.queues
            .iter()
            .filter(|(_, v)| *v == Verdict::Yes)
            .map(|(q, _)| *q)
            .collect()
    }

    /// One line: the usable queues and why the others are not.
    pub fn summary(&self) -> String {
        if let [(_, v)] = self.queues.as_slice() {
            if v.whole_interface() || self.rx_queues == 1 {
                return match v.reason(&self.name) {
                    None => "yes: queue 0".to_owned(),
                    Some(why) if self.rx_queues > 1 => format!("no (every queue): {why}"),
                    Some(why) => format!("no: {why}"),
                };
            }
        }
        let mut parts = Vec::new();
        let usable = self.usable();
        if !usable.is_empty() {
            parts.push(format!("yes: queues {}", list(&usable)));
        }
        for (q, v) in &self.queues {
            if let Some(why) = v.reason(&self.name) {
                parts.push(format!("queue {q}: {why}"));
            }
        }
        if self.rx_queues > MAX_QUEUES {
            parts.push(format!("queues from {MAX_QUEUES} on not tried"));
        }
        parts.join("; ")
    }

    fn json(&self) -> Value {
        json!({
            "name": self.name,
            "ifindex": self.ifindex,
            "rx_queues": self.rx_queues,
            "usable": self.usable(),
            "queues": self.queues.iter().map(|(q, v)| json!({
                "queue": q,
                "zcrx": *v == Verdict::Yes,
                "reason": v.reason(&self.name),
            })).collect::<Vec<_>>(),
            "summary": self.summary(),
        })
    }
}

fn list(queues: &[u32]) -> String {
    queues
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn read_u32(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The interfaces of this network namespace, by index: name, index and rx
/// queue count from `/sys/class/net`.
pub fn list_interfaces() -> Vec<(String, u32, u32)> {
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    let mut out: Vec<(String, u32, u32)> = dir
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let base = e.path();
            let ifindex = read_u32(&base.join("ifindex"))?;
            let rx = std::fs::read_dir(base.join("queues"))
                .map(|d| {
                    d.flatten()
                        .filter(|q| q.file_name().to_string_lossy().starts_with("rx-"))
                        .count() as u32
                })
                .unwrap_or(0);
            Some((name, ifindex, rx))
        })
        .collect();
    out.sort_by_key(|(_, i, _)| *i);
    out
}

/// Tries a registration on one queue (dropped at once).
pub fn probe_queue(ifindex: u32, rxq: u32) -> Result<Verdict, String> {
    let ring: Ring = Ring::new(8).map_err(|e| format!("io_uring setup: {e}"))?;
    let area = Area::anonymous(PROBE_AREA).map_err(|e| format!("mapping an area: {e}"))?;
    let r = Zcrx::builder_nic(ifindex, rxq).area(area).register(&ring);
    match r {
        Err(e @ (Error::PermissionDenied { .. } | Error::LockedMemoryLimit { .. })) => {
            Err(crate::cli::describe_ring_error(&e))
        }
        r => Ok(Verdict::from_result(r)),
    }
}

/// Probes every interface, or those named in `only` when it is not empty
/// (see the module's docs). `Err` when no registration can be tried at all
/// (no privileges, the memory limit) or a named interface does not exist.
pub fn probe_all(only: &[String]) -> Result<Vec<Interface>, String> {
    let all = list_interfaces();
    if let Some(missing) = only.iter().find(|n| !all.iter().any(|(a, _, _)| a == *n)) {
        return Err(format!("no interface {missing} in this network namespace"));
    }
    let mut out = Vec::new();
    for (name, ifindex, rx_queues) in all {
        if !only.is_empty() && !only.contains(&name) {
            continue;
        }
        let mut queues = Vec::new();
        for q in 0..rx_queues.clamp(1, MAX_QUEUES) {
            let v = probe_queue(ifindex, q)?;
            let whole = v.whole_interface();
            queues.push((q, v));
            if whole {
                break;
            }
        }
        out.push(Interface {
            name,
            ifindex,
            rx_queues,
            queues,
        });
    }
    Ok(out)
}

/// The interfaces' section of `zcrx-info`'s table.
pub fn table(probed: &Result<Vec<Interface>, String>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "INTERFACES (a NIC-mode registration tried on each rx queue)"
    );
    match probed {
        Err(why) => {
            let _ = writeln!(s, "  not probed: {why}");
        }
        Ok(list) if list.is_empty() => {
            let _ = writeln!(s, "  no interfaces in /sys/class/net");
        }
        Ok(list) => {
            let _ = writeln!(
                s,
                "  {:<16} {:>7} {:>9}  ZCRX",
                "NAME", "IFINDEX", "RX QUEUES"
            );
            for i in list {
                let _ = writeln!(
                    s,
                    "  {:<16} {:>7} {:>9}  {}",
                    i.name,
                    i.ifindex,
                    i.rx_queues,
                    i.summary()
                );
            }
        }
    }
    s
}

/// The interfaces for `zcrx-info --json`.
pub fn json(probed: &Result<Vec<Interface>, String>) -> Value {
    match probed {
        Ok(list) => json!({
            "probed": true,
            "list": list.iter().map(Interface::json).collect::<Vec<_>>(),
        }),
        Err(why) => json!({ "probed": false, "reason": why }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(rx: u32, queues: Vec<(u32, Verdict)>) -> Interface {
        Interface {
            name: "eth9".into(),
            ifindex: 9,
            rx_queues: rx,
            queues,
        }
    }

    #[test]
    fn summaries_name_the_usable_queues_and_the_reasons() {
        let lo = iface(1, vec![(0, Verdict::Unsupported("kernel lacks X".into()))]);
        assert!(
            lo.summary().starts_with("no: unsupported: kernel lacks X"),
            "{}",
            lo.summary()
        );
        let off = iface(4, vec![(0, Verdict::HeaderSplitOff)]);
        assert_eq!(
            off.summary(),
            "no (every queue): header split off: ethtool -G eth9 tcp-data-split on hds-thresh 0"
        );
        let mixed = iface(
            3,
            vec![(0, Verdict::Yes), (1, Verdict::Busy), (2, Verdict::Yes)],
        );
        assert_eq!(mixed.usable(), [0, 2]);
        assert_eq!(
            mixed.summary(),
            "yes: queues 0, 2; queue 1: busy: already bound (ZCRX, devmem TCP or AF_XDP)"
        );
        let v: Value = mixed.json();
        assert_eq!(v["usable"], json!([0, 2]));
        assert_eq!(v["queues"][1]["zcrx"], json!(false));
    }

    #[test]
    fn the_table_says_why_nothing_was_probed() {
        let t = table(&Err("needs CAP_NET_ADMIN".into()));
        assert!(t.contains("not probed: needs CAP_NET_ADMIN"), "{t}");
    }
}
