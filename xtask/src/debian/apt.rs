//! `apt-get` / `apt-cache` with a private source list and private state under
//! `target/zcrx-cache/apt/`: the system's sources, lists, caches and hooks
//! are left alone, and it works unprivileged.
//!
//! Every source is `signed-by` Debian's archive keyring: `apt-get update`
//! accepts a suite's package index only when its `InRelease` carries a good
//! signature by one of the keyring's keys, and `apt-get download` accepts a
//! `.deb` only when its hash is the one that signed index lists. A failed
//! check is a [`FetchError::Refused`].

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use super::{FetchError, host, mirror};
use crate::pins;

/// How long downloaded package lists are re-used.
const LISTS_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// A private apt configuration rooted at one directory.
pub(super) struct Apt {
    dir: PathBuf,
}

/// What the signed index says about one package version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct IndexEntry {
    /// `Filename:` (the path under the mirror).
    pub(super) filename: String,
    /// `SHA256:` of the `.deb`.
    pub(super) sha256: String,
}

impl Apt {
    /// Sets up `dir` (sources.list signed by `keyring`, lists, cache, an
    /// empty dpkg status, a config file that clears the system's hooks).
    pub(super) fn new(dir: &Path, keyring: &Path) -> Result<Self, FetchError> {
        let mkdir = |p: PathBuf| {
            fs::create_dir_all(&p)
                .map_err(|e| FetchError::io(format!("creating {}", p.display()), e))
        };
        mkdir(dir.join("lists").join("partial"))?;
        mkdir(dir.join("cache").join("archives").join("partial"))?;
        let apt = Apt {
            dir: dir.to_path_buf(),
        };
        let mirror = mirror();
        let keyring = keyring.display();
        let sources: String = pins::SUITES
            .iter()
            .map(|s| format!("deb [signed-by={keyring} target=Packages] {mirror} {s} main\n"))
            .collect();
        let list = apt.dir.join("sources.list");
        if fs::read_to_string(&list).ok().as_deref() != Some(sources.as_str()) {
            // New or changed sources: the lists must be fetched again.
            let _ = fs::remove_file(apt.stamp());
            write(&list, &sources)?;
        }
        write(
            &apt.dir.join("apt.conf"),
            "#clear APT::Update::Post-Invoke;\n#clear APT::Update::Post-Invoke-Success;\n\
             #clear DPkg::Post-Invoke;\n",
        )?;
        if !apt.dir.join("status").exists() {
            write(&apt.dir.join("status"), "")?;
        }
        Ok(apt)
    }

    fn stamp(&self) -> PathBuf {
        self.dir.join("lists.updated")
    }

    /// The options that point apt at this directory, as arguments.
    pub(super) fn options(&self) -> Vec<String> {
        let d = self.dir.display();
        let mut o = vec!["-q".to_owned(), "-c".to_owned(), format!("{d}/apt.conf")];
        for kv in [
            format!("Dir::Etc::sourcelist={d}/sources.list"),
            "Dir::Etc::sourceparts=-".to_owned(),
            format!("Dir::State::Lists={d}/lists"),
            format!("Dir::State::status={d}/status"),
            format!("Dir::Cache={d}/cache"),
            "Debug::NoLocking=1".to_owned(),
            "Acquire::Languages=none".to_owned(),
            "Acquire::Retries=2".to_owned(),
        ] {
            o.push("-o".to_owned());
            o.push(kv);
        }
        if host::is_root() {
            // Root's apt drops to `_apt` for downloads, which may not write
            // into the workspace.
            o.push("-o".to_owned());
            o.push("APT::Sandbox::User=root".to_owned());
        }
        o
    }

    fn run(&self, tool: &str, args: &[&str], cwd: Option<&Path>) -> Result<Output, FetchError> {
        let mut cmd = Command::new(tool);
        cmd.args(self.options()).args(args).env("LC_ALL", "C");
        if let Some(cwd) = cwd {
            cmd.current_dir(cwd);
        }
        cmd.output()
            .map_err(|e| FetchError::io(format!("running {tool}"), e))
    }

    fn lists_present(&self) -> bool {
        fs::read_dir(self.dir.join("lists")).is_ok_and(|rd| {
            rd.flatten()
                .any(|e| e.file_name().to_string_lossy().contains("_Packages"))
        })
    }

