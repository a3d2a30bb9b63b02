//! Safe io_uring zero-copy receive (ZCRX) on top of rustix.
//!
//! This crate is being built; see the workspace README for its status.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod error;
pub mod ring;
pub(crate) mod sys;

pub use error::{Error, Result, Unsupported};
pub mod area;
pub mod caps;
pub use area::{Area, PageBacking};
pub mod buf;
pub mod recv;
pub mod refill;
pub mod region;
pub mod zcrx;

pub use buf::{Buf, SharedBuf};
pub use recv::{ConnId, Event, Receiver};
pub use region::{RegionLayout, StatsPlacement};
pub use ring::{
    Completion, Completions, Cqe32, CqeMixed, CqeMode, Ring, RingBuilder, SqeSlot, SubmissionQueue,
};
pub use zcrx::{EventConfig, RawParts, StatsBlock, Target, Zcrx, ZcrxBuilder};
