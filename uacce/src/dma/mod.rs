//! Address modes and device-visible memory (abi.md §7, DESIGN.md decisions 4–5).
//!
//! Every address that goes into a descriptor is a [`DmaAddr`] produced by the
//! queue's [`AddressSpace`]:
//!
//! * [`AddressSpace::new`] picks the translation from the device's
//!   [`AddressMode`](crate::AddressMode): SVA (device address = virtual
//!   address), or the openEuler SS region with its [`SliceTable`], or a clear
//!   [`DmaError::NoSharedMemory`] for a device that cannot see memory at all.
//! * [`BlockPool`] hands out fixed-size blocks of DMA memory (from the SS
//!   region, or anonymous memory in SVA mode) as [`DmaBuf`]s, lock-free, with
//!   optional back-pressure, zeroed before every reuse.
//! * [`AddressSpace::stage_input`] / [`stage_output`](AddressSpace::stage_output)
//!   make any user buffer usable by the device in every mode: zero copy where
//!   the device can see it, bounced through one pool block where it cannot.
//!
//! No Rust reference into device-shared memory is ever created: DMA memory is
//! reached through [`SharedMemory`](crate::region::SharedMemory) copies only.

mod addr;
mod buf;
mod config;
mod error;
mod pool;
mod slice_table;
mod space;
mod staging;

pub use addr::DmaAddr;
pub use buf::DmaBuf;
pub use config::DmaConfig;
pub use error::DmaError;
pub use pool::BlockPool;
pub use slice_table::{SliceError, SliceTable};
pub use space::AddressSpace;
pub use staging::{StagedInput, StagedOutput};

#[cfg(test)]
mod tests;
