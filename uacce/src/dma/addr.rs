//! [`DmaAddr`]: an address as the device sees it.

use std::fmt;

/// An address in the device's view of memory: what goes into a descriptor.
///
/// In SVA mode it equals a process virtual address; otherwise it is an IOVA or
/// a physical address of the queue's SS region (abi.md §7). It deliberately has
/// no arithmetic operators: offsets are added with [`checked_add`](Self::checked_add),
/// and every address that reaches a descriptor comes from the queue's
/// [`AddressSpace`](super::AddressSpace), never from a pointer cast.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DmaAddr(u64);

impl DmaAddr {
    /// Wraps a raw device address (for decoding descriptors and for tests;
    /// addresses for new requests come from an [`AddressSpace`](super::AddressSpace)).
    pub const fn new(raw: u64) -> DmaAddr {
        DmaAddr(raw)
    }

    /// The raw value, as written into a descriptor.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// `self + offset`, or `None` if that overflows 64 bits.
    pub const fn checked_add(self, offset: u64) -> Option<DmaAddr> {
        match self.0.checked_add(offset) {
            Some(v) => Some(DmaAddr(v)),
            None => None,
        }
    }
}

impl fmt::Display for DmaAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::Debug for DmaAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DmaAddr({:#x})", self.0)
    }
}

impl fmt::LowerHex for DmaAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_add_and_display() {
        let a = DmaAddr::new(0x1000);
        assert_eq!(a.checked_add(0x234), Some(DmaAddr::new(0x1234)));
        assert_eq!(DmaAddr::new(u64::MAX).checked_add(1), None);
        assert_eq!(
            DmaAddr::new(u64::MAX - 1).checked_add(1).map(DmaAddr::get),
            Some(u64::MAX)
        );
        assert_eq!(a.to_string(), "0x1000");
        assert_eq!(format!("{a:?}"), "DmaAddr(0x1000)");
        assert_eq!(format!("{a:x}"), "1000");
        assert_eq!(std::mem::size_of::<DmaAddr>(), 8);
    }
}
