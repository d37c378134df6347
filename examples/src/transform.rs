//! `uacce compress` and `uacce decompress`: stream any size in bounded memory.

use std::io::{self, IsTerminal, Read, Write};

use indicatif::{ProgressBar, ProgressStyle};
use uacce::comp::{Decoder, DeviceChoice, Encoder, ExecPath, Level};

use crate::cli::{CliError, Transform};
use crate::files::{Output, open_input};

/// Which way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `compress`.
    Compress,
    /// `decompress`.
    Decompress,
}

/// Inputs at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_THRESHOLD: u64 = 64 << 20;
/// Bytes read from the input per step.
const STEP: usize = 1 << 20;

/// Runs one transform.
pub fn run(choice: DeviceChoice, t: Transform, dir: Direction) -> Result<(), CliError> {
    let (input, len) = open_input(t.input.as_deref())?;
    let progress = progress_bar(len);
    let input = CountingReader {
        inner: input,
        progress: progress.clone(),
    };
    let mut out = Output::open(t.output.as_deref(), dir == Direction::Compress)?;
    let level = match t.level {
        Some(l) => Level::new(l).ok_or_else(|| CliError::Usage(format!("level {l} is not 0–9")))?,
        None => Level::DEFAULT,
    };
    let path = match dir {
        Direction::Compress => {
            let mut enc = Encoder::with_choice(&mut out, t.format, level, &choice)?;
            announce(enc.exec_path(), enc.device_name());
            copy(input, &mut enc, "compress")?;
            let path = enc.exec_path();
            enc.finish()?;
            path
        }
        Direction::Decompress => {
            let mut dec = Decoder::with_choice(input, t.format, &choice)?;
            announce(dec.exec_path(), dec.device_name());
            copy(&mut dec, &mut out, "decompress")?;
            dec.exec_path()
        }
    };
    out.commit()?;
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    let _ = path;
    Ok(())
}

/// Says once on stderr when the built-in emulated device runs the job.
fn announce(path: ExecPath, device: &str) {
    if path == ExecPath::Emulated {
        eprintln!(
            "uacce: no accelerator hardware found; using the built-in emulated device {device}"
        );
    }
}

fn copy(mut from: impl Read, mut to: impl Write, what: &str) -> Result<(), CliError> {
    let mut buf = vec![0u8; STEP];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_or_sdk(e, what)),
        };
        to.write_all(&buf[..n]).map_err(|e| io_or_sdk(e, what))?;
    }
}

/// SDK errors travel through `io::Error`; unwrap them for a precise message.
fn io_or_sdk(e: io::Error, what: &str) -> CliError {
    match e.downcast::<uacce::comp::CompressError>() {
        Ok(sdk) => CliError::Compress(sdk),
        Err(e) => CliError::io(format!("cannot {what}"), e),
    }
}

fn progress_bar(len: Option<u64>) -> Option<ProgressBar> {
    let len = len.filter(|&l| l >= PROGRESS_THRESHOLD)?;
    if !io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Some(bar)
}

struct CountingReader<R> {
    inner: R,
    progress: Option<ProgressBar>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(p) = &self.progress {
            p.inc(n as u64);
        }
        Ok(n)
    }
}
