//! [`RefillQueue`]: the refill producer over raw pointers, for code that
//! embeds ZCRX in another ring library.

use core::ptr::NonNull;

use zcrx_uapi::io_uring_zcrx_rqe;

use super::producer::{KernelRefill, Producer};

/// The refill producer over a refill ring described by raw pointers: the
/// building block under [`Zcrx`](crate::Zcrx), public for code that embeds
/// ZCRX in another ring library (and for benchmarks).
///
/// ```
/// use core::ptr::NonNull;
/// use core::sync::atomic::{AtomicU32, Ordering};
/// use zcrx_ring::refill::RefillQueue;
/// use zcrx_uapi::io_uring_zcrx_rqe;
///
/// let (head, tail) = (AtomicU32::new(0), AtomicU32::new(0));
/// let mut rqes = [io_uring_zcrx_rqe::default(); 8];
/// // SAFETY: the three live for the queue's lifetime; this example plays
/// // the kernel itself.
/// let q = unsafe {
///     RefillQueue::from_raw(
///         NonNull::from(&head).cast(),
///         NonNull::from(&tail).cast(),
///         NonNull::from(&mut rqes).cast(),
///         8,
///     )
/// }?;
/// q.push(io_uring_zcrx_rqe { off: 4096, len: 100, __pad: 0 }).unwrap();
/// assert_eq!(tail.load(Ordering::Relaxed), 0); // not published yet
/// q.publish();
/// assert_eq!(tail.load(Ordering::Relaxed), 1);
/// # Ok::<(), zcrx_ring::Error>(())
/// ```
#[derive(Debug)]
pub struct RefillQueue {
    producer: Producer<KernelRefill>,
}

impl RefillQueue {
    /// A producer over a refill ring in use, continuing from its tail.
    ///
    /// # Safety
    ///
    /// `head` and `tail` point to distinct 4-aligned `u32`s and `rqes` to
    /// `entries` entries, none overlapping, all valid (the head for atomic
    /// reads, the tail for atomic writes, the entries for writes) while the
    /// value lives; only this value produces into the ring.
    pub unsafe fn from_raw(
        head: NonNull<u32>,
        tail: NonNull<u32>,
        rqes: NonNull<io_uring_zcrx_rqe>,
        entries: u32,
    ) -> crate::Result<Self> {
        if !entries.is_power_of_two() {
            return Err(crate::Error::invalid("entries", "must be a power of two"));
        }
        // SAFETY: the caller's contract is `KernelRefill::new`'s.
        let mem = unsafe { KernelRefill::new(head, tail, rqes, entries) };
        Ok(Self {
            producer: Producer::resume(mem),
        })
    }

    /// Queues one entry (invisible to the kernel until
    /// [`publish`](Self::publish)); gives it back if the ring is full. The
    /// head is read only when the cached free space runs out.
    #[inline]
    pub fn push(&self, rqe: io_uring_zcrx_rqe) -> Result<(), io_uring_zcrx_rqe> {
        self.producer.push(rqe)
    }

    /// Queues up to `n` entries made by `make(0)`, `make(1)`, … (called
    /// only for the entries written), as many as there is room for; returns
    /// how many. Invisible to the kernel until [`publish`](Self::publish).
    ///
    /// The batch form of [`push`](Self::push): the tail stays in a register
    /// and is stored once, which matters when the consumer runs on another
    /// core (see the `benches` crate's RESULTS.md).
    ///
    /// It takes `&mut self` so that `make` cannot queue on the same queue
    /// while the batch is being written (the batch's tail would then move
    /// backwards over entries the consumer may already see).
    ///
    /// ```
    /// # use core::ptr::NonNull;
    /// # use core::sync::atomic::{AtomicU32, Ordering};
    /// # use zcrx_ring::refill::RefillQueue;
    /// # use zcrx_uapi::io_uring_zcrx_rqe;
    /// # let (head, tail) = (AtomicU32::new(0), AtomicU32::new(0));
    /// # let mut rqes = [io_uring_zcrx_rqe::default(); 8];
    /// # // SAFETY: the three live for the queue's lifetime.
    /// # let mut q = unsafe { RefillQueue::from_raw(NonNull::from(&head).cast(),
    /// #     NonNull::from(&tail).cast(), NonNull::from(&mut rqes).cast(), 8) }?;
    /// let queued = q.push_with(32, |i| io_uring_zcrx_rqe {
    ///     off: u64::from(i) * 4096,
    ///     len: 4096,
    ///     __pad: 0,
    /// });
    /// assert_eq!(queued, 8); // the ring has 8 entries
    /// q.publish();
    /// assert_eq!(tail.load(Ordering::Relaxed), 8);
    /// # Ok::<(), zcrx_ring::Error>(())
    /// ```
    #[inline]
    pub fn push_with(&mut self, n: u32, make: impl FnMut(u32) -> io_uring_zcrx_rqe) -> u32 {
        self.producer.push_with(n, make)
    }

    /// Publishes every queued entry with one store-release of the tail.
    #[inline]
    pub fn publish(&self) {
        self.producer.publish();
    }

    /// Entries queued but not yet published.
    #[inline]
    pub fn unpublished(&self) -> u32 {
        self.producer.unpublished()
    }

    /// Published entries the consumer has not taken yet (reads the head).
    pub fn unconsumed(&self) -> u32 {
        self.producer.unconsumed()
    }

    /// The number of entries.
    pub fn entries(&self) -> u32 {
        self.producer.entries()
    }
}
