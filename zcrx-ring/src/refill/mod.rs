//! The refill queue: a single-producer ring shared with the kernel, through
//! which userspace gives received buffers back.
//!
//! The protocol (the kernel side is `io_zcrx_ring_refill` / `zcrx_parse_rq`):
//!
//! - userspace writes entries at `rqes[tail & mask]` with plain stores, then
//!   publishes them with **one** store-release of `tail` per batch;
//! - the kernel load-acquires `tail`, consumes entries, and store-releases
//!   `head`;
//! - userspace load-acquires `head` **only** when its cached view of the free
//!   space runs out, so the shared cache line is touched once per batch, not
//!   once per buffer.
//!
//! The producer keeps its indices in `Cell`s so that buffer views can give
//! themselves back through a shared reference; it is therefore `!Sync`, which
//! is exactly the single-producer rule.
//!
//! The memory behind the ring is abstracted by a private trait, so that the
//! same producer code runs against the kernel's mapping, against plain memory
//! under Miri, and against a model kernel under loom.

//!
//! Files: `producer` (the single producer over abstract memory), `queue`
//! ([`RefillQueue`], the producer over raw pointers, for embedders) and
//! `returns` (an instance's return path: views given back, the backlog,
//! publishing and NODEV flushes).

pub(crate) mod producer;
mod queue;
pub(crate) mod returns;

#[cfg(all(test, loom))]
mod loom_model;

pub use queue::RefillQueue;
