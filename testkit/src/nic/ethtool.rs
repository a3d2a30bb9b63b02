//! The classic ethtool ioctl (`SIOCETHTOOL`) for what the NIC helper needs:
//! the rx ring count and ntuple flow-steering rules (`ethtool -N DEV
//! flow-type tcp4 dst-port P action Q`), which real NICs and zcrx-sim
//! accept alike.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GRXRINGS: u32 = 0x2d;
const ETHTOOL_GRXCLSRLCNT: u32 = 0x2e;
const ETHTOOL_GRXCLSRLALL: u32 = 0x30;
const ETHTOOL_SRXCLSRLDEL: u32 = 0x31;
const ETHTOOL_SRXCLSRLINS: u32 = 0x32;
const TCP_V4_FLOW: u32 = 0x01;
const RX_CLS_LOC_SPECIAL: u32 = 0x8000_0000;
const RX_CLS_LOC_ANY: u32 = 0xffff_ffff;

/// `struct ethtool_rxnfc` (192 bytes) and the offsets used in it
/// (checked against the kernel's uapi header with a C probe).
const RXNFC_SIZE: usize = 192;
const OFF_CMD: usize = 0;
const OFF_DATA: usize = 8;
const OFF_FS: usize = 16;
/// Inside `struct ethtool_rx_flow_spec`.
const FS_FLOW_TYPE: usize = 0;
const FS_H_U: usize = 4;
const FS_M_U: usize = 76;
const FS_RING_COOKIE: usize = 152;
const FS_LOCATION: usize = 160;
const OFF_RULE_CNT: usize = 184;
/// Inside `struct ethtool_tcpip4_spec`.
const TCP4_IP4DST: usize = 4;
const TCP4_PDST: usize = 10;

/// The ioctl's argument: an `ethtool_rxnfc`, followed by room for rule
/// locations (GRXCLSRLALL).
#[repr(C, align(8))]
struct Rxnfc {
    bytes: [u8; RXNFC_SIZE + 4 * 256],
}

impl Rxnfc {
    fn new(cmd: u32) -> Self {
        let mut r = Rxnfc {
            bytes: [0; RXNFC_SIZE + 4 * 256],
        };
        r.put_u32(OFF_CMD, cmd);
        r
    }
    fn put(&mut self, off: usize, b: &[u8]) {
        self.bytes[off..off + b.len()].copy_from_slice(b);
    }
    fn put_u32(&mut self, off: usize, v: u32) {
        self.put(off, &v.to_ne_bytes());
    }
    fn u32_at(&self, off: usize) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.bytes[off..off + 4]);
        u32::from_ne_bytes(b)
    }
    fn u64_at(&self, off: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.bytes[off..off + 8]);
        u64::from_ne_bytes(b)
    }
}

/// `struct ifreq` with the `ifr_data` pointer.
#[repr(C)]
struct IfreqData {
    name: [u8; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

fn ioctl(ifname: &str, arg: &mut Rxnfc) -> io::Result<()> {
    if ifname.is_empty() || ifname.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("interface name {ifname:?} is not 1 to 15 bytes"),
        ));
    }
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a new descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut req = IfreqData {
        name: [0; libc::IFNAMSIZ],
        data: arg.bytes.as_mut_ptr().cast(),
        _pad: [0; 16],
    };
    req.name[..ifname.len()].copy_from_slice(ifname.as_bytes());
    // SAFETY: `req` is a valid ifreq whose data pointer points to `arg`,
    // large enough for every command used here, both alive for the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL, &mut req as *mut IfreqData) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The number of rx rings (queues) of `ifname`.
pub fn rx_rings(ifname: &str) -> io::Result<u32> {
    let mut r = Rxnfc::new(ETHTOOL_GRXRINGS);
    ioctl(ifname, &mut r)?;
    Ok(r.u64_at(OFF_DATA) as u32)
}

/// The location for a new rule: "any" if the driver picks one, else the
/// first free slot of its table (what `ethtool -N` does).
fn free_location(ifname: &str) -> io::Result<u32> {
    let mut r = Rxnfc::new(ETHTOOL_GRXCLSRLCNT);
    ioctl(ifname, &mut r)?;
    let table = r.u64_at(OFF_DATA) as u32;
    if table & RX_CLS_LOC_SPECIAL != 0 {
        return Ok(RX_CLS_LOC_ANY);
    }
    let count = r.u32_at(OFF_RULE_CNT).min(256);
    let mut all = Rxnfc::new(ETHTOOL_GRXCLSRLALL);
    all.put_u32(OFF_RULE_CNT, count);
    ioctl(ifname, &mut all)?;
    let used: Vec<u32> = (0..all.u32_at(OFF_RULE_CNT).min(256) as usize)
        .map(|i| all.u32_at(RXNFC_SIZE + 4 * i))
        .collect();
    (0..table.max(1))
        .find(|l| !used.contains(l))
        .ok_or_else(|| io::Error::other(format!("{ifname}: the ntuple rule table is full")))
}

/// Adds an ntuple rule: TCP over IPv4 to `dst` (any address if `None`)
/// port `dport` goes to rx queue `queue`. Returns the rule's location.
pub fn add_tcp4_rule(
    ifname: &str,
    dst: Option<Ipv4Addr>,
    dport: u16,
    queue: u32,
) -> io::Result<u32> {
    let mut r = Rxnfc::new(ETHTOOL_SRXCLSRLINS);
    let fs = OFF_FS;
    r.put_u32(fs + FS_FLOW_TYPE, TCP_V4_FLOW);
    if let Some(dst) = dst {
        r.put(fs + FS_H_U + TCP4_IP4DST, &dst.octets());
        r.put(fs + FS_M_U + TCP4_IP4DST, &[0xff; 4]);
    }
    r.put(fs + FS_H_U + TCP4_PDST, &dport.to_be_bytes());
    r.put(fs + FS_M_U + TCP4_PDST, &[0xff; 2]);
    r.put(fs + FS_RING_COOKIE, &u64::from(queue).to_ne_bytes());
    r.put_u32(fs + FS_LOCATION, free_location(ifname)?);
    ioctl(ifname, &mut r)?;
    Ok(r.u32_at(fs + FS_LOCATION))
}

/// Deletes the ntuple rule at `location`.
pub fn delete_rule(ifname: &str, location: u32) -> io::Result<()> {
    let mut r = Rxnfc::new(ETHTOOL_SRXCLSRLDEL);
    r.put_u32(OFF_FS + FS_LOCATION, location);
    ioctl(ifname, &mut r)
}
