//! Shared code of the ZCRX example programs (`zcrx-recv`, `zcrx-send`, `zcrx-info`).
//!
//! This crate is being built; see the workspace README for its status.
