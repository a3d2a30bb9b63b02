//! Fetching Debian packages (kernel uapi headers, kernel images) into
//! `target/zcrx-cache/`, with a private apt source list, without changing
//! the system.
//!
//! # API
//!
//! - [`uapi_headers`]`(pin)` → [`Fetched`]: `linux-libc-dev` extracted;
//!   `fetched.include_dir()` (= `dir/usr/include`) has `linux/io_uring.h`.
//! - [`kernel_image`]`(pin)` → [`KernelImage`]: the cloud kernel's `vmlinuz`.
//! - Every failure is a [`FetchError`] whose message names the cause (a
//!   missing tool, an unreachable registry, a package not in the archive);
//!   callers print it and exit with [`FetchError::EXIT_CODE`] (2).
//!
//! # How
//!
//! 1. A package already extracted under `target/zcrx-cache/pkgs/` is used
//!    as is (no network).
//! 2. Otherwise `apt-get download` with a private source list
//!    ([`crate::pins::SUITES`], `[trusted=yes]`) and private state, cache and
//!    lists directories under `target/zcrx-cache/apt/`: the system's apt
//!    configuration and lists are never touched, and no root is needed. The
//!    lists are refreshed when older than a day (or with
//!    `ZCRX_APT_REFRESH=1`).
//! 3. When the pinned version has left the index: the newest version of the
//!    same series in the index (printed), then the pinned version's pool URL
//!    (with `curl`). Without `apt-get` (a non-Debian host) the pool URL is
//!    tried directly.
//! 4. `dpkg-deb -x` into a temporary directory renamed into place, so an
//!    interrupted run never leaves a half-extracted tree.
//!
//! `ZCRX_DEBIAN_MIRROR` overrides the mirror (default
//! `http://deb.debian.org/debian`), `ZCRX_CACHE_DIR` the cache directory
//! (default `<workspace>/target/zcrx-cache`).

mod apt;
pub mod version;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::pins::{self, KernelPin};

/// The default Debian mirror.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// The workspace root, from the location of the xtask crate (not from
/// `CARGO_TARGET_DIR`, so that the cache is per checkout).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `<workspace>/target/zcrx-cache` (or `ZCRX_CACHE_DIR`): every download
/// and extracted package.
pub fn cache_root() -> PathBuf {
    match std::env::var_os("ZCRX_CACHE_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join("target").join("zcrx-cache"),
    }
}

/// The mirror in use (`ZCRX_DEBIAN_MIRROR` or [`DEFAULT_MIRROR`]), without a
/// trailing slash.
pub fn mirror() -> String {
    std::env::var("ZCRX_DEBIAN_MIRROR")
        .ok()
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_MIRROR.to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// An extracted Debian package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The extracted tree (the package's `/`).
    pub dir: PathBuf,
    /// The package actually used (may differ from the pin after a fallback).
    pub package: String,
    /// Its Debian version.
    pub version: String,
}

impl Fetched {
    /// `dir/usr/include`: the uapi include tree of a `linux-libc-dev`.
    #[allow(dead_code, reason = "API for check-abi")]
    pub fn include_dir(&self) -> PathBuf {
        self.dir.join("usr").join("include")
    }
}

/// A kernel image extracted from a `linux-binary-*` package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelImage {
    /// The bzImage (`vmlinuz`).
    pub vmlinuz: PathBuf,
    /// The package it came from.
    pub package: String,
    /// The package's Debian version.
    pub version: String,
    /// The kernel release (`uname -r` in the guest).
    pub release: String,
}

