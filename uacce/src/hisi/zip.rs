//! HiSilicon ZIP descriptors: building the 128-byte SQE and reading results back
//! from the SQ slot (abi.md §5).
//!
//! Two generations of descriptor exist:
//! * hardware v2 (Kunpeng 920): `sqe_type` 0, tag in dw13, zlib and gzip only;
//! * hardware v3 and later: `sqe_type` 3, tag in dw26, plus raw deflate.
//!
//! The hardware produces deflate data (and, for zlib/gzip, the trailer on the
//! finishing request); software writes the zlib/gzip header. The queue's
//! direction is fixed by its `qc_type` (0 compress, 1 decompress).

use crate::device::HwVersion;
use crate::dma::DmaAddr;
use crate::hisi::qm::Completion;

/// ZIP SQE size in bytes.
pub const ZIP_SQE_SIZE: usize = 128;
/// Largest input of one request; larger inputs are split (abi.md §5 limits).
pub const MAX_REQUEST_INPUT: usize = 8 << 20;
/// Largest output buffer of one request.
pub const MAX_REQUEST_OUTPUT: usize = 8 << 20;
/// Size of the stream-mode context buffer UADK allocates per session; the
/// hardware context pointer is the buffer plus [`STREAM_CTX_OFFSET`].
pub const STREAM_CTX_SIZE: usize = 0x10000;
/// Offset of the hardware context inside the stream context buffer.
pub const STREAM_CTX_OFFSET: u64 = 64;

/// Dword indices of the ZIP SQE (abi.md §5).
pub mod dw {
    /// Input bytes consumed (out).
    pub const CONSUMED: usize = 0;
    /// Output bytes produced (out).
    pub const PRODUCED: usize = 1;
    /// Status (bits 0–7) and `lstblk` (bit 8) (out).
    pub const STATUS: usize = 3;
    /// Input length (in).
    pub const INPUT_LENGTH: usize = 4;
    /// Flags and `sqe_type` (in).
    pub const FLAGS: usize = 7;
    /// Request type, buffer type, window size (in).
    pub const REQ_TYPE: usize = 9;
    /// Tag of v2 descriptors.
    pub const TAG_V2: usize = 13;
    /// Output buffer size (in/out).
    pub const DEST_AVAIL_OUT: usize = 14;
    /// Stream context word 0 (in/out).
    pub const CTX_DW0: usize = 15;
    /// Source address, low and high.
    pub const SOURCE_ADDR: usize = 18;
    /// Destination address, low and high.
    pub const DEST_ADDR: usize = 20;
    /// Stream context address, low and high.
    pub const STREAM_CTX_ADDR: usize = 22;
    /// Tag of v3 descriptors.
    pub const TAG_V3: usize = 26;
    /// Stream context word 1 (in/out).
    pub const CTX_DW1: usize = 28;
    /// Stream context word 2 (in/out).
    pub const CTX_DW2: usize = 29;
    /// Running uncompressed size (in/out).
    pub const ISIZE: usize = 30;
    /// Running checksum (in/out).
    pub const CHECKSUM: usize = 31;
}

/// Bits of dw7.
pub mod flags {
    /// Bit 25: last request of the stream (finish).
    pub const FLUSH_LAST: u32 = 1 << 25;
    /// Bit 26: stream (stateful) mode.
    pub const STREAM_MODE: u32 = 1 << 26;
    /// Bit 27: first request of a stream.
    pub const STREAM_NEW: u32 = 1 << 27;
    /// Shift of the 4-bit `sqe_type`.
    pub const SQE_TYPE_SHIFT: u32 = 28;
}

/// Status codes in dw3 bits 0–7 (abi.md §5).
pub mod status {
    /// Success.
    pub const OK: u8 = 0x00;
    /// Negative compression (output ≥ input); treated as success.
    pub const NEGATIVE_COMPRESSION: u8 = 0x0d;
    /// Output buffer too small.
    pub const OUTPUT_FULL: u8 = 0x0e;
    /// Checksum (trailer) mismatch.
    pub const CRC_ERROR: u8 = 0x10;
    /// Decompression reached the end; with `lstblk` it is the end of stream.
    pub const DECOMP_END: u8 = 0x13;
    /// `lstblk` in dw3.
    pub const LAST_BLOCK_BIT: u32 = 1 << 8;
}

