//! The built-in emulated uacce device: a HiSilicon ZIP engine (QM v1, v2 or v3)
//! that speaks the hardware queue protocol of abi.md, so the SDK's drivers run
//! unchanged against it (DESIGN.md decisions 1 and 9).
//!
//! An [`Emulator`] owns one or more virtual devices. Each renders its sysfs
//! attributes into a private class directory ([`Emulator::sysfs_root`]) that
//! is registered with [`crate::backend::registry`], so discovery of that
//! directory yields devices whose queues [`crate::Queue::open`] opens here.
//!
//! ```
//! use uacce::emu::{DeviceConfig, Emulator};
//! let emu = Emulator::new(DeviceConfig::zip_v2().with_queues(4)).unwrap();
//! let dev = &emu.devices().unwrap()[0];
//! let mut q = uacce::Queue::open(dev).unwrap();
//! let qid = q.set_qp_ctx(0).unwrap();
//! q.start().unwrap();
//! assert_eq!(emu.control(0).unwrap().available_instances(), 3);
//! # let _ = qid;
//! ```
//!
//! # Module layout
//!
//! * `config`: [`DeviceConfig`] and its enums: generation, address mode, page size.
//! * `sysfs`: attribute rendering in the kernel's formats.
//! * `device`: queue-pair allocation, removal, [`DeviceControl`].
//! * `backend`: the queue file ([`crate::backend::Backend`]).
//! * `queue`: ring state, doorbells, in-order completion, waiting.
//! * `engine`: the engine threads.
//! * `zip`: what a ZIP SQE does; `sqe`: its layout and the [`status`] codes.
//! * `dma`: checked device memory access; `ss`: SS slices and their DMA addresses.
//! * `fault`: [`RequestId`] and the fault plan.
//!
//! # The device contract (what a driver may rely on)
//!
//! **Queue file** (kernel 6.1 + hisi_qm): open takes a queue pair (`EBUSY` when
//! none is left; `available_instances` goes down, and up again when the file,
//! i.e. the `Backend`, is dropped). Queue ids come from a cyclic allocator, so
//! a reopened queue usually gets a new id. Regions: MMIO ≤ `region_mmio_size`
//! (else `EINVAL`); DUS exactly `region_dus_size` (else `EINVAL`); each region
//! once per file (`EEXIST`, also after the first mapping was dropped); SS
//! (type 2) only on non-SVA devices (`EINVAL` on SVA). The DUS holds the SQ at
//! 0, the CQ right after it, the TX word at `dus_size - 4` and the RX word at
//! `dus_size - 8`; CQ and status words are zero at open. `SET_QP_CTX` accepts
//! `qc_type` 0 (compress) or 1 (decompress), else `EINVAL`, and returns the
//! queue id; the direction is taken at `START_Q` (a `SET_QP_CTX` on a started
//! queue is accepted and applies from the next `START_Q`; without any, the
//! queue compresses). `SET_QP_INFO` answers 128/sq_depth/cq_depth. `START_Q` twice → `EINVAL`; `PUT_Q` stops the queue
//! (back to INIT, mappings kept, requests in flight are dropped without CQE)
//! and `START_Q` may follow. Every `START_Q` restarts the rings at SQ head 0,
//! CQ tail 0, phase 1, **zeroes the CQ** and forgets all stream contexts (so a
//! restarted queue never shows stale CQEs). `GET_SS_DMA(i)` answers
//! `dma | ((size >> 16) & 0xfff)` and returns the slices left after `i`;
//! `EINVAL` without SS or for `i` ≥ slices. IOMMU mode: one slice of the whole
//! length. No IOMMU: the length is rounded up to 64 KiB and cut into slices of
//! [`DeviceConfig::with_ss_slice_size`] (default 4 MiB); slices come in pairs
//! that are adjacent in DMA space, with a 1 MiB hole after each pair; slices
//! are in ascending DMA order and back to back in the mapping.
//!
//! **Removal** ([`DeviceControl::remove`]): the device directory vanishes;
//! `start`, `put`, `set_qp_ctx`, `set_qp_info`, `get_ss_dma`, `map` and
//! `probe_alive` answer `ENXIO`; opening answers `ENXIO`; `wait` returns
//! "no event" at once; nothing is fetched or completed any more. Unlike the
//! kernel, the mappings are *not* made inaccessible: the SDK only learns of the
//! removal at its next control call, and a SIGBUS in the middle of a test run
//! would take the whole test binary down.
//!
//! **Doorbells**: only one aligned 64-bit store at MMIO + 0x1000 counts
//! (32-bit stores are ignored), decoded as qn 0–11, cmd 12–15, rand 16–31,
//! index 32–47, priority 48–63; on v1 at MMIO + 0x340 as qn 0–15, cmd 16–19,
//! index 32–47, priority 48–63 (no rand field; v1's MMIO region is one page). Ignored: qn ≠ this queue's id, rand ≠ 0,
//! index ≥ depth, queue not started, device removed. An SQ doorbell makes the
//! device fetch (copy) every SQE from its own head up to `index`; ringing with
//! `index` equal to the device head fetches nothing (that is why capacity is
//! depth − 1). While the **TX word** reads 1 the device drops SQ doorbells: it
//! models the queue being stopped for a reset, which is exactly when the kernel
//! raises TX. Those SQEs are not lost; the next accepted SQ doorbell fetches
//! from the device head again. Requests already fetched still complete. While
//! the **RX word** reads 1, CQ doorbells are dropped (the consumer must not
//! ring then); completions are still posted. A CQ doorbell records the
//! consumer head and the priority (re-arm) bit, but the emulator does not
//! model interrupt masking: every CQE is an event for `wait`.
//!
//! **Completion**: results are written into the SQE slot (dw0 consumed, dw1
//! produced, dw3 = status | lstblk << 8, dw14 = `dest_avail_out - produced`,
//! dw15 ctx_dw0 in stream decompression, dw30 isize and dw31 checksum for zlib
//! and gzip), then the CQE at the device CQ tail: zeroes, `sq_head` (u16 @8) =
//! slot, `sq_num` (u16 @10) = qid, and last, after a release fence, `w7`
//! (u16 @14) = phase. Phase starts at 1 and flips after entry `cq_depth - 1`.
//! CQEs are posted in submission order per queue even though requests run on
//! several engine threads; stream-mode requests wait until every earlier
//! request of their queue has run. The device does not check for CQ overflow.
//!
//! **Waiting**: `wait(timeout)` returns true as soon as at least one CQE was
//! posted since the last `wait` that returned true (the kernel's shadow head),
//! and moves the shadow past all of them; it never spins and never loses a
//! wakeup. `poll_fd` is an eventfd that is readable exactly while such CQEs
//! exist; `wait` drains it.
//!
//! **ZIP engine** (abi.md §5): checks in this order: `sqe_type` (v1/v2: 0, v3: 3)
//! else [`status::BAD_SQE_TYPE`]; `req_type` (v1/v2: zlib 0x02, gzip 0x03; v3 also
//! deflate 0x01) else [`status::BAD_ALGORITHM`]; window size code (dw9 bits
//! 12–15) ≤ 4 and buffer type flat, else [`status::UNSUPPORTED`]; input
//! ≤ 8 MiB else [`status::BAD_LENGTH`]; input readable and output range (`dest_avail_out` bytes, clamped to 8 MiB)
//! mapped, else [`status::DMA_FAULT`]. The direction is the queue's.
//! Compression uses the window the code asks for (0: 4 KiB, 1: 8 KiB, 2: 16 KiB,
//! 3: 16 KiB, the largest power of two within 24 KiB, 4: 32 KiB; note that
//! code 0 is what a zeroed dw9 asks for); decompression accepts any window.
//! The device produces and consumes **raw deflate**; software writes and skips
//! the zlib (2-byte) / gzip (10-byte) header.
//!
//! * Block mode (dw7 bit 26 = 0; bits 25 and 27 are not checked): one whole
//!   stream per request. Compression: deflate with finish, then the trailer
//!   (zlib Adler-32 big-endian, gzip CRC32 LE + ISIZE LE); status 0, or
//!   [`status::NEGATIVE_COMPRESSION`] when produced ≥ consumed (output valid),
//!   or [`status::OUTPUT_FULL`] when the output did not fit: produced =
//!   `dest_avail_out`, consumed = what the engine read (it may have taken all
//!   input into its window); block mode cannot resume, so redo the request with
//!   more space. Decompression: inflate, then read and
//!   check the trailer: [`status::DECOMPRESS_END`] with lstblk and consumed
//!   covering the trailer; [`status::CHECKSUM_MISMATCH`] (lstblk set) on a bad
//!   trailer; [`status::OUTPUT_FULL`]; [`status::TRUNCATED`] when the input
//!   ends before the end of stream or trailer; [`status::BAD_DATA`] on invalid
//!   deflate data. Bytes after the trailer are not consumed.
//! * Stream mode (dw7 bit 26 = 1): the context buffer (dw22/23) must be device
//!   memory: the device writes a 16-byte record there at the first request
//!   (bit 27 = 1, which also discards any old stream at that address) and
//!   checks it at every later one; software must not modify those bytes. A
//!   continuing request without a stream, with another algorithm, or with a
//!   clobbered record gets [`status::BAD_CONTEXT`]. The running isize and
//!   checksum are kept by the device and reported in dw30/dw31 after every
//!   request (input dw30/dw31 are ignored). Compression: non-final requests
//!   (bit 25 = 0) are deflated with a sync flush, so all their output appears;
//!   the finishing request (bit 25 = 1) ends the deflate stream and appends the
//!   trailer. If not all input was consumed or the output filled up, the status
//!   is [`status::OUTPUT_FULL`] and dw0/dw1 tell how far it got: resubmit the
//!   rest of the input (possibly none) with the same flags (bit 27 = 0) and fresh
//!   output until status 0. A stream ends with status 0 on a finishing request.
//!   Decompression: status 0 means "all input consumed, send more";
//!   [`status::OUTPUT_FULL`] (ctx_dw0 = 0x2) means "output full, resubmit the
//!   rest of the input (possibly none)"; at the end of the final block the
//!   trailer is collected (it may span requests) and checked:
//!   [`status::DECOMPRESS_END`] + lstblk or [`status::CHECKSUM_MISMATCH`].
//!   Any error status ends the stream.
//!
//! **DMA**: SVA devices read and write process memory with
//! `process_vm_readv`/`writev` on the process itself, so an unmapped address
//! is [`status::DMA_FAULT`], never a crash. Non-SVA devices translate through
//! the queue's SS slices; an address outside them, or a range that crosses
//! from one slice into a non-adjacent one, is [`status::DMA_FAULT`].
//!
//! **Fault injection** ([`DeviceControl`]): fail request N with a status,
//! never complete request N, corrupt its tag (complement), delay every
//! completion, raise/clear the TX or RX word, remove the device. Requests are
//! named by [`RequestId`] (device-wide or per-queue fetch order, from 0).

