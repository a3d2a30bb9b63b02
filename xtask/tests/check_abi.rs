//! `cargo xtask check-abi` run as a program: it passes on the pinned
//! headers, fails naming the items on perturbed headers, and reports bad
//! input with exit status 2.
//!
//! The headers are located the way the command does it
//! (`check-abi --print-headers-dir`, which fetches and verifies the pinned
//! package into `target/zcrx-cache` if needed). Where that fails (no
//! registry and no cache), the test is skipped with the reason printed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// The include directory of a pinned series (`"7.3"`), or `None` (skip).
fn pinned_headers(series: &str) -> Option<PathBuf> {
    let out = xtask()
        .args(["check-abi", "--print-headers-dir", "--kernel-version"])
        .arg(series)
        .output()
        .expect("run xtask");
    if out.status.success() {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        return Some(PathBuf::from(dir));
    }
    eprintln!("SKIPPED: no {series} headers: {}", text(&out).trim());
    None
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A copy of `tree` whose `linux/` is real files (to be edited) and whose
/// other entries (`asm-generic`, the architecture directories) are links.
fn writable_copy(tree: &Path, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    for e in fs::read_dir(tree).unwrap() {
        let e = e.unwrap();
        if e.file_name() == "linux" {
            copy_dir(&e.path(), &dir.join("linux"));
        } else {
            std::os::unix::fs::symlink(e.path(), dir.join(e.file_name())).unwrap();
        }
    }
    dir
}

/// Replaces `from` by `to` in a header, insisting that `from` is there.
fn edit(file: &Path, from: &str, to: &str) {
    let s = fs::read_to_string(file).unwrap();
    assert!(s.contains(from), "{} has no {from:?}", file.display());
    fs::write(file, s.replacen(from, to, 1)).unwrap();
}

/// Matches a declaration regardless of the whitespace between its words.
fn edit_words(file: &Path, from: &[&str], to: &str) {
    let s = fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = s.lines().collect();
    let idx = lines
        .iter()
        .position(|l| l.split_whitespace().eq(from.iter().copied()))
        .unwrap_or_else(|| panic!("{} has no line {from:?}", file.display()));
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    out[idx] = to.to_string();
    fs::write(file, out.join("\n") + "\n").unwrap();
}

/// Changes one field offset and one constant; the check must fail, naming
/// both.
#[test]
fn perturbed_headers_fail_naming_both_items() {
    let Some(tree) = pinned_headers("7.3") else {
        return;
    };
    let copy = writable_copy(&tree, "perturbed-7.3");
    let zcrx = copy.join("linux/io_uring/zcrx.h");
    // `len` becomes 8 bytes wide: `__pad` moves from offset 12 to 16.
    let rqe = fs::read_to_string(&zcrx).unwrap();
    let start = rqe.find("struct io_uring_zcrx_rqe {").expect("rqe struct");
    let end = start + rqe[start..].find("};").unwrap();
    let body = rqe[start..end].replacen("__u32", "__u64", 1);
    fs::write(&zcrx, format!("{}{body}{}", &rqe[..start], &rqe[end..])).unwrap();
    edit_words(
        &zcrx,
        &["ZCRX_REG_NODEV", "=", "2,"],
        "\tZCRX_REG_NODEV = 4,",
    );

    let out = xtask()
        .args(["check-abi", "--headers"])
        .arg(&copy)
        .output()
        .unwrap();
    let all = text(&out);
    println!("{all}");
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("io_uring_zcrx_rqe.__pad offset"), "{all}");
    assert!(all.contains("io_uring_zcrx_rqe.len size"), "{all}");
    let nodev = all
        .lines()
        .find(|l| l.starts_with("ZCRX_REG_NODEV "))
        .unwrap_or_else(|| panic!("no ZCRX_REG_NODEV row in {all}"));
    let cols: Vec<&str> = nodev.split('|').map(str::trim).collect();
    assert_eq!(cols, ["ZCRX_REG_NODEV", "4", "2"]);
}

