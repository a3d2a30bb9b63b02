//! Ring setup: the builder, the kernel's answer, and the shared mappings.
//! The behaviour is documented in the parent module ("Setup").

use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU32, Ordering};

use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::io_uring::{IoringRegisterOp, IoringSetupFlags};
use rustix::mm::ProtFlags;
use zcrx_uapi::abi::KernelVersion;
use zcrx_uapi::{
    IORING_FEAT_SINGLE_MMAP, IORING_OFF_CQ_RING, IORING_OFF_SQ_RING, IORING_OFF_SQES, SetupFlags,
    io_cqring_offsets, io_sqring_offsets, io_uring_cqe, io_uring_params, io_uring_sqe,
};

use super::cqueue::CqInner;
use super::squeue::SqInner;
use super::{CqeMode, Ring};
use crate::{Error, Result};

/// `IORING_MAX_ENTRIES`: the largest submission ring without `CLAMP`.
pub const MAX_ENTRIES: u32 = 32768;
/// `IORING_MAX_CQ_ENTRIES`: the largest completion ring without `CLAMP`.
pub const MAX_CQ_ENTRIES: u32 = 2 * MAX_ENTRIES;

/// Setup flags a [`Ring`] can be built with (besides the mode's CQE flag,
/// which the type decides). The others change the memory protocol this
/// ring implements (`SQPOLL`, `SQE128`, `SQE_MIXED`, `SQ_REWIND`), hand
/// memory or fds around in ways the builder does not model (`NO_MMAP`,
/// `REGISTERED_FD_ONLY`, `ATTACH_WQ`, `SQ_AFF`), or are unknown.
const ALLOWED: SetupFlags = SetupFlags::IOPOLL
    .union(SetupFlags::HYBRID_IOPOLL)
    .union(SetupFlags::CLAMP)
    .union(SetupFlags::R_DISABLED)
    .union(SetupFlags::SUBMIT_ALL)
    .union(SetupFlags::COOP_TASKRUN)
    .union(SetupFlags::TASKRUN_FLAG)
    .union(SetupFlags::SINGLE_ISSUER)
    .union(SetupFlags::DEFER_TASKRUN)
    .union(SetupFlags::NO_SQARRAY);

/// Setup flags with the Linux release that introduced them, newest first
/// (the order in which `EINVAL` diagnosis removes them).
const FLAG_RELEASES: &[(SetupFlags, &str, u16, u16)] = &[
    (SetupFlags::CQE_MIXED, "IORING_SETUP_CQE_MIXED", 6, 18),
    (
        SetupFlags::HYBRID_IOPOLL,
        "IORING_SETUP_HYBRID_IOPOLL",
        6,
        13,
    ),
    (SetupFlags::NO_SQARRAY, "IORING_SETUP_NO_SQARRAY", 6, 6),
    (
        SetupFlags::DEFER_TASKRUN,
        "IORING_SETUP_DEFER_TASKRUN",
        6,
        1,
    ),
    (
        SetupFlags::SINGLE_ISSUER,
        "IORING_SETUP_SINGLE_ISSUER",
        6,
        0,
    ),
    (SetupFlags::CQE32, "IORING_SETUP_CQE32", 5, 19),
    (SetupFlags::COOP_TASKRUN, "IORING_SETUP_COOP_TASKRUN", 5, 19),
    (SetupFlags::TASKRUN_FLAG, "IORING_SETUP_TASKRUN_FLAG", 5, 19),
    (SetupFlags::SUBMIT_ALL, "IORING_SETUP_SUBMIT_ALL", 5, 18),
    (SetupFlags::R_DISABLED, "IORING_SETUP_R_DISABLED", 5, 10),
    (SetupFlags::CLAMP, "IORING_SETUP_CLAMP", 5, 6),
    (SetupFlags::CQSIZE, "IORING_SETUP_CQSIZE", 5, 5),
];

