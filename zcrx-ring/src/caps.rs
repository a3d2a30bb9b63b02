//! What the running kernel supports, as `IORING_REGISTER_QUERY` answers.
//!
//! One call ([`Capabilities::query`]) asks every query op this crate knows in
//! a single chain; it needs no ring. Each answer is either the typed reply or
//! an [`Unsupported`] that names what the kernel lacks and the first Linux
//! release that has it.
//!
//! ```no_run
//! use zcrx_ring::caps::Capabilities;
//!
//! let caps = Capabilities::query();
//! match caps.zcrx() {
//!     Ok(zcrx) => println!("NODEV: {}", zcrx.supports_nodev()),
//!     Err(missing) => println!("{missing}"), // "kernel lacks IO_URING_QUERY_ZCRX (needs Linux >= 6.19)"
//! }
//! ```

use core::mem::size_of;
use core::ptr;

use rustix::fd::BorrowedFd;
use rustix::io::Errno;
use zcrx_uapi::abi::KernelVersion;
use zcrx_uapi::{
    IO_URING_QUERY_OPCODES, IO_URING_QUERY_SCQ, IO_URING_QUERY_ZCRX, IO_URING_QUERY_ZCRX_EVENT,
    ZCRX_CTRL_ADD_AREA, ZCRX_CTRL_ARM_EVENT, ZCRX_CTRL_EXPORT, ZCRX_CTRL_FLUSH_RQ, ZcrxAreaFlags,
    ZcrxEventMask, ZcrxFeatures, ZcrxRegFlags, io_uring_query_hdr, io_uring_query_opcode,
    io_uring_query_scq, io_uring_query_zcrx, io_uring_query_zcrx_event,
};

use crate::error::{Error, Result, Unsupported};
use crate::sys;

/// The largest refill-ring header alignment or size this crate accepts from
/// the kernel (one page); anything larger is treated as a kernel bug.
const MAX_SANE_HDR: u32 = 4096;

/// Why a query op has no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryError {
    /// The kernel does not know the op (or `IORING_REGISTER_QUERY` at all).
    Unsupported(Unsupported),
    /// The query went through a `SINGLE_ISSUER` ring from a thread other
    /// than its issuer (`EEXIST`).
    WrongThread,
    /// The kernel refused the query for another reason.
    Failed(Errno),
}

impl QueryError {
    /// Whether the query was refused because of the calling thread.
    pub const fn is_wrong_thread(&self) -> bool {
        matches!(self, QueryError::WrongThread)
    }
}

impl From<QueryError> for Error {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Unsupported(u) => Error::Unsupported(u),
            QueryError::WrongThread => Error::WrongThread {
                op: "IORING_REGISTER_QUERY",
            },
            QueryError::Failed(errno) => Error::kernel("IORING_REGISTER_QUERY", errno),
        }
    }
}

impl core::fmt::Display for QueryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            QueryError::Unsupported(u) => u.fmt(f),
            QueryError::WrongThread => f.write_str(
                "IORING_REGISTER_QUERY refused from this thread (EEXIST): not the SINGLE_ISSUER \
                 ring's issuer thread",
            ),
            QueryError::Failed(errno) => write!(f, "IORING_REGISTER_QUERY failed: {errno}"),
        }
    }
}

/// Answer of `IO_URING_QUERY_OPCODES` (Linux 6.18).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpcodeCaps {
    /// Number of `IORING_OP_*` opcodes the kernel knows.
    pub nr_request_opcodes: u32,
    /// Number of `IORING_REGISTER_*` opcodes the kernel knows.
    pub nr_register_opcodes: u32,
    /// Supported `IORING_FEAT_*` flags.
    pub feature_flags: u64,
    /// Supported `IORING_SETUP_*` flags.
    pub ring_setup_flags: u64,
    /// Supported `IORING_ENTER_*` flags.
    pub enter_flags: u64,
    /// Supported `IOSQE_*` flags.
    pub sqe_flags: u64,
    /// Number of query ops the kernel knows.
    pub nr_query_opcodes: u32,
}

impl OpcodeCaps {
    /// Whether the kernel knows the submission opcode `op`.
    pub const fn has_opcode(&self, op: u8) -> bool {
        (op as u32) < self.nr_request_opcodes
    }

    /// Whether the kernel knows the register opcode `op`.
    pub const fn has_register_op(&self, op: u32) -> bool {
        op < self.nr_register_opcodes
    }

    /// Whether every bit of `flags` is a known `IORING_SETUP_*` flag.
    pub const fn supports_setup_flags(&self, flags: u32) -> bool {
        (flags as u64) & !self.ring_setup_flags == 0
    }
}

