//! The single producer of a refill ring, over memory abstracted by
//! [`RefillMemory`] (the kernel's mapping, plain memory under Miri, a model
//! kernel under loom).

use core::cell::Cell;
use core::ptr::NonNull;

use zcrx_uapi::io_uring_zcrx_rqe;

#[cfg(not(loom))]
use core::sync::atomic::{AtomicU32, Ordering};
#[cfg(loom)]
use loom::sync::atomic::{AtomicU32, Ordering};

/// Access to the three shared parts of a refill ring.
pub(crate) trait RefillMemory {
    /// Number of entries (a power of two).
    fn entries(&self) -> u32;
    /// Load-acquire of the kernel-written head.
    fn load_head(&self) -> u32;
    /// Store-release of the user-written tail.
    fn store_tail(&self, tail: u32);
    /// Load of the user-written tail (only to take over a ring in use).
    fn load_tail(&self) -> u32;
    /// Writes entry `index` (already masked).
    ///
    /// # Safety
    ///
    /// `index < entries()`, and the consumer is not reading that slot: the
    /// producer has seen a head that frees it.
    unsafe fn write_entry(&self, index: u32, rqe: io_uring_zcrx_rqe);
    /// The entries as one flat array, if they are (the kernel's mapping):
    /// lets batch writes keep its address in a register.
    fn entries_ptr(&self) -> Option<NonNull<io_uring_zcrx_rqe>> {
        None
    }
}

/// The kernel's refill ring, inside a mapped region.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KernelRefill {
    head: NonNull<AtomicU32>,
    tail: NonNull<AtomicU32>,
    rqes: NonNull<io_uring_zcrx_rqe>,
    entries: u32,
}

impl KernelRefill {
    /// # Safety
    ///
    /// `head` and `tail` point to distinct, 4-aligned `u32`s and `rqes` to
    /// `entries` 8-aligned entries, all inside one mapping that outlives the
    /// value, not overlapping each other; `entries` is a power of two.
    pub(crate) unsafe fn new(
        head: NonNull<u32>,
        tail: NonNull<u32>,
        rqes: NonNull<io_uring_zcrx_rqe>,
        entries: u32,
    ) -> Self {
        debug_assert!(entries.is_power_of_two());
        Self {
            head: head.cast(),
            tail: tail.cast(),
            rqes,
            entries,
        }
    }
}

#[cfg(test)]
impl KernelRefill {
    /// Plays the kernel in unit tests: consumes every published entry.
    pub(crate) fn consume_all(&self) {
        let tail = self.load_tail();
        // SAFETY: as in `load_head`; the test is the only "kernel".
        unsafe { self.head.as_ref() }.store(tail, Ordering::Release);
    }
}

impl RefillMemory for KernelRefill {
    #[inline]
    fn entries(&self) -> u32 {
        self.entries
    }

    #[inline]
    fn load_head(&self) -> u32 {
        // SAFETY: `head` is a valid, aligned u32 for the life of the mapping
        // (constructor contract); the kernel writes it with store-release.
        unsafe { self.head.as_ref() }.load(Ordering::Acquire)
    }

    #[inline]
    fn store_tail(&self, tail: u32) {
        // SAFETY: as for `head`; only this producer writes the tail.
        unsafe { self.tail.as_ref() }.store(tail, Ordering::Release);
    }

    fn load_tail(&self) -> u32 {
        // SAFETY: as for `head`.
        unsafe { self.tail.as_ref() }.load(Ordering::Relaxed)
    }

    #[inline]
    unsafe fn write_entry(&self, index: u32, rqe: io_uring_zcrx_rqe) {
        // SAFETY: `index < entries` (caller), so the slot is inside the
        // mapping.
        let slot = unsafe { self.rqes.add(index as usize) };
        // SAFETY: the slot is valid and aligned; the kernel does not read it
        // until the tail covers it.
        unsafe { slot.write(rqe) };
    }

