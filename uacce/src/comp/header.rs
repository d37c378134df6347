//! The zlib and gzip framing that software writes and parses around the
//! hardware's deflate data (abi.md §5 "Header/trailer handling").
//!
//! The device produces deflate blocks and, on the finishing request, the
//! trailer. Software writes the header when compressing and, when
//! decompressing, parses the *whole* gzip header (FEXTRA, FNAME, FCOMMENT,
//! FHCRC), not just the first ten bytes as UADK does.

use super::Format;

/// The zlib header for a 32 KiB window at the default level: `78 9C`.
pub const ZLIB_HEADER: [u8; 2] = [0x78, 0x9c];

/// The gzip header the SDK writes: magic, CM 8, no flags, MTIME 0, XFL 0,
/// OS 3 (Unix), as UADK and the kernel driver write it.
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03];

/// Trailer length: zlib Adler-32 (4), gzip CRC32 + ISIZE (8).
pub fn trailer_len(format: Format) -> usize {
    match format {
        Format::Deflate => 0,
        Format::Zlib => 4,
        Format::Gzip => 8,
    }
}

/// The header written in front of compressed data.
pub fn header(format: Format) -> &'static [u8] {
    match format {
        Format::Deflate => &[],
        Format::Zlib => &ZLIB_HEADER,
        Format::Gzip => &GZIP_HEADER,
    }
}

const FTEXT: u8 = 1 << 0;
const FHCRC: u8 = 1 << 1;
const FEXTRA: u8 = 1 << 2;
const FNAME: u8 = 1 << 3;
const FCOMMENT: u8 = 1 << 4;
const FRESERVED: u8 = 0xe0;

/// What a parsed gzip header said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GzipHeader {
    /// FTEXT.
    pub text: bool,
    /// MTIME.
    pub mtime: u32,
    /// XFL.
    pub extra_flags: u8,
    /// OS.
    pub os: u8,
    /// FEXTRA payload.
    pub extra: Option<Vec<u8>>,
    /// FNAME (without the terminating zero).
    pub name: Option<Vec<u8>>,
    /// FCOMMENT (without the terminating zero).
    pub comment: Option<Vec<u8>>,
    /// Whether an FHCRC header checksum was present (and matched).
    pub header_crc: bool,
}

/// Why a header is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The first bytes are not the gzip magic `1f 8b`.
    #[error("not gzip data: magic bytes {0:02x} {1:02x}, expected 1f 8b")]
    GzipMagic(u8, u8),
    /// CM is not 8 (deflate).
    #[error("gzip compression method {0}, only 8 (deflate) exists")]
    GzipMethod(u8),
    /// Reserved FLG bits are set.
    #[error("gzip header has reserved flag bits set ({0:#04x})")]
    GzipReservedFlags(u8),
    /// FHCRC does not match the header.
    #[error("gzip header checksum mismatch: stored {stored:#06x}, computed {computed:#06x}")]
    GzipHeaderCrc {
        /// Stored CRC16.
        stored: u16,
        /// Computed CRC16.
        computed: u16,
    },
    /// The zlib CMF/FLG pair is invalid.
    #[error("not zlib data: header {0:02x} {1:02x} ({2})")]
    Zlib(u8, u8, &'static str),
}

/// Result of trying to parse a header from the bytes at hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    /// The header is complete and `len` bytes long.
    Done {
        /// Header length in bytes.
        len: usize,
        /// What it said.
        header: T,
    },
    /// More bytes are needed to finish the header.
    NeedMore,
}

