//! The queue pool on the emulated device.
//!
//! * `pool_null_ops/{1,2}_threads`: zero-length gzip requests, 8 in flight per
//!   thread, each thread on its own queue: the pool's submit / reap / deliver
//!   path plus the emulated ring, no deflate work. Two threads against one
//!   shows whether the hot path scales (no shared lock, no shared written
//!   cache line between threads on different queues).
//! * `pool_depth_64k/{1,2,4,8}`: 64 KiB gzip chunks from one thread on one
//!   queue of a device with two engine workers, at 1, 2, 4 and 8 requests in
//!   flight: throughput should rise with depth as both workers get busy.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use uacce::comp::{DeviceChoice, Format};
use uacce::emu::{DeviceConfig, Emulator};
use uacce::pool::{Job, Op, Pool, PoolConfig};

fn pool_on(emu: &Emulator, queues: usize, depth: usize) -> Pool {
    let dev = emu.devices().expect("devices").remove(0);
    Pool::new(
        PoolConfig::new(DeviceChoice::Device(Box::new(dev)))
            .with_ops(&[Op::Compress])
            .with_queues_per_device(queues)
            .with_lane_depth(depth),
    )
    .expect("pool")
}

/// Runs `n` requests of `input` from this thread with `depth` in flight.
fn drive(pool: &Pool, input: &[u8], depth: usize, n: u64) {
    let mut window = VecDeque::with_capacity(depth);
    let mut sent = 0;
    while sent < n || !window.is_empty() {
        while sent < n && window.len() < depth {
            window.push_back(
                pool.submit(Job::compress(Format::Gzip, input.to_vec()))
                    .expect("submit"),
            );
            sent += 1;
        }
        if let Some(t) = window.pop_front() {
            t.wait().expect("request");
        }
    }
}

fn null_ops(c: &mut Criterion) {
    let emu = Emulator::new(DeviceConfig::zip_v3().with_queues(8).with_workers(2)).expect("emu");
    let pool = pool_on(&emu, 2, 8);
    let mut g = c.benchmark_group("pool_null_ops");
    g.throughput(Throughput::Elements(1));
    for threads in [1u64, 2] {
        g.bench_function(
            BenchmarkId::from_parameter(format!("{threads}_threads")),
            |b| {
                b.iter_custom(|iters| {
                    let per = iters.div_ceil(threads);
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for _ in 0..threads {
                            s.spawn(|| drive(&pool, &[], 8, per));
                        }
                    });
                    // Time per request, all threads together.
                    start
                        .elapsed()
                        .mul_f64(iters as f64 / (per * threads) as f64)
                })
            },
        );
    }
    g.finish();
}

fn depth_curve(c: &mut Criterion) {
    let emu = Emulator::new(DeviceConfig::zip_v3().with_queues(4).with_workers(2)).expect("emu");
    let pool = pool_on(&emu, 1, 8);
    let chunk: Vec<u8> = (0..64u32 << 10)
        .map(|i| b"kunpeng zip queue pool depth "[(i % 29) as usize] ^ ((i >> 9) as u8 & 3))
        .collect();
    let mut g = c.benchmark_group("pool_depth_64k");
    g.throughput(Throughput::Bytes(chunk.len() as u64));
    for depth in [1usize, 2, 4, 8] {
        g.bench_function(BenchmarkId::from_parameter(depth), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                drive(&pool, &chunk, depth, iters);
                start.elapsed()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(20);
    targets = null_ops, depth_curve
}
criterion_main!(benches);
