//! Safe userspace SDK for Linux `uacce` accelerators.
//!
//! A process drives a uacce accelerator directly: it opens `/dev/<driver>-<id>`,
//! maps the queue's doorbell page (MMIO) and ring memory (DUS), starts the queue
//! with an ioctl, and from then on submits work by writing descriptors and
//! ringing the doorbell, with no system call per request.
//!
//! Layers, top to bottom (data flows down, completions flow up):
//!
//! * [`comp`]: compression in the style of `flate2` — one-shot calls,
//!   `std::io::Write` encoders and `std::io::Read` decoders, zlib/gzip framing
//!   in software, software fallback, and which path ran ([`comp::ExecPath`]).
//! * [`pool`]: many queues over devices and directions, shared by many
//!   threads with no global lock on the hot path; requests in flight, tickets
//!   that can be polled, waited for or awaited as futures.
//! * [`hisi::zip`] builds and reads ZIP descriptors; [`hisi::qm`] drives the
//!   SQ/CQ rings (doorbells, phase bit, status words, tags).
//! * [`Queue`]: one open queue file, its typed [`region`]s, `start`/`put`, waiting.
//! * [`backend`]: the kernel character device, or the built-in emulator (`emu`).
//!
//! Beside the stack: [`device`] and [`discovery`] say what devices exist;
//! [`dma`] turns buffers into device addresses ([`dma::DmaAddr`]) in SVA mode
//! (the virtual address) and in non-SVA mode (translation through the SS
//! region, with bounce buffers for memory the device cannot see).
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
pub mod pool;
pub mod queue;
pub mod region;

pub use device::{AddressMode, DeviceFlags, DeviceInfo, HwVersion};
pub use queue::{Queue, QueueError, RegionKind};

mod fork;
