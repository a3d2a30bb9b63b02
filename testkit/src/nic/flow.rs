//! TCP flows over a [`NicPair`]: a random byte stream sent from the peer's
//! namespace to a listener on the receiving interface, steered to one rx
//! queue, and SHA-256 digests of both ends to show it arrived byte-exact.

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::{NicError, NicPair, NsThread};

/// A reproducible random byte stream (xorshift64*, eight bytes a step), the
/// same for a seed on both ends.
#[derive(Debug, Clone)]
pub struct RandomStream {
    state: u64,
}

impl RandomStream {
    /// The stream of `seed`.
    pub fn new(seed: u64) -> Self {
        RandomStream { state: seed | 1 }
    }

    fn next_word(&mut self) -> [u8; 8] {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes()
    }

    /// Fills `out` with the next `out.len()` bytes. The stream advances in
    /// steps of eight bytes: only the last chunk of a stream may have a
    /// length that is not a multiple of 8.
    pub fn fill(&mut self, out: &mut [u8]) {
        let mut chunks = out.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_word());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let w = self.next_word();
            rest.copy_from_slice(&w[..rest.len()]);
        }
    }
}

/// A SHA-256 digest and a byte count of what a receiver saw.
#[derive(Debug, Clone, Default)]
pub struct StreamDigest {
    hasher: Sha256,
    bytes: u64,
}

impl StreamDigest {
    /// An empty digest.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next received bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.bytes += data.len() as u64;
    }

    /// Bytes added so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The digest of everything added.
    pub fn finish(self) -> [u8; 32] {
        self.hasher.finalize().into()
    }
}

/// A digest in hex.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a sender sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Bytes written.
    pub bytes: u64,
    /// SHA-256 of them.
    pub sha256: [u8; 32],
}

/// The default `SO_RCVBUF` of a flow's receiving socket: 64 KiB (the
/// kernel doubles it), a window of some 45 segments of 1448 bytes.
pub const DEFAULT_RCVBUF: usize = 64 * 1024;

/// A flow to open with [`NicPair::open_flow`].
#[derive(Debug, Clone, Copy)]
pub struct FlowSpec {
    /// The rx queue an ntuple rule steers the flow to; `None`: no rule (the
    /// device's hash decides).
    pub queue: Option<u32>,
    /// Bytes the sender sends before it closes.
    pub bytes: u64,
    /// The stream's seed.
    pub seed: u64,
    /// `SO_RCVBUF` of the receiving socket (set on the listener before the
    /// peer connects, which also fixes the window scale and turns receive
    /// buffer autotuning off): bounds the receive window, hence the buffers
    /// TCP can hold at once. Default [`DEFAULT_RCVBUF`]; `None`: autotuning.
    ///
    /// In NIC mode a window larger than the area can stall the flow for
    /// good: segments held out of order keep their buffers, and the missing
    /// segment is dropped on every retransmission for want of one (seen
    /// with 64 and 128 buffers and autotuned windows; see zcrx-ring's area
    /// docs, "Sizing"). The default keeps the window near 45 one-buffer
    /// segments; a test with a smaller area, or several flows on one area,
    /// must bound it further.
    pub rcvbuf: Option<usize>,
}

impl FlowSpec {
    /// `bytes` of stream `seed`, steered to `queue`, default buffers.
    pub fn new(queue: u32, bytes: u64, seed: u64) -> Self {
        FlowSpec {
            queue: Some(queue),
            bytes,
            seed,
            rcvbuf: Some(DEFAULT_RCVBUF),
        }
    }

    /// Leaves the receiving socket's buffer to the kernel's autotuning (a
    /// flow whose buffers are not area buffers: one on a queue without
    /// ZCRX, copied into the area only when read).
    pub fn autotuned(mut self) -> Self {
        self.rcvbuf = None;
        self
    }

    /// Bounds the receiving socket's buffer (see [`FlowSpec::rcvbuf`]).
    pub fn rcvbuf(mut self, bytes: usize) -> Self {
        self.rcvbuf = Some(bytes);
        self
    }
}

/// An accepted connection whose peer is sending from the other namespace.
#[derive(Debug)]
pub struct Flow {
    /// The receiving socket (in the calling thread's namespace).
    pub server: TcpStream,
    /// Its local address (the port the steering rule names).
    pub local: SocketAddr,
    sender: Option<NsThread<io::Result<Sent>>>,
}

impl Flow {
    /// Waits for the sender: what it sent, or why it failed.
    ///
    /// # Panics
    ///
    /// If called twice, or if the sender thread panicked.
    pub fn join_sender(&mut self) -> io::Result<Sent> {
        let sender = self.sender.take().expect("the sender was already joined");
        sender
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    }

