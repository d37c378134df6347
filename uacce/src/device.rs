//! What a uacce device is: its identity, hardware generation, address mode and
//! resources, as discovery reads them from sysfs (abi.md §2.2).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use bitflags::bitflags;
use uacce_sys::{hisi_qm, openeuler, uacce};

use crate::backend::Opener;

bitflags! {
    /// The `flags` attribute: `UACCE_DEV_*` bits (abi.md §1.1, §1.3).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct DeviceFlags: u32 {
        /// `UACCE_DEV_SVA`: shared virtual addressing.
        const SVA = uacce::UACCE_DEV_SVA;
        /// `UACCE_DEV_NOIOMMU` (openEuler): the device sees physical addresses.
        const NOIOMMU = openeuler::UACCE_DEV_NOIOMMU;
        /// `UACCE_DEV_IOMMU` (openEuler): the device sees IOVAs, no SVA.
        const IOMMU = openeuler::UACCE_DEV_IOMMU;
        // Unknown bits are kept, not dropped.
        const _ = !0;
    }
}

/// How the device addresses memory, decided from [`DeviceFlags`] (abi.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressMode {
    /// `flags & SVA`: descriptors carry process virtual addresses.
    Sva,
    /// `flags & IOMMU` without SVA (openEuler): descriptors carry IOVAs of the
    /// queue's SS region, translated by the SDK.
    Iommu,
    /// `flags & NOIOMMU` without SVA (openEuler): descriptors carry physical
    /// addresses of the SS region's slices, translated by the SDK.
    NoIommu,
    /// None of the above, as a mainline 6.1 kernel shows a device whose SVA
    /// negotiation failed (`flags` 0, abi.md §12): the control plane works, but
    /// the device can see no process memory, so no data can be moved.
    NoSharedMemory,
}

impl AddressMode {
    /// Decodes the address mode from the `flags` attribute. SVA wins when both
    /// SVA and IOMMU are set (KAE's SVA mode shows `0x81`).
    pub fn from_flags(flags: DeviceFlags) -> Self {
        if flags.contains(DeviceFlags::SVA) {
            AddressMode::Sva
        } else if flags.contains(DeviceFlags::IOMMU) {
            AddressMode::Iommu
        } else if flags.contains(DeviceFlags::NOIOMMU) {
            AddressMode::NoIommu
        } else {
            AddressMode::NoSharedMemory
        }
    }

    /// Whether the device needs the SDK to translate addresses through the SS region.
    pub fn needs_translation(self) -> bool {
        matches!(self, AddressMode::Iommu | AddressMode::NoIommu)
    }

    /// A short lowercase name: `sva`, `iommu`, `noiommu`, `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressMode::Sva => "sva",
            AddressMode::Iommu => "iommu",
            AddressMode::NoIommu => "noiommu",
            AddressMode::NoSharedMemory => "none",
        }
    }
}

impl fmt::Display for AddressMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// HiSilicon QM hardware generation, from the `api` attribute (abi.md §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HwVersion {
    /// `hisi_qm_v1`: doorbell at 0x340.
    V1,
    /// `hisi_qm_v2`: Kunpeng 920; ZIP SQE type 0, tag in dw13.
    V2,
    /// `hisi_qm_v3`: Kunpeng 930 (also v4 hardware); SQE type 3, tag in dw26.
    V3,
    /// `hisi_qm_v5` and anything newer: treated like v3 by the drivers.
    V5,
}

impl HwVersion {
    /// The number in the api string.
    pub fn number(self) -> u32 {
        match self {
            HwVersion::V1 => 1,
            HwVersion::V2 => 2,
            HwVersion::V3 => 3,
            HwVersion::V5 => 5,
        }
    }

    /// The api string's base for this version (without `_noiommu`).
    pub fn api_base(self) -> &'static str {
        match self {
            HwVersion::V1 => hisi_qm::HISI_QM_API_VER_BASE,
            HwVersion::V2 => hisi_qm::HISI_QM_API_VER2_BASE,
            HwVersion::V3 => hisi_qm::HISI_QM_API_VER3_BASE,
            HwVersion::V5 => hisi_qm::HISI_QM_API_VER5_BASE,
        }
    }
}

/// The parsed `api` attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Api {
    raw: String,
    hw: Option<HwVersion>,
    noiommu: bool,
}

