//! End-to-end tests of the address space over a queue, with a fake kernel
//! backend and a fake device DMA engine that faults every access outside the
//! SS slices (like the emulator's non-SVA devices will).

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::Duration;

use memmap2::{MmapOptions, MmapRaw};
use nix::errno::Errno;
use parking_lot::Mutex;
use proptest::prelude::*;
use uacce_sys::hisi_qm::{hisi_qp_ctx, hisi_qp_info};

use super::*;
use crate::backend::Backend;
use crate::device::{Api, DeviceFlags, DeviceInfo, Origin};
use crate::queue::{Queue, QueueError};
use crate::region::{Mapping, RegionKind, SharedMemory};

const GRAN: usize = 64 << 10;

/// How the fake kernel cuts the SS mapping into slices and addresses them.
#[derive(Clone, Copy, Debug)]
enum Layout {
    /// One slice of the whole mapping, size field 0 (IOMMU mode).
    Iommu { dma: u64 },
    /// Slices of `granules` × 64 KiB; pairs of slices are DMA-adjacent, then a
    /// gap (no-IOMMU mode).
    Slices { granules: usize },
    /// Claims one more slice after each answer, for ever.
    Endless,
    /// Reports slices larger than the mapping.
    Oversized,
}

/// The device side: the SS memory and the DMA address of each slice.
#[derive(Default)]
struct DeviceSide {
    mem: Option<Arc<MmapRaw>>,
    /// (dma, size) in mapping order.
    slices: Vec<(u64, usize)>,
    mapped_len: usize,
}

impl DeviceSide {
    /// Finds the memory behind `len` bytes at `dma`, or faults. A range may
    /// span slices only where their DMA addresses are contiguous.
    fn resolve(&self, dma: DmaAddr, len: usize) -> Result<Vec<(usize, usize)>, String> {
        let mut pieces = Vec::new();
        let mut at = dma.get();
        let mut left = len.max(1);
        while left > 0 {
            let mut va_off = 0usize;
            let mut found = None;
            for &(d, size) in &self.slices {
                if at >= d && at < d + size as u64 {
                    found = Some((va_off + (at - d) as usize, (d + size as u64 - at) as usize));
                    break;
                }
                va_off += size;
            }
            let (off, avail) =
                found.ok_or_else(|| format!("DMA fault at {at:#x} (range {dma} + {len})"))?;
            let n = avail.min(left);
            pieces.push((off, n));
            left -= n;
            at += n as u64;
        }
        if len == 0 {
            pieces[0].1 = 0;
        }
        Ok(pieces)
    }

    fn view(&self) -> SharedMemory {
        let mem = self.mem.clone().expect("SS not mapped");
        let len = mem.len();
        SharedMemory::new(Mapping::from_shared(mem, 0, len).unwrap(), RegionKind::Ss)
    }

    fn dma_read(&self, dma: DmaAddr, len: usize) -> Result<Vec<u8>, String> {
        let view = self.view();
        let mut out = Vec::with_capacity(len);
        for (off, n) in self.resolve(dma, len)? {
            let mut piece = vec![0; n];
            view.read_bytes(off, &mut piece)
                .map_err(|e| e.to_string())?;
            out.extend_from_slice(&piece);
        }
        Ok(out)
    }

    fn dma_write(&self, dma: DmaAddr, data: &[u8]) -> Result<(), String> {
        let view = self.view();
        let mut at = 0;
        for (off, n) in self.resolve(dma, data.len())? {
            view.write_bytes(off, &data[at..at + n])
                .map_err(|e| e.to_string())?;
            at += n;
        }
        Ok(())
    }
}

struct FakeBackend {
    layout: Layout,
    side: Arc<Mutex<DeviceSide>>,
    null: File,
}

impl Backend for FakeBackend {
    fn page_size(&self) -> usize {
        4096
    }

