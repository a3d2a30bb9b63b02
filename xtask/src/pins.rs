//! The one place where the Debian packages this project uses are pinned.
//!
//! Each [`KernelPin`] names, for one kernel series, the `linux-libc-dev`
//! whose uapi headers `check-abi` compares against, the cloud kernel image
//! (`linux-binary-<release>`) that `vm-test` boots and, for 7.3 and 7.2, the
//! packages a kernel module is built against ([`ModuleBuild`]). Every
//! package is a [`Deb`]: name, version, the file's path on the mirror and
//! its SHA-256, as the archive's signed index (`apt-cache show`) gave them.
//! [`crate::debian`] refuses a file whose SHA-256 differs, whether it came
//! through the signed index or from the pool.
//!
//! To move a pin: take the new name, version, `Filename:` and `SHA256:` from
//! `apt-cache show NAME=VERSION` run with the private, signed package lists
//! of [`crate::debian`] (`docs/test-bed.md` shows the command), change them
//! below, run `cargo xtask fetch --pins`, `cargo xtask check-abi
//! --all-pinned` and `cargo xtask vm-test`.

use std::fmt;

/// One Debian binary package at one version, and what verifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deb {
    /// The package name (`linux-libc-dev`).
    pub name: &'static str,
    /// Its Debian version (`7.3.4-1~bpo13+1`).
    pub version: &'static str,
    /// The file's path under the mirror (the index's `Filename:`), for the
    /// pool fallback when the version has left every index.
    pub filename: &'static str,
    /// SHA-256 of the `.deb` (the index's `SHA256:`), lowercase hex.
    pub sha256: &'static str,
}

/// One kernel series and the Debian packages pinned for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelPin {
    /// The series, `major.minor` (`"7.3"`).
    pub series: &'static str,
    /// The upstream release (`"7.3.4"`).
    pub upstream: &'static str,
    /// `linux-libc-dev`: the uapi headers.
    pub libc_dev: Deb,
    /// `linux-binary-<release>`: the kernel image.
    pub image: Deb,
    /// What a kernel module for this kernel is built against, for the
    /// kernels that get one.
    pub module_build: Option<ModuleBuild>,
    /// Whether `vm-test` runs this kernel's guest with
    /// `ZCRX_REQUIRE_KERNEL=1` (the kernel must have everything the guest
    /// tests need; nothing may skip).
    pub require_kernel: bool,
}

/// The packages an out-of-tree module for one pinned kernel is built
/// against, and the Debian suite whose compiler built that kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModuleBuild {
    /// `linux-headers-<release>`: the flavour's config and Makefile.
    pub headers: Deb,
    /// `linux-headers-<release without flavour>-common`: the header tree.
    pub headers_common: Deb,
    /// `linux-kbuild-<release without flavour>`: modpost, objtool and
    /// friends (amd64 executables that need the suite's glibc).
    pub kbuild: Deb,
    /// `linux-modules-<release>`: the kernel's own modules (dependencies of
    /// the module under test).
    pub modules: Deb,
    /// The compiler the headers depend on (`gcc-N-for-host`).
    pub gcc: &'static str,
    /// The Debian suite that has that compiler and a matching glibc: the
    /// build root to make with mmdebstrap or debootstrap.
    pub build_suite: &'static str,
}

impl ModuleBuild {
    /// The four packages, in the order above.
    pub fn debs(&self) -> [&Deb; 4] {
        [
            &self.headers,
            &self.headers_common,
            &self.kbuild,
            &self.modules,
        ]
    }
}

impl KernelPin {
    /// The kernel release (what `uname -r` prints in the guest), taken from
    /// the image package's name: `"7.3.4+deb13-cloud-amd64"`.
    pub fn release(&self) -> &'static str {
        self.image
            .name
            .strip_prefix(BINARY_PKG_PREFIX)
            .unwrap_or(self.image.name)
    }

    /// The flavour suffix of the image package (`"-cloud-amd64"`), used to
    /// find other versions of the same series.
    pub fn flavour_suffix(&self) -> &'static str {
        let release = self.release();
        release.find('-').map_or("", |i| &release[i..])
    }

    /// Every package of this pin.
    pub fn debs(&self) -> impl Iterator<Item = &Deb> {
        [&self.libc_dev, &self.image]
            .into_iter()
            .chain(self.module_build.iter().flat_map(ModuleBuild::debs))
    }
}

impl fmt::Display for KernelPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Linux {} ({})", self.upstream, self.release())
    }
}

/// Prefix of the kernel image packages.
pub const BINARY_PKG_PREFIX: &str = "linux-binary-";

/// The suites the private source list reads, newest kernels first.
pub const SUITES: &[&str] = &["trixie-backports", "trixie", "sid"];

