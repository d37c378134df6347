//! The compression core shared by the one-shot API and the streaming
//! [`Encoder`](super::Encoder): header in software, deflate data and trailer
//! from the device, in stream mode across requests.

use super::channel::ZipChannel;
use super::header;
use super::soft::SoftTail;
use super::{CompressError, ExecPath, Format, Level};
use crate::device::DeviceInfo;
use crate::hisi::zip::{Direction, Outcome, StreamState};
use crate::pool::Fallback;

/// Worst-case deflate output for `n` input bytes in one request (zlib's
/// `compressBound` plus room for a gzip trailer).
pub(crate) fn compress_bound(n: usize) -> usize {
    n + (n >> 12) + (n >> 14) + (n >> 25) + 13 + 8
}

pub(crate) struct DeflateCore {
    chan: ZipChannel,
    format: Format,
    state: Option<StreamState>,
    out: Vec<u8>,
    header_done: bool,
    fallback: Fallback,
    level: Level,
    /// Set once the device failed mid-stream: the rest runs here.
    soft: Option<SoftTail>,
    /// Output of requests after the last safe switching point.
    held: Vec<u8>,
}

/// Whether an error means "the device did not do it" (so software may),
/// rather than "the caller's sink failed".
pub(crate) fn is_device_side(e: &CompressError) -> bool {
    matches!(
        e,
        CompressError::Qm(_)
            | CompressError::Queue(_)
            | CompressError::Dma(_)
            | CompressError::Device { .. }
    )
}

impl DeflateCore {
    pub fn open(dev: &DeviceInfo, format: Format) -> Result<DeflateCore, CompressError> {
        let chan = ZipChannel::open(dev, format.zip_alg(), Direction::Compress)?;
        let out = vec![0u8; chan.limits().output];
        Ok(DeflateCore {
            chan,
            format,
            state: None,
            out,
            header_done: false,
            fallback: Fallback::Fail,
            level: Level::DEFAULT,
            soft: None,
            held: Vec::new(),
        })
    }

    /// What to do when the device fails; `level` is the software path's.
    pub fn set_fallback(&mut self, fallback: Fallback, level: Level) {
        self.fallback = fallback;
        self.level = level;
    }

    /// Where the current (or last) stream ran: software once it switched.
    pub fn path(&self) -> ExecPath {
        if self.soft.is_some() {
            ExecPath::Software
        } else {
            self.chan.path()
        }
    }

    pub fn channel(&self) -> &ZipChannel {
        &self.chan
    }

    pub fn channel_mut(&mut self) -> &mut ZipChannel {
        &mut self.chan
    }

    /// The input size that one request takes.
    pub fn chunk(&self) -> usize {
        self.chan.limits().input
    }

    /// Starts a new stream (after a finished one).
    pub fn reset(&mut self) {
        self.state = None;
        self.header_done = false;
        self.soft = None;
        self.held.clear();
    }

    /// Compresses `input` in one block-mode request when it fits one request
    /// and its worst-case output fits the output buffer. Returns `false`
    /// (having emitted nothing) when it does not fit, so the caller streams.
    pub fn compress_block(
        &mut self,
        input: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), CompressError>,
    ) -> Result<bool, CompressError> {
        if self.header_done
            || input.len() > self.chunk()
            || compress_bound(input.len()) > self.out.len()
        {
            return Ok(false);
        }
        let r = match self
            .chan
            .run(self.format.zip_alg(), input, &mut self.out, None)
        {
            Ok(r) => r,
            // Nothing was written yet: let the stream path (with its
            // fallback) take the whole input.
            Err(e) if self.fallback == Fallback::Software && is_device_side(&e) => {
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        match r.outcome() {
            Outcome::Done if r.consumed as usize == input.len() => {
                sink(header::header(self.format))?;
                sink(&self.out[..r.produced as usize])?;
                self.header_done = true;
                Ok(true)
            }
            Outcome::Done | Outcome::OutputFull => Ok(false),
            _ if self.fallback == Fallback::Software => Ok(false),
            _ => Err(self.device_error(r.status)),
        }
    }

    fn device_error(&self, status: u8) -> CompressError {
        CompressError::Device {
            device: self.chan.device().to_owned(),
            format: self.format,
            status,
        }
    }

    /// Feeds `input` to the stream; `last` finishes it (the device then writes
    /// the trailer). Output goes to `sink` as it is produced. If the device
    /// fails and the fallback is [`Fallback::Software`], the stream goes on in
    /// software from the last safe point (see `soft.rs`).
    pub fn push(
        &mut self,
        input: &[u8],
        last: bool,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), CompressError>,
    ) -> Result<(), CompressError> {
        if let Some(soft) = self.soft.as_mut() {
            return soft.push(input, last, sink);
        }
        if !self.header_done {
            sink(header::header(self.format))?;
            self.header_done = true;
        }
        let mut state = match self.state {
            Some(s) => s,
            None => self.chan.new_stream()?,
        };
        let chunk = self.chunk();
        let mut rest = input;
        // The last point where software could take over.
        let mut safe = (state, rest);
        self.held.clear();
        // After "output full" the device still holds output: resubmit the
        // rest of the input, possibly none, until it reports done.
        let mut draining = false;
        loop {
            let n = rest.len().min(chunk);
            let final_request = last && n == rest.len();
            if n == 0 && !final_request && !draining {
                break;
            }
            state.last = final_request;
            let r = match self.chan.run(
                self.format.zip_alg(),
                &rest[..n],
                &mut self.out,
                Some(state),
            ) {
                Ok(r) => r,
                Err(e) if self.fallback == Fallback::Software && is_device_side(&e) => {
                    return self.switch_to_software(safe, last, sink);
                }
                Err(e) => return Err(e),
            };
            let consumed = (r.consumed as usize).min(n);
            match r.outcome() {
                Outcome::Done | Outcome::OutputFull => {}
                _ if self.fallback == Fallback::Software => {
                    return self.switch_to_software(safe, last, sink);
                }
                _ => return Err(self.device_error(r.status)),
            }
            self.held
                .extend_from_slice(&self.out[..r.produced as usize]);
            state.advance(&r);
            rest = &rest[consumed..];
            let full = r.outcome() == Outcome::OutputFull;
            draining = full;
            if full && consumed == 0 && r.produced == 0 {
                // The device made no progress with a whole empty buffer.
                if self.fallback == Fallback::Software {
                    return self.switch_to_software(safe, last, sink);
                }
                return Err(self.device_error(r.status));
            }
            if !full {
                // Finished with a sync flush (or the end): a safe point.
                sink(&self.held)?;
                self.held.clear();
                safe = (state, rest);
            }
            if !full && final_request && rest.is_empty() {
                break;
            }
        }
        self.state = Some(state);
        Ok(())
    }

    fn switch_to_software(
        &mut self,
        (state, rest): (StreamState, &[u8]),
        last: bool,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), CompressError>,
    ) -> Result<(), CompressError> {
        self.held.clear();
        let mut soft = SoftTail::new(
            self.format,
            self.level,
            state.first,
            state.isize,
            state.checksum,
        );
        soft.push(rest, last, sink)?;
        self.soft = Some(soft);
        Ok(())
    }
}
