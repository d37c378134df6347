//! What sits under a [`Queue`](crate::Queue): the kernel character device, or
//! the built-in emulator. Everything above this trait is the same code for both
//! (DESIGN.md decision 1).
//!
//! A backend speaks in raw errnos; the queue turns them into typed errors with
//! the device and operation attached.

use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use uacce_sys::hisi_qm::{hisi_qp_ctx, hisi_qp_info};

use crate::region::{Mapping, RegionKind};

pub mod kernel;
pub mod registry;

pub use kernel::KernelBackend;

/// One open queue file: the operations of `drivers/misc/uacce/uacce.c` plus the
/// HiSilicon and openEuler ioctls.
pub trait Backend: Send {
    /// The page size of the kernel (or emulated kernel) behind this queue.
    fn page_size(&self) -> usize;

    /// `mmap(len, offset = kind * page_size)`. Each region may be mapped once;
    /// a second map fails with `EEXIST` while the first exists (and, on 6.1,
    /// for ever after).
    fn map(&mut self, kind: RegionKind, len: usize) -> Result<Mapping, Errno>;

    /// `UACCE_CMD_START_Q`.
    fn start(&mut self) -> Result<(), Errno>;

    /// `UACCE_CMD_PUT_Q`.
    fn put(&mut self) -> Result<(), Errno>;

    /// `UACCE_CMD_QM_SET_QP_CTX`.
    fn set_qp_ctx(&mut self, ctx: &mut hisi_qp_ctx) -> Result<(), Errno>;

    /// `UACCE_CMD_QM_SET_QP_INFO`.
    fn set_qp_info(&mut self, info: &mut hisi_qp_info) -> Result<(), Errno>;

    /// `UACCE_CMD_GET_SS_DMA` for slice `index`: returns the encoded answer word
    /// and the ioctl's return value (slices left after this one).
    fn get_ss_dma(&mut self, index: u64) -> Result<(u64, u32), Errno>;

    /// `poll(2)` for `POLLIN` with a timeout (`None`: forever). `Ok(true)` when
    /// the queue reported an event.
    fn wait(&self, timeout: Option<Duration>) -> Result<bool, Errno>;

    /// Asks whether the queue is still alive without changing any state and
    /// without touching mappings: `Err(ENXIO)` once the device was removed.
    fn probe_alive(&self) -> Result<(), Errno>;

    /// A file descriptor that becomes readable when [`wait`](Self::wait) would
    /// return an event, for event loops and async runtimes.
    fn poll_fd(&self) -> BorrowedFd<'_>;
}

/// Opens queues on one device that is not a kernel character device (the
/// built-in emulator's devices).
pub trait Opener: Send + Sync {
    /// Opens one queue, as `open("/dev/<name>", O_RDWR | O_CLOEXEC)` would.
    fn open(&self) -> Result<Box<dyn Backend>, Errno>;
}

/// Finds the opener for device `name` under the class directory `root`, if an
/// emulator registered that directory.
pub(crate) fn emulated_opener(root: &std::path::Path, name: &str) -> Option<Arc<dyn Opener>> {
    registry::lookup(root, name)
}
