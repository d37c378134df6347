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
/// Runs `cmd` and returns whether it succeeded and its own peak RSS in KiB.
/// (`wait4` on this child alone: `RUSAGE_CHILDREN` would also count the
/// children other tests spawn meanwhile, which report the test process's own
/// peak when they are spawned by `vfork` while it holds big buffers.)
fn run_measured(cmd: &mut Command) -> (bool, i64) {
    let child = cmd.spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: wait4 writes one int and one `rusage` into the zeroed locals we
    // own; `pid` is our own unreaped child, so it reaps exactly that process.
    let (rc, usage) = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        let rc = libc::wait4(pid, &mut status, 0, &mut usage);
        (rc, usage)
    };
    assert_eq!(rc, pid, "wait4 failed");
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    // The child is reaped; dropping the handle does not wait again.
    drop(child);
    (ok, usage.ru_maxrss)
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
    let (ok, rss_compress) = run_measured(
        Command::new(env!("CARGO_BIN_EXE_uacce"))
            .args([
                "compress",
                "-l",
                "1",
                input.to_str().unwrap(),
                "-o",
                gz.to_str().unwrap(),
            ])
            .env("UACCE_SYSFS_ROOT", "/nonexistent-uacce-class")
            .stderr(Stdio::null()),
    );
    assert!(ok);
    let back = dir.path().join("back.bin");
    let (ok, rss_decompress) = run_measured(
        Command::new(env!("CARGO_BIN_EXE_uacce"))
            .args([
                "decompress",
                gz.to_str().unwrap(),
                "-o",
                back.to_str().unwrap(),
            ])
            .env("UACCE_SYSFS_ROOT", "/nonexistent-uacce-class")
            .stderr(Stdio::null()),
    );
    assert!(ok);
    assert_eq!(std::fs::metadata(&back).unwrap().len(), 100 << 20);
    assert!(same_file(&input, &back));
    let rss = rss_compress.max(rss_decompress);
    assert!(
        rss < 80 * 1024,
        "peak RSS {rss} KiB for a 100 MiB stream: memory is not bounded"
    );
}

fn same_file(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

fn last_json(o: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let last = text.lines().last().expect("bench printed nothing");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {last}"))
}

#[test]
fn bench_json_reports_the_required_fields() {
    for op in ["compress", "decompress"] {
        let o = uacce(
            &[
                "bench",
                "--emulate",
                "--op",
                op,
                "-f",
                "gzip",
                "--size",
                "8192",
                "--threads",
                "2",
                "--depth",
                "4",
                "--seconds",
                "0.3",
                "--json",
            ],
            b"",
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let j = last_json(&o);
        for key in [
            "throughput_mb_s",
            "ops_per_s",
            "avg_latency_us",
            "p99_latency_us",
        ] {
            let v = j[key]
                .as_f64()
                .unwrap_or_else(|| panic!("{key} missing: {j}"));
            assert!(v > 0.0, "{key} = {v}");
        }
        assert_eq!(j["path"], "emulated", "{j}");
        assert_eq!(j["op"], op);
        assert!(j["requests"].as_u64().unwrap() > 0);
    }
    let bad = uacce(&["bench", "--emulate", "--seconds", "0"], b"");
    assert!(!bad.status.success());
}

#[test]
fn compress_with_independent_members_round_trips() {
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| b"members in parallel\n"[(i % 20) as usize] ^ ((i / 65536) as u8 & 1))
        .collect();
    let o = uacce(&["compress", "--members", "independent"], &data);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(gunzip(&o.stdout), data);
    // More than one member: the first member alone is not the whole file.
    let mut first = Vec::new();
    use std::io::Read;
    flate2::read::GzDecoder::new(&o.stdout[..])
        .read_to_end(&mut first)
        .unwrap();
    assert!(first.len() < data.len());
    // Our own decompressor reads every member.
    let back = uacce(&["decompress"], &o.stdout);
    assert!(back.status.success(), "{}", stderr(&back));
    assert_eq!(back.stdout, data);
    let refused = uacce(
        &["compress", "--members", "independent", "-f", "zlib"],
        &data,
    );
    assert!(!refused.status.success());
}

#[test]
fn special_files_and_symlinks_are_written_not_replaced() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let data = b"through a pipe ".repeat(1000);

    // A FIFO (stands in for /dev/null and other devices): renaming a temporary
    // file over it would replace the special file itself.
    let fifo = dir.path().join("pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // Hold the FIFO open for reading and writing, so the tool's open never
    // blocks and a regression fails instead of hanging; read it afterwards
    // without blocking.
    let mut held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    let o = uacce(&["compress", "-o", fifo.to_str().unwrap()], &data);
    assert!(o.status.success(), "{}", stderr(&o));
    {
        use std::os::fd::AsRawFd;
        // SAFETY: F_SETFL on a descriptor this test owns; no memory is involved.
        let rc = unsafe { libc::fcntl(held.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        assert_eq!(rc, 0);
    }
    let mut through = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match std::io::Read::read(&mut held, &mut buf) {
            Ok(0) => break,
            Ok(n) => through.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(!through.is_empty(), "nothing came through the FIFO");
    assert_eq!(gunzip(&through), data);
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo(),
        "the FIFO was replaced"
    );

    // A symlink: the file it points to gets the output; the link stays.
    let real = dir.path().join("real.gz");
    std::fs::write(&real, b"old").unwrap();
    let link = dir.path().join("link.gz");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let o = uacce(&["compress", "-o", link.to_str().unwrap()], &data);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced"
    );
    assert_eq!(gunzip(&std::fs::read(&real).unwrap()), data);
}
