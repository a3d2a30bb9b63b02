//! Tampered downloads are refused with exit status 2, as `cargo xtask`
//! runs: a corrupted cached `.deb`, a package index (`InRelease`) whose
//! signature no longer checks, and one without a signature. Each case has a
//! control that differs from it only in the tampering.
//!
//! The genuine files come from the workspace cache (`cargo xtask fetch`
//! fills it, from the network or from what is cached); where that fails the
//! test is skipped with the reason printed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The pinned 7.2 uapi headers (in the index: sid).
const NAME: &str = "linux-libc-dev";
const VERSION: &str = "7.2.13-1";
const SHA256: &str = "8b33c2a408bbab537e753102dce181dc211007f64c1e2516065bc677f60d5d99";

fn xtask() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A fresh, empty directory under the test target's temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// `cargo xtask fetch ARGS`: its stdout lines, or `None` (skip) when it
/// cannot run here.
fn fetch(args: &[&str]) -> Option<Vec<String>> {
    let out = xtask().arg("fetch").args(args).output().expect("run xtask");
    if !out.status.success() {
        eprintln!("SKIPPED: cargo xtask fetch {args:?} failed: {}", text(&out));
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

/// Runs `check-abi --print-headers-dir --kernel-version 7.2` on a cache
/// directory of its own (and optionally another mirror).
fn headers_dir_with(cache: &Path, mirror: Option<&Path>) -> Output {
    let mut cmd = xtask();
    cmd.env("ZCRX_CACHE_DIR", cache)
        .env_remove("ZCRX_APT_REFRESH")
        .args([
            "check-abi",
            "--print-headers-dir",
            "--kernel-version",
            "7.2",
        ]);
    if let Some(m) = mirror {
        cmd.env("ZCRX_DEBIAN_MIRROR", format!("file://{}", m.display()));
    }
    cmd.output().unwrap()
}

#[test]
fn a_corrupted_cached_deb_is_refused() {
    let Some(lines) = fetch(&[&format!("{NAME}={VERSION}")]) else {
        return;
    };
    let deb = PathBuf::from(lines[0].split(' ').nth(4).unwrap());
    let file = deb.file_name().unwrap().to_owned();

    // Control: an intact copy in a cache of its own is used without network.
    let good = scratch("cache-good");
    fs::create_dir_all(good.join("debs")).unwrap();
    fs::copy(&deb, good.join("debs").join(&file)).unwrap();
    let out = headers_dir_with(&good, Some(Path::new("/nonexistent-mirror")));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // One byte changed.
    let bad = scratch("cache-bad");
    fs::create_dir_all(bad.join("debs")).unwrap();
    let copy = bad.join("debs").join(&file);
    let mut bytes = fs::read(&deb).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(&copy, bytes).unwrap();
    let out = headers_dir_with(&bad, Some(Path::new("/nonexistent-mirror")));
    let all = text(&out);
    println!("{all}");
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("refused"), "{all}");
    assert!(all.contains(&format!("not {SHA256} as pinned")), "{all}");
    assert!(!all.contains("panicked"), "{all}");
    // Nothing of it was extracted, and it was moved aside.
    assert!(!copy.exists());
    assert!(copy.with_extension("deb.rejected").is_file());
    assert!(!bad.join("pkgs").join(format!("{NAME}_{VERSION}")).exists());
}

/// A `file:` mirror whose suites carry `inrelease(suite, genuine text)` as
/// their `InRelease` (and nothing else).
fn mirror_with(name: &str, lists: &Path, inrelease: impl Fn(&str) -> String) -> PathBuf {
    let mirror = scratch(name);
    for suite in ["trixie-backports", "trixie", "sid"] {
        let genuine = fs::read_dir(lists)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .ends_with(&format!("_dists_{suite}_InRelease"))
            })
            .unwrap_or_else(|| panic!("no {suite} InRelease in {}", lists.display()));
        let dir = mirror.join("dists").join(suite);
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("InRelease"),
            inrelease(&fs::read_to_string(genuine).unwrap()),
        )
        .unwrap();
    }
    mirror
}

#[test]
fn a_package_index_with_a_broken_or_missing_signature_is_refused() {
    let Some(lines) = fetch(&["--lists"]) else {
        return;
    };
    let lists = PathBuf::from(&lines[0]);

    // Control: the genuine, signed files pass the signature check; the run
    // then fails for want of the package lists this mirror does not have.
    let genuine = mirror_with("mirror-genuine", &lists, str::to_owned);
    let out = headers_dir_with(&scratch("cache-genuine"), Some(&genuine));
    let all = text(&out);
    println!("{all}");
    assert!(!all.contains("refused"), "{all}");
    assert!(all.contains("Failed to fetch"), "{all}");

    // One character of the signed text changed: a bad signature.
    let tampered = mirror_with("mirror-tampered", &lists, |s| {
        s.replacen("\nDate: ", "\nDate:  ", 1)
    });
    let out = headers_dir_with(&scratch("cache-tampered"), Some(&tampered));
    let all = text(&out);
    println!("{all}");
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("refused the package index"), "{all}");
    assert!(all.contains("BADSIG"), "{all}");

    // The signature taken off: unsigned.
    let unsigned = mirror_with("mirror-unsigned", &lists, |s| {
        let body = s.split_once("\n\n").map_or(s, |(_, b)| b);
        body.split("\n-----BEGIN PGP SIGNATURE-----")
            .next()
            .unwrap_or(body)
            .to_owned()
            + "\n"
    });
    let out = headers_dir_with(&scratch("cache-unsigned"), Some(&unsigned));
    let all = text(&out);
    println!("{all}");
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("refused the package index"), "{all}");
    assert!(!all.contains("panicked"), "{all}");
}
