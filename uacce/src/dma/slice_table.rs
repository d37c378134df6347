//! [`SliceTable`]: virtual → DMA translation over the SS region's slices
//! (abi.md §7).
//!
//! The kernel backs the SS region with slices of DMA memory, maps them
//! back-to-back into the process, and reports each slice's DMA address with
//! `GET_SS_DMA`. Slice `k` starts at `base + Σ size(0..k)` in the process; a
//! byte at offset `d` into it has DMA address `dma(k) + d`. Slices whose DMA
//! addresses directly follow each other are merged into one *run* (as UADK
//! does), so a buffer may span them; a buffer that crosses from one run into
//! the next would look like two unrelated places to the device, and is refused.

use super::{DmaAddr, DmaError};

/// A slice list that cannot form a table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SliceError {
    /// No slices at all.
    #[error("the table has no slices")]
    Empty,
    /// A slice of size zero.
    #[error("slice {index} (dma {dma:#x}) is empty")]
    EmptySlice {
        /// Slice index.
        index: usize,
        /// Its DMA address.
        dma: u64,
    },
    /// A slice whose DMA range wraps past 2^64.
    #[error("slice {index}: {size:#x} bytes at dma {dma:#x} wrap around")]
    DmaOverflow {
        /// Slice index.
        index: usize,
        /// Its DMA address.
        dma: u64,
        /// Its size.
        size: usize,
    },
    /// The device reports more slices than the mapping could hold.
    #[error("the device reports more than {limit} slices")]
    TooMany {
        /// The most slices the mapping could have.
        limit: usize,
    },
    /// The slices together are larger than the mapping they describe, or wrap
    /// around the virtual address space.
    #[error("the slices cover {covered:#x} bytes, more than the {mapped:#x} bytes mapped")]
    TooLong {
        /// Sum of the slice sizes (saturated).
        covered: usize,
        /// Length of the mapping.
        mapped: usize,
    },
}

/// Translation of virtual addresses inside the SS mapping to DMA addresses.
///
/// Built once per queue; immutable and cheap to query: a directory indexed by
/// `offset >> shift` names the run holding the start of each `1 << shift`-byte
/// granule, and granules are no larger than the shortest run, so a lookup is
/// one directory load and at most a step or two, whatever the number of runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceTable {
    base: usize,
    /// `bounds[k]` is the offset of run `k` from `base`; the last entry is the
    /// table's length, so run `k` is `bounds[k]..bounds[k + 1]`.
    bounds: Box<[usize]>,
    /// DMA address of the first byte of each run.
    dmas: Box<[u64]>,
    /// `directory[g]`: the run holding offset `g << shift`.
    directory: Box<[u32]>,
    shift: u32,
}

/// Most directory entries per table (256 KiB of directory at most); a table
/// with more granules uses larger ones, and lookups step over more runs.
const MAX_DIRECTORY: usize = 1 << 16;

impl SliceTable {
    /// Builds the table for a mapping of `mapped` bytes at `base` whose slices,
    /// in virtual-address order, are `slices` (DMA address, size in bytes).
    /// Adjacent slices whose DMA addresses follow each other are merged.
    pub fn new(
        base: usize,
        mapped: usize,
        slices: &[(DmaAddr, usize)],
    ) -> Result<SliceTable, SliceError> {
        if slices.is_empty() {
            return Err(SliceError::Empty);
        }
        let mut bounds = Vec::with_capacity(slices.len() + 1);
        let mut dmas: Vec<u64> = Vec::with_capacity(slices.len());
        let mut covered: usize = 0;
        // DMA address that would directly follow the previous slice.
        let mut next_dma: Option<u64> = None;
        for (index, &(dma, size)) in slices.iter().enumerate() {
            let dma = dma.get();
            if size == 0 {
                return Err(SliceError::EmptySlice { index, dma });
            }
            let end = u64::try_from(size).ok().and_then(|s| dma.checked_add(s));
            let Some(end) = end else {
                return Err(SliceError::DmaOverflow { index, dma, size });
            };
            if next_dma != Some(dma) {
                bounds.push(covered);
                dmas.push(dma);
            }
            next_dma = Some(end);
            covered = covered.saturating_add(size);
        }
        if covered > mapped || base.checked_add(covered).is_none() {
            return Err(SliceError::TooLong { covered, mapped });
        }
        if dmas.len() > u32::MAX as usize {
            return Err(SliceError::TooMany {
                limit: u32::MAX as usize,
            });
        }
        bounds.push(covered);
        let shortest = bounds
            .windows(2)
            .map(|w| w[1] - w[0])
            .min()
            .unwrap_or(1)
            .max(1);
        let mut shift = usize::BITS - 1 - shortest.leading_zeros();
        while (covered >> shift) >= MAX_DIRECTORY {
            shift += 1;
        }
        let directory = (0..=(covered - 1) >> shift)
            .map(|g| bounds[1..].partition_point(|&e| e <= g << shift) as u32)
            .collect();
        Ok(SliceTable {
            base,
            bounds: bounds.into(),
            dmas: dmas.into(),
            directory,
            shift,
        })
    }

