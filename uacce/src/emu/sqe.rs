//! The ZIP SQE as the device reads and writes it (abi.md §5), and the status
//! codes the emulated engine reports in dw3 bits 0–7.

/// Status codes written to dw3 bits 0–7 of a finished SQE.
///
/// `OK`, `NEGATIVE_COMPRESSION`, `OUTPUT_FULL`, `CHECKSUM_MISMATCH` and
/// `DECOMPRESS_END` are the hardware's codes (abi.md §5). The others are the
/// emulator's own error codes for conditions whose hardware code is not
/// documented; each is distinct so a test can tell them apart, and every one
/// of them is "any other non-zero status" to a driver.
pub mod status {
    /// Success.
    pub const OK: u8 = 0x00;
    /// The SQE's `sqe_type` (dw7 bits 28–31) is not this generation's (v2: 0,
    /// v3: 3).
    pub const BAD_SQE_TYPE: u8 = 0x02;
    /// The `req_type` (dw9 bits 0–7) is not an algorithm of this generation
    /// (v2: zlib 0x02, gzip 0x03; v3 also deflate 0x01).
    pub const BAD_ALGORITHM: u8 = 0x03;
    /// The input length (dw4) is over 8 MiB.
    pub const BAD_LENGTH: u8 = 0x04;
    /// A DMA access failed: an unmapped address (SVA), an address outside
    /// the SS slices, or a range crossing into a non-contiguous slice.
    pub const DMA_FAULT: u8 = 0x05;
    /// The compressed input is not valid deflate data.
    pub const BAD_DATA: u8 = 0x06;
    /// Block-mode decompression ran out of input before the end of the stream
    /// (or before the whole zlib/gzip trailer).
    pub const TRUNCATED: u8 = 0x07;
    /// Stream mode: the context is unusable (no stream started at this context
    /// address, the context buffer was overwritten, it belongs to another
    /// algorithm, or too many open streams).
    pub const BAD_CONTEXT: u8 = 0x08;
    /// A feature the emulator does not implement: hardware SGL buffers
    /// (dw9 bits 8–11 non-zero), or a window size code (dw9 bits 12–15)
    /// above 4.
    pub const UNSUPPORTED: u8 = 0x09;
    /// Compression finished but the output is not smaller than the input
    /// ("negative compression"); the output is valid and drivers treat this
    /// as success (abi.md §5).
    pub const NEGATIVE_COMPRESSION: u8 = 0x0D;
    /// The output buffer (dw14 `dest_avail_out`) filled up before the request
    /// was done; dw0/dw1 say how far it got.
    pub const OUTPUT_FULL: u8 = 0x0E;
    /// Decompression: the zlib Adler-32 or gzip CRC32/ISIZE trailer does not
    /// match the data.
    pub const CHECKSUM_MISMATCH: u8 = 0x10;
    /// Decompression reached the end of the stream (reported with `lstblk`,
    /// dw3 bit 8).
    pub const DECOMPRESS_END: u8 = 0x13;
}

/// SQE size in bytes.
pub const SQE_SIZE: usize = 128;
/// Largest input per SQE (`HZ_MAX_SIZE`, abi.md §5).
pub const MAX_INPUT: u32 = 8 << 20;
/// Largest output the engine writes per SQE; larger `dest_avail_out` values
/// are clamped to this.
pub const MAX_OUTPUT: u32 = 8 << 20;

/// dw3 bit 8: the last deflate block was seen.
pub const DW3_LSTBLK: u32 = 1 << 8;
/// dw7 bit 25: flush (1 = finishing request).
pub const DW7_FLUSH: u32 = 1 << 25;
/// dw7 bit 26: stream (stateful) mode.
pub const DW7_STREAM: u32 = 1 << 26;
/// dw7 bit 27: first request of a stream.
pub const DW7_NEW_STREAM: u32 = 1 << 27;
/// dw7 bits 28–31: sqe_type.
pub const DW7_SQE_TYPE_SHIFT: u32 = 28;