/// The deflate container the hardware handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZipAlg {
    /// Raw deflate (RFC 1951): hardware v3 and later only.
    Deflate,
    /// zlib (RFC 1950).
    Zlib,
    /// gzip (RFC 1952).
    Gzip,
}

impl ZipAlg {
    /// The request type in dw9 bits 0–7.
    pub fn req_type(self) -> u32 {
        match self {
            ZipAlg::Deflate => 0x01,
            ZipAlg::Zlib => 0x02,
            ZipAlg::Gzip => 0x03,
        }
    }

    /// The name in the device's `algorithms` attribute.
    pub fn algorithm_name(self) -> &'static str {
        match self {
            ZipAlg::Deflate => "deflate",
            ZipAlg::Zlib => "zlib",
            ZipAlg::Gzip => "gzip",
        }
    }

    /// Whether a device of generation `hw` can run it with these descriptors.
    pub fn supported_on(self, hw: HwVersion) -> bool {
        match self {
            ZipAlg::Deflate => hw >= HwVersion::V3,
            ZipAlg::Zlib | ZipAlg::Gzip => true,
        }
    }
}

/// The fixed direction of a ZIP queue (its `qc_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `qc_type` 0.
    Compress,
    /// `qc_type` 1.
    Decompress,
}

impl Direction {
    /// The `qc_type` for `SET_QP_CTX`.
    pub fn qc_type(self) -> u16 {
        match self {
            Direction::Compress => 0,
            Direction::Decompress => 1,
        }
    }
}

/// The descriptor layout of a hardware generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqeFormat {
    sqe_type: u32,
    tag_dword: usize,
}

impl SqeFormat {
    /// The layout hardware `hw` takes: type 0 / dw13 on v1 and v2, type 3 / dw26 after.
    pub fn for_hw(hw: HwVersion) -> SqeFormat {
        if hw <= HwVersion::V2 {
            SqeFormat {
                sqe_type: 0,
                tag_dword: dw::TAG_V2,
            }
        } else {
            SqeFormat {
                sqe_type: 3,
                tag_dword: dw::TAG_V3,
            }
        }
    }

    /// Byte offset of the tag (for [`crate::hisi::qm::QmConfig::tag_offset`]).
    pub fn tag_offset(self) -> usize {
        self.tag_dword * 4
    }

    /// The `sqe_type` field.
    pub fn sqe_type(self) -> u32 {
        self.sqe_type
    }
}

/// Stream (stateful) mode fields of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamState {
    /// The hardware context (context buffer + 64).
    pub ctx: DmaAddr,
    /// First request of the stream.
    pub first: bool,
    /// Last request of the stream.
    pub last: bool,
    /// Context words 0–2 as the previous completion left them.
    pub ctx_dw: [u32; 3],
    /// Running uncompressed size.
    pub isize: u32,
    /// Running checksum.
    pub checksum: u32,
}

impl StreamState {
    /// The state of a new stream whose hardware context lives at `ctx`.
    pub fn new(ctx: DmaAddr) -> StreamState {
        StreamState {
            ctx,
            first: true,
            last: false,
            ctx_dw: [0; 3],
            isize: 0,
            checksum: 0,
        }
    }

    /// Carries the context words and running values of `result` into the
    /// next request of the stream.
    pub fn advance(&mut self, result: &ZipResult) {
        self.first = false;
        self.ctx_dw = result.ctx_dw;
        self.isize = result.isize;
        self.checksum = result.checksum;
    }
}

/// One ZIP request, ready to become an SQE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipRequest {
    /// Container.
    pub alg: ZipAlg,
    /// Input.
    pub src: DmaAddr,
    /// Input length (≤ 8 MiB).
    pub src_len: u32,
    /// Output buffer.
    pub dst: DmaAddr,
    /// Output buffer size.
    pub dst_len: u32,
    /// `None`: block mode (one whole stream). `Some`: stream mode.
    pub stream: Option<StreamState>,
}