    /// Runs `apt-get update` unless the lists are younger than a day (and
    /// `ZCRX_APT_REFRESH` is unset). An index that fails its signature check
    /// is refused; a network failure with usable old (verified) lists only
    /// warns.
    pub(super) fn ensure_lists(&self) -> Result<(), FetchError> {
        let fresh = fs::metadata(self.stamp())
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age < LISTS_MAX_AGE);
        let forced = std::env::var_os("ZCRX_APT_REFRESH").is_some_and(|v| v != "0");
        if fresh && !forced && self.lists_present() {
            return Ok(());
        }
        eprintln!(
            "xtask: updating the private package lists ({}: {})",
            mirror(),
            pins::SUITES.join(", ")
        );
        let out = self.run("apt-get", &["update"], None)?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if let Some(reason) = verification_failure(&stderr) {
            return Err(FetchError::Refused {
                what: format!("the package index of {}", mirror()),
                reason: format!(
                    "its signature does not check against Debian's archive keyring: {reason}"
                ),
            });
        }
        let failed = !out.status.success()
            || stderr
                .lines()
                .any(|l| l.starts_with("E:") || l.starts_with("W: Failed to fetch"));
        if !failed {
            return write(&self.stamp(), "");
        }
        let detail = last_lines(&stderr, 4);
        if self.lists_present() {
            eprintln!("xtask: warning: apt-get update failed, using the old lists: {detail}");
            Ok(())
        } else {
            Err(FetchError::Unreachable {
                url: mirror(),
                detail: format!("apt-get update failed: {detail}"),
            })
        }
    }

    /// Every version of `package` in the index.
    pub(super) fn versions(&self, package: &str) -> Result<Vec<String>, FetchError> {
        let out = self.run("apt-cache", &["madison", package], None)?;
        let mut versions: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut cols = l.split('|').map(str::trim);
                (cols.next() == Some(package))
                    .then(|| cols.next())
                    .flatten()
                    .map(str::to_owned)
            })
            .collect();
        versions.dedup();
        Ok(versions)
    }

    /// Every package name in the index starting with `prefix`.
    pub(super) fn pkgnames(&self, prefix: &str) -> Result<Vec<String>, FetchError> {
        let out = self.run("apt-cache", &["pkgnames", prefix], None)?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with(prefix))
            .map(str::to_owned)
            .collect())
    }

    /// The index's `Filename` and `SHA256` of `package` at `version`, or
    /// `None` when the index does not have that version.
    pub(super) fn show(
        &self,
        package: &str,
        version: &str,
    ) -> Result<Option<IndexEntry>, FetchError> {
        let spec = format!("{package}={version}");
        let out = self.run("apt-cache", &["show", &spec], None)?;
        Ok(parse_show(&String::from_utf8_lossy(&out.stdout)))
    }

    /// `apt-get download package=version` into `dir`; returns the file.
    /// apt checks it against the signed index.
    pub(super) fn download(
        &self,
        package: &str,
        version: &str,
        dir: &Path,
    ) -> Result<PathBuf, FetchError> {
        eprintln!("xtask: downloading {package} {version}");
        let spec = format!("{package}={version}");
        let out = self.run("apt-get", &["download", &spec], Some(dir))?;
        downloaded(dir, &out, (package, version), &spec)
    }

    /// `url` into `dir/name`, with apt's own transport, which checks it
    /// against `sha256` (apt-helper download-file); returns the file.
    pub(super) fn download_file(
        &self,
        deb: &pins::Deb,
        url: &str,
        dir: &Path,
    ) -> Result<PathBuf, FetchError> {
        eprintln!("xtask: downloading {url} (SHA-256 pinned)");
        let hash = format!("SHA256:{}", deb.sha256);
        let out = self.run(
            "/usr/lib/apt/apt-helper",
            &["download-file", url, "pool.deb", &hash],
            Some(dir),
        )?;
        downloaded(dir, &out, (deb.name, deb.version), url)
    }
}

/// The `.deb` an apt download left in `dir`, or the error its messages
/// name.
fn downloaded(
    dir: &Path,
    out: &Output,
    (package, version): (&str, &str),
    what: &str,
) -> Result<PathBuf, FetchError> {
    let stderr = &*String::from_utf8_lossy(&out.stderr);
    let deb = fs::read_dir(dir).ok().and_then(|rd| {
        rd.flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "deb"))
    });
    if let Some(reason) = verification_failure(stderr) {
        return Err(FetchError::Refused {
            what: what.to_owned(),
            reason: format!("it is not the file the pins or the signed index name: {reason}"),
        });
    }
    match deb {
        Some(deb) if out.status.success() => Ok(deb),
        _ if is_network_error(stderr) && !stderr.contains("404") => Err(FetchError::Unreachable {
            url: mirror(),
            detail: format!("{what}: {}", last_lines(stderr, 4)),
        }),
        _ => Err(FetchError::NotInArchive {
            package: package.to_owned(),
            version: version.to_owned(),
            detail: format!("{what}: {}", last_lines(stderr, 4)),
        }),
    }
}

/// The first line of apt's messages that reports a failed signature or
/// hash check, if any.
fn verification_failure(stderr: &str) -> Option<String> {
    const MARKERS: [&str; 10] = [
        "GPG error",
        "is not signed",
        "NO_PUBKEY",
        "BADSIG",
        "EXPKEYSIG",
        "REVKEYSIG",
        "signature verification failed",
        "Hash Sum mismatch",
        "be authenticated",
        "without authentication",
    ];
    stderr
        .lines()
        .find(|l| MARKERS.iter().any(|m| l.contains(m)))
        .map(|l| l.trim().to_owned())
}

