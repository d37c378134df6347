//! [`AddressSpace`]: how one queue's device sees memory, chosen from the
//! device's address mode (abi.md §7, DESIGN.md decision 4).

use std::sync::Arc;
use std::time::Duration;

use memmap2::{MmapOptions, MmapRaw};

use super::config::{GRANULE, round_up};
use super::pool::{Backing, BlockPool};
use super::{DmaAddr, DmaBuf, DmaConfig, DmaError, SliceError, SliceTable};
use crate::device::AddressMode;
use crate::queue::{Queue, SsSlice};
use crate::region::{Mapping, RegionKind, SharedMemory, SsRegion};

/// The one place where SVA's rule "device address = virtual address" lives.
/// Every SVA-mode [`DmaAddr`] is made here.
fn sva_addr(va: usize, len: usize) -> Result<DmaAddr, DmaError> {
    if va.checked_add(len).is_none() {
        return Err(DmaError::AddressOverflow { va, len });
    }
    Ok(DmaAddr::new(va as u64))
}

#[derive(Debug)]
enum Translation {
    /// Device addresses are process virtual addresses.
    Sva,
    /// Device addresses come from the SS region's slice table.
    Table(SliceTable),
}

/// One queue's view of device-visible memory: translation of addresses into
/// [`DmaAddr`]s, the queue's pool of DMA blocks, and staging of arbitrary
/// user buffers (see [`stage_input`](Self::stage_input)).
///
/// * SVA: the device address of any byte of the process is its virtual
///   address; the pool is ordinary anonymous memory; nothing is ever copied.
/// * IOMMU / no-IOMMU (openEuler): the SS region is mapped once, its slices
///   are read with `GET_SS_DMA`, and only memory inside it is visible to the
///   device; the pool is carved from it and other buffers are bounced.
/// * No shared memory (`flags` 0): refused with [`DmaError::NoSharedMemory`].
///
/// It is `Send + Sync` and does not borrow the queue; the SS memory stays
/// mapped while the address space or any of its buffers lives.
#[derive(Debug)]
pub struct AddressSpace {
    device: String,
    mode: AddressMode,
    translation: Translation,
    pool: BlockPool,
    page_size: usize,
    config: DmaConfig,
}

impl AddressSpace {
    /// The address space of `queue`, from its device's address mode.
    ///
    /// In non-SVA modes this maps the queue's SS region (`config.memory_len`,
    /// rounded up to 64 KiB without an IOMMU as UADK does, to the page size
    /// with one) and walks `GET_SS_DMA`. The SS region is mapped once per
    /// queue, so a second address space on the same queue fails with
    /// [`QueueError::AlreadyMapped`](crate::QueueError::AlreadyMapped) inside
    /// [`DmaError::Queue`].
    pub fn new(queue: &mut Queue, config: &DmaConfig) -> Result<AddressSpace, DmaError> {
        config.validate()?;
        let device = queue.device().name.clone();
        let page_size = queue.page_size();
        match queue.device().address_mode {
            AddressMode::Sva => AddressSpace::sva(&device, page_size, config),
            AddressMode::NoSharedMemory => Err(DmaError::NoSharedMemory { device }),
            mode @ (AddressMode::Iommu | AddressMode::NoIommu) => {
                let len = ss_mapping_len(mode, config.memory_len, page_size)?;
                let ss = queue.map_ss(len)?;
                let slices = read_slices(queue, &device, len)?;
                AddressSpace::with_ss(&device, mode, page_size, ss, &slices, config)
            }
        }
    }

    /// An SVA address space: `config.memory_len` bytes of anonymous memory for
    /// [`DmaBuf`]s (mapped lazily). `device` names it in errors; `page_size`
    /// is the pre-faulting stride.
    pub fn sva(
        device: &str,
        page_size: usize,
        config: &DmaConfig,
    ) -> Result<AddressSpace, DmaError> {
        config.validate()?;
        let len = config.memory_len;
        let raw = MmapOptions::new()
            .len(len)
            .map_anon()
            .map_err(|source| DmaError::Memory { len, source })?;
        let mem = SharedMemory::new(Mapping::from_mmap(MmapRaw::from(raw)), RegionKind::Ss);
        // Fresh anonymous memory reads as zero. With pre-faulting on, mark it
        // dirty anyway: the first allocation of each block then zero-fills it,
        // which write-faults its pages before the device can take an I/O page
        // fault on them.
        let pool = BlockPool::new(
            device,
            Backing::Anonymous(mem),
            config.block_size,
            config.prefault,
            sva_addr,
        )?;
        Ok(AddressSpace {
            device: device.to_owned(),
            mode: AddressMode::Sva,
            translation: Translation::Sva,
            pool,
            page_size: page_size.max(1),
            config: config.clone(),
        })
    }