impl ZipRequest {
    /// Encodes the SQE for `format`. The tag is left 0; the queue driver fills it.
    pub fn encode(&self, format: SqeFormat) -> [u8; ZIP_SQE_SIZE] {
        let mut d = [0u32; ZIP_SQE_SIZE / 4];
        d[dw::INPUT_LENGTH] = self.src_len;
        let mut f = format.sqe_type << flags::SQE_TYPE_SHIFT;
        match &self.stream {
            None => f |= flags::STREAM_NEW | flags::FLUSH_LAST,
            Some(s) => {
                f |= flags::STREAM_MODE;
                if s.first {
                    f |= flags::STREAM_NEW;
                }
                if s.last {
                    f |= flags::FLUSH_LAST;
                }
                d[dw::CTX_DW0] = s.ctx_dw[0];
                d[dw::CTX_DW1] = s.ctx_dw[1];
                d[dw::CTX_DW2] = s.ctx_dw[2];
                d[dw::ISIZE] = s.isize;
                d[dw::CHECKSUM] = s.checksum;
                split(&mut d, dw::STREAM_CTX_ADDR, s.ctx.get());
            }
        }
        d[dw::FLAGS] = f;
        // Flat buffers (type 0), 32 KiB window (code 4).
        d[dw::REQ_TYPE] = self.alg.req_type() | (4 << 12);
        d[dw::DEST_AVAIL_OUT] = self.dst_len;
        split(&mut d, dw::SOURCE_ADDR, self.src.get());
        split(&mut d, dw::DEST_ADDR, self.dst.get());
        let mut out = [0u8; ZIP_SQE_SIZE];
        for (chunk, word) in out.chunks_exact_mut(4).zip(d) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out
    }
}

fn split(d: &mut [u32], index: usize, addr: u64) {
    d[index] = addr as u32;
    d[index + 1] = (addr >> 32) as u32;
}

/// What the device reported for one request, read back from the SQ slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipResult {
    /// dw3 bits 0–7.
    pub status: u8,
    /// dw3 bit 8: the last deflate block was seen.
    pub last_block: bool,
    /// Input bytes consumed.
    pub consumed: u32,
    /// Output bytes produced.
    pub produced: u32,
    /// Context words 0–2.
    pub ctx_dw: [u32; 3],
    /// Running uncompressed size.
    pub isize: u32,
    /// Running checksum.
    pub checksum: u32,
}

impl ZipResult {
    /// Reads the results out of a completion.
    pub fn decode(done: &Completion) -> ZipResult {
        let dw3 = done.dword(dw::STATUS);
        ZipResult {
            status: (dw3 & 0xff) as u8,
            last_block: dw3 & status::LAST_BLOCK_BIT != 0,
            consumed: done.dword(dw::CONSUMED),
            produced: done.dword(dw::PRODUCED),
            ctx_dw: [
                done.dword(dw::CTX_DW0),
                done.dword(dw::CTX_DW1),
                done.dword(dw::CTX_DW2),
            ],
            isize: done.dword(dw::ISIZE),
            checksum: done.dword(dw::CHECKSUM),
        }
    }

    /// What the status means for the caller.
    pub fn outcome(&self) -> Outcome {
        match self.status {
            status::OK | status::NEGATIVE_COMPRESSION => Outcome::Done,
            status::OUTPUT_FULL => Outcome::OutputFull,
            status::DECOMP_END if self.last_block => Outcome::EndOfStream,
            status::DECOMP_END => Outcome::Done,
            status::CRC_ERROR => Outcome::ChecksumMismatch,
            other => Outcome::Error(other),
        }
    }
}