/// Why a package could not be obtained. Every variant names the cause.
#[derive(Debug)]
#[non_exhaustive]
pub enum FetchError {
    /// A program this needs is not installed.
    MissingTool {
        /// The program (`dpkg-deb`, `curl`).
        tool: &'static str,
        /// The Debian package that provides it.
        package: &'static str,
    },
    /// The registry could not be reached.
    Unreachable {
        /// The URL or mirror.
        url: String,
        /// What the tool said.
        detail: String,
    },
    /// The package (at that version, or any of its series) is not in the
    /// archive.
    NotInArchive {
        /// The package.
        package: String,
        /// The version asked for.
        version: String,
        /// Where it was looked for.
        detail: String,
    },
    /// The package was obtained but does not hold what was expected.
    BadPackage {
        /// The package.
        package: String,
        /// Its version.
        version: String,
        /// What is wrong.
        reason: String,
    },
    /// A local file operation or tool failed.
    Io {
        /// What was being done.
        action: String,
        /// The error.
        source: io::Error,
    },
}

impl FetchError {
    /// The process exit code for these errors: a bad environment, not a test
    /// failure.
    pub const EXIT_CODE: u8 = 2;

    pub(crate) fn io(action: impl Into<String>, source: io::Error) -> Self {
        FetchError::Io {
            action: action.into(),
            source,
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::MissingTool { tool, package } => write!(
                f,
                "`{tool}` is not installed; install it with `apt-get install -y {package}`"
            ),
            FetchError::Unreachable { url, detail } => {
                write!(f, "the Debian registry is unreachable ({url}): {detail}")
            }
            FetchError::NotInArchive {
                package,
                version,
                detail,
            } => write!(
                f,
                "{package} {version} is not in the Debian archive: {detail}"
            ),
            FetchError::BadPackage {
                package,
                version,
                reason,
            } => write!(f, "{package} {version}: {reason}"),
            FetchError::Io { action, source } => write!(f, "{action}: {source}"),
        }
    }
}

impl std::error::Error for FetchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FetchError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The uapi headers (`linux-libc-dev`) of a pinned kernel, extracted.
/// `result.include_dir()` holds `linux/io_uring.h`.
#[allow(dead_code, reason = "API for check-abi")]
pub fn uapi_headers(pin: &KernelPin) -> Result<Fetched, FetchError> {
    let want = Want {
        package: pins::LIBC_DEV_PKG.to_owned(),
        version: pin.libc_dev.to_owned(),
        series: pin.series,
        pool: pins::LIBC_DEV_POOL,
        arch: "all",
        kind: Kind::LibcDev,
    };
    let fetched = fetch(&want)?;
    if !fetched.include_dir().join("linux/io_uring.h").is_file() {
        return Err(FetchError::BadPackage {
            package: fetched.package,
            version: fetched.version,
            reason: "no usr/include/linux/io_uring.h in the package".into(),
        });
    }
    Ok(fetched)
}

/// The cloud kernel image of a pinned kernel, extracted.
pub fn kernel_image(pin: &KernelPin) -> Result<KernelImage, FetchError> {
    let want = Want {
        package: pin.binary_pkg.to_owned(),
        version: pin.binary_version.to_owned(),
        series: pin.series,
        pool: pins::BINARY_POOL,
        arch: "amd64",
        kind: Kind::Image {
            suffix: pin.flavour_suffix(),
        },
    };
    let fetched = fetch(&want)?;
    let release = fetched
        .package
        .strip_prefix(pins::BINARY_PKG_PREFIX)
        .unwrap_or(&fetched.package)
        .to_owned();
    let candidates = [
        fetched
            .dir
            .join("usr/lib/modules")
            .join(&release)
            .join("vmlinuz"),
        fetched.dir.join("boot").join(format!("vmlinuz-{release}")),
    ];
    match candidates.into_iter().find(|p| p.is_file()) {
        Some(vmlinuz) => Ok(KernelImage {
            vmlinuz,
            package: fetched.package,
            version: fetched.version,
            release,
        }),
        None => Err(FetchError::BadPackage {
            package: fetched.package,
            version: fetched.version,
            reason: format!(
                "no usr/lib/modules/{release}/vmlinuz nor boot/vmlinuz-{release} in the package"
            ),
        }),
    }
}