/// Parses a gzip member header at the start of `buf`.
pub fn parse_gzip(buf: &[u8]) -> Result<Parsed<GzipHeader>, HeaderError> {
    let mut p = Cursor { buf, pos: 0 };
    // Check the magic as soon as its bytes are there, so garbage fails fast.
    if let Some(&m0) = buf.first() {
        let m1 = buf.get(1).copied().unwrap_or(0x8b);
        if m0 != 0x1f || m1 != 0x8b {
            return Err(HeaderError::GzipMagic(m0, m1));
        }
    }
    let Some(fixed) = p.take(10) else {
        return Ok(Parsed::NeedMore);
    };
    if fixed[2] != 8 {
        return Err(HeaderError::GzipMethod(fixed[2]));
    }
    let flg = fixed[3];
    if flg & FRESERVED != 0 {
        return Err(HeaderError::GzipReservedFlags(flg));
    }
    let mut header = GzipHeader {
        text: flg & FTEXT != 0,
        mtime: u32::from_le_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
        extra_flags: fixed[8],
        os: fixed[9],
        ..GzipHeader::default()
    };
    if flg & FEXTRA != 0 {
        let Some(xlen) = p.take(2) else {
            return Ok(Parsed::NeedMore);
        };
        let xlen = usize::from(u16::from_le_bytes([xlen[0], xlen[1]]));
        let Some(extra) = p.take(xlen) else {
            return Ok(Parsed::NeedMore);
        };
        header.extra = Some(extra.to_vec());
    }
    if flg & FNAME != 0 {
        let Some(name) = p.take_zero_terminated() else {
            return Ok(Parsed::NeedMore);
        };
        header.name = Some(name.to_vec());
    }
    if flg & FCOMMENT != 0 {
        let Some(comment) = p.take_zero_terminated() else {
            return Ok(Parsed::NeedMore);
        };
        header.comment = Some(comment.to_vec());
    }
    if flg & FHCRC != 0 {
        let covered = p.pos;
        let Some(crc) = p.take(2) else {
            return Ok(Parsed::NeedMore);
        };
        let stored = u16::from_le_bytes([crc[0], crc[1]]);
        let computed = (crc32fast::hash(&buf[..covered]) & 0xffff) as u16;
        if stored != computed {
            return Err(HeaderError::GzipHeaderCrc { stored, computed });
        }
        header.header_crc = true;
    }
    Ok(Parsed::Done { len: p.pos, header })
}

