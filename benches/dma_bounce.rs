//! Bounce copies of 64 KiB chunks through the DMA pool of a no-IOMMU address
//! space (SS memory stood in for by anonymous memory), against a plain
//! `copy_from_slice` of the same bytes. Target: bounce ≥ 0.8× memcpy.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use memmap2::{MmapOptions, MmapRaw};
use uacce::AddressMode;
use uacce::dma::{AddressSpace, DmaConfig};
use uacce::queue::SsSlice;
use uacce::region::{Mapping, SsRegion};

const CHUNK: usize = 64 << 10;

fn space() -> AddressSpace {
    let config = DmaConfig::default();
    let len = config.memory_len;
    let raw = MmapRaw::from(MmapOptions::new().len(len).map_anon().unwrap());
    let ss = Arc::new(SsRegion::new(Mapping::from_mmap(raw)));
    // Four 4 MiB slices, as a no-IOMMU kernel with 4 KiB pages makes them.
    let slices: Vec<_> = (0..4u64)
        .map(|i| SsSlice::decode((0x4000_0000 + i * 0x100_0000) | 64, 3 - i as u32))
        .collect();
    AddressSpace::with_ss("bench", AddressMode::NoIommu, 4096, ss, &slices, &config).unwrap()
}

fn bounce(c: &mut Criterion) {
    let space = space();
    let src: Vec<u8> = (0..CHUNK).map(|i| i as u8).collect();
    let mut dst = vec![0u8; CHUNK];
    let mut g = c.benchmark_group("dma/64k");
    g.throughput(Throughput::Bytes(CHUNK as u64));
    g.bench_function("memcpy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&mut dst);
        })
    });
    g.bench_function("bounce_in", |b| {
        b.iter(|| {
            let staged = space.stage_input(black_box(&src)).unwrap();
            black_box(staged.dma_addr());
        })
    });
    g.bench_function("bounce_out", |b| {
        b.iter(|| {
            let staged = space.stage_output(black_box(&mut dst)).unwrap();
            black_box(staged.dma_addr());
            staged.finish(CHUNK).unwrap();
        })
    });
    g.finish();

    // SVA staging is zero copy; what it costs is the pre-faulting touch of
    // each page (16 pages of a resident 64 KiB buffer), with and without.
    let mut g = c.benchmark_group("dma/sva_stage_64k");
    for prefault in [true, false] {
        let config = DmaConfig::default().with_prefault(prefault);
        let sva = AddressSpace::sva("bench", 4096, &config).unwrap();
        let name = if prefault { "prefault" } else { "no_prefault" };
        g.bench_function(format!("in_out_{name}"), |b| {
            b.iter(|| {
                let src = sva.stage_input(black_box(&src)).unwrap();
                let dst = sva.stage_output(black_box(&mut dst)).unwrap();
                black_box((src.dma_addr(), dst.dma_addr()));
                dst.finish(CHUNK).unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bounce);
criterion_main!(benches);