/// The meaning of a ZIP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The request finished (status 0, or 0x0D negative compression).
    Done,
    /// The output buffer filled up; `consumed`/`produced` say how far it got.
    OutputFull,
    /// Decompression reached the end of the stream (0x13 with `lstblk`).
    EndOfStream,
    /// The trailer's checksum or length did not match (0x10).
    ChecksumMismatch,
    /// Any other status: malformed input or a device fault.
    Error(u8),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hisi::qm::MAX_SQE_SIZE;

    fn word(sqe: &[u8; 128], i: usize) -> u32 {
        u32::from_le_bytes(sqe[i * 4..i * 4 + 4].try_into().unwrap())
    }

    #[test]
    fn formats_per_generation() {
        let v2 = SqeFormat::for_hw(HwVersion::V2);
        assert_eq!((v2.sqe_type(), v2.tag_offset()), (0, 0x34));
        let v3 = SqeFormat::for_hw(HwVersion::V3);
        assert_eq!((v3.sqe_type(), v3.tag_offset()), (3, 0x68));
        assert_eq!(SqeFormat::for_hw(HwVersion::V5), v3);
        assert!(!ZipAlg::Deflate.supported_on(HwVersion::V2));
        assert!(ZipAlg::Deflate.supported_on(HwVersion::V3));
        assert!(ZipAlg::Gzip.supported_on(HwVersion::V2));
        assert_eq!(Direction::Decompress.qc_type(), 1);
    }

    #[test]
    fn block_mode_encoding() {
        let req = ZipRequest {
            alg: ZipAlg::Gzip,
            src: DmaAddr::new(0x1_2345_6000),
            src_len: 4096,
            dst: DmaAddr::new(0xffff_0000_0000_1000),
            dst_len: 8192,
            stream: None,
        };
        let s = req.encode(SqeFormat::for_hw(HwVersion::V2));
        assert_eq!(word(&s, 4), 4096);
        assert_eq!(word(&s, 7), (1 << 27) | (1 << 25));
        assert_eq!(word(&s, 9) & 0xff, 0x03);
        assert_eq!((word(&s, 9) >> 8) & 0xf, 0, "flat buffers");
        assert_eq!(word(&s, 14), 8192);
        assert_eq!((word(&s, 18), word(&s, 19)), (0x2345_6000, 0x1));
        assert_eq!((word(&s, 20), word(&s, 21)), (0x1000, 0xffff_0000));
        assert_eq!((word(&s, 22), word(&s, 23)), (0, 0));
        let s3 = req.encode(SqeFormat::for_hw(HwVersion::V3));
        assert_eq!(word(&s3, 7) >> 28, 3);
    }

    #[test]
    fn stream_mode_encoding_and_results() {
        let mut st = StreamState::new(DmaAddr::new(0x8000_0040));
        let mut req = ZipRequest {
            alg: ZipAlg::Zlib,
            src: DmaAddr::new(0x1000),
            src_len: 10,
            dst: DmaAddr::new(0x2000),
            dst_len: 20,
            stream: Some(st),
        };
        let s = req.encode(SqeFormat::for_hw(HwVersion::V2));
        assert_eq!(word(&s, 7), (1 << 26) | (1 << 27));
        assert_eq!(word(&s, 22), 0x8000_0040);

        let mut sqe = [0u8; MAX_SQE_SIZE];
        let put = |sqe: &mut [u8; 128], i: usize, v: u32| {
            sqe[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes())
        };
        put(&mut sqe, 0, 10);
        put(&mut sqe, 1, 7);
        put(&mut sqe, 3, 0x13 | (1 << 8));
        put(&mut sqe, 15, 0xab);
        put(&mut sqe, 30, 10);
        put(&mut sqe, 31, 0xdead_beef);
        let r = ZipResult::decode(&Completion {
            slot: 0,
            tag: 0,
            sqe,
        });
        assert_eq!(
            (r.consumed, r.produced, r.status, r.last_block),
            (10, 7, 0x13, true)
        );
        assert_eq!(r.outcome(), Outcome::EndOfStream);
        st.advance(&r);
        st.last = true;
        req.stream = Some(st);
        let s = req.encode(SqeFormat::for_hw(HwVersion::V2));
        assert_eq!(word(&s, 7), (1 << 26) | (1 << 25));
        assert_eq!(
            (word(&s, 15), word(&s, 30), word(&s, 31)),
            (0xab, 10, 0xdead_beef)
        );
    }

    #[test]
    fn status_meanings() {
        let r = |status, last_block| ZipResult {
            status,
            last_block,
            consumed: 0,
            produced: 0,
            ctx_dw: [0; 3],
            isize: 0,
            checksum: 0,
        };
        assert_eq!(r(0, false).outcome(), Outcome::Done);
        assert_eq!(r(0x0d, false).outcome(), Outcome::Done);
        assert_eq!(r(0x0e, false).outcome(), Outcome::OutputFull);
        assert_eq!(r(0x13, true).outcome(), Outcome::EndOfStream);
        assert_eq!(r(0x10, false).outcome(), Outcome::ChecksumMismatch);
        assert_eq!(r(0x05, false).outcome(), Outcome::Error(5));
    }
}