/// `req_type` raw deflate.
pub const REQ_DEFLATE: u8 = 0x01;
/// `req_type` zlib.
pub const REQ_ZLIB: u8 = 0x02;
/// `req_type` gzip.
pub const REQ_GZIP: u8 = 0x03;

/// Decompression context state in `ctx_dw0` bits 0–3: ran out of output space
/// while decompressing (abi.md §5).
pub const CTX_ST_NO_SPACE: u32 = 0x2;

/// Dword indices of the fields the engine uses.
pub mod dw {
    /// Input bytes consumed (out).
    pub const CONSUMED: usize = 0;
    /// Output bytes produced (out).
    pub const PRODUCED: usize = 1;
    /// Status and lstblk (out).
    pub const DW3: usize = 3;
    /// Input length (in).
    pub const INPUT_LENGTH: usize = 4;
    /// Flags and sqe_type (in).
    pub const DW7: usize = 7;
    /// req_type and buffer type (in).
    pub const DW9: usize = 9;
    /// Output space (in/out).
    pub const DEST_AVAIL_OUT: usize = 14;
    /// Stream context word 0 (in/out).
    pub const CTX_DW0: usize = 15;
    /// Source address, low half.
    pub const SOURCE_ADDR_L: usize = 18;
    /// Destination address, low half.
    pub const DEST_ADDR_L: usize = 20;
    /// Stream context address, low half.
    pub const STREAM_CTX_ADDR_L: usize = 22;
    /// Running uncompressed size (out).
    pub const ISIZE: usize = 30;
    /// Running checksum (out).
    pub const CHECKSUM: usize = 31;
}

/// A copy of one SQE, taken when the device fetched it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Sqe(pub [u32; 32]);

impl std::fmt::Debug for Sqe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sqe{:08x?}", &self.0[..])
    }
}

impl Sqe {
    /// Decodes 128 little-endian bytes.
    pub fn from_bytes(bytes: &[u8; SQE_SIZE]) -> Sqe {
        let mut words = [0u32; 32];
        for (w, chunk) in words.iter_mut().zip(bytes.chunks_exact(4)) {
            *w = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        Sqe(words)
    }

    fn addr(&self, low: usize) -> u64 {
        u64::from(self.0[low]) | (u64::from(self.0[low + 1]) << 32)
    }

    /// dw7 bits 28–31.
    pub fn sqe_type(&self) -> u32 {
        self.0[dw::DW7] >> DW7_SQE_TYPE_SHIFT
    }

    /// dw9 bits 0–7.
    pub fn req_type(&self) -> u8 {
        (self.0[dw::DW9] & 0xff) as u8
    }

    /// dw9 bits 8–11: 0 flat, 1 hardware SGL.
    pub fn buf_type(&self) -> u32 {
        (self.0[dw::DW9] >> 8) & 0xf
    }

    /// dw9 bits 12–15: compression window size code (0 = 4 KiB, 1 = 8 KiB,
    /// 2 = 16 KiB, 3 = 24 KiB, 4 = 32 KiB).
    pub fn window_code(&self) -> u32 {
        (self.0[dw::DW9] >> 12) & 0xf
    }

    /// The deflate window (log2 bytes) to compress with for the window code:
    /// the largest power of two not above the requested size (24 KiB → 16 KiB),
    /// `None` for codes above 4.
    pub fn window_bits(&self) -> Option<u8> {
        match self.window_code() {
            0 => Some(12),
            1 => Some(13),
            2 | 3 => Some(14),
            4 => Some(15),
            _ => None,
        }
    }

    /// dw4.
    pub fn input_length(&self) -> u32 {
        self.0[dw::INPUT_LENGTH]
    }

    /// dw14.
    pub fn dest_avail_out(&self) -> u32 {
        self.0[dw::DEST_AVAIL_OUT]
    }

    /// dw7 bit 25.
    pub fn flush(&self) -> bool {
        self.0[dw::DW7] & DW7_FLUSH != 0
    }

    /// dw7 bit 26.
    pub fn stream_mode(&self) -> bool {
        self.0[dw::DW7] & DW7_STREAM != 0
    }

    /// dw7 bit 27.
    pub fn new_stream(&self) -> bool {
        self.0[dw::DW7] & DW7_NEW_STREAM != 0
    }

    /// dw18/19.
    pub fn source_addr(&self) -> u64 {
        self.addr(dw::SOURCE_ADDR_L)
    }

    /// dw20/21.
    pub fn dest_addr(&self) -> u64 {
        self.addr(dw::DEST_ADDR_L)
    }

    /// dw22/23.
    pub fn stream_ctx_addr(&self) -> u64 {
        self.addr(dw::STREAM_CTX_ADDR_L)
    }
}

/// What the engine writes back into the SQE slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SqeResult {
    /// dw0.
    pub consumed: u32,
    /// dw1.
    pub produced: u32,
    /// dw3 bits 0–7.
    pub status: u8,
    /// dw3 bit 8.
    pub lstblk: bool,
    /// dw14: output space left (`dest_avail_out - produced`); `None` leaves
    /// it as submitted.
    pub dest_avail_out: Option<u32>,
    /// dw15 (stream mode only).
    pub ctx_dw0: Option<u32>,
    /// dw30 (zlib/gzip only).
    pub isize: Option<u32>,
    /// dw31 (zlib/gzip only).
    pub checksum: Option<u32>,
}

