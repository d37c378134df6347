//! [`Decoder`]: decompression as a `std::io::Read`.

use std::io::{self, Read};

use super::device::{DeviceChoice, ExecPath};
use super::inflate::{InflateCore, Step};
use super::oneshot::open_first;
use super::{CompressError, Format};

/// How many compressed bytes are read from the source at a time.
const READ_CHUNK: usize = 256 << 10;

/// Decompresses the stream read from `R` (every gzip member).
///
/// Corrupt, truncated or trailing-garbage input is an `InvalidData` error
/// whose inner error is a [`CompressError`]; no bytes of a failed member are
/// ever presented as the end of the stream.
pub struct Decoder<R: Read> {
    core: InflateCore,
    inner: R,
    out: Vec<u8>,
    pos: usize,
    finished: bool,
    buf: Vec<u8>,
}

impl<R: Read> std::fmt::Debug for Decoder<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("device", &self.core.channel().device())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Decoder<R> {
    /// A decoder on an automatically chosen device.
    pub fn new(inner: R, format: Format) -> Result<Decoder<R>, CompressError> {
        Decoder::with_choice(inner, format, &DeviceChoice::Auto)
    }

    /// A decoder on the device `choice` names.
    pub fn with_choice(
        inner: R,
        format: Format,
        choice: &DeviceChoice,
    ) -> Result<Decoder<R>, CompressError> {
        let core = open_first(choice, format, |dev| InflateCore::open(dev, format))?;
        Ok(Decoder {
            core,
            inner,
            out: Vec::new(),
            pos: 0,
            finished: false,
            buf: vec![0; READ_CHUNK],
        })
    }

    /// Where the requests run.
    pub fn exec_path(&self) -> ExecPath {
        self.core.channel().path()
    }

    /// The device's name.
    pub fn device_name(&self) -> &str {
        self.core.channel().device()
    }

    /// The reader underneath.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Runs the device until some output is ready or the stream ends.
    fn fill(&mut self) -> Result<(), CompressError> {
        self.out.clear();
        self.pos = 0;
        while self.out.is_empty() && !self.finished {
            let out = &mut self.out;
            let step = self.core.step(&mut |bytes| {
                out.extend_from_slice(bytes);
                Ok(())
            })?;
            match step {
                Step::Progress => {}
                Step::Finished => self.finished = true,
                Step::NeedInput => {
                    let n = loop {
                        match self.inner.read(&mut self.buf) {
                            Ok(n) => break n,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(e) => return Err(CompressError::Io(e)),
                        }
                    };
                    if n == 0 {
                        self.core.finish_input();
                    } else {
                        self.core.feed(&self.buf[..n]);
                    }
                }
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos == self.out.len() {
            self.fill()?;
        }
        let n = (self.out.len() - self.pos).min(buf.len());
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
