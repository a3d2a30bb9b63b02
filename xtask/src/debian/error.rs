//! [`FetchError`]: why a Debian package could not be obtained.

use std::io;

/// Why a package could not be obtained. Every variant names the cause;
/// callers print it and exit with [`FetchError::EXIT_CODE`] (2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// A program or file this needs is not installed, and could not be
    /// installed (not root, or not a Debian system).
    #[error("`{tool}` is not installed ({detail}); install it with `apt-get install -y {package}`")]
    MissingTool {
        /// The program (`dpkg-deb`, `clang`) or file (the keyring).
        tool: String,
        /// The Debian package that provides it.
        package: &'static str,
        /// Why it was not installed here.
        detail: String,
    },
    /// The registry could not be reached.
    #[error("the Debian registry is unreachable ({url}): {detail}")]
    Unreachable {
        /// The URL or mirror.
        url: String,
        /// What the tool said.
        detail: String,
    },
    /// The package (at that version, or any of its series) is not in the
    /// archive.
    #[error("{package} {version} is not in the Debian archive: {detail}")]
    NotInArchive {
        /// The package.
        package: String,
        /// The version asked for.
        version: String,
        /// Where it was looked for.
        detail: String,
    },
    /// A download or a cached file failed verification: a package index
    /// whose signature does not check against Debian's archive keyring, or
    /// a `.deb` whose SHA-256 is not the one pinned or signed. Nothing of it
    /// is used.
    #[error("refused {what}: {reason}")]
    Refused {
        /// What was refused (a file, an index).
        what: String,
        /// Why (the expected and actual hashes, apt's complaint).
        reason: String,
    },
    /// The package was obtained but does not hold what was expected.
    #[error("{package} {version}: {reason}")]
    BadPackage {
        /// The package.
        package: String,
        /// Its version.
        version: String,
        /// What is wrong.
        reason: String,
    },
    /// A local file operation or tool failed.
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: String,
        /// The error.
        source: io::Error,
    },
}

impl FetchError {
    /// The process exit code for these errors: a bad environment or a
    /// refused download, not a test failure.
    pub const EXIT_CODE: u8 = 2;

    pub(crate) fn io(action: impl Into<String>, source: io::Error) -> Self {
        FetchError::Io {
            action: action.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_cause() {
        let e = FetchError::MissingTool {
            tool: "dpkg-deb".into(),
            package: "dpkg",
            detail: "not root".into(),
        };
        assert!(e.to_string().contains("apt-get install -y dpkg"), "{e}");
        assert!(e.to_string().contains("not root"), "{e}");
        let e = FetchError::Unreachable {
            url: "http://x".into(),
            detail: "timeout".into(),
        };
        assert!(e.to_string().contains("unreachable"));
        let e = FetchError::Refused {
            what: "x.deb".into(),
            reason: "SHA-256 is 00, not ff".into(),
        };
        assert_eq!(e.to_string(), "refused x.deb: SHA-256 is 00, not ff");
    }
}
