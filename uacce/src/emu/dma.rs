//! The device's checked DMA path. Every byte the engine reads or writes on
//! behalf of a descriptor goes through [`DmaSpace`], so a bad address becomes
//! a fault status, never a crash of the process.
//!
//! * SVA: the address is a virtual address of this process. The engine reads
//!   and writes through the process's own address space with
//!   `process_vm_readv`/`process_vm_writev` on itself, which fail with
//!   `EFAULT` on an unmapped (or, for writes, read-only) page instead of
//!   faulting.
//! * Non-SVA: the address must translate through the queue's SS slice table
//!   (the device's IOMMU view); anything else faults.

use std::io::{IoSlice, IoSliceMut};
use std::sync::Arc;

use nix::sys::uio::{RemoteIoVec, process_vm_readv, process_vm_writev};
use nix::unistd::Pid;

use super::ss::SsMemory;

/// A DMA access the device could not make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("DMA fault: {len} bytes at device address {addr:#x}")]
pub struct DmaFault {
    /// Device address of the access.
    pub addr: u64,
    /// Its length.
    pub len: usize,
}

/// How one queue's device addresses reach memory.
#[derive(Debug, Clone)]
pub(crate) enum DmaSpace {
    /// Process virtual addresses.
    Sva,
    /// The queue's SS slices; `None` until the SS region is mapped.
    Slices(Option<Arc<SsMemory>>),
}

/// The checks every access shares: `None` for an empty access (it touches
/// nothing), a fault if `[addr, addr + len)` wraps or does not fit a pointer,
/// else the address as a process pointer value (used by SVA).
fn checked_range(addr: u64, len: usize) -> Result<Option<usize>, DmaFault> {
    let fault = DmaFault { addr, len };
    if len == 0 {
        return Ok(None);
    }
    addr.checked_add(len as u64).ok_or(fault)?;
    usize::try_from(addr).map(Some).map_err(|_| fault)
}

impl DmaSpace {
    /// Reads `buf.len()` bytes at device address `addr`.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), DmaFault> {
        let len = buf.len();
        let fault = DmaFault { addr, len };
        let Some(base) = checked_range(addr, len)? else {
            return Ok(());
        };
        match self {
            DmaSpace::Sva => {
                let remote = [RemoteIoVec { base, len }];
                let mut local = [IoSliceMut::new(buf)];
                match process_vm_readv(Pid::this(), &mut local, &remote) {
                    Ok(n) if n == len => Ok(()),
                    _ => Err(fault),
                }
            }
            DmaSpace::Slices(ss) => {
                let ss = ss.as_ref().ok_or(fault)?;
                let off = ss.translate(addr, len).ok_or(fault)?;
                ss.memory().read_bytes(off, buf).map_err(|_| fault)
            }
        }
    }

    /// Writes `data` at device address `addr`.
    pub fn write(&self, addr: u64, data: &[u8]) -> Result<(), DmaFault> {
        let len = data.len();
        let fault = DmaFault { addr, len };
        let Some(base) = checked_range(addr, len)? else {
            return Ok(());
        };
        match self {
            DmaSpace::Sva => {
                let remote = [RemoteIoVec { base, len }];
                let local = [IoSlice::new(data)];
                match process_vm_writev(Pid::this(), &local, &remote) {
                    Ok(n) if n == len => Ok(()),
                    _ => Err(fault),
                }
            }
            DmaSpace::Slices(ss) => {
                let ss = ss.as_ref().ok_or(fault)?;
                let off = ss.translate(addr, len).ok_or(fault)?;
                ss.memory().write_bytes(off, data).map_err(|_| fault)
            }
        }
    }

    /// Checks that `[addr, addr + len)` could be written, without writing.
    pub fn check_writable(&self, addr: u64, len: usize) -> Result<(), DmaFault> {
        let fault = DmaFault { addr, len };
        match self {
            DmaSpace::Sva => Ok(()),
            DmaSpace::Slices(ss) => {
                if len == 0 {
                    return Ok(());
                }
                ss.as_ref()
                    .and_then(|ss| ss.translate(addr, len))
                    .map(drop)
                    .ok_or(fault)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emu::config::EmuAddressMode;

    #[test]
    fn sva_reads_and_writes_own_memory_and_faults_on_unmapped() {
        let src = b"device reads this".to_vec();
        let mut buf = vec![0u8; src.len()];
        DmaSpace::Sva.read(src.as_ptr() as u64, &mut buf).unwrap();
        assert_eq!(buf, src);
        let mut dst = vec![0u8; 4];
        DmaSpace::Sva
            .write(dst.as_mut_ptr() as u64, b"abcd")
            .unwrap();
        assert_eq!(dst, b"abcd");
        // Page zero is never mapped.
        assert_eq!(
            DmaSpace::Sva.read(16, &mut buf),
            Err(DmaFault {
                addr: 16,
                len: buf.len()
            })
        );
        assert!(DmaSpace::Sva.write(16, b"x").is_err());
        assert!(DmaSpace::Sva.read(u64::MAX - 1, &mut buf).is_err());
        // Zero-length accesses touch nothing.
        assert!(DmaSpace::Sva.read(16, &mut []).is_ok());
    }

    #[test]
    fn slices_translate_or_fault() {
        let ss =
            Arc::new(SsMemory::allocate(65536, EmuAddressMode::Iommu, 65536, 0x10_0000).unwrap());
        let space = DmaSpace::Slices(Some(ss));
        space.write(0x10_0010, b"hi").unwrap();
        let mut b = [0u8; 2];
        space.read(0x10_0010, &mut b).unwrap();
        assert_eq!(&b, b"hi");
        assert!(space.read(0x10_0000 + 65535, &mut b).is_err());
        assert!(space.check_writable(0x0f_ffff, 1).is_err());
        assert!(DmaSpace::Slices(None).read(0x10_0010, &mut b).is_err());
    }
}
