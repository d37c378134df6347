//! End to end: the dma address spaces against the built-in emulator's ZIP
//! device in all three address modes, driven through `hisi::qm`. The ZIP
//! descriptors are hand-built from abi.md §5 (the SDK's ZIP driver is not
//! used here); every address in them comes from the `AddressSpace`.

use std::io::Read;
use std::time::Duration;

use uacce::Queue;
use uacce::dma::{AddressSpace, DmaAddr, DmaConfig, DmaError};
use uacce::emu::{DeviceConfig, EmuAddressMode, Emulator, PageSize, status};
use uacce::hisi::qm::{QmConfig, QmQueue};

/// dw7: block mode (flush + new stream), sqe_type 0 (v2).
const BLOCK: u32 = (1 << 25) | (1 << 27);
/// dw9 req_type: zlib.
const ZLIB: u32 = 2;
/// v2 tag dword.
const TAG_OFFSET: usize = 13 * 4;

struct Rig {
    _emu: Emulator,
    qm: QmQueue,
    space: AddressSpace,
}

fn rig(mode: EmuAddressMode, config: &DmaConfig) -> Rig {
    rig_on(DeviceConfig::zip_v2().with_address_mode(mode), config)
}

fn rig_on(device: DeviceConfig, config: &DmaConfig) -> Rig {
    let emu = Emulator::new(device.with_ss_slice_size(256 << 10)).unwrap();
    let dev = emu.devices().unwrap().remove(0);
    let mut q = Queue::open(&dev).unwrap();
    let space = AddressSpace::new(&mut q, config).unwrap();
    let qm = QmQueue::new(q, QmConfig::new(0, TAG_OFFSET)).unwrap();
    Rig {
        _emu: emu,
        qm,
        space,
    }
}

fn sqe(src: DmaAddr, src_len: usize, dst: DmaAddr, dst_len: usize) -> [u8; 128] {
    let mut d = [0u32; 32];
    d[4] = src_len as u32;
    d[7] = BLOCK;
    d[9] = ZLIB;
    d[14] = dst_len as u32;
    d[18] = src.get() as u32;
    d[19] = (src.get() >> 32) as u32;
    d[20] = dst.get() as u32;
    d[21] = (dst.get() >> 32) as u32;
    let mut out = [0u8; 128];
    for (i, w) in d.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// Status and produced bytes of one request.
fn run(qm: &mut QmQueue, desc: &[u8; 128]) -> (u8, usize) {
    qm.submit(desc).unwrap();
    let done = qm.wait(Duration::from_secs(10)).unwrap();
    ((done.dword(3) & 0xff) as u8, done.dword(1) as usize)
}

fn text(len: usize, seed: u32) -> Vec<u8> {
    let words = [
        &b"queue "[..],
        b"slice ",
        b"bounce ",
        b"device ",
        b"address ",
        b"zero-copy ",
    ];
    let mut x = seed;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        out.extend_from_slice(words[(x >> 16) as usize % words.len()]);
    }
    out.truncate(len);
    out
}