/// Answer of `IO_URING_QUERY_ZCRX` (Linux 6.19).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZcrxCaps {
    /// Supported registration flags.
    pub register_flags: ZcrxRegFlags,
    /// Supported area flags.
    pub area_flags: ZcrxAreaFlags,
    /// Number of `ZCRX_CTRL_*` operations.
    pub nr_ctrl_opcodes: u32,
    /// Supported features (always empty on 6.19, where the field is reserved).
    pub features: ZcrxFeatures,
    /// Size of the refill ring header (8 on 7.2, 128 on 7.3).
    pub rq_hdr_size: u32,
    /// Alignment of the refill ring entries.
    pub rq_hdr_alignment: u32,
}

impl ZcrxCaps {
    /// Whether `ZCRX_REG_NODEV` (Linux 7.1) is supported.
    pub const fn supports_nodev(&self) -> bool {
        self.register_flags.contains(ZcrxRegFlags::NODEV)
    }

    /// Whether `ZCRX_REG_IMPORT` (Linux 6.19) is supported.
    pub const fn supports_import(&self) -> bool {
        self.register_flags.contains(ZcrxRegFlags::IMPORT)
    }

    /// Whether dmabuf areas (Linux 6.16) are supported.
    pub const fn supports_dmabuf(&self) -> bool {
        self.area_flags.contains(ZcrxAreaFlags::DMABUF)
    }

    /// Whether events and stats (Linux 7.2) are supported.
    pub const fn supports_events(&self) -> bool {
        self.features.contains(ZcrxFeatures::EVENT)
    }

    /// Whether a buffer size other than the page size may be asked for (7.0).
    pub const fn supports_rx_buf_len(&self) -> bool {
        self.features.contains(ZcrxFeatures::RX_PAGE_SIZE)
    }

    /// Whether the control operation `op` (`ZCRX_CTRL_*`) is supported.
    pub const fn supports_ctrl(&self, op: u32) -> bool {
        op < self.nr_ctrl_opcodes
    }

    /// Where the refill entries start in the region: the header size rounded
    /// up to its alignment, both as the kernel reports them.
    ///
    /// Fails if the kernel reports an alignment that is not a power of two or
    /// a header larger than a page.
    pub fn refill_entries_offset(&self) -> Result<u32> {
        if !self.rq_hdr_alignment.is_power_of_two() || self.rq_hdr_alignment > MAX_SANE_HDR {
            return Err(Error::KernelValue {
                field: "io_uring_query_zcrx.rq_hdr_alignment",
                value: self.rq_hdr_alignment.into(),
                reason: "must be a power of two no larger than a page",
            });
        }
        if self.rq_hdr_size > MAX_SANE_HDR {
            return Err(Error::KernelValue {
                field: "io_uring_query_zcrx.rq_hdr_size",
                value: self.rq_hdr_size.into(),
                reason: "larger than a page",
            });
        }
        Ok(self.rq_hdr_size.next_multiple_of(self.rq_hdr_alignment))
    }

    /// Fails with [`Unsupported`] unless `ZCRX_REG_NODEV` is supported.
    pub fn require_nodev(&self) -> Result<(), Unsupported> {
        require(self.supports_nodev(), "ZCRX_REG_NODEV", 7, 1)
    }

    /// Fails with [`Unsupported`] unless `ZCRX_REG_IMPORT` is supported.
    pub fn require_import(&self) -> Result<(), Unsupported> {
        require(self.supports_import(), "ZCRX_REG_IMPORT", 6, 19)
    }

    /// Fails with [`Unsupported`] unless events are supported.
    pub fn require_events(&self) -> Result<(), Unsupported> {
        require(self.supports_events(), "ZCRX_FEATURE_EVENT", 7, 2)
    }

    /// Fails with [`Unsupported`] unless the control operation is supported.
    pub fn require_ctrl(&self, op: u32) -> Result<(), Unsupported> {
        let (name, major, minor) = match op {
            ZCRX_CTRL_FLUSH_RQ => ("ZCRX_CTRL_FLUSH_RQ", 6, 19),
            ZCRX_CTRL_EXPORT => ("ZCRX_CTRL_EXPORT", 6, 19),
            ZCRX_CTRL_ARM_EVENT => ("ZCRX_CTRL_ARM_EVENT", 7, 2),
            ZCRX_CTRL_ADD_AREA => ("ZCRX_CTRL_ADD_AREA", 7, 3),
            _ => ("a ZCRX_CTRL_* operation newer than this crate", 0, 0),
        };
        let needs = (major != 0).then(|| KernelVersion::new(major, minor));
        if self.supports_ctrl(op) {
            Ok(())
        } else {
            Err(Unsupported { what: name, needs })
        }
    }
}

/// Answer of `IO_URING_QUERY_ZCRX_EVENT` (Linux 7.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZcrxEventCaps {
    /// Supported event types.
    pub event_flags: ZcrxEventMask,
    /// Size of the stats block (`struct zcrx_stats`).
    pub stats_size: u32,
    /// Required alignment of the stats block's offset.
    pub stats_off_alignment: u32,
}