// The emulator needs no unsafe code of its own: device memory goes through
// `region::SharedMemory`, process memory through `process_vm_readv`/`writev`.
#![deny(unsafe_code)]

mod backend;
mod config;
mod device;
mod dma;
mod engine;
mod fault;
mod queue;
mod sqe;
mod ss;
mod sysfs;
mod zip;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};

pub use config::{
    DEFAULT_SS_SLICE_SIZE, DeviceConfig, EmuAddressMode, MAX_SS_SLICE_SIZE, PageSize, ZipVersion,
};
pub use device::{DeviceControl, StatusWord};
pub use dma::DmaFault;
pub use fault::RequestId;
pub use sqe::{SQE_SIZE, status};
pub use zip::CTX_RECORD_LEN;

use crate::backend::Opener;
use crate::backend::registry::{self, EmulatedRoot};
use crate::device::DeviceInfo;
use device::{DeviceOpener, EmuDevice};

/// Errors of building or inspecting an emulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmuError {
    /// A device configuration is not possible.
    #[error("invalid emulated device configuration: {0}")]
    InvalidConfig(String),
    /// Creating the class directory or an engine thread failed.
    #[error("emulator setup failed: {0}")]
    Io(#[source] std::io::Error),
    /// Discovery could not read a rendered device.
    #[error("emulated device not readable by discovery: {0}")]
    Discovery(#[source] crate::discovery::DiscoveryError),
    /// The emulator has no devices.
    #[error("an emulator needs at least one device")]
    NoDevices,
}

/// Device ids come from one process-wide counter, like the kernel's global
/// uacce xarray: names are unique across emulators and need not start at 0.
static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// The registry's view of an emulator: device name → opener.
struct Root {
    devices: Vec<Arc<EmuDevice>>,
}

impl EmulatedRoot for Root {
    fn opener(&self, name: &str) -> Option<Arc<dyn Opener>> {
        let dev = self
            .devices
            .iter()
            .find(|d| d.name == name && !d.is_removed())?;
        Some(Arc::new(DeviceOpener(dev.clone())))
    }
}

/// Builds an [`Emulator`] with one or more devices.
#[derive(Debug, Default, Clone)]
pub struct EmulatorBuilder {
    devices: Vec<DeviceConfig>,
}

impl EmulatorBuilder {
    /// Adds one device.
    pub fn device(mut self, config: DeviceConfig) -> Self {
        self.devices.push(config);
        self
    }

    /// Adds `count` devices with the same configuration.
    pub fn devices(mut self, count: usize, config: DeviceConfig) -> Self {
        self.devices.extend(std::iter::repeat_n(config, count));
        self
    }

    /// Creates the class directory, renders every device, starts the engine
    /// threads and registers the directory for discovery.
    pub fn build(self) -> Result<Emulator, EmuError> {
        if self.devices.is_empty() {
            return Err(EmuError::NoDevices);
        }
        for cfg in &self.devices {
            cfg.validate()?;
        }
        let dir = tempfile::Builder::new()
            .prefix("uacce-emu-")
            .tempdir()
            .map_err(EmuError::Io)?;
        let mut devices = Vec::with_capacity(self.devices.len());
        for cfg in self.devices {
            let name = format!("hisi_zip-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
            let path = dir.path().join(&name);
            sysfs::render(&path, &cfg, cfg.queues()).map_err(EmuError::Io)?;
            devices.push(EmuDevice::new(name, cfg, path)?);
        }
        let root = Arc::new(Root { devices });
        let weak: Weak<dyn EmulatedRoot> = Arc::downgrade(&(root.clone() as Arc<dyn EmulatedRoot>));
        registry::register(dir.path(), weak);
        Ok(Emulator { root, dir })
    }
}

/// A set of virtual devices under one private sysfs class directory.
/// Dropping it removes every device (open queues see `ENXIO`), stops the
/// engine threads and deletes the directory.
pub struct Emulator {
    root: Arc<Root>,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("root", &self.dir.path())
            .field(
                "devices",
                &self
                    .root
                    .devices
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Emulator {
    /// A builder for several devices.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// An emulator with one device.
    pub fn new(config: DeviceConfig) -> Result<Emulator, EmuError> {
        Emulator::builder().device(config).build()
    }

    /// The class directory (the emulator's `/sys/class/uacce`).
    pub fn sysfs_root(&self) -> &Path {
        self.dir.path()
    }

    /// The devices that are not removed, read back from the class directory
    /// by [`crate::discovery::read_device`] (the same parser as real sysfs),
    /// in creation order; their queues open on this emulator.
    pub fn devices(&self) -> Result<Vec<DeviceInfo>, EmuError> {
        self.root
            .devices
            .iter()
            .filter(|d| !d.is_removed())
            .map(|d| {
                crate::discovery::read_device(self.sysfs_root(), &d.name)
                    .map_err(EmuError::Discovery)
            })
            .collect()
    }

    /// The control handle of device `index` (creation order), removed or not.
    pub fn control(&self, index: usize) -> Option<DeviceControl> {
        self.root
            .devices
            .get(index)
            .map(|d| DeviceControl::new(d.clone()))
    }

    /// The control handle of the device called `name`.
    pub fn control_by_name(&self, name: &str) -> Option<DeviceControl> {
        self.root
            .devices
            .iter()
            .find(|d| d.name == name)
            .map(|d| DeviceControl::new(d.clone()))
    }

    /// The sysfs directory of device `index`.
    pub fn device_dir(&self, index: usize) -> Option<PathBuf> {
        self.root.devices.get(index).map(|d| d.dir.clone())
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        for d in &self.root.devices {
            d.remove();
            d.engine.shutdown();
        }
    }
}