    /// Closes the receiving socket (unread data makes it reset the
    /// connection), then waits for the sender: its result, which may be an
    /// error (`ECONNRESET`, `EPIPE`) if it was still sending.
    ///
    /// # Panics
    ///
    /// If the sender was already joined, or its thread panicked.
    pub fn close(mut self) -> io::Result<Sent> {
        let sender = self.sender.take().expect("the sender was already joined");
        drop(self.server);
        sender
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    }
}

/// How long a flow's connection may take to arrive.
const ACCEPT_LIMIT: Duration = Duration::from_secs(30);

/// Sets `SO_RCVBUF` on a listening socket before anything connects (see
/// [`FlowSpec::rcvbuf`]).
///
/// # Errors
///
/// The `setsockopt` refusal; `InvalidInput` above `i32::MAX`.
pub fn set_rcvbuf(listener: &impl AsRawFd, bytes: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(bytes).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: setsockopt on a descriptor `listener` owns, with a pointer to
    // a live c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Writes `bytes` of stream `seed` to `to`, then shuts the connection down.
fn send_stream(to: SocketAddr, bytes: u64, seed: u64) -> io::Result<Sent> {
    let mut s = TcpStream::connect(to)?;
    let mut stream = RandomStream::new(seed);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut sent = 0u64;
    while sent < bytes {
        let n = (bytes - sent).min(buf.len() as u64) as usize;
        stream.fill(&mut buf[..n]);
        hasher.update(&buf[..n]);
        s.write_all(&buf[..n])?;
        sent += n as u64;
    }
    s.shutdown(Shutdown::Write)?;
    Ok(Sent {
        bytes: sent,
        sha256: hasher.finalize().into(),
    })
}

impl NicPair {
    /// Opens a flow: listens on [`addr`](Self::addr) (a free port), steers
    /// that port to `spec.queue`, and has a thread in the peer's namespace
    /// connect and send `spec.bytes` of the random stream `spec.seed`.
    /// Returns once the connection is accepted.
    ///
    /// # Errors
    ///
    /// A failed step (listening, the steering rule, the peer's connect), or
    /// no connection within 30 s.
    pub fn open_flow(&mut self, spec: FlowSpec) -> Result<Flow, NicError> {
        let ifname = self.ifname.clone();
        let step = |what: &str| NicError::setup(format!("{ifname}: flow: {what}"));
        let listener = TcpListener::bind((self.addr, 0)).map_err(step("listening"))?;
        if let Some(bytes) = spec.rcvbuf {
            set_rcvbuf(&listener, bytes).map_err(step("SO_RCVBUF"))?;
        }
        let local = listener.local_addr().map_err(step("local address"))?;
        if let Some(queue) = spec.queue {
            self.steer_tcp4(local.port(), queue)?;
        }
        let (bytes, seed) = (spec.bytes, spec.seed);
        let sender = self.spawn_sender(move || send_stream(local, bytes, seed))?;
        listener
            .set_nonblocking(true)
            .map_err(step("non-blocking listener"))?;
        let deadline = Instant::now() + ACCEPT_LIMIT;
        let server = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => {
                    let why = if e.kind() == io::ErrorKind::WouldBlock {
                        // The sender's own error says why it never came.
                        let sent = sender
                            .join()
                            .unwrap_or_else(|p| std::panic::resume_unwind(p));
                        let detail = match sent {
                            Err(e) => format!("the sender failed: {e}"),
                            Ok(s) => format!("the sender sent {} bytes", s.bytes),
                        };
                        io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("no connection within {ACCEPT_LIMIT:?}: {detail}"),
                        )
                    } else {
                        e
                    };
                    return Err(step("accepting")(why));
                }
            }
        };
        server
            .set_nonblocking(false)
            .map_err(step("blocking socket"))?;
        Ok(Flow {
            server,
            local,
            sender: Some(sender),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_reproducible_in_any_chunking() {
        let mut whole = vec![0u8; 100];
        RandomStream::new(7).fill(&mut whole);
        let mut parts = vec![0u8; 100];
        let mut s = RandomStream::new(7);
        let (a, b) = parts.split_at_mut(48);
        s.fill(a);
        s.fill(b);
        assert_eq!(whole, parts);
        let mut other = vec![0u8; 100];
        RandomStream::new(8).fill(&mut other);
        assert_ne!(whole, other);
    }

    #[test]
    fn digests_count_and_hash() {
        let mut d = StreamDigest::new();
        d.update(b"ab");
        d.update(b"c");
        assert_eq!(d.bytes(), 3);
        assert_eq!(
            hex(&d.finish()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
