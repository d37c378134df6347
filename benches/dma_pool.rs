//! Pool allocate + free: one thread, and two threads at once on the same pool.
//! Each sample runs `iters` allocate/free pairs on every thread; the reported
//! time is per pair and thread, so equal times mean the second thread doubled
//! the throughput (no global lock on the path), twice the time means the
//! threads were serialised.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use uacce::dma::{AddressSpace, DmaConfig};

fn run(space: &AddressSpace, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        let buf = space.try_alloc_buf(64).unwrap();
        black_box(buf.dma_addr());
    }
    start.elapsed()
}

fn pool(c: &mut Criterion) {
    let space = AddressSpace::sva("bench", 4096, &DmaConfig::default()).unwrap();
    let mut g = c.benchmark_group("dma/pool_alloc_free");
    g.bench_function("1_thread", |b| b.iter_custom(|iters| run(&space, iters)));
    g.bench_function("2_threads", |b| {
        b.iter_custom(|iters| {
            std::thread::scope(|s| {
                let t = s.spawn(|| run(&space, iters));
                let mine = run(&space, iters);
                mine.max(t.join().unwrap())
            })
        })
    });
    g.finish();
}

criterion_group!(benches, pool);
criterion_main!(benches);
