//! Verified Debian packages (kernel uapi headers, kernel images, module
//! build trees) in `target/zcrx-cache/`, fetched with a private apt
//! configuration that leaves the system alone.
//!
//! # API
//!
//! - [`package`]`(name, version) -> Result<`[`Fetched`]`, `[`FetchError`]`>`:
//!   any package at an exact version, verified, cached and extracted.
//!   [`Fetched::deb`] is the verified `.deb` (to unpack elsewhere, or to
//!   install into a build root), [`Fetched::dir`] its extracted tree.
//! - [`uapi_headers`]`(pin)` and [`kernel_image`]`(pin)`: the `linux-libc-dev`
//!   and the kernel image of a [`KernelPin`], falling back to the newest
//!   version of the same series when the pinned one has left the archive.
//! - [`keyring`]`()`: the path of Debian's archive keyring, the trust root of
//!   everything here, for tools that check Release signatures themselves
//!   (`mmdebstrap --keyring=PATH`, `debootstrap --keyring=PATH`).
//! - [`update_lists`]`()`: refresh the signed package lists.
//! - [`mirror`]`()`, [`cache_root`]`()`, [`ensure_tool`]`(tool, package)`.
//! - `cargo xtask fetch` is the same from the shell.
//! - Every failure is a [`FetchError`] naming the cause; callers print it
//!   and exit with [`FetchError::EXIT_CODE`] (2). A file that fails
//!   verification is [`FetchError::Refused`].
//!
//! # Trust
//!
//! 1. The private source list ([`crate::pins::SUITES`]) is `signed-by`
//!    [`KEYRING`], Debian's archive keyring from the `debian-archive-keyring`
//!    package: `apt-get update` takes a suite's index only with a good
//!    signature by one of its keys. On 2026-11-30 trixie, trixie-backports
//!    and sid were each signed by the Debian 12 and Debian 13 archive
//!    automatic signing keys (trixie also by the Debian 13 release key), all
//!    in bookworm's keyring package 2023.3+deb12u2 and in trixie's 2025.1.
//! 2. A package whose version is in that index is downloaded with
//!    `apt-get download`, which checks it against the index's hash.
//! 3. Every package the pins name ([`crate::pins::Deb`]) carries its
//!    SHA-256; a download or cached file with another hash is refused, and
//!    a pinned version that has left every index is taken from the pool
//!    (`apt-helper download-file` with the pinned hash) and nowhere else.
//!    A version that is neither pinned nor in the signed index is refused.
//!
//! # Cache (`ZCRX_CACHE_DIR`, default `<workspace>/target/zcrx-cache`)
//!
//! - `debs/<name>_<version>.deb`: the verified downloads, checked again
//!   against their SHA-256 every time they are used (a mismatch is moved to
//!   `*.rejected` and refused); `*.deb.sha256` beside an unpinned one holds
//!   the hash its signed index gave.
//! - `pkgs/<name>_<version>/`: the extracted tree, re-extracted when the
//!   `pkgs/<name>_<version>.sha256` stamp does not name the `.deb`'s hash.
//! - `apt/`: the private source list, lists and apt cache (lists refreshed
//!   when older than a day, or with `ZCRX_APT_REFRESH=1`).
//! - `fetch.lock`: concurrent xtask runs fetch one at a time.
//!
//! A cached, pinned package needs no network and no apt at all.
//! `ZCRX_DEBIAN_MIRROR` overrides the mirror (default
//! `http://deb.debian.org/debian`; a `file:` mirror works too).

mod apt;
mod cache;
mod error;
mod host;
pub mod version;

use std::fs;
use std::path::{Path, PathBuf};

pub use error::FetchError;
pub use host::{ensure_tool, is_root};

use crate::pins::{self, Deb, KernelPin};

/// The default Debian mirror.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// Debian's archive keyring, as the `debian-archive-keyring` package
/// installs it.
pub const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// The Debian package that ships [`KEYRING`].
pub const KEYRING_PACKAGE: &str = "debian-archive-keyring";

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

/// The path of Debian's archive keyring ([`KEYRING`]), installing
/// `debian-archive-keyring` first when it is missing and xtask runs as root;
/// otherwise a [`FetchError::MissingTool`] naming the package.
pub fn keyring() -> Result<PathBuf, FetchError> {
    host::ensure_file(Path::new(KEYRING), KEYRING_PACKAGE)
}

