//! Mainline `include/uapi/misc/uacce/hisi_qm.h` (abi.md §1.2) and the fixed
//! facts of the HiSilicon queue manager that userspace relies on (abi.md §3, §4).

use core::mem::{offset_of, size_of};

use crate::IoctlRequest;

/// `struct hisi_qp_ctx`: argument of [`UACCE_CMD_QM_SET_QP_CTX`].
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct hisi_qp_ctx {
    /// Out: the queue-pair index within the PCI function, the `qn` of doorbells.
    pub id: u16,
    /// In: the queue's algorithm type. ZIP: 0 compress, 1 decompress; SEC/HPRE: 0.
    pub qc_type: u16,
}

/// `struct hisi_qp_info`: argument of [`UACCE_CMD_QM_SET_QP_INFO`] (≈ v6.1+).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct hisi_qp_info {
    /// Out: SQE size in bytes (ZIP and SEC 128, HPRE 64).
    pub sqe_size: u32,
    /// Out: SQ entries.
    pub sq_depth: u16,
    /// Out: CQ entries.
    pub cq_depth: u16,
    /// Ignored by the kernel.
    pub reserved: u64,
}

const _: () = {
    assert!(size_of::<hisi_qp_ctx>() == 4);
    assert!(core::mem::align_of::<hisi_qp_ctx>() == 2);
    assert!(offset_of!(hisi_qp_ctx, id) == 0);
    assert!(offset_of!(hisi_qp_ctx, qc_type) == 2);
    assert!(size_of::<hisi_qp_info>() == 16);
    assert!(core::mem::align_of::<hisi_qp_info>() == 8);
    assert!(offset_of!(hisi_qp_info, sqe_size) == 0);
    assert!(offset_of!(hisi_qp_info, sq_depth) == 4);
    assert!(offset_of!(hisi_qp_info, cq_depth) == 6);
    assert!(offset_of!(hisi_qp_info, reserved) == 8);
};

/// `UACCE_CMD_QM_SET_QP_CTX = _IOWR('H', 10, struct hisi_qp_ctx)`: set `qc_type`
/// (before `START_Q`), get the queue id.
pub const UACCE_CMD_QM_SET_QP_CTX: IoctlRequest =
    nix::request_code_readwrite!(b'H', 10, size_of::<hisi_qp_ctx>());

/// `UACCE_CMD_QM_SET_QP_INFO = _IOWR('H', 11, struct hisi_qp_info)`: get SQE size
/// and ring depths. Kernels without it answer `EINVAL`; then depth 1024 and the
/// known SQE size apply (abi.md §1.2, §3.5).
pub const UACCE_CMD_QM_SET_QP_INFO: IoctlRequest =
    nix::request_code_readwrite!(b'H', 11, size_of::<hisi_qp_info>());

/// `HISI_QM_API_VER_BASE`: api string of QM hardware v1.
pub const HISI_QM_API_VER_BASE: &str = "hisi_qm_v1";
/// `HISI_QM_API_VER2_BASE`: QM hardware v2 (Kunpeng 920).
pub const HISI_QM_API_VER2_BASE: &str = "hisi_qm_v2";
/// `HISI_QM_API_VER3_BASE`: QM hardware v3 and v4 (Kunpeng 930).
pub const HISI_QM_API_VER3_BASE: &str = "hisi_qm_v3";
/// `HISI_QM_API_VER5_BASE`: newest hardware, newest kernels.
pub const HISI_QM_API_VER5_BASE: &str = "hisi_qm_v5";
/// The common prefix of every hisi api string; the version number follows it.
pub const HISI_QM_API_PREFIX: &str = "hisi_qm_v";

/// Depth the kernel uses for both rings on v1/v2, and the fallback when
/// `SET_QP_INFO` is missing (abi.md §3.1, §3.5).
pub const QM_Q_DEPTH_DEFAULT: u16 = 1024;
/// CQE size in bytes (abi.md §4.4).
pub const QM_CQE_SIZE: usize = 16;
/// ZIP and SEC SQE size in bytes (abi.md §3.1).
pub const QM_SQE_SIZE_ZIP_SEC: usize = 128;
/// HPRE SQE size in bytes.
pub const QM_SQE_SIZE_HPRE: usize = 64;

/// Doorbell register offset inside the MMIO mapping, hardware v1 (abi.md §3.2).
pub const QM_DOORBELL_OFFSET_V1: usize = 0x340;
/// Doorbell register offset inside the MMIO mapping, hardware v2 and later.
pub const QM_DOORBELL_OFFSET_V2: usize = 0x1000;

