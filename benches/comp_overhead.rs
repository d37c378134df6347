//! SDK overhead (issue 5): gzip-compress 4 KiB, 64 KiB and 1 MiB through the
//! SDK and the built-in emulated device (SVA mode, one queue), against calling
//! the emulator's own software deflate library directly on the same data in
//! the same run: flate2 raw deflate at the same level and window, plus the
//! CRC32 the device computes for the gzip trailer. The ratio of the two is
//! what the SDK (descriptor, doorbell, engine hand-off, completion, header)
//! costs on top of the deflate work itself.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use flate2::{Compress, Compression, FlushCompress};
use uacce::comp::{Compressor, DeviceChoice, Format, Level};
use uacce::emu::EmuAddressMode;
use uacce_benches::sample;

fn software_gzip_body(data: &[u8], out: &mut Vec<u8>) -> usize {
    let mut c = Compress::new_with_window_bits(Compression::default(), false, 15);
    out.clear();
    c.compress_vec(data, out, FlushCompress::Finish).unwrap();
    let crc = crc32fast::hash(data);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.len()
}

fn overhead(c: &mut Criterion) {
    let mut sdk = Compressor::with_choice(
        Format::Gzip,
        Level::DEFAULT,
        &DeviceChoice::Emulated(EmuAddressMode::Sva),
    )
    .unwrap();
    let mut group = c.benchmark_group("gzip_compress");
    for size in [4 << 10, 64 << 10, 1 << 20] {
        let data = sample(size, 7);
        let mut out = Vec::with_capacity(size * 2);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("sdk_emulated", size), &data, |b, data| {
            b.iter(|| {
                out.clear();
                sdk.compress_to_vec(data, &mut out).unwrap();
                out.len()
            })
        });
        let mut soft = Vec::with_capacity(size * 2);
        group.bench_with_input(
            BenchmarkId::new("software_deflate", size),
            &data,
            |b, data| b.iter(|| software_gzip_body(data, &mut soft)),
        );
    }
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