    fn map(&mut self, kind: RegionKind, len: usize) -> Result<Mapping, Errno> {
        if kind != RegionKind::Ss {
            return Err(Errno::EINVAL);
        }
        let mut side = self.side.lock();
        if side.mem.is_some() {
            return Err(Errno::EEXIST);
        }
        let raw = Arc::new(MmapRaw::from(
            MmapOptions::new()
                .len(len)
                .map_anon()
                .map_err(|_| Errno::ENOMEM)?,
        ));
        side.slices = match self.layout {
            Layout::Iommu { dma } => vec![(dma, len)],
            Layout::Slices { granules } => {
                let size = granules * GRAN;
                assert_eq!(len % size, 0, "test layout must divide the mapping");
                (0..len / size)
                    .map(|i| {
                        (
                            0x4000_0000 + (i * size) as u64 + (i / 2) as u64 * 0x100_0000,
                            size,
                        )
                    })
                    .collect()
            }
            Layout::Endless | Layout::Oversized => {
                vec![(0x1000_0000, 2 * len.next_multiple_of(GRAN))]
            }
        };
        side.mapped_len = len;
        side.mem = Some(raw.clone());
        Mapping::from_shared(raw, 0, len).ok_or(Errno::EINVAL)
    }

    fn start(&mut self) -> Result<(), Errno> {
        Ok(())
    }

    fn put(&mut self) -> Result<(), Errno> {
        Ok(())
    }

    fn set_qp_ctx(&mut self, _: &mut hisi_qp_ctx) -> Result<(), Errno> {
        Ok(())
    }

    fn set_qp_info(&mut self, _: &mut hisi_qp_info) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }

    fn get_ss_dma(&mut self, index: u64) -> Result<(u64, u32), Errno> {
        let side = self.side.lock();
        if side.mem.is_none() {
            return Err(Errno::EINVAL);
        }
        if let Layout::Endless = self.layout {
            return Ok(((0x1000_0000 + index * GRAN as u64) | 1, 1));
        }
        let &(dma, size) = side.slices.get(index as usize).ok_or(Errno::EINVAL)?;
        let field = match self.layout {
            Layout::Iommu { .. } => 0,
            _ => (size as u64 >> 16) & 0xfff,
        };
        Ok((dma | field, (side.slices.len() - 1 - index as usize) as u32))
    }

    fn wait(&self, _: Option<Duration>) -> Result<bool, Errno> {
        Ok(false)
    }

    fn probe_alive(&self) -> Result<(), Errno> {
        Ok(())
    }

    fn poll_fd(&self) -> BorrowedFd<'_> {
        self.null.as_fd()
    }
}

fn queue(flags: u32, layout: Layout) -> (Queue, Arc<Mutex<DeviceSide>>) {
    let flags = DeviceFlags::from_bits_retain(flags);
    let info = DeviceInfo {
        name: "hisi_zip-7".into(),
        sysfs_path: "/nonexistent".into(),
        dev_path: "/nonexistent".into(),
        api: Api::parse("hisi_qm_v2"),
        flags,
        address_mode: crate::AddressMode::from_flags(flags),
        available_instances: 1,
        algorithms: vec!["zlib".into(), "gzip".into()],
        region_mmio_size: None,
        region_dus_size: None,
        isolate: None,
        isolate_strategy: None,
        numa_node: None,
        origin: Origin::Kernel,
    };
    let side = Arc::new(Mutex::new(DeviceSide::default()));
    let backend = FakeBackend {
        layout,
        side: side.clone(),
        null: File::open("/dev/null").unwrap(),
    };
    (Queue::with_backend(info, Box::new(backend)).unwrap(), side)
}

fn small_config() -> DmaConfig {
    DmaConfig::default().with_memory_len(1 << 20)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 1)
        .collect()
}

