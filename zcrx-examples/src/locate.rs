//! Finding the example programs: the demo driver and the tests start
//! `zcrx-recv` and `zcrx-send` as separate processes.

use std::path::{Path, PathBuf};

/// The environment variable that names the directory holding the programs
/// (overrides the search).
pub const BIN_DIR_VAR: &str = "ZCRX_EXAMPLES_BIN_DIR";

/// Where program `name` is: in `$ZCRX_EXAMPLES_BIN_DIR`, else next to
/// `beside` (typically the running executable), else in the parent of that
/// directory (cargo puts test executables in `target/<profile>/deps/` and
/// programs in `target/<profile>/`). Returns every place tried when it is
/// in none of them.
pub fn program(name: &str, beside: Option<&Path>) -> Result<PathBuf, String> {
    let mut tried = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os(BIN_DIR_VAR) {
        dirs.push(PathBuf::from(dir));
    }
    if let Some(dir) = beside.and_then(Path::parent) {
        dirs.push(dir.to_path_buf());
        if let Some(up) = dir.parent() {
            dirs.push(up.to_path_buf());
        }
    }
    for dir in dirs {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
        tried.push(candidate.display().to_string());
    }
    Err(format!(
        "cannot find the program {name} (tried {}; set {BIN_DIR_VAR} to its directory)",
        if tried.is_empty() {
            "nothing".to_owned()
        } else {
            tried.join(", ")
        }
    ))
}

/// Where program `name` is, searching next to the running executable.
pub fn sibling(name: &str) -> Result<PathBuf, String> {
    let me = std::env::current_exe().ok();
    program(name, me.as_deref())
}
