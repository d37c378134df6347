//! The decompression core shared by the one-shot API and the streaming
//! [`Decoder`](super::Decoder). Software parses the zlib header or the whole
//! gzip header; the device inflates the body in stream mode and checks the
//! trailer. Multi-member gzip files are read member after member.
//!
//! It works one device request per [`InflateCore::step`], so a caller can
//! bound how much output it holds.

use super::channel::ZipChannel;
use super::header::{self, Parsed};
use super::{CompressError, Format};
use crate::device::DeviceInfo;
use crate::hisi::zip::{Direction, Outcome, StreamState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Expecting a member header.
    Header,
    /// Inside a member's deflate body.
    Body,
    /// After a member: another gzip member, or the end.
    Between,
    /// The stream ended and nothing may follow.
    Done,
}

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Something happened; call again.
    Progress,
    /// Nothing can happen until more input is fed.
    NeedInput,
    /// The compressed stream is complete.
    Finished,
}

pub(crate) struct InflateCore {
    chan: ZipChannel,
    format: Format,
    phase: Phase,
    pending: Vec<u8>,
    start: usize,
    eof: bool,
    state: Option<StreamState>,
    draining: bool,
    offset: u64,
    members: u64,
    out: Vec<u8>,
}

impl InflateCore {
    pub fn open(dev: &DeviceInfo, format: Format) -> Result<InflateCore, CompressError> {
        let chan = ZipChannel::open(dev, format.zip_alg(), Direction::Decompress)?;
        let out = vec![0u8; chan.limits().output];
        let phase = if format == Format::Deflate {
            Phase::Body
        } else {
            Phase::Header
        };
        Ok(InflateCore {
            chan,
            format,
            phase,
            pending: Vec::new(),
            start: 0,
            eof: false,
            state: None,
            draining: false,
            offset: 0,
            members: 0,
            out,
        })
    }

    pub fn channel(&self) -> &ZipChannel {
        &self.chan
    }

    pub fn channel_mut(&mut self) -> &mut ZipChannel {
        &mut self.chan
    }

    /// Starts over for a new compressed stream.
    pub fn reset(&mut self) {
        self.phase = if self.format == Format::Deflate {
            Phase::Body
        } else {
            Phase::Header
        };
        self.pending.clear();
        self.start = 0;
        self.eof = false;
        self.state = None;
        self.draining = false;
        self.offset = 0;
        self.members = 0;
    }

    /// How many compressed bytes wait to be processed.
    pub fn buffered(&self) -> usize {
        self.pending.len() - self.start
    }

    /// Adds compressed input.
    pub fn feed(&mut self, data: &[u8]) {
        if self.start > 0 && self.start == self.pending.len() {
            self.pending.clear();
            self.start = 0;
        } else if self.start > (1 << 20) {
            self.pending.drain(..self.start);
            self.start = 0;
        }
        self.pending.extend_from_slice(data);
    }

    /// Says that no more input will come.
    pub fn finish_input(&mut self) {
        self.eof = true;
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    fn truncated(&self) -> CompressError {
        CompressError::Truncated {
            format: self.format,
            offset: self.offset + self.buffered() as u64,
        }
    }

    /// Does one unit of work; output goes to `sink`.
    pub fn step(
        &mut self,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), CompressError>,
    ) -> Result<Step, CompressError> {
        match self.phase {
            Phase::Done => {
                if self.buffered() > 0 {
                    return Err(CompressError::TrailingGarbage {
                        format: self.format,
                        offset: self.offset,
                        len: self.buffered(),
                    });
                }
                Ok(Step::Finished)
            }
            Phase::Between => {
                if self.buffered() == 0 {
                    return Ok(if self.eof {
                        Step::Finished
                    } else {
                        Step::NeedInput
                    });
                }
                if self.format == Format::Gzip {
                    // Another member follows (RFC 1952 §2.2).
                    self.phase = Phase::Header;
                    return Ok(Step::Progress);
                }
                self.phase = Phase::Done;
                Ok(Step::Progress)
            }
            Phase::Header => self.header_step(),
            Phase::Body => self.body_step(sink),
        }
    }

    fn header_step(&mut self) -> Result<Step, CompressError> {
        let buf = &self.pending[self.start..];
        let parsed = match self.format {
            Format::Gzip => header::parse_gzip(buf).map(|p| match p {
                Parsed::Done { len, .. } => Some(len),
                Parsed::NeedMore => None,
            }),
            Format::Zlib => header::parse_zlib(buf).map(|p| match p {
                Parsed::Done { len, .. } => Some(len),
                Parsed::NeedMore => None,
            }),
            Format::Deflate => Ok(Some(0)),
        };
        let parsed = parsed.map_err(|source| {
            if self.members > 0 {
                CompressError::TrailingGarbage {
                    format: self.format,
                    offset: self.offset,
                    len: self.buffered(),
                }
            } else {
                CompressError::Header {
                    format: self.format,
                    source,
                }
            }
        })?;
        match parsed {
            Some(len) => {
                self.consume(len);
                self.phase = Phase::Body;
                self.state = None;
                Ok(Step::Progress)
            }
            None if self.eof => Err(self.truncated()),
            None => Ok(Step::NeedInput),
        }
    }

    fn body_step(
        &mut self,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), CompressError>,
    ) -> Result<Step, CompressError> {
        let limit = self.chan.limits().input;
        let available = self.buffered();
        if available == 0 && !self.draining {
            if self.eof {
                return Err(self.truncated());
            }
            return Ok(Step::NeedInput);
        }
        let mut state = match self.state {
            Some(s) => s,
            None => self.chan.new_stream()?,
        };
        let n = available.min(limit);
        state.last = self.eof && n == available;
        let input = &self.pending[self.start..self.start + n];
        let r = self
            .chan
            .run(self.format.zip_alg(), input, &mut self.out, Some(state))?;
        let consumed = (r.consumed as usize).min(n);
        let produced = r.produced as usize;
        let outcome = r.outcome();
        match outcome {
            Outcome::ChecksumMismatch => {
                return Err(CompressError::Checksum {
                    format: self.format,
                    offset: self.offset + consumed as u64,
                });
            }
            Outcome::Error(status) => {
                return Err(CompressError::Corrupt {
                    format: self.format,
                    status,
                    offset: self.offset + consumed as u64,
                });
            }
            Outcome::Done | Outcome::OutputFull | Outcome::EndOfStream => {}
        }
        sink(&self.out[..produced])?;
        self.consume(consumed);
        state.advance(&r);
        self.state = Some(state);
        self.draining = outcome == Outcome::OutputFull;
        if outcome == Outcome::EndOfStream {
            self.members += 1;
            self.state = None;
            self.draining = false;
            self.phase = Phase::Between;
            return Ok(Step::Progress);
        }
        if consumed == 0 && produced == 0 {
            if self.draining {
                return Err(CompressError::Corrupt {
                    format: self.format,
                    status: r.status,
                    offset: self.offset,
                });
            }
            // The device needs more input than there is.
            if self.eof {
                return Err(self.truncated());
            }
            return Ok(Step::NeedInput);
        }
        Ok(Step::Progress)
    }
}
