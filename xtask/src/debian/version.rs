//! Debian versions: which belong to a kernel series, and which is newer
//! (dpkg's own ordering, from `dpkg --compare-versions`).

use std::process::Command;

/// Whether Debian version `a` is newer than `b` (false when dpkg cannot
/// tell, e.g. a malformed version).
pub fn newer(a: &str, b: &str) -> bool {
    Command::new("dpkg")
        .args(["--compare-versions", a, "gt", b])
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether the upstream part of a Debian version belongs to `series`
/// (`"7.3.4-1~bpo13+1"` is in `"7.3"`, `"7.30.1-1"` is not).
pub fn in_series(version: &str, series: &str) -> bool {
    let without_epoch = version.split_once(':').map_or(version, |(_, v)| v);
    let upstream = without_epoch
        .rsplit_once('-')
        .map_or(without_epoch, |(u, _)| u);
    upstream
        .strip_prefix(series)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '+', '~', '-']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_order() {
        assert!(newer("7.3.4-1", "7.3.4-1~bpo13+1"));
        assert!(newer("7.2.13-1", "7.2.9-1~bpo13+1"));
        assert!(!newer("6.19.13-1~bpo13+1", "6.19.13-1~bpo13+1"));
        assert!(newer("1:1.0", "2.0"));
        assert!(!newer("1.0~rc1-1", "1.0-1"));
    }

    #[test]
    fn series() {
        assert!(in_series("7.3.4-1~bpo13+1", "7.3"));
        assert!(in_series("6.19.13-1~bpo13+1", "6.19"));
        assert!(!in_series("7.30.1-1", "7.3"));
        assert!(!in_series("6.1.187-1", "6.19"));
        assert!(in_series("7.3.4+deb13", "7.3"));
        assert!(in_series("1:7.3.4-1", "7.3"));
    }
}