/// Answer of `IO_URING_QUERY_SCQ` (Linux 6.19).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScqCaps {
    /// Size of the SQ/CQ ring header.
    pub hdr_size: u64,
    /// Its alignment.
    pub hdr_alignment: u64,
}

/// Every answer of one `IORING_REGISTER_QUERY` chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    opcodes: core::result::Result<OpcodeCaps, QueryError>,
    zcrx: core::result::Result<ZcrxCaps, QueryError>,
    zcrx_event: core::result::Result<ZcrxEventCaps, QueryError>,
    scq: core::result::Result<ScqCaps, QueryError>,
}

fn require(ok: bool, what: &'static str, major: u16, minor: u16) -> Result<(), Unsupported> {
    if ok {
        Ok(())
    } else {
        Err(Unsupported {
            what,
            needs: Some(KernelVersion::new(major, minor)),
        })
    }
}

/// Maps a per-entry `result` to the answer's error: the kernel answers
/// `-EOPNOTSUPP` for a query op it does not know.
fn entry_error(errno: Errno, what: &'static str, major: u16, minor: u16) -> QueryError {
    if errno == Errno::OPNOTSUPP {
        QueryError::Unsupported(Unsupported {
            what,
            needs: Some(KernelVersion::new(major, minor)),
        })
    } else {
        QueryError::Failed(errno)
    }
}

impl Capabilities {
    /// Asks the running kernel (no ring needed).
    ///
    /// Never fails as a whole: each answer carries its own outcome. On a
    /// kernel without `IORING_REGISTER_QUERY` (before 6.18) every answer is
    /// [`QueryError::Unsupported`] naming `IORING_REGISTER_QUERY`.
    pub fn query() -> Self {
        Self::query_with(None)
    }

    /// Like [`query`](Self::query), through a given ring's fd.
    pub fn query_ring(ring: BorrowedFd<'_>) -> Self {
        Self::query_with(Some(ring))
    }

    fn query_with(ring: Option<BorrowedFd<'_>>) -> Self {
        let mut opcodes = io_uring_query_opcode::default();
        let mut zcrx = io_uring_query_zcrx::default();
        let mut event = io_uring_query_zcrx_event::default();
        let mut scq = io_uring_query_scq::default();

        // Built back to front so each header can point at the next one.
        let mut h_scq = header(IO_URING_QUERY_SCQ, ptr::from_mut(&mut scq).cast(), 0);
        let mut h_event = header(
            IO_URING_QUERY_ZCRX_EVENT,
            ptr::from_mut(&mut event).cast(),
            ptr::from_mut(&mut h_scq) as u64,
        );
        let mut h_zcrx = header(
            IO_URING_QUERY_ZCRX,
            ptr::from_mut(&mut zcrx).cast(),
            ptr::from_mut(&mut h_event) as u64,
        );
        let mut h_opcodes = header(
            IO_URING_QUERY_OPCODES,
            ptr::from_mut(&mut opcodes).cast(),
            ptr::from_mut(&mut h_zcrx) as u64,
        );
        h_scq.size = size_of::<io_uring_query_scq>() as u32;
        h_event.size = size_of::<io_uring_query_zcrx_event>() as u32;
        h_zcrx.size = size_of::<io_uring_query_zcrx>() as u32;
        h_opcodes.size = size_of::<io_uring_query_opcode>() as u32;

        // SAFETY: every header points at a live reply buffer of `size` bytes
        // and at the next live header (or 0); all stay alive for the call.
        let call = unsafe { sys::query(ring, &mut h_opcodes) };
        if let Err(errno) = call {
            // Before 6.18 the register opcode is unknown (EINVAL), and fd -1
            // is not special (EBADF); without io_uring at all, ENOSYS.
            let e = if matches!(
                errno,
                Errno::INVAL | Errno::BADF | Errno::NOSYS | Errno::OPNOTSUPP
            ) {
                QueryError::Unsupported(Unsupported {
                    what: "IORING_REGISTER_QUERY",
                    needs: Some(KernelVersion::new(6, 18)),
                })
            } else if errno == Errno::EXIST && ring.is_some() {
                QueryError::WrongThread
            } else {
                QueryError::Failed(errno)
            };
            return Self {
                opcodes: Err(e),
                zcrx: Err(e),
                zcrx_event: Err(e),
                scq: Err(e),
            };
        }

        Self {
            opcodes: outcome(&h_opcodes, "IO_URING_QUERY_OPCODES", 6, 18).map(|()| OpcodeCaps {
                nr_request_opcodes: opcodes.nr_request_opcodes,
                nr_register_opcodes: opcodes.nr_register_opcodes,
                feature_flags: opcodes.feature_flags,
                ring_setup_flags: opcodes.ring_setup_flags,
                enter_flags: opcodes.enter_flags,
                sqe_flags: opcodes.sqe_flags,
                nr_query_opcodes: opcodes.nr_query_opcodes,
            }),
            zcrx: outcome(&h_zcrx, "IO_URING_QUERY_ZCRX", 6, 19).map(|()| ZcrxCaps {
                register_flags: ZcrxRegFlags::from_bits_retain(zcrx.register_flags as u32),
                area_flags: ZcrxAreaFlags::from_bits_retain(zcrx.area_flags as u32),
                nr_ctrl_opcodes: zcrx.nr_ctrl_opcodes,
                features: ZcrxFeatures::from_bits_retain(zcrx.features),
                rq_hdr_size: zcrx.rq_hdr_size,
                rq_hdr_alignment: zcrx.rq_hdr_alignment,
            }),
            zcrx_event: outcome(&h_event, "IO_URING_QUERY_ZCRX_EVENT", 7, 2).map(|()| {
                ZcrxEventCaps {
                    event_flags: ZcrxEventMask::from_bits_retain(event.event_flags),
                    stats_size: event.stats_size,
                    stats_off_alignment: event.stats_off_alignment,
                }
            }),
            scq: outcome(&h_scq, "IO_URING_QUERY_SCQ", 6, 19).map(|()| ScqCaps {
                hdr_size: scq.hdr_size,
                hdr_alignment: scq.hdr_alignment,
            }),
        }
    }

