//! The compression core shared by the one-shot API and the streaming
//! [`Encoder`](super::Encoder): header in software, deflate data and trailer
//! from the device, in stream mode across requests.

use super::channel::ZipChannel;
use super::header;
use super::{CompressError, Format};
use crate::device::DeviceInfo;
use crate::hisi::zip::{Direction, Outcome, StreamState};

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
        })
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
        let r = self
            .chan
            .run(self.format.zip_alg(), input, &mut self.out, None)?;
        match r.outcome() {
            Outcome::Done if r.consumed as usize == input.len() => {
                sink(header::header(self.format))?;
                sink(&self.out[..r.produced as usize])?;
                self.header_done = true;
                Ok(true)
            }
            Outcome::Done | Outcome::OutputFull => Ok(false),
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
    /// the trailer). Output goes to `sink` as it is produced.
    pub fn push(
        &mut self,
        input: &[u8],
        last: bool,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), CompressError>,
    ) -> Result<(), CompressError> {
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
        loop {
            let n = rest.len().min(chunk);
            let final_request = last && n == rest.len();
            if n == 0 && !final_request {
                break;
            }
            state.last = final_request;
            let r = self.chan.run(
                self.format.zip_alg(),
                &rest[..n],
                &mut self.out,
                Some(state),
            )?;
            let consumed = (r.consumed as usize).min(n);
            match r.outcome() {
                Outcome::Done | Outcome::OutputFull => {}
                _ => return Err(self.device_error(r.status)),
            }
            sink(&self.out[..r.produced as usize])?;
            state.advance(&r);
            rest = &rest[consumed..];
            let full = r.outcome() == Outcome::OutputFull;
            if full && consumed == 0 && r.produced == 0 {
                // The device made no progress with a whole empty buffer.
                return Err(self.device_error(r.status));
            }
            if !full && final_request && rest.is_empty() {
                break;
            }
        }
        self.state = Some(state);
        Ok(())
    }
}