    #[inline]
    fn entries_ptr(&self) -> Option<NonNull<io_uring_zcrx_rqe>> {
        Some(self.rqes)
    }
}

/// The single producer of a refill ring.
#[derive(Debug)]
pub(crate) struct Producer<M> {
    mem: M,
    mask: u32,
    /// Next slot to fill.
    local_tail: Cell<u32>,
    /// Last tail stored to shared memory.
    published: Cell<u32>,
    /// Last head loaded from shared memory.
    cached_head: Cell<u32>,
    /// Whether the indices are lent to a [`Lent`] batch: single pushes then
    /// find the ring full, and `publish` stores nothing.
    lent: Cell<bool>,
}

/// The producer's indices, lent to a batch that keeps them in registers
/// ([`Producer::lend`]); given back with [`Producer::restore`]. Plain data
/// (`Copy`), so that the batch's fields stay in registers: the cold paths
/// work on a copy.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lent {
    mem: KernelRefill,
    mask: u32,
    tail: u32,
    /// Free slots as of the last head seen: pushes count it down, and only
    /// when it runs out is the head read again.
    room: u32,
    head: u32,
    published: u32,
    /// The indices were lent to another batch already: this one never
    /// writes the ring (every push fails, publish stores nothing).
    blocked: bool,
}

impl Lent {
    /// Makes sure `n` more entries fit, reloading the head only if the
    /// cached room is short; returns whether they do.
    #[inline]
    pub(crate) fn reserve(&mut self, n: u32) -> bool {
        if self.room < n {
            (self.head, self.room) = refresh(
                &self.mem,
                self.tail,
                self.head,
                self.published,
                self.blocked,
            );
        }
        self.room >= n
    }

    /// Writes the entry `k` places after the tail, without counting it.
    ///
    /// # Safety
    ///
    /// `k` is below a count [`reserve`](Self::reserve) granted since the
    /// last [`advance`](Self::advance).
    #[inline(always)]
    pub(crate) unsafe fn write_ahead(&self, k: u32, off: u64, len: u32) {
        let index = self.tail.wrapping_add(k) & self.mask;
        // SAFETY: the masked index is < entries; the slot is free (within
        // the reserved room, so more than a lap ahead of the consumer).
        let slot = unsafe { self.mem.rqes.add(index as usize) };
        // SAFETY: valid, 8-aligned; as in `push` (two words: off, len | 0).
        unsafe { slot.cast::<[u64; 2]>().write([off, u64::from(len)]) };
    }

    /// Counts `n` entries written ahead (within the reserved room).
    #[inline(always)]
    pub(crate) fn advance(&mut self, n: u32) {
        debug_assert!(n <= self.room);
        self.tail = self.tail.wrapping_add(n);
        self.room -= n;
    }

    /// Stores the tail (one store-release) if anything was queued.
    #[inline(always)]
    pub(crate) fn publish(&mut self) {
        if self.tail != self.published && !self.blocked {
            self.mem.store_tail(self.tail);
            self.published = self.tail;
        }
    }
}

/// Reloads the head of a lent ring, trusting it only if it is consistent
/// (as `Producer::refresh_head`); returns the head and the free slots.
#[cold]
#[inline(never)]
fn refresh(mem: &KernelRefill, tail: u32, head: u32, published: u32, blocked: bool) -> (u32, u32) {
    if blocked {
        return (head, 0);
    }
    let new = mem.load_head();
    let in_flight = tail.wrapping_sub(new);
    let consumed = new.wrapping_sub(head);
    let head = if in_flight <= mem.entries && consumed <= published.wrapping_sub(head) {
        new
    } else {
        head
    };
    (head, mem.entries - tail.wrapping_sub(head))
}

