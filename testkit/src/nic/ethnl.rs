//! Ring parameters through ethtool's generic netlink family
//! (`ethtool -g/-G DEV`): tcp-data-split, hds-thresh and rx-buf-len, which
//! the classic ioctl cannot carry. Messages are built with
//! `netlink-packet-generic` (the family id resolved by name).

use std::io;

use netlink_packet_core::{
    DecodeError, Emitable, NLA_F_NESTED, NLM_F_ACK, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
    Nla, NlaBuffer, NlasIterator, ParseableParametrized,
};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::{GenlFamily, GenlHeader, GenlMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_GENERIC};

const ETHTOOL_GENL_NAME: &str = "ethtool";
const ETHTOOL_GENL_VERSION: u8 = 1;
const ETHTOOL_MSG_RINGS_GET: u8 = 15;
const ETHTOOL_MSG_RINGS_SET: u8 = 16;
const ETHTOOL_A_HEADER_DEV_NAME: u16 = 2;
const ETHTOOL_A_RINGS_HEADER: u16 = 1;
const ETHTOOL_A_RINGS_RX_BUF_LEN: u16 = 10;
const ETHTOOL_A_RINGS_TCP_DATA_SPLIT: u16 = 11;
const ETHTOOL_A_RINGS_HDS_THRESH: u16 = 17;
const ETHTOOL_A_RINGS_HDS_THRESH_MAX: u16 = 18;

/// `ETHTOOL_TCP_DATA_SPLIT_*`.
const TCP_DATA_SPLIT_DISABLED: u8 = 1;
const TCP_DATA_SPLIT_ENABLED: u8 = 2;

/// The ring parameters that matter to ZCRX.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RingParams {
    /// Header split: `Some(true)` enabled, `Some(false)` disabled, `None`
    /// unknown (the driver's choice) or not reported.
    pub tcp_data_split: Option<bool>,
    /// Header-data split threshold, if reported.
    pub hds_thresh: Option<u32>,
    /// Its maximum, if reported.
    pub hds_thresh_max: Option<u32>,
    /// Receive buffer length, if reported.
    pub rx_buf_len: Option<u32>,
}

/// One attribute of a rings message.
#[derive(Debug, Clone)]
enum Attr {
    /// `ETHTOOL_A_RINGS_HEADER` { `ETHTOOL_A_HEADER_DEV_NAME` }.
    Header(String),
    U8(u16, u8),
    U32(u16, u32),
    /// Anything else, as received.
    Raw(u16, Vec<u8>),
}

/// The device name inside the header nest.
struct DevName<'a>(&'a str);

impl Nla for DevName<'_> {
    fn value_len(&self) -> usize {
        self.0.len() + 1
    }
    fn kind(&self) -> u16 {
        ETHTOOL_A_HEADER_DEV_NAME
    }
    fn emit_value(&self, buffer: &mut [u8]) {
        buffer[..self.0.len()].copy_from_slice(self.0.as_bytes());
        buffer[self.0.len()] = 0;
    }
}

impl Nla for Attr {
    fn value_len(&self) -> usize {
        match self {
            Attr::Header(name) => [DevName(name)].as_slice().buffer_len(),
            Attr::U8(..) => 1,
            Attr::U32(..) => 4,
            Attr::Raw(_, v) => v.len(),
        }
    }
    fn kind(&self) -> u16 {
        match self {
            Attr::Header(_) => ETHTOOL_A_RINGS_HEADER | NLA_F_NESTED,
            Attr::U8(k, _) | Attr::U32(k, _) | Attr::Raw(k, _) => *k,
        }
    }
    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Attr::Header(name) => [DevName(name)].as_slice().emit(buffer),
            Attr::U8(_, v) => buffer[0] = *v,
            Attr::U32(_, v) => buffer[..4].copy_from_slice(&v.to_ne_bytes()),
            Attr::Raw(_, v) => buffer[..v.len()].copy_from_slice(v),
        }
    }
}

/// A message of the ethtool family's rings commands.
#[derive(Debug, Clone)]
struct Rings {
    cmd: u8,
    attrs: Vec<Attr>,
}

impl GenlFamily for Rings {
    fn family_name() -> &'static str {
        ETHTOOL_GENL_NAME
    }
    fn command(&self) -> u8 {
        self.cmd
    }
    fn version(&self) -> u8 {
        ETHTOOL_GENL_VERSION
    }
}

