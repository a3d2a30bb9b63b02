//! Typed ZCRX notifications (the Linux kernel's zcrx *events*) and the
//! shared-memory copy statistics, on top of `zcrx-ring`.
//!
//! A zero-copy receive instance can tell userspace when something goes
//! wrong with zero copy: the kernel ran out of buffers (**no-buffers**), or
//! it had to copy payload instead of receiving it in place
//! (**copy-fallback**). Each is a completion on the ring, posted once and
//! then silent until re-armed. With stats on, the kernel also counts the
//! copies in a small block of the refill region.
//!
//! | step | this crate |
//! |---|---|
//! | does the kernel have them? | [`Support::query`], [`Fallback`] |
//! | which kinds, which `user_data`, stats or not | [`NotifyConfig`], [`ZcrxBuilderExt::notifications`] |
//! | which completions are notifications | [`Notifier::classify`], [`Notifier::route`], [`Notifier::route_event`] → [`Notification`] |
//! | re-arm | [`Notifier::arm`], [`Notifier::arm_mask`], [`RearmPolicy`], [`Notifier::service`] |
//! | stats | [`StatsSnapshot`], [`StatsMeter`] |
//!
//! ```no_run
//! use zcrx_notif::{
//!     Delivery, Fallback, NotificationKind, NotificationMask, Notifier, NotifyConfig,
//!     RearmPolicy, StatsSnapshot, Support, ZcrxBuilderExt,
//! };
//! use zcrx_ring::{Area, Receiver, Recv, Ring, Zcrx};
//! # fn demo(sock: std::net::TcpStream) -> Result<(), zcrx_notif::Error> {
//! const NOTIF: u64 = 0xfeed; // a user_data no submission (and no receive loop tag) uses
//!
//! let support = Support::query();
//! let cfg = NotifyConfig::new(NOTIF)
//!     .kinds(NotificationMask::COPY_FALLBACK | NotificationMask::NO_BUFFERS)
//!     .stats(true)
//!     .rearm(RearmPolicy::Immediately)
//!     .fallback(Fallback::ReceiveWithout); // older kernels: receive anyway
//! let mut ring: Ring = Ring::new(64)?;
//! let zcrx = Zcrx::builder_nodev()
//!     .area(Area::anonymous(256 * 4096)?)
//!     .notifications(&cfg, &support)?
//!     .register(&ring)
//!     .map_err(|e| cfg.register_error(&support, e))?;
//! let mut notifier = Notifier::new(&cfg, &support);
//! if let Some(why) = notifier.unavailable() {
//!     eprintln!("receiving without notifications: {why}");
//! }
//!
//! let mut rx = Receiver::new(&mut ring);
//! rx.add(&zcrx, &sock, None)?;
//! loop {
//!     match notifier.route_event(rx.recv()?) {
//!         Delivery::Notification(n) => match n.kind {
//!             NotificationKind::CopyFallback => eprintln!("the kernel is copying"),
//!             NotificationKind::NoBuffers => eprintln!("out of buffers: return them faster"),
//!             other => eprintln!("{other}"),
//!         },
//!         Delivery::Other(Recv::Data { buf, .. }) => { /* use the data */ drop(buf) }
//!         Delivery::Other(Recv::Eof { .. }) => break,
//!         Delivery::Other(other) => eprintln!("{other:?}"),
//!     }
//!     notifier.service(&zcrx)?; // re-arms per the policy
//! }
//! if let Some(s) = StatsSnapshot::read(&zcrx) {
//!     eprintln!("{} bytes copied", s.copy_bytes);
//! }
//! # Ok(()) }
//! ```
//!
//! # Names: the proposal, the kernel, this crate
//!
//! The feature was proposed as "notifications" (liburing patch, April 2026)
//! and merged in Linux 7.2 as zcrx "events", renamed and slightly changed.
//! This crate speaks the proposal's language over the kernel's ABI:
//!
//! | this crate | Linux 7.2+ | proposal (v1 patch) |
//! |---|---|---|
//! | notifications | events (`ZCRX_FEATURE_EVENT`, `1 << 1`) | notifications (`ZCRX_FEATURE_NOTIFICATION`, same value) |
//! | [`NotificationKind::NoBuffers`] | `ZCRX_EVENT_ALLOC_FAIL` = 0 (an index) | `ZCRX_NOTIF_NO_BUFFERS` = `1 << 0` (a mask bit) |
//! | [`NotificationKind::CopyFallback`] | `ZCRX_EVENT_COPY` = 1 | `ZCRX_NOTIF_COPY` = `1 << 1` |
//! | [`NotificationKind::Unknown`] | a newer kernel's `ZCRX_EVENT_*` | — |
//! | [`NotificationMask`] (`1 << index`) | `zcrx_event_desc::type_mask`, query `event_flags` | `type_mask` (same bits) |
//! | [`NotifyConfig`] | `struct zcrx_event_desc` via `io_uring_zcrx_ifq_reg::event_desc` | `struct zcrx_notification_desc` via `notif_desc` (same layout) |
//! | [`NotifyConfig::stats`] | `ZCRX_EVENT_DESC_FLAG_STATS` + `stats_offset` | `ZCRX_NOTIF_DESC_FLAG_STATS` + `stats_offset` |
//! | [`StatsSnapshot`] | `struct zcrx_stats {copy_count, copy_bytes}` | `struct io_uring_zcrx_notif_stats` (same layout) |
//! | [`Support::query`] | `IO_URING_QUERY_ZCRX_EVENT` (3), 48-byte reply | `IO_URING_QUERY_ZCRX_NOTIF` (3), 96-byte reply |
//! | [`Notifier::arm`] | `ZCRX_CTRL_ARM_EVENT` (2) `{event_type}`: one index | `ZCRX_CTRL_ARM_NOTIFICATION` (2) `{type_mask}` |
//! | [`Notifier::arm_mask`] | one `ZCRX_CTRL_ARM_EVENT` per fired kind | one call with a mask |
//! | [`Notification::kind`] | completion `res` = index | completion `res` = mask bit |
//!
//! Where the proposal's value would be wrong against a 7.2 kernel (a mask
//! bit as `res` or as the arm argument), this crate's types make the
//! distinction: a kind is an index, a mask is bits, and the conversions are
//! [`NotificationKind::mask`] and [`NotificationMask::kinds`].
//!
//! # Kernels without notifications
//!
//! Linux 7.2 and later have them; 6.18 and 6.19 answer the event query with
//! `EOPNOTSUPP`, and older kernels lack the query interface.
//! [`Support::query`] reports [`Support::Missing`] naming
//! `IO_URING_QUERY_ZCRX_EVENT` and Linux 7.2; the [`Fallback`] chosen in the
//! configuration decides between refusing registration
//! ([`Fallback::Require`], the default) and receiving without notifications
//! ([`Fallback::ReceiveWithout`]: the builder is left unchanged, the
//! [`Notifier`] is inactive and says why, [`StatsSnapshot::read`] answers
//! `None`).
//!
//! # No-buffers needs a NIC
//!
//! The kernel posts `ZCRX_EVENT_ALLOC_FAIL` only on a network card's
//! page-pool path, when the refill ring is empty and the page pool asks for
//! a buffer. A `NODEV` instance never uses that path (it copies every byte,
//! so it fires copy-fallback instead). The NODEV tests cover decoding its
//! completion, enabling it alone (no copy-fallback then arrives), and the
//! kernel's refusal to arm it before it fired ([`Error::NotFired`]); the
//! NIC-mode tests (`tests/kernel_nic_notify.rs`, over the project's
//! simulated NIC or a real one) show it firing when the application holds
//! the buffers, silent until re-armed, firing again after [`Notifier::arm`],
//! and copy-fallback with exact stats for a flow that reaches the socket
//! through another rx queue.
//!
//! # Bad configuration
//!
//! Refused before any system call with [`Error::InvalidConfig`] naming the
//! field: kinds the kernel does not support or reserved mask bits
//! (`type_mask`); a stats offset that is misaligned, inside the refill
//! header or entries, or outside the region (`stats_offset`); reserved
//! descriptor bits (`flags`, `__resv2`, [`NotifyConfig::from_desc`]); a
//! `user_data` the receive loop would take for its own (`user_data`). The
//! kernel's own refusals map to typed errors as well: `ERANGE` and
//! `EINVAL` at registration ([`NotifyConfig::register_error`]), `EINVAL`
//! when arming ([`Error::NotFired`], [`Error::UnknownKind`]), `EOPNOTSUPP`
//! ([`Error::Unsupported`]).
//!
//! # `no_std`
//!
//! The crate uses neither `std` nor `alloc` (the clock of the re-arm policy
//! and the stats meter is `CLOCK_MONOTONIC` through rustix); whether
//! `zcrx-ring` needs `std` is its own feature.
//!
//! # Features
//!
//! `io-uring` (off by default): [`RawCompletion`] for the `io-uring`
//! crate's completion entries (module `io_uring`), for rings of
//! that crate; it turns on `zcrx-ring`'s feature of the same name, which
//! registers and receives on them. That crate needs `std`.
#![no_std]
// docs.rs (`--cfg docsrs`): feature-gated items say which feature they need.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod arm;
pub mod config;
pub mod deliver;
pub mod error;
#[cfg(feature = "io-uring")]
pub mod io_uring;
pub mod kind;
pub mod stats;
pub mod support;

pub use arm::{ArmEvent, RearmPolicy};
pub use config::{NotifyConfig, ZcrxBuilderExt};
pub use deliver::{Delivery, Notification, Notifier, RawCompletion};
pub use error::{Error, Result};
pub use kind::{Kinds, NotificationKind, NotificationMask};
pub use stats::{StatsDelta, StatsMeter, StatsRate, StatsSample, StatsSnapshot};
pub use support::{EventSupport, Fallback, Support};

use core::time::Duration;

/// `CLOCK_MONOTONIC` as a duration since an arbitrary origin.
pub(crate) fn monotonic_now() -> Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    // The monotonic clock is never negative; clamp rather than trust it.
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(ts.tv_nsec).unwrap_or(0).min(999_999_999);
    Duration::new(secs, nanos)
}
