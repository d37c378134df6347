//! One-shot compression and decompression.

use super::deflate::DeflateCore;
use super::device::{DeviceChoice, ExecPath};
use super::inflate::{InflateCore, Step};
use super::{CompressError, Format, Level};

/// Compresses `data` into `format` on an automatically chosen device.
///
/// Opens a queue per call; keep a [`Compressor`] to amortise that.
pub fn compress(data: &[u8], format: Format) -> Result<Vec<u8>, CompressError> {
    Compressor::new(format, Level::DEFAULT)?.compress(data)
}

/// Decompresses `data` from `format` on an automatically chosen device.
pub fn decompress(data: &[u8], format: Format) -> Result<Vec<u8>, CompressError> {
    Decompressor::new(format)?.decompress(data)
}

/// Opens the first candidate device that works, for `format`.
pub(crate) fn open_first<T>(
    choice: &DeviceChoice,
    format: Format,
    mut open: impl FnMut(&crate::device::DeviceInfo) -> Result<T, CompressError>,
) -> Result<T, CompressError> {
    let mut last = None;
    for dev in choice.candidates(format.algorithm())? {
        match open(&dev) {
            Ok(t) => return Ok(t),
            // A device with no free queue or that is going away: try the next.
            Err(e @ (CompressError::Queue(_) | CompressError::Qm(_))) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(CompressError::NoDevice {
        algorithm: format.algorithm(),
    }))
}

/// A compression engine bound to one queue, for repeated one-shot calls.
pub struct Compressor {
    core: DeflateCore,
    level: Level,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("device", &self.core.channel().device())
            .field("path", &self.core.channel().path())
            .field("level", &self.level)
            .finish()
    }
}

impl Compressor {
    /// On an automatically chosen device.
    pub fn new(format: Format, level: Level) -> Result<Compressor, CompressError> {
        Compressor::with_choice(format, level, &DeviceChoice::Auto)
    }

    /// On the device `choice` names.
    pub fn with_choice(
        format: Format,
        level: Level,
        choice: &DeviceChoice,
    ) -> Result<Compressor, CompressError> {
        let core = open_first(choice, format, |dev| DeflateCore::open(dev, format))?;
        Ok(Compressor { core, level })
    }

    /// Where the requests run.
    pub fn exec_path(&self) -> ExecPath {
        self.core.channel().path()
    }

    /// The device's name.
    pub fn device_name(&self) -> &str {
        self.core.channel().device()
    }

    /// How long one device request may take before it counts as lost
    /// (default 30 s). A lost request fails the call with a timeout error and
    /// the queue is restarted, so the compressor stays usable.
    pub fn set_request_timeout(&mut self, timeout: std::time::Duration) {
        self.core.channel_mut().set_timeout(timeout);
    }

    /// The level asked for (see [`Level`] for what honours it).
    pub fn level(&self) -> Level {
        self.level
    }

    /// Compresses `data` into a new `Vec`.
    pub fn compress(&mut self, data: &[u8]) -> Result<Vec<u8>, CompressError> {
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        self.compress_to_vec(data, &mut out)?;
        Ok(out)
    }

    /// Appends the compressed form of `data` to `out`. On error `out` is left
    /// as it was.
    pub fn compress_to_vec(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), CompressError> {
        let keep = out.len();
        let result = self.run(data, &mut |bytes| {
            out.extend_from_slice(bytes);
            Ok(())
        });
        if result.is_err() {
            out.truncate(keep);
        }
        result
    }

    /// Compresses `data` into `out`, returning the length written.
    pub fn compress_into(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize, CompressError> {
        let capacity = out.len();
        let mut written = 0;
        self.run(data, &mut |bytes| {
            let end = written + bytes.len();
            if end > capacity {
                return Err(CompressError::OutputTooSmall { capacity });
            }
            out[written..end].copy_from_slice(bytes);
            written = end;
            Ok(())
        })?;
        Ok(written)
    }

    fn run(
        &mut self,
        data: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), CompressError>,
    ) -> Result<(), CompressError> {
        self.core.reset();
        if self.core.compress_block(data, sink)? {
            return Ok(());
        }
        self.core.push(data, true, sink)
    }
}

/// A decompression engine bound to one queue, for repeated one-shot calls.
pub struct Decompressor {
    core: InflateCore,
    format: Format,
}

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressor")
            .field("device", &self.core.channel().device())
            .field("path", &self.core.channel().path())
            .finish()
    }
}

impl Decompressor {
    /// On an automatically chosen device.
    pub fn new(format: Format) -> Result<Decompressor, CompressError> {
        Decompressor::with_choice(format, &DeviceChoice::Auto)
    }

    /// On the device `choice` names.
    pub fn with_choice(
        format: Format,
        choice: &DeviceChoice,
    ) -> Result<Decompressor, CompressError> {
        let core = open_first(choice, format, |dev| InflateCore::open(dev, format))?;
        Ok(Decompressor { core, format })
    }

    /// Where the requests run.
    pub fn exec_path(&self) -> ExecPath {
        self.core.channel().path()
    }

    /// The device's name.
    pub fn device_name(&self) -> &str {
        self.core.channel().device()
    }

    /// How long one device request may take before it counts as lost
    /// (default 30 s); see [`Compressor::set_request_timeout`].
    pub fn set_request_timeout(&mut self, timeout: std::time::Duration) {
        self.core.channel_mut().set_timeout(timeout);
    }

    /// Decompresses the whole of `data` (every gzip member) into a new `Vec`.
    pub fn decompress(&mut self, data: &[u8]) -> Result<Vec<u8>, CompressError> {
        let mut out = Vec::with_capacity(data.len().saturating_mul(3));
        self.decompress_to_vec(data, &mut out)?;
        Ok(out)
    }

    /// Appends the decompressed form of `data` to `out`. On error `out` is
    /// left as it was.
    pub fn decompress_to_vec(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CompressError> {
        let keep = out.len();
        let result = self.run(data, &mut |bytes| {
            out.extend_from_slice(bytes);
            Ok(())
        });
        if result.is_err() {
            out.truncate(keep);
        }
        result
    }

    /// Decompresses `data` into `out`, returning the length written.
    pub fn decompress_into(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize, CompressError> {
        let capacity = out.len();
        let mut written = 0;
        self.run(data, &mut |bytes| {
            let end = written + bytes.len();
            if end > capacity {
                return Err(CompressError::OutputTooSmall { capacity });
            }
            out[written..end].copy_from_slice(bytes);
            written = end;
            Ok(())
        })?;
        Ok(written)
    }

    fn run(
        &mut self,
        data: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), CompressError>,
    ) -> Result<(), CompressError> {
        self.core.reset();
        self.core.feed(data);
        self.core.finish_input();
        loop {
            match self.core.step(sink)? {
                Step::Progress => {}
                Step::Finished => return Ok(()),
                // With all input fed, needing more means it was cut short.
                Step::NeedInput => {
                    return Err(CompressError::Truncated {
                        format: self.format,
                        offset: data.len() as u64,
                    });
                }
            }
        }
    }
}
