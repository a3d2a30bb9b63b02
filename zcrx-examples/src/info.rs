//! The capability report of `zcrx-info`: what the running kernel supports
//! for zero-copy receive, the Linux release each item needs, and whether
//! this process may register ZCRX instances.
//!
//! Everything comes from one `IORING_REGISTER_QUERY` chain
//! ([`Capabilities::query`]), `uname(2)`, `/proc/self/status` (the effective
//! capabilities) and `/proc/sys/kernel/io_uring_disabled`. The release that
//! introduced each item is read from `zcrx-uapi`'s ABI tables, never typed
//! here.
//!
//! ```
//! use zcrx_examples::info::Report;
//! let report = Report::gather();
//! let table = report.to_table();
//! assert!(table.contains("IO_URING_QUERY_ZCRX"));
//! let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
//! assert!(json["queries"].is_array());
//! ```

use std::fmt::Write as _;

use serde_json::{Value, json};
use zcrx_ring::caps::{Capabilities, QueryError};
use zcrx_uapi::abi::{self, KernelVersion};

/// Whether the kernel has an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// It does.
    Yes,
    /// It does not.
    No,
    /// The kernel cannot tell (the query that would report it is missing,
    /// and the item is older than that query).
    Unknown,
}

impl Status {
    fn from_bool(b: bool) -> Self {
        if b { Status::Yes } else { Status::No }
    }

    /// `yes`, `no` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Yes => "yes",
            Status::No => "no",
            Status::Unknown => "unknown",
        }
    }

    fn json(self) -> Value {
        match self {
            Status::Yes => Value::Bool(true),
            Status::No => Value::Bool(false),
            Status::Unknown => Value::Null,
        }
    }
}

/// One item (a query op, flag, feature, control op, opcode, event type).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Its name in the kernel's headers.
    pub name: &'static str,
    /// Its value (an op number, or a flag's bits).
    pub value: u64,
    /// The first Linux release that has it (from `zcrx-uapi`'s tables).
    pub since: Option<KernelVersion>,
    /// Whether the running kernel has it.
    pub status: Status,
    /// Why not, when the kernel said so (a query entry's error).
    pub detail: Option<String>,
}

fn since_of(name: &str) -> Option<KernelVersion> {
    abi::find_const(name).map(|c| c.since)
}

fn value_of(name: &str) -> u64 {
    abi::find_const(name).map_or(0, |c| c.value as u64)
}

impl Item {
    fn new(name: &'static str, status: Status) -> Self {
        Item {
            name,
            value: value_of(name),
            since: since_of(name),
            status,
            detail: None,
        }
    }

    /// An item reported by a query that is missing: older items are
    /// unknown; items no older than the query cannot be there either.
    fn without_query(name: &'static str, query: &'static str) -> Self {
        let (status, detail) = match (since_of(name), since_of(query)) {
            (Some(item), Some(q)) if item >= q => (
                Status::No,
                format!("inferred: the kernel lacks {query}, which is no newer"),
            ),
            _ => (
                Status::Unknown,
                format!("the kernel lacks {query}, which would report it"),
            ),
        };
        Item {
            detail: Some(detail),
            ..Item::new(name, status)
        }
    }

    fn json(&self) -> Value {
        json!({
            "name": self.name,
            "value": self.value,
            "since": self.since.map(|v| v.to_string()),
            "supported": self.status.json(),
            "detail": self.detail,
        })
    }
}

/// The refill ring's header as the kernel reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefillLayout {
    /// `rq_hdr_size`.
    pub hdr_size: u32,
    /// `rq_hdr_alignment`.
    pub hdr_alignment: u32,
    /// Where the entries start: the size rounded up to the alignment (or
    /// `None` if the kernel's values are not sane).
    pub entries_offset: Option<u32>,
}

/// The stats block as the kernel reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsLayout {
    /// `stats_size` (the kernel's `struct zcrx_stats`).
    pub size: u32,
    /// `stats_off_alignment`.
    pub offset_alignment: u32,
}

/// Something a program can do, and why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ability {
    /// What (`zero-copy receive without a NIC (zcrx-recv --nodev)`).
    pub what: &'static str,
    /// A short key for JSON (`nodev`).
    pub key: &'static str,
    /// Whether it is available.
    pub status: Status,
    /// The reason when it is not, or a caveat when it is.
    pub note: Option<String>,
}