#[test]
fn noiommu_queue_builds_a_merged_table_and_every_block_is_reachable() {
    let (mut q, side) = queue(0x2, Layout::Slices { granules: 2 });
    let space = AddressSpace::new(&mut q, &small_config()).unwrap();
    assert_eq!(space.mode(), crate::AddressMode::NoIommu);
    let side = side.lock();
    assert_eq!(side.mapped_len, 1 << 20);
    // 8 slices of 128 KiB, adjacent in pairs: 4 runs.
    let table = space.slice_table().unwrap();
    assert_eq!(
        (side.slices.len(), table.runs(), table.len()),
        (8, 4, 1 << 20)
    );
    // Every block the pool hands out is reachable by the device, whole.
    let bufs: Vec<_> = (0..space.pool().capacity())
        .map(|_| space.try_alloc_buf(GRAN).unwrap())
        .collect();
    assert_eq!(bufs.len(), 16);
    for b in &bufs {
        assert_eq!(side.dma_read(b.dma_addr(), GRAN).unwrap(), vec![0; GRAN]);
    }
    assert!(matches!(
        space.try_alloc_buf(1),
        Err(DmaError::PoolExhausted { blocks: 16 })
    ));
}

#[test]
fn noiommu_memory_len_is_rounded_to_64k() {
    let (mut q, side) = queue(0x2, Layout::Slices { granules: 1 });
    let c = DmaConfig::default().with_memory_len(100 << 10);
    let space = AddressSpace::new(&mut q, &c).unwrap();
    assert_eq!(side.lock().mapped_len, 128 << 10);
    assert_eq!(space.pool().capacity(), 2);
}

#[test]
fn blocks_straddling_a_discontinuity_are_skipped() {
    // Four 192 KiB slices, DMA-adjacent in pairs: [0,192K) [192K,384K) | gap |
    // [384K,576K) [576K,768K).
    let mut c = DmaConfig::default().with_memory_len(768 << 10);

    // 128 KiB blocks: none crosses the gap at 384 KiB; [128K,256K) spans two
    // slices that are DMA-adjacent, which is fine.
    let (mut q, _side) = queue(0x2, Layout::Slices { granules: 3 });
    c.block_size = 128 << 10;
    let space = AddressSpace::new(&mut q, &c).unwrap();
    assert_eq!((space.pool().capacity(), space.pool().skipped()), (6, 0));

    // 256 KiB blocks: [256K,512K) crosses the gap and is skipped.
    let (mut q, side) = queue(0x2, Layout::Slices { granules: 3 });
    c.block_size = 256 << 10;
    let space = AddressSpace::new(&mut q, &c).unwrap();
    assert_eq!((space.pool().capacity(), space.pool().skipped()), (2, 1));
    let side = side.lock();
    let bufs = [
        space.try_alloc_buf(256 << 10).unwrap(),
        space.try_alloc_buf(256 << 10).unwrap(),
    ];
    let table = space.slice_table().unwrap();
    for b in &bufs {
        // The device reaches every byte, and it is not the skipped block.
        side.dma_read(b.dma_addr(), 256 << 10).unwrap();
        assert_ne!(b.as_ptr() as usize, table.base() + (256 << 10));
    }
}

#[test]
fn iommu_queue_uses_one_slice_of_the_whole_mapping() {
    let (mut q, side) = queue(0x80, Layout::Iommu { dma: 0x8_0000_0000 });
    let space = AddressSpace::new(&mut q, &small_config()).unwrap();
    let table = space.slice_table().unwrap();
    assert_eq!((table.runs(), table.len()), (1, 1 << 20));
    assert_eq!(
        space.translate(table.base() + 5, 10).unwrap(),
        DmaAddr::new(0x8_0000_0005)
    );
    let data = pattern(5000, 3);
    let staged = space.stage_input(&data).unwrap();
    assert!(staged.is_bounced());
    assert_eq!(
        side.lock()
            .dma_read(staged.dma_addr(), staged.len())
            .unwrap(),
        data
    );
}

