//! The package cache under `target/zcrx-cache/`: verified `.deb` files in
//! `debs/`, their extracted trees in `pkgs/`, and the lock that serialises
//! concurrent xtask runs.
//!
//! A cached `.deb` is checked against its expected SHA-256 every time it is
//! used; one that differs is moved aside (`*.rejected`) and refused. An
//! extracted tree is used only while the stamp beside it names the SHA-256
//! of the `.deb` it came from, and is otherwise extracted again.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::{FetchError, cache_root};

/// The cached `.deb` of `package` at `version`.
pub(super) fn deb_path(package: &str, version: &str) -> PathBuf {
    cache_root()
        .join("debs")
        .join(format!("{}.deb", file_stem(package, version)))
}

/// The extracted tree of `package` at `version`.
pub(super) fn extracted_dir(package: &str, version: &str) -> PathBuf {
    cache_root().join("pkgs").join(file_stem(package, version))
}

/// The file beside a cached `.deb` that records the SHA-256 the signed
/// index gave for it (for versions the pins do not name).
pub(super) fn index_hash_path(deb: &Path) -> PathBuf {
    deb.with_extension("deb.sha256")
}

fn stamp_path(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".sha256");
    dir.with_file_name(name)
}

fn file_stem(package: &str, version: &str) -> String {
    format!("{package}_{}", version.replace(':', "%3a"))
}

/// The SHA-256 of a file, lowercase hex.
pub(super) fn sha256_file(path: &Path) -> Result<String, FetchError> {
    let read = |e| FetchError::io(format!("reading {}", path.display()), e);
    let mut file = File::open(path).map_err(read)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read(e)),
        };
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Checks that `deb` has the SHA-256 `expected` (named `source` in the
/// message: "pinned in xtask/src/pins.rs", "in the signed index"). A file
/// that differs is renamed to `*.rejected` (so that the next run downloads
/// it again) and refused.
pub(super) fn verify(deb: &Path, expected: &str, source: &str) -> Result<(), FetchError> {
    let actual = sha256_file(deb)?;
    if actual.eq_ignore_ascii_case(expected) {
        return Ok(());
    }
    let rejected = deb.with_extension("deb.rejected");
    let moved = match fs::rename(deb, &rejected) {
        Ok(()) => format!("moved to {}", rejected.display()),
        Err(e) => format!("could not be moved aside: {e}"),
    };
    Err(FetchError::Refused {
        what: deb.display().to_string(),
        reason: format!(
            "its SHA-256 is {actual}, not {expected} as {source}: the file is corrupt or has \
             been tampered with; nothing of it was used ({moved})"
        ),
    })
}

/// Moves a verified download into the cache.
pub(super) fn store(download: &Path, deb: &Path) -> Result<(), FetchError> {
    if let Some(dir) = deb.parent() {
        fs::create_dir_all(dir)
            .map_err(|e| FetchError::io(format!("creating {}", dir.display()), e))?;
    }
    fs::rename(download, deb).map_err(|e| {
        FetchError::io(
            format!("moving {} to {}", download.display(), deb.display()),
            e,
        )
    })
}

/// The extracted tree of a verified `.deb` whose SHA-256 is `sha256`:
/// the cached one if its stamp matches, else `dpkg-deb -x` into `tmp` and
/// renamed into place, so an interrupted run never leaves a half tree.
pub(super) fn extract(
    deb: &Path,
    sha256: &str,
    package: &str,
    version: &str,
    tmp: &Path,
) -> Result<PathBuf, FetchError> {
    let dir = extracted_dir(package, version);
    let stamp = stamp_path(&dir);
    if dir.is_dir() && fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == sha256) {
        return Ok(dir);
    }
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
    let _ = fs::remove_file(&stamp);
    if dir.exists() {
        fs::remove_dir_all(&dir)
            .map_err(|e| FetchError::io(format!("removing {}", dir.display()), e))?;
    }
    store(&staging, &dir)?;
    super::apt::write(&stamp, sha256)?;
    Ok(dir)
}

/// An exclusive `flock` on a file, released on drop: serialises concurrent
/// `xtask` runs that fetch into the same cache.
pub(super) struct Lock {
    _file: File,
}

impl Lock {
    /// Blocks until the lock on `path` is ours.
    pub(super) fn take(path: &Path) -> Result<Self, FetchError> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| FetchError::io(format!("opening {}", path.display()), e))?;
        loop {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive) {
                Ok(()) => return Ok(Lock { _file: file }),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    return Err(FetchError::io(
                        format!("locking {}", path.display()),
                        e.into(),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_with_another_hash_is_refused_and_moved_aside() {
        let dir = std::env::temp_dir().join(format!("zcrx-cache-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let deb = dir.join("x.deb");
        fs::write(&deb, b"abc").unwrap();
        // SHA-256("abc").
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(sha256_file(&deb).unwrap(), abc);
        verify(&deb, abc, "pinned").unwrap();
        fs::write(&deb, b"abd").unwrap();
        let e = verify(&deb, abc, "pinned in pins.rs").unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, FetchError::Refused { .. }), "{msg}");
        assert!(
            msg.contains(&format!("not {abc} as pinned in pins.rs")),
            "{msg}"
        );
        assert!(!deb.exists());
        assert!(dir.join("x.deb.rejected").is_file());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn cache_names() {
        let d = deb_path("linux-libc-dev", "1:7.3-1");
        assert!(
            d.ends_with("debs/linux-libc-dev_1%3a7.3-1.deb"),
            "{}",
            d.display()
        );
        assert!(index_hash_path(&d).ends_with("debs/linux-libc-dev_1%3a7.3-1.deb.sha256"));
        let x = extracted_dir("linux-libc-dev", "7.3.4-1~bpo13+1");
        assert!(x.ends_with("pkgs/linux-libc-dev_7.3.4-1~bpo13+1"));
        assert!(stamp_path(&x).ends_with("pkgs/linux-libc-dev_7.3.4-1~bpo13+1.sha256"));
    }
}
