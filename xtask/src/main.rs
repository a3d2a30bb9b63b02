//! `cargo xtask`: project automation for the zcrx workspace.
//!
//! Run `cargo xtask --help` for the list of commands.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

// Used by the commands being added (vm-test, check-abi).
#[allow(dead_code)]
mod debian;
#[allow(dead_code)]
mod pins;

/// Project automation for the zcrx workspace.
#[derive(Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {}
}