/// A member inserted into a struct, a new enumerator and a new `#define`
/// are all reported.
#[test]
fn items_the_crate_lacks_are_reported() {
    let Some(tree) = pinned_headers("7.3") else {
        return;
    };
    let copy = writable_copy(&tree, "extended-7.3");
    let zcrx = copy.join("linux/io_uring/zcrx.h");
    edit_words(
        &zcrx,
        &[
            "__u64",
            "area_ptr;",
            "/*",
            "pointer",
            "to",
            "struct",
            "io_uring_zcrx_area_reg",
            "*/",
        ],
        "\t__u64 area_ptr;\n\t__u32 zcrx_test_member;",
    );
    edit(
        &zcrx,
        "ZCRX_CTRL_ADD_AREA,",
        "ZCRX_CTRL_ADD_AREA,\n\tZCRX_CTRL_TEST_OP,",
    );
    edit(
        &zcrx,
        "#endif /* LINUX_IO_ZCRX_H */",
        "#define ZCRX_TEST_DEFINE (1ULL << 40)\n#endif",
    );
    let out = xtask()
        .args(["check-abi", "--headers"])
        .arg(&copy)
        .output()
        .unwrap();
    let all = text(&out);
    println!("{all}");
    assert_eq!(out.status.code(), Some(1), "{all}");
    for item in [
        "io_uring_zcrx_ifq_reg.zcrx_test_member",
        "io_uring_zcrx_ifq_reg.region_ptr offset",
        "ZCRX_CTRL_TEST_OP",
        "ZCRX_TEST_DEFINE",
    ] {
        assert!(all.lines().any(|l| l.starts_with(item)), "{item} in {all}");
    }
    // `__ZCRX_CTRL_LAST` moved too, but it is deliberately not mirrored.
    assert!(!all.contains("__ZCRX_CTRL_LAST"), "{all}");
}

/// The pinned versions CI checks all pass.
#[test]
fn pinned_versions_pass() {
    for series in ["7.3", "7.2", "6.19"] {
        let Some(tree) = pinned_headers(series) else {
            continue;
        };
        let out = xtask()
            .args(["check-abi", "--headers"])
            .arg(&tree)
            .output()
            .unwrap();
        let all = text(&out);
        println!("{all}");
        assert_eq!(out.status.code(), Some(0), "{all}");
        assert!(
            all.starts_with(&format!("check-abi: Linux {series} ")),
            "{all}"
        );
        assert!(all.contains(" match; "), "{all}");
    }
}

#[test]
fn a_directory_without_headers_exits_2() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("not-headers");
    fs::create_dir_all(&dir).unwrap();
    let out = xtask()
        .args(["check-abi", "--headers"])
        .arg(&dir)
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("linux/io_uring.h is missing"), "{all}");
    assert!(!all.contains("panicked"), "{all}");
}

#[test]
fn a_missing_c_compiler_exits_2() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let out = xtask()
        .env("CC", "/nonexistent/cc")
        .args(["check-abi", "--headers"])
        .arg(dir)
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("no C compiler found"), "{all}");
    assert!(all.contains("$CC=/nonexistent/cc"), "{all}");
}

/// Without clang (and without a way to install it) the check names the
/// Debian package and exits 2.
#[test]
fn a_missing_clang_is_named_with_its_package() {
    let Some(tree) = pinned_headers("7.3") else {
        return;
    };
    let Some(cc) = ["/usr/bin/cc", "/usr/bin/gcc"]
        .into_iter()
        .find(|c| Path::new(c).is_file())
    else {
        eprintln!("SKIPPED: no /usr/bin/cc");
        return;
    };
    // An empty PATH: no clang, and no apt-get to install it with.
    let out = xtask()
        .env(
            "PATH",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("empty-path"),
        )
        .env("CC", cc)
        .args(["check-abi", "--headers"])
        .arg(&tree)
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("`clang` is not installed"), "{all}");
    assert!(all.contains("apt-get install -y clang"), "{all}");
}
