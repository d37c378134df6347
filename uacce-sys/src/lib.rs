//! Raw kernel ABI of Linux `uacce` accelerators.
//!
//! This crate holds numbers and layouts only: ioctl request codes, `#[repr(C)]`
//! structs, queue-file region types, device flag bits, api strings and sysfs
//! attribute names. It has no logic and no error type; the safe crate `uacce`
//! builds on it. Every value is pinned by a test against the fact sheet
//! (`shared/abi.md`), which names the kernel sources it comes from.
//!
//! * [`uacce`]: mainline `include/uapi/misc/uacce/uacce.h` (abi.md §1.1).
//! * [`hisi_qm`]: mainline `include/uapi/misc/uacce/hisi_qm.h` (abi.md §1.2).
//! * [`openeuler`]: the openEuler / KAE non-SVA extension, not in mainline (abi.md §1.3).
//! * [`sysfs`]: the class directory and attribute names (abi.md §2.2).
#![no_std]

pub mod hisi_qm;
pub mod openeuler;
pub mod sysfs;
pub mod uacce;

/// The integer type of an ioctl request code on this target (as `libc::ioctl` takes it).
pub type IoctlRequest = nix::sys::ioctl::ioctl_num_type;
