//! What a virtual device looks like: engine generation, queues, page size,
//! ring depths, NUMA node, address mode and engine threads.

use std::fmt;

use uacce_sys::hisi_qm::{self, QM_CQE_SIZE, QM_SQE_SIZE_ZIP_SEC};
use uacce_sys::openeuler::{
    UACCE_API_VER_NOIOMMU_SUBFIX, UACCE_DEV_IOMMU, UACCE_DEV_NOIOMMU, UACCE_GRAN_SIZE,
};
use uacce_sys::uacce::UACCE_DEV_SVA;

use super::EmuError;

/// The ZIP engine generation the device emulates (abi.md §3.1, §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZipVersion {
    /// QM v1 (Hi1620 ES): api `hisi_qm_v1`, algorithms `zlib`, `gzip`; a
    /// one-page MMIO region with the doorbell at 0x340 in the v1 layout (qn
    /// 0–15, cmd 16–19, index 32–47, priority 48–63, no rand field); SQEs as
    /// on v2.
    V1,
    /// QM v2 (Kunpeng 920): api `hisi_qm_v2`, algorithms `zlib`, `gzip`; SQE
    /// type 0 with the tag in dw13.
    V2,
    /// QM v3 (Kunpeng 930): api `hisi_qm_v3`, adds `deflate`; SQE type 3 with
    /// the tag in dw26.
    V3,
}

impl ZipVersion {
    /// The api string without the `_noiommu` suffix.
    pub fn api_base(self) -> &'static str {
        match self {
            ZipVersion::V1 => hisi_qm::HISI_QM_API_VER_BASE,
            ZipVersion::V2 => hisi_qm::HISI_QM_API_VER2_BASE,
            ZipVersion::V3 => hisi_qm::HISI_QM_API_VER3_BASE,
        }
    }

    /// The `algorithms` lines, in the order the driver prints them.
    pub fn algorithms(self) -> &'static [&'static str] {
        match self {
            ZipVersion::V1 | ZipVersion::V2 => &["zlib", "gzip"],
            ZipVersion::V3 => &["zlib", "gzip", "deflate"],
        }
    }

    /// The `sqe_type` (dw7 bits 28–31) this generation accepts.
    pub fn sqe_type(self) -> u32 {
        match self {
            ZipVersion::V1 | ZipVersion::V2 => 0,
            ZipVersion::V3 => 3,
        }
    }

    /// The SQE dword that carries the software tag (dw13 on v2, dw26 on v3).
    pub fn tag_dword(self) -> usize {
        match self {
            ZipVersion::V1 | ZipVersion::V2 => 13,
            ZipVersion::V3 => 26,
        }
    }

    /// The doorbell register's offset in the MMIO region.
    pub fn doorbell_offset(self) -> usize {
        match self {
            ZipVersion::V1 => hisi_qm::QM_DOORBELL_OFFSET_V1,
            ZipVersion::V2 | ZipVersion::V3 => hisi_qm::QM_DOORBELL_OFFSET_V2,
        }
    }
}

/// How the emulated device addresses memory (abi.md §7), i.e. what its
/// `flags` attribute says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmuAddressMode {
    /// `flags` 1: descriptors carry process virtual addresses, read and
    /// written through the process's own address space.
    Sva,
    /// `flags` 0x80 (openEuler): no SVA, an IOMMU in DMA mode; the SS region is
    /// one slice with an IOVA.
    Iommu,
    /// `flags` 2 and an api with `_noiommu` (openEuler): the SS region is split
    /// into slices with (fake) physical addresses, not all contiguous.
    NoIommu,
}

impl EmuAddressMode {
    /// The `flags` attribute value.
    pub fn flags(self) -> u32 {
        match self {
            EmuAddressMode::Sva => UACCE_DEV_SVA,
            EmuAddressMode::Iommu => UACCE_DEV_IOMMU,
            EmuAddressMode::NoIommu => UACCE_DEV_NOIOMMU,
        }
    }
}

/// One page size of the emulated kernel, independent of the host's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageSize {
    /// 4 KiB pages.
    K4,
    /// 64 KiB pages (arm64 kernels built with `CONFIG_ARM64_64K_PAGES`).
    K64,
}

impl PageSize {
    /// Bytes per page.
    pub fn bytes(self) -> usize {
        match self {
            PageSize::K4 => 0x1000,
            PageSize::K64 => 0x10000,
        }
    }
}

impl fmt::Display for PageSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} KiB", self.bytes() / 1024)
    }
}

