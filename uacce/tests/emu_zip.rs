//! ZIP semantics of the emulated engine (abi.md §5): round trips in block and
//! stream mode for deflate/zlib/gzip against the flate2 reference, and every
//! status code where it belongs.

mod emu_support;

use std::io::{Read, Write};

use emu_support::*;
use uacce::emu::{CTX_RECORD_LEN, DeviceConfig, ZipVersion, status};

const ZLIB_HEADER: [u8; 2] = [0x78, 0x9c];
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];

fn header(alg: u8) -> &'static [u8] {
    match alg {
        ZLIB => &ZLIB_HEADER,
        GZIP => &GZIP_HEADER,
        _ => &[],
    }
}

/// Decodes a complete stream of `alg` with the flate2 reference.
fn reference_decode(alg: u8, stream: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match alg {
        ZLIB => flate2::read::ZlibDecoder::new(stream).read_to_end(&mut out),
        GZIP => flate2::read::GzDecoder::new(stream).read_to_end(&mut out),
        _ => flate2::read::DeflateDecoder::new(stream).read_to_end(&mut out),
    }
    .unwrap();
    out
}

/// Encodes with the flate2 reference (full stream, header included).
fn reference_encode(alg: u8, data: &[u8]) -> Vec<u8> {
    let level = flate2::Compression::new(6);
    match alg {
        ZLIB => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), level);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        GZIP => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        _ => {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), level);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
    }
}

/// The part after the header of a reference stream. flate2's gzip header is
/// 10 bytes without options, like UADK's.
fn body(alg: u8, stream: &[u8]) -> &[u8] {
    &stream[header(alg).len()..]
}

fn block_compress(r: &mut Rig, alg: u8, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; data.len() + 1024];
    let d = Desc::new(r.version, alg, BLOCK, 1)
        .src(data.as_ptr() as u64, data.len() as u32)
        .dst(out.as_mut_ptr() as u64, out.len() as u32);
    let done = r.run(&d);
    assert!(
        matches!(done.status(), status::OK | status::NEGATIVE_COMPRESSION),
        "{:#x}",
        done.status()
    );
    assert_eq!(done.consumed() as usize, data.len());
    let mut stream = header(alg).to_vec();
    stream.extend_from_slice(&out[..done.produced() as usize]);
    stream
}

fn block_decompress(r: &mut Rig, alg: u8, stream: &[u8], expect_len: usize) -> Vec<u8> {
    let input = body(alg, stream);
    let mut out = vec![0u8; expect_len + 100];
    let d = Desc::new(r.version, alg, BLOCK, 2)
        .src(input.as_ptr() as u64, input.len() as u32)
        .dst(out.as_mut_ptr() as u64, out.len() as u32);
    let done = r.run(&d);
    assert_eq!(done.status(), status::DECOMPRESS_END);
    assert!(done.lstblk());
    assert_eq!(done.consumed() as usize, input.len());
    out.truncate(done.produced() as usize);
    out
}

/// Stream-mode compression in `chunk`-byte requests with `out_len`-byte
/// output buffers, resubmitting after OUTPUT_FULL as a driver would.
fn stream_compress(r: &mut Rig, alg: u8, data: &[u8], chunk: usize, out_len: usize) -> Vec<u8> {
    let ctx = vec![0u8; 0x10000];
    let ctx_addr = ctx.as_ptr() as u64 + 64;
    let mut out = vec![0u8; out_len];
    let mut stream = header(alg).to_vec();
    let mut pos = 0usize;
    let mut first = true;
    let mut requests = 0;
    loop {
        let end = (pos + chunk).min(data.len());
        let last = end == data.len();
        let flags = STREAM | if first { NEW } else { 0 } | if last { FLUSH } else { 0 };
        let d = Desc::new(r.version, alg, flags, requests)
            .src(data[pos..].as_ptr() as u64, (end - pos) as u32)
            .dst(out.as_mut_ptr() as u64, out_len as u32)
            .ctx(ctx_addr);
        let done = r.run(&d);
        requests += 1;
        first = false;
        stream.extend_from_slice(&out[..done.produced() as usize]);
        pos += done.consumed() as usize;
        if alg != DEFLATE {
            // Running isize is reported after every request.
            assert_eq!(done.sqe[30] as usize, pos);
        }
        match done.status() {
            status::OK if last && pos == data.len() => break,
            status::OK | status::OUTPUT_FULL => {}
            other => panic!("stream compression status {other:#x}"),
        }
        assert!(requests < 100_000);
    }
    stream
}