impl Producer<KernelRefill> {
    /// Lends the indices to a batch. Until [`restore`](Self::restore),
    /// single pushes find the ring full (their callers fall back to the
    /// backlog) and `publish` stores nothing (`published` is set to the
    /// tail), so the batch is the only producer. If another batch has them, the lent indices are blocked:
    /// every push fails.
    #[inline]
    pub(crate) fn lend(&self) -> Lent {
        let blocked = self.lent.replace(true);
        let tail = self.local_tail.get();
        let full = tail.wrapping_sub(self.mem.entries());
        let head = if blocked {
            full
        } else {
            self.cached_head.get()
        };
        let lent = Lent {
            mem: self.mem,
            mask: self.mask,
            tail,
            room: self.mem.entries() - tail.wrapping_sub(head),
            head,
            published: self.published.get(),
            blocked,
        };
        self.cached_head.set(full);
        // `publish` stores nothing until the indices come back.
        self.published.set(tail);
        lent
    }

    /// Whether the indices are lent to a batch.
    pub(crate) fn is_lent(&self) -> bool {
        self.lent.get()
    }

    /// Takes the indices back from a batch (a blocked one gives nothing
    /// back).
    #[inline]
    pub(crate) fn restore(&self, lent: Lent) {
        if lent.blocked {
            return;
        }
        self.local_tail.set(lent.tail);
        self.cached_head.set(lent.head);
        self.published.set(lent.published);
        self.lent.set(false);
    }
}

impl<M: RefillMemory> Producer<M> {
    /// A producer for a fresh ring (head = tail = 0).
    pub(crate) fn new(mem: M) -> Self {
        let mask = mem.entries() - 1;
        Self {
            mem,
            mask,
            local_tail: Cell::new(0),
            published: Cell::new(0),
            cached_head: Cell::new(0),
            lent: Cell::new(false),
        }
    }

    fn set_cached_head(&self, head: u32) {
        self.cached_head.set(head);
    }

    /// A producer taking over a ring already in use: it continues from the
    /// shared tail.
    pub(crate) fn resume(mem: M) -> Self {
        let p = Self::new(mem);
        let tail = p.mem.load_tail();
        p.local_tail.set(tail);
        p.published.set(tail);
        // Assume the ring full until the head says otherwise.
        p.set_cached_head(tail.wrapping_sub(p.mem.entries()));
        p.refresh_head();
        p
    }

    /// Entries in flight: written here but not yet consumed as far as the
    /// producer knows.
    #[inline]
    fn used(&self) -> u32 {
        self.local_tail.get().wrapping_sub(self.cached_head.get())
    }

    /// Reloads the head. A head that is not within `entries` behind the
    /// local tail is impossible for a correct kernel; it is ignored (treated
    /// as no progress), so the producer never overwrites unconsumed entries.
    #[inline(never)]
    fn refresh_head(&self) -> bool {
        if self.lent.get() {
            return false; // a batch has the indices: the ring looks full
        }
        let head = self.mem.load_head();
        let in_flight = self.local_tail.get().wrapping_sub(head);
        let consumed = head.wrapping_sub(self.cached_head.get());
        let published = self.published.get().wrapping_sub(self.cached_head.get());
        if in_flight <= self.mem.entries() && consumed <= published {
            self.set_cached_head(head);
            true
        } else {
            false
        }
    }