    /// Virtual address of the first byte.
    pub fn base(&self) -> usize {
        self.base
    }

    /// Bytes covered by the table.
    pub fn len(&self) -> usize {
        self.bounds[self.bounds.len() - 1]
    }

    /// Whether the table covers no bytes (never true for a built table).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of DMA-contiguous runs after merging.
    pub fn runs(&self) -> usize {
        self.dmas.len()
    }

    /// The runs: virtual address, length, and DMA address of each.
    pub fn iter_runs(&self) -> impl Iterator<Item = (usize, usize, DmaAddr)> + '_ {
        self.dmas.iter().enumerate().map(|(k, &dma)| {
            (
                self.base + self.bounds[k],
                self.bounds[k + 1] - self.bounds[k],
                DmaAddr::new(dma),
            )
        })
    }

    /// The DMA address of the `len` bytes at virtual address `va`.
    ///
    /// * The whole range must lie inside the table, else [`DmaError::OutOfTable`].
    /// * It must lie inside one DMA-contiguous run, else [`DmaError::Straddles`]
    ///   naming the first address where the DMA addresses jump.
    /// * A zero-length range is allowed when `va` is a byte inside the table
    ///   (it translates like a one-byte range there); the one-past-the-end
    ///   address is outside.
    #[inline]
    pub fn translate(&self, va: usize, len: usize) -> Result<DmaAddr, DmaError> {
        let total = self.len();
        let offset = va.wrapping_sub(self.base);
        // `va < base` wraps to a huge offset and fails the first test too.
        if va < self.base || offset >= total || len > total - offset {
            return Err(DmaError::OutOfTable { va, len });
        }
        let end = offset + len;
        // The run holding the granule's start, then forward to the run holding
        // `offset` (at most one step while granules fit in the shortest run).
        // `offset < total` keeps `k` below `runs()`.
        let mut k = self.directory[offset >> self.shift] as usize;
        while self.bounds[k + 1] <= offset {
            k += 1;
        }
        let run_end = self.bounds[k + 1];
        if end > run_end {
            return Err(DmaError::Straddles {
                va,
                len,
                boundary: self.base + run_end,
            });
        }
        // Cannot overflow: `dma + run length` was checked at construction.
        Ok(DmaAddr::new(
            self.dmas[k] + (offset - self.bounds[k]) as u64,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PAGE: usize = 4096;

    fn d(x: u64) -> DmaAddr {
        DmaAddr::new(x)
    }

    #[test]
    fn merges_adjacent_slices_and_refuses_straddles() {
        let base = 0x7000_0000;
        // 0 and 1 are DMA-adjacent, 2 jumps down, 3 follows 2.
        let slices = [
            (d(0x10_0000), PAGE),
            (d(0x10_1000), PAGE),
            (d(0x5_0000), 2 * PAGE),
            (d(0x5_2000), PAGE),
        ];
        let t = SliceTable::new(base, 5 * PAGE, &slices).unwrap();
        assert_eq!(t.runs(), 2);
        assert_eq!(t.len(), 5 * PAGE);
        let runs: Vec<_> = t.iter_runs().collect();
        assert_eq!(
            runs,
            vec![
                (base, 2 * PAGE, d(0x10_0000)),
                (base + 2 * PAGE, 3 * PAGE, d(0x5_0000))
            ]
        );
        // spans the merged pair
        assert_eq!(t.translate(base + 100, PAGE).unwrap(), d(0x10_0064));
        // last byte of run 0, first of run 1
        assert_eq!(t.translate(base + 2 * PAGE - 1, 1).unwrap(), d(0x10_1fff));
        assert_eq!(t.translate(base + 2 * PAGE, 3 * PAGE).unwrap(), d(0x5_0000));
        match t.translate(base + 2 * PAGE - 1, 2) {
            Err(DmaError::Straddles {
                va,
                len: 2,
                boundary,
            }) => {
                assert_eq!((va, boundary), (base + 2 * PAGE - 1, base + 2 * PAGE))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            t.translate(base - 1, 1),
            Err(DmaError::OutOfTable { .. })
        ));
        assert!(matches!(
            t.translate(base + 5 * PAGE - 1, 2),
            Err(DmaError::OutOfTable { .. })
        ));
        assert!(matches!(
            t.translate(base, usize::MAX),
            Err(DmaError::OutOfTable { .. })
        ));
        assert!(matches!(
            t.translate(usize::MAX, 1),
            Err(DmaError::OutOfTable { .. })
        ));
        assert!(matches!(
            t.translate(0, 0),
            Err(DmaError::OutOfTable { .. })
        ));
        // zero length: inside yes, one past the end no
        assert_eq!(t.translate(base + 5 * PAGE - 1, 0).unwrap(), d(0x5_2fff));
        assert_eq!(t.translate(base + 2 * PAGE, 0).unwrap(), d(0x5_0000));
        assert!(matches!(
            t.translate(base + 5 * PAGE, 0),
            Err(DmaError::OutOfTable { .. })
        ));
    }

    #[test]
    fn bad_slice_lists_are_refused() {
        assert_eq!(SliceTable::new(0x1000, PAGE, &[]), Err(SliceError::Empty));
        assert_eq!(
            SliceTable::new(0x1000, PAGE, &[(d(0x2000), 0)]),
            Err(SliceError::EmptySlice {
                index: 0,
                dma: 0x2000
            })
        );
        assert!(matches!(
            SliceTable::new(0x1000, 2 * PAGE, &[(d(0), PAGE), (d(u64::MAX - 10), PAGE)]),
            Err(SliceError::DmaOverflow { index: 1, .. })
        ));
        assert!(matches!(
            SliceTable::new(0x1000, PAGE, &[(d(0), PAGE), (d(PAGE as u64), PAGE)]),
            Err(SliceError::TooLong {
                covered: 8192,
                mapped: 4096
            })
        ));
        assert!(matches!(
            SliceTable::new(usize::MAX - 10, PAGE, &[(d(0), PAGE)]),
            Err(SliceError::TooLong { .. })
        ));
        // a shorter table than the mapping is fine: the tail is untranslatable
        let t = SliceTable::new(0x1000, 4 * PAGE, &[(d(0x9000), PAGE)]).unwrap();
        assert!(matches!(
            t.translate(0x1000 + PAGE, 1),
            Err(DmaError::OutOfTable { .. })
        ));
    }

    #[test]
    fn many_tiny_runs_use_wider_granules_and_stay_exact() {
        // 100 000 one-byte runs (every other DMA address): more than the
        // directory holds at one byte per granule.
        let n = 100_000usize;
        let slices: Vec<_> = (0..n).map(|i| (d(2 * i as u64), 1)).collect();
        let t = SliceTable::new(0x1000, n, &slices).unwrap();
        assert_eq!(t.runs(), n);
        assert!(t.shift >= 1 && t.directory.len() <= MAX_DIRECTORY);
        for i in (0..n).step_by(7).chain([n - 1]) {
            assert_eq!(t.translate(0x1000 + i, 1).unwrap(), d(2 * i as u64));
            if i + 1 < n {
                assert!(
                    matches!(t.translate(0x1000 + i, 2), Err(DmaError::Straddles { boundary, .. }) if boundary == 0x1001 + i)
                );
            }
        }
    }

    /// The reference model: walks the unmerged slices one by one.
    fn model(
        base: usize,
        slices: &[(u64, usize)],
        va: usize,
        len: usize,
    ) -> Result<u64, (bool, usize)> {
        // Err((false, _)) = out of table, Err((true, boundary)) = straddles.
        let total: usize = slices.iter().map(|s| s.1).sum();
        if va < base || va >= base + total || va - base + len > total {
            return Err((false, 0));
        }
        let off = va - base;
        let mut start = 0;
        let mut k = 0;
        while start + slices[k].1 <= off {
            start += slices[k].1;
            k += 1;
        }
        let dma = slices[k].0 + (off - start) as u64;
        // Walk forward while the range goes past the current slice.
        let mut end_of = start + slices[k].1;
        while off + len > end_of {
            let expect = slices[k].0 + slices[k].1 as u64;
            if slices[k + 1].0 != expect {
                return Err((true, base + end_of));
            }
            k += 1;
            end_of += slices[k].1;
        }
        Ok(dma)
    }

    fn layout() -> impl Strategy<Value = Vec<(u64, usize)>> {
        // (adjacent to the previous slice?, size in pages, random jump target)
        // Sizes: whole pages mostly (as kernels make them), sometimes any byte count.
        let size = prop_oneof![4 => (1usize..5).prop_map(|p| p * PAGE), 1 => 1usize..(3 * PAGE)];
        prop::collection::vec((any::<bool>(), size, 0u64..1 << 20), 1..64).prop_map(|v| {
            let mut out: Vec<(u64, usize)> = Vec::new();
            for (adjacent, size, jump) in v {
                let dma = match out.last() {
                    Some(&(pd, ps)) if adjacent => pd + ps as u64,
                    Some(&(pd, ps)) => {
                        // anywhere page aligned but not directly after the previous one
                        let cand = jump * PAGE as u64;
                        if cand == pd + ps as u64 {
                            cand + PAGE as u64
                        } else {
                            cand
                        }
                    }
                    None => jump * PAGE as u64,
                };
                out.push((dma, size));
            }
            out
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn translation_matches_the_model(
            slices in layout(),
            // where the range starts: near a slice boundary or anywhere
            pick in any::<prop::sample::Index>(),
            delta in -3isize..3,
            anywhere in any::<prop::sample::Index>(),
            near_boundary in any::<bool>(),
            len in prop_oneof![Just(0usize), 1usize..16, (PAGE - 2)..(PAGE + 2), 0usize..(20 * PAGE)],
        ) {
            let base = 0x4000_0000usize;
            let total: usize = slices.iter().map(|s| s.1).sum();
            let pairs: Vec<_> = slices.iter().map(|&(dma, s)| (DmaAddr::new(dma), s)).collect();
            let t = SliceTable::new(base, total, &pairs).unwrap();
            let va = if near_boundary {
                let k = pick.index(slices.len() + 1);
                let b: usize = slices[..k].iter().map(|s| s.1).sum();
                (base + b).saturating_add_signed(delta)
            } else {
                base - PAGE + anywhere.index(total + 2 * PAGE)
            };
            let got = t.translate(va, len);
            match (model(base, &slices, va, len), got) {
                (Ok(want), Ok(have)) => prop_assert_eq!(have.get(), want),
                (Err((false, _)), Err(DmaError::OutOfTable { va: v, len: l })) => {
                    prop_assert_eq!((v, l), (va, len))
                }
                (Err((true, want)), Err(DmaError::Straddles { boundary, .. })) => {
                    prop_assert_eq!(boundary, want)
                }
                (want, have) => prop_assert!(false, "model {:?} vs table {:?}", want, have),
            }
        }
    }
}