/// Doorbell command: SQ.
pub const QM_DOORBELL_CMD_SQ: u64 = 0;
/// Doorbell command: CQ.
pub const QM_DOORBELL_CMD_CQ: u64 = 1;

/// v2+ doorbell field shifts (abi.md §4.2): qn 0–11, cmd 12–15, rand 16–31,
/// index 32–47, priority 48–63.
pub mod doorbell_v2 {
    /// Bits of the queue number.
    pub const QN_MASK: u64 = 0xfff;
    /// Shift of the command field.
    pub const CMD_SHIFT: u32 = 12;
    /// Mask of the command field after shifting.
    pub const CMD_MASK: u64 = 0xf;
    /// Shift of the random-token field (must be 0 in normal operation).
    pub const RAND_SHIFT: u32 = 16;
    /// Mask of the random-token field after shifting.
    pub const RAND_MASK: u64 = 0xffff;
    /// Shift of the ring index field.
    pub const INDEX_SHIFT: u32 = 32;
    /// Shift of the priority field.
    pub const PRIORITY_SHIFT: u32 = 48;
}

/// v1 doorbell field shifts: qn 0–15, cmd 16–19, index 32–47, priority 48–63.
pub mod doorbell_v1 {
    /// Bits of the queue number.
    pub const QN_MASK: u64 = 0xffff;
    /// Shift of the command field.
    pub const CMD_SHIFT: u32 = 16;
    /// Mask of the command field after shifting.
    pub const CMD_MASK: u64 = 0xf;
    /// Shift of the ring index field.
    pub const INDEX_SHIFT: u32 = 32;
    /// Shift of the priority field.
    pub const PRIORITY_SHIFT: u32 = 48;
}

/// DUS status words, counted back from the end of the DUS region (abi.md §3.3).
pub mod dus_status {
    /// The TX ("stop submitting") word is the last u32 of DUS.
    pub const TX_FROM_END: usize = 4;
    /// The RX ("stop consuming") word is the u32 before it.
    pub const RX_FROM_END: usize = 8;
}

/// CQE field offsets (abi.md §4.4), 16 bytes per CQE.
pub mod cqe {
    /// `sq_head` (u16): index of the completed SQE.
    pub const SQ_HEAD: usize = 8;
    /// `sq_num` (u16): queue number.
    pub const SQ_NUM: usize = 10;
    /// `w7` (u16): bit 0 is the phase.
    pub const W7: usize = 14;
    /// The phase bit within `w7`.
    pub const PHASE_BIT: u16 = 1;
}

#[cfg(test)]
// The request type is `c_ulong` on glibc and `c_int` on musl: the casts are
// only no-ops on some targets.
#[allow(clippy::unnecessary_cast)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_abi_sheet() {
        assert_eq!(UACCE_CMD_QM_SET_QP_CTX as u64, 0xC004_480A);
        assert_eq!(UACCE_CMD_QM_SET_QP_INFO as u64, 0xC010_480B);
    }

    #[test]
    fn api_strings_and_geometry() {
        assert_eq!(HISI_QM_API_VER_BASE, "hisi_qm_v1");
        assert_eq!(HISI_QM_API_VER2_BASE, "hisi_qm_v2");
        assert_eq!(HISI_QM_API_VER3_BASE, "hisi_qm_v3");
        assert_eq!(HISI_QM_API_VER5_BASE, "hisi_qm_v5");
        assert!(HISI_QM_API_VER2_BASE.starts_with(HISI_QM_API_PREFIX));
        assert_eq!(QM_DOORBELL_OFFSET_V1, 0x340);
        assert_eq!(QM_DOORBELL_OFFSET_V2, 0x1000);
        assert_eq!(
            (QM_CQE_SIZE, QM_SQE_SIZE_ZIP_SEC, QM_SQE_SIZE_HPRE),
            (16, 128, 64)
        );
        assert_eq!(QM_Q_DEPTH_DEFAULT, 1024);
        assert_eq!((cqe::SQ_HEAD, cqe::SQ_NUM, cqe::W7), (8, 10, 14));
        assert_eq!((dus_status::TX_FROM_END, dus_status::RX_FROM_END), (4, 8));
    }

    #[test]
    fn doorbell_field_layout_v2() {
        use doorbell_v2::*;
        // qn 5, CQ, index 7, priority 1 (abi.md §4.2)
        let db = 5 | (QM_DOORBELL_CMD_CQ << CMD_SHIFT) | (7 << INDEX_SHIFT) | (1 << PRIORITY_SHIFT);
        assert_eq!(db, 0x0001_0007_0000_1005);
        assert_eq!(RAND_SHIFT, 16);
    }
}
