//! Buffer views: received data, borrowed from its area, given back to the
//! kernel exactly once.
//!
//! A [`Buf`] is what a data completion becomes once its offset and length
//! have been checked against its own area. It borrows the
//! [`Zcrx`] instance, so it cannot outlive the instance or its
//! areas; it derefs to `[u8]`; dropping it (or calling [`Buf::recycle`])
//! queues it on the refill ring, without a lock, an atomic or a system call
//! in the common case. It is neither `Send` nor `Sync`, because the refill
//! ring has a single producer.
//!
//! To hand data to another thread, turn the view into a [`SharedBuf`]: it
//! keeps the area's memory alive by reference count, is `Send + Sync`, and
//! when dropped marks its buffer as returned with two atomic operations on
//! counters of its own area (no lock). The instance's owner thread moves
//! those returns to the refill ring the next time it publishes.

use alloc::sync::Arc;
use core::fmt;
use core::mem::ManuallyDrop;
use core::ops::Deref;
use core::ptr::NonNull;
use core::slice;

use zcrx_uapi::{IORING_ZCRX_AREA_MASK, IORING_ZCRX_AREA_SHIFT};

use crate::refill::returns::AreaShared;
use crate::zcrx::Zcrx;

/// Received data: a checked view into its area, returned to the kernel when
/// dropped.
///
/// Views come only from completions this crate consumed from a ring (a
/// [`Receiver`](crate::Receiver)'s [`Recv::Data`](crate::Recv::Data)), or
/// from the `unsafe` [`Zcrx::buf_from_completion`] whose caller vouches for
/// the completion. A view cannot be copied or cloned and cannot outlive its
/// instance (the crate's `tests/ui` shows both refused by the compiler), and
/// it cannot go to another thread ([`Buf::into_shared`] makes a handle that
/// can):
///
/// ```compile_fail,E0277
/// fn to_thread(buf: zcrx_ring::Buf<'static>) {
///     std::thread::spawn(move || drop(buf)); // `Buf` is not `Send`
/// }
/// ```
pub struct Buf<'z> {
    zcrx: &'z Zcrx,
    data: NonNull<u8>,
    len: u32,
    /// The completion's offset, area token included.
    off: u64,
}

impl<'z> Buf<'z> {
    /// # Safety
    ///
    /// `len >= 1`, and `data..data+len` lies inside the memory of area
    /// `off >> 48` of `zcrx`, within one buffer that the kernel handed to
    /// userspace with this completion and will not write until it is given
    /// back.
    pub(crate) unsafe fn new(zcrx: &'z Zcrx, data: NonNull<u8>, len: u32, off: u64) -> Self {
        Self {
            zcrx,
            data,
            len,
            off,
        }
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the view is empty (never: data completions carry bytes).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The id of the area holding the data.
    pub fn area_id(&self) -> u16 {
        (self.off >> IORING_ZCRX_AREA_SHIFT) as u16
    }

    /// The offset of the data inside its area.
    pub fn area_offset(&self) -> u64 {
        self.off & !IORING_ZCRX_AREA_MASK
    }

    /// The completion's raw offset (area token included).
    pub fn raw_offset(&self) -> u64 {
        self.off
    }

    /// Gives the buffer back now (the same as dropping it).
    pub fn recycle(self) {
        drop(self);
    }

    /// Turns the view into a `Send + Sync` handle for another thread.
    pub fn into_shared(self) -> SharedBuf {
        let this = ManuallyDrop::new(self);
        let area = this.zcrx.area_shared(this.area_id());
        let index = (this.area_offset() >> area.buf_shift) as usize;
        SharedBuf {
            area,
            data: this.data,
            len: this.len,
            index,
        }
    }
}

impl Deref for Buf<'_> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: views are made only from data completions, checked to
        // carry at least one byte; telling the compiler spares callers an
        // emptiness check.
        unsafe { core::hint::assert_unchecked(self.len != 0) };
        // SAFETY: `new`'s contract: the range is inside the area's live
        // mapping, and the kernel does not write it while this view exists.
        unsafe { slice::from_raw_parts(self.data.as_ptr(), self.len as usize) }
    }
}

impl AsRef<[u8]> for Buf<'_> {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Drop for Buf<'_> {
    #[inline]
    fn drop(&mut self) {
        self.zcrx.recycle(self.off, self.len);
    }
}

impl fmt::Debug for Buf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buf")
            .field("area_id", &self.area_id())
            .field("area_offset", &self.area_offset())
            .field("len", &self.len)
            .finish()
    }
}

/// Received data that may travel to, and be dropped on, another thread.
///
/// It keeps its area's memory mapped for as long as it lives. Dropping it
/// records the return with lock-free atomic counters; the instance's owner
/// re-queues such returns on the refill ring before it next waits (see
/// [`Zcrx::publish`](crate::Zcrx::publish)). If the instance is gone by
/// then, the return is simply dropped with it.
pub struct SharedBuf {
    area: Arc<AreaShared>,
    data: NonNull<u8>,
    len: u32,
    index: usize,
}

// SAFETY: the data is immutable while the handle exists (the kernel does not
// write a buffer handed to userspace until it is returned), the memory is
// kept alive by the `Arc`, and the return path uses only atomics.
unsafe impl Send for SharedBuf {}
// SAFETY: see `Send`; `&SharedBuf` only reads.
unsafe impl Sync for SharedBuf {}

impl SharedBuf {
    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the view is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Deref for SharedBuf {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: as for `Buf`; the `Arc` keeps the mapping alive.
        unsafe { slice::from_raw_parts(self.data.as_ptr(), self.len as usize) }
    }
}

impl AsRef<[u8]> for SharedBuf {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Drop for SharedBuf {
    fn drop(&mut self) {
        self.area.give_back(self.index);
    }
}

impl fmt::Debug for SharedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedBuf")
            .field("buffer", &self.index)
            .field("len", &self.len)
            .finish()
    }
}
