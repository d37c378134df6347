//! `uacce bench`: many threads, each keeping `--depth` requests in flight on
//! a queue pool, for `--seconds`; reports throughput, requests per second,
//! average and p99 latency, and which path ran (like UADK's `uadk_tool
//! benchmark`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use uacce::comp::{DeviceChoice, ExecPath};
use uacce::dma::DmaConfig;
use uacce::hisi::qm::WaitMode;
use uacce::pool::{Job, Op, Pool, PoolConfig, PoolError};

use crate::cli::{BenchArgs, BenchOp, CliError};

/// What one thread measured.
#[derive(Default)]
struct ThreadResult {
    latencies_us: Vec<u32>,
    bytes: u64,
    paths: [u64; 3],
}

fn path_index(p: ExecPath) -> usize {
    match p {
        ExecPath::Hardware => 0,
        ExecPath::Emulated => 1,
        ExecPath::Software => 2,
    }
}

/// The payload: text-like and compressible, different every 4 KiB.
fn payload(len: usize) -> Vec<u8> {
    let words: [&[u8]; 8] = [
        b"queue ",
        b"doorbell ",
        b"deflate ",
        b"kunpeng\n",
        b"ring ",
        b"phase ",
        b"0x1f8b ",
        b"completion ",
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x % 5 == 0 {
            out.extend_from_slice(&x.to_le_bytes()[..3]);
        } else {
            out.extend_from_slice(words[(x >> 8) as usize % words.len()]);
        }
    }
    out.truncate(len);
    out
}

/// Runs the benchmark.
pub fn run(choice: DeviceChoice, b: BenchArgs) -> Result<(), CliError> {
    if !(b.seconds > 0.0 && b.seconds.is_finite()) {
        return Err(CliError::Usage("--seconds must be positive".into()));
    }
    let op = match b.op {
        BenchOp::Compress => Op::Compress,
        BenchOp::Decompress => Op::Decompress,
    };
    let depth = b.depth as usize;
    // One request holds an input and an output block of the queue's memory.
    let bound = b.size + (b.size >> 12) + (b.size >> 14) + 64 + 4096;
    let block = (bound.div_ceil(4096).next_power_of_two() * 4096).max(64 << 10);
    if block > 16 << 20 {
        return Err(CliError::Usage(format!(
            "--size {} is larger than one request can take (about 16 MiB)",
            b.size
        )));
    }
    let memory = (block * 2 * (depth + 1)).max(16 << 20);
    let config = PoolConfig::new(choice)
        .with_ops(&[Op::Compress, Op::Decompress])
        .with_queues_per_device(b.threads as usize)
        .with_lane_depth(depth)
        .with_dma(
            DmaConfig::default()
                .with_block_size(block)
                .with_memory_len(memory),
        )
        .with_fallback(b.fallback.into())
        .with_wait_mode(if b.busy_poll {
            WaitMode::BusyPoll
        } else {
            WaitMode::Sleep
        });
    let pool = Pool::new(config).map_err(|e| CliError::Usage(e.to_string()))?;
    let plain = payload(b.size);
    let input = match op {
        Op::Compress => plain.clone(),
        Op::Decompress => {
            pool.run(Job::compress(b.format, plain.clone()))
                .map_err(pool_err)?
                .data
        }
    };
    let job = move || match op {
        Op::Compress => Job::compress(b.format, input.clone()),
        Op::Decompress => Job::decompress(b.format, input.clone(), b.size),
    };
    let before = pool.stats();
    let run_for = Duration::from_secs_f64(b.seconds);
    let started = Instant::now();
    let results: Vec<Result<ThreadResult, PoolError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..b.threads)
            .map(|_| {
                let pool = &pool;
                let job = &job;
                s.spawn(move || -> Result<ThreadResult, PoolError> {
                    let mut r = ThreadResult::default();
                    let mut window = VecDeque::with_capacity(depth);
                    let deadline = Instant::now() + run_for;
                    loop {
                        let now = Instant::now();
                        while now < deadline && window.len() < depth {
                            window.push_back((Instant::now(), pool.submit(job())?));
                        }
                        let Some((t0, ticket)) = window.pop_front() else {
                            break;
                        };
                        let out = ticket.wait()?;
                        r.latencies_us
                            .push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                        r.bytes += b.size as u64;
                        r.paths[path_index(out.path)] += 1;
                    }
                    Ok(r)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread panicked"))
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut all = ThreadResult::default();
    for r in results {
        let r = r.map_err(pool_err)?;
        all.latencies_us.extend(r.latencies_us);
        all.bytes += r.bytes;
        for i in 0..3 {
            all.paths[i] += r.paths[i];
        }
    }
    let stats = pool.stats();
    let ops = all.latencies_us.len();
    all.latencies_us.sort_unstable();
    let avg = if ops == 0 {
        0.0
    } else {
        all.latencies_us.iter().map(|&l| f64::from(l)).sum::<f64>() / ops as f64
    };
    let p99 = if ops == 0 {
        0
    } else {
        all.latencies_us[((ops * 99).div_ceil(100)).clamp(1, ops) - 1]
    };
    let names = ["hardware", "emulated", "software"];
    let used: Vec<&str> = (0..3)
        .filter(|&i| all.paths[i] > 0)
        .map(|i| names[i])
        .collect();
    let path = match used.as_slice() {
        [one] => (*one).to_owned(),
        [] => "none".to_owned(),
        _ => "mixed".to_owned(),
    };
    let mb_s = all.bytes as f64 / elapsed / 1e6;
    let ops_s = ops as f64 / elapsed;
    let op_name = match op {
        Op::Compress => "compress",
        Op::Decompress => "decompress",
    };
    println!(
        "{op_name} {} {} B x {} thread(s) x depth {} for {:.2} s on {} queue(s)",
        b.format,
        b.size,
        b.threads,
        depth,
        elapsed,
        pool.queues(op)
    );
    println!("  throughput  {mb_s:.1} MB/s (uncompressed bytes)");
    println!("  requests    {ops_s:.0} /s ({ops} total)");
    println!("  latency     avg {avg:.1} us, p99 {p99} us");
    println!(
        "  path        {path} (hardware {}, emulated {}, software {}; errors {}, retries {})",
        all.paths[0],
        all.paths[1],
        all.paths[2],
        stats.errors - before.errors,
        stats.retries - before.retries
    );
    if b.json {
        let j = serde_json::json!({
            "op": op_name,
            "format": b.format.to_string(),
            "size": b.size,
            "threads": b.threads,
            "depth": depth,
            "seconds": elapsed,
            "requests": ops,
            "throughput_mb_s": mb_s,
            "ops_per_s": ops_s,
            "avg_latency_us": avg,
            "p99_latency_us": p99,
            "path": path,
            "paths": {
                "hardware": all.paths[0],
                "emulated": all.paths[1],
                "software": all.paths[2],
            },
            "errors": stats.errors - before.errors,
            "retries": stats.retries - before.retries,
        });
        println!("{j}");
    }
    Ok(())
}

fn pool_err(e: PoolError) -> CliError {
    CliError::Usage(format!("bench failed: {e}"))
}