/// Stream-mode decompression of `stream` (header skipped by "software").
fn stream_decompress(r: &mut Rig, alg: u8, stream: &[u8], chunk: usize, out_len: usize) -> Vec<u8> {
    stream_decompress_split(r, alg, stream, chunk, out_len, false).0
}

/// Like `stream_decompress`; with `byte_tail` the last 12 bytes (the end of
/// the deflate data and the trailer) go in one byte per request. Also says
/// whether any request reported OUTPUT_FULL.
fn stream_decompress_split(
    r: &mut Rig,
    alg: u8,
    stream: &[u8],
    chunk: usize,
    out_len: usize,
    byte_tail: bool,
) -> (Vec<u8>, bool) {
    let input = body(alg, stream);
    let ctx = vec![0u8; 0x10000];
    let ctx_addr = ctx.as_ptr() as u64 + 64;
    let mut out = vec![0u8; out_len];
    let mut plain = Vec::new();
    let mut pos = 0usize;
    let mut first = true;
    let mut full_seen = false;
    loop {
        let step = if byte_tail && input.len() - pos <= 12 {
            1
        } else {
            chunk
        };
        let end = (pos + step).min(input.len());
        let flags =
            STREAM | if first { NEW } else { 0 } | if end == input.len() { FLUSH } else { 0 };
        let d = Desc::new(r.version, alg, flags, 7)
            .src(input[pos..].as_ptr() as u64, (end - pos) as u32)
            .dst(out.as_mut_ptr() as u64, out_len as u32)
            .ctx(ctx_addr);
        let done = r.run(&d);
        first = false;
        plain.extend_from_slice(&out[..done.produced() as usize]);
        pos += done.consumed() as usize;
        match done.status() {
            status::DECOMPRESS_END => {
                assert!(done.lstblk());
                assert_eq!(pos, input.len());
                break;
            }
            status::OK => assert_eq!(pos, end, "status 0 means all input was taken"),
            status::OUTPUT_FULL => {
                full_seen = true;
                assert_eq!(done.sqe[15] & 0xf, 0x2, "ctx_st: no space");
            }
            other => panic!("stream decompression status {other:#x}"),
        }
    }
    (plain, full_seen)
}

fn algs(version: ZipVersion) -> Vec<u8> {
    match version {
        ZipVersion::V1 | ZipVersion::V2 => vec![ZLIB, GZIP],
        ZipVersion::V3 => vec![ZLIB, GZIP, DEFLATE],
    }
}

#[test]
fn block_mode_round_trips_match_the_reference() {
    let data = sample(300_000);
    for cfg in [
        DeviceConfig::zip_v1(),
        DeviceConfig::zip_v2(),
        DeviceConfig::zip_v3(),
    ] {
        let version = cfg.version();
        let mut c = Rig::compress(cfg.clone());
        let mut d = Rig::decompress(cfg);
        for alg in algs(version) {
            let stream = block_compress(&mut c, alg, &data);
            assert_eq!(
                reference_decode(alg, &stream),
                data,
                "{version:?} alg {alg}"
            );
            assert_eq!(block_decompress(&mut d, alg, &stream, data.len()), data);
            // And what the reference wrote, the device reads.
            let theirs = reference_encode(alg, &data);
            assert_eq!(block_decompress(&mut d, alg, &theirs, data.len()), data);
        }
    }
}

#[test]
fn stream_mode_round_trips_match_the_reference() {
    let data = sample(200_000);
    for cfg in [DeviceConfig::zip_v2(), DeviceConfig::zip_v3()] {
        let version = cfg.version();
        let mut c = Rig::compress(cfg.clone());
        let mut d = Rig::decompress(cfg);
        for alg in algs(version) {
            let stream = stream_compress(&mut c, alg, &data, 30_000, 1 << 20);
            assert_eq!(
                reference_decode(alg, &stream),
                data,
                "{version:?} alg {alg}"
            );
            // Small output buffers: OUTPUT_FULL and resubmission on both sides.
            let stream = stream_compress(&mut c, alg, &data, 7_000, 2_000);
            assert_eq!(reference_decode(alg, &stream), data);
            let (back, full_seen) =
                stream_decompress_split(&mut d, alg, &stream, 3_000, 5_000, false);
            assert_eq!(back, data);
            assert!(full_seen, "3000 compressed bytes inflate to more than 5000");
            let theirs = reference_encode(alg, &data);
            assert_eq!(
                stream_decompress(&mut d, alg, &theirs, 1_001, 1 << 20),
                data
            );
            // The trailer split across requests one byte at a time at the end.
            let (split, _) = stream_decompress_split(&mut d, alg, &theirs, 4_000, 1 << 20, true);
            assert_eq!(split, data);
        }
    }
}

