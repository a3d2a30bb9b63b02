//! Network namespaces held by a file descriptor, and threads that run in
//! one. A namespace lives while its descriptor (or a thread in it) does.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::mpsc;
use std::thread;

/// A network namespace.
#[derive(Debug)]
pub struct NetNs {
    fd: OwnedFd,
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl NetNs {
    /// A new, empty network namespace (only a `lo`, down). Needs
    /// CAP_SYS_ADMIN.
    pub fn new() -> io::Result<Self> {
        // unshare(CLONE_NEWNET) affects only the calling thread: do it in
        // a thread of its own and keep the namespace by its descriptor.
        thread::spawn(|| -> io::Result<Self> {
            // SAFETY: unshare with a constant flag; only this thread's
            // network namespace changes.
            check(unsafe { libc::unshare(libc::CLONE_NEWNET) })?;
            Self::current()
        })
        .join()
        .map_err(|_| io::Error::other("the namespace thread panicked"))?
    }

    /// The calling thread's network namespace.
    pub fn current() -> io::Result<Self> {
        Self::open("/proc/thread-self/ns/net")
    }

    /// The namespace at `path` (`/run/netns/NAME`, `/proc/PID/ns/net`).
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let file = File::open(path)?;
        Ok(NetNs { fd: file.into() })
    }

    /// Starts `f` on a new thread inside this namespace. Sockets it opens
    /// belong to the namespace. Fails (without running `f`) if the thread
    /// cannot enter it.
    pub fn spawn<T, F>(&self, f: F) -> io::Result<NsThread<T>>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let fd = self.fd.try_clone()?;
        let (tx, rx) = mpsc::sync_channel::<io::Result<()>>(1);
        let handle = thread::spawn(move || {
            // SAFETY: setns with a namespace descriptor we own; it changes
            // only this thread's network namespace.
            let entered = check(unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) });
            drop(fd);
            let ok = entered.is_ok();
            let _ = tx.send(entered);
            ok.then(f)
        });
        match rx.recv() {
            Ok(Ok(())) => Ok(NsThread(handle)),
            Ok(Err(e)) => {
                let _ = handle.join();
                Err(e)
            }
            Err(_) => Err(io::Error::other("the namespace thread died")),
        }
    }

    /// Runs `f` inside this namespace and returns its result (a panic in
    /// `f` is re-raised here).
    pub fn run<T, F>(&self, f: F) -> io::Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let handle = self.spawn(f)?;
        handle
            .join()
            .map_err(|panic| -> io::Error { std::panic::resume_unwind(panic) })
    }
}

/// A thread started by [`NetNs::spawn`], inside the namespace.
#[derive(Debug)]
pub struct NsThread<T>(thread::JoinHandle<Option<T>>);

impl<T> NsThread<T> {
    /// Waits for the thread; `Err` holds its panic.
    pub fn join(self) -> thread::Result<T> {
        match self.0.join()? {
            Some(v) => Ok(v),
            // spawn() returned this handle only after the thread entered
            // the namespace, and then it always runs its function.
            None => unreachable!("a thread that entered its namespace ran its function"),
        }
    }
}

impl AsFd for NetNs {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