/// The whole report.
#[derive(Clone, Debug)]
pub struct Report {
    /// `uname -r`.
    pub release: String,
    /// `uname -m`.
    pub machine: String,
    /// The release's `major.minor`, if it parses.
    pub version: Option<KernelVersion>,
    /// `/proc/sys/kernel/io_uring_disabled` (0: enabled, 1: root or the
    /// `io_uring_group` only, 2: disabled), if readable.
    pub io_uring_disabled: Option<u32>,
    /// Whether CAP_NET_ADMIN is in this process's effective set, if known.
    pub cap_net_admin: Option<bool>,
    /// The query ops.
    pub queries: Vec<Item>,
    /// Opcodes and register ops ZCRX uses.
    pub opcodes: Vec<Item>,
    /// Ring setup flags ZCRX needs.
    pub setup_flags: Vec<Item>,
    /// `ZCRX_REG_*`.
    pub reg_flags: Vec<Item>,
    /// `IORING_ZCRX_AREA_*`.
    pub area_flags: Vec<Item>,
    /// `ZCRX_FEATURE_*`.
    pub features: Vec<Item>,
    /// `ZCRX_CTRL_*`.
    pub ctrl_ops: Vec<Item>,
    /// The refill ring header, if the ZCRX query answered.
    pub refill: Option<RefillLayout>,
    /// `ZCRX_EVENT_*`.
    pub events: Vec<Item>,
    /// The stats block, if the event query answered.
    pub stats: Option<StatsLayout>,
    /// What the programs can do here.
    pub abilities: Vec<Ability>,
    /// Which interfaces and queues can take ZCRX, when probed
    /// ([`Report::probe_interfaces`]); `Err` says why nothing was tried.
    pub interfaces: Option<Result<Vec<crate::interfaces::Interface>, String>>,
}

const Q_OPCODES: &str = "IO_URING_QUERY_OPCODES";
const Q_ZCRX: &str = "IO_URING_QUERY_ZCRX";
const Q_SCQ: &str = "IO_URING_QUERY_SCQ";
const Q_EVENT: &str = "IO_URING_QUERY_ZCRX_EVENT";

fn query_item<T>(name: &'static str, answer: Result<&T, QueryError>) -> Item {
    let mut item = Item::new(name, Status::from_bool(answer.is_ok()));
    if let Err(e) = answer {
        item.detail = Some(e.to_string());
    }
    item
}

/// The effective capability set's CAP_NET_ADMIN bit (12), from
/// `/proc/self/status`.
pub fn has_cap_net_admin() -> Option<bool> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    let caps = u64::from_str_radix(hex, 16).ok()?;
    Some(caps & (1 << 12) != 0)
}

/// `major.minor` of a release string (`7.3.4+deb13-cloud-amd64` → 7.3).
pub fn parse_release(release: &str) -> Option<KernelVersion> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some(KernelVersion::new(major, minor))
}

impl Report {
    /// Asks the running kernel.
    pub fn gather() -> Self {
        let uname = rustix::system::uname();
        let release = uname.release().to_string_lossy().into_owned();
        let machine = uname.machine().to_string_lossy().into_owned();
        let io_uring_disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
            .ok()
            .and_then(|s| s.trim().parse().ok());
        Self::from_parts(
            release,
            machine,
            &Capabilities::query(),
            has_cap_net_admin(),
            io_uring_disabled,
        )
    }