    /// Free slots, reloading the head only if the cached view shows none.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn free(&self) -> u32 {
        let free = self.mem.entries() - self.used();
        if free != 0 {
            return free;
        }
        self.refresh_head();
        self.mem.entries() - self.used()
    }

    /// Queues one entry; returns it back if the ring is full. Nothing is
    /// visible to the kernel until [`publish`](Self::publish).
    #[inline]
    pub(crate) fn push(&self, rqe: io_uring_zcrx_rqe) -> Result<(), io_uring_zcrx_rqe> {
        if self.push_one(|| rqe) {
            Ok(())
        } else {
            Err(rqe)
        }
    }

    /// Queues the entry `make` builds, calling it only if there is room.
    #[inline]
    fn push_one(&self, make: impl FnOnce() -> io_uring_zcrx_rqe) -> bool {
        if self.used() == self.mem.entries()
            && (!self.refresh_head() || self.used() == self.mem.entries())
        {
            return false;
        }
        let tail = self.local_tail.get();
        // SAFETY: the masked index is < entries, and `used() < entries`
        // means the consumer has released this slot (it is at least one
        // full lap behind the cached head).
        unsafe { self.mem.write_entry(tail & self.mask, make()) };
        self.local_tail.set(tail.wrapping_add(1));
        true
    }

    /// Queues up to `n` entries made by `make(0)`, `make(1)`, …, as many as
    /// there is room for; returns how many. `make` is called only for the
    /// entries written. The tail is kept in a register and stored once:
    /// queuing one by one stores it after every entry, which costs a lot
    /// while the consumer, on another core, is pulling the same cache
    /// lines.
    ///
    /// `make` must not queue on this producer (the crate's callers build
    /// the entry from their captures only; the public
    /// [`RefillQueue::push_with`](super::RefillQueue::push_with) takes
    /// `&mut self` to rule it out).
    #[inline]
    pub(crate) fn push_with(&self, n: u32, mut make: impl FnMut(u32) -> io_uring_zcrx_rqe) -> u32 {
        if n == 1 {
            // One entry: the single push has less set-up than the loop.
            return u32::from(self.push_one(|| make(0)));
        }
        let entries = self.mem.entries();
        if entries - self.used() < n {
            self.refresh_head();
        }
        let count = n.min(entries - self.used());
        let mask = self.mask;
        let mut tail = self.local_tail.get();
        // SAFETY (both loops): the masked index is < entries, and the slot
        // is free: `count` is at most the free space seen above, so every
        // slot written is at least one full lap behind the cached head.
        if let Some(rqes) = self.mem.entries_ptr() {
            // The array's address stays in a register: the entry writes
            // could alias `self`, so it would be reloaded after each one.
            for i in 0..count {
                let rqe = make(i);
                // SAFETY: see above; `rqes` has `entries` slots.
                let slot = unsafe { rqes.add((tail & mask) as usize) };
                // SAFETY: see above; valid and aligned.
                unsafe { slot.write(rqe) };
                tail = tail.wrapping_add(1);
            }
        } else {
            for i in 0..count {
                let rqe = make(i);
                // SAFETY: see above.
                unsafe { self.mem.write_entry(tail & mask, rqe) };
                tail = tail.wrapping_add(1);
            }
        }
        self.local_tail.set(tail);
        count
    }

    /// Makes every queued entry visible to the kernel with one store-release
    /// of the tail (nothing happens if there is nothing new).
    #[inline]
    pub(crate) fn publish(&self) {
        // While the indices are lent, `published` equals `local_tail` (see
        // `lend`): nothing is stored; the batch publishes its own tail.
        let tail = self.local_tail.get();
        if tail != self.published.get() {
            self.mem.store_tail(tail);
            self.published.set(tail);
        }
    }

    /// Every entry ever queued (the local tail, wrapping).
    #[inline]
    pub(crate) fn queued_total(&self) -> u32 {
        self.local_tail.get()
    }

    /// Entries queued but not yet published.
    #[inline]
    pub(crate) fn unpublished(&self) -> u32 {
        self.local_tail.get().wrapping_sub(self.published.get())
    }

    /// Entries published and not yet consumed, after reloading the head.
    pub(crate) fn unconsumed(&self) -> u32 {
        self.refresh_head();
        self.published.get().wrapping_sub(self.cached_head.get())
    }

    /// The number of entries.
    pub(crate) fn entries(&self) -> u32 {
        self.mem.entries()
    }

    /// The memory (unit tests play the kernel through it).
    #[cfg(test)]
    pub(crate) fn memory(&self) -> &M {
        &self.mem
    }
}

#[cfg(all(test, not(loom)))]
#[path = "producer_tests.rs"]
mod tests;
