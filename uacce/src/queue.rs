//! One open uacce queue: the file, its mapped regions, and the control-plane
//! operations (abi.md §2.3–§2.7, §3.4, §7).
//!
//! A [`Queue`] owns its backend (the fd) and its mappings. Regions are borrowed
//! from the queue; the mappings are dropped before the fd is closed. The queue
//! is `Send` but not `Sync`: one thread drives it at a time; sharing goes
//! through a pool.

use std::cell::Cell;
use std::fmt;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use uacce_sys::hisi_qm::{hisi_qp_ctx, hisi_qp_info};
use uacce_sys::openeuler::{UACCE_GRAN_NUM_MASK, UACCE_GRAN_SHIFT};

use crate::backend::{Backend, KernelBackend};
use crate::device::{DeviceInfo, Origin};
pub use crate::region::RegionKind;
use crate::region::{DusRegion, MmioRegion, RegionError, SsRegion};

/// The control-plane operation that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueOp {
    /// `open(2)` of the queue file.
    Open,
    /// `mmap(2)` of a region.
    Map(RegionKind),
    /// `UACCE_CMD_START_Q`.
    Start,
    /// `UACCE_CMD_PUT_Q`.
    Put,
    /// `UACCE_CMD_QM_SET_QP_CTX`.
    SetQpCtx,
    /// `UACCE_CMD_QM_SET_QP_INFO`.
    SetQpInfo,
    /// `UACCE_CMD_GET_SS_DMA`.
    GetSsDma,
    /// `poll(2)`.
    Wait,
}

impl fmt::Display for QueueOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueOp::Open => f.write_str("open"),
            QueueOp::Map(kind) => write!(f, "mmap of the {kind}"),
            QueueOp::Start => f.write_str("START_Q"),
            QueueOp::Put => f.write_str("PUT_Q"),
            QueueOp::SetQpCtx => f.write_str("SET_QP_CTX"),
            QueueOp::SetQpInfo => f.write_str("SET_QP_INFO"),
            QueueOp::GetSsDma => f.write_str("GET_SS_DMA"),
            QueueOp::Wait => f.write_str("poll"),
        }
    }
}

/// Errors of queue operations. Each names the device and the operation and
/// keeps the errno.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// `EBUSY` at open: every queue of the device is taken.
    #[error(
        "{device}: no free queue (all hardware queues are in use; close one or pick another device)"
    )]
    NoFreeQueue {
        /// Device name.
        device: String,
    },
    /// `ENXIO` (or a vanished device): the device was removed or reset; this
    /// queue is dead and its mappings are no longer touched.
    #[error(
        "{device}: device removed ({op} failed with ENXIO); open a new queue once the device is back"
    )]
    DeviceRemoved {
        /// Device name.
        device: String,
        /// What noticed it.
        op: QueueOp,
    },
    /// `EEXIST` at mmap: the region is already mapped on this queue (uacce maps
    /// each region once per file; on 6.1 not even again after munmap).
    #[error("{device}: {op} failed: the region is already mapped on this queue (EEXIST)")]
    AlreadyMapped {
        /// Device name.
        device: String,
        /// The map operation.
        op: QueueOp,
    },
    /// `EINVAL` at START_Q: the queue is already started.
    #[error("{device}: START_Q refused (EINVAL): the queue is already started")]
    AlreadyStarted {
        /// Device name.
        device: String,
    },
    /// Any other failure of a system call.
    #[error("{device}: {op} failed: {source}")]
    Os {
        /// Device name.
        device: String,
        /// The operation.
        op: QueueOp,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// The device publishes no such region (its size attribute is absent).
    #[error("{device}: the device has no {region}")]
    NoRegion {
        /// Device name.
        device: String,
        /// The missing region.
        region: RegionKind,
    },
    /// The process forked after the queue was opened; uacce mappings do not
    /// survive fork, so the child must open its own queue.
    #[error(
        "{device}: this queue belongs to the parent process; a forked child must open its own queue"
    )]
    ForkedChild {
        /// Device name.
        device: String,
    },
    /// A region was given an out-of-range access.
    #[error("{device}: {source}")]
    Region {
        /// Device name.
        device: String,
        /// What was wrong.
        #[source]
        source: RegionError,
    },
}

