//! What a pooled request is and what it gives back.

use crate::comp::{ExecPath, Format};

/// Compression or decompression; ZIP queues have a fixed direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Compress.
    Compress,
    /// Decompress.
    Decompress,
}

impl Op {
    /// `"compression"` or `"decompression"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Compress => "compression",
            Op::Decompress => "decompression",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Op::Compress => 0,
            Op::Decompress => 1,
        }
    }
}

/// One request: a whole member (block mode), independent of every other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The direction.
    pub op: Op,
    /// The container.
    pub format: Format,
    /// Compression: the data. Decompression: one whole member, header to trailer.
    pub input: Vec<u8>,
    /// Decompression: the most output accepted; larger output is an error.
    /// Ignored for compression.
    pub max_output: usize,
}

impl Job {
    /// Compress `input` into one complete member of `format`.
    pub fn compress(format: Format, input: Vec<u8>) -> Job {
        Job {
            op: Op::Compress,
            format,
            input,
            max_output: 0,
        }
    }

    /// Decompress the one member of `format` in `input`, expecting at most
    /// `max_output` bytes.
    pub fn decompress(format: Format, input: Vec<u8>, max_output: usize) -> Job {
        Job {
            op: Op::Decompress,
            format,
            input,
            max_output,
        }
    }
}

/// The result of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutput {
    /// Compressed member (header, data, trailer) or decompressed bytes.
    pub data: Vec<u8>,
    /// Input bytes used (decompression stops at the end of the member).
    pub consumed: usize,
    /// Where it ran.
    pub path: ExecPath,
}