impl Emitable for Rings {
    fn buffer_len(&self) -> usize {
        self.attrs.as_slice().buffer_len()
    }
    fn emit(&self, buffer: &mut [u8]) {
        self.attrs.as_slice().emit(buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for Rings {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        let mut attrs = Vec::new();
        for nla in NlasIterator::new(buf) {
            let nla: NlaBuffer<&[u8]> = nla?;
            attrs.push(Attr::Raw(nla.kind(), nla.value().to_vec()));
        }
        Ok(Rings {
            cmd: header.cmd,
            attrs,
        })
    }
}

fn decode(e: DecodeError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// Sends `msg` and returns the replies' payloads until the ACK; a kernel
/// error is an `io::Error` with its errno.
fn transact<F>(sock: &Socket, mut msg: NetlinkMessage<GenlMessage<F>>) -> io::Result<Vec<F>>
where
    F: GenlFamily + Emitable + ParseableParametrized<[u8], GenlHeader> + std::fmt::Debug,
{
    msg.header.flags = NLM_F_REQUEST | NLM_F_ACK;
    msg.finalize();
    let mut buf = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut buf);
    sock.send(&buf, 0)?;
    let mut out = Vec::new();
    let mut rbuf = vec![0u8; 64 * 1024];
    loop {
        let n = sock.recv(&mut &mut rbuf[..], 0)?;
        let mut off = 0;
        while off < n {
            let reply =
                NetlinkMessage::<GenlMessage<F>>::deserialize(&rbuf[off..n]).map_err(decode)?;
            let len = reply.header.length as usize;
            match reply.payload {
                NetlinkPayload::Error(e) if e.code.is_some() => return Err(e.to_io()),
                NetlinkPayload::Error(_) | NetlinkPayload::Done(_) => return Ok(out),
                NetlinkPayload::InnerMessage(m) => out.push(m.payload),
                _ => {}
            }
            if len == 0 {
                break;
            }
            off += len.next_multiple_of(4);
        }
    }
}

fn socket() -> io::Result<Socket> {
    let mut sock = Socket::new(NETLINK_GENERIC)?;
    sock.bind_auto()?;
    sock.connect(&SocketAddr::new(0, 0))?;
    Ok(sock)
}

fn family_id(sock: &Socket) -> io::Result<u16> {
    let msg = NetlinkMessage::from(GenlMessage::from_payload(GenlCtrl {
        cmd: GenlCtrlCmd::GetFamily,
        nlas: vec![GenlCtrlAttrs::FamilyName(ETHTOOL_GENL_NAME.to_owned())],
    }));
    transact(sock, msg)?
        .into_iter()
        .flat_map(|c| c.nlas)
        .find_map(|a| match a {
            GenlCtrlAttrs::FamilyId(id) => Some(id),
            _ => None,
        })
        .ok_or_else(|| io::Error::other("the kernel has no ethtool netlink family"))
}

fn rings(ifname: &str, cmd: u8, mut attrs: Vec<Attr>) -> io::Result<Vec<Rings>> {
    let sock = socket()?;
    let id = family_id(&sock)?;
    attrs.insert(0, Attr::Header(ifname.to_owned()));
    let mut genl = GenlMessage::from_payload(Rings { cmd, attrs });
    genl.set_resolved_family_id(id);
    genl.finalize();
    transact(&sock, NetlinkMessage::from(genl))
}

/// `ethtool -g IFNAME`: the ring parameters ZCRX depends on.
pub fn ring_params(ifname: &str) -> io::Result<RingParams> {
    let mut p = RingParams::default();
    let u32_of = |v: &[u8]| {
        v.get(..4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    for reply in rings(ifname, ETHTOOL_MSG_RINGS_GET, Vec::new())? {
        for a in reply.attrs {
            let Attr::Raw(kind, v) = a else { continue };
            match kind & !NLA_F_NESTED {
                ETHTOOL_A_RINGS_TCP_DATA_SPLIT => {
                    p.tcp_data_split = match v.first() {
                        Some(&TCP_DATA_SPLIT_ENABLED) => Some(true),
                        Some(&TCP_DATA_SPLIT_DISABLED) => Some(false),
                        _ => None,
                    }
                }
                ETHTOOL_A_RINGS_HDS_THRESH => p.hds_thresh = u32_of(&v),
                ETHTOOL_A_RINGS_HDS_THRESH_MAX => p.hds_thresh_max = u32_of(&v),
                ETHTOOL_A_RINGS_RX_BUF_LEN => p.rx_buf_len = u32_of(&v),
                _ => {}
            }
        }
    }
    Ok(p)
}

/// `ethtool -G IFNAME tcp-data-split on|off`.
pub fn set_tcp_data_split(ifname: &str, on: bool) -> io::Result<()> {
    let v = if on {
        TCP_DATA_SPLIT_ENABLED
    } else {
        TCP_DATA_SPLIT_DISABLED
    };
    rings(
        ifname,
        ETHTOOL_MSG_RINGS_SET,
        vec![Attr::U8(ETHTOOL_A_RINGS_TCP_DATA_SPLIT, v)],
    )
    .map(drop)
}

/// `ethtool -G IFNAME hds-thresh N`.
pub fn set_hds_thresh(ifname: &str, bytes: u32) -> io::Result<()> {
    rings(
        ifname,
        ETHTOOL_MSG_RINGS_SET,
        vec![Attr::U32(ETHTOOL_A_RINGS_HDS_THRESH, bytes)],
    )
    .map(drop)
}