impl QueueError {
    /// Turns the errno of `op` on `device` into the most specific error.
    pub fn from_errno(device: &str, op: QueueOp, errno: Errno) -> QueueError {
        let device = device.to_owned();
        match (op, errno) {
            (QueueOp::Open, Errno::EBUSY) => QueueError::NoFreeQueue { device },
            (QueueOp::Map(_), Errno::EEXIST) => QueueError::AlreadyMapped { device, op },
            (QueueOp::Start, Errno::EINVAL) => QueueError::AlreadyStarted { device },
            (_, Errno::ENXIO) => QueueError::DeviceRemoved { device, op },
            (_, source) => QueueError::Os { device, op, source },
        }
    }

    /// The errno behind this error, if a system call failed.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            QueueError::NoFreeQueue { .. } => Some(Errno::EBUSY),
            QueueError::DeviceRemoved { .. } => Some(Errno::ENXIO),
            QueueError::AlreadyMapped { .. } => Some(Errno::EEXIST),
            QueueError::AlreadyStarted { .. } => Some(Errno::EINVAL),
            QueueError::Os { source, .. } => Some(*source),
            _ => None,
        }
    }

    /// Whether the device is gone (removed or reset).
    pub fn is_device_removed(&self) -> bool {
        matches!(self, QueueError::DeviceRemoved { .. })
    }
}

/// The answer of `GET_SS_DMA` for one slice, decoded (abi.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SsSlice {
    /// The slice's DMA address (page aligned).
    pub dma: u64,
    /// Its size in bytes, from the 64 KiB granule count in the low 12 bits.
    /// Without an IOMMU this is the slice size; in IOMMU mode the kernel
    /// reports one slice and this field may be unused (0).
    pub size: u64,
    /// How many slices follow this one.
    pub remaining: u32,
}

impl SsSlice {
    /// Decodes an answer word and the ioctl's return value.
    pub fn decode(word: u64, remaining: u32) -> SsSlice {
        SsSlice {
            dma: word & !UACCE_GRAN_NUM_MASK,
            size: (word & UACCE_GRAN_NUM_MASK) << UACCE_GRAN_SHIFT,
            remaining,
        }
    }
}

/// Geometry reported by `SET_QP_INFO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QpInfo {
    /// SQE size in bytes.
    pub sqe_size: u32,
    /// SQ depth.
    pub sq_depth: u16,
    /// CQ depth.
    pub cq_depth: u16,
}

/// One open queue on a uacce device.
pub struct Queue {
    // Field order is drop order: the mappings go before the backend's fd.
    mmio: Option<MmioRegion>,
    dus: Option<DusRegion>,
    ss: Option<Arc<SsRegion>>,
    backend: Box<dyn Backend>,
    info: DeviceInfo,
    fork_generation: u64,
    started: bool,
    // Set once the device is known to be gone; `Cell` also makes the queue !Sync.
    removed: Cell<bool>,
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("device", &self.info.name)
            .field("started", &self.started)
            .field("removed", &self.removed.get())
            .finish_non_exhaustive()
    }
}

impl Queue {
    /// Opens a queue on `device` and maps its MMIO and DUS regions (each once,
    /// with the sizes from sysfs, at `type * page size`).
    pub fn open(device: &DeviceInfo) -> Result<Queue, QueueError> {
        let name = device.name.as_str();
        let backend: Box<dyn Backend> = match &device.origin {
            Origin::Kernel => Box::new(
                KernelBackend::open(&device.dev_path)
                    .map_err(|e| QueueError::from_errno(name, QueueOp::Open, e))?,
            ),
            Origin::Emulated(opener) => opener
                .open()
                .map_err(|e| QueueError::from_errno(name, QueueOp::Open, e))?,
        };
        Queue::with_backend(device.clone(), backend)
    }

    /// Builds a queue over an already opened backend and maps MMIO and DUS.
    pub fn with_backend(
        info: DeviceInfo,
        mut backend: Box<dyn Backend>,
    ) -> Result<Queue, QueueError> {
        let mut map = |kind: RegionKind, len: Option<u64>| -> Result<_, QueueError> {
            match len {
                None => Ok(None),
                Some(len) => {
                    let len = usize::try_from(len).map_err(|_| QueueError::Os {
                        device: info.name.clone(),
                        op: QueueOp::Map(kind),
                        source: Errno::EOVERFLOW,
                    })?;
                    backend
                        .map(kind, len)
                        .map(Some)
                        .map_err(|e| QueueError::from_errno(&info.name, QueueOp::Map(kind), e))
                }
            }
        };
        // UADK maps DUS first, then MMIO (abi.md §4.1).
        let dus = map(RegionKind::Dus, info.region_dus_size)?.map(DusRegion::new);
        let mmio = map(RegionKind::Mmio, info.region_mmio_size)?.map(MmioRegion::new);
        Ok(Queue {
            mmio,
            dus,
            ss: None,
            backend,
            info,
            fork_generation: crate::fork::generation(),
            started: false,
            removed: Cell::new(false),
        })
    }

