//! The software tail of a single-member stream: when the device fails in the
//! middle of a stream, the rest of the stream is compressed by flate2 as a
//! continuation of the same deflate stream.
//!
//! Where the switch is safe: after a stream-mode request that finished with
//! all its input consumed (status 0, not "output full"). The device ends such
//! a non-final request with a sync flush (abi.md §5, stream mode), so its
//! output stops on a byte boundary after a non-final block; any deflate
//! blocks may follow. The software compressor starts with an empty window
//! (no back-references into the device's data, which is valid deflate), and
//! continues the trailer's checksum and length from the running values the
//! device reported with that request (dw30/dw31). Output of requests after
//! the safe point is held back until they finish, so nothing that a failed
//! request produced is ever written.

use flate2::{Compress, Compression, FlushCompress, Status};

use super::{CompressError, Format, Level};

/// A running checksum continued from the device's value.
enum Check {
    None,
    Crc(crc32fast::Hasher),
    Adler(adler2::Adler32),
}

pub(crate) struct SoftTail {
    format: Format,
    comp: Compress,
    check: Check,
    isize: u32,
    out: Vec<u8>,
}

impl SoftTail {
    /// Continues a stream whose device part covered `isize` bytes with
    /// running `checksum` (`first`: the device finished no request yet).
    pub fn new(format: Format, level: Level, first: bool, isize: u32, checksum: u32) -> SoftTail {
        let (isize, checksum) = if first {
            (0, if format == Format::Zlib { 1 } else { 0 })
        } else {
            (isize, checksum)
        };
        let check = match format {
            Format::Deflate => Check::None,
            Format::Gzip => Check::Crc(crc32fast::Hasher::new_with_initial_len(
                checksum,
                u64::from(isize),
            )),
            Format::Zlib => Check::Adler(adler2::Adler32::from_checksum(checksum)),
        };
        SoftTail {
            format,
            comp: Compress::new(Compression::new(level.get()), false),
            check,
            isize,
            out: Vec::with_capacity(64 << 10),
        }
    }

    /// Compresses `input`; `last` ends the deflate stream and adds the trailer.
    pub fn push(
        &mut self,
        input: &[u8],
        last: bool,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), CompressError>,
    ) -> Result<(), CompressError> {
        match &mut self.check {
            Check::None => {}
            Check::Crc(h) => h.update(input),
            Check::Adler(a) => a.write_slice(input),
        }
        self.isize = self.isize.wrapping_add(input.len() as u32);
        let flush = if last {
            FlushCompress::Finish
        } else {
            FlushCompress::None
        };
        let mut pos = 0;
        loop {
            self.out.clear();
            let before = self.comp.total_in();
            let status = self
                .comp
                .compress_vec(&input[pos..], &mut self.out, flush)
                .map_err(|e| CompressError::Io(std::io::Error::other(e)))?;
            pos += (self.comp.total_in() - before) as usize;
            sink(&self.out)?;
            let done = match flush {
                FlushCompress::Finish => status == Status::StreamEnd,
                _ => pos == input.len() && self.out.len() < self.out.capacity(),
            };
            if done {
                break;
            }
        }
        if last {
            match &self.check {
                Check::None => {}
                Check::Crc(h) => {
                    sink(&h.clone().finalize().to_le_bytes())?;
                    sink(&self.isize.to_le_bytes())?;
                }
                Check::Adler(a) => sink(&a.checksum().to_be_bytes())?,
            }
        }
        let _ = self.format;
        Ok(())
    }
}
