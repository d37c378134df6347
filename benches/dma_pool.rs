//! Pool allocate + free: one thread, and two threads at once on the same pool.
//! Each sample runs `iters` allocate/free pairs on every thread; the reported
//! time is per pair and thread, so equal times mean the second thread doubled
//! the throughput (no global lock on the path), twice the time means the
//! threads were serialised.

use std::hint::black_box;
use std::sync::Mutex;
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

/// The same work through a free list behind one global lock, for scale.
fn run_locked(list: &Mutex<Vec<u32>>, memory: &Mutex<Vec<u8>>, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        let index = list.lock().unwrap().pop().unwrap();
        // Zero the 64 bytes a buffer exposes, as the pool does.
        black_box(&mut memory.lock().unwrap()[..64]).fill(0);
        list.lock().unwrap().push(black_box(index));
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
    let list = Mutex::new((0..256).collect::<Vec<u32>>());
    let memory = Mutex::new(vec![0u8; 64]);
    g.bench_function("mutex_baseline_1_thread", |b| {
        b.iter_custom(|iters| run_locked(&list, &memory, iters))
    });
    g.bench_function("mutex_baseline_2_threads", |b| {
        b.iter_custom(|iters| {
            std::thread::scope(|s| {
                let t = s.spawn(|| run_locked(&list, &memory, iters));
                let mine = run_locked(&list, &memory, iters);
                mine.max(t.join().unwrap())
            })
        })
    });
    g.finish();
}

criterion_group!(benches, pool);
criterion_main!(benches);