/// `Filename:` and `SHA256:` of the first stanza of `apt-cache show`.
fn parse_show(text: &str) -> Option<IndexEntry> {
    let stanza = text.split("\n\n").next()?;
    let field = |name: &str| {
        stanza
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(|v| v.trim().to_owned())
    };
    Some(IndexEntry {
        filename: field("Filename")?,
        sha256: field("SHA256")?.to_ascii_lowercase(),
    })
}

fn is_network_error(stderr: &str) -> bool {
    [
        "Failed to fetch",
        "Could not resolve",
        "Could not connect",
        "Temporary failure",
        "Connection failed",
        "timed out",
    ]
    .iter()
    .any(|p| stderr.contains(p))
}

fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    let joined = lines[start..].join(" / ");
    if joined.is_empty() {
        "(no message)".to_owned()
    } else {
        joined
    }
}

pub(super) fn write(path: &Path, contents: &str) -> Result<(), FetchError> {
    fs::write(path, contents).map_err(|e| FetchError::io(format!("writing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_errors() {
        assert!(is_network_error(
            "E: Failed to fetch http://x/y  Could not resolve 'x'"
        ));
        assert!(!is_network_error(
            "E: Version '1' for 'linux-libc-dev' was not found"
        ));
        assert_eq!(last_lines("a\n\nb\nc\n", 2), "b / c");
        assert_eq!(last_lines("", 2), "(no message)");
    }

    #[test]
    fn verification_failures_are_recognised() {
        // apt 2.6 (gpgv) on a tampered InRelease.
        let bad = "W: GPG error: file:/m trixie InRelease: The following signatures were \
                   invalid: BADSIG 6ED0E7B82643E131 Debian Archive Automatic Signing Key\n\
                   E: The repository 'file:/m trixie InRelease' is not signed.\n";
        assert!(verification_failure(bad).unwrap().contains("BADSIG"));
        // A key the keyring lacks.
        assert!(verification_failure("W: GPG error: x: NO_PUBKEY 1234\n").is_some());
        // apt-helper with a wrong pinned hash.
        let hash = "Err:1 http://x/y.deb\n  Hash Sum mismatch\n";
        assert_eq!(verification_failure(hash).unwrap(), "Hash Sum mismatch");
        assert_eq!(
            verification_failure("E: Failed to fetch http://x  404  Not Found"),
            None
        );
    }

    #[test]
    fn index_entries() {
        let text = "Package: linux-libc-dev\nVersion: 7.2.13-1\n\
                    Filename: pool/main/l/linux/linux-libc-dev_7.2.13-1_all.deb\nSize: 1\n\
                    SHA256: 8B33C2\n\nPackage: linux-libc-dev\nFilename: other\nSHA256: 00\n";
        assert_eq!(
            parse_show(text),
            Some(IndexEntry {
                filename: "pool/main/l/linux/linux-libc-dev_7.2.13-1_all.deb".into(),
                sha256: "8b33c2".into(),
            })
        );
        assert_eq!(parse_show(""), None);
    }

    #[test]
    fn a_pool_file_with_another_hash_is_refused() {
        if !Path::new("/usr/lib/apt/apt-helper").is_file() {
            eprintln!("SKIPPED: no /usr/lib/apt/apt-helper (not a Debian system)");
            return;
        }
        let dir = std::env::temp_dir().join(format!("zcrx-apt-test-{}", std::process::id()));
        let (out, good) = (dir.join("out"), dir.join("good"));
        fs::create_dir_all(&out).unwrap();
        fs::create_dir_all(&good).unwrap();
        fs::write(dir.join("pool.deb"), b"abc").unwrap();
        let apt = Apt::new(&dir.join("apt"), Path::new(super::super::KEYRING)).unwrap();
        let url = format!("file://{}/pool.deb", dir.display());
        let mut deb = pins::Deb {
            name: "zcrx-test",
            version: "1",
            filename: "pool.deb",
            // SHA-256("abd"): not this file.
            sha256: "a52d159f262b2c6ddb724a61840befc36eb30c88877a4030b65cbe86298449c9",
        };
        let e = apt.download_file(&deb, &url, &out).unwrap_err();
        assert!(matches!(e, FetchError::Refused { .. }), "{e}");
        assert!(e.to_string().contains("Hash Sum mismatch"), "{e}");
        // SHA-256("abc").
        deb.sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let file = apt.download_file(&deb, &url, &good).unwrap();
        assert_eq!(fs::read(file).unwrap(), b"abc");
        let _ = fs::remove_dir_all(&dir);
    }
}
