//! Names of the original proposal (the "notification" patch set), kept as
//! deprecated aliases where Linux merged the same value and layout.
//!
//! The proposal (liburing, April 2026) became the kernel's zcrx *events* in
//! Linux 7.2. Only the items whose value and layout are unchanged are aliased
//! here; see the [crate documentation](crate#the-proposals-names) for the full
//! mapping and for the items that changed meaning and therefore have no alias:
//!
//! - `ZCRX_NOTIF_NO_BUFFERS` / `ZCRX_NOTIF_COPY` were mask bits used for the
//!   descriptor's mask, the arm argument *and* the completion's `res`; Linux
//!   uses indices ([`ZCRX_EVENT_ALLOC_FAIL`](crate::zcrx::ZCRX_EVENT_ALLOC_FAIL),
//!   [`ZCRX_EVENT_COPY`](crate::zcrx::ZCRX_EVENT_COPY)) for `res` and arming,
//!   and `1 << index` ([`ZcrxEventMask`](crate::zcrx::ZcrxEventMask)) only in
//!   the descriptor. An alias would compare wrongly against `res`.
//! - `ZCRX_CTRL_ARM_NOTIFICATION` / `struct zcrx_ctrl_arm_notif`: same op
//!   number, but the argument is one event index, not a mask.
//! - `IO_URING_QUERY_ZCRX_NOTIF` / `struct io_uring_query_zcrx_notif`: same op
//!   number, but the reply is 48 bytes, not 96.
//! - `io_uring_zcrx_ifq_reg::notif_desc` is the field
//!   [`event_desc`](crate::zcrx::io_uring_zcrx_ifq_reg::event_desc).

#![allow(deprecated)]

use crate::zcrx;

/// The proposal's name of [`ZCRX_FEATURE_EVENT`](zcrx::ZCRX_FEATURE_EVENT).
#[deprecated(since = "0.1.0", note = "Linux 7.2 merged this as ZCRX_FEATURE_EVENT")]
pub const ZCRX_FEATURE_NOTIFICATION: u32 = zcrx::ZCRX_FEATURE_EVENT;

/// The proposal's name of
/// [`ZCRX_EVENT_DESC_FLAG_STATS`](zcrx::ZCRX_EVENT_DESC_FLAG_STATS).
#[deprecated(
    since = "0.1.0",
    note = "Linux 7.2 merged this as ZCRX_EVENT_DESC_FLAG_STATS"
)]
pub const ZCRX_NOTIF_DESC_FLAG_STATS: u32 = zcrx::ZCRX_EVENT_DESC_FLAG_STATS;

/// The proposal's name of [`zcrx_stats`](zcrx::zcrx_stats) (same layout).
#[deprecated(since = "0.1.0", note = "Linux 7.2 merged this as struct zcrx_stats")]
#[allow(non_camel_case_types)]
pub type io_uring_zcrx_notif_stats = zcrx::zcrx_stats;

/// The proposal's name of [`zcrx_event_desc`](zcrx::zcrx_event_desc) (same
/// layout and field names).
#[deprecated(
    since = "0.1.0",
    note = "Linux 7.2 merged this as struct zcrx_event_desc"
)]
#[allow(non_camel_case_types)]
pub type zcrx_notification_desc = zcrx::zcrx_event_desc;
