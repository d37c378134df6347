//! The SS ("static share") region of a non-SVA queue (abi.md §7): memory split
//! into slices like the openEuler kernel does it, each with a fake DMA address,
//! and the device's IOMMU table that translates those addresses back.
//!
//! The fake addresses are deliberately not one contiguous run: slices come in
//! pairs, the two slices of a pair are adjacent in DMA space, and a 1 MiB hole
//! separates one pair from the next. So an SDK that merges adjacent slices has
//! something to merge, and one that lets a buffer cross a hole gets a fault.

use std::sync::Arc;

use memmap2::{MmapOptions, MmapRaw};
use nix::errno::Errno;
use uacce_sys::openeuler::{UACCE_GRAN_NUM_MASK, UACCE_GRAN_SHIFT, UACCE_GRAN_SIZE};

use super::config::EmuAddressMode;
use crate::region::{Mapping, RegionKind, SharedMemory};

/// The hole between two pairs of slices in DMA space.
const PAIR_GAP: u64 = 1 << 20;

/// One slice: where the device sees it and where it sits in the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slice {
    pub dma: u64,
    pub offset: usize,
    pub size: usize,
}

/// The memory of one queue's SS region and its slice table.
#[derive(Debug)]
pub(crate) struct SsMemory {
    raw: Arc<MmapRaw>,
    mem: SharedMemory,
    slices: Vec<Slice>,
}

impl SsMemory {
    /// Allocates `len` bytes as the kernel would for `mode`, with DMA addresses
    /// starting at `dma_base` (64 KiB aligned).
    pub fn allocate(
        len: usize,
        mode: EmuAddressMode,
        slice_size: usize,
        dma_base: u64,
    ) -> Result<SsMemory, Errno> {
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let gran = UACCE_GRAN_SIZE as usize;
        let (total, slice) = match mode {
            EmuAddressMode::Sva => return Err(Errno::EINVAL),
            // One slice of the whole length, at an IOVA.
            EmuAddressMode::Iommu => (len, len),
            // UADK rounds up to 64 KiB without an IOMMU; the kernel slices.
            EmuAddressMode::NoIommu => (
                len.div_ceil(gran).checked_mul(gran).ok_or(Errno::ENOMEM)?,
                slice_size,
            ),
        };
        let raw = MmapOptions::new()
            .len(total)
            .map_anon()
            .map_err(|_| Errno::ENOMEM)?;
        let raw = Arc::new(MmapRaw::from(raw));
        let mut slices = Vec::new();
        let mut offset = 0usize;
        let mut i = 0u64;
        while offset < total {
            let size = slice.min(total - offset);
            // Pairs (0,1), (2,3), ... are adjacent; a hole follows each pair.
            let dma = dma_base + offset as u64 + (i / 2) * PAIR_GAP;
            slices.push(Slice { dma, offset, size });
            offset += size;
            i += 1;
        }
        let map = Mapping::from_shared(raw.clone(), 0, total).ok_or(Errno::ENOMEM)?;
        Ok(SsMemory {
            raw,
            mem: SharedMemory::new(map, RegionKind::Ss),
            slices,
        })
    }

    /// The memory, for handing a window of it to the SDK.
    pub fn raw(&self) -> &Arc<MmapRaw> {
        &self.raw
    }

    /// Total mapped bytes.
    pub fn len(&self) -> usize {
        self.mem.len()
    }

    /// The device's view of the memory.
    pub fn memory(&self) -> &SharedMemory {
        &self.mem
    }

    /// `GET_SS_DMA(index)`: `dma | ((size >> 16) & 0xfff)` and the number of
    /// slices after this one; `EINVAL` past the end.
    pub fn get_ss_dma(&self, index: u64) -> Result<(u64, u32), Errno> {
        let i = usize::try_from(index).map_err(|_| Errno::EINVAL)?;
        let s = self.slices.get(i).ok_or(Errno::EINVAL)?;
        let word = s.dma | ((s.size as u64 >> UACCE_GRAN_SHIFT) & UACCE_GRAN_NUM_MASK);
        Ok((word, (self.slices.len() - 1 - i) as u32))
    }

    /// The slices, in ascending DMA (and mapping) order.
    #[cfg(test)]
    pub fn slices(&self) -> &[Slice] {
        &self.slices
    }

    /// Translates the device range `[dma, dma + len)` to an offset in the
    /// mapping. The range must lie in one slice or in slices that are
    /// contiguous in DMA space.
    pub fn translate(&self, dma: u64, len: usize) -> Option<usize> {
        let idx = self
            .slices
            .partition_point(|s| s.dma <= dma)
            .checked_sub(1)?;
        let first = self.slices[idx];
        let into = dma - first.dma;
        if into >= first.size as u64 {
            return None;
        }
        let end = dma.checked_add(len as u64)?;
        let mut run_end = first.dma + first.size as u64;
        let mut next = idx + 1;
        while end > run_end {
            let s = self.slices.get(next)?;
            if s.dma != run_end {
                return None;
            }
            run_end += s.size as u64;
            next += 1;
        }
        Some(first.offset + into as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 0x0a00_0000_0000;

    #[test]
    fn noiommu_slices_pair_up_with_holes() {
        let ss =
            SsMemory::allocate(4 * 65536 + 1, EmuAddressMode::NoIommu, 2 * 65536, BASE).unwrap();
        assert_eq!(ss.len(), 5 * 65536, "rounded up to 64 KiB");
        let s = ss.slices();
        assert_eq!(s.len(), 3);
        assert_eq!(s[1].dma, s[0].dma + s[0].size as u64, "pair is adjacent");
        assert_eq!(
            s[2].dma,
            s[1].dma + s[1].size as u64 + PAIR_GAP,
            "hole after a pair"
        );
        assert_eq!(ss.get_ss_dma(0).unwrap(), (BASE | 2, 2));
        assert_eq!(ss.get_ss_dma(2).unwrap(), (s[2].dma | 1, 0));
        assert_eq!(ss.get_ss_dma(3), Err(Errno::EINVAL));
    }

    #[test]
    fn translation_respects_contiguity() {
        let ss = SsMemory::allocate(4 * 65536, EmuAddressMode::NoIommu, 65536, BASE).unwrap();
        let s = ss.slices().to_vec();
        assert_eq!(ss.translate(s[0].dma + 10, 100), Some(10));
        // Crossing from slice 0 into its adjacent partner is fine.
        assert_eq!(ss.translate(s[1].dma - 8, 16), Some(65536 - 8));
        // Crossing the hole between slice 1 and slice 2 is not.
        assert_eq!(ss.translate(s[2].dma - 8, 16), None);
        assert_eq!(ss.translate(s[1].dma + 65536 - 8, 16), None);
        // Outside every slice.
        assert_eq!(ss.translate(BASE - 1, 1), None);
        assert_eq!(ss.translate(s[3].dma + 65536, 1), None);
        assert_eq!(ss.translate(s[3].dma + 65535, 1), Some(4 * 65536 - 1));
    }

    #[test]
    fn iommu_is_one_slice_and_sva_has_none() {
        let ss = SsMemory::allocate(3 << 20, EmuAddressMode::Iommu, 65536, BASE).unwrap();
        assert_eq!(ss.get_ss_dma(0).unwrap(), (BASE | 48, 0));
        assert_eq!(ss.translate(BASE + (3 << 20) - 4, 4), Some((3 << 20) - 4));
        assert!(SsMemory::allocate(4096, EmuAddressMode::Sva, 65536, BASE).is_err());
        assert!(SsMemory::allocate(0, EmuAddressMode::Iommu, 65536, BASE).is_err());
    }
}