/// The device writes raw deflate plus the zlib trailer; software adds the header.
fn inflate(produced: &[u8]) -> Vec<u8> {
    let mut stream = vec![0x78, 0x9c];
    stream.extend_from_slice(produced);
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(&stream[..])
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn config() -> DmaConfig {
    DmaConfig::default().with_memory_len(1 << 20)
}

const MODES: [EmuAddressMode; 3] = [
    EmuAddressMode::Sva,
    EmuAddressMode::Iommu,
    EmuAddressMode::NoIommu,
];

#[test]
fn user_buffers_compress_in_every_mode() {
    for mode in MODES {
        let mut r = rig(mode, &config());
        let input = text(60_000, 7);
        let mut output = vec![0u8; r.space.chunk_limit()];
        let src = r.space.stage_input(&input).unwrap();
        let dst = r.space.stage_output(&mut output).unwrap();
        // SVA is zero copy; the other modes must bounce a plain Vec.
        assert_eq!(src.is_bounced(), mode != EmuAddressMode::Sva, "{mode:?}");
        assert_eq!(dst.is_bounced(), mode != EmuAddressMode::Sva, "{mode:?}");
        let (st, produced) = run(
            &mut r.qm,
            &sqe(src.dma_addr(), src.len(), dst.dma_addr(), dst.capacity()),
        );
        assert_eq!(st, status::OK, "{mode:?}");
        assert_eq!(dst.finish(produced).unwrap(), produced);
        drop(src);
        assert_eq!(inflate(&output[..produced]), input, "{mode:?}");
    }
}

#[test]
fn dma_bufs_are_zero_copy_in_every_mode() {
    for mode in MODES {
        let mut r = rig(mode, &config());
        let input = text(30_000, 3);
        let mut inbuf = r.space.try_alloc_buf(input.len()).unwrap();
        inbuf.write_at(0, &input).unwrap();
        let mut outbuf = r.space.try_alloc_buf(r.space.chunk_limit()).unwrap();
        let cap = outbuf.len();
        let src = r.space.stage_input_buf(&inbuf, 0, input.len()).unwrap();
        let dst = r.space.stage_output_buf(&mut outbuf, 0, cap).unwrap();
        assert!(!src.is_bounced() && !dst.is_bounced(), "{mode:?}");
        let (st, produced) = run(
            &mut r.qm,
            &sqe(src.dma_addr(), src.len(), dst.dma_addr(), dst.capacity()),
        );
        assert_eq!(st, status::OK, "{mode:?}");
        dst.finish(produced).unwrap();
        drop(src);
        let mut got = vec![0u8; produced];
        outbuf.read_at(0, &mut got).unwrap();
        assert_eq!(inflate(&got), input, "{mode:?}");
    }
}

#[test]
fn non_sva_devices_fault_on_addresses_not_from_the_address_space() {
    for mode in [EmuAddressMode::Iommu, EmuAddressMode::NoIommu] {
        let mut r = rig(mode, &config());
        let input = text(1000, 1);
        let mut output = vec![0u8; 4096];
        // A virtual address is not a device address without SVA.
        let raw_src = DmaAddr::new(input.as_ptr() as u64);
        let dst = r.space.stage_output(&mut output).unwrap();
        let (st, _) = run(
            &mut r.qm,
            &sqe(raw_src, input.len(), dst.dma_addr(), dst.capacity()),
        );
        assert_eq!(st, status::DMA_FAULT, "{mode:?}");
    }
}

#[test]
fn noiommu_table_merges_pairs_and_never_crosses_a_hole() {
    let r = rig(EmuAddressMode::NoIommu, &config());
    let table = r.space.slice_table().unwrap();
    // 1 MiB in 256 KiB slices, adjacent in pairs with a hole after each pair.
    assert_eq!((table.len(), table.runs()), (1 << 20, 2));
    let (va, len, _) = table.iter_runs().next().unwrap();
    assert!(matches!(
        r.space.translate(va + len - 1, 2),
        Err(DmaError::Straddles { .. })
    ));
    // Every block is reachable by the device: 15 serve as zero-copy inputs,
    // the last one as the bounce block of every output.
    let mut r = r;
    let mut bufs = Vec::new();
    while let Ok(b) = r.space.try_alloc_buf(8192) {
        bufs.push(b);
    }
    assert_eq!(bufs.len(), 16);
    drop(bufs.pop());
    for (i, b) in bufs.iter_mut().enumerate() {
        b.write_at(0, &text(8192, i as u32)).unwrap();
    }
    let mut out = vec![0u8; 16384];
    for (i, b) in bufs.iter().enumerate() {
        let src = r.space.stage_input_buf(b, 0, 8192).unwrap();
        let dst = r.space.stage_output(&mut out).unwrap();
        assert!(!src.is_bounced() && dst.is_bounced());
        let (st, produced) = run(
            &mut r.qm,
            &sqe(src.dma_addr(), src.len(), dst.dma_addr(), dst.capacity()),
        );
        assert_eq!(st, status::OK);
        dst.finish(produced).unwrap();
        assert_eq!(inflate(&out[..produced]), text(8192, i as u32));
    }
}

#[test]
fn requests_in_flight_hold_their_bounce_blocks_until_done() {
    for mode in [EmuAddressMode::Iommu, EmuAddressMode::NoIommu] {
        let mut r = rig(mode, &config());
        // 16 blocks: 8 requests of one input and one output block each.
        let inputs: Vec<_> = (0..8).map(|i| text(20_000 + i * 100, i as u32)).collect();
        let mut outputs = vec![vec![0u8; 32768]; 8];
        let mut staged = Vec::new();
        for (input, output) in inputs.iter().zip(outputs.iter_mut()) {
            let src = r.space.stage_input(input).unwrap();
            let dst = r.space.stage_output(output).unwrap();
            r.qm.submit(&sqe(
                src.dma_addr(),
                src.len(),
                dst.dma_addr(),
                dst.capacity(),
            ))
            .unwrap();
            staged.push((src, dst));
        }
        // The pool is exhausted now: a ninth request fails at once, clearly.
        assert!(matches!(
            r.space.stage_input(b"ninth"),
            Err(DmaError::PoolExhausted { blocks: 16 })
        ));
        let mut produced = Vec::new();
        for _ in 0..8 {
            let done = r.qm.wait(Duration::from_secs(10)).unwrap();
            assert_eq!((done.dword(3) & 0xff) as u8, status::OK);
            produced.push(done.dword(1) as usize);
        }
        // Completions come in submission order on this device.
        for ((src, dst), n) in staged.into_iter().zip(&produced) {
            dst.finish(*n).unwrap();
            drop(src);
        }
        for (i, n) in produced.iter().enumerate() {
            assert_eq!(
                inflate(&outputs[i][..*n]),
                inputs[i],
                "{mode:?} request {i}"
            );
        }
        assert_eq!(r.space.pool().available(), 16);
    }
}

#[test]
fn sixty_four_k_pages_and_odd_lengths_work_in_every_mode() {
    // An SS length that is no multiple of anything: rounded up to 64 KiB
    // (no IOMMU) or to the 64 KiB page (IOMMU) before mapping.
    let config = DmaConfig::default().with_memory_len((1 << 20) + 1);
    for mode in MODES {
        let device = DeviceConfig::zip_v2()
            .with_address_mode(mode)
            .with_page_size(PageSize::K64);
        let mut r = rig_on(device, &config);
        if let Some(table) = r.space.slice_table() {
            assert_eq!(table.len(), (1 << 20) + (64 << 10), "{mode:?}");
        }
        let input = text(50_000, 5);
        let mut output = vec![0u8; 65536];
        let src = r.space.stage_input(&input).unwrap();
        let dst = r.space.stage_output(&mut output).unwrap();
        let (st, produced) = run(
            &mut r.qm,
            &sqe(src.dma_addr(), src.len(), dst.dma_addr(), dst.capacity()),
        );
        assert_eq!(st, status::OK, "{mode:?}");
        dst.finish(produced).unwrap();
        drop(src);
        assert_eq!(inflate(&output[..produced]), input, "{mode:?}");
    }
}