    /// The device this queue is on.
    pub fn device(&self) -> &DeviceInfo {
        &self.info
    }

    /// The page size of the kernel behind the queue.
    pub fn page_size(&self) -> usize {
        self.backend.page_size()
    }

    /// Whether [`start`](Self::start) succeeded and no [`put`](Self::put) followed.
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Checks that the queue may touch its mappings: same process it was
    /// opened in, device not known to be removed.
    pub fn check_usable(&self) -> Result<(), QueueError> {
        if crate::fork::generation() != self.fork_generation {
            return Err(QueueError::ForkedChild {
                device: self.info.name.clone(),
            });
        }
        if self.removed.get() {
            return Err(QueueError::DeviceRemoved {
                device: self.info.name.clone(),
                op: QueueOp::Wait,
            });
        }
        Ok(())
    }

    fn fail(&self, op: QueueOp, errno: Errno) -> QueueError {
        let err = QueueError::from_errno(&self.info.name, op, errno);
        if err.is_device_removed() {
            self.removed.set(true);
        }
        err
    }

    /// The MMIO (doorbell) region.
    pub fn mmio(&self) -> Result<&MmioRegion, QueueError> {
        self.check_usable()?;
        self.mmio.as_ref().ok_or_else(|| QueueError::NoRegion {
            device: self.info.name.clone(),
            region: RegionKind::Mmio,
        })
    }

    /// The DUS (ring) region.
    pub fn dus(&self) -> Result<&DusRegion, QueueError> {
        self.check_usable()?;
        self.dus.as_ref().ok_or_else(|| QueueError::NoRegion {
            device: self.info.name.clone(),
            region: RegionKind::Dus,
        })
    }

    /// The SS region, once [`map_ss`](Self::map_ss) mapped it. It is shared so
    /// that DMA buffers carved from it keep the memory mapped while they live.
    pub fn ss(&self) -> Result<&Arc<SsRegion>, QueueError> {
        self.check_usable()?;
        self.ss.as_ref().ok_or_else(|| QueueError::NoRegion {
            device: self.info.name.clone(),
            region: RegionKind::Ss,
        })
    }

    /// Maps `len` bytes of the openEuler SS region (offset `2 * page size`).
    /// Only once per queue: a second call fails with
    /// [`QueueError::AlreadyMapped`] and never unmaps the first.
    pub fn map_ss(&mut self, len: usize) -> Result<Arc<SsRegion>, QueueError> {
        self.check_usable()?;
        let op = QueueOp::Map(RegionKind::Ss);
        if self.ss.is_some() {
            return Err(QueueError::AlreadyMapped {
                device: self.info.name.clone(),
                op,
            });
        }
        let map = self
            .backend
            .map(RegionKind::Ss, len)
            .map_err(|e| self.fail(op, e))?;
        Ok(self.ss.insert(Arc::new(SsRegion::new(map))).clone())
    }

    /// `START_Q`. On a HiSilicon device call [`set_qp_ctx`](Self::set_qp_ctx) first.
    pub fn start(&mut self) -> Result<(), QueueError> {
        self.check_usable()?;
        self.backend
            .start()
            .map_err(|e| self.fail(QueueOp::Start, e))?;
        self.started = true;
        Ok(())
    }

    /// `PUT_Q`: stops the queue. On 6.1 stable and newer kernels the queue goes
    /// back to INIT, keeps its mappings, and may be started again (abi.md §12);
    /// older kernels release it for good.
    pub fn put(&mut self) -> Result<(), QueueError> {
        self.check_usable()?;
        self.backend.put().map_err(|e| self.fail(QueueOp::Put, e))?;
        self.started = false;
        Ok(())
    }

    /// `SET_QP_CTX`: sets the queue's algorithm type (ZIP: 0 compress, 1
    /// decompress) and returns the queue id used in doorbells.
    pub fn set_qp_ctx(&mut self, qc_type: u16) -> Result<u16, QueueError> {
        self.check_usable()?;
        let mut ctx = hisi_qp_ctx { id: 0, qc_type };
        self.backend
            .set_qp_ctx(&mut ctx)
            .map_err(|e| self.fail(QueueOp::SetQpCtx, e))?;
        Ok(ctx.id)
    }

