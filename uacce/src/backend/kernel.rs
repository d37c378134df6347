//! The kernel backend: a uacce character device (abi.md §2).

use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use memmap2::MmapOptions;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use uacce_sys::hisi_qm::{
    UACCE_CMD_QM_SET_QP_CTX, UACCE_CMD_QM_SET_QP_INFO, hisi_qp_ctx, hisi_qp_info,
};
use uacce_sys::openeuler::UACCE_CMD_GET_SS_DMA;
use uacce_sys::uacce::{UACCE_CMD_PUT_Q, UACCE_CMD_START_Q};

use super::Backend;
use crate::region::{Mapping, RegionKind};

/// The page size of the running kernel, read at run time (4 KiB and 64 KiB
/// kernels both exist on arm64).
pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as usize } else { 4096 }
}

/// One open queue file on a kernel uacce device.
#[derive(Debug)]
pub struct KernelBackend {
    file: File,
    page_size: usize,
}

impl KernelBackend {
    /// Opens `path` (`/dev/<name>`) with `O_RDWR | O_CLOEXEC`, which allocates
    /// one hardware queue.
    pub fn open(path: &Path) -> Result<KernelBackend, Errno> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
        Ok(KernelBackend {
            file,
            page_size: page_size(),
        })
    }

    fn ioctl_none(&self, request: uacce_sys::IoctlRequest) -> Result<libc::c_int, Errno> {
        // SAFETY: a `_IO` request takes no argument; the fd is open.
        let ret = unsafe { libc::ioctl(self.file.as_raw_fd(), request, 0) };
        Errno::result(ret)
    }

    fn ioctl_ptr<T>(
        &self,
        request: uacce_sys::IoctlRequest,
        arg: &mut T,
    ) -> Result<libc::c_int, Errno> {
        // SAFETY: `arg` is a live, exclusively borrowed value of exactly the
        // type the request's size field encodes; the kernel reads and writes
        // only those bytes.
        let ret = unsafe { libc::ioctl(self.file.as_raw_fd(), request, arg as *mut T) };
        Errno::result(ret)
    }
}

impl Backend for KernelBackend {
    fn page_size(&self) -> usize {
        self.page_size
    }

    fn map(&mut self, kind: RegionKind, len: usize) -> Result<Mapping, Errno> {
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let raw = MmapOptions::new()
            .offset(kind.mmap_offset(self.page_size))
            .len(len)
            .map_raw(&self.file)
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
        Ok(Mapping::from_mmap(raw))
    }

    fn start(&mut self) -> Result<(), Errno> {
        self.ioctl_none(UACCE_CMD_START_Q).map(drop)
    }

    fn put(&mut self) -> Result<(), Errno> {
        self.ioctl_none(UACCE_CMD_PUT_Q).map(drop)
    }

    fn set_qp_ctx(&mut self, ctx: &mut hisi_qp_ctx) -> Result<(), Errno> {
        self.ioctl_ptr(UACCE_CMD_QM_SET_QP_CTX, ctx).map(drop)
    }

    fn set_qp_info(&mut self, info: &mut hisi_qp_info) -> Result<(), Errno> {
        self.ioctl_ptr(UACCE_CMD_QM_SET_QP_INFO, info).map(drop)
    }

    fn get_ss_dma(&mut self, index: u64) -> Result<(u64, u32), Errno> {
        let mut word: libc::c_ulong = index as libc::c_ulong;
        let left = self.ioctl_ptr(UACCE_CMD_GET_SS_DMA, &mut word)?;
        Ok((word as u64, left.max(0) as u32))
    }

    fn wait(&self, timeout: Option<Duration>) -> Result<bool, Errno> {
        let timeout = match timeout {
            None => PollTimeout::NONE,
            Some(d) => PollTimeout::try_from(d).unwrap_or(PollTimeout::MAX),
        };
        let mut fds = [PollFd::new(self.file.as_fd(), PollFlags::POLLIN)];
        loop {
            match poll(&mut fds, timeout) {
                Ok(n) => {
                    let revents = fds[0].revents().unwrap_or(PollFlags::empty());
                    if revents.contains(PollFlags::POLLNVAL) {
                        return Err(Errno::EBADF);
                    }
                    return Ok(
                        n > 0 && revents.intersects(PollFlags::POLLIN | PollFlags::POLLRDNORM)
                    );
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn probe_alive(&self) -> Result<(), Errno> {
        // SET_QP_INFO only reads geometry; the uacce core answers ENXIO for a
        // zombie queue before the driver sees it (abi.md §2.5). Kernels without
        // the ioctl answer EINVAL, which also means "alive".
        let mut info = hisi_qp_info::default();
        match self.ioctl_ptr(UACCE_CMD_QM_SET_QP_INFO, &mut info) {
            Err(Errno::ENXIO) => Err(Errno::ENXIO),
            _ => Ok(()),
        }
    }

    fn poll_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}