/// Builds a [`Ring`].
///
/// Defaults fit ZCRX: `IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN`
/// plus the mode's flag (`IORING_SETUP_CQE32` for [`Cqe32`](super::Cqe32),
/// `IORING_SETUP_CQE_MIXED` for [`CqeMixed`](super::CqeMixed)), and
/// `IORING_SETUP_NO_SQARRAY` where the kernel has it. The completion ring
/// has twice as many slots as the submission ring unless
/// [`cq_entries`](Self::cq_entries) says otherwise.
///
/// ```
/// use zcrx_ring::ring::{CqeMixed, RingBuilder};
///
/// let ring = RingBuilder::<CqeMixed>::new(256).cq_entries(4096).build();
/// match ring {
///     Ok(ring) => assert_eq!(ring.params().cq_entries, 4096),
///     // e.g. Linux older than 6.18: "kernel lacks IORING_SETUP_CQE_MIXED"
///     Err(e) => eprintln!("{e}"),
/// }
/// ```
pub struct RingBuilder<M: CqeMode = super::Cqe32> {
    entries: u32,
    cq_entries: Option<u32>,
    flags: SetupFlags,
    _mode: PhantomData<fn() -> M>,
}

impl<M: CqeMode> Clone for RingBuilder<M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M: CqeMode> Copy for RingBuilder<M> {}

impl<M: CqeMode> core::fmt::Debug for RingBuilder<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RingBuilder")
            .field("entries", &self.entries)
            .field("cq_entries", &self.cq_entries)
            .field("flags", &self.flags)
            .field("mode", &M::NAME)
            .finish()
    }
}

impl<M: CqeMode> RingBuilder<M> {
    /// The flags every builder starts with (the mode's flag is added on top).
    pub const DEFAULT_FLAGS: SetupFlags =
        SetupFlags::SINGLE_ISSUER.union(SetupFlags::DEFER_TASKRUN);

    /// `entries` submission slots (rounded up to a power of two by the
    /// kernel; at most 32768 unless [`clamp`](Self::clamp)ed).
    pub const fn new(entries: u32) -> Self {
        RingBuilder {
            entries,
            cq_entries: None,
            flags: Self::DEFAULT_FLAGS,
            _mode: PhantomData,
        }
    }

    /// The same settings for a ring of the other CQE mode.
    pub const fn mode<N: CqeMode>(self) -> RingBuilder<N> {
        RingBuilder {
            entries: self.entries,
            cq_entries: self.cq_entries,
            flags: self.flags,
            _mode: PhantomData,
        }
    }

    /// Completion slots (`IORING_SETUP_CQSIZE`; rounded up to a power of
    /// two, at least the submission slots, at most 65536 unless clamped).
    /// On a [`CqeMixed`](super::CqeMixed) ring a 32-byte completion takes
    /// two slots.
    pub const fn cq_entries(mut self, cq_entries: u32) -> Self {
        self.cq_entries = Some(cq_entries);
        self
    }

    /// `IORING_SETUP_CLAMP`: reduce oversized entry counts to the kernel's
    /// maximum instead of failing.
    pub const fn clamp(self, clamp: bool) -> Self {
        self.set(SetupFlags::CLAMP, clamp)
    }

    /// `IORING_SETUP_DEFER_TASKRUN` (default on): completions that arrive
    /// through task work (multishot receives) are posted only when the
    /// issuer enters the kernel with `GETEVENTS`. ZCRX registration needs
    /// it.
    pub const fn defer_taskrun(self, on: bool) -> Self {
        self.set(SetupFlags::DEFER_TASKRUN, on)
    }

    /// `IORING_SETUP_SINGLE_ISSUER` (default on; `DEFER_TASKRUN` needs it):
    /// only the creating thread (or the enabling one, see
    /// [`disabled`](Self::disabled)) may enter or register.
    pub const fn single_issuer(self, on: bool) -> Self {
        self.set(SetupFlags::SINGLE_ISSUER, on)
    }

    /// `IORING_SETUP_R_DISABLED`: create the ring disabled; the thread that
    /// calls [`Ring::enable`] becomes its single issuer. Use this to build a
    /// ring on one thread and run it on another.
    pub const fn disabled(self, on: bool) -> Self {
        self.set(SetupFlags::R_DISABLED, on)
    }

