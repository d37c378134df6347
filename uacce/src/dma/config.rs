//! [`DmaConfig`]: how much device-visible memory a queue gets and how it is used.

use std::time::Duration;

use uacce_sys::openeuler::UACCE_GRAN_SIZE;

use super::DmaError;

/// The 64 KiB granule of SS slice sizes (abi.md §1.3, §7).
pub(crate) const GRANULE: usize = UACCE_GRAN_SIZE as usize;

/// Settings of a queue's [`AddressSpace`](super::AddressSpace).
///
/// Start from [`DmaConfig::default()`] and change what you need:
///
/// ```
/// let config = uacce::dma::DmaConfig::default().with_memory_len(4 << 20);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DmaConfig {
    /// Bytes of DMA memory per queue: the SS region's mapping length in non-SVA
    /// modes (rounded up to 64 KiB without an IOMMU, as UADK does, and to the
    /// page size with one), the anonymous memory behind [`DmaBuf`](super::DmaBuf)s
    /// in SVA mode (mapped lazily, so unused blocks cost no RAM).
    ///
    /// Default 16 MiB: 256 blocks of 64 KiB, enough for 128 requests in flight
    /// that each bounce one input and one output chunk, which keeps a 1024-deep
    /// ring busy at 64 KiB chunks; it is also 4 of the 4 MiB slices a no-IOMMU
    /// kernel allocates (abi.md §7), a modest amount of pinned kernel memory.
    pub memory_len: usize,
    /// Size of one pool block, the largest chunk that is bounced in one go.
    /// A multiple of 4096, at most 16 MiB.
    ///
    /// Default 64 KiB: the SS granule, so blocks at 64 KiB offsets never cross
    /// a slice boundary of a no-IOMMU kernel and no block is lost; also one page
    /// on 64 KiB-page kernels, and a chunk size at which a copy costs a few
    /// microseconds, well below the device's time for the same bytes.
    pub block_size: usize,
    /// SVA mode: touch the pages of every staged buffer before the device sees
    /// it (one read per page of input; read and write back one byte per page of
    /// output, so content is kept and copy-on-write is resolved). No effect in
    /// other modes, whose memory is pinned.
    ///
    /// Default `true`: an I/O page fault costs the device microseconds per
    /// page (UADK measured 1.9 GB/s without pre-faulting vs 7.0 GB/s with),
    /// while touching a resident page costs the CPU about 6 ns (bench
    /// `dma_bounce`, `sva_stage_64k`: 32 pages of a 64 KiB input plus a 64 KiB
    /// output in about 0.2 µs, some 2 % of the device's time for those bytes
    /// at 7 GB/s). Turn it off only for buffers known to be resident and
    /// pinned (`mlock`), where the touch buys nothing.
    pub prefault: bool,
    /// How long [`AddressSpace::stage_input`](super::AddressSpace::stage_input)
    /// and [`stage_output`](super::AddressSpace::stage_output) wait for a
    /// bounce block when the pool is exhausted.
    ///
    /// Default zero (fail at once with [`DmaError::PoolExhausted`]): a driver
    /// whose requests in flight hold the blocks must reap completions rather
    /// than sleep on blocks only it can free. Raise it when other threads hold
    /// [`DmaBuf`](super::DmaBuf)s of the same queue and free them by themselves.
    pub stage_timeout: Duration,
}

impl Default for DmaConfig {
    fn default() -> DmaConfig {
        DmaConfig {
            memory_len: 16 << 20,
            block_size: GRANULE,
            prefault: true,
            stage_timeout: Duration::ZERO,
        }
    }
}

/// Largest accepted block size.
const MAX_BLOCK: usize = 16 << 20;

impl DmaConfig {
    /// Sets [`memory_len`](Self::memory_len).
    pub fn with_memory_len(mut self, bytes: usize) -> DmaConfig {
        self.memory_len = bytes;
        self
    }

    /// Sets [`block_size`](Self::block_size).
    pub fn with_block_size(mut self, bytes: usize) -> DmaConfig {
        self.block_size = bytes;
        self
    }

    /// Sets [`prefault`](Self::prefault).
    pub fn with_prefault(mut self, on: bool) -> DmaConfig {
        self.prefault = on;
        self
    }

    /// Sets [`stage_timeout`](Self::stage_timeout).
    pub fn with_stage_timeout(mut self, timeout: Duration) -> DmaConfig {
        self.stage_timeout = timeout;
        self
    }

    /// Checks the settings: `block_size` a nonzero multiple of 4096 up to
    /// 16 MiB, `memory_len` at least one block.
    pub fn validate(&self) -> Result<(), DmaError> {
        let bad = |field, value, reason| {
            Err(DmaError::BadConfig {
                field,
                value,
                reason,
            })
        };
        if self.block_size == 0 || self.block_size % 4096 != 0 {
            return bad(
                "block_size",
                self.block_size,
                "must be a nonzero multiple of 4096",
            );
        }
        if self.block_size > MAX_BLOCK {
            return bad("block_size", self.block_size, "must be at most 16 MiB");
        }
        if self.memory_len < self.block_size {
            return bad(
                "memory_len",
                self.memory_len,
                "must hold at least one block",
            );
        }
        if self.memory_len > isize::MAX as usize / 2 {
            return bad("memory_len", self.memory_len, "is too large to map");
        }
        Ok(())
    }
}

/// Rounds `len` up to a multiple of `to` (a power of two or any nonzero value).
pub(crate) fn round_up(len: usize, to: usize) -> Option<usize> {
    len.checked_next_multiple_of(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        let c = DmaConfig::default();
        c.validate().unwrap();
        assert_eq!((c.memory_len, c.block_size), (16 << 20, 64 << 10));
        let mut c = DmaConfig::default().with_block_size(1000);
        assert!(matches!(
            c.validate(),
            Err(DmaError::BadConfig {
                field: "block_size",
                value: 1000,
                ..
            })
        ));
        c.block_size = 0;
        assert!(matches!(
            c.validate(),
            Err(DmaError::BadConfig {
                field: "block_size",
                ..
            })
        ));
        c.block_size = 32 << 20;
        assert!(matches!(
            c.validate(),
            Err(DmaError::BadConfig {
                field: "block_size",
                ..
            })
        ));
        let c = DmaConfig::default().with_memory_len(4096);
        assert!(matches!(
            c.validate(),
            Err(DmaError::BadConfig {
                field: "memory_len",
                ..
            })
        ));
        assert_eq!(round_up(1, GRANULE), Some(GRANULE));
        assert_eq!(round_up(GRANULE, GRANULE), Some(GRANULE));
        assert_eq!(round_up(usize::MAX, GRANULE), None);
    }
}
