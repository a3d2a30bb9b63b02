//! The view path: a data completion of `IORING_OP_RECV_ZC` becomes a checked
//! [`Buf`]. This is the hot path of every receive loop.

use core::ptr::NonNull;

use zcrx_uapi::{IORING_ZCRX_AREA_MASK, IORING_ZCRX_AREA_SHIFT};

use super::Zcrx;
use crate::buf::Buf;
use crate::error::{Error, Result};

impl Zcrx {
    /// Turns a data completion of `IORING_OP_RECV_ZC` (its `res` > 0 and the
    /// `off` of its second half) into a view, after checking the area id,
    /// the bounds and that the chunk stays inside one buffer.
    ///
    /// This is the way in for completions reaped by code other than this
    /// crate's [`Receiver`](crate::Receiver) (a ring owned by another
    /// library, a hand-driven loop). The checks keep a wrong value from
    /// reaching outside the areas, but they cannot tell whether the kernel
    /// really handed this buffer over, or whether it was already turned into
    /// a view: that is the caller's contract.
    ///
    /// ```no_run
    /// # fn demo(zcrx: &zcrx_ring::Zcrx, c: &zcrx_ring::Completion) -> zcrx_ring::Result<()> {
    /// let off = c.zcrx().expect("a 32-byte completion").off;
    /// // SAFETY: `c` is a RECV_ZC data completion for `zcrx` that this code
    /// // reaped from the instance's ring and turns into a view once.
    /// let buf = unsafe { zcrx.buf_from_completion(c.res, off) }?;
    /// let first = buf.first().copied();
    /// drop(buf); // queued on the refill ring; published before the next wait
    /// # Ok(()) }
    /// ```
    ///
    /// # Safety
    ///
    /// `(res, off)` are the `res` and the `off` of one data completion
    /// (`res > 0`) of an `IORING_OP_RECV_ZC` request that was submitted with
    /// this instance's id on a ring this instance is registered with or
    /// imported into (the id that ring knows it by), and that the caller
    /// reaped from that ring. Each such completion is turned into a view at
    /// most once, and its buffer is not given back to the kernel by any other
    /// means: the view returns it when dropped. The ring is not an
    /// `IORING_SETUP_CQE_MIXED` ring of a kernel whose mixed rings publish
    /// stale entries
    /// ([`mixed_cq_publishes_stale_entries`](crate::ring::mixed_cq_publishes_stale_entries)):
    /// there an entry the kernel did not post this lap can look like a data
    /// completion.
    ///
    /// # Errors
    ///
    /// [`Error::KernelValue`] naming `io_uring_cqe.res` (not a data length)
    /// or `io_uring_zcrx_cqe.off` (an unknown area, past the end of its
    /// area, or across a buffer boundary); nothing is dereferenced then.
    #[inline]
    pub unsafe fn buf_from_completion(&self, res: i32, off: u64) -> Result<Buf<'_>> {
        // Fast path, inlined into receive loops: a chunk of area 0. Its
        // offset is then below area 0's length (the area bits are zero),
        // and a chunk that starts inside the area and does not cross a
        // buffer ends inside it (areas are whole buffers): three compares
        // instead of an area lookup. Other areas, and refusals, take the
        // out-of-line path.
        let (base, area0_len) = self.first_area;
        // `res` in 1..=the bytes from `off` to the end of its buffer, in one
        // unsigned compare: `res - 1` at most the bytes after the first
        // (`!off & buf_mask`); 0 and negative values wrap above any of them.
        let after_first = !off & self.buf_mask;
        let data = if off < area0_len && ((i64::from(res) - 1) as u64) <= after_first {
            // SAFETY: `off` is inside area 0 (checked above), whose memory
            // starts at `base`.
            let data = unsafe { base.add(off as usize) }.cast_mut();
            // SAFETY: not null: area 0 is not empty (`off` is below its
            // length), so `base` is a mapping's address and `data` lies in it.
            unsafe { NonNull::new_unchecked(data) }
        } else {
            self.locate_chunk(res, off)?
        };
        self.returns.count_views(1);
        // SAFETY: the range is inside one buffer of the area the offset
        // names (checked above); the caller's contract says the kernel handed
        // that buffer over with this completion and no other view of it
        // exists.
        Ok(unsafe { Buf::new(self, data, res as u32, off) })
    }

    /// The general path of [`buf_from_completion`](Self::buf_from_completion):
    /// any area; the reason of a refusal.
    #[inline(never)]
    pub(crate) fn locate_chunk(&self, res: i32, off: u64) -> Result<NonNull<u8>> {
        let bad = |reason| Error::KernelValue {
            field: "io_uring_zcrx_cqe.off",
            value: off,
            reason,
        };
        let len = u32::try_from(res)
            .ok()
            .filter(|&l| l > 0)
            .ok_or(Error::KernelValue {
                field: "io_uring_cqe.res",
                value: res as u64,
                reason: "not a data length",
            })?;
        let area_id = (off >> IORING_ZCRX_AREA_SHIFT) as usize;
        let areas = self.areas.borrow();
        let area = areas.get(area_id).ok_or(bad("names an unknown area"))?;
        let in_area = off & !IORING_ZCRX_AREA_MASK;
        let end = in_area + u64::from(len);
        if end > area.mem.len() as u64 {
            return Err(bad("runs past the end of its area"));
        }
        if (in_area & self.buf_mask) + u64::from(len) > self.buf_len {
            return Err(bad("crosses a buffer boundary"));
        }
        // SAFETY: in bounds of the area's mapping (checked above).
        let data = unsafe { area.mem.as_ptr().add(in_area as usize) };
        NonNull::new(data).ok_or(bad("null"))
    }
}
