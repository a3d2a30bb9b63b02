//! Building `testbed/zcrx-sim` for one pinned kernel: Debian's headers and
//! kbuild packages of that kernel, its compiler in a build root of the
//! suite that built it, and a cache keyed by the module's sources and the
//! kernel, so that only a change rebuilds.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::buildroot::{self, Bind, Lock, tail_of};
use crate::debian::{self, Fetched, workspace_root};
use crate::pins::{KernelPin, ModuleBuild};
use crate::vm::Error;

/// The module's file name.
pub const MODULE_FILE: &str = "zcrx_sim.ko";

/// Where the module's sources are, relative to the workspace.
pub const SOURCE_DIR: &str = "testbed/zcrx-sim";

/// The gcc a kernel was built with, from `CONFIG_CC_VERSION_TEXT` in its
/// config: `"x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0"` → `gcc-14`.
pub fn compiler_of(config: &str) -> Option<String> {
    let line = config
        .lines()
        .find_map(|l| l.strip_prefix("CONFIG_CC_VERSION_TEXT=\""))?;
    let first = line.split_whitespace().next()?;
    let name = first.rsplit('/').next()?;
    let gcc = name.strip_prefix("x86_64-linux-gnu-").unwrap_or(name);
    let major = gcc.strip_prefix("gcc-")?;
    (!major.is_empty() && major.chars().all(|c| c.is_ascii_digit())).then(|| gcc.to_owned())
}

/// A built module.
#[derive(Debug, Clone)]
pub struct BuiltModule {
    /// The `.ko`.
    pub ko: PathBuf,
    /// The kernel release it is for.
    pub release: String,
    /// The compiler it was built with.
    pub compiler: String,
    /// Whether it came from the cache.
    pub cached: bool,
}

/// The module's source files (name, contents), sorted.
fn sources() -> Result<Vec<(String, Vec<u8>)>, Error> {
    let dir = workspace_root().join(SOURCE_DIR);
    let mut files = Vec::new();
    let rd = fs::read_dir(&dir).map_err(|e| Error::env(format!("{}: {e}", dir.display())))?;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let wanted =
            name.ends_with(".c") || name.ends_with(".h") || name == "Kbuild" || name == "Makefile";
        if wanted && e.path().is_file() {
            let data = fs::read(e.path())
                .map_err(|err| Error::env(format!("{}: {err}", e.path().display())))?;
            files.push((name, data));
        }
    }
    if !files.iter().any(|(n, _)| n == "Kbuild") {
        return Err(Error::env(format!(
            "{}: no Kbuild file; is this the zcrx workspace?",
            dir.display()
        )));
    }
    files.sort();
    Ok(files)
}

/// The pinned headers, common headers and kbuild packages of a kernel,
/// through the verified fetcher (signed index, pinned SHA-256).
fn fetch_all(b: &ModuleBuild) -> Result<[Fetched; 3], Error> {
    Ok([
        debian::package(b.headers.name, b.headers.version)?,
        debian::package(b.headers_common.name, b.headers_common.version)?,
        debian::package(b.kbuild.name, b.kbuild.version)?,
    ])
}

