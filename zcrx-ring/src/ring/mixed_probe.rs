//! The probe for stale entries in `IORING_SETUP_CQE_MIXED` completion rings
//! (see [`mixed_cq_publishes_stale_entries`]).

use core::sync::atomic::{AtomicU8, Ordering};

use zcrx_uapi::{SqRingFlags, io_uring_sqe};

use super::opcode::{IORING_NOP_CQE32, prep_nop_flags};
use super::{CqeMixed, Ring};
use crate::{Error, Result};

const UNKNOWN: u8 = 0;
const SOUND: u8 = 1;
const STALE: u8 = 2;

/// The probe's answer, once per process.
static VERDICT: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Submission (and completion) slots of the probe's ring.
const ENTRIES: u32 = 16;

/// Whether this kernel's `IORING_SETUP_CQE_MIXED` completion rings can
/// publish a stale entry.
///
/// When a 32-byte completion finds one free slot left before the end of a
/// mixed ring, the kernel pads that slot (`IORING_CQE_F_SKIP`) and moves
/// on to the ring's start; if the ring is full there too, the completion
/// goes to the overflow list. Linux 6.19 and 7.2 (`io_cqe_cache_refill` in
/// `io_uring/io_uring.c`) keep their cached pointer at the padded slot when
/// that happens, so the next 16-byte completion is written over the padding
/// while the tail advances one slot further: the ring then shows one entry
/// more than it holds, and the extra one is whatever an earlier lap left in
/// the slot after the padding. That entry can be an old RECV_ZC data
/// completion, naming a buffer the kernel is not handing out. 7.3 drops the
/// cached pointer before padding, and the completion overflows instead.
///
/// The probe makes exactly that happen on a small ring of its own, with
/// NOPs, and reads whether the tail ran past the ring's size. ZCRX
/// refuses to register on, or be imported into, a mixed ring of a kernel
/// that has the defect ([`ZcrxBuilder::register`](crate::ZcrxBuilder::register)).
///
/// Probed once per process, on a ring of 16 slots the probe creates and
/// closes; later calls return the cached answer.
///
/// ```
/// use zcrx_ring::ring::mixed_cq_publishes_stale_entries;
/// // Kernels before 6.18 have no mixed rings: Error::Unsupported.
/// match mixed_cq_publishes_stale_entries() {
///     Ok(true) => println!("use Cqe32 rings for ZCRX here"),
///     Ok(false) => println!("mixed rings are fine"),
///     Err(e) => println!("no mixed rings: {e}"),
/// }
/// ```
///
/// # Errors
///
/// Setting up the probe's ring, or submitting to it, failed: as
/// [`RingBuilder::build`](super::RingBuilder::build) (e.g.
/// [`Error::Unsupported`](crate::Error::Unsupported) naming
/// `IORING_SETUP_CQE_MIXED` before 6.18) and
/// [`Ring::submit`](Ring::submit). [`Error::KernelValue`] when the probe
/// did not run as it must (the kernel took fewer NOPs than queued, or the
/// padded completion did not overflow): no answer, nothing cached.
pub fn mixed_cq_publishes_stale_entries() -> Result<bool> {
    match VERDICT.load(Ordering::Relaxed) {
        SOUND => return Ok(false),
        STALE => return Ok(true),
        _ => {}
    }
    let stale = probe()?;
    VERDICT.store(if stale { STALE } else { SOUND }, Ordering::Relaxed);
    Ok(stale)
}

fn probe() -> Result<bool> {
    let mut ring = Ring::<CqeMixed>::builder(ENTRIES)
        .cq_entries(ENTRIES)
        .build()?;
    // The kernel's count (a power of two, at least ENTRIES).
    let slots = ring.params().cq_entries;
    let sq = ring.params().sq_entries;
    // All but the last slot filled with 32-byte completions and one 16-byte
    // one, then a 32-byte completion (pads the last slot, finds the ring
    // full, overflows), then a 16-byte one: on a sound kernel it overflows
    // too; on a defective one it lands on the padding and the tail passes
    // the ring's size.
    let big = (slots - 2) / 2;
    let mut plan = (0..big).map(|_| true).chain([false, true, false]);
    let mut pushed = 0u32;
    loop {
        let mut queued = 0;
        for is32 in plan.by_ref() {
            let mut sqe = io_uring_sqe::default();
            let flags = if is32 { IORING_NOP_CQE32 } else { 0 };
            prep_nop_flags(&mut sqe, u64::from(pushed), flags, 0, [0; 2]);
            // SAFETY: a NOP carries no pointer and no descriptor.
            unsafe { ring.push(&sqe) }?;
            pushed += 1;
            queued += 1;
            if queued == sq {
                break;
            }
        }
        if queued == 0 {
            break;
        }
        let consumed = ring.submit()?;
        if consumed != queued {
            return Err(not_as_planned(
                "io_uring_enter",
                consumed.into(),
                "the kernel took fewer of the probe's NOPs than were queued",
            ));
        }
    }
    // Both kinds of kernel overflow the padded 32-byte completion: without
    // that, the case was not reached and the answer would mean nothing.
    let flags = ring.sq_flags();
    if !flags.contains(SqRingFlags::CQ_OVERFLOW) {
        return Err(not_as_planned(
            "io_uring_sq_ring.flags",
            flags.bits().into(),
            "the probe's padded 32-byte NOP completion did not overflow",
        ));
    }
    Ok(ring.cq_published_unclamped() > slots)
}

/// The probe did not run the way it must for its answer to mean anything
/// (not cached: the next call probes again).
fn not_as_planned(field: &'static str, value: u64, reason: &'static str) -> Error {
    Error::KernelValue {
        field,
        value,
        reason,
    }
}
