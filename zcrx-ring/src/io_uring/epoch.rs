//! Receive-loop epochs of receivers on rings this crate does not own.
//!
//! A receiver's requests carry its epoch in `user_data` (see
//! `recv::dispatch`), so that completions of an earlier receiver on the same
//! ring are never taken for a later one's. This crate's own
//! [`Ring`](crate::Ring) keeps the epochs per ring; a ring of another
//! library has no room for them, so they are kept per process: an epoch is
//! held from the receiver's creation until it finished cleanly (nothing of
//! it left in flight) and is never handed out again if it did not.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// One bit per epoch: set while held (or for ever, if never released).
static HELD: [AtomicU64; 1024] = [const { AtomicU64::new(0) }; 1024];
/// Where the next search starts.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// An epoch no live or unfinished receiver of this process holds, or `None`
/// if all 65536 are taken.
pub(crate) fn acquire() -> Option<u16> {
    let start = NEXT.fetch_add(1, Ordering::Relaxed);
    for i in 0..=u32::from(u16::MAX) {
        let epoch = (start.wrapping_add(i) & 0xffff) as u16;
        let word = &HELD[usize::from(epoch / 64)];
        let bit = 1u64 << (epoch % 64);
        if word.fetch_or(bit, Ordering::AcqRel) & bit == 0 {
            return Some(epoch);
        }
    }
    None
}

/// Gives `epoch` back: nothing of its receiver is in flight any more.
pub(crate) fn release(epoch: u16) {
    let bit = 1u64 << (epoch % 64);
    HELD[usize::from(epoch / 64)].fetch_and(!bit, Ordering::AcqRel);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_epochs_are_not_handed_out_twice() {
        let a = acquire().unwrap();
        let b = acquire().unwrap();
        assert_ne!(a, b);
        release(a);
        let mut seen = std::vec::Vec::new();
        for _ in 0..200 {
            let e = acquire().unwrap();
            assert_ne!(e, b, "a held epoch was handed out");
            seen.push(e);
        }
        for e in seen {
            release(e);
        }
        release(b);
    }
}
