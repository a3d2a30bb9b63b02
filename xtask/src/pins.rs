//! The one place where the Debian package versions this project uses are pinned.
//!
//! Each [`KernelPin`] names, for one kernel series, the `linux-libc-dev`
//! version whose uapi headers `check-abi` compares against and the cloud
//! kernel image (`linux-binary-<release>`) that `vm-test` boots. When a pinned
//! version has left Debian's archive, [`crate::debian`] falls back to the
//! newest version of the same series in the index, then to the pool URL of
//! the pinned version.
//!
//! To move a pin: change the strings below (the versions are what
//! `apt-cache madison <package>` prints with the private source list of
//! [`crate::debian`]), run `cargo xtask vm-test` and `cargo xtask check-abi`.

use std::fmt;

/// One kernel series and the Debian packages pinned for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelPin {
    /// The series, `major.minor` (`"7.3"`).
    pub series: &'static str,
    /// The upstream release (`"7.3.4"`).
    pub upstream: &'static str,
    /// Debian version of `linux-libc-dev` (the uapi headers).
    pub libc_dev: &'static str,
    /// Name of the kernel image package, `linux-binary-<release>`.
    pub binary_pkg: &'static str,
    /// Debian version of [`KernelPin::binary_pkg`].
    pub binary_version: &'static str,
    /// Whether `vm-test` runs this kernel's guest with
    /// `ZCRX_REQUIRE_KERNEL=1` (the kernel must have everything the guest
    /// tests need; nothing may skip).
    pub require_kernel: bool,
}

impl KernelPin {
    /// The kernel release (what `uname -r` prints in the guest), taken from
    /// the package name: `"7.3.4+deb13-cloud-amd64"`.
    pub fn release(&self) -> &'static str {
        self.binary_pkg
            .strip_prefix(BINARY_PKG_PREFIX)
            .unwrap_or(self.binary_pkg)
    }

    /// The flavour suffix of the image package (`"-cloud-amd64"`), used to
    /// find other versions of the same series.
    pub fn flavour_suffix(&self) -> &'static str {
        let release = self.release();
        release.find('-').map_or("", |i| &release[i..])
    }
}

impl fmt::Display for KernelPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Linux {} ({})", self.upstream, self.release())
    }
}

/// Prefix of the kernel image packages.
pub const BINARY_PKG_PREFIX: &str = "linux-binary-";

/// Name of the uapi header package.
#[allow(dead_code, reason = "API for check-abi")]
pub const LIBC_DEV_PKG: &str = "linux-libc-dev";

/// Pool directory (relative to the mirror) of `linux-libc-dev`, for the
/// fallback download of a version that has left every index.
#[allow(dead_code, reason = "API for check-abi")]
pub const LIBC_DEV_POOL: &str = "pool/main/l/linux";

/// Pool directory of the signed kernel image packages.
pub const BINARY_POOL: &str = "pool/main/l/linux-signed-amd64";

/// The suites the private source list reads, newest kernels first.
pub const SUITES: &[&str] = &["trixie-backports", "trixie", "sid"];

/// The series used when none is given.
pub const DEFAULT_SERIES: &str = "7.3";

/// Every pinned kernel, newest first. `vm-test` boots them in this order.
pub const PINS: &[KernelPin] = &[
    KernelPin {
        series: "7.3",
        upstream: "7.3.4",
        libc_dev: "7.3.4-1~bpo13+1",
        binary_pkg: "linux-binary-7.3.4+deb13-cloud-amd64",
        binary_version: "7.3.4-1~bpo13+1",
        require_kernel: true,
    },
    KernelPin {
        series: "7.2",
        upstream: "7.2.13",
        libc_dev: "7.2.13-1",
        binary_pkg: "linux-binary-7.2.13+deb14-cloud-amd64",
        binary_version: "7.2.13-1",
        require_kernel: true,
    },
    KernelPin {
        series: "6.19",
        upstream: "6.19.13",
        libc_dev: "6.19.13-1~bpo13+1",
        binary_pkg: "linux-binary-6.19.13+deb13-cloud-amd64",
        binary_version: "6.19.13-1~bpo13+1",
        require_kernel: false,
    },
];

/// A kernel selector that matches no pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKernel {
    /// What was asked for.
    pub selector: String,
}

impl fmt::Display for UnknownKernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no pinned kernel matches {:?}; pinned: ", self.selector)?;
        for (i, p) in PINS.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} ({})", p.series, p.upstream)?;
        }
        f.write_str(" (use --kernel PATH for any other image)")
    }
}

impl std::error::Error for UnknownKernel {}

/// The pin for a selector: a series (`"7.3"`), an upstream release
/// (`"7.3.4"`), a kernel release (`"7.3.4+deb13-cloud-amd64"`), a Debian
/// version of either package, or `"default"`.
pub fn pin(selector: &str) -> Result<&'static KernelPin, UnknownKernel> {
    let s = selector.trim();
    let s = s.strip_prefix('v').unwrap_or(s);
    let s = if s == "default" { DEFAULT_SERIES } else { s };
    PINS.iter()
        .find(|p| {
            p.series == s
                || p.upstream == s
                || p.release() == s
                || p.libc_dev == s
                || p.binary_version == s
                || p.binary_pkg == s
        })
        .ok_or_else(|| UnknownKernel {
            selector: selector.to_owned(),
        })
}

/// The default pin ([`DEFAULT_SERIES`]).
pub fn default_pin() -> &'static KernelPin {
    // DEFAULT_SERIES is one of PINS (checked by a unit test), so the search
    // cannot fail; fall back to the first pin rather than panic.
    pin(DEFAULT_SERIES).unwrap_or(&PINS[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        assert_eq!(pin("7.3").unwrap().upstream, "7.3.4");
        assert_eq!(pin("7.3.4").unwrap().series, "7.3");
        assert_eq!(pin("v7.2").unwrap().upstream, "7.2.13");
        assert_eq!(pin("6.19").unwrap().libc_dev, "6.19.13-1~bpo13+1");
        assert_eq!(pin("7.2.13+deb14-cloud-amd64").unwrap().series, "7.2");
        assert_eq!(pin("default").unwrap().series, DEFAULT_SERIES);
        let err = pin("5.10").unwrap_err();
        assert!(err.to_string().contains("7.3 (7.3.4)"), "{err}");
        assert!(pin("7").is_err());
    }

    #[test]
    fn derived_names() {
        let p = pin("7.3").unwrap();
        assert_eq!(p.release(), "7.3.4+deb13-cloud-amd64");
        assert_eq!(p.flavour_suffix(), "-cloud-amd64");
        assert_eq!(default_pin().series, "7.3");
    }

    #[test]
    fn pins_are_consistent() {
        for p in PINS {
            assert!(p.upstream.starts_with(&format!("{}.", p.series)), "{p:?}");
            assert!(p.libc_dev.starts_with(p.upstream), "{p:?}");
            assert!(p.binary_version.starts_with(p.upstream), "{p:?}");
            assert!(p.release().starts_with(p.upstream), "{p:?}");
        }
    }
}
