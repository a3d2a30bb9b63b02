//! Pinned header trees (temporary stub while the Debian fetcher lands).

use std::path::PathBuf;

use super::AbiError;

/// An extracted pinned header package.
pub struct PinnedHeaders {
    /// Its `usr/include`.
    pub include: PathBuf,
    /// `linux-libc-dev <version>`.
    pub label: String,
}

/// The selectors `--all-pinned` checks.
pub fn pinned_selectors() -> Vec<&'static str> {
    vec!["7.3", "7.2", "6.19"]
}

/// Locates (fetching if needed) the pinned headers for `sel`.
pub fn pinned_headers(sel: Option<&str>) -> Result<PinnedHeaders, AbiError> {
    Err(AbiError::Fetch(format!("not yet available ({sel:?})")))
}