/// The configuration of one virtual ZIP device. Start from
/// [`DeviceConfig::zip_v2`] or [`DeviceConfig::zip_v3`] and adjust with the
/// `with_*` setters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    pub(crate) version: ZipVersion,
    pub(crate) queues: u32,
    pub(crate) page_size: PageSize,
    pub(crate) sq_depth: u16,
    pub(crate) cq_depth: u16,
    pub(crate) numa_node: Option<u32>,
    pub(crate) address_mode: EmuAddressMode,
    pub(crate) workers: usize,
    pub(crate) ss_slice_size: usize,
}

/// Default SS slice size without an IOMMU: `PAGE_SIZE << (MAX_ORDER - 1)` on a
/// 4 KiB kernel (abi.md §7).
pub const DEFAULT_SS_SLICE_SIZE: usize = 4 << 20;
/// Largest SS slice the kernel allocates (abi.md §7).
pub const MAX_SS_SLICE_SIZE: usize = 128 << 20;

impl DeviceConfig {
    /// A Kunpeng 920 ZIP function: v2, 64 queues, 4 KiB pages, depth 1024, SVA,
    /// two engine threads.
    pub fn zip_v2() -> DeviceConfig {
        DeviceConfig {
            version: ZipVersion::V2,
            queues: 64,
            page_size: PageSize::K4,
            sq_depth: hisi_qm::QM_Q_DEPTH_DEFAULT,
            cq_depth: hisi_qm::QM_Q_DEPTH_DEFAULT,
            numa_node: None,
            address_mode: EmuAddressMode::Sva,
            workers: 2,
            ss_slice_size: DEFAULT_SS_SLICE_SIZE,
        }
    }

    /// A Kunpeng 930 ZIP function: like [`zip_v2`](Self::zip_v2) but v3.
    pub fn zip_v3() -> DeviceConfig {
        DeviceConfig {
            version: ZipVersion::V3,
            ..DeviceConfig::zip_v2()
        }
    }

    /// A QM v1 ZIP function: like [`zip_v2`](Self::zip_v2) but v1 (one-page
    /// MMIO region, doorbell at 0x340 in the v1 layout).
    pub fn zip_v1() -> DeviceConfig {
        DeviceConfig {
            version: ZipVersion::V1,
            ..DeviceConfig::zip_v2()
        }
    }

    /// Sets the number of hardware queues (`available_instances` at start).
    pub fn with_queues(mut self, queues: u32) -> Self {
        self.queues = queues;
        self
    }

    /// Sets the emulated kernel's page size.
    pub fn with_page_size(mut self, page_size: PageSize) -> Self {
        self.page_size = page_size;
        self
    }

    /// Sets both ring depths.
    pub fn with_depth(mut self, depth: u16) -> Self {
        self.sq_depth = depth;
        self.cq_depth = depth;
        self
    }

    /// Sets the SQ and CQ depths separately.
    pub fn with_depths(mut self, sq_depth: u16, cq_depth: u16) -> Self {
        self.sq_depth = sq_depth;
        self.cq_depth = cq_depth;
        self
    }

    /// Sets the NUMA node rendered in `device/numa_node` (`None`: `-1`).
    pub fn with_numa_node(mut self, node: Option<u32>) -> Self {
        self.numa_node = node;
        self
    }

    /// Sets the address mode.
    pub fn with_address_mode(mut self, mode: EmuAddressMode) -> Self {
        self.address_mode = mode;
        self
    }