    /// Adds setup flags: any of `IOPOLL`, `HYBRID_IOPOLL`, `CLAMP`,
    /// `R_DISABLED`, `SUBMIT_ALL`, `COOP_TASKRUN`, `TASKRUN_FLAG`,
    /// `SINGLE_ISSUER`, `DEFER_TASKRUN` and `NO_SQARRAY` (which then becomes
    /// mandatory). Others are refused by [`build`](Self::build) with
    /// [`Error::InvalidConfig`].
    pub const fn flags(mut self, flags: SetupFlags) -> Self {
        self.flags = self.flags.union(flags);
        self
    }

    const fn set(mut self, flag: SetupFlags, on: bool) -> Self {
        self.flags = if on {
            self.flags.union(flag)
        } else {
            self.flags.difference(flag)
        };
        self
    }

    /// Checks the configuration without asking the kernel.
    fn validate(&self) -> Result<()> {
        let clamp = self.flags.contains(SetupFlags::CLAMP);
        if self.entries == 0 {
            return Err(Error::invalid("entries", "must be at least 1"));
        }
        if self.entries > MAX_ENTRIES && !clamp {
            return Err(Error::invalid(
                "entries",
                "at most 32768 (IORING_MAX_ENTRIES) unless clamped",
            ));
        }
        let sq = self.entries.min(MAX_ENTRIES).next_power_of_two();
        let cq = match self.cq_entries {
            None => 2 * sq,
            Some(0) => return Err(Error::invalid("cq_entries", "must be at least 1")),
            Some(n) if n > MAX_CQ_ENTRIES && !clamp => {
                return Err(Error::invalid(
                    "cq_entries",
                    "at most 65536 (IORING_MAX_CQ_ENTRIES) unless clamped",
                ));
            }
            Some(n) => n.min(MAX_CQ_ENTRIES).next_power_of_two(),
        };
        if cq < sq {
            return Err(Error::invalid(
                "cq_entries",
                "must not be below entries (both rounded up to powers of two)",
            ));
        }
        if M::MIXED && cq < 2 {
            return Err(Error::invalid(
                "cq_entries",
                "a CQE_MIXED ring needs at least 2 completion slots",
            ));
        }
        if !ALLOWED.contains(self.flags) {
            return Err(Error::invalid(
                "flags",
                "only IOPOLL, HYBRID_IOPOLL, CLAMP, R_DISABLED, SUBMIT_ALL, COOP_TASKRUN, \
                 TASKRUN_FLAG, SINGLE_ISSUER, DEFER_TASKRUN and NO_SQARRAY; the CQE size \
                 comes from the ring's type",
            ));
        }
        if self.flags.contains(SetupFlags::DEFER_TASKRUN)
            && !self.flags.contains(SetupFlags::SINGLE_ISSUER)
        {
            return Err(Error::invalid(
                "flags",
                "IORING_SETUP_DEFER_TASKRUN needs IORING_SETUP_SINGLE_ISSUER",
            ));
        }
        Ok(())
    }

    /// Creates the ring.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidConfig`]: entry counts or flags refused before any
    ///   system call (see the setters).
    /// - [`Error::Unsupported`]: the kernel lacks a requested setup flag,
    ///   named with the release that added it (e.g.
    ///   `IORING_SETUP_CQE_MIXED`, 6.18), or lacks io_uring altogether
    ///   (`ENOSYS`: `io_uring_setup`, also what a seccomp filter may answer).
    /// - [`Error::PermissionDenied`]: `EPERM`, io_uring is disabled for this
    ///   process (sysctl `kernel.io_uring_disabled`, `kernel.io_uring_group`).
    /// - [`Error::Kernel`] with `op` `io_uring_setup`: `ENOMEM` (the ring
    ///   memory could not be allocated: use fewer entries, or raise
    ///   `RLIMIT_MEMLOCK` on kernels before 5.12), `EMFILE`/`ENFILE` (no fd),
    ///   anything else as is; with `op` `mmap`, a failed mapping.
    /// - [`Error::KernelValue`]: the kernel wrote back entry counts or ring
    ///   offsets that do not describe a consistent ring (nothing is read
    ///   through them).
    pub fn build(self) -> Result<Ring<M>> {
        self.validate()?;
        let mut flags = self.flags | M::SETUP_FLAG;
        if self.cq_entries.is_some() {
            flags |= SetupFlags::CQSIZE;
        }
        let optional = if flags.contains(SetupFlags::NO_SQARRAY) {
            SetupFlags::empty()
        } else {
            flags |= SetupFlags::NO_SQARRAY;
            SetupFlags::NO_SQARRAY
        };
        let cq_entries = self.cq_entries.unwrap_or(0);
        let (fd, params) =
            setup_diagnosed(flags, optional, |f| sys_setup(self.entries, cq_entries, f))?;
        // SAFETY: `fd` and `params` are what io_uring_setup just returned.
        unsafe { map_ring(fd, params) }
    }
}

