//! One-shot compression and decompression.

use super::deflate::DeflateCore;
use super::device::{DeviceChoice, ExecPath};
use super::inflate::{InflateCore, Step};
use super::{CompressError, Format, Level};
use crate::pool::{Fallback, Pool};

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
    engine: CompressEngine,
    level: Level,
}

enum CompressEngine {
    /// One queue of its own, one stream (single member).
    Stream(Box<DeflateCore>),
    /// Independent gzip members on a pool, many in flight.
    Members(super::members::MemberPipe),
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("device", &self.device_name())
            .field("path", &self.exec_path())
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
        Ok(Compressor {
            engine: CompressEngine::Stream(Box::new(core)),
            level,
        })
    }

    /// Compresses on `pool` into **independent gzip members**, one per
    /// pool request, many in flight at once (the parallel path for large
    /// inputs). The output is valid gzip that `gzip -d`, `pigz` and any
    /// multi-member reader decompress; some zlib-based readers stop after
    /// the first member, which is why single-member output
    /// ([`with_choice`](Self::with_choice)) is the default. Only gzip has
    /// members; other formats are refused.
    pub fn with_pool(
        format: Format,
        level: Level,
        pool: &Pool,
    ) -> Result<Compressor, CompressError> {
        Ok(Compressor {
            engine: CompressEngine::Members(super::members::MemberPipe::new(pool, format)?),
            level,
        })
    }

    /// Where the requests of the last call ran (before any call: where they
    /// will run). [`ExecPath::Software`] if any of them fell back.
    pub fn exec_path(&self) -> ExecPath {
        match &self.engine {
            CompressEngine::Stream(core) => core.path(),
            CompressEngine::Members(m) => m.path(),
        }
    }

    /// The device's name (`"pool"` for a pooled compressor).
    pub fn device_name(&self) -> &str {
        match &self.engine {
            CompressEngine::Stream(core) => core.channel().device(),
            CompressEngine::Members(_) => "pool",
        }
    }

    /// How long one device request may take before it counts as lost
    /// (default 30 s). A lost request fails the call with a timeout error and
    /// the queue is restarted, so the compressor stays usable. (A pooled
    /// compressor uses the pool's [`request_timeout`](crate::pool::PoolConfig::request_timeout).)
    pub fn set_request_timeout(&mut self, timeout: std::time::Duration) {
        if let CompressEngine::Stream(core) = &mut self.engine {
            core.channel_mut().set_timeout(timeout);
        }
    }

    /// What happens when the device fails a request (default
    /// [`Fallback::Fail`]: the call fails with the device's error).
    /// [`Fallback::Software`] finishes the call in software: the stream
    /// switches at the last request boundary the device completed, so the
    /// output is one valid member with no byte lost or repeated. (A pooled
    /// compressor follows the pool's setting.)
    pub fn set_fallback(&mut self, fallback: Fallback) {
        if let CompressEngine::Stream(core) = &mut self.engine {
            core.set_fallback(fallback, self.level);
        }
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
        append_all(out, |sink| self.run(data, sink))
    }

    /// Compresses `data` into `out`, returning the length written.
    pub fn compress_into(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize, CompressError> {
        fill_slice(out, |sink| self.run(data, sink))
    }

    fn run(
        &mut self,
        data: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), CompressError>,
    ) -> Result<(), CompressError> {
        match &mut self.engine {
            CompressEngine::Stream(core) => {
                core.reset();
                if core.compress_block(data, sink)? {
                    return Ok(());
                }
                core.push(data, true, sink)
            }
            CompressEngine::Members(m) => {
                m.reset();
                m.push(data, sink)?;
                m.finish(sink)
            }
        }
    }
}