    /// Sets the number of engine threads of the device.
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Sets the SS slice size used without an IOMMU (a multiple of 64 KiB, at
    /// most 128 MiB).
    pub fn with_ss_slice_size(mut self, bytes: usize) -> Self {
        self.ss_slice_size = bytes;
        self
    }

    /// The engine generation.
    pub fn version(&self) -> ZipVersion {
        self.version
    }

    /// The address mode.
    pub fn address_mode(&self) -> EmuAddressMode {
        self.address_mode
    }

    /// The emulated page size.
    pub fn page_size(&self) -> PageSize {
        self.page_size
    }

    /// SQ depth.
    pub fn sq_depth(&self) -> u16 {
        self.sq_depth
    }

    /// CQ depth.
    pub fn cq_depth(&self) -> u16 {
        self.cq_depth
    }

    /// Number of hardware queues.
    pub fn queues(&self) -> u32 {
        self.queues
    }

    /// The `api` attribute: `hisi_qm_v2`, `hisi_qm_v3`, with `_noiommu` when
    /// there is no IOMMU.
    pub fn api(&self) -> String {
        let mut api = self.version.api_base().to_owned();
        if self.address_mode == EmuAddressMode::NoIommu {
            api.push_str(UACCE_API_VER_NOIOMMU_SUBFIX);
        }
        api
    }

    /// `region_mmio_size`: one page on v1, `(1 + 0x1000 / PAGE_SIZE)` pages
    /// on v2 and v3 without doorbell isolation (abi.md §3.2).
    pub fn mmio_size(&self) -> usize {
        let page = self.page_size.bytes();
        match self.version {
            ZipVersion::V1 => page,
            ZipVersion::V2 | ZipVersion::V3 => (1 + 0x1000 / page) * page,
        }
    }

    /// `region_dus_size`: `PAGE_ALIGN(128 * sq_depth + 16 * cq_depth) +
    /// PAGE_SIZE` (abi.md §3.3).
    pub fn dus_size(&self) -> usize {
        let page = self.page_size.bytes();
        let rings = QM_SQE_SIZE_ZIP_SEC * usize::from(self.sq_depth)
            + QM_CQE_SIZE * usize::from(self.cq_depth);
        rings.div_ceil(page) * page + page
    }

    /// Offset of the CQ in the DUS region: right after the SQ.
    pub fn cq_offset(&self) -> usize {
        QM_SQE_SIZE_ZIP_SEC * usize::from(self.sq_depth)
    }

    pub(crate) fn validate(&self) -> Result<(), EmuError> {
        let bad = |why: &str| Err(EmuError::InvalidConfig(why.to_owned()));
        let max_queues = if self.version == ZipVersion::V1 {
            4096
        } else {
            1024
        };
        if self.queues == 0 || self.queues > max_queues {
            return bad("queues must be 1..=1024 (QM_QNUM_V2; 4096 on v1)");
        }
        if self.sq_depth < 2 || self.cq_depth < 2 {
            return bad("ring depths must be at least 2");
        }
        if self.cq_depth < self.sq_depth {
            return bad("the CQ must be at least as deep as the SQ");
        }
        if self.workers == 0 || self.workers > 64 {
            return bad("workers must be 1..=64");
        }
        let gran = UACCE_GRAN_SIZE as usize;
        if self.ss_slice_size == 0
            || self.ss_slice_size % gran != 0
            || self.ss_slice_size > MAX_SS_SLICE_SIZE
        {
            return bad("the SS slice size must be a non-zero multiple of 64 KiB, at most 128 MiB");
        }
        Ok(())
    }
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig::zip_v2()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_sizes_match_the_fact_sheet() {
        let v2 = DeviceConfig::zip_v2();
        assert_eq!(v2.mmio_size(), 0x2000);
        assert_eq!(v2.dus_size(), 0x25000);
        assert_eq!(v2.cq_offset(), 0x20000);
        let big = v2.clone().with_page_size(PageSize::K64);
        assert_eq!(big.mmio_size(), 0x10000);
        assert_eq!(big.dus_size(), 0x40000);
        let small = v2.with_depth(4);
        assert_eq!(small.dus_size(), 0x2000);
        let v1 = DeviceConfig::zip_v1();
        assert_eq!(
            (v1.api(), v1.mmio_size()),
            ("hisi_qm_v1".to_owned(), 0x1000)
        );
        assert_eq!(v1.with_page_size(PageSize::K64).mmio_size(), 0x10000);
    }

    #[test]
    fn api_and_flags() {
        assert_eq!(DeviceConfig::zip_v2().api(), "hisi_qm_v2");
        assert_eq!(DeviceConfig::zip_v3().api(), "hisi_qm_v3");
        let noiommu = DeviceConfig::zip_v2().with_address_mode(EmuAddressMode::NoIommu);
        assert_eq!(noiommu.api(), "hisi_qm_v2_noiommu");
        assert_eq!(EmuAddressMode::Sva.flags(), 1);
        assert_eq!(EmuAddressMode::Iommu.flags(), 0x80);
        assert_eq!(EmuAddressMode::NoIommu.flags(), 2);
    }

    #[test]
    fn bad_configs_are_refused() {
        assert!(DeviceConfig::zip_v2().with_queues(0).validate().is_err());
        assert!(DeviceConfig::zip_v2().with_depth(1).validate().is_err());
        assert!(DeviceConfig::zip_v2().with_workers(0).validate().is_err());
        assert!(
            DeviceConfig::zip_v2()
                .with_ss_slice_size(1000)
                .validate()
                .is_err()
        );
        assert!(DeviceConfig::zip_v2().with_depths(8, 4).validate().is_err());
        assert!(DeviceConfig::zip_v3().validate().is_ok());
    }
}
