//! The [`Backend`] of an emulated queue file: the uacce file operations and
//! ioctls, answered the way kernel 6.1 and the HiSilicon QM driver answer them.

use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use uacce_sys::hisi_qm::{QM_SQE_SIZE_ZIP_SEC, hisi_qp_ctx, hisi_qp_info};

use super::queue::QueueCore;
use crate::backend::Backend;
use crate::region::{Mapping, RegionKind};

/// One open queue file on an emulated device. Dropping it closes the file:
/// the queue pair goes back to `available_instances`.
pub(crate) struct EmuBackend {
    core: Arc<QueueCore>,
}

impl EmuBackend {
    pub fn new(core: Arc<QueueCore>) -> EmuBackend {
        EmuBackend { core }
    }
}

impl Backend for EmuBackend {
    fn page_size(&self) -> usize {
        self.core.dev.config.page_size().bytes()
    }

    fn map(&mut self, kind: RegionKind, len: usize) -> Result<Mapping, Errno> {
        self.core.map(kind, len)
    }

    fn start(&mut self) -> Result<(), Errno> {
        self.core.start()
    }

    fn put(&mut self) -> Result<(), Errno> {
        self.core.put()
    }

    fn set_qp_ctx(&mut self, ctx: &mut hisi_qp_ctx) -> Result<(), Errno> {
        ctx.id = self.core.set_qp_ctx(ctx.qc_type)?;
        Ok(())
    }

    fn set_qp_info(&mut self, info: &mut hisi_qp_info) -> Result<(), Errno> {
        self.core.probe_alive()?;
        let cfg = &self.core.dev.config;
        *info = hisi_qp_info {
            sqe_size: QM_SQE_SIZE_ZIP_SEC as u32,
            sq_depth: cfg.sq_depth(),
            cq_depth: cfg.cq_depth(),
            reserved: 0,
        };
        Ok(())
    }

    fn get_ss_dma(&mut self, index: u64) -> Result<(u64, u32), Errno> {
        self.core.get_ss_dma(index)
    }

    fn wait(&self, timeout: Option<Duration>) -> Result<bool, Errno> {
        self.core.wait(timeout)
    }

    fn probe_alive(&self) -> Result<(), Errno> {
        self.core.probe_alive()
    }

    fn poll_fd(&self) -> BorrowedFd<'_> {
        self.core.poll_fd()
    }
}

impl Drop for EmuBackend {
    fn drop(&mut self) {
        self.core.close();
        self.core.dev.release(self.core.qid);
    }
}
