//! Safe io_uring zero-copy receive (ZCRX) on top of rustix.
//!
//! The layers, bottom up:
//!
//! - [`ring`]: an io_uring ring (setup, mmap, SQE push, completion batches)
//!   with a typestate for 32-byte ([`Cqe32`]) and mixed-size ([`CqeMixed`])
//!   completions; defaults fit ZCRX (`SINGLE_ISSUER | DEFER_TASKRUN`).
//! - [`caps`]: what the kernel supports, from one `IORING_REGISTER_QUERY`.
//! - [`area`]: receive memory — anonymous, huge pages, caller-owned, dmabuf.
//! - [`region`]: the refill region, sized from the kernel's reported header
//!   size and alignment (7.3 moved the tail to its own cache line: entries at
//!   128 instead of 64), never from constants.
//! - [`zcrx`]: registration ([`ZcrxBuilder`], NIC or NODEV), the
//!   registered instance ([`Zcrx`]): validated write-back values, the view
//!   path, control operations, export/import, several areas, stats.
//! - [`buf`]: checked buffer views ([`Buf`], [`SharedBuf`]) that go back to
//!   the kernel exactly once.
//! - [`refill`]: the lock-free single-producer refill queue (one
//!   store-release per batch, the head read only when the cached space runs
//!   out) and each instance's return path (a fixed-size backlog, NODEV
//!   flushes).
//! - [`recv`]: the receive loop ([`Receiver`]) over multishot
//!   `IORING_OP_RECV_ZC`.
//! - `tokio` (feature `tokio`): the same loop awaited in a tokio runtime
//!   (`AsyncReceiver`).
//!
//! # Soundness
//!
//! Safe code cannot make a view the kernel did not hand out, or two views
//! of one buffer: views come only from completions a [`Receiver`] reaped
//! from its own ring, once; every other way in
//! ([`Zcrx::buf_from_completion`], [`Zcrx::from_raw_parts`]) is an
//! `unsafe fn` with its contract written out. An instance is bound to the
//! ring it was registered on, and a receiver refuses instances of other
//! rings. A receiver keeps its own duplicate of every socket's descriptor
//! until the socket's final event, so it never submits on a descriptor it
//! does not hold.
//!
//! The one raw system-call module (registrations rustix cannot express) is
//! private and audited; every `unsafe` block carries a `SAFETY` comment.
//! Errors are one typed [`Error`] that names the cause.
//!
//! # Example
//!
//! ```no_run
//! use zcrx_ring::{Area, Recv, Receiver, Ring, Zcrx};
//!
//! fn receive(sock: std::net::TcpStream) -> zcrx_ring::Result<u64> {
//!     let mut ring: Ring = Ring::new(64)?;
//!     let zcrx = Zcrx::builder_nodev()
//!         .area(Area::anonymous(1024 * 4096)?)
//!         .register(&ring)?;
//!     let mut rx = Receiver::new(&mut ring);
//!     rx.add(&zcrx, &sock, None)?;
//!     let mut total = 0;
//!     for event in &mut rx {
//!         match event? {
//!             Recv::Data { buf, .. } => total += buf.len() as u64,
//!             Recv::Eof { .. } => break,
//!             _ => {}
//!         }
//!     }
//!     Ok(total)
//! }
//! ```
//!
//! # Teardown and threads
//!
//! Dropping in any order is memory-safe: buffer views borrow their instance;
//! [`SharedBuf`]s keep their area mapped; the kernel's page pins keep the
//! pages it may still write alive until it releases the instance (see
//! [`area`](crate::area#teardown)). `SINGLE_ISSUER` rings accept submissions
//! and registrations only from the thread that created them.
//!
//! # Features
//!
//! `std` (default): conversion of [`Error`] into `std::io::Error` and
//! interface lookup by name. Without it the crate is `no_std` + `alloc`.
//!
//! `io-uring` (off by default; implies `std`): ZCRX on a ring of the
//! `io-uring` crate (tokio-rs/io-uring) that the caller keeps — registration
//! on its `IoUring`, a receive loop driven from its queues
//! (`io_uring::IoUringReceiver`), conversions of the kernel structs both
//! crates describe (module `io_uring`).
//!
//! `tokio` (off by default; implies `std`): the async receiver, module
//! `tokio`, driven by tokio's reactor (tokio with its `net` feature, and
//! `futures-core` for `Stream`).
#![cfg_attr(not(feature = "std"), no_std)]
// docs.rs (`--cfg docsrs`): feature-gated items say which feature they need.
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;

pub mod area;
pub mod buf;
pub mod caps;
pub mod error;
#[cfg(feature = "io-uring")]
pub mod io_uring;
pub(crate) mod mm;
pub mod recv;
pub mod refill;
pub mod region;
pub mod ring;
pub(crate) mod sys;
#[cfg(feature = "tokio")]
pub mod tokio;
pub mod zcrx;

pub use area::{Area, PageBacking};
pub use buf::{Buf, SharedBuf};
pub use error::{Error, Result, Unsupported};
pub use recv::{ConnId, Receiver, Recv};
pub use region::{RegionLayout, StatsPlacement};
pub use ring::{
    Completion, Completions, Cqe32, CqeMixed, CqeMode, Ring, RingBuilder, SqeSlot, SubmissionQueue,
};
pub use zcrx::{EventConfig, Imported, RawParts, StatsBlock, Target, Zcrx, ZcrxBuilder};

/// The workspace README's examples compile (one of them uses the
/// `io-uring` feature, which the workspace's own build turns on).
#[cfg(all(doctest, feature = "io-uring"))]
#[doc = include_str!("../../README.md")]
struct WorkspaceReadme;
