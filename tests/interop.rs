//! Interoperability both ways, in all three emulated address modes: what the
//! SDK compresses, system gzip and zlib read back exactly; what gzip -1 … -9
//! writes (names, multi-member, empty), the SDK reads back exactly.

use std::io::{Read, Write};

use uacce::comp::{Compressor, Decoder, Decompressor, Encoder, ExecPath, Format, Level};
use uacce_tests::{emulated_modes, noise, reference_decompress, run_tool, sample};

const EIGHT_MIB: usize = 8 << 20;

#[test]
fn our_gzip_reads_back_with_system_gzip_in_every_mode() {
    for (mode, choice) in emulated_modes() {
        let mut c = Compressor::with_choice(Format::Gzip, Level::DEFAULT, &choice).unwrap();
        assert_eq!(c.exec_path(), ExecPath::Emulated);
        for len in [0, 1, 4096, 100_000] {
            let data = sample(len, len as u64);
            let gz = c.compress(&data).unwrap();
            assert_eq!(run_tool("gzip", &["-dc"], &gz), data, "{mode:?} len {len}");
        }
    }
}

#[test]
fn our_zlib_and_deflate_read_back_with_software_zlib() {
    for (mode, choice) in emulated_modes() {
        for format in [Format::Zlib, Format::Deflate] {
            let mut c = Compressor::with_choice(format, Level::DEFAULT, &choice).unwrap();
            for len in [0, 1, 4096, 300_000] {
                let data = sample(len, 7 + len as u64);
                let z = c.compress(&data).unwrap();
                assert_eq!(
                    reference_decompress(&z, format).unwrap(),
                    data,
                    "{mode:?} {format} len {len}"
                );
            }
        }
    }
}

#[test]
fn zlib_reads_back_with_python_zlib() {
    let data = sample(50_000, 3);
    let (_, choice) = &emulated_modes()[1];
    let z = Compressor::with_choice(Format::Zlib, Level::DEFAULT, choice)
        .unwrap()
        .compress(&data)
        .unwrap();
    let script =
        "import sys, zlib; sys.stdout.buffer.write(zlib.decompress(sys.stdin.buffer.read()))";
    assert_eq!(run_tool("python3", &["-c", script], &z), data);
}

#[test]
fn sizes_around_the_8_mib_request_limit() {
    for (mode, choice) in emulated_modes() {
        let mut c = Compressor::with_choice(Format::Gzip, Level::DEFAULT, &choice).unwrap();
        let mut d = Decompressor::with_choice(Format::Gzip, &choice).unwrap();
        for len in [EIGHT_MIB - 1, EIGHT_MIB, EIGHT_MIB + 1] {
            let data = sample(len, len as u64);
            let gz = c.compress(&data).unwrap();
            assert_eq!(
                reference_decompress(&gz, Format::Gzip).unwrap().len(),
                len,
                "{mode:?}"
            );
            assert!(d.decompress(&gz).unwrap() == data, "{mode:?} len {len}");
        }
    }
}

#[test]
fn incompressible_data_round_trips() {
    for (mode, choice) in emulated_modes() {
        let data = noise(300_000, 99);
        for format in [Format::Gzip, Format::Zlib, Format::Deflate] {
            let z = Compressor::with_choice(format, Level::DEFAULT, &choice)
                .unwrap()
                .compress(&data)
                .unwrap();
            assert_eq!(
                reference_decompress(&z, format).unwrap(),
                data,
                "{mode:?} {format}"
            );
            let back = Decompressor::with_choice(format, &choice)
                .unwrap()
                .decompress(&z)
                .unwrap();
            assert!(back == data, "{mode:?} {format}");
        }
    }
}

#[test]
fn system_gzip_levels_names_and_members_read_back() {
    let dir = std::env::temp_dir().join(format!("uacce-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("named-input.txt");
    let data = sample(200_000, 11);
    std::fs::write(&file, &data).unwrap();
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    for (mode, choice) in emulated_modes() {
        let mut d = Decompressor::with_choice(Format::Gzip, &choice).unwrap();
        for level in 1..=9 {
            // `gzip -c FILE` stores the file name (FNAME) and mtime.
            let gz = run_tool(
                "gzip",
                &[&format!("-{level}"), "-c", file.to_str().unwrap()],
                b"",
            );
            assert_eq!(gz[3] & 0x08, 0x08, "FNAME set");
            assert!(d.decompress(&gz).unwrap() == data, "{mode:?} gzip -{level}");
        }
        let gz_empty = run_tool("gzip", &["-c", empty.to_str().unwrap()], b"");
        assert_eq!(d.decompress(&gz_empty).unwrap(), b"", "{mode:?} empty file");
        // Multi-member: concatenated gzip files are one gzip file.
        let mut two = run_tool("gzip", &["-1", "-c", file.to_str().unwrap()], b"");
        two.extend(run_tool("gzip", &["-9", "-c"], b"second member"));
        two.extend(&gz_empty);
        let mut expect = data.clone();
        expect.extend_from_slice(b"second member");
        assert!(
            d.decompress(&two).unwrap() == expect,
            "{mode:?} multi-member"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn streaming_encoder_and_decoder_round_trip() {
    for (mode, choice) in emulated_modes() {
        for format in [Format::Gzip, Format::Zlib, Format::Deflate] {
            let data = sample(3_000_000, 5);
            let mut enc =
                Encoder::with_choice(Vec::new(), format, Level::new(1).unwrap(), &choice).unwrap();
            // Odd-sized writes, so requests never line up with the writes.
            for piece in data.chunks(77_777) {
                enc.write_all(piece).unwrap();
            }
            let z = enc.finish().unwrap();
            assert_eq!(
                reference_decompress(&z, format).unwrap(),
                data,
                "{mode:?} {format}"
            );
            let mut dec = Decoder::with_choice(&z[..], format, &choice).unwrap();
            let mut back = Vec::new();
            let mut buf = [0u8; 10_007];
            loop {
                let n = dec.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                back.extend_from_slice(&buf[..n]);
            }
            assert!(back == data, "{mode:?} {format}");
        }
    }
}

#[test]
fn compress_into_a_caller_buffer() {
    let (_, choice) = &emulated_modes()[0];
    let data = sample(10_000, 1);
    let mut c = Compressor::with_choice(Format::Zlib, Level::DEFAULT, choice).unwrap();
    let mut out = vec![0u8; 20_000];
    let n = c.compress_into(&data, &mut out).unwrap();
    assert_eq!(reference_decompress(&out[..n], Format::Zlib).unwrap(), data);
    let mut tiny = [0u8; 8];
    assert!(matches!(
        c.compress_into(&data, &mut tiny),
        Err(uacce::comp::CompressError::OutputTooSmall { capacity: 8 })
    ));
    let mut d = Decompressor::with_choice(Format::Zlib, choice).unwrap();
    let mut back = vec![0u8; 10_000];
    assert_eq!(d.decompress_into(&out[..n], &mut back).unwrap(), 10_000);
    assert_eq!(back, data);
}