// ---- Any package of the kernel's source (used by `crate::nic`) ----
//
// The smallest addition for the module build: fetch one package of source
// package `linux` at an exact version, with the cache, the private apt and
// the pool fallback above. To be re-pointed at the generic fetcher once it
// exists.

/// One binary package built from Debian's `linux` source package
/// (`linux-headers-*`, `linux-kbuild-*`), at an exact version, extracted.
/// `arch` is the package's architecture (`amd64` or `all`), used for the
/// pool URL when the package has left the index.
pub fn linux_package(
    package: &str,
    version: &str,
    series: &'static str,
    arch: &'static str,
) -> Result<Fetched, FetchError> {
    fetch(&Want {
        package: package.to_owned(),
        version: version.to_owned(),
        series,
        pool: pins::LIBC_DEV_POOL,
        arch,
        kind: Kind::Exact,
    })
}

/// What kind of package: decides how the same series is searched.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// One package name, many versions.
    #[allow(dead_code, reason = "API for check-abi")]
    LibcDev,
    /// One package name per release: `linux-binary-<series>.<n>+<..><suffix>`.
    Image { suffix: &'static str },
    /// Exactly this version, or its pool URL: no other version fits.
    Exact,
}

/// A package to obtain.
#[derive(Debug, Clone)]
struct Want {
    package: String,
    version: String,
    series: &'static str,
    pool: &'static str,
    arch: &'static str,
    kind: Kind,
}

fn extracted_dir(package: &str, version: &str) -> PathBuf {
    cache_root()
        .join("pkgs")
        .join(format!("{package}_{}", version.replace(':', "%3a")))
}

fn cached(package: &str, version: &str) -> Option<Fetched> {
    let dir = extracted_dir(package, version);
    dir.is_dir().then(|| Fetched {
        dir,
        package: package.to_owned(),
        version: version.to_owned(),
    })
}

