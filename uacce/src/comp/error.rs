//! Errors of the compression API.

use std::io;

use super::Format;
use super::header::HeaderError;
use crate::discovery::DiscoveryError;
use crate::dma::DmaError;
use crate::hisi::qm::QmError;
use crate::queue::QueueError;

/// Why a compression or decompression failed. No partial output is ever
/// returned as if it were complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompressError {
    /// No device offers the algorithm and the built-in emulator is off.
    #[error("no device offers {algorithm} (and the built-in emulated device is not enabled)")]
    NoDevice {
        /// The algorithm asked for.
        algorithm: &'static str,
    },
    /// The chosen device does not offer the algorithm.
    #[error("device {device} does not offer {algorithm} (it offers: {offered})")]
    Unsupported {
        /// Device name.
        device: String,
        /// The algorithm asked for.
        algorithm: &'static str,
        /// What it offers.
        offered: String,
    },
    /// The built-in emulated device could not be started.
    #[error("cannot start the built-in emulated device: {0}")]
    Emulator(String),
    /// Device discovery failed.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// Opening or driving the queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The ring protocol failed (timeout, reset, tag mismatch, …).
    #[error(transparent)]
    Qm(#[from] QmError),
    /// Device-visible memory could not be provided.
    #[error(transparent)]
    Dma(#[from] DmaError),
    /// The compressed data does not start with a valid header.
    #[error("invalid {format} header: {source}")]
    Header {
        /// The format expected.
        format: Format,
        /// What was wrong.
        #[source]
        source: HeaderError,
    },
    /// The compressed data is corrupt (the device rejected it).
    #[error(
        "corrupt {format} data: the device reported status {status:#04x} at compressed offset {offset}"
    )]
    Corrupt {
        /// The format.
        format: Format,
        /// Device status code.
        status: u8,
        /// Roughly where, in bytes of compressed input.
        offset: u64,
    },
    /// The trailer's checksum or length does not match the data.
    #[error("corrupt {format} data: trailer checksum mismatch at compressed offset {offset}")]
    Checksum {
        /// The format.
        format: Format,
        /// Where the member ended.
        offset: u64,
    },
    /// The compressed data ended before the stream did.
    #[error(
        "truncated {format} data: input ended after {offset} bytes, before the end of the stream"
    )]
    Truncated {
        /// The format.
        format: Format,
        /// Bytes of compressed input seen.
        offset: u64,
    },
    /// Bytes follow the end of the compressed stream that are not another member.
    #[error("{len} bytes of trailing garbage after the {format} stream at offset {offset}")]
    TrailingGarbage {
        /// The format.
        format: Format,
        /// Where the garbage starts.
        offset: u64,
        /// How much of it was seen.
        len: usize,
    },
    /// The device failed a compression request.
    #[error("device {device} failed a {format} compression request with status {status:#04x}")]
    Device {
        /// Device name.
        device: String,
        /// The format.
        format: Format,
        /// Device status code.
        status: u8,
    },
    /// The caller's output buffer is too small.
    #[error("output buffer of {capacity} bytes is too small")]
    OutputTooSmall {
        /// Its size.
        capacity: usize,
    },
    /// Reading input or writing output failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<CompressError> for io::Error {
    fn from(e: CompressError) -> io::Error {
        match e {
            CompressError::Io(io) => io,
            CompressError::Header { .. }
            | CompressError::Corrupt { .. }
            | CompressError::Checksum { .. }
            | CompressError::Truncated { .. }
            | CompressError::TrailingGarbage { .. } => {
                io::Error::new(io::ErrorKind::InvalidData, e)
            }
            other => io::Error::other(other),
        }
    }
}
