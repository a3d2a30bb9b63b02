//! Byte-exact raw ABI of Linux io_uring zero-copy receive (ZCRX).
//!
//! This crate mirrors, as plain `#[repr(C)]` structs and typed integer
//! constants:
//!
//! - every item of `linux/io_uring/zcrx.h` ([`zcrx`]) and
//!   `linux/io_uring/query.h` ([`query`]) of the newest kernel (Linux 7.3);
//! - the part of `linux/io_uring.h` that a ZCRX user and a minimal ring need
//!   ([`io_uring`]).
//!
//! It is `#![no_std]`, allocates nothing and has no required dependency but
//! `bitflags`. Every item is also re-exported at the crate root under its
//! header name.
//!
//! # Guarantees
//!
//! - **Byte-exact.** Field names and integer types are the header's; reserved
//!   fields are public. The size, alignment and offset of every field are
//!   asserted at compile time against numbers written from the header
//!   (`core::mem::offset_of!`, stable since Rust 1.77 and within our MSRV, which
//!   replaces the `memoffset` crate the design note listed), and a generated
//!   test (`tests/layout_generated.rs`, written by `cargo xtask regen-abi` from
//!   the real headers) checks them again. `cargo xtask check-abi` compares the
//!   crate with the C compiler's view of Linux 7.3, 7.2 and 6.19 headers.
//! - **Versioned.** Every struct, field and constant records the Linux
//!   release that introduced it, in its docs ("*Since Linux 7.2*") and in the
//!   [`abi`] tables that `check-abi` reads. A field such as
//!   [`io_uring_zcrx_ifq_reg::event_desc`](zcrx::io_uring_zcrx_ifq_reg::event_desc)
//!   is reserved (and must be zero) on kernels older than its version.
//! - **Forward compatible.** Kernel enums are integer constants, not Rust
//!   enums, because newer kernels send values this crate does not know. Flag
//!   sets also have `bitflags` types ([`SetupFlags`], [`ZcrxRegFlags`],
//!   [`ZcrxEventMask`] …) that keep unknown bits (`from_bits_retain`).
//! - **Plain data.** Every struct is `Copy`, `Default` (all zero), `Debug`,
//!   `Eq` and `Hash`; with the default `zerocopy` feature it also derives
//!   `FromBytes`, `IntoBytes`, `KnownLayout` and `Immutable`.
//!
//! C unions are flattened: a union becomes one field named after one of its
//! members, with the same size and alignment; the other members are listed in
//! the [`abi`] tables under their header names and, where ZCRX needs them,
//! have accessors ([`io_uring_sqe::set_zcrx_ifq_idx`],
//! [`zcrx_ctrl::zc_export`](zcrx::zcrx_ctrl::zc_export)). This keeps every
//! struct free of Rust unions, hence `IntoBytes` and usable without `unsafe`.
//!
//! # Sizes the kernel decides
//!
//! The refill ring's layout is not part of the ABI: Linux 7.3 moved the tail
//! to its own cache line (header 128 bytes, entries at offset 128), where 7.2
//! had the entries at 64. Take the offsets from
//! [`io_uring_zcrx_ifq_reg::offsets`](zcrx::io_uring_zcrx_ifq_reg::offsets)
//! as written back by registration, and the header size needed before
//! registration (to place the stats block) from
//! [`io_uring_query_zcrx::rq_hdr_size`](query::io_uring_query_zcrx::rq_hdr_size).
//! This crate deliberately offers no constant for either.
//!
//! # The proposal's names
//!
//! The original proposal called events "notifications". Linux 7.2 merged it
//! renamed and slightly changed. Where the value and layout are unchanged, the
//! proposal's name is a deprecated alias in [`seed`]; where the meaning
//! changed there is no alias, because code written against the proposal
//! would compile and then misbehave.
//!
//! | proposal (v1 patch) | Linux 7.2 | alias in [`seed`] |
//! |---|---|---|
//! | `ZCRX_FEATURE_NOTIFICATION` | [`ZCRX_FEATURE_EVENT`] (`1 << 1`) | yes |
//! | `ZCRX_NOTIF_NO_BUFFERS`, `ZCRX_NOTIF_COPY` (mask bits) | [`ZCRX_EVENT_ALLOC_FAIL`], [`ZCRX_EVENT_COPY`] (indices 0, 1); masks are [`ZcrxEventMask`] | no: completion `res` and arming take the index |
//! | `ZCRX_NOTIF_DESC_FLAG_STATS` | [`ZCRX_EVENT_DESC_FLAG_STATS`] | yes |
//! | `struct io_uring_zcrx_notif_stats` | [`zcrx_stats`] | yes (type alias) |
//! | `struct zcrx_notification_desc` | [`zcrx_event_desc`] | yes (type alias) |
//! | `io_uring_zcrx_ifq_reg::notif_desc` | [`io_uring_zcrx_ifq_reg::event_desc`] | no (a field cannot be aliased) |
//! | `ZCRX_CTRL_ARM_NOTIFICATION` + `struct zcrx_ctrl_arm_notif { type_mask }` | [`ZCRX_CTRL_ARM_EVENT`] + [`zcrx_ctrl_arm_event`] `{ event_type }` | no: one index, not a mask |
//! | `IO_URING_QUERY_ZCRX_NOTIF` + 96-byte `io_uring_query_zcrx_notif` | [`IO_URING_QUERY_ZCRX_EVENT`] + 48-byte [`io_uring_query_zcrx_event`] | no: reply size differs |
//! | notification completion `res` = mask bit | event completion `res` = index | — |
//!
//! # Example
//!
//! ```
//! use zcrx_uapi::*;
//!
//! // A NODEV registration asking for copy events and stats.
//! let events = zcrx_event_desc {
//!     user_data: 0xfeed,
//!     type_mask: ZcrxEventMask::COPY.bits(),
//!     flags: ZCRX_EVENT_DESC_FLAG_STATS,
//!     stats_offset: 4096 - 16, // computed from the ZCRX and event queries
//!     ..Default::default()
//! };
//! let reg = io_uring_zcrx_ifq_reg {
//!     rq_entries: 64,
//!     flags: ZCRX_REG_NODEV,
//!     event_desc: &events as *const _ as u64,
//!     ..Default::default()
//! };
//! assert_eq!(core::mem::size_of_val(&reg), 96);
//!
//! // The area id of a completion's offset.
//! let off: u64 = (3 << IORING_ZCRX_AREA_SHIFT) | 0x2000;
//! assert_eq!(off >> IORING_ZCRX_AREA_SHIFT, 3);
//! assert_eq!(off & !IORING_ZCRX_AREA_MASK, 0x2000);
//! ```
#![no_std]
// docs.rs (`--cfg docsrs`): feature-gated items say which feature they need.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

pub mod abi;
pub mod io_uring;
pub mod query;
pub mod seed;
pub mod zcrx;

pub use io_uring::*;
pub use query::*;
pub use zcrx::*;

/// The README's example runs.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct Readme;
