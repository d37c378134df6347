//! Shared helpers of the cross-crate integration tests.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use uacce::comp::{DeviceChoice, Format};
use uacce::emu::EmuAddressMode;

/// The three emulated address modes, each as a device choice.
pub fn emulated_modes() -> [(EmuAddressMode, DeviceChoice); 3] {
    [
        EmuAddressMode::Sva,
        EmuAddressMode::Iommu,
        EmuAddressMode::NoIommu,
    ]
    .map(|m| (m, DeviceChoice::Emulated(m)))
}

/// Deterministic test data: text-like with some repetition, so it compresses
/// but not trivially. `seed` varies it.
pub fn sample(len: usize, seed: u64) -> Vec<u8> {
    let words: [&[u8]; 12] = [
        b"accelerator ",
        b"queue ",
        b"doorbell ",
        b"phase ",
        b"deflate\n",
        b"kunpeng ",
        b"zip ",
        b"ring ",
        b"0123456789 ",
        b"SVA ",
        b"IOVA ",
        b"completion ",
    ];
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x % 7 == 0 {
            out.push((x >> 24) as u8);
        } else {
            out.extend_from_slice(words[(x % 12) as usize]);
        }
    }
    out.truncate(len);
    out
}

/// Pseudo-random bytes that do not compress.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// Decompresses with a software reference decoder (flate2).
pub fn reference_decompress(data: &[u8], format: Format) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    match format {
        Format::Deflate => flate2::read::DeflateDecoder::new(data).read_to_end(&mut out)?,
        Format::Zlib => flate2::read::ZlibDecoder::new(data).read_to_end(&mut out)?,
        Format::Gzip => flate2::read::MultiGzDecoder::new(data).read_to_end(&mut out)?,
    };
    Ok(out)
}

/// Runs a system program with `input` on stdin and returns its stdout,
/// failing the test if it exits non-zero.
pub fn run_tool(program: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
