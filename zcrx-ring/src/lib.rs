//! Safe io_uring zero-copy receive (ZCRX) on top of rustix.
//!
//! This crate is being built; see the workspace README for its status.
