//! `apt-get` / `apt-cache` with a private source list and private state under
//! `target/zcrx-cache/apt/`: the system's sources, lists, caches and hooks
//! are left alone, and it works unprivileged.

use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use super::{FetchError, mirror};
use crate::pins;

/// How long downloaded package lists are re-used.
const LISTS_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// A private apt configuration rooted at one directory.
pub(super) struct Apt {
    dir: PathBuf,
}

impl Apt {
    /// Sets up `dir` (sources.list, lists, cache, an empty dpkg status, a
    /// config file that clears the system's update hooks).
    pub(super) fn new(dir: &Path) -> Result<Self, FetchError> {
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
        let sources: String = pins::SUITES
            .iter()
            .map(|s| format!("deb [trusted=yes target=Packages] {mirror} {s} main\n"))
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

    fn options(&self) -> Vec<String> {
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
        if is_root() {
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
    /// `ZCRX_APT_REFRESH` is unset). A failed update with usable old lists
    /// only warns.
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

    /// `apt-get download package=version` into `dir`; returns the file.
    pub(super) fn download(
        &self,
        package: &str,
        version: &str,
        dir: &Path,
    ) -> Result<PathBuf, FetchError> {
        eprintln!("xtask: downloading {package} {version}");
        let spec = format!("{package}={version}");
        let out = self.run("apt-get", &["download", &spec], Some(dir))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let deb = fs::read_dir(dir).ok().and_then(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "deb"))
        });
        match deb {
            Some(deb) if out.status.success() => Ok(deb),
            _ if is_network_error(&stderr) => Err(FetchError::Unreachable {
                url: mirror(),
                detail: format!("apt-get download {spec}: {}", last_lines(&stderr, 4)),
            }),
            _ => Err(FetchError::NotInArchive {
                package: package.to_owned(),
                version: version.to_owned(),
                detail: format!("apt-get download: {}", last_lines(&stderr, 4)),
            }),
        }
    }
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

fn write(path: &Path, contents: &str) -> Result<(), FetchError> {
    fs::write(path, contents).map_err(|e| FetchError::io(format!("writing {}", path.display()), e))
}

/// Whether the process runs as root.
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
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
            // SAFETY: flock on a file descriptor owned by `file`, alive for
            // the call.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(Lock { _file: file });
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(FetchError::io(format!("locking {}", path.display()), err));
            }
        }
    }
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
}
