//! A receiving NIC and a sender linked to it, for NIC-mode ZCRX tests.
//!
//! [`NicPair::acquire`] gives the receiver's interface (in the calling
//! thread's network namespace), the rx queues a test may bind, the
//! receiver's address, and a network namespace whose threads send to it
//! over the wire (not over `lo`).
//!
//! - **Simulated** (default): the `zcrx-sim` module's pair `zsim<N>a`
//!   (receiver, here) / `zsim<N>b` (moved into a fresh namespace), with
//!   addresses `10.77.<N>.1/24` and `.2/24`, brought up; `vm-test` loads the
//!   module on 7.3 and 7.2 for `kernel_nic_*` tests. Nothing is needed
//!   besides root.
//! - **Real NIC**: set `ZCRX_NIC_IFNAME` and the helper changes nothing on
//!   the machine except the ntuple rules the test adds (and removes):
//!
//! | variable | meaning |
//! |---|---|
//! | `ZCRX_NIC_IFNAME` | the receiving interface (header split on, hds-thresh 0) |
//! | `ZCRX_NIC_ADDR` | its IPv4 address, where tests listen |
//! | `ZCRX_NIC_PEER_NETNS` | a network namespace (`/run/netns/NAME`) whose interface is cabled to it |
//! | `ZCRX_NIC_QUEUES` | rx queues tests may bind, e.g. `2,3` (default: every queue but 0) |
//! | `ZCRX_NIC_SIM_PAIR` | simulated mode: which pair (default 0) |
//!
//! One test at a time uses an interface: acquiring takes an exclusive
//! `flock` on `$TMPDIR/zcrx-nic-<ifname>.lock` (across threads and
//! processes), released with the [`NicPair`].

mod ethnl;
mod ethtool;
mod flow;
mod netns;
mod rtnl;

use std::fmt;
use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

pub use ethnl::RingParams;
pub use flow::{DEFAULT_RCVBUF, Flow, FlowSpec, RandomStream, Sent, StreamDigest, hex, set_rcvbuf};
pub use netns::{NetNs, NsThread};

/// Why no NIC pair could be set up.
#[derive(Debug)]
#[non_exhaustive]
pub enum NicError {
    /// No device to test with (the simulated NIC's module is not loaded and
    /// no real NIC is configured): tests skip, or fail under
    /// `ZCRX_REQUIRE_KERNEL=1`.
    Unavailable(String),
    /// An environment variable is malformed or one it needs is missing.
    Env {
        /// The variable.
        var: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A step of the setup failed.
    Setup {
        /// The step (names the interface).
        step: String,
        /// The system's error.
        source: io::Error,
    },
}

impl NicError {
    fn setup(step: impl Into<String>) -> impl FnOnce(io::Error) -> NicError {
        let step = step.into();
        move |source| NicError::Setup { step, source }
    }
}

impl fmt::Display for NicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NicError::Unavailable(why) => write!(f, "no NIC to test with: {why}"),
            NicError::Env { var, reason } => write!(f, "{var}: {reason}"),
            NicError::Setup { step, source } => write!(f, "{step}: {source}"),
        }
    }
}

