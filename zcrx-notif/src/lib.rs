//! Typed ZCRX notifications (the kernel's zcrx "events") and statistics.
//!
//! This crate is being built; see the workspace README for its status.
