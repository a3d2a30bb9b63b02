//! Pinned header trees: Debian's `linux-libc-dev` at the versions of
//! [`crate::pins`], fetched (and cached in `target/zcrx-cache`) by
//! [`crate::debian`].

use std::path::PathBuf;

use super::AbiError;
use crate::{debian, pins};

/// An extracted pinned header package.
#[derive(Clone, Debug)]
pub struct PinnedHeaders {
    /// Its `usr/include`.
    pub include: PathBuf,
    /// What it is, for messages: `linux-libc-dev 7.3.4-1~bpo13+1`.
    pub label: String,
}

/// The selectors `--all-pinned` checks: every pinned series, newest first.
pub fn pinned_selectors() -> Vec<&'static str> {
    pins::PINS.iter().map(|p| p.series).collect()
}

/// Locates the pinned headers for `sel` (a series such as `7.2`, or any
/// selector [`pins::pin`] accepts; `None` for the default, 7.3), fetching
/// them if they are not cached yet.
pub fn pinned_headers(sel: Option<&str>) -> Result<PinnedHeaders, AbiError> {
    let pin = match sel {
        None => pins::default_pin(),
        Some(s) => pins::pin(s).map_err(|_| AbiError::UnknownKernel {
            asked: s.to_string(),
            pinned: pinned_selectors().join(", "),
        })?,
    };
    let fetched = debian::uapi_headers(pin).map_err(|e| AbiError::Fetch(e.to_string()))?;
    Ok(PinnedHeaders {
        include: fetched.include_dir(),
        label: format!("{} {}", fetched.package, fetched.version),
    })
}
