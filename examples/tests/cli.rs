//! The `uacce` command-line tool, run as a user would.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn uacce(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_uacce"))
        .args(args)
        // Never pick up a real device or a caller's sysfs override.
        .env("UACCE_SYSFS_ROOT", "/nonexistent-uacce-class")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn compress_a_file_and_say_the_emulator_ran() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    let data = b"hello uacce, hello accelerator\n".repeat(1000);
    std::fs::write(&input, &data).unwrap();
    let out_path = dir.path().join("in.txt.gz");
    let o = uacce(
        &[
            "compress",
            input.to_str().unwrap(),
            "-o",
            out_path.to_str().unwrap(),
        ],
        b"",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(
        err.matches("emulated device").count(),
        1,
        "says so once: {err}"
    );
    let gz = std::fs::read(&out_path).unwrap();
    assert_eq!(gunzip(&gz), data);
    // and back again
    let back = dir.path().join("back.txt");
    let o = uacce(
        &[
            "decompress",
            out_path.to_str().unwrap(),
            "-o",
            back.to_str().unwrap(),
        ],
        b"",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&back).unwrap(), data);
}

#[test]
fn stdin_to_stdout_in_every_format_and_mode() {
    let data = b"stream me through the device ".repeat(5000);
    for mode in ["--emulate=sva", "--emulate=iommu", "--emulate=noiommu"] {
        for format in ["gzip", "zlib", "deflate"] {
            let z = uacce(&[mode, "compress", "-f", format, "-l", "9"], &data);
            assert!(z.status.success(), "{mode} {format}: {}", stderr(&z));
            let back = uacce(&[mode, "decompress", "-f", format], &z.stdout);
            assert!(back.status.success(), "{mode} {format}: {}", stderr(&back));
            assert_eq!(back.stdout, data, "{mode} {format}");
        }
    }
}

#[test]
fn failures_exit_non_zero_and_leave_no_complete_looking_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = b"some text to compress ".repeat(10_000);
    let z = uacce(&["compress"], &data);
    assert!(z.status.success());
    let mut corrupt = z.stdout.clone();
    let n = corrupt.len();
    corrupt[n - 6] ^= 0xff; // the CRC32 in the trailer
    let target = dir.path().join("out.txt");
    let o = uacce(&["decompress", "-o", target.to_str().unwrap()], &corrupt);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert_eq!(
        err.trim()
            .lines()
            .filter(|l| l.starts_with("uacce:") && !l.contains("emulated"))
            .count(),
        1,
        "{err}"
    );
    assert!(
        !target.exists(),
        "a failed run must not leave the output file"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no partial files left behind"
    );

    let o = uacce(
        &["decompress", "-o", target.to_str().unwrap()],
        b"garbage, not gzip",
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("header"), "{}", stderr(&o));
    assert!(!target.exists());

    let o = uacce(&["compress", "/nonexistent/input"], b"");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("/nonexistent/input"));

    let o = uacce(&["compress", "-f", "lz4"], b"x");
    assert!(!o.status.success());
    let o = uacce(&["--device", "hisi_zip-99", "compress"], b"x");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("hisi_zip-99"), "{}", stderr(&o));
}

#[test]
fn list_shows_the_emulated_device() {
    let o = uacce(&["list"], b"");
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("(emu)") && text.contains("hisi_qm_v3") && text.contains("gzip"),
        "{text}"
    );
    let o = uacce(&["--emulate=noiommu", "list", "--json"], b"");
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("\"emulated\": true") && text.contains("\"address_mode\": \"noiommu\""),
        "{text}"
    );
}

/// Peak resident memory of finished children, in KiB.
fn children_max_rss_kib() -> i64 {
    // SAFETY: getrusage writes one `rusage` into the zeroed struct we own.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage.ru_maxrss
    }
}

#[test]
fn a_100_mib_stream_stays_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.bin");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        let block: Vec<u8> = (0..1 << 20)
            .map(|i: u32| (i.wrapping_mul(2654435761) >> 24) as u8 & 0x3f)
            .collect();
        for i in 0..100u8 {
            let mut b = block.clone();
            b[0] = i;
            f.write_all(&b).unwrap();
        }
    }
    let gz = dir.path().join("big.bin.gz");
    let status = Command::new(env!("CARGO_BIN_EXE_uacce"))
        .args([
            "compress",
            "-l",
            "1",
            input.to_str().unwrap(),
            "-o",
            gz.to_str().unwrap(),
        ])
        .env("UACCE_SYSFS_ROOT", "/nonexistent-uacce-class")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let back = dir.path().join("back.bin");
    let status = Command::new(env!("CARGO_BIN_EXE_uacce"))
        .args([
            "decompress",
            gz.to_str().unwrap(),
            "-o",
            back.to_str().unwrap(),
        ])
        .env("UACCE_SYSFS_ROOT", "/nonexistent-uacce-class")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::metadata(&back).unwrap().len(), 100 << 20);
    assert!(same_file(&input, &back));
    let rss = children_max_rss_kib();
    assert!(
        rss < 80 * 1024,
        "peak RSS {rss} KiB for a 100 MiB stream: memory is not bounded"
    );
}

fn same_file(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}