/// A decompression engine bound to one queue, for repeated one-shot calls.
pub struct Decompressor {
    core: InflateCore,
    format: Format,
    fallback: Fallback,
    software_ran: bool,
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
        Ok(Decompressor {
            core,
            format,
            fallback: Fallback::Fail,
            software_ran: false,
        })
    }

    /// Where the requests of the last call ran ([`ExecPath::Software`] if
    /// it fell back).
    pub fn exec_path(&self) -> ExecPath {
        if self.software_ran {
            ExecPath::Software
        } else {
            self.core.channel().path()
        }
    }

    /// What happens when the device fails (default [`Fallback::Fail`]).
    /// [`Fallback::Software`] decompresses the whole input again in
    /// software; nothing of the failed attempt is kept, so a call's output
    /// is all from one path. Data that software rejects too still fails.
    pub fn set_fallback(&mut self, fallback: Fallback) {
        self.fallback = fallback;
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
        match append_all(out, |sink| self.run(data, sink)) {
            Err(e) if self.falls_back(&e) => {
                let soft = software_decompress(self.format, data)?;
                out.extend_from_slice(&soft);
                self.software_ran = true;
                Ok(())
            }
            other => other,
        }
    }

    /// Decompresses `data` into `out`, returning the length written.
    pub fn decompress_into(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize, CompressError> {
        let capacity = out.len();
        match fill_slice(out, |sink| self.run(data, sink)) {
            Ok(written) => Ok(written),
            Err(e) if self.falls_back(&e) => {
                let soft = software_decompress(self.format, data)?;
                if soft.len() > capacity {
                    return Err(CompressError::OutputTooSmall { capacity });
                }
                out[..soft.len()].copy_from_slice(&soft);
                self.software_ran = true;
                Ok(soft.len())
            }
            Err(e) => Err(e),
        }
    }

    /// Whether `e` is worth a software attempt: anything but the caller's
    /// own problems (I/O, too small a buffer). Corrupt data is included: the
    /// device's verdict is re-checked, and software rejects it as well.
    fn falls_back(&self, e: &CompressError) -> bool {
        self.fallback == Fallback::Software
            && !matches!(
                e,
                CompressError::Io(_) | CompressError::OutputTooSmall { .. }
            )
    }

    fn run(
        &mut self,
        data: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), CompressError>,
    ) -> Result<(), CompressError> {
        self.software_ran = false;
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

/// Decompresses all of `data` in software: every member of gzip, one
/// stream of zlib or deflate with nothing after it.
fn software_decompress(format: Format, data: &[u8]) -> Result<Vec<u8>, CompressError> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let (part, used) = crate::pool::software_decompress(format, &data[pos..], usize::MAX - 1)?;
        out.extend_from_slice(&part);
        pos += used;
        if pos == data.len() {
            return Ok(out);
        }
        if format != Format::Gzip || used == 0 {
            return Err(CompressError::TrailingGarbage {
                format,
                offset: pos as u64,
                len: data.len() - pos,
            });
        }
    }
}

/// Where a run's output goes, piece by piece.
type Sink<'a> = dyn FnMut(&[u8]) -> Result<(), CompressError> + 'a;

/// Runs `run` with a sink that appends to `out`; on error `out` is cut back
/// to what it held, so failed output never looks like a result.
fn append_all(
    out: &mut Vec<u8>,
    run: impl FnOnce(&mut Sink<'_>) -> Result<(), CompressError>,
) -> Result<(), CompressError> {
    let keep = out.len();
    let result = run(&mut |bytes| {
        out.extend_from_slice(bytes);
        Ok(())
    });
    if result.is_err() {
        out.truncate(keep);
    }
    result
}

/// Runs `run` with a sink that fills `out` from its start; returns the length
/// written, or [`CompressError::OutputTooSmall`].
fn fill_slice(
    out: &mut [u8],
    run: impl FnOnce(&mut Sink<'_>) -> Result<(), CompressError>,
) -> Result<usize, CompressError> {
    let capacity = out.len();
    let mut written = 0;
    run(&mut |bytes| {
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
