//! Shared code of the ZCRX example programs.
//!
//! | program | what it does |
//! |---|---|
//! | `zcrx-recv` | a TCP receiver over ZCRX: NODEV or a NIC queue, several threads and connections, `--verify`, `--sha256`, `--notify` |
//! | `zcrx-send` | sends [`pattern`] bytes (or a file) over one or more TCP connections |
//! | `zcrx-info` | what the running kernel supports for ZCRX, the release each item needs, whether this process may register, and (`--interfaces`) which interfaces and rx queues can take ZCRX |
//! | `zcrx-demo` | runs `zcrx-recv --notify --verify --sha256` against `zcrx-send` in NODEV mode on loopback, then in NIC mode over the (simulated) NIC with the sender in another network namespace, and checks the outcome (what `cargo xtask demo` runs) |
//!
//! The library holds what the programs share: the test [`pattern`] (defined
//! once, here), the command-line helpers of [`cli`], the capability report
//! of [`info`] and the interface probe of [`interfaces`], [`locate`] to
//! find the programs next to each other, and [`child`] to run them.

pub mod child;
pub mod cli;
pub mod info;
pub mod interfaces;
pub mod locate;
pub mod pattern;
