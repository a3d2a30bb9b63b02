//! Whether this kernel wakes a `DEFER_TASKRUN` ring's pollers when task
//! work is queued for it (Linux 7.3 does, 7.2 does not): probed once per
//! process on a private ring, and remembered.

use std::sync::atomic::{AtomicU8, Ordering};

use rustix::buffer::spare_capacity;
use rustix::event::Timespec;
use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};

use crate::ring::opcode::{IORING_NOP_TW, prep_nop_flags};
use crate::ring::{Cqe32, Ring};

const UNKNOWN: u8 = 0;
const WAKES: u8 = 1;
const SILENT: u8 = 2;

static PROBED: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Whether the ring's descriptor wakes its pollers (epoll) for queued task
/// work. Answered by [`probe`] the first time, from memory afterwards; a
/// probe that cannot run (no io_uring, no `IORING_NOP_TW`) answers `false`.
pub(crate) fn ring_fd_wakes() -> bool {
    match PROBED.load(Ordering::Relaxed) {
        WAKES => true,
        SILENT => false,
        _ => {
            let wakes = probe().unwrap_or(false);
            PROBED.store(if wakes { WAKES } else { SILENT }, Ordering::Relaxed);
            wakes
        }
    }
}

/// Queues task work on a fresh two-entry `DEFER_TASKRUN` ring watched by
/// an epoll instance (edge-triggered, as tokio watches), and looks whether
/// epoll was woken:
///
/// 1. `epoll_ctl(ADD)` polls the ring once; on a `DEFER_TASKRUN` ring that
///    first poll activates the ring's poll queue through task work that
///    runs before this thread is back in user space
///    (`io_activate_pollwq`); the wake-up it sends is drained with an
///    `epoll_wait` that does not wait.
/// 2. A NOP with `IORING_NOP_TW` completes through task work
///    (`io_req_local_work_add`), posting nothing yet.
/// 3. `epoll_wait` without waiting: an event means the kernel woke the
///    ring's pollers for the task work.
///
/// The NOP's completion must then be 0: a kernel that refuses the flag
/// posts an error completion at once, which wakes epoll too.
fn probe() -> Option<bool> {
    let mut ring: Ring<Cqe32> = Ring::builder(2).build().ok()?;
    let ep = epoll::create(CreateFlags::CLOEXEC).ok()?;
    epoll::add(
        &ep,
        ring.as_fd(),
        EventData::new_u64(0),
        EventFlags::IN | EventFlags::ET,
    )
    .ok()?;
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let mut events = Vec::with_capacity(4);
    epoll::wait(&ep, spare_capacity(&mut events), Some(&now)).ok()?;
    events.clear();

    let mut sqe = zcrx_uapi::io_uring_sqe::default();
    prep_nop_flags(&mut sqe, 1, IORING_NOP_TW, 0, [0, 0]);
    // SAFETY: a NOP carries no pointer for the kernel to follow.
    unsafe { ring.push(&sqe) }.ok()?;
    ring.submit().ok()?;
    let woken = epoll::wait(&ep, spare_capacity(&mut events), Some(&now)).ok()? > 0;

    ring.submit_and_wait(1).ok()?;
    let nop = ring.completions().find(|c| c.user_data == 1)?;
    Some(woken && nop.res == 0)
}
