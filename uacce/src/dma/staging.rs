//! Staging of user buffers: [`StagedInput`], [`StagedOutput`] and the
//! `stage_*` methods of [`AddressSpace`]. The guide is in the
//! [`dma` module docs](crate::dma#staging).

use std::marker::PhantomData;

use super::pool::{Block, Prepare};
use super::{AddressSpace, DmaAddr, DmaBuf, DmaError};

/// A staged input: the device may read `len()` bytes at `dma_addr()`.
#[derive(Debug)]
#[must_use = "the device address is only valid while the guard lives"]
pub struct StagedInput<'a> {
    dma: DmaAddr,
    len: usize,
    bounce: Option<Block>,
    _data: PhantomData<&'a [u8]>,
}

impl StagedInput<'_> {
    /// Where the device reads the data.
    pub fn dma_addr(&self) -> DmaAddr {
        self.dma
    }

    /// Number of bytes staged.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no bytes were staged.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the data was copied into a bounce block.
    pub fn is_bounced(&self) -> bool {
        self.bounce.is_some()
    }

    /// Gives the guard up without returning its bounce block to the pool, for
    /// when the device may still read it (a request that timed out).
    pub fn abandon(self) {
        if let Some(block) = self.bounce {
            block.abandon();
        }
    }
}

enum Target<'a> {
    /// The caller's bytes.
    Bytes(&'a mut [u8]),
    /// `len` bytes of a [`DmaBuf`] at `offset`.
    Buf { buf: &'a mut DmaBuf, offset: usize },
}

/// A staged output: the device may write up to `capacity()` bytes at
/// `dma_addr()`; [`finish`](Self::finish) then delivers them.
#[must_use = "call finish() to receive the device's output"]
pub struct StagedOutput<'a> {
    dma: DmaAddr,
    capacity: usize,
    bounce: Option<Block>,
    target: Target<'a>,
}

impl std::fmt::Debug for StagedOutput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagedOutput")
            .field("dma", &self.dma)
            .field("capacity", &self.capacity)
            .field("bounce", &self.bounce)
            .finish_non_exhaustive()
    }
}

impl StagedOutput<'_> {
    /// Where the device writes.
    pub fn dma_addr(&self) -> DmaAddr {
        self.dma
    }

    /// How many bytes the device may write.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether the output goes through a bounce block.
    pub fn is_bounced(&self) -> bool {
        self.bounce.is_some()
    }

    /// The device wrote `written` bytes: copies them to the caller's buffer if
    /// they were bounced, and returns `written`. More than
    /// [`capacity`](Self::capacity) is [`DmaError::OutputOverrun`] and
    /// delivers nothing.
    pub fn finish(self, written: usize) -> Result<usize, DmaError> {
        if written > self.capacity {
            return Err(DmaError::OutputOverrun {
                written,
                capacity: self.capacity,
            });
        }
        let Some(block) = &self.bounce else {
            return Ok(written);
        };
        match self.target {
            Target::Bytes(dst) => block
                .mem()
                .read_bytes(block.offset(), &mut dst[..written])?,
            Target::Buf { buf, offset } => {
                let dst = buf.block();
                dst.mem()
                    .copy_from(dst.offset() + offset, block.mem(), block.offset(), written)?
            }
        }
        Ok(written)
    }

    /// Gives the guard up without delivering anything and without returning
    /// its bounce block to the pool, for when the device may still write it.
    pub fn abandon(self) {
        if let Some(block) = self.bounce {
            block.abandon();
        }
    }
}

/// Reads one byte of every page of `data`, so that the device finds them
/// present. Safe code: the accumulator goes through `black_box`, so the loads
/// cannot be dropped.
fn touch_for_read(data: &[u8], page: usize) {
    let base = data.as_ptr() as usize;
    let mut acc = 0u8;
    let mut i = 0;
    while i < data.len() {
        acc ^= data[i];
        i += page - (base + i) % page;
    }
    std::hint::black_box(acc);
}

/// Reads and writes back one byte of every page of `buf`: present and
/// writable (copy-on-write and zero-page mappings resolved), content kept.
fn touch_for_write(buf: &mut [u8], page: usize) {
    let base = buf.as_ptr() as usize;
    let mut i = 0;
    while i < buf.len() {
        buf[i] = std::hint::black_box(buf[i]);
        i += page - (base + i) % page;
    }
}