/// One `io_uring_setup` call.
fn sys_setup(
    entries: u32,
    cq_entries: u32,
    flags: SetupFlags,
) -> core::result::Result<(OwnedFd, io_uring_params), Errno> {
    let mut p = rustix::io_uring::io_uring_params::default();
    p.flags = IoringSetupFlags::from_bits_retain(flags.bits());
    p.cq_entries = cq_entries;
    // SAFETY: `ATTACH_WQ` is never set (the builder refuses it), so no fd
    // is read from `wq_fd`; `p` is a valid, writable params struct.
    let fd = unsafe { rustix::io_uring::io_uring_setup(entries, &mut p) }?;
    Ok((fd, from_rustix(&p)))
}

fn from_rustix(p: &rustix::io_uring::io_uring_params) -> io_uring_params {
    let s = &p.sq_off;
    let c = &p.cq_off;
    io_uring_params {
        sq_entries: p.sq_entries,
        cq_entries: p.cq_entries,
        flags: p.flags.bits(),
        sq_thread_cpu: p.sq_thread_cpu,
        sq_thread_idle: p.sq_thread_idle,
        features: p.features.bits(),
        wq_fd: p.wq_fd as u32,
        resv: [0; 3],
        sq_off: io_sqring_offsets {
            head: s.head,
            tail: s.tail,
            ring_mask: s.ring_mask,
            ring_entries: s.ring_entries,
            flags: s.flags,
            dropped: s.dropped,
            array: s.array,
            resv1: 0,
            user_addr: s.user_addr.ptr as u64,
        },
        cq_off: io_cqring_offsets {
            head: c.head,
            tail: c.tail,
            ring_mask: c.ring_mask,
            ring_entries: c.ring_entries,
            overflow: c.overflow,
            cqes: c.cqes,
            flags: c.flags,
            resv1: 0,
            user_addr: c.user_addr.ptr as u64,
        },
    }
}

/// Runs `attempt(requested)`; on `EINVAL`, finds which flags the kernel
/// lacks (see the module docs). Flags in `optional` may be dropped silently.
/// Returns what the accepted attempt returned and the flags it used.
pub(crate) fn setup_diagnosed<T>(
    requested: SetupFlags,
    optional: SetupFlags,
    mut attempt: impl FnMut(SetupFlags) -> core::result::Result<T, Errno>,
) -> Result<T> {
    match attempt(requested) {
        Ok(t) => return Ok(t),
        Err(Errno::INVAL) => {}
        Err(e) => return Err(setup_error(e)),
    }
    let mut removed = SetupFlags::empty();
    for &(flag, _, _, _) in FLAG_RELEASES {
        if !requested.contains(flag) {
            continue;
        }
        removed |= flag;
        match attempt(requested - removed) {
            Ok(t) => {
                let lacking = removed - optional;
                if lacking.is_empty() {
                    return Ok(t);
                }
                drop(t);
                // The newest flag the caller needs and the kernel lacks.
                let (_, name, major, minor) = FLAG_RELEASES
                    .iter()
                    .find(|(f, ..)| lacking.contains(*f))
                    .copied()
                    .unwrap_or((flag, "io_uring_setup flags", 0, 0));
                return Err(Error::unsupported(
                    name,
                    Some(KernelVersion::new(major, minor)),
                ));
            }
            Err(Errno::INVAL) => continue,
            Err(e) => return Err(setup_error(e)),
        }
    }
    Err(Error::kernel("io_uring_setup", Errno::INVAL))
}

