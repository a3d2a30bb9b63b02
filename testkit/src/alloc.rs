//! A global allocator that counts allocations, for tests that show a path
//! allocates nothing:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: zcrx_testkit::CountingAlloc = zcrx_testkit::CountingAlloc;
//!
//! let before = zcrx_testkit::thread_allocations();
//! // ... the path under test, on this thread
//! assert_eq!(zcrx_testkit::thread_allocations(), before);
//! ```
//!
//! Every `alloc`, `alloc_zeroed` and `realloc` counts once, both in the
//! process-wide count ([`allocations`]) and in the calling thread's
//! ([`thread_allocations`]); `dealloc` does not count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// The system allocator, counting.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

static PROCESS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static THREAD: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    PROCESS.fetch_add(1, Ordering::SeqCst);
    // A const-initialised thread-local without a destructor never
    // allocates; during thread teardown it may be gone, and is skipped.
    let _ = THREAD.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: forwards every call to the system allocator unchanged; counting
// touches only an atomic and a thread-local cell, neither of which allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as for `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations made by the whole process so far (through [`CountingAlloc`]
/// installed as the global allocator).
pub fn allocations() -> u64 {
    PROCESS.load(Ordering::SeqCst)
}

/// Allocations made by the calling thread so far.
pub fn thread_allocations() -> u64 {
    THREAD.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[global_allocator]
    static GLOBAL: CountingAlloc = CountingAlloc;

    #[test]
    fn counts_per_thread_and_per_process() {
        let (process, thread) = (allocations(), thread_allocations());
        let mut v = std::hint::black_box(vec![1u8; 100]);
        assert_eq!(thread_allocations(), thread + 1);
        v.reserve(1000);
        assert_eq!(thread_allocations(), thread + 2);
        drop(v);
        assert_eq!(thread_allocations(), thread + 2);
        assert!(allocations() >= process + 2);
        // Another thread counts its own.
        std::thread::spawn(|| {
            let before = thread_allocations();
            drop(std::hint::black_box(Box::new(1u64)));
            assert_eq!(thread_allocations(), before + 1);
        })
        .join()
        .unwrap();
    }
}
