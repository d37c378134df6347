//! Bad compressed input gets a typed error, never a panic, a hang, or wrong
//! bytes returned as success.

use std::io::Read;

use uacce::comp::{CompressError, Compressor, Decoder, Decompressor, Format, Level};
use uacce_tests::{emulated_modes, run_tool, sample};

fn check_rejected(d: &mut Decompressor, bad: &[u8], what: &str) -> CompressError {
    match d.decompress(bad) {
        Ok(out) => panic!("{what}: accepted corrupt input ({} bytes out)", out.len()),
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.is_empty());
            e
        }
    }
}

#[test]
fn truncated_flipped_trailer_format_and_garbage() {
    let data = sample(100_000, 42);
    for (mode, choice) in emulated_modes() {
        for format in [Format::Gzip, Format::Zlib] {
            let good = Compressor::with_choice(format, Level::DEFAULT, &choice)
                .unwrap()
                .compress(&data)
                .unwrap();
            let mut d = Decompressor::with_choice(format, &choice).unwrap();
            assert!(d.decompress(&good).unwrap() == data);

            for cut in [1, 5, good.len() / 2, good.len() - 4, good.len() - 1] {
                let e = check_rejected(
                    &mut d,
                    &good[..cut],
                    &format!("{mode:?} {format} truncated at {cut}"),
                );
                assert!(
                    matches!(
                        e,
                        CompressError::Truncated { .. }
                            | CompressError::Corrupt { .. }
                            | CompressError::Checksum { .. }
                    ),
                    "{mode:?} {format} cut {cut}: {e:?}"
                );
            }
            // A flipped bit in the trailer's checksum.
            let mut bad = good.clone();
            let at = good.len() - if format == Format::Gzip { 6 } else { 2 };
            bad[at] ^= 0x10;
            let e = check_rejected(&mut d, &bad, "trailer");
            assert!(
                matches!(e, CompressError::Checksum { .. }),
                "{mode:?} {format} trailer: {e:?}"
            );
            // Flipped bits throughout the body.
            for i in (good.len() / 10..good.len() - 10).step_by(good.len() / 7) {
                let mut bad = good.clone();
                bad[i] ^= 0x04;
                if let Ok(out) = d.decompress(&bad) {
                    panic!(
                        "{mode:?} {format}: bit flip at {i} accepted ({} bytes)",
                        out.len()
                    );
                }
            }
            // Trailing garbage after a complete stream.
            let mut bad = good.clone();
            bad.extend_from_slice(b"garbage!");
            let e = check_rejected(&mut d, &bad, "trailing garbage");
            assert!(
                matches!(e, CompressError::TrailingGarbage { .. }),
                "{mode:?} {format}: {e:?}"
            );
        }
        // Wrong format flag: gzip data read as zlib, and zlib as gzip.
        let gz = run_tool("gzip", &["-c"], &data);
        let e = Decompressor::with_choice(Format::Zlib, &choice)
            .unwrap()
            .decompress(&gz)
            .unwrap_err();
        assert!(
            matches!(
                e,
                CompressError::Header {
                    format: Format::Zlib,
                    ..
                }
            ),
            "{e:?}"
        );
        let z = Compressor::with_choice(Format::Zlib, Level::DEFAULT, &choice)
            .unwrap()
            .compress(&data)
            .unwrap();
        let e = Decompressor::with_choice(Format::Gzip, &choice)
            .unwrap()
            .decompress(&z)
            .unwrap_err();
        assert!(
            matches!(
                e,
                CompressError::Header {
                    format: Format::Gzip,
                    ..
                }
            ),
            "{e:?}"
        );
        // Garbage, and nothing at all.
        let e = Decompressor::with_choice(Format::Gzip, &choice)
            .unwrap()
            .decompress(b"not compressed at all")
            .unwrap_err();
        assert!(matches!(e, CompressError::Header { .. }), "{e:?}");
        let e = Decompressor::with_choice(Format::Gzip, &choice)
            .unwrap()
            .decompress(b"")
            .unwrap_err();
        assert!(matches!(e, CompressError::Truncated { .. }), "{e:?}");
        let e = Decompressor::with_choice(Format::Deflate, &choice)
            .unwrap()
            .decompress(&[0xff; 64])
            .unwrap_err();
        assert!(matches!(e, CompressError::Corrupt { .. }), "{e:?}");
    }
}

#[test]
fn streaming_decoder_reports_corruption_as_invalid_data() {
    let data = sample(500_000, 9);
    let (_, choice) = &emulated_modes()[0];
    let good = Compressor::with_choice(Format::Gzip, Level::DEFAULT, choice)
        .unwrap()
        .compress(&data)
        .unwrap();
    let mut dec = Decoder::with_choice(&good[..good.len() - 3], Format::Gzip, choice).unwrap();
    let mut out = Vec::new();
    let err = dec.read_to_end(&mut out).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    let inner = err
        .into_inner()
        .unwrap()
        .downcast::<CompressError>()
        .unwrap();
    assert!(
        matches!(
            *inner,
            CompressError::Truncated { .. } | CompressError::Checksum { .. }
        ),
        "{inner:?}"
    );
}