/// Refreshes the private package lists when they are older than a day (or
/// `ZCRX_APT_REFRESH=1`), refusing an index whose signature does not check;
/// returns the lists directory (`<cache>/apt/lists`, holding each suite's
/// verified `InRelease`).
pub fn update_lists() -> Result<PathBuf, FetchError> {
    let root = cache_root();
    fs::create_dir_all(&root)
        .map_err(|e| FetchError::io(format!("creating {}", root.display()), e))?;
    let _lock = cache::Lock::take(&root.join("fetch.lock"))?;
    let apt = apt::Apt::new(&root.join("apt"), &keyring()?)?;
    apt.ensure_lists()?;
    Ok(root.join("apt").join("lists"))
}

/// A verified, extracted Debian package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The extracted tree (the package's `/`).
    pub dir: PathBuf,
    /// The verified `.deb` in the cache.
    pub deb: PathBuf,
    /// The package actually used (may differ from the pin after a fallback).
    pub package: String,
    /// Its Debian version.
    pub version: String,
    /// The `.deb`'s SHA-256 (lowercase hex), as checked.
    pub sha256: String,
}

impl Fetched {
    /// `dir/usr/include`: the uapi include tree of a `linux-libc-dev`.
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

/// `name` at exactly `version`: verified (signed index, and the pinned
/// SHA-256 when [`crate::pins`] names it), cached and extracted.
///
/// A cached `.deb` is verified again and used without network. Otherwise
/// it comes through the signed index, or, for a pinned version the index
/// no longer has, from the pool with the pinned hash.
pub fn package(name: &str, version: &str) -> Result<Fetched, FetchError> {
    let pin = pins::find_deb(name, version);
    let root = cache_root();
    fs::create_dir_all(&root)
        .map_err(|e| FetchError::io(format!("creating {}", root.display()), e))?;
    let _lock = cache::Lock::take(&root.join("fetch.lock"))?;
    let tmp = root.join(format!("tmp-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)
        .map_err(|e| FetchError::io(format!("creating {}", tmp.display()), e))?;
    let result = obtain(name, version, pin, &tmp);
    let _ = fs::remove_dir_all(&tmp);
    result
}

/// Where a pinned hash comes from, for messages.
const PINNED: &str = "pinned in xtask/src/pins.rs";

fn obtain(name: &str, version: &str, pin: Option<&Deb>, tmp: &Path) -> Result<Fetched, FetchError> {
    let deb = cache::deb_path(name, version);
    let cached = if deb.is_file() {
        verify_cached(&deb, pin)?
    } else {
        None
    };
    let sha256 = match cached {
        Some(sha) => sha,
        None => download(name, version, pin, &deb, tmp)?,
    };
    host::ensure_tool("dpkg-deb", "dpkg")?;
    let dir = cache::extract(&deb, &sha256, name, version, tmp)?;
    eprintln!(
        "xtask: using {name} {version} (SHA-256 verified; {})",
        dir.display()
    );
    Ok(Fetched {
        dir,
        deb,
        package: name.to_owned(),
        version: version.to_owned(),
        sha256,
    })
}

/// Verifies a cached `.deb`; `None` when its expected hash is unknown (an
/// unpinned file without its index hash: it is downloaded again).
fn verify_cached(deb: &Path, pin: Option<&Deb>) -> Result<Option<String>, FetchError> {
    if let Some(p) = pin {
        cache::verify(deb, p.sha256, PINNED)?;
        return Ok(Some(p.sha256.to_owned()));
    }
    match fs::read_to_string(cache::index_hash_path(deb)) {
        Ok(h) => {
            let h = h.trim().to_owned();
            cache::verify(deb, &h, "the signed index gave when it was downloaded")?;
            Ok(Some(h))
        }
        Err(_) => Ok(None),
    }
}

/// Downloads and verifies `name` at `version` into the cache at `deb`;
/// returns its SHA-256.
fn download(
    name: &str,
    version: &str,
    pin: Option<&Deb>,
    deb: &Path,
    tmp: &Path,
) -> Result<String, FetchError> {
    let apt = apt::Apt::new(&cache_root().join("apt"), &keyring()?)?;
    apt.ensure_lists()?;
    let (file, sha256) = match (apt.show(name, version)?, pin) {
        (Some(entry), Some(p)) if entry.sha256 != p.sha256 => {
            return Err(FetchError::Refused {
                what: format!("{name} {version}"),
                reason: format!(
                    "the signed index lists SHA-256 {}, but {} is {PINNED}",
                    entry.sha256, p.sha256
                ),
            });
        }
        (Some(entry), _) => {
            let file = apt.download(name, version, tmp)?;
            cache::verify(&file, &entry.sha256, "in the signed index")?;
            (file, entry.sha256)
        }
        (None, Some(p)) => {
            eprintln!("xtask: {name} {version} has left the index; taking the pinned pool file");
            let url = format!("{}/{}", mirror(), p.filename);
            let file = apt.download_file(p, &url, tmp)?;
            cache::verify(&file, p.sha256, PINNED)?;
            (file, p.sha256.to_owned())
        }
        (None, None) => {
            return Err(FetchError::NotInArchive {
                package: name.to_owned(),
                version: version.to_owned(),
                detail: format!(
                    "not in the signed index of {} ({}), and xtask/src/pins.rs pins no SHA-256 \
                     for a pool download",
                    mirror(),
                    pins::SUITES.join(", ")
                ),
            });
        }
    };
    cache::store(&file, deb)?;
    let index_hash = cache::index_hash_path(deb);
    if pin.is_none() {
        apt::write(&index_hash, &sha256)?;
    } else {
        let _ = fs::remove_file(index_hash);
    }
    Ok(sha256)
}

/// The uapi headers (`linux-libc-dev`) of a pinned kernel, extracted.
/// `result.include_dir()` holds `linux/io_uring.h`.
pub fn uapi_headers(pin: &KernelPin) -> Result<Fetched, FetchError> {
    let fetched = pinned_or_series(&pin.libc_dev, pin.series, None)?;
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
    let fetched = pinned_or_series(&pin.image, pin.series, Some(pin.flavour_suffix()))?;
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

/// The pinned package, or (when neither the index nor the pool has it) the
/// newest of the same series in the signed index. `image_suffix` is the
/// flavour of an image package (one name per release), `None` for a
/// package with one name and many versions.
fn pinned_or_series(
    deb: &Deb,
    series: &str,
    image_suffix: Option<&str>,
) -> Result<Fetched, FetchError> {
    match package(deb.name, deb.version) {
        Err(FetchError::NotInArchive { detail, .. }) => {
            eprintln!("xtask: {} {}: {detail}", deb.name, deb.version);
        }
        other => return other,
    }
    let newest = {
        let root = cache_root();
        let _lock = cache::Lock::take(&root.join("fetch.lock"))?;
        let apt = apt::Apt::new(&root.join("apt"), &keyring()?)?;
        newest_in_series(&apt, deb.name, series, image_suffix)?
    };
    let Some((name, version)) = newest else {
        return Err(FetchError::NotInArchive {
            package: deb.name.to_owned(),
            version: deb.version.to_owned(),
            detail: format!("not in the index nor the pool, and nothing of series {series}"),
        });
    };
    eprintln!(
        "xtask: {} {} has left the archive; falling back to the newest of series {series}: \
         {name} {version}",
        deb.name, deb.version
    );
    package(&name, &version)
}

fn newest_in_series(
    apt: &apt::Apt,
    name: &str,
    series: &str,
    image_suffix: Option<&str>,
) -> Result<Option<(String, String)>, FetchError> {
    let names = match image_suffix {
        None => vec![name.to_owned()],
        Some(suffix) => apt
            .pkgnames(&format!("{}{series}.", pins::BINARY_PKG_PREFIX))?
            .into_iter()
            .filter(|n| n.ends_with(suffix))
            .collect(),
    };
    let mut found: Vec<(String, String)> = Vec::new();
    for n in names {
        for v in apt.versions(&n)? {
            if version::in_series(&v, series) {
                found.push((n.clone(), v));
            }
        }
    }
    Ok(found.into_iter().reduce(|best, c| {
        if version::newer(&c.1, &best.1) {
            c
        } else {
            best
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

#[cfg(test)]
mod network_tests {
    use super::*;

    /// A pin that has left the index falls back to the newest of its series.
    #[test]
    #[ignore = "downloads from Debian's archive"]
    fn fallback_to_the_newest_of_the_series() {
        let gone = Deb {
            name: "linux-libc-dev",
            version: "7.2.0-99",
            filename: "pool/main/l/linux/linux-libc-dev_7.2.0-99_all.deb",
            sha256: "",
        };
        let headers = pinned_or_series(&gone, "7.2", None).unwrap();
        assert_eq!(headers.version, "7.2.13-1");
        let gone = Deb {
            name: "linux-binary-7.2.0+deb13-cloud-amd64",
            version: "7.2.0-1~bpo13+1",
            filename: "pool/main/l/linux-signed-amd64/x.deb",
            sha256: "",
        };
        let image = pinned_or_series(&gone, "7.2", Some("-cloud-amd64")).unwrap();
        assert_eq!(
            (image.package.as_str(), image.version.as_str()),
            ("linux-binary-7.2.13+deb14-cloud-amd64", "7.2.13-1")
        );
        // Not in the index, not pinned: named as such.
        let err = package("linux-libc-dev", "5.99.1-1").unwrap_err();
        assert!(matches!(err, FetchError::NotInArchive { .. }), "{err}");
    }
}