    /// `SET_QP_INFO`: the SQE size and ring depths, or `None` when the kernel
    /// predates the ioctl (it answers `EINVAL`; abi.md §1.2).
    pub fn set_qp_info(&mut self) -> Result<Option<QpInfo>, QueueError> {
        self.check_usable()?;
        let mut info = hisi_qp_info::default();
        match self.backend.set_qp_info(&mut info) {
            Ok(()) => Ok(Some(QpInfo {
                sqe_size: info.sqe_size,
                sq_depth: info.sq_depth,
                cq_depth: info.cq_depth,
            })),
            Err(Errno::EINVAL) => Ok(None),
            Err(e) => Err(self.fail(QueueOp::SetQpInfo, e)),
        }
    }

    /// `GET_SS_DMA` for slice `index` (openEuler non-SVA kernels).
    pub fn get_ss_dma(&mut self, index: u64) -> Result<SsSlice, QueueError> {
        self.check_usable()?;
        let (word, left) = self
            .backend
            .get_ss_dma(index)
            .map_err(|e| self.fail(QueueOp::GetSsDma, e))?;
        Ok(SsSlice::decode(word, left))
    }

    /// Sleeps until the queue reports a completion event or `timeout` passes
    /// (`None`: no limit). Returns whether an event arrived.
    ///
    /// A kernel reports no events at all for a queue whose device was removed
    /// (abi.md §12), so after a timeout this asks the kernel whether the queue
    /// is still alive and returns [`QueueError::DeviceRemoved`] if it is not.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool, QueueError> {
        self.check_usable()?;
        let event = self
            .backend
            .wait(timeout)
            .map_err(|e| self.fail(QueueOp::Wait, e))?;
        if !event {
            self.check_alive()?;
        }
        Ok(event)
    }

    /// Asks the device whether this queue is still alive, without touching any
    /// mapping (the kernel answers a query ioctl with `ENXIO` once the queue is
    /// a zombie).
    pub fn check_alive(&self) -> Result<(), QueueError> {
        self.check_usable()?;
        match self.backend.probe_alive() {
            Err(Errno::ENXIO) => Err(self.fail(QueueOp::Wait, Errno::ENXIO)),
            _ => Ok(()),
        }
    }

    /// A descriptor that becomes readable when [`wait`](Self::wait) would report
    /// an event, for event loops and async runtimes.
    pub fn poll_fd(&self) -> BorrowedFd<'_> {
        self.backend.poll_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_mapping_is_specific() {
        let e = QueueError::from_errno("hisi_zip-0", QueueOp::Open, Errno::EBUSY);
        assert!(matches!(e, QueueError::NoFreeQueue { .. }));
        assert!(e.to_string().contains("hisi_zip-0") && e.to_string().contains("no free queue"));
        let e = QueueError::from_errno("hisi_zip-0", QueueOp::Start, Errno::ENXIO);
        assert!(e.is_device_removed());
        assert_eq!(e.errno(), Some(Errno::ENXIO));
        let e = QueueError::from_errno("d", QueueOp::Map(RegionKind::Dus), Errno::EEXIST);
        assert!(matches!(e, QueueError::AlreadyMapped { .. }));
        let e = QueueError::from_errno("d", QueueOp::Start, Errno::EINVAL);
        assert!(matches!(e, QueueError::AlreadyStarted { .. }));
        let e = QueueError::from_errno("d", QueueOp::Put, Errno::EPERM);
        assert!(matches!(
            e,
            QueueError::Os {
                source: Errno::EPERM,
                op: QueueOp::Put,
                ..
            }
        ));
        assert!(e.to_string().contains("PUT_Q"));
    }

    #[test]
    fn ss_answer_decoding() {
        // 4 MiB slice at 0x1234_0000: 64 granules of 64 KiB.
        let s = SsSlice::decode(0x1234_0000 | 64, 3);
        assert_eq!(
            s,
            SsSlice {
                dma: 0x1234_0000,
                size: 4 << 20,
                remaining: 3
            }
        );
        let s = SsSlice::decode(0xdead_b000, 0);
        assert_eq!((s.dma, s.size, s.remaining), (0xdead_b000, 0, 0));
    }
}