impl std::error::Error for NicError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NicError::Setup { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A receiving interface and a linked sender namespace (see the module
/// docs). Dropping it removes the steering rules it added and, for the
/// simulated pair, moves the sender's device back.
pub struct NicPair {
    ifname: String,
    ifindex: u32,
    rx_queues: u32,
    queues: Vec<u32>,
    addr: Ipv4Addr,
    peer_addr: Option<Ipv4Addr>,
    peer: NetNs,
    /// Simulated: the sender's device name and our own namespace.
    sim: Option<(String, NetNs)>,
    rules: Vec<u32>,
    /// tcp-data-split as found, when a test changed it (restored on drop).
    saved_split: Option<Option<bool>>,
    /// hds-thresh as found, when a test changed it (restored on drop).
    saved_hds: Option<Option<u32>>,
    /// The MTU as found, when a test changed it (restored on drop).
    saved_mtu: Option<u32>,
    _lock: File,
}

fn env(var: &'static str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

fn parse_addr(var: &'static str) -> Result<Option<Ipv4Addr>, NicError> {
    env(var)
        .map(|v| {
            v.trim().parse().map_err(|_| NicError::Env {
                var,
                reason: format!("{v:?} is not an IPv4 address"),
            })
        })
        .transpose()
}

fn lock(ifname: &str) -> Result<File, NicError> {
    let path = std::env::temp_dir().join(format!("zcrx-nic-{ifname}.lock"));
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(NicError::setup(format!("opening {}", path.display())))?;
    loop {
        // SAFETY: flock on a descriptor owned by `file`, alive for the call.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(file);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(NicError::setup(format!("locking {}", path.display()))(err));
        }
    }
}

impl NicPair {
    /// The pair for a guest test, or `None` after a skip (a failure under
    /// `ZCRX_REQUIRE_KERNEL=1`, see [`require`](crate::require())) when the
    /// kernel lacks ZCRX (`IO_URING_QUERY_ZCRX`), the process lacks
    /// `CAP_NET_ADMIN`, or no device is available
    /// ([`NicError::Unavailable`]).
    ///
    /// # Panics
    ///
    /// On any other failure to set the pair up.
    pub fn acquire_or_skip() -> Option<Self> {
        if !crate::require(
            crate::probe().zcrx().is_ok(),
            &crate::lacks("IO_URING_QUERY_ZCRX"),
        ) || !crate::require(
            crate::has_cap_net_admin(),
            "needs CAP_NET_ADMIN (run as root)",
        ) {
            return None;
        }
        match Self::acquire() {
            Ok(nic) => Some(nic),
            Err(e @ NicError::Unavailable(_)) => {
                crate::require(false, &e.to_string());
                None
            }
            Err(e) => panic!("setting up the NIC pair: {e}"),
        }
    }

    /// Sets up (simulated) or looks up (real, from `ZCRX_NIC_*`) the pair.
    /// Needs root. Blocks while another test holds the interface.
    pub fn acquire() -> Result<Self, NicError> {
        match env("ZCRX_NIC_IFNAME") {
            Some(ifname) => Self::real(ifname),
            None => Self::simulated(),
        }
    }

    fn queues_from_env(rx_queues: u32) -> Result<Vec<u32>, NicError> {
        let Some(list) = env("ZCRX_NIC_QUEUES") else {
            return Ok((1..rx_queues).collect());
        };
        list.split(',')
            .map(|q| match q.trim().parse::<u32>() {
                Ok(q) if q < rx_queues => Ok(q),
                _ => Err(NicError::Env {
                    var: "ZCRX_NIC_QUEUES",
                    reason: format!("{q:?} is not an rx queue below {rx_queues}"),
                }),
            })
            .collect()
    }

    fn real(ifname: String) -> Result<Self, NicError> {
        let addr = parse_addr("ZCRX_NIC_ADDR")?.ok_or(NicError::Env {
            var: "ZCRX_NIC_ADDR",
            reason: "needed with ZCRX_NIC_IFNAME: the receiver's IPv4 address".into(),
        })?;
        let ns_path = env("ZCRX_NIC_PEER_NETNS").ok_or(NicError::Env {
            var: "ZCRX_NIC_PEER_NETNS",
            reason: "needed with ZCRX_NIC_IFNAME: the sender's network namespace".into(),
        })?;
        let lock = lock(&ifname)?;
        let peer = NetNs::open(&ns_path)
            .map_err(NicError::setup(format!("opening the namespace {ns_path}")))?;
        let ifindex = rtnl::Rtnl::new()
            .and_then(|mut r| r.link_index(&ifname))
            .map_err(NicError::setup(format!("looking up {ifname}")))?
            .ok_or_else(|| NicError::Unavailable(format!("no interface {ifname}")))?;
        let rx_queues = ethtool::rx_rings(&ifname).map_err(NicError::setup(format!(
            "{ifname}: reading the rx ring count"
        )))?;
        Ok(NicPair {
            queues: Self::queues_from_env(rx_queues)?,
            ifname,
            ifindex,
            rx_queues,
            addr,
            peer_addr: parse_addr("ZCRX_NIC_PEER_ADDR")?,
            peer,
            sim: None,
            rules: Vec::new(),
            saved_split: None,
            saved_hds: None,
            saved_mtu: None,
            _lock: lock,
        })
    }

    fn simulated() -> Result<Self, NicError> {
        let pair: u8 = match env("ZCRX_NIC_SIM_PAIR") {
            None => 0,
            Some(v) => v.trim().parse().map_err(|_| NicError::Env {
                var: "ZCRX_NIC_SIM_PAIR",
                reason: format!("{v:?} is not a pair number"),
            })?,
        };
        let (ifname, peer_name) = (format!("zsim{pair}a"), format!("zsim{pair}b"));
        let lock = lock(&ifname)?;
        let mut rt = rtnl::Rtnl::new().map_err(NicError::setup("opening rtnetlink"))?;
        let ifindex = rt
            .link_index(&ifname)
            .map_err(NicError::setup(format!("looking up {ifname}")))?
            .ok_or_else(|| {
                NicError::Unavailable(format!(
                    "{ifname} does not exist: the zcrx-sim module is not loaded (cargo xtask \
                     vm-test loads it on 7.3 and 7.2 for kernel_nic_* tests), and \
                     ZCRX_NIC_IFNAME names no real NIC"
                ))
            })?;
        let home = NetNs::current().map_err(NicError::setup("opening our namespace"))?;
        let peer = NetNs::new().map_err(NicError::setup("creating the sender's namespace"))?;

        // A previous user's namespace may still be on its way out, taking
        // the sender's device back with it.
        let deadline = Instant::now() + Duration::from_secs(10);
        let peer_index = loop {
            match rt.link_index(&peer_name) {
                Ok(Some(i)) => break i,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Ok(None) => {
                    return Err(NicError::Unavailable(format!(
                        "{peer_name} (the sender's device) is not in this namespace"
                    )));
                }
                Err(e) => return Err(NicError::setup(format!("looking up {peer_name}"))(e)),
            }
        };
        rt.move_to(peer_index, peer.as_fd())
            .map_err(NicError::setup(format!(
                "moving {peer_name} to the sender's namespace"
            )))?;
        let addr = Ipv4Addr::new(10, 77, pair, 1);
        let peer_addr = Ipv4Addr::new(10, 77, pair, 2);
        rt.add_ipv4(ifindex, addr, 24)
            .and_then(|()| rt.set_up(ifindex))
            .map_err(NicError::setup(format!("configuring {ifname}")))?;
        let name = peer_name.clone();
        peer.run(move || -> io::Result<()> {
            let mut rt = rtnl::Rtnl::new()?;
            let lo = rt.link_index("lo")?.ok_or(io::ErrorKind::NotFound)?;
            rt.set_up(lo)?;
            let index = rt.link_index(&name)?.ok_or(io::ErrorKind::NotFound)?;
            rt.add_ipv4(index, peer_addr, 24)?;
            rt.set_up(index)
        })
        .and_then(|r| r)
        .map_err(NicError::setup(format!(
            "configuring {peer_name} in the sender's namespace"
        )))?;
        let rx_queues = ethtool::rx_rings(&ifname).map_err(NicError::setup(format!(
            "{ifname}: reading the rx ring count"
        )))?;
        Ok(NicPair {
            queues: Self::queues_from_env(rx_queues)?,
            ifname,
            ifindex,
            rx_queues,
            addr,
            peer_addr: Some(peer_addr),
            peer,
            sim: Some((peer_name, home)),
            rules: Vec::new(),
            saved_split: None,
            saved_hds: None,
            saved_mtu: None,
            _lock: lock,
        })
    }

    /// The receiving interface's name.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// Its index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// How many rx queues it has.
    pub fn rx_queues(&self) -> u32 {
        self.rx_queues
    }

    /// The rx queues tests may bind (`ZCRX_NIC_QUEUES`, or all but 0).
    pub fn queues(&self) -> &[u32] {
        &self.queues
    }

    /// The receiver's IPv4 address (listen here).
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The sender's address, when known.
    pub fn peer_addr(&self) -> Option<Ipv4Addr> {
        self.peer_addr
    }

    /// Whether this is the simulated pair.
    pub fn is_simulated(&self) -> bool {
        self.sim.is_some()
    }

    /// The sender's namespace.
    pub fn peer(&self) -> &NetNs {
        &self.peer
    }

    /// Starts `f` on a thread in the sender's namespace (connect from
    /// there to [`addr`](Self::addr)).
    pub fn spawn_sender<T, F>(&self, f: F) -> Result<NsThread<T>, NicError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.peer
            .spawn(f)
            .map_err(NicError::setup("entering the sender's namespace"))
    }

    /// Steers TCP to our address, port `dport`, to rx `queue` with an
    /// ntuple rule (removed when the pair is dropped).
    pub fn steer_tcp4(&mut self, dport: u16, queue: u32) -> Result<(), NicError> {
        let loc = ethtool::add_tcp4_rule(&self.ifname, Some(self.addr), dport, queue).map_err(
            NicError::setup(format!(
                "{}: ntuple rule tcp4 dst-port {dport} action {queue}",
                self.ifname
            )),
        )?;
        self.rules.push(loc);
        Ok(())
    }

    /// The receiving interface's ring parameters (`ethtool -g`).
    pub fn ring_params(&self) -> Result<RingParams, NicError> {
        ethnl::ring_params(&self.ifname).map_err(NicError::setup(format!(
            "{}: reading the ring parameters",
            self.ifname
        )))
    }

    /// `ethtool -G <ifname> tcp-data-split on|off` on the receiving
    /// interface; the original setting is restored when the pair is
    /// dropped.
    pub fn set_tcp_data_split(&mut self, on: bool) -> Result<(), NicError> {
        if self.saved_split.is_none() {
            self.saved_split = Some(self.ring_params()?.tcp_data_split);
        }
        ethnl::set_tcp_data_split(&self.ifname, on).map_err(NicError::setup(format!(
            "{}: tcp-data-split {}",
            self.ifname,
            if on { "on" } else { "off" }
        )))
    }

    /// `ethtool -G <ifname> hds-thresh <bytes>` on the receiving interface;
    /// restored when the pair is dropped.
    pub fn set_hds_thresh(&mut self, bytes: u32) -> Result<(), NicError> {
        if self.saved_hds.is_none() {
            self.saved_hds = Some(self.ring_params()?.hds_thresh);
        }
        ethnl::set_hds_thresh(&self.ifname, bytes).map_err(NicError::setup(format!(
            "{}: hds-thresh {bytes}",
            self.ifname
        )))
    }

    /// Sets the MTU of both ends (the simulated pair only; a real NIC is
    /// configured by its owner); the original MTU is restored when the pair
    /// is dropped.
    pub fn set_mtu(&mut self, mtu: u32) -> Result<(), NicError> {
        if self.sim.is_none() {
            return Err(NicError::Unavailable(
                "set_mtu changes only the simulated pair".into(),
            ));
        }
        if self.saved_mtu.is_none() {
            let path = format!("/sys/class/net/{}/mtu", self.ifname);
            let found = std::fs::read_to_string(&path)
                .map_err(NicError::setup(format!("reading {path}")))?;
            self.saved_mtu = found.trim().parse().ok();
        }
        self.apply_mtu(mtu)
    }

    fn apply_mtu(&self, mtu: u32) -> Result<(), NicError> {
        let Some((peer_name, _)) = &self.sim else {
            return Ok(());
        };
        rtnl::Rtnl::new()
            .and_then(|mut r| r.set_mtu(self.ifindex, mtu))
            .map_err(NicError::setup(format!("{}: mtu {mtu}", self.ifname)))?;
        let name = peer_name.clone();
        self.peer
            .run(move || -> io::Result<()> {
                let mut r = rtnl::Rtnl::new()?;
                let i = r.link_index(&name)?.ok_or(io::ErrorKind::NotFound)?;
                r.set_mtu(i, mtu)
            })
            .and_then(|r| r)
            .map_err(NicError::setup(format!("{peer_name}: mtu {mtu}")))
    }
}

impl Drop for NicPair {
    fn drop(&mut self) {
        for loc in self.rules.drain(..) {
            let _ = ethtool::delete_rule(&self.ifname, loc);
        }
        if let Some(Some(bytes)) = self.saved_hds.take() {
            let _ = ethnl::set_hds_thresh(&self.ifname, bytes);
        }
        if let Some(Some(on)) = self.saved_split.take() {
            let _ = ethnl::set_tcp_data_split(&self.ifname, on);
        }
        if let Some(mtu) = self.saved_mtu.take() {
            let _ = self.apply_mtu(mtu);
        }
        if let Some((peer_name, home)) = self.sim.take() {
            // Back home now, rather than when the namespace is dismantled.
            let Ok(home_fd) = home.as_fd().try_clone_to_owned() else {
                return;
            };
            let _ = self.peer.run(move || -> io::Result<()> {
                let mut r = rtnl::Rtnl::new()?;
                let i = r.link_index(&peer_name)?.ok_or(io::ErrorKind::NotFound)?;
                r.move_to(i, home_fd.as_fd())
            });
        }
    }
}

impl fmt::Debug for NicPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NicPair")
            .field("ifname", &self.ifname)
            .field("ifindex", &self.ifindex)
            .field("rx_queues", &self.rx_queues)
            .field("queues", &self.queues)
            .field("addr", &self.addr)
            .field("peer_addr", &self.peer_addr)
            .field("simulated", &self.sim.is_some())
            .finish()
    }
}
