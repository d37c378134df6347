//! [`DmaError`]: everything that can go wrong with device-visible memory.

use std::time::Duration;

use crate::device::AddressMode;
use crate::queue::QueueError;
use crate::region::RegionError;

use super::SliceError;

/// Errors of address translation, DMA memory, and staging.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DmaError {
    /// The range is not inside the queue's DMA memory (non-SVA modes): the
    /// device could not reach it. Stage it (bounce) instead.
    #[error("{len} bytes at {va:#x} are outside the queue's DMA memory")]
    OutOfTable {
        /// Start of the range (virtual address).
        va: usize,
        /// Length of the range.
        len: usize,
    },
    /// The range crosses a point where the DMA addresses of the SS region jump,
    /// so the device would not see it as one contiguous buffer.
    #[error("{len} bytes at {va:#x} cross a DMA discontinuity at {boundary:#x}")]
    Straddles {
        /// Start of the range (virtual address).
        va: usize,
        /// Length of the range.
        len: usize,
        /// The virtual address at which the DMA addresses stop being contiguous.
        boundary: usize,
    },
    /// `va + len` overflows the address space.
    #[error("{len} bytes at {va:#x} wrap around the address space")]
    AddressOverflow {
        /// Start of the range.
        va: usize,
        /// Length of the range.
        len: usize,
    },
    /// The device cannot see any process memory (a mainline device with
    /// `flags` 0, whose SVA negotiation failed; abi.md §12). Its control plane
    /// works, but no data can be moved: enable SVA (IOMMU with PASID/IOPF) or
    /// use an openEuler kernel with `uacce_mode=2`.
    #[error(
        "{device}: the device has no shared memory (flags show neither SVA nor an SS region); \
         data cannot be moved: enable SVA or load the driver with uacce_mode=2 on openEuler"
    )]
    NoSharedMemory {
        /// Device name.
        device: String,
    },
    /// The `GET_SS_DMA` answers cannot describe the mapped SS region.
    #[error("{device}: the SS slices reported by GET_SS_DMA are unusable: {source}")]
    BadSlices {
        /// Device name.
        device: String,
        /// What is wrong with them.
        #[source]
        source: SliceError,
    },
    /// A [`DmaConfig`](super::DmaConfig) value is out of range.
    #[error("DMA configuration: {field} = {value} is invalid: {reason}")]
    BadConfig {
        /// The field.
        field: &'static str,
        /// Its value.
        value: usize,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// The DMA memory holds no block that is contiguous for the device.
    #[error(
        "{device}: no usable {block_size:#x}-byte DMA block in {memory_len:#x} bytes of DMA memory"
    )]
    NoUsableBlocks {
        /// Device name.
        device: String,
        /// Configured block size.
        block_size: usize,
        /// Size of the DMA memory.
        memory_len: usize,
    },
    /// Every block of the pool is in use ([`try_alloc`](super::BlockPool::try_alloc)).
    /// Finish requests in flight or drop [`DmaBuf`](super::DmaBuf)s, or configure
    /// more DMA memory.
    #[error("DMA block pool exhausted: all {blocks} blocks are in use")]
    PoolExhausted {
        /// Number of blocks in the pool.
        blocks: usize,
    },
    /// No block was freed within the timeout of [`alloc`](super::BlockPool::alloc).
    #[error("DMA block pool exhausted: no block of {blocks} was freed within {waited:?}")]
    PoolTimeout {
        /// Number of blocks in the pool.
        blocks: usize,
        /// How long the call waited.
        waited: Duration,
    },
    /// A buffer request larger than one block.
    #[error(
        "{len} bytes do not fit in one {block_size}-byte DMA block; split the data into chunks"
    )]
    TooLarge {
        /// Requested length.
        len: usize,
        /// Block size of the pool.
        block_size: usize,
    },
    /// An access outside a [`DmaBuf`](super::DmaBuf).
    #[error("{len} bytes at offset {offset} do not fit in the {size}-byte DMA buffer")]
    OutOfBuffer {
        /// Start of the access.
        offset: usize,
        /// Length of the access.
        len: usize,
        /// Size of the buffer.
        size: usize,
    },
    /// The device reported more output than the staged buffer holds.
    #[error("the device reported {written} bytes of output into a {capacity}-byte buffer")]
    OutputOverrun {
        /// Bytes the device claims to have written.
        written: usize,
        /// Capacity of the staged buffer.
        capacity: usize,
    },
    /// Ordinary memory for an SVA-mode pool could not be mapped.
    #[error("cannot map {len} bytes of memory for DMA buffers: {source}")]
    Memory {
        /// Requested length.
        len: usize,
        /// The error of `mmap(2)`.
        #[source]
        source: std::io::Error,
    },
    /// A queue operation (mapping the SS region, `GET_SS_DMA`) failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// An access to the DMA memory was out of bounds (an internal invariant
    /// broke; reported rather than panicking).
    #[error(transparent)]
    Region(#[from] RegionError),
    /// The address space was built for another mode than the device's.
    #[error("address mode {mode} cannot be used for {what}")]
    WrongMode {
        /// The mode.
        mode: AddressMode,
        /// What was attempted.
        what: &'static str,
    },
}
