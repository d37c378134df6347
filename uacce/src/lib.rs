//! Safe userspace SDK for Linux `uacce` accelerators.
//!
//! A process drives a uacce accelerator directly: it opens `/dev/<driver>-<id>`,
//! maps the queue's doorbell page (MMIO) and ring memory (DUS), starts the queue
//! with an ioctl, and from then on submits work by writing descriptors and
//! ringing the doorbell, with no system call per request.
//!
//! Layers, top to bottom (see `DESIGN.md` in the repository):
//!
//! * [`device`] and [`discovery`]: what devices exist and what they offer.
//! * [`Queue`]: one open queue file, its typed [`region`]s, `start`/`put`, waiting.
//! * [`dma`]: address modes and device-visible memory: [`dma::DmaAddr`],
//!   translation, DMA buffers, staging of user buffers.
//! * [`backend`]: the kernel character device, or the built-in emulator (`emu`).
//!
//! Device memory is never reachable through a Rust reference: regions hand out
//! bounds-checked volatile accessors and copies only.

pub mod backend;
pub mod barrier;
pub mod comp;
pub mod device;
pub mod discovery;
pub mod dma;
#[cfg(feature = "emulator")]
pub mod emu;
pub mod hisi;
pub mod numa;
pub mod queue;
pub mod region;

pub use device::{AddressMode, DeviceFlags, DeviceInfo, HwVersion};
pub use queue::{Queue, QueueError, RegionKind};

mod fork;