/// Maps an `io_uring_setup` errno (other than a diagnosed `EINVAL`).
pub(crate) fn setup_error(e: Errno) -> Error {
    match e {
        Errno::NOSYS => Error::unsupported("io_uring_setup", Some(KernelVersion::new(5, 1))),
        Errno::PERM => Error::PermissionDenied {
            op: "io_uring_setup",
            capability: "io_uring access: kernel.io_uring_disabled is set and the process \
                         lacks CAP_SYS_ADMIN or membership of kernel.io_uring_group",
        },
        e => Error::kernel("io_uring_setup", e),
    }
}

/// A shared mapping of the ring fd, unmapped on drop.
pub(crate) struct Mmap {
    ptr: NonNull<c_void>,
    len: usize,
}

impl Mmap {
    fn new(fd: &OwnedFd, offset: u64, len: usize) -> Result<Self> {
        let ptr = crate::mm::shared(
            rustix::fd::AsFd::as_fd(fd),
            len,
            offset,
            ProtFlags::READ | ProtFlags::WRITE,
            true,
        )
        .map_err(|e| Error::kernel("mmap", e))?;
        Ok(Mmap {
            ptr: ptr.cast(),
            len,
        })
    }

    /// A pointer `off` bytes in, after checking that `size` bytes from there
    /// lie inside the mapping and are aligned to `align`.
    fn at<T>(
        &self,
        off: u32,
        size: usize,
        align: usize,
        field: &'static str,
    ) -> Result<NonNull<T>> {
        let off = off as usize;
        let fits = off.checked_add(size).is_some_and(|end| end <= self.len);
        if !fits || off % align != 0 {
            return Err(Error::KernelValue {
                field,
                value: off as u64,
                reason: "outside the ring mapping or misaligned",
            });
        }
        // SAFETY: `off + size <= len`: inside the mapping.
        let p = unsafe { self.ptr.as_ptr().cast::<u8>().add(off) };
        // SAFETY: derived from a non-null mapping address plus an offset
        // inside it.
        Ok(unsafe { NonNull::new_unchecked(p.cast::<T>()) })
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: the mapping was created by `Mmap::new` with this length
        // and nothing refers to it any more (its owner, the `Ring`, is being
        // dropped). A failure would leave the mapping in place: harmless.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr(), self.len) };
    }
}

/// Bytes from offset 0 through the last `u32` field at the given offsets.
fn header_len(offsets: &[u32]) -> Result<usize> {
    let max = offsets.iter().copied().max().unwrap_or(0) as usize;
    max.checked_add(4)
        .ok_or(Error::kernel("io_uring_setup", Errno::OVERFLOW))
}

fn entries_value(field: &'static str, value: u32, max: u32) -> Result<u32> {
    if value == 0 || !value.is_power_of_two() || value > max {
        return Err(Error::KernelValue {
            field,
            value: value.into(),
            reason: "not a power of two within the kernel's limits",
        });
    }
    Ok(value)
}

fn check_word(field: &'static str, word: NonNull<AtomicU32>, expect: u32) -> Result<()> {
    // SAFETY: `word` was checked to lie inside a live mapping, 4-aligned.
    let v = unsafe { word.as_ref() }.load(Ordering::Relaxed);
    if v != expect {
        return Err(Error::KernelValue {
            field,
            value: v.into(),
            reason: "differs from what io_uring_setup returned",
        });
    }
    Ok(())
}

