//! Typed views of a queue's mapped regions (abi.md §2.4, §3.2, §3.3, §7).
//!
//! Device-shared memory is never reachable through a Rust reference: a device
//! may write it at any time, and a `&[u8]` over such memory is undefined
//! behaviour. Instead every access is a bounds-checked volatile load or store
//! of a fixed width, or a bounds-checked copy to or from ordinary memory.
//!
//! * [`MmioRegion`]: the doorbell page(s). Aligned 32- and 64-bit volatile
//!   accesses only; a doorbell is one 64-bit store.
//! * [`DusRegion`]: the SQ and CQ rings plus the status words.
//! * [`SsRegion`]: openEuler's static-share DMA memory for data buffers.
//!
//! The unsafe code of this module is the whole of the SDK's direct access to
//! mapped memory.

use std::fmt;
use std::ptr::NonNull;
use std::sync::Arc;

use memmap2::MmapRaw;

/// The queue-file region types (abi.md §1.1, §1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegionKind {
    /// `UACCE_QFRT_MMIO` (0): doorbells.
    Mmio,
    /// `UACCE_QFRT_DUS` (1): SQ and CQ rings, status words.
    Dus,
    /// `UACCE_QFRT_SS` (2, openEuler only): static-share DMA memory.
    Ss,
}

impl RegionKind {
    /// The region type number; the mmap offset is this times the page size.
    pub fn region_type(self) -> u32 {
        match self {
            RegionKind::Mmio => uacce_sys::uacce::UACCE_QFRT_MMIO,
            RegionKind::Dus => uacce_sys::uacce::UACCE_QFRT_DUS,
            RegionKind::Ss => uacce_sys::openeuler::UACCE_QFRT_SS,
        }
    }

    /// The mmap offset of this region for a kernel with `page_size` pages.
    pub fn mmap_offset(self, page_size: usize) -> u64 {
        u64::from(self.region_type()) * page_size as u64
    }
}

impl fmt::Display for RegionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RegionKind::Mmio => "MMIO region",
            RegionKind::Dus => "DUS region",
            RegionKind::Ss => "SS region",
        })
    }
}

/// A bad access to a mapped region.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    /// The access does not fit in the region.
    #[error("{region}: {len} bytes at offset {offset:#x} do not fit in its {size:#x} bytes")]
    OutOfBounds {
        /// Which region.
        region: RegionKind,
        /// Start of the access.
        offset: usize,
        /// Length of the access.
        len: usize,
        /// Size of the region.
        size: usize,
    },
    /// A fixed-width access at an offset that is not a multiple of its width.
    #[error("{region}: offset {offset:#x} is not aligned to {align} bytes")]
    Misaligned {
        /// Which region.
        region: RegionKind,
        /// Offset of the access.
        offset: usize,
        /// Required alignment.
        align: usize,
    },
}

/// Receives the stores to an emulated device's MMIO region, the way a PCIe
/// device receives posted writes. Kernel mappings have none.
pub trait MmioSink: Send + Sync {
    /// A 64-bit store of `value` at `offset` has happened.
    fn write_u64(&self, offset: usize, value: u64);
    /// A 32-bit store of `value` at `offset` has happened.
    fn write_u32(&self, offset: usize, value: u32);
}

enum Owner {
    /// A mapping of its own: unmapped when dropped.
    Own(#[allow(dead_code)] MmapRaw),
    /// A window of memory shared with someone else (the emulator's device side).
    Shared(#[allow(dead_code)] Arc<MmapRaw>),
}

/// A live mapping: a pointer and a length, valid for reads and writes until
/// the mapping is dropped.
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    _owner: Owner,
    sink: Option<Arc<dyn MmioSink>>,
}

// SAFETY: a `Mapping` owns (or co-owns) its memory; the pointer stays valid
// wherever the owner moves, and nothing in it is tied to a thread.
unsafe impl Send for Mapping {}
// SAFETY: every access through `&Mapping` is a volatile access or a raw copy of
// device-shared memory, which another agent (the device) may access at the same
// time anyway; the ring protocol, not Rust aliasing, orders those accesses.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Takes ownership of a mapping made by `mmap(2)`; it is unmapped on drop.
    pub fn from_mmap(raw: MmapRaw) -> Mapping {
        let len = raw.len();
        // MmapRaw never hands out a null pointer for a successful mapping.
        let ptr = NonNull::new(raw.as_mut_ptr()).unwrap_or(NonNull::dangling());
        Mapping {
            ptr,
            len,
            _owner: Owner::Own(raw),
            sink: None,
        }
    }

