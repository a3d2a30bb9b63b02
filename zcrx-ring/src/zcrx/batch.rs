//! The view path in batches: a reaped batch of completions checked and
//! turned into views one after the other, with the instance's values
//! hoisted, and their buffers given back into refill-ring room reserved for
//! the whole batch, published once.

use super::Zcrx;
use crate::error::{Error, Result};
use crate::refill::producer::Lent;

impl Zcrx {
    /// Turns a reaped batch of data completions into views one after the
    /// other, hands each to `f`, and gives every buffer back in one go: the
    /// refill entries are written as the views are made, into room reserved
    /// for the whole batch, and the tail is published once at the end.
    /// Returns how many views `f` saw. The checks are those of
    /// [`buf_from_completion`](Self::buf_from_completion); the hot loop
    /// keeps the instance's values and the refill tail in registers, which
    /// makes this the fastest way from completions to data and back (see
    /// the `benches` crate).
    ///
    /// ```no_run
    /// # fn demo(zcrx: &zcrx_ring::Zcrx, reaped: &[(i32, u64)]) -> zcrx_ring::Result<u64> {
    /// let mut bytes = 0u64;
    /// // SAFETY: `reaped` holds the `(res, off)` of RECV_ZC data completions
    /// // of `zcrx`, reaped from its ring by this code, each used once.
    /// unsafe { zcrx.for_each_view(reaped.iter().copied(), |data| bytes += data.len() as u64) }?;
    /// # Ok(bytes) }
    /// ```
    ///
    /// # Safety
    ///
    /// Each item is the `(res, off)` of a completion as
    /// [`buf_from_completion`](Self::buf_from_completion) requires: a data
    /// completion of this instance, reaped by the caller from its ring, used
    /// once.
    ///
    /// # Errors
    ///
    /// As [`buf_from_completion`](Self::buf_from_completion), for the first
    /// completion that fails its checks: the ones before it were handed to
    /// `f` and went back; it and the ones after it were not touched.
    #[inline]
    pub unsafe fn for_each_view<I>(&self, completions: I, mut f: impl FnMut(&[u8])) -> Result<u32>
    where
        I: IntoIterator<Item = (i32, u64)>,
        I::IntoIter: ExactSizeIterator,
    {
        let items = completions.into_iter().map(|(res, off)| (res, off, ()));
        // SAFETY: this function's contract.
        let (seen, error) = unsafe { self.views_with(items, |(), data| f(data)) };
        error.map_or(Ok(seen), Err)
    }

    /// [`for_each_view`](Self::for_each_view) with a tag per completion,
    /// passed on to `f`; returns how many were handed to `f`, and the error
    /// of the one that failed its checks (the rest untouched).
    ///
    /// # Safety
    ///
    /// As [`for_each_view`](Self::for_each_view).
    #[inline]
    pub(crate) unsafe fn views_with<T, I>(
        &self,
        completions: I,
        mut f: impl FnMut(T, &[u8]),
    ) -> (u32, Option<Error>)
    where
        I: ExactSizeIterator<Item = (i32, u64, T)>,
    {
        let mut ring = self.returns.lend();
        let n = u32::try_from(completions.len()).unwrap_or(u32::MAX);
        if !ring.reserve(n) {
            self.returns.restore(ring);
            // SAFETY: this function's contract.
            return unsafe { self.views_one_by_one(completions, f) };
        }
        // Gives the returns of the views made so far back (and the indices
        // to the instance) however the loop ends, `f` panicking included.
        let mut batch = Written {
            zcrx: self,
            ring,
            k: 0,
        };
        let (base, area0_len) = self.first_area;
        let mut error = None;
        // `take`: `len` is only a promise; an iterator that yields more
        // than it said must not write past the reserved room (the surplus
        // stays untouched, as after an error).
        for (res, off, tag) in completions.take(n as usize) {
            // The fast check of `buf_from_completion`: a chunk of area 0.
            let data = if off < area0_len && ((i64::from(res) - 1) as u64) <= (!off & self.buf_mask)
            {
                // SAFETY: `off` is inside area 0, whose memory starts at
                // `base`.
                unsafe { base.add(off as usize) }
            } else {
                match self.locate_chunk(res, off) {
                    Ok(p) => p.as_ptr().cast_const(),
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                }
            };
            // SAFETY: checked above (either path): `res >= 1`; telling the
            // compiler spares `f` an emptiness check.
            unsafe { core::hint::assert_unchecked(res >= 1) };
            // The entry first: should `f` panic, the buffer still goes back.
            // SAFETY: `k < n`, the room reserved above.
            unsafe { batch.ring.write_ahead(batch.k, off, res as u32) };
            batch.k += 1;
            // SAFETY: checked above: `res` bytes inside one buffer of the
            // area `off` names, handed over with this completion (the
            // contract) and not written by the kernel until the entry is
            // published, after `f` returns (when `batch` is dropped).
            f(tag, unsafe {
                core::slice::from_raw_parts(data, res as usize)
            });
        }
        (batch.k, error)
    }

    /// [`views_with`](Self::views_with) when the ring has no room for the
    /// whole batch: one view at a time (returns that find the ring full go
    /// to the backlog).
    ///
    /// # Safety
    ///
    /// As [`for_each_view`](Self::for_each_view).
    #[cold]
    #[inline(never)]
    unsafe fn views_one_by_one<T>(
        &self,
        completions: impl Iterator<Item = (i32, u64, T)>,
        mut f: impl FnMut(T, &[u8]),
    ) -> (u32, Option<Error>) {
        let mut seen = 0;
        for (res, off, tag) in completions {
            // SAFETY: the caller's contract.
            match unsafe { self.buf_from_completion(res, off) } {
                Ok(buf) => f(tag, &buf),
                Err(e) => return (seen, Some(e)),
            }
            seen += 1;
        }
        self.publish();
        (seen, None)
    }
}

/// The refill entries a batch wrote ahead: counted, published and the
/// indices given back when dropped.
struct Written<'a> {
    zcrx: &'a Zcrx,
    ring: Lent,
    k: u32,
}

impl Drop for Written<'_> {
    #[inline]
    fn drop(&mut self) {
        self.ring.advance(self.k);
        self.zcrx.returns.count_views(self.k);
        self.ring.publish();
        self.zcrx.returns.restore(self.ring);
    }
}
