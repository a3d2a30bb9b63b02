//! A raw `IORING_REGISTER_QUERY` probe with `zcrx-uapi`'s structs.

use std::fmt;
use std::mem::size_of;

use zcrx_uapi::{
    IO_URING_QUERY_OPCODES, IO_URING_QUERY_SCQ, IO_URING_QUERY_ZCRX, IO_URING_QUERY_ZCRX_EVENT,
    IORING_REGISTER_QUERY, io_uring_query_hdr, io_uring_query_opcode, io_uring_query_scq,
    io_uring_query_zcrx, io_uring_query_zcrx_event,
};

use crate::lacks;

/// The `IORING_REGISTER_QUERY` system call itself failed (kernels before
/// 6.18 answer `EINVAL`: they do not know the opcode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeError {
    /// The errno.
    pub errno: i32,
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (io_uring_register: {})",
            lacks("IORING_REGISTER_QUERY"),
            std::io::Error::from_raw_os_error(self.errno)
        )
    }
}

impl std::error::Error for ProbeError {}

/// One entry of a query chain, as the kernel answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawReply {
    /// The query op.
    pub op: u32,
    /// The entry's `result`: 0 or a negative errno (`-EOPNOTSUPP` for an op
    /// the kernel does not know).
    pub result: i32,
    /// The entry's `size` after the call.
    pub size: u32,
    /// The reply buffer.
    pub data: Vec<u8>,
}

/// Runs one `IORING_REGISTER_QUERY` (fd -1, no ring) on a chain of
/// `(op, reply size)` entries. `Err` if the system call itself failed.
pub fn query_chain(ops: &[(u32, usize)]) -> Result<Vec<RawReply>, ProbeError> {
    if ops.is_empty() {
        return Ok(Vec::new());
    }
    let mut bufs: Vec<Vec<u8>> = ops.iter().map(|&(_, n)| vec![0u8; n]).collect();
    let mut hdrs: Vec<io_uring_query_hdr> = ops
        .iter()
        .zip(bufs.iter_mut())
        .map(|(&(op, n), buf)| io_uring_query_hdr {
            query_data: buf.as_mut_ptr() as u64,
            query_op: op,
            size: u32::try_from(n).unwrap_or(u32::MAX),
            ..Default::default()
        })
        .collect();
    let base = hdrs.as_mut_ptr();
    for i in 0..hdrs.len() - 1 {
        // Addresses inside the vector, which is not resized from here on.
        hdrs[i].next_entry = base.wrapping_add(i + 1) as u64;
    }
    // SAFETY: every header's `query_data` points to a live buffer of `size`
    // bytes and every `next_entry` to a live header of the same vector (or
    // 0); all outlive the call. fd -1 is valid for this opcode.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            -1 as libc::c_long,
            IORING_REGISTER_QUERY as libc::c_long,
            hdrs.as_mut_ptr(),
            0 as libc::c_long,
        )
    };
    if ret < 0 {
        let errno = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL);
        return Err(ProbeError { errno });
    }
    Ok(hdrs
        .iter()
        .zip(bufs)
        .map(|(h, data)| RawReply {
            op: h.query_op,
            result: h.result,
            size: h.size,
            data,
        })
        .collect())
}

/// Plain-data reply structs that any byte pattern of their size is a valid
/// value of.
///
/// # Safety
///
/// Implement only for `#[repr(C)]` structs made of integers.
unsafe trait Pod: Copy + Default {}
// SAFETY: `#[repr(C)]` structs of integers only (zcrx-uapi).
unsafe impl Pod for io_uring_query_opcode {}
// SAFETY: as above.
unsafe impl Pod for io_uring_query_zcrx {}
// SAFETY: as above.
unsafe impl Pod for io_uring_query_zcrx_event {}
// SAFETY: as above.
unsafe impl Pod for io_uring_query_scq {}

fn decode<T: Pod>(data: &[u8]) -> T {
    let mut value = T::default();
    let n = data.len().min(size_of::<T>());
    // SAFETY: `T` is plain data (Pod), so any bytes are a valid value; `n`
    // bytes fit in both the source and the destination, which do not
    // overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(data.as_ptr(), (&raw mut value).cast::<u8>(), n);
    }
    value
}

/// A typed reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply<T> {
    /// The query op.
    pub op: u32,
    /// 0 or a negative errno.
    pub result: i32,
    /// Bytes the kernel filled in.
    pub size: u32,
    /// The reply (all zero unless `result` is 0).
    pub data: T,
}

impl<T> Reply<T> {
    /// Whether the kernel answered this op.
    pub fn is_ok(&self) -> bool {
        self.result == 0
    }

    /// Whether the kernel does not know this op (`-EOPNOTSUPP`).
    pub fn is_unsupported(&self) -> bool {
        self.result == -libc::EOPNOTSUPP
    }
}

