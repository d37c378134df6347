//! Mainline `include/uapi/misc/uacce/uacce.h` (abi.md §1.1).
//!
//! Mainline defines exactly two ioctls, one flag bit and two region types.

use crate::IoctlRequest;

/// `UACCE_CMD_START_Q = _IO('W', 0)`: start the queue (INIT → STARTED).
pub const UACCE_CMD_START_Q: IoctlRequest = nix::request_code_none!(b'W', 0);

/// `UACCE_CMD_PUT_Q = _IO('W', 1)`: stop the queue. On 6.1 stable and newer the
/// queue goes back to INIT and may be started again (abi.md §2.5, §12).
pub const UACCE_CMD_PUT_Q: IoctlRequest = nix::request_code_none!(b'W', 1);

/// `UACCE_DEV_SVA = BIT(0)`: the device shares the process's virtual addresses.
pub const UACCE_DEV_SVA: u32 = 1 << 0;

/// Queue-file region types; the mmap offset is `type * page_size` (abi.md §2.4).
pub type UacceQfrt = u32;

/// `UACCE_QFRT_MMIO`: device MMIO, the doorbell page(s).
pub const UACCE_QFRT_MMIO: UacceQfrt = 0;

/// `UACCE_QFRT_DUS`: device-user-share memory, the SQ and CQ rings.
pub const UACCE_QFRT_DUS: UacceQfrt = 1;

/// `UACCE_MAX_REGION` in mainline (`include/linux/uacce.h`): region types are `< 2`.
pub const UACCE_MAX_REGION_MAINLINE: u32 = 2;

/// Queue states of `include/linux/uacce.h` (`enum uacce_q_state`), for reference.
pub mod q_state {
    /// Released (put on pre-2025 kernels) or device removed.
    pub const UACCE_Q_ZOMBIE: u32 = 0;
    /// Opened, not started.
    pub const UACCE_Q_INIT: u32 = 1;
    /// Started.
    pub const UACCE_Q_STARTED: u32 = 2;
}

#[cfg(test)]
// The request type is `c_ulong` on glibc and `c_int` on musl: the casts are
// only no-ops on some targets.
#[allow(clippy::unnecessary_cast)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_abi_sheet() {
        assert_eq!(UACCE_CMD_START_Q as u64, 0x5700);
        assert_eq!(UACCE_CMD_PUT_Q as u64, 0x5701);
    }

    #[test]
    fn flags_and_regions_match_abi_sheet() {
        assert_eq!(UACCE_DEV_SVA, 1);
        assert_eq!(UACCE_QFRT_MMIO, 0);
        assert_eq!(UACCE_QFRT_DUS, 1);
        assert_eq!(UACCE_MAX_REGION_MAINLINE, 2);
        assert_eq!(
            (
                q_state::UACCE_Q_ZOMBIE,
                q_state::UACCE_Q_INIT,
                q_state::UACCE_Q_STARTED
            ),
            (0, 1, 2)
        );
    }
}