    /// Builds the report from answers already obtained (for tests, and for
    /// reporting on another machine's answers).
    pub fn from_parts(
        release: String,
        machine: String,
        caps: &Capabilities,
        cap_net_admin: Option<bool>,
        io_uring_disabled: Option<u32>,
    ) -> Self {
        let version = parse_release(&release);
        let queries = vec![
            query_item(Q_OPCODES, caps.opcodes()),
            query_item(Q_ZCRX, caps.zcrx()),
            query_item(Q_SCQ, caps.scq()),
            query_item(Q_EVENT, caps.zcrx_event()),
        ];

        let (opcodes, setup_flags) = match caps.opcodes() {
            Ok(op) => {
                let opcode = |name: &'static str| {
                    Item::new(name, Status::from_bool(op.has_opcode(value_of(name) as u8)))
                };
                let reg = |name: &'static str| {
                    Item::new(
                        name,
                        Status::from_bool(op.has_register_op(value_of(name) as u32)),
                    )
                };
                let setup = |name: &'static str| {
                    Item::new(
                        name,
                        Status::from_bool(op.supports_setup_flags(value_of(name) as u32)),
                    )
                };
                (
                    vec![
                        opcode("IORING_OP_RECV_ZC"),
                        reg("IORING_REGISTER_ZCRX_IFQ"),
                        reg("IORING_REGISTER_QUERY"),
                        reg("IORING_REGISTER_ZCRX_CTRL"),
                    ],
                    vec![
                        setup("IORING_SETUP_SINGLE_ISSUER"),
                        setup("IORING_SETUP_DEFER_TASKRUN"),
                        setup("IORING_SETUP_CQE32"),
                        setup("IORING_SETUP_CQE_MIXED"),
                    ],
                )
            }
            Err(_) => (
                [
                    "IORING_OP_RECV_ZC",
                    "IORING_REGISTER_ZCRX_IFQ",
                    "IORING_REGISTER_QUERY",
                    "IORING_REGISTER_ZCRX_CTRL",
                ]
                .into_iter()
                .map(|n| Item::without_query(n, Q_OPCODES))
                .collect(),
                [
                    "IORING_SETUP_SINGLE_ISSUER",
                    "IORING_SETUP_DEFER_TASKRUN",
                    "IORING_SETUP_CQE32",
                    "IORING_SETUP_CQE_MIXED",
                ]
                .into_iter()
                .map(|n| Item::without_query(n, Q_OPCODES))
                .collect(),
            ),
        };

        const REG: [&str; 2] = ["ZCRX_REG_IMPORT", "ZCRX_REG_NODEV"];
        const AREA: [&str; 1] = ["IORING_ZCRX_AREA_DMABUF"];
        const FEAT: [&str; 2] = ["ZCRX_FEATURE_RX_PAGE_SIZE", "ZCRX_FEATURE_EVENT"];
        const CTRL: [&str; 4] = [
            "ZCRX_CTRL_FLUSH_RQ",
            "ZCRX_CTRL_EXPORT",
            "ZCRX_CTRL_ARM_EVENT",
            "ZCRX_CTRL_ADD_AREA",
        ];
        const EVENTS: [&str; 2] = ["ZCRX_EVENT_ALLOC_FAIL", "ZCRX_EVENT_COPY"];

        let (reg_flags, area_flags, features, ctrl_ops, refill) = match caps.zcrx() {
            Ok(z) => {
                let bits = |name: &'static str, have: u64| {
                    let v = value_of(name);
                    Item::new(name, Status::from_bool(v != 0 && have & v == v))
                };
                (
                    REG.iter()
                        .map(|n| bits(n, u64::from(z.register_flags.bits())))
                        .collect(),
                    AREA.iter()
                        .map(|n| bits(n, u64::from(z.area_flags.bits())))
                        .collect(),
                    FEAT.iter()
                        .map(|n| bits(n, u64::from(z.features.bits())))
                        .collect(),
                    CTRL.iter()
                        .map(|n| {
                            Item::new(n, Status::from_bool(z.supports_ctrl(value_of(n) as u32)))
                        })
                        .collect(),
                    Some(RefillLayout {
                        hdr_size: z.rq_hdr_size,
                        hdr_alignment: z.rq_hdr_alignment,
                        entries_offset: z.refill_entries_offset().ok(),
                    }),
                )
            }
            Err(_) => {
                let missing = |names: &[&'static str]| -> Vec<Item> {
                    names
                        .iter()
                        .map(|n| Item::without_query(n, Q_ZCRX))
                        .collect()
                };
                (
                    missing(&REG),
                    missing(&AREA),
                    missing(&FEAT),
                    missing(&CTRL),
                    None,
                )
            }
        };

        let (events, stats) = match caps.zcrx_event() {
            Ok(e) => (
                EVENTS
                    .iter()
                    .map(|n| {
                        let bit = 1u32.checked_shl(value_of(n) as u32).unwrap_or(0);
                        Item::new(
                            n,
                            Status::from_bool(bit != 0 && e.event_flags.bits() & bit == bit),
                        )
                    })
                    .collect(),
                Some(StatsLayout {
                    size: e.stats_size,
                    offset_alignment: e.stats_off_alignment,
                }),
            ),
            Err(_) => (
                EVENTS
                    .iter()
                    .map(|n| Item::without_query(n, Q_EVENT))
                    .collect(),
                None,
            ),
        };

        let mut report = Report {
            release,
            machine,
            version,
            io_uring_disabled,
            cap_net_admin,
            queries,
            opcodes,
            setup_flags,
            reg_flags,
            area_flags,
            features,
            ctrl_ops,
            refill,
            events,
            stats,
            abilities: Vec::new(),
            interfaces: None,
        };
        report.abilities = report.derive_abilities();
        report
    }

    /// Tries a NIC-mode registration on every rx queue of every interface,
    /// or of the interfaces in `only` when it is not empty (see
    /// [`interfaces`](crate::interfaces): it restarts the queues that
    /// accept, and needs `CAP_NET_ADMIN`), unless the kernel cannot register
    /// in NIC mode at all.
    pub fn probe_interfaces(&mut self, only: &[String]) {
        let nic = self.abilities.iter().find(|a| a.key == "nic");
        self.interfaces = Some(match nic {
            Some(a) if a.status == Status::No => Err(a
                .note
                .clone()
                .unwrap_or_else(|| "the kernel cannot register in NIC mode".to_owned())),
            _ => crate::interfaces::probe_all(only),
        });
    }

    fn find(&self, name: &str) -> Option<&Item> {
        self.queries
            .iter()
            .chain(&self.opcodes)
            .chain(&self.setup_flags)
            .chain(&self.reg_flags)
            .chain(&self.area_flags)
            .chain(&self.features)
            .chain(&self.ctrl_ops)
            .chain(&self.events)
            .find(|i| i.name == name)
    }

    /// The status of an item by its header name.
    pub fn status(&self, name: &str) -> Option<Status> {
        self.find(name).map(|i| i.status)
    }

    /// "kernel lacks X (needs Linux >= V)" for the first item of `names`
    /// that is not a plain yes.
    fn lacking(&self, names: &[&str]) -> Option<String> {
        names.iter().find_map(|n| {
            let item = self.find(n)?;
            match item.status {
                Status::Yes => None,
                Status::No => Some(
                    zcrx_ring::Unsupported {
                        what: item.name,
                        needs: item.since,
                    }
                    .to_string(),
                ),
                Status::Unknown => Some(format!(
                    "cannot tell whether the kernel has {} (needs Linux >= {}): the query that reports it is missing",
                    item.name,
                    item.since.map_or_else(|| "?".to_owned(), |v| v.to_string())
                )),
            }
        })
    }

    fn derive_abilities(&self) -> Vec<Ability> {
        let mut out = Vec::new();
        let ring_ok = self.lacking(&[
            "IORING_SETUP_SINGLE_ISSUER",
            "IORING_SETUP_DEFER_TASKRUN",
            "IORING_SETUP_CQE32",
        ]);
        let disabled = match self.io_uring_disabled {
            Some(2) => {
                Some("io_uring is disabled (sysctl kernel.io_uring_disabled = 2)".to_owned())
            }
            _ => None,
        };
        let ability = |what, key, lack: Option<String>, caveat: Option<&str>| Ability {
            what,
            key,
            status: match &lack {
                None => Status::Yes,
                Some(s) if s.starts_with("cannot tell") => Status::Unknown,
                Some(_) => Status::No,
            },
            note: lack.or(caveat.map(str::to_owned)),
        };
        let nic = disabled.clone().or_else(|| {
            self.lacking(&["IORING_OP_RECV_ZC", "IORING_REGISTER_ZCRX_IFQ"])
                .or(ring_ok.clone())
        });
        out.push(ability(
            "zero-copy receive from a NIC queue (zcrx-recv --ifname --queue)",
            "nic",
            nic,
            Some(
                "also needs a NIC whose driver supports ZCRX, header/data split and flow steering",
            ),
        ));
        let nodev = disabled
            .clone()
            .or_else(|| self.lacking(&["IORING_OP_RECV_ZC", "ZCRX_REG_NODEV"]));
        out.push(ability(
            "ZCRX without a NIC, any TCP socket (zcrx-recv --nodev)",
            "nodev",
            nodev,
            None,
        ));
        let notify = disabled
            .clone()
            .or_else(|| self.lacking(&["ZCRX_FEATURE_EVENT", Q_EVENT, "ZCRX_CTRL_ARM_EVENT"]));
        out.push(ability(
            "notifications and stats (zcrx-recv --notify)",
            "notifications",
            notify,
            None,
        ));
        out.push(ability(
            "several areas per instance",
            "add_area",
            disabled
                .clone()
                .or_else(|| self.lacking(&["ZCRX_CTRL_ADD_AREA"])),
            None,
        ));
        out.push(ability(
            "sharing an instance between rings",
            "import",
            disabled.or_else(|| self.lacking(&["ZCRX_REG_IMPORT", "ZCRX_CTRL_EXPORT"])),
            None,
        ));
        let register = match self.cap_net_admin {
            Some(true) => Ability {
                what: "this process may register ZCRX instances (CAP_NET_ADMIN)",
                key: "register",
                status: Status::Yes,
                note: None,
            },
            Some(false) => Ability {
                what: "this process may register ZCRX instances (CAP_NET_ADMIN)",
                key: "register",
                status: Status::No,
                note: Some(crate::cli::NEEDS_CAP_NET_ADMIN.to_owned()),
            },
            None => Ability {
                what: "this process may register ZCRX instances (CAP_NET_ADMIN)",
                key: "register",
                status: Status::Unknown,
                note: Some("cannot read /proc/self/status".to_owned()),
            },
        };
        out.push(register);
        out
    }

    /// The report as a table for people.
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "kernel: Linux {} ({}){}",
            self.release,
            self.machine,
            self.version
                .map_or_else(String::new, |v| format!(", series {v}"))
        );
        let _ = writeln!(
            s,
            "io_uring: {}",
            match self.io_uring_disabled {
                Some(0) => "enabled".to_owned(),
                Some(1) => "restricted to root and kernel.io_uring_group (io_uring_disabled = 1)"
                    .to_owned(),
                Some(2) => "disabled (io_uring_disabled = 2)".to_owned(),
                Some(n) => format!("io_uring_disabled = {n}"),
                None => "no io_uring_disabled sysctl (older kernel, enabled)".to_owned(),
            }
        );
        let _ = writeln!(
            s,
            "CAP_NET_ADMIN: {}",
            match self.cap_net_admin {
                Some(true) => "yes: this process may register ZCRX instances",
                Some(false) =>
                    "no: this process may not register ZCRX instances (run as root or grant CAP_NET_ADMIN)",
                None => "unknown",
            }
        );

        section(&mut s, "QUERIES (IORING_REGISTER_QUERY)", &self.queries);
        section(&mut s, "OPCODES AND REGISTER OPS", &self.opcodes);
        section(&mut s, "RING SETUP FLAGS", &self.setup_flags);
        section(&mut s, "ZCRX REGISTRATION FLAGS", &self.reg_flags);
        section(&mut s, "ZCRX AREA FLAGS", &self.area_flags);
        section(&mut s, "ZCRX FEATURES", &self.features);
        section(&mut s, "ZCRX CONTROL OPERATIONS", &self.ctrl_ops);
        let _ = writeln!(s);
        match &self.refill {
            Some(r) => {
                let _ = writeln!(
                    s,
                    "refill ring header: {} bytes, entries aligned to {}: entries at offset {}",
                    r.hdr_size,
                    r.hdr_alignment,
                    r.entries_offset
                        .map_or_else(|| "? (insane values)".to_owned(), |o| o.to_string())
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "refill ring header: not reported ({} is missing)",
                    Q_ZCRX
                );
            }
        }
        section(&mut s, "ZCRX EVENTS (NOTIFICATIONS)", &self.events);
        let _ = writeln!(s);
        let ours = abi::find_struct("zcrx_stats");
        let fields = ours.map_or_else(String::new, |st| {
            st.fields
                .iter()
                .map(|f| format!("{} @{} ({})", f.name, f.offset, f.ty))
                .collect::<Vec<_>>()
                .join(", ")
        });
        match &self.stats {
            Some(st) => {
                let _ = writeln!(
                    s,
                    "stats block: {} bytes, offset aligned to {}; struct zcrx_stats here: {} bytes: {}",
                    st.size,
                    st.offset_alignment,
                    ours.map_or(0, |o| o.size),
                    fields
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "stats block: not reported ({} is missing); struct zcrx_stats needs Linux >= {}",
                    Q_EVENT,
                    ours.map_or_else(|| "?".to_owned(), |o| o.since.to_string())
                );
            }
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "WHAT THIS KERNEL AND PROCESS CAN DO");
        for a in &self.abilities {
            let _ = writeln!(
                s,
                "  {:<68} {:<8}{}",
                a.what,
                a.status.as_str(),
                a.note
                    .as_deref()
                    .map_or_else(String::new, |n| format!(" {n}"))
            );
        }
        if let Some(probed) = &self.interfaces {
            let _ = writeln!(s);
            s.push_str(&crate::interfaces::table(probed));
        }
        s
    }

    /// The report as JSON (one object; see the README for its fields).
    pub fn to_json(&self) -> String {
        let items = |v: &[Item]| Value::Array(v.iter().map(Item::json).collect());
        let value = json!({
            "kernel": {
                "release": self.release,
                "machine": self.machine,
                "version": self.version.map(|v| v.to_string()),
            },
            "io_uring_disabled": self.io_uring_disabled,
            "cap_net_admin": self.cap_net_admin,
            "queries": items(&self.queries),
            "opcodes": items(&self.opcodes),
            "setup_flags": items(&self.setup_flags),
            "zcrx": {
                "register_flags": items(&self.reg_flags),
                "area_flags": items(&self.area_flags),
                "features": items(&self.features),
                "ctrl_ops": items(&self.ctrl_ops),
                "refill": self.refill.map(|r| json!({
                    "hdr_size": r.hdr_size,
                    "hdr_alignment": r.hdr_alignment,
                    "entries_offset": r.entries_offset,
                })),
            },
            "events": {
                "types": items(&self.events),
                "stats": self.stats.map(|st| json!({
                    "size": st.size,
                    "offset_alignment": st.offset_alignment,
                })),
            },
            "abilities": self.abilities.iter().map(|a| json!({
                "key": a.key,
                "what": a.what,
                "available": a.status.json(),
                "note": a.note,
            })).collect::<Vec<_>>(),
            "interfaces": self.interfaces.as_ref().map(crate::interfaces::json),
        });
        // Serializing a Value built here cannot fail.
        serde_json::to_string_pretty(&value).unwrap_or_else(|_| "{}".to_owned())
    }
}