    /// The opcode answer, or what the kernel lacks.
    pub fn opcodes(&self) -> core::result::Result<&OpcodeCaps, QueryError> {
        self.opcodes.as_ref().map_err(|e| *e)
    }

    /// The ZCRX answer, or what the kernel lacks.
    pub fn zcrx(&self) -> core::result::Result<&ZcrxCaps, QueryError> {
        self.zcrx.as_ref().map_err(|e| *e)
    }

    /// The ZCRX event answer, or what the kernel lacks.
    pub fn zcrx_event(&self) -> core::result::Result<&ZcrxEventCaps, QueryError> {
        self.zcrx_event.as_ref().map_err(|e| *e)
    }

    /// The SQ/CQ layout answer, or what the kernel lacks.
    pub fn scq(&self) -> core::result::Result<&ScqCaps, QueryError> {
        self.scq.as_ref().map_err(|e| *e)
    }
}

fn header(op: u32, data: *mut u8, next: u64) -> io_uring_query_hdr {
    io_uring_query_hdr {
        next_entry: next,
        query_data: data as u64,
        query_op: op,
        ..Default::default()
    }
}

fn outcome(
    hdr: &io_uring_query_hdr,
    what: &'static str,
    major: u16,
    minor: u16,
) -> core::result::Result<(), QueryError> {
    match hdr.result {
        0 => Ok(()),
        r if r < 0 => Err(entry_error(
            Errno::from_raw_os_error(-r),
            what,
            major,
            minor,
        )),
        _ => Err(QueryError::Failed(Errno::INVAL)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_never_fails_as_a_whole() {
        let caps = Capabilities::query();
        std::eprintln!("{caps:#?}");
        // Whatever the kernel, every answer is typed.
        if let Err(QueryError::Unsupported(u)) = caps.zcrx() {
            assert!(u.needs.is_some());
        }
    }

    #[test]
    fn entries_offset_rounds_up_to_alignment() {
        let mut z = ZcrxCaps {
            register_flags: ZcrxRegFlags::NODEV,
            area_flags: ZcrxAreaFlags::empty(),
            nr_ctrl_opcodes: 4,
            features: ZcrxFeatures::EVENT,
            rq_hdr_size: 8,
            rq_hdr_alignment: 64,
        };
        assert_eq!(z.refill_entries_offset().unwrap(), 64);
        z.rq_hdr_size = 128;
        assert_eq!(z.refill_entries_offset().unwrap(), 128);
        z.rq_hdr_alignment = 48;
        assert!(matches!(
            z.refill_entries_offset(),
            Err(Error::KernelValue { .. })
        ));
        z.rq_hdr_alignment = 64;
        z.rq_hdr_size = 1 << 20;
        assert!(matches!(
            z.refill_entries_offset(),
            Err(Error::KernelValue { .. })
        ));
        assert!(z.require_ctrl(ZCRX_CTRL_ADD_AREA).is_ok());
        z.nr_ctrl_opcodes = 3;
        let e = z.require_ctrl(ZCRX_CTRL_ADD_AREA).unwrap_err();
        assert_eq!(e.what, "ZCRX_CTRL_ADD_AREA");
        assert_eq!(e.needs, Some(KernelVersion::new(7, 3)));
    }
}