#[test]
fn empty_input_round_trips() {
    let mut c = Rig::compress(DeviceConfig::zip_v3());
    let mut d = Rig::decompress(DeviceConfig::zip_v3());
    for alg in [ZLIB, GZIP, DEFLATE] {
        let stream = block_compress(&mut c, alg, &[]);
        assert!(reference_decode(alg, &stream).is_empty());
        assert!(block_decompress(&mut d, alg, &stream, 0).is_empty());
        let stream = stream_compress(&mut c, alg, &[], 100, 100);
        assert!(reference_decode(alg, &stream).is_empty());
    }
}

#[test]
fn generation_rules_give_error_statuses() {
    let data = sample(100);
    let mut out = vec![0u8; 1000];
    let mut v2 = Rig::compress(DeviceConfig::zip_v2());
    let mut v3 = Rig::compress(DeviceConfig::zip_v3());
    // sqe_type of the other generation.
    let mut d = Desc::new(ZipVersion::V3, ZLIB, BLOCK, 1)
        .src(data.as_ptr() as u64, 100)
        .dst(out.as_mut_ptr() as u64, 1000);
    assert_eq!(v2.run(&d).status(), status::BAD_SQE_TYPE);
    d.0[7] &= 0x0fff_ffff;
    assert_eq!(v3.run(&d).status(), status::BAD_SQE_TYPE);
    // Raw deflate does not exist on v2; lz4 (0x04) not on either.
    let d = Desc::new(ZipVersion::V2, DEFLATE, BLOCK, 1)
        .src(data.as_ptr() as u64, 100)
        .dst(out.as_mut_ptr() as u64, 1000);
    assert_eq!(v2.run(&d).status(), status::BAD_ALGORITHM);
    let d = Desc::new(ZipVersion::V3, 0x04, BLOCK, 1)
        .src(data.as_ptr() as u64, 100)
        .dst(out.as_mut_ptr() as u64, 1000);
    assert_eq!(v3.run(&d).status(), status::BAD_ALGORITHM);
    // Hardware SGL buffers are not emulated.
    let mut d = Desc::new(ZipVersion::V3, GZIP, BLOCK, 1)
        .src(data.as_ptr() as u64, 100)
        .dst(out.as_mut_ptr() as u64, 1000);
    d.0[9] |= 1 << 8;
    assert_eq!(v3.run(&d).status(), status::UNSUPPORTED);
    // Inputs over 8 MiB.
    let d = Desc::new(ZipVersion::V3, GZIP, BLOCK, 1)
        .src(data.as_ptr() as u64, (8 << 20) + 1)
        .dst(out.as_mut_ptr() as u64, 1000);
    let done = v3.run(&d);
    assert_eq!(done.status(), status::BAD_LENGTH);
    assert_eq!((done.consumed(), done.produced()), (0, 0));
}

#[test]
fn compression_statuses() {
    let mut c = Rig::compress(DeviceConfig::zip_v2());
    // Negative compression: valid output, status 0x0D.
    let one = b"q";
    let mut out = vec![0u8; 100];
    let d = Desc::new(c.version, GZIP, BLOCK, 1)
        .src(one.as_ptr() as u64, 1)
        .dst(out.as_mut_ptr() as u64, 100);
    let done = c.run(&d);
    assert_eq!(done.status(), status::NEGATIVE_COMPRESSION);
    let mut gz = GZIP_HEADER.to_vec();
    gz.extend_from_slice(&out[..done.produced() as usize]);
    assert_eq!(reference_decode(GZIP, &gz), b"q");
    // Output too small in block mode.
    let data = sample(50_000);
    let d = Desc::new(c.version, ZLIB, BLOCK, 2)
        .src(data.as_ptr() as u64, 50_000)
        .dst(out.as_mut_ptr() as u64, 100);
    let done = c.run(&d);
    assert_eq!(done.status(), status::OUTPUT_FULL);
    assert_eq!(done.produced(), 100);
    assert!(done.consumed() <= 50_000);
}