fn fetch(want: &Want) -> Result<Fetched, FetchError> {
    if let Some(hit) = cached(&want.package, &want.version) {
        eprintln!(
            "xtask: {} {} (cached in {})",
            hit.package,
            hit.version,
            hit.dir.display()
        );
        return Ok(hit);
    }
    require_tool("dpkg-deb", "dpkg")?;
    let root = cache_root();
    fs::create_dir_all(&root)
        .map_err(|e| FetchError::io(format!("creating {}", root.display()), e))?;
    let _lock = apt::Lock::take(&root.join("fetch.lock"))?;
    // Another process may have finished the same download while we waited.
    if let Some(hit) = cached(&want.package, &want.version) {
        return Ok(hit);
    }

    let tmp = root.join(format!("tmp-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)
        .map_err(|e| FetchError::io(format!("creating {}", tmp.display()), e))?;
    let result = download(want, &tmp).and_then(|got| match got {
        Obtained::Cached(hit) => Ok(hit),
        Obtained::Deb {
            package,
            version,
            deb,
        } => extract(&deb, &package, &version, &tmp),
    });
    let _ = fs::remove_dir_all(&tmp);
    let fetched = result?;
    eprintln!("xtask: using {} {}", fetched.package, fetched.version);
    Ok(fetched)
}

/// The outcome of [`download`].
enum Obtained {
    /// A fallback version that was already extracted.
    Cached(Fetched),
    /// A downloaded package file.
    Deb {
        package: String,
        version: String,
        deb: PathBuf,
    },
}

/// Downloads the wanted package, or its fallback, into `tmp`.
fn download(want: &Want, tmp: &Path) -> Result<Obtained, FetchError> {
    if which("apt-get") {
        let apt = apt::Apt::new(&cache_root().join("apt"))?;
        apt.ensure_lists()?;
        let versions = apt.versions(&want.package)?;
        if versions.iter().any(|v| v == &want.version) {
            let deb = apt.download(&want.package, &want.version, tmp)?;
            return Ok(Obtained::Deb {
                package: want.package.clone(),
                version: want.version.clone(),
                deb,
            });
        }
        if let Some((package, version)) = newest_in_series(&apt, want)? {
            eprintln!(
                "xtask: {} {} has left the archive's index; falling back to the newest of \
                 series {}: {package} {version}",
                want.package, want.version, want.series
            );
            if let Some(hit) = cached(&package, &version) {
                return Ok(Obtained::Cached(hit));
            }
            let deb = apt.download(&package, &version, tmp)?;
            return Ok(Obtained::Deb {
                package,
                version,
                deb,
            });
        }
        eprintln!(
            "xtask: no {} of series {} in the index; trying the pool",
            want.package, want.series
        );
    } else {
        eprintln!("xtask: apt-get not found; trying the pool URL directly");
    }
    let deb = pool_download(want, tmp)?;
    Ok(Obtained::Deb {
        package: want.package.clone(),
        version: want.version.clone(),
        deb,
    })
}

fn newest_in_series(apt: &apt::Apt, want: &Want) -> Result<Option<(String, String)>, FetchError> {
    let mut found: Vec<(String, String)> = Vec::new();
    match want.kind {
        Kind::Exact => {}
        Kind::LibcDev => {
            for v in apt.versions(&want.package)? {
                if version::in_series(&v, want.series) {
                    found.push((want.package.clone(), v));
                }
            }
        }
        Kind::Image { suffix } => {
            let prefix = format!("{}{}.", pins::BINARY_PKG_PREFIX, want.series);
            for name in apt.pkgnames(&prefix)? {
                if name.ends_with(suffix) {
                    for v in apt.versions(&name)? {
                        if version::in_series(&v, want.series) {
                            found.push((name.clone(), v));
                        }
                    }
                }
            }
        }
    }
    Ok(found
        .into_iter()
        .max_by(|a, b| version::compare(&a.1, &b.1)))
}

/// The pool URL of a package version.
fn pool_url(want: &Want) -> String {
    let version = want
        .version
        .split_once(':')
        .map_or(want.version.as_str(), |(_, v)| v);
    format!(
        "{}/{}/{}_{}_{}.deb",
        mirror(),
        want.pool,
        want.package,
        version,
        want.arch
    )
}

fn pool_download(want: &Want, tmp: &Path) -> Result<PathBuf, FetchError> {
    require_tool("curl", "curl")?;
    let url = pool_url(want);
    let out = tmp.join("pool.deb");
    eprintln!("xtask: downloading {url}");
    let res = Command::new("curl")
        .args(["-fsSL", "--retry", "2", "--connect-timeout", "20", "-o"])
        .arg(&out)
        .arg(&url)
        .output()
        .map_err(|e| FetchError::io("running curl", e))?;
    match res.status.code() {
        Some(0) => Ok(out),
        // 22: HTTP error (404: not in the pool).
        Some(22) => Err(FetchError::NotInArchive {
            package: want.package.clone(),
            version: want.version.clone(),
            detail: format!(
                "not in the index and not in the pool ({url}: {})",
                String::from_utf8_lossy(&res.stderr).trim()
            ),
        }),
        _ => Err(FetchError::Unreachable {
            url,
            detail: format!(
                "curl: {} ({})",
                String::from_utf8_lossy(&res.stderr).trim(),
                res.status
            ),
        }),
    }
}

fn extract(deb: &Path, package: &str, version: &str, tmp: &Path) -> Result<Fetched, FetchError> {
    let staging = tmp.join("x");
    let res = Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(&staging)
        .output()
        .map_err(|e| FetchError::io("running dpkg-deb", e))?;
    if !res.status.success() {
        return Err(FetchError::BadPackage {
            package: package.to_owned(),
            version: version.to_owned(),
            reason: format!(
                "dpkg-deb -x {} failed: {}",
                deb.display(),
                String::from_utf8_lossy(&res.stderr).trim()
            ),
        });
    }
    let dir = extracted_dir(package, version);
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| FetchError::io(format!("creating {}", parent.display()), e))?;
    }
    fs::rename(&staging, &dir).map_err(|e| {
        FetchError::io(
            format!("moving {} to {}", staging.display(), dir.display()),
            e,
        )
    })?;
    Ok(Fetched {
        dir,
        package: package.to_owned(),
        version: version.to_owned(),
    })
}

