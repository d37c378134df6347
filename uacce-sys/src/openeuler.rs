//! The openEuler / KAE non-SVA extension of uacce (abi.md §1.3, §7). Not in
//! mainline: these numbers only mean something on OLK kernels and the KAE
//! out-of-tree driver.
//!
//! Legacy openEuler 4.19 kernels used conflicting numbers for the same names;
//! they are deliberately not defined here (the safe crate refuses that layout).

use core::mem::size_of;

use crate::IoctlRequest;

/// `UACCE_CMD_SHARE_SVAS = _IO('W', 2)`: argument is another queue's fd, which
/// may then use this queue's SS memory (no-IOMMU only).
pub const UACCE_CMD_SHARE_SVAS: IoctlRequest = nix::request_code_none!(b'W', 2);

/// `UACCE_CMD_GET_SS_DMA = _IOR('W', 3, unsigned long)`: in, a slice index; out,
/// `dma | ((size >> 16) & 0xfff)`; return value, slices left after this one.
pub const UACCE_CMD_GET_SS_DMA: IoctlRequest =
    nix::request_code_read!(b'W', 3, size_of::<libc::c_ulong>());

/// `UACCE_DEV_NOIOMMU = BIT(1)`: the device sees physical addresses.
pub const UACCE_DEV_NOIOMMU: u32 = 1 << 1;
/// `UACCE_DEV_IOMMU = BIT(7)`: IOMMU in DMA mode, no SVA; the device sees IOVAs.
pub const UACCE_DEV_IOMMU: u32 = 1 << 7;

/// `UACCE_QFRT_SS`: the "static share" region of kernel DMA memory for data.
pub const UACCE_QFRT_SS: crate::uacce::UacceQfrt = 2;
/// `UACCE_MAX_REGION` on OLK kernels.
pub const UACCE_MAX_REGION_OLK: u32 = 3;

/// Values of the drivers' `uacce_mode` module parameter.
pub const UACCE_MODE_NOUACCE: u32 = 0;
/// `uacce_mode=1`: register with uacce in SVA mode.
pub const UACCE_MODE_SVA: u32 = 1;
/// `uacce_mode=2`: register with uacce without SVA (OLK/KAE only).
pub const UACCE_MODE_NOIOMMU: u32 = 2;

/// `UACCE_API_VER_NOIOMMU_SUBFIX`: appended to the api string when no IOMMU is used.
pub const UACCE_API_VER_NOIOMMU_SUBFIX: &str = "_noiommu";

/// `UACCE_GRAN_SIZE`: the 64 KiB granule in which SS slice sizes are encoded.
pub const UACCE_GRAN_SIZE: u64 = 0x10000;
/// `UACCE_GRAN_SHIFT`.
pub const UACCE_GRAN_SHIFT: u32 = 16;
/// `UACCE_GRAN_NUM_MASK`: the low bits of a `GET_SS_DMA` answer carrying the size.
pub const UACCE_GRAN_NUM_MASK: u64 = 0xfff;

#[cfg(test)]
// The request type is `c_ulong` on glibc and `c_int` on musl: the casts are
// only no-ops on some targets.
#[allow(clippy::unnecessary_cast)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_abi_sheet() {
        assert_eq!(UACCE_CMD_SHARE_SVAS as u64, 0x5702);
        assert_eq!(UACCE_CMD_GET_SS_DMA as u64, 0x8008_5703);
    }

    #[test]
    fn flags_regions_granules() {
        assert_eq!(UACCE_DEV_NOIOMMU, 0x2);
        assert_eq!(UACCE_DEV_IOMMU, 0x80);
        assert_eq!(UACCE_QFRT_SS, 2);
        assert_eq!(UACCE_MAX_REGION_OLK, 3);
        assert_eq!(
            (UACCE_MODE_NOUACCE, UACCE_MODE_SVA, UACCE_MODE_NOIOMMU),
            (0, 1, 2)
        );
        assert_eq!(UACCE_API_VER_NOIOMMU_SUBFIX, "_noiommu");
        assert_eq!(UACCE_GRAN_SIZE, 1 << UACCE_GRAN_SHIFT);
        assert_eq!(UACCE_GRAN_NUM_MASK, 0xfff);
    }
}