/// The kernel's answers to the opcode, ZCRX, ZCRX event and SQ/CQ queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// `Err` if the kernel has no `IORING_REGISTER_QUERY` at all; the replies
    /// are then all zero.
    pub query: Result<(), ProbeError>,
    /// `IO_URING_QUERY_OPCODES`.
    pub opcodes: Reply<io_uring_query_opcode>,
    /// `IO_URING_QUERY_ZCRX`.
    pub zcrx: Reply<io_uring_query_zcrx>,
    /// `IO_URING_QUERY_ZCRX_EVENT`.
    pub zcrx_event: Reply<io_uring_query_zcrx_event>,
    /// `IO_URING_QUERY_SCQ`.
    pub scq: Reply<io_uring_query_scq>,
}

fn typed<T: Pod>(op: u32, raw: Option<&RawReply>) -> Reply<T> {
    match raw {
        Some(r) => Reply {
            op,
            result: r.result,
            size: r.size,
            data: if r.result == 0 {
                decode(&r.data)
            } else {
                T::default()
            },
        },
        None => Reply {
            op,
            result: -libc::ENOSYS,
            size: 0,
            data: T::default(),
        },
    }
}

/// Queries the running kernel (one system call, no ring).
pub fn probe() -> Probe {
    let ops = [
        (IO_URING_QUERY_OPCODES, size_of::<io_uring_query_opcode>()),
        (IO_URING_QUERY_ZCRX, size_of::<io_uring_query_zcrx>()),
        (
            IO_URING_QUERY_ZCRX_EVENT,
            size_of::<io_uring_query_zcrx_event>(),
        ),
        (IO_URING_QUERY_SCQ, size_of::<io_uring_query_scq>()),
    ];
    let (query, raw) = match query_chain(&ops) {
        Ok(raw) => (Ok(()), raw),
        Err(e) => (Err(e), Vec::new()),
    };
    Probe {
        query,
        opcodes: typed(IO_URING_QUERY_OPCODES, raw.first()),
        zcrx: typed(IO_URING_QUERY_ZCRX, raw.get(1)),
        zcrx_event: typed(IO_URING_QUERY_ZCRX_EVENT, raw.get(2)),
        scq: typed(IO_URING_QUERY_SCQ, raw.get(3)),
    }
}

fn answer<'a, T>(
    query: &Result<(), ProbeError>,
    r: &'a Reply<T>,
    name: &str,
) -> Result<&'a T, String> {
    if let Err(e) = query {
        return Err(e.to_string());
    }
    if r.is_ok() {
        Ok(&r.data)
    } else if r.is_unsupported() {
        Err(lacks(name))
    } else {
        Err(format!(
            "{name} failed: {}",
            std::io::Error::from_raw_os_error(-r.result)
        ))
    }
}

impl Probe {
    /// The opcode reply, or why there is none (a skip reason).
    pub fn opcodes(&self) -> Result<&io_uring_query_opcode, String> {
        answer(&self.query, &self.opcodes, "IO_URING_QUERY_OPCODES")
    }

    /// The ZCRX reply, or why there is none (a skip reason).
    pub fn zcrx(&self) -> Result<&io_uring_query_zcrx, String> {
        answer(&self.query, &self.zcrx, "IO_URING_QUERY_ZCRX")
    }

    /// The ZCRX event reply, or why there is none (a skip reason).
    pub fn zcrx_event(&self) -> Result<&io_uring_query_zcrx_event, String> {
        answer(&self.query, &self.zcrx_event, "IO_URING_QUERY_ZCRX_EVENT")
    }

    /// The SQ/CQ layout reply, or why there is none (a skip reason).
    pub fn scq(&self) -> Result<&io_uring_query_scq, String> {
        answer(&self.query, &self.scq, "IO_URING_QUERY_SCQ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_takes_a_prefix() {
        let bytes: Vec<u8> = (1..=16).collect();
        let scq: io_uring_query_scq = decode(&bytes);
        assert_eq!(scq.hdr_size, u64::from_le_bytes([1, 2, 3, 4, 5, 6, 7, 8]));
        let short: io_uring_query_scq = decode(&bytes[..8]);
        assert_eq!(short.hdr_alignment, 0);
    }

    #[test]
    fn probe_answers_cleanly_on_any_kernel() {
        let p = probe();
        match p.query {
            Err(e) => {
                assert_eq!(e.errno, libc::EINVAL, "{e}");
                assert!(p.zcrx().unwrap_err().contains("IORING_REGISTER_QUERY"));
            }
            Ok(()) => {
                let ops = p.opcodes().unwrap();
                assert!(ops.nr_query_opcodes >= 1);
                if let Err(reason) = p.zcrx() {
                    assert!(
                        reason.starts_with("kernel lacks IO_URING_QUERY_ZCRX"),
                        "{reason}"
                    );
                }
            }
        }
        assert!(query_chain(&[]).unwrap().is_empty());
    }
}