/// Builds the module for `pin` (or returns the cached build).
pub fn build(pin: &'static KernelPin) -> Result<BuiltModule, Error> {
    let release = pin.release().to_owned();
    let pkgs = pin.module_build.as_ref().ok_or_else(|| {
        Error::env(format!(
            "no module-build packages are pinned for {pin} (xtask/src/pins.rs)"
        ))
    })?;
    let srcs = sources()?;
    let suite = pkgs.build_suite;

    let mut h = DefaultHasher::new();
    srcs.hash(&mut h);
    (&release, pkgs.headers.sha256, pkgs.kbuild.sha256, suite).hash(&mut h);
    let key = format!("{:016x}", h.finish());
    let out_dir = debian::cache_root()
        .join("nic-module")
        .join(&release)
        .join(&key);
    let ko = out_dir.join(MODULE_FILE);
    let compiler_file = out_dir.join("compiler");
    if ko.is_file() {
        return Ok(BuiltModule {
            ko,
            release,
            compiler: fs::read_to_string(&compiler_file).unwrap_or_default(),
            cached: true,
        });
    }

    let t = Instant::now();
    let [headers, common, kbuild] = fetch_all(pkgs)?;
    let headers_dir = format!("/usr/src/{}", pkgs.headers.name);
    let common_dir = format!("/usr/src/{}", pkgs.headers_common.name);
    let kbuild_dir = format!("/usr/lib/{}", pkgs.kbuild.name);
    let config_path = headers
        .dir
        .join(headers_dir.trim_start_matches('/'))
        .join(".config");
    let config = fs::read_to_string(&config_path).map_err(|e| {
        Error::env(format!(
            "{} {}: no kernel config at {}: {e}",
            pkgs.headers.name,
            pkgs.headers.version,
            config_path.display()
        ))
    })?;
    let compiler = compiler_of(&config).ok_or_else(|| {
        Error::env(format!(
            "{}: CONFIG_CC_VERSION_TEXT names no gcc-N",
            config_path.display()
        ))
    })?;
    let root = buildroot::ensure(suite, &compiler)?;

    let _lock = Lock::take(&out_dir.with_extension("lock"))?;
    if ko.is_file() {
        return Ok(BuiltModule {
            ko,
            release,
            compiler,
            cached: true,
        });
    }
    let work = out_dir.with_extension(format!("build{}", std::process::id()));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work)
        .map_err(|e| Error::env(format!("creating {}: {e}", work.display())))?;
    for (name, data) in &srcs {
        fs::write(work.join(name), data)
            .map_err(|e| Error::env(format!("writing {}: {e}", work.join(name).display())))?;
    }
    let binds = [
        bind(&headers, &headers_dir),
        bind(&common, &common_dir),
        bind(&kbuild, &kbuild_dir),
        Bind {
            host: work.clone(),
            inside: "/build".to_owned(),
        },
    ];
    let log = work.join("build.log");
    eprintln!(
        "xtask: building {MODULE_FILE} for {release} with {compiler} in the {suite} build root"
    );
    let make = ["make", "-C", &headers_dir, "M=/build", "-j2", "modules"];
    let strip = [
        "x86_64-linux-gnu-strip",
        "--strip-debug",
        "/build/zcrx_sim.ko",
    ];
    if !root.run(&binds, &make, &log)? || !root.run(&binds, &strip, &work.join("strip.log"))? {
        return Err(Error::env(format!(
            "building {MODULE_FILE} for {release} failed: {} (full log: {})",
            tail_of(&log, 8),
            log.display()
        )));
    }
    check_vermagic(&work.join(MODULE_FILE), &release)?;
    fs::create_dir_all(&out_dir)
        .map_err(|e| Error::env(format!("creating {}: {e}", out_dir.display())))?;
    fs::copy(&log, out_dir.join("build.log"))
        .map_err(|e| Error::env(format!("keeping the build log: {e}")))?;
    fs::write(&compiler_file, &compiler)
        .map_err(|e| Error::env(format!("writing {}: {e}", compiler_file.display())))?;
    let tmp = out_dir.join(format!("{MODULE_FILE}.tmp"));
    fs::copy(work.join(MODULE_FILE), &tmp)
        .and_then(|_| fs::rename(&tmp, &ko))
        .map_err(|e| Error::env(format!("storing {}: {e}", ko.display())))?;
    let _ = fs::remove_dir_all(&work);
    prune_older_builds(&out_dir);
    eprintln!(
        "xtask: built {} in {:.1} s",
        ko.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(BuiltModule {
        ko,
        release,
        compiler,
        cached: false,
    })
}

/// Removes the builds of older sources for the same kernel (untouched for
/// ten minutes, so that a concurrent run's build is left alone).
fn prune_older_builds(keep: &Path) {
    let Some(parent) = keep.parent() else { return };
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let stale = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > 600);
        if path != keep && path.is_dir() && path.join(MODULE_FILE).is_file() && stale {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

fn bind(pkg: &Fetched, inside: &str) -> Bind {
    Bind {
        host: pkg.dir.join(inside.trim_start_matches('/')),
        inside: inside.to_owned(),
    }
}

/// Checks that the module says it is for `release` (`vermagic=<release> ...`).
fn check_vermagic(ko: &Path, release: &str) -> Result<(), Error> {
    let data = fs::read(ko).map_err(|e| Error::env(format!("{}: {e}", ko.display())))?;
    let want = format!("vermagic={release} ");
    if data.windows(want.len()).any(|w| w == want.as_bytes()) {
        Ok(())
    } else {
        Err(Error::env(format!(
            "{}: built, but its vermagic is not for {release}",
            ko.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pins;

    #[test]
    fn the_pinned_packages_match_the_kernel_release() {
        // The kbuild Makefile names its directories after these packages.
        for (series, base) in [("7.3", "7.3.4+deb13"), ("7.2", "7.2.13+deb14")] {
            let pin = pins::pin(series).unwrap();
            let b = pin.module_build.as_ref().unwrap();
            assert_eq!(b.headers.name, format!("linux-headers-{}", pin.release()));
            assert_eq!(
                b.headers_common.name,
                format!("linux-headers-{base}-common")
            );
            assert_eq!(b.kbuild.name, format!("linux-kbuild-{base}"));
        }
    }

    #[test]
    fn compiler_from_config() {
        let c =
            "X=1\nCONFIG_CC_VERSION_TEXT=\"x86_64-linux-gnu-gcc-16 (Debian 16.2.0-4) 16.2.0\"\n";
        assert_eq!(compiler_of(c).as_deref(), Some("gcc-16"));
        let c = "CONFIG_CC_VERSION_TEXT=\"gcc-14 (Debian 14.2.0-19) 14.2.0\"\n";
        assert_eq!(compiler_of(c).as_deref(), Some("gcc-14"));
        assert_eq!(
            compiler_of("CONFIG_CC_VERSION_TEXT=\"clang version 19\"\n"),
            None
        );
        assert_eq!(compiler_of(""), None);
    }

    #[test]
    fn the_module_sources_are_found() {
        let s = sources().unwrap();
        assert!(s.iter().any(|(n, _)| n == "main.c"));
        for (name, data) in &s {
            if name.ends_with(".c") {
                assert!(
                    data.starts_with(b"// SPDX-License-Identifier: GPL-2.0-only\n"),
                    "{name} must start with the GPL-2.0-only SPDX line"
                );
            }
        }
    }
}
