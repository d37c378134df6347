//! Pool allocate + free: one thread, and two threads at once on the same pool.
//! Each sample runs `iters` allocate/free pairs on every thread; the reported
//! time is per pair and thread, so equal times mean the second thread doubled
//! the throughput (nothing shared on the path), twice the time means the
//! threads were serialised. The second thread lives for the whole bench, like
//! a server's worker, rather than being spawned per sample. A free list behind
//! one global lock doing the same work is measured alongside for scale.

use std::hint::black_box;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
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

struct Locked {
    list: Mutex<Vec<u32>>,
    memory: Mutex<Vec<u8>>,
}

fn run_locked(l: &Locked, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        let index = l.list.lock().unwrap().pop().unwrap();
        // Zero the 64 bytes a buffer exposes, as the pool does.
        black_box(&mut l.memory.lock().unwrap()[..64]).fill(0);
        l.list.lock().unwrap().push(black_box(index));
    }
    start.elapsed()
}

type Job = Box<dyn FnOnce() -> Duration + Send>;

/// A long-lived second thread that runs one job per sample.
struct Helper {
    jobs: Sender<Job>,
    done: Receiver<Duration>,
}

impl Helper {
    fn new() -> Helper {
        let (jobs, job_rx) = channel::<Job>();
        let (done_tx, done) = channel();
        std::thread::spawn(move || {
            while let Ok(job) = job_rx.recv() {
                if done_tx.send(job()).is_err() {
                    break;
                }
            }
        });
        Helper { jobs, done }
    }

    /// Runs `theirs` on the helper and `mine` here at the same time; the
    /// slower of the two.
    fn both(&self, theirs: Job, mine: impl FnOnce() -> Duration) -> Duration {
        self.jobs.send(theirs).unwrap();
        let mine = mine();
        mine.max(self.done.recv().unwrap())
    }
}

fn pool(c: &mut Criterion) {
    let space = Arc::new(AddressSpace::sva("bench", 4096, &DmaConfig::default()).unwrap());
    let locked = Arc::new(Locked {
        list: Mutex::new((0..256).collect()),
        memory: Mutex::new(vec![0u8; 64]),
    });
    let helper = Helper::new();
    let mut g = c.benchmark_group("dma/pool_alloc_free");
    g.bench_function("1_thread", |b| b.iter_custom(|iters| run(&space, iters)));
    g.bench_function("2_threads", |b| {
        b.iter_custom(|iters| {
            let theirs = space.clone();
            helper.both(Box::new(move || run(&theirs, iters)), || run(&space, iters))
        })
    });
    g.bench_function("mutex_baseline_1_thread", |b| {
        b.iter_custom(|iters| run_locked(&locked, iters))
    });
    g.bench_function("mutex_baseline_2_threads", |b| {
        b.iter_custom(|iters| {
            let theirs = locked.clone();
            helper.both(Box::new(move || run_locked(&theirs, iters)), || {
                run_locked(&locked, iters)
            })
        })
    });
    g.finish();
}

criterion_group!(benches, pool);
criterion_main!(benches);