/// Maps the rings of a fresh io_uring fd and builds the `Ring`.
///
/// # Safety
///
/// `fd` must be an io_uring fd just returned by `io_uring_setup` with
/// `params`, with neither `SQPOLL`, `SQE128`, `SQE_MIXED` nor `NO_MMAP`, and
/// with the setup flag of `M`.
unsafe fn map_ring<M: CqeMode>(fd: OwnedFd, params: io_uring_params) -> Result<Ring<M>> {
    let sq_entries = entries_value("sq_entries", params.sq_entries, MAX_ENTRIES)?;
    let cq_entries = entries_value("cq_entries", params.cq_entries, MAX_CQ_ENTRIES)?;
    let flags = SetupFlags::from_bits_retain(params.flags);
    let so = &params.sq_off;
    let co = &params.cq_off;

    let mut sq_len = header_len(&[
        so.head,
        so.tail,
        so.ring_mask,
        so.ring_entries,
        so.flags,
        so.dropped,
    ])?;
    let has_array = !flags.contains(SetupFlags::NO_SQARRAY);
    if has_array {
        sq_len = sq_len.max(so.array as usize + 4 * sq_entries as usize);
    }
    let cq_len = header_len(&[co.head, co.tail, co.ring_mask, co.ring_entries, co.overflow])?
        .max(co.cqes as usize + cq_entries as usize * M::SLOT_BYTES);

    let single = params.features & IORING_FEAT_SINGLE_MMAP != 0;
    let rings = Mmap::new(
        &fd,
        IORING_OFF_SQ_RING,
        if single { sq_len.max(cq_len) } else { sq_len },
    )?;
    let cq_ring = if single {
        None
    } else {
        Some(Mmap::new(&fd, IORING_OFF_CQ_RING, cq_len)?)
    };
    let sqes = Mmap::new(
        &fd,
        IORING_OFF_SQES,
        sq_entries as usize * size_of::<io_uring_sqe>(),
    )?;
    let cqm = cq_ring.as_ref().unwrap_or(&rings);

    let w = 4;
    let sq_head = rings.at::<AtomicU32>(so.head, w, w, "sq_off.head")?;
    let sq_tail = rings.at::<AtomicU32>(so.tail, w, w, "sq_off.tail")?;
    let sq_mask = rings.at::<AtomicU32>(so.ring_mask, w, w, "sq_off.ring_mask")?;
    let sq_ring_entries = rings.at::<AtomicU32>(so.ring_entries, w, w, "sq_off.ring_entries")?;
    let sq_flags = rings.at::<AtomicU32>(so.flags, w, w, "sq_off.flags")?;
    let sq_dropped = rings.at::<AtomicU32>(so.dropped, w, w, "sq_off.dropped")?;
    let cq_head = cqm.at::<AtomicU32>(co.head, w, w, "cq_off.head")?;
    let cq_tail = cqm.at::<AtomicU32>(co.tail, w, w, "cq_off.tail")?;
    let cq_mask = cqm.at::<AtomicU32>(co.ring_mask, w, w, "cq_off.ring_mask")?;
    let cq_ring_entries = cqm.at::<AtomicU32>(co.ring_entries, w, w, "cq_off.ring_entries")?;
    let cq_overflow = cqm.at::<AtomicU32>(co.overflow, w, w, "cq_off.overflow")?;
    let cqes = cqm.at::<io_uring_cqe>(
        co.cqes,
        cq_entries as usize * M::SLOT_BYTES,
        align_of::<io_uring_cqe>(),
        "cq_off.cqes",
    )?;
    let sqe_array = sqes.at::<io_uring_sqe>(
        0,
        sq_entries as usize * size_of::<io_uring_sqe>(),
        align_of::<io_uring_sqe>(),
        "sqes",
    )?;

    check_word("sq ring_mask", sq_mask, sq_entries - 1)?;
    check_word("sq ring_entries", sq_ring_entries, sq_entries)?;
    check_word("cq ring_mask", cq_mask, cq_entries - 1)?;
    check_word("cq ring_entries", cq_ring_entries, cq_entries)?;

    if has_array {
        let array = rings.at::<AtomicU32>(so.array, 4 * sq_entries as usize, w, "sq_off.array")?;
        for i in 0..sq_entries {
            let word = array.as_ptr().wrapping_add(i as usize);
            // SAFETY: `array` covers `sq_entries` words (checked above);
            // the kernel reads the array only during io_uring_enter, which
            // has not happened yet.
            unsafe { &*word }.store(i, Ordering::Relaxed);
        }
    }

    // SAFETY: every pointer was checked to lie inside a mapping owned by the
    // `Ring` built below, with the size and alignment asked for; the
    // count is a power of two matching the SQE array.
    let sq = unsafe { SqInner::new(sq_head, sq_tail, sqe_array, sq_entries) };
    // SAFETY: as above; the CQE array holds `cq_entries * M::SLOT_BYTES`
    // bytes, 8-aligned.
    let cq = unsafe { CqInner::new(cq_head, cq_tail, cqes, cq_entries) };
    Ok(Ring {
        sq,
        cq,
        sq_flags,
        cq_overflow,
        sq_dropped,
        params,
        _rings: rings,
        _cq_ring: cq_ring,
        _sqes: sqes,
        fd,
        id: super::RingId::next(),
        deferred: alloc::collections::VecDeque::new(),
        epochs: super::Epochs::default(),
        _mode: PhantomData,
    })
}

