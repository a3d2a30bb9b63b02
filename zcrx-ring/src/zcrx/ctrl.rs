//! Control operations (`IORING_REGISTER_ZCRX_CTRL`): flushing the refill
//! ring, re-arming events, export/import, adding areas to a live instance.

use core::ptr;

use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use zcrx_uapi::{
    IORING_ZCRX_AREA_SHIFT, ZCRX_CTRL_ADD_AREA, ZCRX_REG_IMPORT, io_uring_zcrx_area_reg,
    io_uring_zcrx_ifq_reg, zcrx_ctrl,
};

use super::Zcrx;
use super::errno::{OP_CTRL, RegisterContext, map_ctrl_error, map_register_error};
use crate::area::Area;
use crate::error::{Error, Result};
use crate::ring::{CqeMode, Ring, RingId};
use crate::sys;

/// An instance imported into a second [`Ring`] ([`Zcrx::import_into`]):
/// the id that ring knows it by, for a [`Receiver`](crate::Receiver) on
/// that ring ([`Receiver::add_imported`](crate::Receiver::add_imported)).
/// Views of its completions are views of the instance's areas, given back
/// through the instance's refill ring.
#[derive(Clone, Copy, Debug)]
pub struct Imported<'z> {
    pub(crate) zcrx: &'z Zcrx,
    pub(crate) id: u32,
    pub(crate) ring: RingId,
}

impl<'z> Imported<'z> {
    /// The id to use in the importing ring's `IORING_OP_RECV_ZC`
    /// submissions.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The instance.
    pub fn zcrx(&self) -> &'z Zcrx {
        self.zcrx
    }

    /// Whether `ring` is the ring it was imported into.
    pub fn is_imported_into<M: CqeMode>(&self, ring: &Ring<M>) -> bool {
        self.ring == ring.id()
    }
}

impl Zcrx {
    /// `ZCRX_CTRL_FLUSH_RQ`: has the kernel consume the refill ring now (the
    /// only way entries are consumed in NODEV mode). Receive loops call it
    /// through [`prepare_wait`](Self::prepare_wait); counted by
    /// [`flushes`](Self::flushes).
    ///
    /// # Errors
    ///
    /// [`Error::WrongThread`] from a thread other than the ring's issuer;
    /// [`Error::Unsupported`] on kernels without the operation (6.19 has
    /// it); otherwise [`Error::Kernel`].
    pub fn flush(&self) -> Result<()> {
        self.returns.publish_tail();
        let mut ctrl = zcrx_ctrl::flush_rq(self.id);
        self.ctrl(&mut ctrl, 0)?;
        self.flushes.set(self.flushes.get() + 1);
        Ok(())
    }

    /// Issues one control operation; `locked_bytes` is what it pins (for
    /// the error of an `ENOMEM`).
    fn ctrl(&self, ctrl: &mut zcrx_ctrl, locked_bytes: u64) -> Result<()> {
        let op = ctrl.op;
        if let Some(caps) = &self.caps {
            caps.require_ctrl(op)?;
        }
        // SAFETY: the operations issued through here carry no pointers,
        // except ADD_AREA, whose caller upholds `sys::zcrx_ctrl`'s contract.
        unsafe { sys::zcrx_ctrl(self.ring_fd.as_fd(), ctrl) }
            .map_err(|errno| map_ctrl_error(OP_CTRL, errno, locked_bytes))
    }

    /// `ZCRX_CTRL_ARM_EVENT`: re-arms one fired event type (`ZCRX_EVENT_*`).
    /// The kernel answers `EINVAL` for a type that has not fired; this
    /// returns that errno in [`Error::Kernel`] for `zcrx-notif` to interpret.
    ///
    /// # Errors
    ///
    /// As [`flush`](Self::flush).
    pub fn arm_event(&self, event_type: u32) -> Result<()> {
        let mut ctrl = zcrx_ctrl::arm_event(self.id, event_type);
        self.ctrl(&mut ctrl, 0)
    }

    /// `ZCRX_CTRL_EXPORT`: an fd that another ring can import
    /// ([`import_into`](Self::import_into)).
    ///
    /// # Errors
    ///
    /// As [`flush`](Self::flush); [`Error::KernelValue`] if the kernel
    /// wrote back no descriptor.
    pub fn export(&self) -> Result<OwnedFd> {
        let mut ctrl = zcrx_ctrl::export(self.id);
        self.ctrl(&mut ctrl, 0)?;
        let fd = ctrl.zc_export().zcrx_fd as i32;
        if fd < 0 {
            return Err(Error::KernelValue {
                field: "zcrx_ctrl_export.zcrx_fd",
                value: fd as u64,
                reason: "not a file descriptor",
            });
        }
        // SAFETY: the kernel installed a new fd and gave it to us; nobody
        // else owns it.
        Ok(unsafe { <OwnedFd as rustix::fd::FromRawFd>::from_raw_fd(fd) })
    }