/// Whether `tool` is on `PATH`.
pub fn which(tool: &str) -> bool {
    find_in_path(tool).is_some()
}

/// The full path of `tool` on `PATH`.
pub fn find_in_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

fn require_tool(tool: &'static str, package: &'static str) -> Result<(), FetchError> {
    if which(tool) {
        Ok(())
    } else {
        Err(FetchError::MissingTool { tool, package })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_urls() {
        let want = Want {
            package: "linux-libc-dev".into(),
            version: "6.19.13-1~bpo13+1".into(),
            series: "6.19",
            pool: pins::LIBC_DEV_POOL,
            arch: "all",
            kind: Kind::LibcDev,
        };
        assert!(
            pool_url(&want)
                .ends_with("/pool/main/l/linux/linux-libc-dev_6.19.13-1~bpo13+1_all.deb")
        );
    }

    #[test]
    fn cache_is_under_the_workspace_target() {
        if std::env::var_os("ZCRX_CACHE_DIR").is_some() {
            return;
        }
        let root = cache_root();
        assert!(root.ends_with("target/zcrx-cache"));
        assert!(
            root.parent()
                .unwrap()
                .parent()
                .unwrap()
                .join("Cargo.toml")
                .is_file()
        );
    }

    #[test]
    fn errors_name_the_cause() {
        let e = FetchError::MissingTool {
            tool: "dpkg-deb",
            package: "dpkg",
        };
        assert!(e.to_string().contains("apt-get install -y dpkg"));
        let e = FetchError::Unreachable {
            url: "http://x".into(),
            detail: "timeout".into(),
        };
        assert!(e.to_string().contains("unreachable"));
    }
}

#[cfg(test)]
mod network_tests {
    use super::*;

    /// Fetches every pinned package (network or a warm cache needed):
    /// `cargo test -p xtask -- --ignored fetch_all_pins`.
    #[test]
    #[ignore = "downloads from Debian's archive"]
    fn fetch_all_pins() {
        for pin in pins::PINS {
            let h = uapi_headers(pin).unwrap();
            eprintln!("{} {} {}", h.package, h.version, h.dir.display());
            let k = kernel_image(pin).unwrap();
            eprintln!("{k:?}");
            assert_eq!(k.release, pin.release());
        }
    }

    /// A pin that has left the index falls back to the newest of its series.
    #[test]
    #[ignore = "downloads from Debian's archive"]
    fn fallback_to_the_newest_of_the_series() {
        let headers = fetch(&Want {
            package: pins::LIBC_DEV_PKG.into(),
            version: "7.2.0-99".into(),
            series: "7.2",
            pool: pins::LIBC_DEV_POOL,
            arch: "all",
            kind: Kind::LibcDev,
        })
        .unwrap();
        assert_eq!(headers.version, "7.2.13-1");
        let image = fetch(&Want {
            package: "linux-binary-7.2.0+deb13-cloud-amd64".into(),
            version: "7.2.0-1~bpo13+1".into(),
            series: "7.2",
            pool: pins::BINARY_POOL,
            arch: "amd64",
            kind: Kind::Image {
                suffix: "-cloud-amd64",
            },
        })
        .unwrap();
        assert_eq!(
            (image.package.as_str(), image.version.as_str()),
            ("linux-binary-7.2.13+deb14-cloud-amd64", "7.2.13-1")
        );
        // Not in the index, not in the pool: named as such.
        let err = fetch(&Want {
            package: pins::LIBC_DEV_PKG.into(),
            version: "5.99.1-1".into(),
            series: "5.99",
            pool: pins::LIBC_DEV_POOL,
            arch: "all",
            kind: Kind::LibcDev,
        })
        .unwrap_err();
        assert!(matches!(err, FetchError::NotInArchive { .. }), "{err}");
        eprintln!("{err}");
    }
}