#[test]
fn decompression_statuses() {
    let data = sample(20_000);
    let mut d = Rig::decompress(DeviceConfig::zip_v3());
    let run = |r: &mut Rig, alg: u8, input: &[u8], out_len: usize| {
        let mut out = vec![0u8; out_len];
        let desc = Desc::new(r.version, alg, BLOCK, 3)
            .src(input.as_ptr() as u64, input.len() as u32)
            .dst(out.as_mut_ptr() as u64, out_len as u32);
        r.run(&desc)
    };
    let z = reference_encode(ZLIB, &data);
    let body = z[2..].to_vec();
    let done = run(&mut d, ZLIB, &body, 30_000);
    assert_eq!(
        (done.status(), done.lstblk()),
        (status::DECOMPRESS_END, true)
    );
    assert_eq!(done.sqe[31], adler2::adler32_slice(&data));
    // A wrong Adler-32.
    let mut bad = body.clone();
    *bad.last_mut().unwrap() ^= 0x55;
    assert_eq!(
        run(&mut d, ZLIB, &bad, 30_000).status(),
        status::CHECKSUM_MISMATCH
    );
    // A wrong gzip ISIZE.
    let g = reference_encode(GZIP, &data);
    let mut gbad = g[10..].to_vec();
    let n = gbad.len();
    gbad[n - 4] ^= 1;
    assert_eq!(
        run(&mut d, GZIP, &gbad, 30_000).status(),
        status::CHECKSUM_MISMATCH
    );
    // Missing trailer bytes, or a stream cut in the middle.
    assert_eq!(
        run(&mut d, ZLIB, &body[..body.len() - 2], 30_000).status(),
        status::TRUNCATED
    );
    assert_eq!(
        run(&mut d, ZLIB, &body[..body.len() / 2], 30_000).status(),
        status::TRUNCATED
    );
    // Garbage.
    assert_eq!(
        run(&mut d, DEFLATE, &[0xff; 64], 30_000).status(),
        status::BAD_DATA
    );
    // Output buffer too small.
    let done = run(&mut d, ZLIB, &body, 1000);
    assert_eq!(done.status(), status::OUTPUT_FULL);
    assert_eq!(done.produced(), 1000);
}

#[test]
fn stream_contexts_are_checked() {
    let data = sample(10_000);
    let mut c = Rig::compress(DeviceConfig::zip_v3());
    let mut out = vec![0u8; 20_000];
    let out_addr = out.as_mut_ptr() as u64;
    let mut ctx = vec![0u8; 4096];
    let ctx_addr = ctx.as_mut_ptr() as u64;
    let req = |alg: u8, flags: u32| {
        Desc::new(ZipVersion::V3, alg, STREAM | flags, 0)
            .src(data.as_ptr() as u64, 1000)
            .dst(out_addr, 20_000)
            .ctx(ctx_addr)
    };
    // Continuing a stream that was never started.
    assert_eq!(c.run(&req(ZLIB, 0)).status(), status::BAD_CONTEXT);
    // Start one: the device writes its record into the context buffer.
    assert_eq!(c.run(&req(ZLIB, NEW)).status(), status::OK);
    assert_ne!(ctx[..CTX_RECORD_LEN], [0u8; CTX_RECORD_LEN]);
    assert_eq!(c.run(&req(ZLIB, 0)).status(), status::OK);
    // Another algorithm on the same context.
    assert_eq!(c.run(&req(GZIP, 0)).status(), status::BAD_CONTEXT);
    // Software clobbering the device's part of the context.
    assert_eq!(c.run(&req(DEFLATE, NEW)).status(), status::OK);
    ctx[0] ^= 0xff;
    assert_eq!(c.run(&req(DEFLATE, 0)).status(), status::BAD_CONTEXT);
    // An unmapped context address.
    let page = memmap2::MmapMut::map_anon(4096).unwrap();
    let gone = page.as_ptr() as u64;
    drop(page);
    let d = req(ZLIB, NEW).ctx(gone);
    assert_eq!(c.run(&d).status(), status::DMA_FAULT);
    // A finished stream is gone.
    let d = req(ZLIB, NEW | FLUSH);
    assert_eq!(c.run(&d).status(), status::OK);
    assert_eq!(c.run(&req(ZLIB, FLUSH)).status(), status::BAD_CONTEXT);
    drop((ctx, out));
}