#[test]
fn sva_queue_is_zero_copy_with_virtual_addresses() {
    let (mut q, _side) = queue(0x81, Layout::Iommu { dma: 0 });
    let space = AddressSpace::new(&mut q, &small_config()).unwrap();
    assert_eq!(space.mode(), crate::AddressMode::Sva);
    assert!(space.slice_table().is_none());
    let data = pattern(300_000, 9);
    // Larger than a block: zero copy has no size limit.
    let staged = space.stage_input(&data).unwrap();
    assert!(!staged.is_bounced());
    assert_eq!(staged.dma_addr().get(), data.as_ptr() as u64);
    let mut out = pattern(4096, 1);
    let before = out.clone();
    let ptr = out.as_ptr() as u64;
    let staged = space.stage_output(&mut out).unwrap();
    assert!(!staged.is_bounced());
    assert_eq!(staged.dma_addr().get(), ptr);
    assert_eq!(staged.finish(4096).unwrap(), 4096);
    // write-touch pre-faulting kept the content
    assert_eq!(out, before);
    let mut buf = space.try_alloc_buf(100).unwrap();
    assert_eq!(buf.dma_addr().get(), buf.as_ptr() as u64);
    buf.write_at(0, b"abc").unwrap();
    let s = space.stage_input_buf(&buf, 1, 2).unwrap();
    assert_eq!(s.dma_addr().get(), buf.as_ptr() as u64 + 1);
    assert!(matches!(
        space.stage_input_buf(&buf, 99, 2),
        Err(DmaError::OutOfBuffer {
            offset: 99,
            len: 2,
            size: 100
        })
    ));
    assert!(matches!(
        space.translate(usize::MAX, 2),
        Err(DmaError::AddressOverflow { .. })
    ));
}