/// The series used when none is given.
pub const DEFAULT_SERIES: &str = "7.3";

/// Every pinned kernel, newest first. `vm-test` boots them in this order.
pub const PINS: &[KernelPin] = &[
    KernelPin {
        series: "7.3",
        upstream: "7.3.4",
        libc_dev: Deb {
            name: "linux-libc-dev",
            version: "7.3.4-1~bpo13+1",
            filename: "pool/main/l/linux/linux-libc-dev_7.3.4-1~bpo13+1_all.deb",
            sha256: "b3a4538fca67081c8606a93f37521d0eb74ac75996a02f3321a6b27f978e10a8",
        },
        image: Deb {
            name: "linux-binary-7.3.4+deb13-cloud-amd64",
            version: "7.3.4-1~bpo13+1",
            filename: "pool/main/l/linux-signed-amd64/\
                       linux-binary-7.3.4+deb13-cloud-amd64_7.3.4-1~bpo13+1_amd64.deb",
            sha256: "c4fbc8e404958693b28825474c20742d70594d65ca58aea7be6a279c81eb6fa0",
        },
        module_build: Some(ModuleBuild {
            headers: Deb {
                name: "linux-headers-7.3.4+deb13-cloud-amd64",
                version: "7.3.4-1~bpo13+1",
                filename: "pool/main/l/linux/\
                           linux-headers-7.3.4+deb13-cloud-amd64_7.3.4-1~bpo13+1_amd64.deb",
                sha256: "7cd1d71ea5c0dd03f1288767a9d489a02324cedcce17549971604f50450ccb3c",
            },
            headers_common: Deb {
                name: "linux-headers-7.3.4+deb13-common",
                version: "7.3.4-1~bpo13+1",
                filename: "pool/main/l/linux/\
                           linux-headers-7.3.4+deb13-common_7.3.4-1~bpo13+1_all.deb",
                sha256: "886647d4a7b05d2aedd22f8e16917c5b75e97e8946966d6bac48962c40b19a06",
            },
            kbuild: Deb {
                name: "linux-kbuild-7.3.4+deb13",
                version: "7.3.4-1~bpo13+1",
                filename: "pool/main/l/linux/linux-kbuild-7.3.4+deb13_7.3.4-1~bpo13+1_amd64.deb",
                sha256: "248cce12d48862f7d38ca51efdb759c031192543d144f18bd36a5df37f156244",
            },
            modules: Deb {
                name: "linux-modules-7.3.4+deb13-cloud-amd64",
                version: "7.3.4-1~bpo13+1",
                filename: "pool/main/l/linux/\
                           linux-modules-7.3.4+deb13-cloud-amd64_7.3.4-1~bpo13+1_amd64.deb",
                sha256: "359f04c363b7d3c5f9ce999ccb7351e00cc8eec0a30d6bc1cda37734987fc43d",
            },
            gcc: "gcc-14",
            build_suite: "trixie",
        }),
        require_kernel: true,
    },
    KernelPin {
        series: "7.2",
        upstream: "7.2.13",
        libc_dev: Deb {
            name: "linux-libc-dev",
            version: "7.2.13-1",
            filename: "pool/main/l/linux/linux-libc-dev_7.2.13-1_all.deb",
            sha256: "8b33c2a408bbab537e753102dce181dc211007f64c1e2516065bc677f60d5d99",
        },
        image: Deb {
            name: "linux-binary-7.2.13+deb14-cloud-amd64",
            version: "7.2.13-1",
            filename: "pool/main/l/linux-signed-amd64/\
                       linux-binary-7.2.13+deb14-cloud-amd64_7.2.13-1_amd64.deb",
            sha256: "03e41f1c34c16583462f029e81944a85ebcdb78098c258dedfa1cfdd680a27f8",
        },
        module_build: Some(ModuleBuild {
            headers: Deb {
                name: "linux-headers-7.2.13+deb14-cloud-amd64",
                version: "7.2.13-1",
                filename: "pool/main/l/linux/\
                           linux-headers-7.2.13+deb14-cloud-amd64_7.2.13-1_amd64.deb",
                sha256: "a1dc8d412c259dd2ae260051725de710434f69ea91218960d910c4405a032a93",
            },
            headers_common: Deb {
                name: "linux-headers-7.2.13+deb14-common",
                version: "7.2.13-1",
                filename: "pool/main/l/linux/linux-headers-7.2.13+deb14-common_7.2.13-1_all.deb",
                sha256: "5067c68cf803b385f72e6ea530cfbb9226f5eb91bfb7e256b6fcb4f87fd6279c",
            },
            kbuild: Deb {
                name: "linux-kbuild-7.2.13+deb14",
                version: "7.2.13-1",
                filename: "pool/main/l/linux/linux-kbuild-7.2.13+deb14_7.2.13-1_amd64.deb",
                sha256: "0cecebac12f863b32f0b0a5b48b3b762240ff614603e9d8fd550fc095de0e610",
            },
            modules: Deb {
                name: "linux-modules-7.2.13+deb14-cloud-amd64",
                version: "7.2.13-1",
                filename: "pool/main/l/linux/\
                           linux-modules-7.2.13+deb14-cloud-amd64_7.2.13-1_amd64.deb",
                sha256: "97d79546041e3fdfb44dccff180938894d1bf8eb298f091f88539c1b37080bef",
            },
            gcc: "gcc-16",
            build_suite: "sid",
        }),
        require_kernel: true,
    },
    KernelPin {
        series: "6.19",
        upstream: "6.19.13",
        // This version has left every index; the pool still has it. Its hash
        // was taken from that pool file on 2026-11-30 (no signed index listed
        // it any more), and it is the hash every later download must match.
        libc_dev: Deb {
            name: "linux-libc-dev",
            version: "6.19.13-1~bpo13+1",
            filename: "pool/main/l/linux/linux-libc-dev_6.19.13-1~bpo13+1_all.deb",
            sha256: "5db65b0fe22d90e311dbf0b5c604837d9eaf7a26e5cd262ebc1d825e0dca95d0",
        },
        image: Deb {
            name: "linux-binary-6.19.13+deb13-cloud-amd64",
            version: "6.19.13-1~bpo13+1",
            filename: "pool/main/l/linux-signed-amd64/\
                       linux-binary-6.19.13+deb13-cloud-amd64_6.19.13-1~bpo13+1_amd64.deb",
            sha256: "69b2e8a7b724b2fac2a45d0352a190ffb1c47f0ddd1c17275c429581089fef79",
        },
        module_build: None,
        require_kernel: false,
    },
];

