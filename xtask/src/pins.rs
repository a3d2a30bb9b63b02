//! The one place where the Debian package versions this project uses are pinned.