#[test]
fn no_shared_memory_device_gives_a_clear_error() {
    let (mut q, side) = queue(0x0, Layout::Iommu { dma: 0 });
    let err = AddressSpace::new(&mut q, &DmaConfig::default()).unwrap_err();
    assert!(
        matches!(&err, DmaError::NoSharedMemory { device } if device == "hisi_zip-7"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("hisi_zip-7") && msg.contains("SVA"), "{msg}");
    // Nothing was mapped.
    assert!(side.lock().mem.is_none());
}

#[test]
fn buffers_keep_the_ss_memory_alive_after_the_queue_is_gone() {
    let (mut q, side) = queue(0x2, Layout::Slices { granules: 2 });
    let space = AddressSpace::new(&mut q, &small_config()).unwrap();
    let mut buf = space.try_alloc_buf(4096).unwrap();
    drop(space);
    drop(q);
    // The fake device's view holds its own reference; drop that too.
    side.lock().mem = None;
    buf.write_at(0, b"still mapped").unwrap();
    let mut got = [0u8; 12];
    buf.read_at(0, &mut got).unwrap();
    assert_eq!(&got, b"still mapped");
}

#[test]
fn one_address_space_per_queue() {
    let (mut q, _side) = queue(0x2, Layout::Slices { granules: 4 });
    let _space = AddressSpace::new(&mut q, &small_config()).unwrap();
    let err = AddressSpace::new(&mut q, &small_config()).unwrap_err();
    assert!(
        matches!(err, DmaError::Queue(QueueError::AlreadyMapped { .. })),
        "{err:?}"
    );
}

#[test]
fn bad_slice_answers_are_refused() {
    let (mut q, _) = queue(0x2, Layout::Endless);
    let err = AddressSpace::new(&mut q, &small_config()).unwrap_err();
    assert!(
        matches!(
            err,
            DmaError::BadSlices {
                source: SliceError::TooMany { limit: 17 },
                ..
            }
        ),
        "{err:?}"
    );
    let (mut q, _) = queue(0x2, Layout::Oversized);
    let err = AddressSpace::new(&mut q, &small_config()).unwrap_err();
    assert!(
        matches!(
            err,
            DmaError::BadSlices {
                source: SliceError::TooLong { .. },
                ..
            }
        ),
        "{err:?}"
    );
    let (mut q, _) = queue(0x2, Layout::Slices { granules: 1 });
    let c = DmaConfig::default().with_block_size(3);
    assert!(matches!(
        AddressSpace::new(&mut q, &c),
        Err(DmaError::BadConfig {
            field: "block_size",
            ..
        })
    ));
}

#[test]
fn staging_chooses_zero_copy_or_bounce() {
    let (mut q, side) = queue(0x2, Layout::Slices { granules: 2 });
    let space = AddressSpace::new(&mut q, &small_config()).unwrap();
    let side = side.lock();

    // A user buffer: bounced, and the device reads exactly the bytes.
    let data = pattern(GRAN, 5);
    let s = space.stage_input(&data).unwrap();
    assert!(s.is_bounced());
    assert_eq!(side.dma_read(s.dma_addr(), s.len()).unwrap(), data);
    drop(s);

    // Too large to bounce in one block.
    let big = vec![1u8; GRAN + 1];
    assert!(
        matches!(space.stage_input(&big), Err(DmaError::TooLarge { len, block_size: GRAN }) if len == GRAN + 1)
    );
    let mut big_out = vec![0u8; GRAN + 1];
    assert!(matches!(
        space.stage_output(&mut big_out),
        Err(DmaError::TooLarge { .. })
    ));

    // A DmaBuf of this queue: zero copy, the device sees what was written.
    let mut buf = space.try_alloc_buf(1000).unwrap();
    buf.write_at(10, b"zero copy").unwrap();
    let s = space.stage_input_buf(&buf, 10, 9).unwrap();
    assert!(!s.is_bounced());
    assert_eq!(s.dma_addr(), buf.dma_addr().checked_add(10).unwrap());
    assert_eq!(side.dma_read(s.dma_addr(), 9).unwrap(), b"zero copy");
    drop(s);

    // Output into the DmaBuf: zero copy; the device's bytes are in the buffer.
    let out = space.stage_output_buf(&mut buf, 100, 50).unwrap();
    assert!(!out.is_bounced());
    side.dma_write(out.dma_addr(), &[7; 50]).unwrap();
    assert_eq!(out.finish(50).unwrap(), 50);
    let mut got = [0u8; 52];
    buf.read_at(99, &mut got).unwrap();
    assert_eq!((got[0], got[1], got[50], got[51]), (0, 7, 7, 0));

    // Output into user memory: bounced; finish copies exactly `written` bytes.
    let mut dst = vec![0xeeu8; 4096];
    let out = space.stage_output(&mut dst).unwrap();
    assert!(out.is_bounced());
    assert_eq!(out.capacity(), 4096);
    side.dma_write(out.dma_addr(), &pattern(3000, 2)).unwrap();
    assert_eq!(out.finish(3000).unwrap(), 3000);
    assert_eq!(&dst[..3000], &pattern(3000, 2)[..]);
    assert!(dst[3000..].iter().all(|&b| b == 0xee));

    // The device claims more than the capacity: error, nothing delivered.
    let mut dst = vec![0u8; 16];
    let out = space.stage_output(&mut dst).unwrap();
    assert!(matches!(
        out.finish(17),
        Err(DmaError::OutputOverrun {
            written: 17,
            capacity: 16
        })
    ));

    // Zero-length input: a valid address the device could be given.
    let s = space.stage_input(&[]).unwrap();
    assert!(s.is_empty());
    side.dma_read(s.dma_addr(), 0).unwrap();
}

#[test]
fn bounce_blocks_never_show_an_earlier_request() {
    let (mut q, side) = queue(0x2, Layout::Slices { granules: 1 });
    let mut c = small_config();
    c.memory_len = GRAN; // one block: every request reuses it
    let space = AddressSpace::new(&mut q, &c).unwrap();
    let side = side.lock();
    let secret = vec![0x5au8; GRAN];
    let s = space.stage_input(&secret).unwrap();
    let dma = s.dma_addr();
    drop(s);
    // A short input into the same block: the device sees the new bytes and
    // zeros after them, not the secret.
    let s = space.stage_input(b"tiny").unwrap();
    assert_eq!(s.dma_addr(), dma);
    let seen = side.dma_read(dma, GRAN).unwrap();
    assert_eq!(&seen[..4], b"tiny");
    assert!(seen[4..].iter().all(|&b| b == 0));
    drop(s);
    // An output block: the device (and a short-writing device's caller) sees zeros.
    let s = space.stage_input(&secret).unwrap();
    drop(s);
    let mut dst = vec![1u8; GRAN];
    let out = space.stage_output(&mut dst).unwrap();
    assert_eq!(out.dma_addr(), dma);
    assert!(side.dma_read(dma, GRAN).unwrap().iter().all(|&b| b == 0));
    // The device says it wrote 100 bytes but wrote nothing: the caller gets zeros.
    out.finish(100).unwrap();
    assert!(dst[..100].iter().all(|&b| b == 0));
    // A DmaBuf after a device write into it.
    let mut buf = space.try_alloc_buf(GRAN).unwrap();
    side.dma_write(buf.dma_addr(), &secret).unwrap();
    buf.fill(0, 10, 3).unwrap();
    drop(buf);
    let buf = space.try_alloc_buf(GRAN).unwrap();
    let mut got = vec![9u8; GRAN];
    buf.read_at(0, &mut got).unwrap();
    assert!(got.iter().all(|&b| b == 0));
}

#[test]
fn staging_fails_fast_or_waits_when_the_pool_is_exhausted() {
    let (mut q, _side) = queue(0x2, Layout::Slices { granules: 1 });
    let mut c = small_config();
    c.memory_len = 2 * GRAN;
    let space = AddressSpace::new(&mut q, &c).unwrap();
    let a = space.stage_input(b"a").unwrap();
    let mut out = [0u8; 8];
    let b = space.stage_output(&mut out).unwrap();
    assert!(matches!(
        space.stage_input(b"c"),
        Err(DmaError::PoolExhausted { blocks: 2 })
    ));
    drop(a);
    assert!(space.stage_input(b"c").is_ok());
    drop(b);

    // With a stage timeout, a block freed by another thread is picked up.
    let mut c2 = c.clone();
    c2.stage_timeout = Duration::from_secs(20);
    let (mut q2, _side2) = queue(0x2, Layout::Slices { granules: 1 });
    let space = Arc::new(AddressSpace::new(&mut q2, &c2).unwrap());
    let held = [
        space.try_alloc_buf(1).unwrap(),
        space.try_alloc_buf(1).unwrap(),
    ];
    let freer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        drop(held);
    });
    let s = space.stage_input(b"waited").unwrap();
    assert!(s.is_bounced());
    freer.join().unwrap();
}