/// The pinned package `name` at `version`, if the pins name it.
pub fn find_deb(name: &str, version: &str) -> Option<&'static Deb> {
    PINS.iter()
        .flat_map(KernelPin::debs)
        .find(|d| d.name == name && d.version == version)
}

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
/// version or name of either package, or `"default"`.
pub fn pin(selector: &str) -> Result<&'static KernelPin, UnknownKernel> {
    let s = selector.trim();
    let s = s.strip_prefix('v').unwrap_or(s);
    let s = if s == "default" { DEFAULT_SERIES } else { s };
    PINS.iter()
        .find(|p| {
            p.series == s
                || p.upstream == s
                || p.release() == s
                || p.libc_dev.version == s
                || p.image.version == s
                || p.image.name == s
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
        assert_eq!(pin("6.19").unwrap().libc_dev.version, "6.19.13-1~bpo13+1");
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
        assert_eq!(
            find_deb("linux-kbuild-7.2.13+deb14", "7.2.13-1").map(|d| d.sha256),
            Some("0cecebac12f863b32f0b0a5b48b3b762240ff614603e9d8fd550fc095de0e610")
        );
        assert_eq!(find_deb("linux-libc-dev", "7.2.12-1~bpo13+1"), None);
    }

    #[test]
    fn pins_are_consistent() {
        for p in PINS {
            assert!(p.upstream.starts_with(&format!("{}.", p.series)), "{p:?}");
            assert!(p.release().starts_with(p.upstream), "{p:?}");
            for d in p.debs() {
                assert!(d.version.starts_with(p.upstream), "{d:?}");
                // The pool file is named after the package and its version.
                let file = d.filename.rsplit('/').next().unwrap();
                assert!(
                    file.starts_with(&format!("{}_{}_", d.name, d.version)),
                    "{d:?}"
                );
                assert!(
                    file.ends_with("_all.deb") || file.ends_with("_amd64.deb"),
                    "{d:?}"
                );
                assert!(d.filename.starts_with("pool/main/"), "{d:?}");
                assert_eq!(d.sha256.len(), 64, "{d:?}");
                assert!(
                    d.sha256
                        .bytes()
                        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
                );
            }
            if let Some(b) = &p.module_build {
                let release = p.release();
                let common = release.strip_suffix(p.flavour_suffix()).unwrap();
                assert_eq!(b.headers.name, format!("linux-headers-{release}"));
                assert_eq!(
                    b.headers_common.name,
                    format!("linux-headers-{common}-common")
                );
                assert_eq!(b.kbuild.name, format!("linux-kbuild-{common}"));
                assert_eq!(b.modules.name, format!("linux-modules-{release}"));
                assert!(SUITES.contains(&b.build_suite), "{b:?}");
            }
        }
        // Both guest kernels that need a module have its packages pinned.
        for series in ["7.3", "7.2"] {
            assert!(pin(series).unwrap().module_build.is_some(), "{series}");
        }
    }
}