    /// Makes this instance usable from a second ring of this crate (Linux
    /// 6.19): exports it and imports it there. The returned handle is what a
    /// [`Receiver`](crate::Receiver) on `ring` accepts.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] naming `ZCRX_REG_IMPORT` on older kernels;
    /// [`Error::WrongThread`] when called from a thread that is not the
    /// issuer of this instance's ring or of `ring`; on a
    /// [`CqeMixed`](crate::ring::CqeMixed) ring, as
    /// [`register`](crate::ZcrxBuilder::register) (a kernel whose mixed
    /// rings can publish stale completions); otherwise as
    /// [`export`](Self::export).
    pub fn import_into<M: CqeMode>(&self, ring: &Ring<M>) -> Result<Imported<'_>> {
        if M::MIXED {
            super::refuse_stale_mixed_ring()?;
        }
        let id = self.import_into_fd(ring.as_fd())?;
        Ok(Imported {
            zcrx: self,
            id,
            ring: ring.id(),
        })
    }

    /// As [`import_into`](Self::import_into), into any ring (one owned by
    /// other code): returns the id to use in that ring's `IORING_OP_RECV_ZC`
    /// submissions. Its completions become views only through the `unsafe`
    /// [`buf_from_completion`](Self::buf_from_completion).
    ///
    /// # Errors
    ///
    /// As [`import_into`](Self::import_into).
    pub fn import_into_fd(&self, ring: BorrowedFd<'_>) -> Result<u32> {
        if let Some(caps) = &self.caps {
            caps.require_import()?;
        }
        let exported = self.export()?;
        let mut reg = io_uring_zcrx_ifq_reg {
            if_idx: exported.as_raw_fd() as u32,
            flags: ZCRX_REG_IMPORT,
            ..Default::default()
        };
        // SAFETY: an import carries no pointers (area, region and event
        // descriptor are all 0).
        unsafe { sys::register_zcrx_ifq(ring, &mut reg) }.map_err(|errno| {
            map_register_error(
                errno,
                &RegisterContext {
                    ring,
                    // No queue is bound by an import: EEXIST can only be the
                    // thread rule.
                    nodev: true,
                    target: (0, 0),
                    events: false,
                    locked_bytes: 0,
                },
            )
        })?;
        // The same instance: the kernel reports the same refill layout.
        self.layout.validate(&reg.offsets, self.rq_entries())?;
        Ok(reg.zcrx_id)
    }

    /// `ZCRX_CTRL_ADD_AREA` (Linux 7.3): adds another area to the instance,
    /// also while it is receiving and views are alive (when memory runs out
    /// mid-stream); returns its id. Completions name the area in their
    /// offset; views are checked against their own area.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] naming `ZCRX_CTRL_ADD_AREA` before 7.3;
    /// [`Error::InvalidConfig`] for an area that is not a whole number of
    /// buffers (or a dmabuf on a NODEV instance);
    /// [`Error::LockedMemoryLimit`] beyond `RLIMIT_MEMLOCK`;
    /// [`Error::WrongThread`]; [`Error::KernelValue`] if the kernel wrote
    /// back an unexpected area token. In that last case the kernel did
    /// register the area: it keeps the pages it pinned (or its dmabuf
    /// reference) until the instance is torn down, while `area` is
    /// dropped here and no view is ever made of its buffers (their
    /// completions fail their checks), so they are lost to this instance.
    pub fn add_area(&self, area: Area) -> Result<u16> {
        if let Some(caps) = &self.caps {
            caps.require_ctrl(ZCRX_CTRL_ADD_AREA)?;
        }
        if area.len() % (1usize << self.buf_shift) != 0 {
            return Err(Error::invalid(
                "area length",
                "must be a multiple of the buffer size",
            ));
        }
        if self.nodev && area.is_dmabuf() {
            return Err(Error::invalid(
                "area",
                "dmabuf areas need a network device (not NODEV)",
            ));
        }
        let mut area_reg: io_uring_zcrx_area_reg = area.registration();
        let mut ctrl = zcrx_ctrl::add_area(self.id, ptr::from_mut(&mut area_reg) as u64);
        // `area_ptr` points to a live local for the call; the area's memory
        // moves into `self` below and stays mapped while the kernel may use
        // it (see the `area` module's teardown notes).
        self.ctrl(&mut ctrl, area.locked_bytes())?;
        let count = self.area_count();
        let expected = (count as u64) << IORING_ZCRX_AREA_SHIFT;
        if area_reg.rq_area_token != expected {
            return Err(Error::KernelValue {
                field: "io_uring_zcrx_area_reg.rq_area_token",
                value: area_reg.rq_area_token,
                reason: "not the next area id",
            });
        }
        self.push_area(area.mem);
        Ok(count as u16)
    }
}