#[test]
fn abandoned_guards_keep_their_block_out_of_the_pool() {
    let (mut q, _side) = queue(0x2, Layout::Slices { granules: 1 });
    let mut c = small_config();
    c.memory_len = 2 * GRAN;
    let space = AddressSpace::new(&mut q, &c).unwrap();
    space.stage_input(b"x").unwrap().abandon();
    let mut out = [0u8; 4];
    space.stage_output(&mut out).unwrap().abandon();
    assert_eq!(space.pool().available(), 0);
    assert!(matches!(
        space.try_alloc_buf(1),
        Err(DmaError::PoolExhausted { .. })
    ));
}

#[test]
fn foreign_dma_bufs_are_bounced_between_queues() {
    let (mut qa, _) = queue(0x2, Layout::Slices { granules: 2 });
    let (mut qb, side_b) = queue(0x2, Layout::Slices { granules: 2 });
    let a = AddressSpace::new(&mut qa, &small_config()).unwrap();
    let b = AddressSpace::new(&mut qb, &small_config()).unwrap();
    let side_b = side_b.lock();
    let mut buf = a.try_alloc_buf(4096).unwrap();
    buf.write_at(0, &pattern(4096, 4)).unwrap();
    // Queue B's device cannot see A's SS memory: bounced into B's pool.
    let s = b.stage_input_buf(&buf, 0, 4096).unwrap();
    assert!(s.is_bounced());
    assert_eq!(
        side_b.dma_read(s.dma_addr(), 4096).unwrap(),
        pattern(4096, 4)
    );
    drop(s);
    let out = b.stage_output_buf(&mut buf, 8, 16).unwrap();
    assert!(out.is_bounced());
    side_b.dma_write(out.dma_addr(), &[0xab; 16]).unwrap();
    out.finish(16).unwrap();
    let mut got = [0u8; 18];
    buf.read_at(7, &mut got).unwrap();
    assert_eq!(got[0], pattern(4096, 4)[7]);
    assert!(got[1..17].iter().all(|&x| x == 0xab));
    assert_eq!(got[17], pattern(4096, 4)[24]);
}

