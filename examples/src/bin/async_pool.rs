//! `async-pool`: compresses files concurrently from tokio tasks on a uacce
//! queue pool, awaiting each request's [`Ticket`](uacce::pool::Ticket) as a
//! future. The SDK has no tokio dependency: tickets are plain
//! `std::future::Future`s, completed by the pool's completion thread.
//!
//! ```text
//! async-pool FILE...            # writes FILE.gz next to each file
//! async-pool                    # compresses generated data and checks it
//! ```

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use uacce::comp::Format;
use uacce::pool::{Job, Pool, PoolConfig};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let pool = Arc::new(Pool::new(PoolConfig::default())?);
    let files: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if files.is_empty() {
        return demo(pool).await;
    }
    let mut tasks = Vec::new();
    for path in files {
        let pool = Arc::clone(&pool);
        tasks.push(tokio::spawn(async move { compress_file(pool, path).await }));
    }
    for t in tasks {
        let (path, n, m, how) = t.await??;
        println!("{}: {n} -> {m} bytes ({how})", path.display());
    }
    print_stats(&pool);
    Ok(())
}

/// Compresses one file into independent gzip members, all chunks in flight
/// at once, and writes `FILE.gz`.
async fn compress_file(
    pool: Arc<Pool>,
    path: PathBuf,
) -> Result<(PathBuf, usize, usize, String), Box<dyn std::error::Error + Send + Sync>> {
    let data = tokio::fs::read(&path).await?;
    let chunk = pool.max_request();
    let tickets = data
        .chunks(chunk.max(1))
        .map(|c| pool.submit(Job::compress(Format::Gzip, c.to_vec())))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    let mut paths = std::collections::BTreeSet::new();
    for t in tickets {
        let done = t.await?;
        paths.insert(done.path.as_str());
        out.extend_from_slice(&done.data);
    }
    if data.is_empty() {
        out = pool
            .submit(Job::compress(Format::Gzip, Vec::new()))?
            .await?
            .data;
    }
    let mut gz = path.clone().into_os_string();
    gz.push(".gz");
    tokio::fs::write(&gz, &out).await?;
    let how = paths.into_iter().collect::<Vec<_>>().join("+");
    Ok((path, data.len(), out.len(), how))
}

/// Without files: 32 tasks compress different data and check the results.
async fn demo(pool: Arc<Pool>) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut tasks = Vec::new();
    for k in 0..32u32 {
        let pool = Arc::clone(&pool);
        tasks.push(tokio::spawn(async move {
            let data: Vec<u8> = format!("task {k}: the quick brown fox jumps over the lazy dog\n")
                .repeat(500 + k as usize * 37)
                .into_bytes();
            let out = pool
                .submit(Job::compress(Format::Gzip, data.clone()))?
                .await?;
            let mut back = Vec::new();
            flate2_free_check(&out.data, &mut back)?;
            if back != data {
                return Err(format!("task {k}: round trip mismatch").into());
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(out.path)
        }));
    }
    for t in tasks {
        t.await??;
    }
    println!("32 concurrent tasks compressed and verified");
    print_stats(&pool);
    Ok(())
}

/// Decompresses with the SDK's own decoder (no extra crates).
fn flate2_free_check(
    gz: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut d = uacce::comp::Decoder::new(gz, Format::Gzip)?;
    d.read_to_end(out)?;
    Ok(())
}

fn print_stats(pool: &Pool) {
    let s = pool.stats();
    println!(
        "requests {} (hardware {}, emulated {}, software {}), {} -> {} bytes, errors {}, retries {}",
        s.requests,
        s.hardware,
        s.emulated,
        s.software,
        s.bytes_in,
        s.bytes_out,
        s.errors,
        s.retries
    );
}
