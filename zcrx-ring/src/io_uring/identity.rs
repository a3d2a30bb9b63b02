//! Whether two descriptors are the same ring: what binds an instance
//! registered on another library's ring to that ring.
//!
//! `kcmp(KCMP_FILE)` (Linux 3.5, `CONFIG_KCMP`) compares the open files
//! themselves. Where it is refused (a kernel without it, a seccomp profile
//! that blocks it), the inodes are compared: different inodes are
//! different rings; the same inode decides nothing, as kernels may give
//! every io_uring the same anonymous inode.

use rustix::fd::{AsRawFd, BorrowedFd};

/// `KCMP_FILE` of `linux/kcmp.h`.
const KCMP_FILE: libc::c_long = 0;

/// `Some(true)`: the same open file; `Some(false)`: different files;
/// `None`: this kernel does not let us tell.
pub(crate) fn same_file(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Option<bool> {
    let pid = libc::c_long::from(rustix::process::getpid().as_raw_nonzero().get());
    // SAFETY: kcmp reads no user memory; every argument is an integer. The
    // descriptors are borrowed, so open for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            pid,
            pid,
            KCMP_FILE,
            libc::c_long::from(a.as_raw_fd()),
            libc::c_long::from(b.as_raw_fd()),
        )
    };
    match ret {
        0 => Some(true),
        1..=3 => Some(false),
        _ => {
            let (sa, sb) = (rustix::fs::fstat(a).ok()?, rustix::fs::fstat(b).ok()?);
            if (sa.st_dev, sa.st_ino) != (sb.st_dev, sb.st_ino) {
                Some(false)
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fd::AsFd;

    #[test]
    fn a_file_is_itself_and_not_another() {
        let f = std::fs::File::open("/dev/null").unwrap();
        let dup = f.try_clone().unwrap();
        let other = std::fs::File::open("/dev/null").unwrap();
        assert_ne!(same_file(f.as_fd(), dup.as_fd()), Some(false));
        assert_ne!(same_file(f.as_fd(), other.as_fd()), Some(true));
        // kcmp where the host allows it: then the answers are exact.
        if same_file(f.as_fd(), dup.as_fd()) == Some(true) {
            assert_eq!(same_file(f.as_fd(), other.as_fd()), Some(false));
        }
    }
}
