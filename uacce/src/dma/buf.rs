//! [`DmaBuf`]: a buffer in device-visible memory that knows its device address.

use super::pool::Block;
use super::{BlockPool, DmaAddr, DmaError};

/// A buffer of DMA memory from a queue's [`BlockPool`], for zero-copy I/O in
/// every address mode.
///
/// It knows its [`DmaAddr`], and is read and written only by copies (the
/// device may access it at any time, so no Rust reference to its bytes ever
/// exists). Allocated zeroed; when dropped, the block goes back to the pool
/// and is zeroed again before anyone else sees it. The memory stays mapped
/// while the buffer lives, even if the queue is closed.
///
/// Hand it to the device through
/// [`AddressSpace::stage_input_buf`](super::AddressSpace::stage_input_buf) /
/// [`stage_output_buf`](super::AddressSpace::stage_output_buf), which pass it
/// zero-copy when it belongs to that queue.
#[derive(Debug)]
pub struct DmaBuf {
    block: Block,
    len: usize,
}

impl DmaBuf {
    /// `block` prepared as zeroed; `len <= block size` checked by the pool.
    pub(crate) fn new(mut block: Block, len: usize) -> DmaBuf {
        // The device may write anywhere in the buffer once it has the address.
        block.mark_dirty(len);
        DmaBuf { block, len }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The device address of the first byte.
    pub fn dma_addr(&self) -> DmaAddr {
        self.block.dma_addr()
    }

    /// The device address of the `len` bytes at `offset`, checked to lie
    /// inside the buffer.
    pub fn dma_addr_at(&self, offset: usize, len: usize) -> Result<DmaAddr, DmaError> {
        self.check(offset, len)?;
        // A block is DMA-contiguous, so an offset inside it cannot overflow.
        self.dma_addr()
            .checked_add(offset as u64)
            .ok_or(DmaError::AddressOverflow {
                va: self.block.va() + offset,
                len,
            })
    }

    /// The address of the first byte in this process. A raw pointer on
    /// purpose: never make a reference from it, the device shares this memory.
    pub fn as_ptr(&self) -> *mut u8 {
        self.block.va() as *mut u8
    }

    /// Copies `src` into the buffer at `offset`.
    pub fn write_at(&mut self, offset: usize, src: &[u8]) -> Result<(), DmaError> {
        self.check(offset, src.len())?;
        Ok(self
            .block
            .mem()
            .write_bytes(self.block.offset() + offset, src)?)
    }

    /// Copies bytes of the buffer at `offset` into `dst`.
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) -> Result<(), DmaError> {
        self.check(offset, dst.len())?;
        Ok(self
            .block
            .mem()
            .read_bytes(self.block.offset() + offset, dst)?)
    }

    /// Sets `len` bytes at `offset` to `byte`.
    pub fn fill(&mut self, offset: usize, len: usize, byte: u8) -> Result<(), DmaError> {
        self.check(offset, len)?;
        Ok(self
            .block
            .mem()
            .fill(self.block.offset() + offset, len, byte)?)
    }

    /// Whether the buffer came from `pool`.
    pub fn belongs_to(&self, pool: &BlockPool) -> bool {
        self.block.belongs_to(pool)
    }

    pub(crate) fn block(&self) -> &Block {
        &self.block
    }

    fn check(&self, offset: usize, len: usize) -> Result<(), DmaError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(DmaError::OutOfBuffer {
                offset,
                len,
                size: self.len,
            }),
        }
    }
}
