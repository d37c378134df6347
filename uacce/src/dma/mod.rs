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
//! # Staging
//!
//! What a driver does per request chunk of at most
//! [`AddressSpace::chunk_limit`] bytes (here on an SVA address space, which
//! needs no device; on a queue use [`AddressSpace::new`]):
//!
//! ```
//! use uacce::dma::{AddressSpace, DmaConfig};
//! # fn main() -> Result<(), uacce::dma::DmaError> {
//! let space = AddressSpace::sva("example", 4096, &DmaConfig::default())?;
//! let input = b"some bytes to compress".to_vec();
//! let mut output = vec![0u8; 4096];
//!
//! let src = space.stage_input(&input)?; // source address for the descriptor
//! let dst = space.stage_output(&mut output)?; // destination address
//! let (src_addr, dst_addr, room) = (src.dma_addr(), dst.dma_addr(), dst.capacity());
//! // ... write the descriptor with src_addr, src.len(), dst_addr, room;
//! // ring the doorbell; wait for the completion; read `produced` from it ...
//! # let _ = (src_addr, dst_addr, room);
//! let produced = 10;
//! let n = dst.finish(produced)?; // copies the bytes out if they were bounced
//! drop(src); // the source may be reused once the device is done with it
//! assert_eq!(n, 10);
//! # Ok(())
//! # }
//! ```
//!
//! Buffers the caller allocated with [`AddressSpace::try_alloc_buf`] go through
//! [`AddressSpace::stage_input_buf`] / [`AddressSpace::stage_output_buf`].
//!
//! Which path is taken:
//!
//! | mode | buffer | path |
//! |---|---|---|
//! | SVA | anything | zero copy (device address = virtual address); pages pre-faulted if [`DmaConfig::prefault`] |
//! | IOMMU / no-IOMMU | a [`DmaBuf`] of this queue, or bytes inside its SS region on one contiguous run | zero copy |
//! | IOMMU / no-IOMMU | anything else | bounced through one pool block: input copied in now, output copied out by [`StagedOutput::finish`] |
//!
//! Guards must live until the device is done with the address (the request
//! completed, or the queue was stopped). A guard whose request timed out and
//! may still be touched by the device is given up with `abandon`, which keeps
//! its bounce block out of the pool for good.
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
