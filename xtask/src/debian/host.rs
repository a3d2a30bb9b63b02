//! What this machine must have: programs and files from Debian packages,
//! installed with `apt-get` when xtask runs as root on Debian, named (with
//! the command that installs them) otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::FetchError;

/// Whether the process runs as root (effective uid 0).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The full path of `tool` on `PATH`.
pub fn find_in_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// The path of `tool`; when it is missing and this is root on Debian,
/// installs the Debian package `package` first. Otherwise a
/// [`FetchError::MissingTool`] naming the package.
pub fn ensure_tool(tool: &str, package: &'static str) -> Result<PathBuf, FetchError> {
    if let Some(p) = find_in_path(tool) {
        return Ok(p);
    }
    install(tool, package)?;
    find_in_path(tool).ok_or_else(|| FetchError::MissingTool {
        tool: tool.to_owned(),
        package,
        detail: format!("still not on PATH after installing {package}"),
    })
}

/// `path` (a file that the Debian package `package` ships), installing the
/// package first when it is missing and this is root on Debian.
pub fn ensure_file(path: &Path, package: &'static str) -> Result<PathBuf, FetchError> {
    if !path.is_file() {
        install(&path.display().to_string(), package)?;
    }
    if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(FetchError::MissingTool {
            tool: path.display().to_string(),
            package,
            detail: format!("{package} does not ship it here"),
        })
    }
}

/// `apt-get install -y --no-install-recommends package` (with an
/// `apt-get update` and a second try when the first fails).
fn install(what: &str, package: &'static str) -> Result<(), FetchError> {
    let missing = |detail: &str| FetchError::MissingTool {
        tool: what.to_owned(),
        package,
        detail: detail.to_owned(),
    };
    if !is_root() {
        return Err(missing("xtask installs it only when run as root"));
    }
    if find_in_path("apt-get").is_none() {
        return Err(missing("no apt-get: not a Debian system"));
    }
    // One install at a time from this checkout (tests start several xtask
    // runs at once), and apt waits for other users of dpkg's lock.
    let root = super::cache_root();
    std::fs::create_dir_all(&root)
        .map_err(|e| FetchError::io(format!("creating {}", root.display()), e))?;
    let _lock = super::cache::Lock::take(&root.join("install.lock"))?;
    if Path::new(what).is_file() || find_in_path(what).is_some() {
        return Ok(());
    }
    eprintln!("xtask: {what} is missing; installing Debian's {package} with apt-get");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(["-o", "DPkg::Lock::Timeout=600"])
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    let args = ["install", "-y", "--no-install-recommends", package];
    if apt(&args) || (apt(&["update"]) && apt(&args)) {
        Ok(())
    } else {
        Err(missing("apt-get install failed; see its messages above"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tools_on_path() {
        assert!(find_in_path("sh").is_some());
        assert!(find_in_path("zcrx-no-such-tool").is_none());
    }
}