impl Api {
    /// Parses an api string as the kernel prints it, without the trailing newline.
    ///
    /// `hisi_qm_v<N>` with an optional `_noiommu` suffix gives a HiSilicon
    /// version; like UADK, the decimal number after `hisi_qm_v` decides, 1 → v1,
    /// 2 → v2, 3 or 4 → v3, anything higher → v5. Other drivers' api strings are
    /// kept verbatim with no version.
    pub fn parse(raw: &str) -> Api {
        let noiommu = raw.ends_with(openeuler::UACCE_API_VER_NOIOMMU_SUBFIX);
        let base = raw
            .strip_suffix(openeuler::UACCE_API_VER_NOIOMMU_SUBFIX)
            .unwrap_or(raw);
        let hw = base
            .strip_prefix(hisi_qm::HISI_QM_API_PREFIX)
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u32>().ok())
            .and_then(|n| match n {
                0 => None,
                1 => Some(HwVersion::V1),
                2 => Some(HwVersion::V2),
                3 | 4 => Some(HwVersion::V3),
                _ => Some(HwVersion::V5),
            });
        Api {
            raw: raw.to_owned(),
            hw,
            noiommu,
        }
    }

    /// The api string exactly as read.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The HiSilicon QM generation, if this is a `hisi_qm_v<N>` api.
    pub fn hw_version(&self) -> Option<HwVersion> {
        self.hw
    }

    /// Whether the api carries the openEuler `_noiommu` suffix.
    pub fn is_noiommu(&self) -> bool {
        self.noiommu
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Where a device's queues come from.
#[derive(Clone)]
pub enum Origin {
    /// A kernel character device at [`DeviceInfo::dev_path`].
    Kernel,
    /// A device of the built-in emulator; opening it does not touch the kernel.
    Emulated(Arc<dyn Opener>),
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Kernel => f.write_str("Kernel"),
            Origin::Emulated(_) => f.write_str("Emulated"),
        }
    }
}

/// One uacce device as discovery found it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeviceInfo {
    /// `<driver>-<id>`, e.g. `hisi_zip-4`.
    pub name: String,
    /// The device's sysfs directory.
    pub sysfs_path: PathBuf,
    /// The character device, `/dev/<name>`.
    pub dev_path: PathBuf,
    /// The `api` attribute.
    pub api: Api,
    /// The `flags` attribute.
    pub flags: DeviceFlags,
    /// The address mode decoded from `flags`.
    pub address_mode: AddressMode,
    /// `available_instances`: free queues when discovery read it.
    pub available_instances: u32,
    /// `algorithms`, one entry per line, in the kernel's order.
    pub algorithms: Vec<String>,
    /// `region_mmio_size` in bytes; `None` when the kernel hides it (0 pages).
    pub region_mmio_size: Option<u64>,
    /// `region_dus_size` in bytes; `None` when the kernel hides it (0 pages).
    pub region_dus_size: Option<u64>,
    /// `isolate` (6.2+): `None` when the kernel has no such attribute.
    pub isolate: Option<bool>,
    /// `isolate_strategy` (6.2+): `None` when absent.
    pub isolate_strategy: Option<u32>,
    /// NUMA node from `device/numa_node` or openEuler `node_id`; `None` when
    /// absent or `-1`.
    pub numa_node: Option<u32>,
    /// Kernel or built-in emulator.
    pub origin: Origin,
}

impl DeviceInfo {
    /// Whether the device offers `algorithm` (an exact line of `algorithms`).
    pub fn supports(&self, algorithm: &str) -> bool {
        self.algorithms.iter().any(|a| a == algorithm)
    }

    /// Whether this device belongs to the built-in emulator.
    pub fn is_emulated(&self) -> bool {
        matches!(self.origin, Origin::Emulated(_))
    }

    /// The HiSilicon QM generation, if the api names one.
    pub fn hw_version(&self) -> Option<HwVersion> {
        self.api.hw_version()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_like_uadk() {
        let cases = [
            ("hisi_qm_v1", Some(HwVersion::V1), false),
            ("hisi_qm_v2", Some(HwVersion::V2), false),
            ("hisi_qm_v2_noiommu", Some(HwVersion::V2), true),
            ("hisi_qm_v3", Some(HwVersion::V3), false),
            ("hisi_qm_v4", Some(HwVersion::V3), false),
            ("hisi_qm_v5", Some(HwVersion::V5), false),
            ("hisi_qm_v7", Some(HwVersion::V5), false),
            ("hisi_qm_v", None, false),
            ("hisi_qm_vx", None, false),
            ("hisi_qm_v0", None, false),
            ("other_driver", None, false),
        ];
        for (raw, hw, noiommu) in cases {
            let api = Api::parse(raw);
            assert_eq!(api.hw_version(), hw, "{raw}");
            assert_eq!(api.is_noiommu(), noiommu, "{raw}");
            assert_eq!(api.as_str(), raw);
        }
    }

    #[test]
    fn address_mode_from_flags() {
        let mode = |bits| AddressMode::from_flags(DeviceFlags::from_bits_retain(bits));
        assert_eq!(mode(0x1), AddressMode::Sva);
        assert_eq!(mode(0x81), AddressMode::Sva);
        assert_eq!(mode(0x80), AddressMode::Iommu);
        assert_eq!(mode(0x2), AddressMode::NoIommu);
        assert_eq!(mode(0x0), AddressMode::NoSharedMemory);
        assert!(mode(0x80).needs_translation() && mode(0x2).needs_translation());
        assert!(!mode(0x1).needs_translation() && !mode(0).needs_translation());
        // unknown bits survive
        assert_eq!(DeviceFlags::from_bits_retain(0x101).bits(), 0x101);
    }
}