    /// A window `[offset, offset + len)` of memory that is shared with another
    /// owner, such as the emulated device. `None` if the window does not fit.
    pub fn from_shared(raw: Arc<MmapRaw>, offset: usize, len: usize) -> Option<Mapping> {
        let end = offset.checked_add(len)?;
        if end > raw.len() {
            return None;
        }
        // SAFETY: `offset + len <= raw.len()`, so the result stays inside the
        // mapping (or one past its end when len is 0).
        let ptr = unsafe { raw.as_mut_ptr().add(offset) };
        let ptr = NonNull::new(ptr)?;
        Some(Mapping {
            ptr,
            len,
            _owner: Owner::Shared(raw),
            sink: None,
        })
    }

    /// Attaches a sink that sees every MMIO store (emulated devices only).
    pub fn with_sink(mut self, sink: Arc<dyn MmioSink>) -> Mapping {
        self.sink = Some(sink);
        self
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapping")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .field("emulated", &self.sink.is_some())
            .finish()
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for u16 {}
    impl Sealed for u32 {}
    impl Sealed for u64 {}
}

/// The fixed-width integers that may be loaded from or stored to a region.
pub trait Scalar: sealed::Sealed + Copy {
    /// Width in bytes.
    const WIDTH: usize;
}
impl Scalar for u8 {
    const WIDTH: usize = 1;
}
impl Scalar for u16 {
    const WIDTH: usize = 2;
}
impl Scalar for u32 {
    const WIDTH: usize = 4;
}
impl Scalar for u64 {
    const WIDTH: usize = 8;
}

/// Bounds-checked volatile access and copies over device-shared memory
/// (DUS and SS regions, and the emulator's view of them).
#[derive(Debug)]
pub struct SharedMemory {
    map: Mapping,
    kind: RegionKind,
}

impl SharedMemory {
    /// Wraps a mapping of region `kind`.
    pub fn new(map: Mapping, kind: RegionKind) -> SharedMemory {
        SharedMemory { map, kind }
    }

    /// Which region this is.
    pub fn kind(&self) -> RegionKind {
        self.kind
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.map.len
    }

    /// Whether the region is empty.
    pub fn is_empty(&self) -> bool {
        self.map.len == 0
    }

    /// The address of the first byte, for address translation. It is a raw
    /// pointer on purpose: never turn it into a reference.
    pub fn as_ptr(&self) -> *mut u8 {
        self.map.ptr.as_ptr()
    }

    /// Whether `[offset, offset + len)` lies inside the region.
    pub fn contains(&self, offset: usize, len: usize) -> bool {
        offset
            .checked_add(len)
            .is_some_and(|end| end <= self.map.len)
    }

    fn check(&self, offset: usize, len: usize, align: usize) -> Result<*mut u8, RegionError> {
        if !self.contains(offset, len) {
            return Err(RegionError::OutOfBounds {
                region: self.kind,
                offset,
                len,
                size: self.map.len,
            });
        }
        if offset % align != 0 {
            return Err(RegionError::Misaligned {
                region: self.kind,
                offset,
                align,
            });
        }
        // SAFETY: offset + len <= map.len, checked above.
        Ok(unsafe { self.map.ptr.as_ptr().add(offset) })
    }

    /// Volatile load of a `T` at `offset` (which must be aligned to its width).
    #[inline]
    pub fn read<T: Scalar>(&self, offset: usize) -> Result<T, RegionError> {
        let p = self.check(offset, T::WIDTH, T::WIDTH)?;
        // SAFETY: in bounds and aligned (checked); the memory is live while
        // `self` is; a volatile load creates no reference.
        Ok(unsafe { p.cast::<T>().read_volatile() })
    }

    /// Volatile store of a `T` at `offset` (which must be aligned to its width).
    #[inline]
    pub fn write<T: Scalar>(&self, offset: usize, value: T) -> Result<(), RegionError> {
        let p = self.check(offset, T::WIDTH, T::WIDTH)?;
        // SAFETY: in bounds and aligned (checked); the memory is live and
        // writable while `self` is; a volatile store creates no reference.
        unsafe { p.cast::<T>().write_volatile(value) };
        Ok(())
    }

    /// Copies `src` into the region at `offset`.
    #[inline]
    pub fn write_bytes(&self, offset: usize, src: &[u8]) -> Result<(), RegionError> {
        let p = self.check(offset, src.len(), 1)?;
        // SAFETY: the destination range is inside the mapping (checked) and
        // cannot overlap `src`, which is ordinary memory borrowed by Rust.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), p, src.len()) };
        Ok(())
    }

