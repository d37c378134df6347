//! Translation cost: a 64-run slice table (no slice DMA-adjacent to the next),
//! random ranges inside the runs. Target: at most 20 ns per translation.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use uacce::dma::{DmaAddr, SliceTable};

const SLICE: usize = 64 << 10;
const SLICES: usize = 64;

fn queries(base: usize) -> Vec<(usize, usize)> {
    // A fixed LCG: the same ranges every run.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..1024)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let slice = (x >> 33) as usize % SLICES;
            let off = (x >> 12) as usize % SLICE;
            let len = ((x >> 40) as usize % (SLICE - off)).max(1);
            (base + slice * SLICE + off, len)
        })
        .collect()
}

fn translate(c: &mut Criterion) {
    let base = 0x7f00_0000_0000usize;
    // A 2 MiB gap after every slice: 64 runs after merging.
    let slices: Vec<_> = (0..SLICES)
        .map(|i| (DmaAddr::new(0x1_0000_0000 + i as u64 * 0x20_0000), SLICE))
        .collect();
    let table = SliceTable::new(base, SLICES * SLICE, &slices).unwrap();
    assert_eq!(table.runs(), SLICES);
    let q = queries(base);
    for &(va, len) in &q {
        table.translate(va, len).unwrap();
    }
    let mut i = 0;
    c.bench_function("dma/translate_64_runs", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            let (va, len) = q[i];
            table.translate(black_box(va), black_box(len))
        })
    });
    // The same loop without the translation, to subtract the harness.
    let mut j = 0;
    c.bench_function("dma/translate_baseline_loop", |b| {
        b.iter(|| {
            j = (j + 1) & 1023;
            let (va, len) = q[j];
            black_box(va).wrapping_add(black_box(len))
        })
    });
}

criterion_group!(benches, translate);
criterion_main!(benches);
