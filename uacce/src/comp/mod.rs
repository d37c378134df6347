//! Compression and decompression on the ZIP engine, in the style of `flate2`.
//!
//! * One-shot: [`compress`], [`decompress`] into a `Vec`, or a [`Compressor`] /
//!   [`Decompressor`] for repeated calls and caller buffers.
//! * Streaming: [`Encoder`] (a `std::io::Write`) and [`Decoder`] (a `std::io::Read`).
//! * Formats: raw deflate, zlib and gzip. Software writes the zlib/gzip header;
//!   the device produces the deflate data and the trailer. Decompression parses
//!   the full gzip header (FEXTRA, FNAME, FCOMMENT, FHCRC) and reads
//!   multi-member gzip files.
//! * Devices: [`DeviceChoice::Auto`] takes a hardware device that offers the
//!   algorithm and falls back to the built-in emulated device; every engine can
//!   say which [`ExecPath`] ran.

mod channel;
mod deflate;
mod device;
mod error;
pub mod header;
mod inflate;
mod oneshot;
mod read;
mod write;

pub use device::{DeviceChoice, ExecPath};
pub use error::CompressError;
pub use oneshot::{Compressor, Decompressor, compress, decompress};
pub use read::Decoder;
pub use write::Encoder;

use crate::hisi::zip::ZipAlg;

/// A deflate container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Raw deflate (RFC 1951). Needs hardware v3 or later.
    Deflate,
    /// zlib (RFC 1950).
    Zlib,
    /// gzip (RFC 1952).
    Gzip,
}

impl Format {
    /// The name in a device's `algorithms` attribute.
    pub fn algorithm(self) -> &'static str {
        self.zip_alg().algorithm_name()
    }

    /// The conventional file-name suffix.
    pub fn suffix(self) -> &'static str {
        match self {
            Format::Deflate => ".deflate",
            Format::Zlib => ".zz",
            Format::Gzip => ".gz",
        }
    }

    pub(crate) fn zip_alg(self) -> ZipAlg {
        match self {
            Format::Deflate => ZipAlg::Deflate,
            Format::Zlib => ZipAlg::Zlib,
            Format::Gzip => ZipAlg::Gzip,
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "deflate" | "raw" => Ok(Format::Deflate),
            "zlib" => Ok(Format::Zlib),
            "gzip" | "gz" => Ok(Format::Gzip),
            other => Err(format!(
                "unknown format {other:?} (expected gzip, zlib or deflate)"
            )),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.algorithm())
    }
}

/// A compression level, 0 (fastest) to 9 (smallest), like zlib's.
///
/// The ZIP engine of hardware v2 compresses at one fixed level and ignores
/// it; the built-in emulated device and the software path honour it. It never
/// changes the format: any level's output decompresses everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Level(u8);

impl Level {
    /// zlib's default, 6.
    pub const DEFAULT: Level = Level(6);

    /// A level from 0 to 9; `None` otherwise.
    pub fn new(level: u32) -> Option<Level> {
        (level <= 9).then_some(Level(level as u8))
    }

    /// The number.
    pub fn get(self) -> u32 {
        u32::from(self.0)
    }
}

impl Default for Level {
    fn default() -> Level {
        Level::DEFAULT
    }
}