    /// Copies from the region at `offset` into `dst`.
    #[inline]
    pub fn read_bytes(&self, offset: usize, dst: &mut [u8]) -> Result<(), RegionError> {
        let p = self.check(offset, dst.len(), 1)?;
        // SAFETY: the source range is inside the mapping (checked) and cannot
        // overlap `dst`, which Rust borrows exclusively.
        unsafe { std::ptr::copy_nonoverlapping(p, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    /// Sets `len` bytes at `offset` to `byte`.
    pub fn fill(&self, offset: usize, len: usize, byte: u8) -> Result<(), RegionError> {
        let p = self.check(offset, len, 1)?;
        // SAFETY: the range is inside the mapping (checked).
        unsafe { std::ptr::write_bytes(p, byte, len) };
        Ok(())
    }

    /// Copies `len` bytes from `src_offset` in `src` to `offset` in `self`.
    /// The two regions may be the same memory only if the ranges do not overlap.
    pub fn copy_from(
        &self,
        offset: usize,
        src: &SharedMemory,
        src_offset: usize,
        len: usize,
    ) -> Result<(), RegionError> {
        let d = self.check(offset, len, 1)?;
        let s = src.check(src_offset, len, 1)?;
        // SAFETY: both ranges are inside their mappings (checked); `copy`
        // tolerates overlap.
        unsafe { std::ptr::copy(s, d, len) };
        Ok(())
    }
}

/// The MMIO region: doorbell registers. Only aligned fixed-width volatile
/// accesses exist; a doorbell is a single 64-bit store (abi.md §4.2).
#[derive(Debug)]
pub struct MmioRegion {
    map: Mapping,
}

impl MmioRegion {
    /// Wraps a mapping of the MMIO region.
    pub fn new(map: Mapping) -> MmioRegion {
        MmioRegion { map }
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.map.len
    }

    /// Whether the region is empty.
    pub fn is_empty(&self) -> bool {
        self.map.len == 0
    }

    fn check(&self, offset: usize, width: usize) -> Result<*mut u8, RegionError> {
        if offset
            .checked_add(width)
            .is_none_or(|end| end > self.map.len)
        {
            return Err(RegionError::OutOfBounds {
                region: RegionKind::Mmio,
                offset,
                len: width,
                size: self.map.len,
            });
        }
        if offset % width != 0 {
            return Err(RegionError::Misaligned {
                region: RegionKind::Mmio,
                offset,
                align: width,
            });
        }
        // SAFETY: offset + width <= len, checked above.
        Ok(unsafe { self.map.ptr.as_ptr().add(offset) })
    }

    /// One aligned 64-bit volatile store. Callers that publish descriptors put
    /// [`crate::barrier::store_barrier`] before it.
    #[inline]
    pub fn write_u64(&self, offset: usize, value: u64) -> Result<(), RegionError> {
        let p = self.check(offset, 8)?;
        // SAFETY: in bounds and 8-byte aligned (checked); device memory is only
        // ever accessed with volatile operations of a fixed width.
        unsafe { p.cast::<u64>().write_volatile(value) };
        if let Some(sink) = &self.map.sink {
            sink.write_u64(offset, value);
        }
        Ok(())
    }

    /// One aligned 32-bit volatile store.
    #[inline]
    pub fn write_u32(&self, offset: usize, value: u32) -> Result<(), RegionError> {
        let p = self.check(offset, 4)?;
        // SAFETY: in bounds and 4-byte aligned (checked).
        unsafe { p.cast::<u32>().write_volatile(value) };
        if let Some(sink) = &self.map.sink {
            sink.write_u32(offset, value);
        }
        Ok(())
    }

    /// One aligned 64-bit volatile load.
    #[inline]
    pub fn read_u64(&self, offset: usize) -> Result<u64, RegionError> {
        let p = self.check(offset, 8)?;
        // SAFETY: in bounds and 8-byte aligned (checked).
        Ok(unsafe { p.cast::<u64>().read_volatile() })
    }

    /// One aligned 32-bit volatile load.
    #[inline]
    pub fn read_u32(&self, offset: usize) -> Result<u32, RegionError> {
        let p = self.check(offset, 4)?;
        // SAFETY: in bounds and 4-byte aligned (checked).
        Ok(unsafe { p.cast::<u32>().read_volatile() })
    }
}

/// The DUS region: SQ ring, CQ ring right after it, and the TX/RX status words
/// in its last 8 bytes (abi.md §3.3).
#[derive(Debug)]
pub struct DusRegion(SharedMemory);

impl DusRegion {
    /// Wraps a mapping of the DUS region.
    pub fn new(map: Mapping) -> DusRegion {
        DusRegion(SharedMemory::new(map, RegionKind::Dus))
    }
}

impl std::ops::Deref for DusRegion {
    type Target = SharedMemory;
    fn deref(&self) -> &SharedMemory {
        &self.0
    }
}

/// The openEuler SS region: kernel DMA memory for data buffers (abi.md §7).
#[derive(Debug)]
pub struct SsRegion(SharedMemory);

impl SsRegion {
    /// Wraps a mapping of the SS region.
    pub fn new(map: Mapping) -> SsRegion {
        SsRegion(SharedMemory::new(map, RegionKind::Ss))
    }
}

impl std::ops::Deref for SsRegion {
    type Target = SharedMemory;
    fn deref(&self) -> &SharedMemory {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn anon(len: usize) -> Arc<MmapRaw> {
        Arc::new(MmapRaw::from(
            memmap2::MmapOptions::new().len(len).map_anon().unwrap(),
        ))
    }

    #[test]
    fn offsets_are_type_times_page_size() {
        assert_eq!(RegionKind::Mmio.mmap_offset(4096), 0);
        assert_eq!(RegionKind::Dus.mmap_offset(4096), 4096);
        assert_eq!(RegionKind::Ss.mmap_offset(4096), 8192);
        assert_eq!(RegionKind::Dus.mmap_offset(65536), 65536);
        assert_eq!(RegionKind::Ss.mmap_offset(65536), 131072);
    }

    #[test]
    fn shared_memory_is_bounds_checked() {
        let m = SharedMemory::new(
            Mapping::from_shared(anon(4096), 0, 4096).unwrap(),
            RegionKind::Dus,
        );
        m.write::<u64>(4088, 0x1122_3344_5566_7788).unwrap();
        assert_eq!(m.read::<u64>(4088).unwrap(), 0x1122_3344_5566_7788);
        assert_eq!(m.read::<u32>(4092).unwrap(), 0x1122_3344);
        assert!(matches!(
            m.read::<u64>(4092),
            Err(RegionError::OutOfBounds { .. })
        ));
        assert!(matches!(
            m.read::<u64>(4),
            Err(RegionError::Misaligned { align: 8, .. })
        ));
        assert!(matches!(
            m.write_bytes(4090, &[0; 7]),
            Err(RegionError::OutOfBounds { .. })
        ));
        assert!(matches!(
            m.read::<u8>(usize::MAX),
            Err(RegionError::OutOfBounds { .. })
        ));
        m.write_bytes(10, b"hello").unwrap();
        let mut out = [0u8; 5];
        m.read_bytes(10, &mut out).unwrap();
        assert_eq!(&out, b"hello");
        m.fill(10, 5, 0).unwrap();
        m.read_bytes(10, &mut out).unwrap();
        assert_eq!(out, [0; 5]);
    }

    #[test]
    fn windows_must_fit() {
        assert!(Mapping::from_shared(anon(8192), 4096, 4096).is_some());
        assert!(Mapping::from_shared(anon(8192), 4096, 4097).is_none());
        assert!(Mapping::from_shared(anon(8192), usize::MAX, 2).is_none());
    }

    struct Recorder(AtomicU64);
    impl MmioSink for Recorder {
        fn write_u64(&self, offset: usize, value: u64) {
            self.0.store(value ^ offset as u64, Ordering::SeqCst);
        }
        fn write_u32(&self, _: usize, _: u32) {}
    }

    #[test]
    fn mmio_stores_reach_the_sink_and_memory() {
        let rec = Arc::new(Recorder(AtomicU64::new(0)));
        let mmio = MmioRegion::new(
            Mapping::from_shared(anon(8192), 0, 8192)
                .unwrap()
                .with_sink(rec.clone()),
        );
        mmio.write_u64(0x1000, 0xabcd).unwrap();
        assert_eq!(rec.0.load(Ordering::SeqCst), 0xabcd ^ 0x1000);
        assert_eq!(mmio.read_u64(0x1000).unwrap(), 0xabcd);
        assert!(matches!(
            mmio.write_u64(0x1004, 1),
            Err(RegionError::Misaligned { .. })
        ));
        assert!(matches!(
            mmio.write_u64(8192, 1),
            Err(RegionError::OutOfBounds { .. })
        ));
    }
}
