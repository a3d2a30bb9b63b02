//! Criterion benchmarks of the zcrx hot paths with a C baseline.
//!
//! This crate is being built; see the workspace README for its status.