/// Parses a zlib header (2 bytes; a preset dictionary is refused).
pub fn parse_zlib(buf: &[u8]) -> Result<Parsed<()>, HeaderError> {
    let (Some(&cmf), Some(&flg)) = (buf.first(), buf.get(1)) else {
        if let Some(&cmf) = buf.first() {
            if cmf & 0x0f != 8 {
                return Err(HeaderError::Zlib(
                    cmf,
                    0,
                    "compression method is not 8 (deflate)",
                ));
            }
        }
        return Ok(Parsed::NeedMore);
    };
    if cmf & 0x0f != 8 {
        return Err(HeaderError::Zlib(
            cmf,
            flg,
            "compression method is not 8 (deflate)",
        ));
    }
    if cmf >> 4 > 7 {
        return Err(HeaderError::Zlib(cmf, flg, "window larger than 32 KiB"));
    }
    if (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0 {
        return Err(HeaderError::Zlib(
            cmf,
            flg,
            "header check bits FCHECK are wrong",
        ));
    }
    if flg & 0x20 != 0 {
        return Err(HeaderError::Zlib(
            cmf,
            flg,
            "a preset dictionary is required, which is not supported",
        ));
    }
    Ok(Parsed::Done { len: 2, header: () })
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn take_zero_terminated(&mut self) -> Option<&'a [u8]> {
        let rest = self.buf.get(self.pos..)?;
        let nul = rest.iter().position(|&b| b == 0)?;
        self.pos += nul + 1;
        Some(&rest[..nul])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn our_headers_parse() {
        assert_eq!(
            parse_gzip(&GZIP_HEADER),
            Ok(Parsed::Done {
                len: 10,
                header: GzipHeader {
                    os: 3,
                    ..Default::default()
                }
            })
        );
        assert_eq!(
            parse_zlib(&ZLIB_HEADER),
            Ok(Parsed::Done { len: 2, header: () })
        );
        assert_eq!(header(Format::Deflate), b"");
        assert_eq!(
            (trailer_len(Format::Zlib), trailer_len(Format::Gzip)),
            (4, 8)
        );
    }

    #[test]
    fn full_gzip_header_with_every_field() {
        let mut gz = flate2::GzBuilder::new()
            .filename("data.txt")
            .comment("a comment")
            .extra(vec![b'A', b'B', 2, 0, 7, 9])
            .mtime(0x1234_5678)
            .operating_system(255)
            .write(Vec::new(), flate2::Compression::default());
        gz.write_all(b"payload").unwrap();
        let mut bytes = gz.finish().unwrap();
        // flate2 does not write FHCRC; add it by hand to exercise that path.
        let Parsed::Done { len, header: h } = parse_gzip(&bytes).unwrap() else {
            panic!()
        };
        assert_eq!(h.name.as_deref(), Some(&b"data.txt"[..]));
        assert_eq!(h.comment.as_deref(), Some(&b"a comment"[..]));
        assert_eq!(h.extra.as_deref(), Some(&[b'A', b'B', 2, 0, 7, 9][..]));
        assert_eq!((h.mtime, h.os, h.header_crc), (0x1234_5678, 255, false));
        bytes[3] |= FHCRC;
        let crc = (crc32fast::hash(&bytes[..len]) & 0xffff) as u16;
        bytes.splice(len..len, crc.to_le_bytes());
        let Parsed::Done {
            len: len2,
            header: h2,
        } = parse_gzip(&bytes).unwrap()
        else {
            panic!()
        };
        assert_eq!(len2, len + 2);
        assert!(h2.header_crc);
        bytes[len] ^= 1;
        assert!(matches!(
            parse_gzip(&bytes),
            Err(HeaderError::GzipHeaderCrc { .. })
        ));
        // every strict prefix asks for more
        bytes[len] ^= 1;
        for cut in 0..len2 {
            assert_eq!(
                parse_gzip(&bytes[..cut]),
                Ok(Parsed::NeedMore),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn bad_headers_are_typed_errors() {
        assert_eq!(
            parse_gzip(b"PK\x03\x04"),
            Err(HeaderError::GzipMagic(b'P', b'K'))
        );
        assert_eq!(parse_gzip(b"\x1f"), Ok(Parsed::NeedMore));
        assert_eq!(parse_gzip(b"\x00"), Err(HeaderError::GzipMagic(0, 0x8b)));
        assert_eq!(
            parse_gzip(&[0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 3]),
            Err(HeaderError::GzipMethod(7))
        );
        assert_eq!(
            parse_gzip(&[0x1f, 0x8b, 8, 0x20, 0, 0, 0, 0, 0, 3]),
            Err(HeaderError::GzipReservedFlags(0x20))
        );
        assert!(
            matches!(parse_zlib(&[0x78, 0x9d]), Err(HeaderError::Zlib(_, _, m)) if m.contains("FCHECK"))
        );
        assert!(matches!(
            parse_zlib(&[0x79, 0x9c]),
            Err(HeaderError::Zlib(..))
        ));
        assert!(
            matches!(parse_zlib(&[0x78, 0xbb]), Err(HeaderError::Zlib(_, _, m)) if m.contains("dictionary"))
        );
        assert!(matches!(parse_zlib(&[0x1f]), Err(HeaderError::Zlib(..))));
        assert_eq!(parse_zlib(&[0x78]), Ok(Parsed::NeedMore));
        for (cmf, flg) in [
            (0x78, 0x01),
            (0x78, 0x5e),
            (0x78, 0x9c),
            (0x78, 0xda),
            (0x48, 0x0d),
        ] {
            assert!(
                matches!(parse_zlib(&[cmf, flg]), Ok(Parsed::Done { len: 2, .. })),
                "{cmf:x} {flg:x}"
            );
        }
    }
}