#[test]
fn stream_requests_of_one_queue_run_in_order_on_many_workers() {
    // Several stream requests in one doorbell on a 4-thread device: each must
    // see the state left by the previous one.
    let data = sample(400_000);
    let mut c = Rig::compress(DeviceConfig::zip_v3().with_workers(4).with_depth(64));
    let ctx = vec![0u8; 0x10000];
    let chunks: Vec<&[u8]> = data.chunks(20_000).collect();
    let mut outs: Vec<Vec<u8>> = chunks.iter().map(|_| vec![0u8; 64 * 1024]).collect();
    for (i, (chunk, out)) in chunks.iter().zip(outs.iter_mut()).enumerate() {
        let last = i + 1 == chunks.len();
        let flags = STREAM | if i == 0 { NEW } else { 0 } | if last { FLUSH } else { 0 };
        let d = Desc::new(c.version, GZIP, flags, i as u32)
            .src(chunk.as_ptr() as u64, chunk.len() as u32)
            .dst(out.as_mut_ptr() as u64, out.len() as u32)
            .ctx(ctx.as_ptr() as u64);
        c.push(&d);
    }
    c.ring();
    let mut stream = GZIP_HEADER.to_vec();
    for (i, out) in outs.iter().enumerate() {
        let done = c.reap();
        assert_eq!(done.slot as usize, i);
        assert_eq!(done.status(), status::OK);
        assert_eq!(done.consumed() as usize, chunks[i].len());
        stream.extend_from_slice(&out[..done.produced() as usize]);
    }
    assert_eq!(reference_decode(GZIP, &stream), data);
}

#[test]
fn the_window_size_code_bounds_match_distances() {
    // 10000 incompressible bytes, then the same bytes again: only a window
    // larger than 10000 bytes finds the repetition.
    let mut x: u32 = 99;
    let noise: Vec<u8> = (0..10_000)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect();
    let data = [noise.clone(), noise].concat();
    let mut c = Rig::compress(DeviceConfig::zip_v3());
    let mut sizes = Vec::new();
    for code in [0u32, 1, 2, 3, 4] {
        let mut out = vec![0u8; 30_000];
        let mut d = Desc::new(c.version, DEFLATE, BLOCK, code)
            .src(data.as_ptr() as u64, data.len() as u32)
            .dst(out.as_mut_ptr() as u64, out.len() as u32);
        d.0[9] |= code << 12;
        let done = c.run(&d);
        assert!(matches!(
            done.status(),
            status::OK | status::NEGATIVE_COMPRESSION
        ));
        let z = &out[..done.produced() as usize];
        assert_eq!(reference_decode(DEFLATE, z), data);
        sizes.push(z.len());
    }
    assert!(
        sizes[0] > 19_000 && sizes[1] > 19_000,
        "4 and 8 KiB windows miss the repeat: {sizes:?}"
    );
    assert!(
        sizes[2..].iter().all(|&n| n < 11_000),
        "16 KiB and larger windows find it: {sizes:?}"
    );
    let mut out = vec![0u8; 100];
    let mut d = Desc::new(c.version, DEFLATE, BLOCK, 9)
        .src(data.as_ptr() as u64, 10)
        .dst(out.as_mut_ptr() as u64, 100);
    d.0[9] |= 5 << 12;
    assert_eq!(c.run(&d).status(), status::UNSUPPORTED);
}

#[test]
fn stream_round_trips_hold_for_any_data_chunking_and_buffer_size() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

    // The runner takes an `Fn`; the rigs are reused across cases.
    let c = std::cell::RefCell::new(Rig::compress(DeviceConfig::zip_v3()));
    let d = std::cell::RefCell::new(Rig::decompress(DeviceConfig::zip_v3()));
    let data = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..30_000),
        (0usize..60_000).prop_map(sample),
        (0usize..40_000, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
    ];
    let strategy = (
        data,
        prop_oneof![Just(ZLIB), Just(GZIP), Just(DEFLATE)],
        16usize..20_000,
        256usize..70_000,
        16usize..20_000,
        256usize..70_000,
    );
    // A fixed seed keeps the suite reproducible; raise `cases` to explore.
    let config = Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    runner
        .run(&strategy, |(data, alg, c_chunk, c_out, d_chunk, d_out)| {
            let stream = stream_compress(&mut c.borrow_mut(), alg, &data, c_chunk, c_out);
            prop_assert_eq!(reference_decode(alg, &stream), data.clone());
            let (back, _) =
                stream_decompress_split(&mut d.borrow_mut(), alg, &stream, d_chunk, d_out, false);
            prop_assert_eq!(back, data);
            Ok(())
        })
        .unwrap();
}