fn section(s: &mut String, title: &str, items: &[Item]) {
    let _ = writeln!(s);
    let _ = writeln!(s, "{title:<36} {:<8} {:<6} DETAIL", "STATUS", "NEEDS");
    for i in items {
        let _ = writeln!(
            s,
            "  {:<34} {:<8} {:<6} {}",
            i.name,
            i.status.as_str(),
            i.since.map_or_else(|| "?".to_owned(), |v| v.to_string()),
            i.detail.as_deref().unwrap_or("")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_parse() {
        assert_eq!(
            parse_release("7.3.4+deb13-cloud-amd64"),
            Some(KernelVersion::new(7, 3))
        );
        assert_eq!(parse_release("6.18.44"), Some(KernelVersion::new(6, 18)));
        assert_eq!(parse_release("6.19-rc1"), Some(KernelVersion::new(6, 19)));
        assert_eq!(parse_release("weird"), None);
    }

    #[test]
    fn every_item_has_a_release() {
        let r = Report::gather();
        for i in r
            .queries
            .iter()
            .chain(&r.opcodes)
            .chain(&r.setup_flags)
            .chain(&r.reg_flags)
            .chain(&r.area_flags)
            .chain(&r.features)
            .chain(&r.ctrl_ops)
            .chain(&r.events)
        {
            assert!(
                i.since.is_some(),
                "{} has no release in the ABI tables",
                i.name
            );
        }
    }

    #[test]
    fn json_parses_and_matches_the_table() {
        let r = Report::gather();
        let v: Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["queries"].as_array().unwrap().len(), 4);
        assert_eq!(v["kernel"]["release"], r.release.as_str());
        let table = r.to_table();
        for a in &r.abilities {
            assert!(table.contains(a.what));
        }
    }
}