impl SqeResult {
    /// A result that only reports `status`.
    pub fn error(status: u8) -> SqeResult {
        SqeResult {
            status,
            ..SqeResult::default()
        }
    }

    /// The dword writes this result makes, as (dword index, value), with dw3
    /// last among the plain fields.
    pub fn writes(&self) -> Vec<(usize, u32)> {
        let mut w = vec![(dw::CONSUMED, self.consumed), (dw::PRODUCED, self.produced)];
        if let Some(v) = self.dest_avail_out {
            w.push((dw::DEST_AVAIL_OUT, v));
        }
        if let Some(v) = self.ctx_dw0 {
            w.push((dw::CTX_DW0, v));
        }
        if let Some(v) = self.isize {
            w.push((dw::ISIZE, v));
        }
        if let Some(v) = self.checksum {
            w.push((dw::CHECKSUM, v));
        }
        let dw3 = u32::from(self.status) | if self.lstblk { DW3_LSTBLK } else { 0 };
        w.push((dw::DW3, dw3));
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_decode_from_the_right_dwords() {
        let mut bytes = [0u8; SQE_SIZE];
        let put = |b: &mut [u8; SQE_SIZE], dw: usize, v: u32| {
            b[dw * 4..dw * 4 + 4].copy_from_slice(&v.to_le_bytes())
        };
        put(&mut bytes, 7, (3 << 28) | DW7_STREAM | DW7_FLUSH);
        put(&mut bytes, 9, 0x0103);
        put(&mut bytes, 18, 0x1000);
        put(&mut bytes, 19, 0x7f);
        put(&mut bytes, 22, 0xabc0);
        let s = Sqe::from_bytes(&bytes);
        assert_eq!(s.sqe_type(), 3);
        assert!(s.stream_mode() && s.flush() && !s.new_stream());
        assert_eq!((s.req_type(), s.buf_type()), (REQ_GZIP, 1));
        assert_eq!(s.source_addr(), 0x7f_0000_1000);
        assert_eq!(s.stream_ctx_addr(), 0xabc0);
    }

    #[test]
    fn result_writes_status_with_lstblk() {
        let r = SqeResult {
            status: status::DECOMPRESS_END,
            lstblk: true,
            ..SqeResult::default()
        };
        assert_eq!(r.writes().last(), Some(&(dw::DW3, 0x113)));
    }
}