    /// A non-SVA address space over an SS region mapped elsewhere, with the
    /// `GET_SS_DMA` answers `slices` in index order. [`new`](Self::new) calls
    /// this after mapping and walking; it is public for backends and tests
    /// that obtain the slices otherwise.
    ///
    /// Slice sizes: in IOMMU mode a single slice covers the whole mapping (its
    /// size field may be 0); otherwise each slice's size is its granule count.
    pub fn with_ss(
        device: &str,
        mode: AddressMode,
        page_size: usize,
        ss: Arc<SsRegion>,
        slices: &[SsSlice],
        config: &DmaConfig,
    ) -> Result<AddressSpace, DmaError> {
        config.validate()?;
        if !mode.needs_translation() {
            return Err(DmaError::WrongMode {
                mode,
                what: "an SS-region address space",
            });
        }
        let bad = |source| DmaError::BadSlices {
            device: device.to_owned(),
            source,
        };
        let mapped = ss.len();
        let pairs: Vec<(DmaAddr, usize)> = if mode == AddressMode::Iommu && slices.len() == 1 {
            vec![(DmaAddr::new(slices[0].dma), mapped)]
        } else {
            slices
                .iter()
                .map(|s| {
                    (
                        DmaAddr::new(s.dma),
                        usize::try_from(s.size).unwrap_or(usize::MAX),
                    )
                })
                .collect()
        };
        let table = SliceTable::new(ss.as_ptr() as usize, mapped, &pairs).map_err(bad)?;
        // Kernel SS memory may hold data from before: zero each block before
        // its first use.
        let pool = BlockPool::new(
            device,
            Backing::Ss(ss),
            config.block_size,
            true,
            |va, len| table.translate(va, len),
        )?;
        Ok(AddressSpace {
            device: device.to_owned(),
            mode,
            translation: Translation::Table(table),
            pool,
            page_size: page_size.max(1),
            config: config.clone(),
        })
    }

    /// The device's address mode.
    pub fn mode(&self) -> AddressMode {
        self.mode
    }

    /// The device's name.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// The settings in use.
    pub fn config(&self) -> &DmaConfig {
        &self.config
    }

    /// The slice table (non-SVA modes only).
    pub fn slice_table(&self) -> Option<&SliceTable> {
        match &self.translation {
            Translation::Sva => None,
            Translation::Table(t) => Some(t),
        }
    }

    /// The queue's pool of DMA blocks.
    pub fn pool(&self) -> &BlockPool {
        &self.pool
    }

    /// The largest length every staging call accepts wherever the buffer
    /// lives (one pool block). Larger zero-copy buffers are accepted too, but
    /// a driver that chunks by this never needs to know which case it is in.
    pub fn chunk_limit(&self) -> usize {
        self.pool.block_size()
    }

    /// The device address of the `len` bytes at virtual address `va`.
    ///
    /// SVA: `va` itself (any process memory). Otherwise the slice table decides:
    /// [`DmaError::OutOfTable`] outside the SS region, [`DmaError::Straddles`]
    /// across a DMA discontinuity; zero-length ranges translate when `va` is a
    /// byte inside the table.
    #[inline]
    pub fn translate(&self, va: usize, len: usize) -> Result<DmaAddr, DmaError> {
        match &self.translation {
            Translation::Sva => sva_addr(va, len),
            Translation::Table(t) => t.translate(va, len),
        }
    }

    /// A zeroed [`DmaBuf`] of `len` bytes (at most [`chunk_limit`](Self::chunk_limit)),
    /// failing at once when the pool is exhausted.
    pub fn try_alloc_buf(&self, len: usize) -> Result<DmaBuf, DmaError> {
        self.pool.try_alloc(len)
    }

    /// A zeroed [`DmaBuf`], waiting up to `timeout` for a free block.
    pub fn alloc_buf(&self, len: usize, timeout: Duration) -> Result<DmaBuf, DmaError> {
        self.pool.alloc(len, timeout)
    }

    /// Whether the device sees process virtual addresses (SVA): every buffer
    /// is then staged zero copy, with no size limit from the pool.
    pub fn is_sva(&self) -> bool {
        matches!(self.translation, Translation::Sva)
    }

    pub(crate) fn page_size(&self) -> usize {
        self.page_size
    }
}

/// The SS mapping length for `mode`: UADK rounds to 64 KiB without an IOMMU
/// (slices are granule multiples); with one, the page size suffices.
fn ss_mapping_len(mode: AddressMode, len: usize, page_size: usize) -> Result<usize, DmaError> {
    let to = if mode == AddressMode::NoIommu {
        GRANULE
    } else {
        page_size.max(1)
    };
    round_up(len, to).ok_or(DmaError::BadConfig {
        field: "memory_len",
        value: len,
        reason: "overflows when rounded",
    })
}

/// Walks `GET_SS_DMA` for index 0, 1, … until the kernel says no slice is left.
fn read_slices(queue: &mut Queue, device: &str, mapped: usize) -> Result<Vec<SsSlice>, DmaError> {
    // No slice is smaller than one granule, so a mapping cannot have more;
    // a device that claims otherwise would loop for ever.
    let limit = mapped / GRANULE + 1;
    let mut slices = Vec::new();
    for index in 0..limit as u64 {
        let slice = queue.get_ss_dma(index)?;
        slices.push(slice);
        if slice.remaining == 0 {
            return Ok(slices);
        }
    }
    Err(DmaError::BadSlices {
        device: device.to_owned(),
        source: SliceError::TooMany { limit },
    })
}