/// Minor page faults of this thread so far.
fn minor_faults() -> i64 {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `ru` is a valid, writable rusage; RUSAGE_THREAD needs nothing else.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, ru.as_mut_ptr()) };
    assert_eq!(rc, 0);
    // SAFETY: getrusage succeeded and filled it (it was zeroed anyway).
    unsafe { ru.assume_init() }.ru_minflt
}

fn faults_while(f: impl FnOnce()) -> i64 {
    let before = minor_faults();
    f();
    minor_faults() - before
}

#[test]
fn sva_prefault_makes_pages_present_and_writable() {
    const PAGES: usize = 64;
    let page = crate::backend::kernel::page_size();
    let fresh = || MmapOptions::new().len(PAGES * page).map_anon().unwrap();
    for prefault in [true, false] {
        let mut c = small_config();
        c.prefault = prefault;
        let space = AddressSpace::sva("test", page, &c).unwrap();
        // Output: after staging, the device's writes (here: ours) fault no more.
        let mut out = fresh();
        let staged = space.stage_output(&mut out[..]).unwrap();
        let _ = staged.finish(0).unwrap();
        let faults = faults_while(|| {
            for i in (0..PAGES * page).step_by(page) {
                out[i] = 1;
            }
        });
        if prefault {
            assert!(faults < 4, "{faults} faults after write pre-faulting");
        } else {
            assert!(
                faults >= PAGES as i64 / 2,
                "control: only {faults} faults without pre-faulting"
            );
        }
        // Input: reading after staging faults no more.
        let input = fresh();
        let staged = space.stage_input(&input[..]).unwrap();
        drop(staged);
        let faults = faults_while(|| {
            let mut acc = 0u8;
            for i in (0..PAGES * page).step_by(page) {
                acc ^= input[i];
            }
            std::hint::black_box(acc);
        });
        if prefault {
            assert!(faults < 4, "{faults} faults after read pre-faulting");
        } else {
            assert!(
                faults >= PAGES as i64 / 2,
                "control: only {faults} faults without pre-faulting"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Bounce round trips are byte-exact for any length and alignment, and
    /// the caller's bytes beyond what the device wrote are untouched.
    #[test]
    fn bounce_round_trips_are_byte_exact(
        len in 0usize..=GRAN,
        skew in 0usize..64,
        seed in any::<u8>(),
        written_frac in 0.0f64..=1.0,
    ) {
        let (mut q, side) = queue(0x2, Layout::Slices { granules: 1 });
        let mut c = small_config();
        c.memory_len = 2 * GRAN;
        let space = AddressSpace::new(&mut q, &c).unwrap();
        let side = side.lock();
        let backing = pattern(len + skew, seed);
        let data = &backing[skew..];
        let s = space.stage_input(data).unwrap();
        prop_assert!(s.is_bounced());
        prop_assert_eq!(side.dma_read(s.dma_addr(), len).unwrap(), data.to_vec());
        drop(s);

        let mut dst_backing = vec![0xc3u8; len + skew];
        let dst = &mut dst_backing[skew..];
        let out = space.stage_output(dst).unwrap();
        let written = ((len as f64) * written_frac) as usize;
        let produced = pattern(written, seed.wrapping_add(1));
        side.dma_write(out.dma_addr(), &produced).unwrap();
        prop_assert_eq!(out.finish(written).unwrap(), written);
        prop_assert_eq!(&dst_backing[skew..skew + written], &produced[..]);
        prop_assert!(dst_backing[..skew].iter().chain(&dst_backing[skew + written..]).all(|&b| b == 0xc3));
    }
}

#[test]
fn handles_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<AddressSpace>();
    send_sync::<BlockPool>();
    send_sync::<DmaBuf>();
    send_sync::<DmaError>();
    send_sync::<SliceTable>();
    send::<StagedInput<'static>>();
    send::<StagedOutput<'static>>();
}