impl<M: CqeMode> Ring<M> {
    /// Enables a ring built [`disabled`](RingBuilder::disabled)
    /// (`IORING_REGISTER_ENABLE_RINGS`). With `SINGLE_ISSUER`, the calling
    /// thread becomes the ring's issuer.
    ///
    /// # Errors
    ///
    /// [`Error::Kernel`] with `EBADFD` if the ring is not disabled.
    pub fn enable(&self) -> Result<()> {
        // SAFETY: ENABLE_RINGS takes no argument memory.
        unsafe {
            rustix::io_uring::io_uring_register(
                &self.fd,
                IoringRegisterOp::RegisterEnableRings,
                ptr::null(),
                0,
            )
        }
        .map(drop)
        .map_err(|e| Error::kernel("IORING_REGISTER_ENABLE_RINGS", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::{Cqe32, CqeMixed};
    use alloc::vec::Vec;

    /// A fake kernel that knows the setup flags up to `release`.
    fn kernel(
        release: (u16, u16),
        calls: &mut Vec<SetupFlags>,
    ) -> impl FnMut(SetupFlags) -> core::result::Result<SetupFlags, Errno> + '_ {
        move |flags| {
            calls.push(flags);
            let unknown = FLAG_RELEASES
                .iter()
                .any(|&(f, _, ma, mi)| flags.contains(f) && (ma, mi) > release);
            if unknown {
                Err(Errno::INVAL)
            } else {
                Ok(flags)
            }
        }
    }

    const ZCRX: SetupFlags = SetupFlags::SINGLE_ISSUER
        .union(SetupFlags::DEFER_TASKRUN)
        .union(SetupFlags::NO_SQARRAY);

    #[test]
    fn accepted_at_once() {
        let mut calls = Vec::new();
        let req = ZCRX | SetupFlags::CQE_MIXED;
        let got = setup_diagnosed(req, SetupFlags::NO_SQARRAY, kernel((6, 18), &mut calls));
        assert_eq!(got, Ok(req));
        assert_eq!(calls.len(), 1);
    }

    #[test]
    fn optional_no_sqarray_is_dropped() {
        let mut calls = Vec::new();
        let req = ZCRX | SetupFlags::CQE32;
        let got = setup_diagnosed(req, SetupFlags::NO_SQARRAY, kernel((6, 1), &mut calls));
        assert_eq!(got, Ok(req - SetupFlags::NO_SQARRAY));
        assert_eq!(calls.len(), 2);
    }

    #[test]
    fn mandatory_no_sqarray_is_named() {
        let mut calls = Vec::new();
        let req = ZCRX | SetupFlags::CQE32;
        let got = setup_diagnosed(req, SetupFlags::empty(), kernel((6, 1), &mut calls));
        assert_eq!(
            got,
            Err(Error::unsupported(
                "IORING_SETUP_NO_SQARRAY",
                Some(KernelVersion::new(6, 6))
            ))
        );
    }

    #[test]
    fn cqe_mixed_is_named() {
        for release in [(6, 17), (6, 6), (6, 2)] {
            let mut calls = Vec::new();
            let req = ZCRX | SetupFlags::CQE_MIXED;
            let got = setup_diagnosed(req, SetupFlags::NO_SQARRAY, kernel(release, &mut calls));
            assert_eq!(
                got,
                Err(Error::unsupported(
                    "IORING_SETUP_CQE_MIXED",
                    Some(KernelVersion::new(6, 18))
                )),
                "{release:?}"
            );
        }
    }

    #[test]
    fn defer_taskrun_is_named_on_6_0() {
        let mut calls = Vec::new();
        let req = ZCRX | SetupFlags::CQE32;
        let got = setup_diagnosed(req, SetupFlags::NO_SQARRAY, kernel((6, 0), &mut calls));
        assert_eq!(
            got,
            Err(Error::unsupported(
                "IORING_SETUP_DEFER_TASKRUN",
                Some(KernelVersion::new(6, 1))
            ))
        );
    }

    #[test]
    fn other_errnos_are_mapped() {
        let got = setup_diagnosed(
            ZCRX,
            SetupFlags::empty(),
            |_| -> core::result::Result<(), _> { Err(Errno::NOSYS) },
        );
        assert!(matches!(got, Err(Error::Unsupported(u)) if u.what == "io_uring_setup"));
        let got = setup_diagnosed(
            ZCRX,
            SetupFlags::empty(),
            |_| -> core::result::Result<(), _> { Err(Errno::PERM) },
        );
        assert!(matches!(got, Err(Error::PermissionDenied { .. })));
        let got = setup_diagnosed(
            ZCRX,
            SetupFlags::empty(),
            |_| -> core::result::Result<(), _> { Err(Errno::NOMEM) },
        );
        assert_eq!(got, Err(Error::kernel("io_uring_setup", Errno::NOMEM)));
        // EINVAL for a reason no flag explains.
        let mut n = 0;
        let got = setup_diagnosed(
            ZCRX,
            SetupFlags::empty(),
            |_| -> core::result::Result<(), _> {
                n += 1;
                Err(Errno::INVAL)
            },
        );
        assert_eq!(got, Err(Error::kernel("io_uring_setup", Errno::INVAL)));
        assert_eq!(n, 4); // the request, then without each of its 3 flags
    }

    #[test]
    fn validation() {
        let bad = |r: Result<()>, field: &str| {
            assert!(
                matches!(r, Err(Error::InvalidConfig { field: f, .. }) if f == field),
                "{r:?}"
            );
        };
        bad(RingBuilder::<Cqe32>::new(0).validate(), "entries");
        bad(RingBuilder::<Cqe32>::new(65536).validate(), "entries");
        assert!(
            RingBuilder::<Cqe32>::new(65536)
                .clamp(true)
                .validate()
                .is_ok()
        );
        bad(
            RingBuilder::<Cqe32>::new(64).cq_entries(32).validate(),
            "cq_entries",
        );
        // Rounded up: 33 -> 64 >= 64.
        assert!(
            RingBuilder::<Cqe32>::new(64)
                .cq_entries(33)
                .validate()
                .is_ok()
        );
        bad(
            RingBuilder::<Cqe32>::new(8).cq_entries(0).validate(),
            "cq_entries",
        );
        bad(
            RingBuilder::<Cqe32>::new(8).cq_entries(1 << 17).validate(),
            "cq_entries",
        );
        bad(
            RingBuilder::<CqeMixed>::new(1).cq_entries(1).validate(),
            "cq_entries",
        );
        assert!(
            RingBuilder::<Cqe32>::new(1)
                .cq_entries(1)
                .validate()
                .is_ok()
        );
        for f in [
            SetupFlags::SQPOLL,
            SetupFlags::SQE128,
            SetupFlags::NO_MMAP,
            SetupFlags::CQE32,
            SetupFlags::CQE_MIXED,
            SetupFlags::CQSIZE,
            SetupFlags::from_bits_retain(1 << 30),
        ] {
            bad(RingBuilder::<Cqe32>::new(8).flags(f).validate(), "flags");
        }
        bad(
            RingBuilder::<Cqe32>::new(8).single_issuer(false).validate(),
            "flags",
        );
        let b = RingBuilder::<Cqe32>::new(8)
            .single_issuer(false)
            .defer_taskrun(false)
            .flags(SetupFlags::COOP_TASKRUN | SetupFlags::SUBMIT_ALL)
            .mode::<CqeMixed>();
        assert!(b.validate().is_ok());
    }
}
