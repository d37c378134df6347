//! Memory barriers for talking to a device through shared memory and MMIO
//! (abi.md §4.7).
//!
//! On aarch64 a plain Rust `fence` emits `dmb ish`, which orders accesses among
//! CPUs (inner shareable domain) but not against a device. UADK and the kernel
//! use `dsb st` before a doorbell and `dsb ld` (kernel: `dma_rmb`) after seeing
//! a valid phase bit, so that is what these functions emit there. On x86_64,
//! stores to write-back memory are already ordered before a later uncached
//! MMIO store and loads are not reordered with loads, so a compiler-visible
//! sequentially consistent fence is more than enough.

use core::sync::atomic::{Ordering, fence};

/// Orders every earlier store (descriptor writes) before every later store (the
/// doorbell). Call it between writing an SQE and ringing the doorbell.
#[inline(always)]
pub fn store_barrier() {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: `dsb st` only waits for outstanding stores; it touches no memory
    // and no registers.
    unsafe {
        core::arch::asm!("dsb st", options(nostack, preserves_flags));
    }
    #[cfg(not(target_arch = "aarch64"))]
    fence(Ordering::SeqCst);
}

/// Orders the load that observed a completion (the phase bit) before every later
/// load of the completion's data (the SQE slot).
#[inline(always)]
pub fn load_barrier() {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: `dsb ld` only waits for outstanding loads; it touches no memory
    // and no registers.
    unsafe {
        core::arch::asm!("dsb ld", options(nostack, preserves_flags));
    }
    #[cfg(not(target_arch = "aarch64"))]
    fence(Ordering::Acquire);
}

/// Full barrier: every earlier load and store before every later one.
#[inline(always)]
pub fn full_barrier() {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: `dsb sy` only waits for outstanding memory accesses.
    unsafe {
        core::arch::asm!("dsb sy", options(nostack, preserves_flags));
    }
    #[cfg(not(target_arch = "aarch64"))]
    fence(Ordering::SeqCst);
}
