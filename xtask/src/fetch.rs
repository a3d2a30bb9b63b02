//! `cargo xtask fetch`: verified Debian packages from the shell (the API of
//! [`crate::debian`] as a command), to warm the cache or to look at a tree.

use std::process::ExitCode;

use crate::debian::{self, FetchError};
use crate::pins;

/// Arguments of `cargo xtask fetch`.
#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// Packages to fetch, as NAME=VERSION (exact Debian versions).
    #[arg(value_name = "NAME=VERSION")]
    packages: Vec<String>,
    /// Every package of every pin (uapi headers, kernel images, module
    /// build packages: about 150 MB).
    #[arg(long)]
    pins: bool,
    /// Refresh the signed package lists (when older than a day) and print
    /// their directory.
    #[arg(long)]
    lists: bool,
    /// Print the path of Debian's archive keyring (installing it as root
    /// when missing).
    #[arg(long)]
    keyring: bool,
}

/// Prints one line per package: `NAME VERSION SHA256 EXTRACTED-DIR DEB`.
pub fn fetch(args: &FetchArgs) -> Result<(), FetchError> {
    if args.keyring {
        println!("{}", debian::keyring()?.display());
    }
    if args.lists {
        println!("{}", debian::update_lists()?.display());
    }
    let mut wanted: Vec<(String, String)> = Vec::new();
    for spec in &args.packages {
        let Some((name, version)) = spec.split_once('=') else {
            return Err(FetchError::NotInArchive {
                package: spec.clone(),
                version: String::new(),
                detail: "give packages as NAME=VERSION".into(),
            });
        };
        wanted.push((name.to_owned(), version.to_owned()));
    }
    if args.pins {
        for deb in pins::PINS.iter().flat_map(pins::KernelPin::debs) {
            wanted.push((deb.name.to_owned(), deb.version.to_owned()));
        }
    }
    for (name, version) in wanted {
        let f = debian::package(&name, &version)?;
        println!(
            "{} {} {} {} {}",
            f.package,
            f.version,
            f.sha256,
            f.dir.display(),
            f.deb.display()
        );
    }
    Ok(())
}

/// `cargo xtask fetch` as a command: exit 2 on any failure.
pub fn run(args: &FetchArgs) -> ExitCode {
    match fetch(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fetch: error: {e}");
            ExitCode::from(FetchError::EXIT_CODE)
        }
    }
}