impl AddressSpace {
    /// Stages `data` for the device to read; see [staging](crate::dma#staging).
    ///
    /// Zero copy in SVA mode (pre-faulted if configured) and for bytes inside
    /// this queue's SS region; otherwise copied into one pool block, which
    /// requires `data.len() <= chunk_limit()` ([`DmaError::TooLarge`]) and a
    /// free block within [`DmaConfig::stage_timeout`](super::DmaConfig::stage_timeout)
    /// ([`DmaError::PoolExhausted`] / [`DmaError::PoolTimeout`]).
    pub fn stage_input<'a>(&self, data: &'a [u8]) -> Result<StagedInput<'a>, DmaError> {
        let va = data.as_ptr() as usize;
        if self.is_sva() {
            if self.config().prefault {
                touch_for_read(data, self.page_size());
            }
            return Ok(zero_copy_input(self.translate(va, data.len())?, data.len()));
        }
        match self.translate(va, data.len()) {
            Ok(dma) => Ok(zero_copy_input(dma, data.len())),
            Err(DmaError::OutOfTable { .. } | DmaError::Straddles { .. }) => {
                let block = self.bounce_block(data.len(), Prepare::Overwrite(data.len()))?;
                block.mem().write_bytes(block.offset(), data)?;
                Ok(bounced_input(block, data.len()))
            }
            Err(e) => Err(e),
        }
    }

    /// Stages `len` bytes of `buf` at `offset` for the device to read: zero
    /// copy when `buf` belongs to this queue (or in SVA mode), else bounced
    /// like [`stage_input`](Self::stage_input).
    pub fn stage_input_buf<'a>(
        &self,
        buf: &'a DmaBuf,
        offset: usize,
        len: usize,
    ) -> Result<StagedInput<'a>, DmaError> {
        let own = buf.dma_addr_at(offset, len)?;
        if buf.belongs_to(self.pool()) {
            return Ok(zero_copy_input(own, len));
        }
        let va = buf.as_ptr() as usize + offset;
        match self.translate(va, len) {
            Ok(dma) => Ok(zero_copy_input(dma, len)),
            Err(DmaError::OutOfTable { .. } | DmaError::Straddles { .. }) => {
                let block = self.bounce_block(len, Prepare::Overwrite(len))?;
                let src = buf.block();
                block
                    .mem()
                    .copy_from(block.offset(), src.mem(), src.offset() + offset, len)?;
                Ok(bounced_input(block, len))
            }
            Err(e) => Err(e),
        }
    }

    /// Stages `out` for the device to write; see [staging](crate::dma#staging).
    ///
    /// Zero copy in SVA mode (pages write-touched if configured) and inside
    /// this queue's SS region; otherwise the device writes a zeroed pool block
    /// and [`StagedOutput::finish`] copies the bytes out. Same limits as
    /// [`stage_input`](Self::stage_input).
    pub fn stage_output<'a>(&self, out: &'a mut [u8]) -> Result<StagedOutput<'a>, DmaError> {
        let va = out.as_ptr() as usize;
        let capacity = out.len();
        if self.is_sva() {
            if self.config().prefault {
                touch_for_write(out, self.page_size());
            }
            let dma = self.translate(va, capacity)?;
            return Ok(StagedOutput {
                dma,
                capacity,
                bounce: None,
                target: Target::Bytes(out),
            });
        }
        match self.translate(va, capacity) {
            Ok(dma) => Ok(StagedOutput {
                dma,
                capacity,
                bounce: None,
                target: Target::Bytes(out),
            }),
            Err(DmaError::OutOfTable { .. } | DmaError::Straddles { .. }) => {
                Ok(self.bounced_output(capacity, Target::Bytes(out))?)
            }
            Err(e) => Err(e),
        }
    }

    /// Stages `len` bytes of `buf` at `offset` for the device to write: zero
    /// copy when `buf` belongs to this queue (or in SVA mode), else bounced.
    pub fn stage_output_buf<'a>(
        &self,
        buf: &'a mut DmaBuf,
        offset: usize,
        len: usize,
    ) -> Result<StagedOutput<'a>, DmaError> {
        let own = buf.dma_addr_at(offset, len)?;
        let target = |buf| Target::Buf { buf, offset };
        if buf.belongs_to(self.pool()) {
            return Ok(StagedOutput {
                dma: own,
                capacity: len,
                bounce: None,
                target: target(buf),
            });
        }
        let va = buf.as_ptr() as usize + offset;
        match self.translate(va, len) {
            Ok(dma) => Ok(StagedOutput {
                dma,
                capacity: len,
                bounce: None,
                target: target(buf),
            }),
            Err(DmaError::OutOfTable { .. } | DmaError::Straddles { .. }) => {
                self.bounced_output(len, target(buf))
            }
            Err(e) => Err(e),
        }
    }

    fn bounce_block(&self, len: usize, how: Prepare) -> Result<Block, DmaError> {
        if len > self.chunk_limit() {
            return Err(DmaError::TooLarge {
                len,
                block_size: self.chunk_limit(),
            });
        }
        self.pool().take(how, self.config().stage_timeout)
    }

    fn bounced_output<'a>(
        &self,
        capacity: usize,
        target: Target<'a>,
    ) -> Result<StagedOutput<'a>, DmaError> {
        // Zeroed, not just overwritten: if the device writes less than it
        // reports, the caller must get zeros, never an earlier request's bytes.
        let mut block = self.bounce_block(capacity, Prepare::Zeroed)?;
        block.mark_dirty(capacity);
        Ok(StagedOutput {
            dma: block.dma_addr(),
            capacity,
            bounce: Some(block),
            target,
        })
    }
}

fn zero_copy_input<'a>(dma: DmaAddr, len: usize) -> StagedInput<'a> {
    StagedInput {
        dma,
        len,
        bounce: None,
        _data: PhantomData,
    }
}

fn bounced_input<'a>(block: Block, len: usize) -> StagedInput<'a> {
    StagedInput {
        dma: block.dma_addr(),
        len,
        bounce: Some(block),
        _data: PhantomData,
    }
}
