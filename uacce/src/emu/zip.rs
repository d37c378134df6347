//! The ZIP engine: what the device does with one fetched SQE (abi.md §5).
//!
//! The device produces and consumes raw deflate data with `flate2`; for zlib
//! and gzip it also produces the trailer on the finishing request and checks
//! it after the final block on decompression. Headers are software's job.
//! See the module documentation of [`crate::emu`] for the exact contract.

use std::cell::RefCell;
use std::collections::HashMap;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use parking_lot::Mutex;

use super::config::ZipVersion;
use super::dma::DmaSpace;
use super::sqe::{
    CTX_ST_NO_SPACE, MAX_INPUT, MAX_OUTPUT, REQ_DEFLATE, REQ_GZIP, REQ_ZLIB, Sqe, SqeResult, status,
};

/// Bytes at the start of a stream context buffer that the device owns: an
/// 8-byte magic and an 8-byte stream token, written at the first request of a
/// stream and checked at every later one.
pub const CTX_RECORD_LEN: usize = 16;
const CTX_MAGIC: &[u8; 8] = b"EMUZCTX\0";
/// Most streams one queue may have open at once.
pub const MAX_OPEN_STREAMS: usize = 4096;

/// The queue direction fixed at START by `qc_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `qc_type` 0.
    Compress,
    /// `qc_type` 1.
    Decompress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alg {
    Deflate,
    Zlib,
    Gzip,
}

impl Alg {
    fn from_req(req: u8, version: ZipVersion) -> Option<Alg> {
        match (req, version) {
            (REQ_ZLIB, _) => Some(Alg::Zlib),
            (REQ_GZIP, _) => Some(Alg::Gzip),
            (REQ_DEFLATE, ZipVersion::V3) => Some(Alg::Deflate),
            _ => None,
        }
    }

    fn trailer_len(self) -> usize {
        match self {
            Alg::Deflate => 0,
            Alg::Zlib => 4,
            Alg::Gzip => 8,
        }
    }
}

/// Running checksum and size of the uncompressed data.
#[derive(Clone)]
struct Check {
    alg: Alg,
    adler: adler2::Adler32,
    crc: crc32fast::Hasher,
    isize: u32,
}

impl Check {
    fn new(alg: Alg) -> Check {
        Check {
            alg,
            adler: adler2::Adler32::new(),
            crc: crc32fast::Hasher::new(),
            isize: 0,
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self.alg {
            Alg::Deflate => {}
            Alg::Zlib => self.adler.write_slice(data),
            Alg::Gzip => self.crc.update(data),
        }
        self.isize = self.isize.wrapping_add(data.len() as u32);
    }

    fn checksum(&self) -> u32 {
        match self.alg {
            Alg::Deflate => 0,
            Alg::Zlib => self.adler.checksum(),
            Alg::Gzip => self.crc.clone().finalize(),
        }
    }

    fn trailer(&self) -> Vec<u8> {
        match self.alg {
            Alg::Deflate => Vec::new(),
            Alg::Zlib => self.checksum().to_be_bytes().to_vec(),
            Alg::Gzip => {
                let mut t = self.checksum().to_le_bytes().to_vec();
                t.extend_from_slice(&self.isize.to_le_bytes());
                t
            }
        }
    }

    /// Writes dw30/dw31 for zlib and gzip.
    fn report(&self, r: &mut SqeResult) {
        if self.alg != Alg::Deflate {
            r.isize = Some(self.isize);
            r.checksum = Some(self.checksum());
        }
    }
}

enum Engine {
    Deflate {
        c: Box<Compress>,
        finishing: bool,
        trailer: Option<Vec<u8>>,
    },
    Inflate {
        d: Box<Decompress>,
        trailer: Option<Vec<u8>>,
    },
}

/// One open stream, keyed by its context address.
struct Stream {
    alg: Alg,
    token: u64,
    check: Check,
    engine: Engine,
}

/// The open streams of one queue.
#[derive(Default)]
pub(crate) struct StreamTable {
    streams: Mutex<HashMap<u64, Stream>>,
    next_token: Mutex<u64>,
}

impl StreamTable {
    /// Forgets every stream (queue restarted).
    pub fn clear(&self) {
        self.streams.lock().clear();
    }
}

/// What the engine needs to know about the queue.
pub(crate) struct Env<'a> {
    pub version: ZipVersion,
    pub direction: Direction,
    pub dma: &'a DmaSpace,
    pub streams: &'a StreamTable,
}

/// Runs one SQE and returns what goes back into its slot.
pub(crate) fn execute(sqe: &Sqe, env: &Env<'_>) -> SqeResult {
    if sqe.sqe_type() != env.version.sqe_type() {
        return SqeResult::error(status::BAD_SQE_TYPE);
    }
    let Some(alg) = Alg::from_req(sqe.req_type(), env.version) else {
        return SqeResult::error(status::BAD_ALGORITHM);
    };
    let Some(window_bits) = sqe.window_bits() else {
        return SqeResult::error(status::UNSUPPORTED);
    };
    if sqe.buf_type() != 0 {
        return SqeResult::error(status::UNSUPPORTED);
    }
    let in_len = sqe.input_length();
    if in_len > MAX_INPUT {
        return SqeResult::error(status::BAD_LENGTH);
    }
    let avail_in_sqe = sqe.dest_avail_out();
    let avail = avail_in_sqe.min(MAX_OUTPUT) as usize;
    // The engine's staging memory is reused across requests (like on-chip
    // buffers): allocating and zeroing up to 8 MiB per request would cost more
    // than compressing a small one.
    SCRATCH.with(|cell| {
        let mut scratch = cell.borrow_mut();
        let (input, out) = &mut *scratch;
        grow(input, in_len as usize);
        grow(out, avail);
        run_with(
            sqe,
            env,
            alg,
            window_bits,
            &mut input[..in_len as usize],
            &mut out[..avail],
            avail_in_sqe,
        )
    })
}

thread_local! {
    static SCRATCH: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

fn grow(buf: &mut Vec<u8>, len: usize) {
    if buf.len() < len {
        buf.resize(len, 0);
    }
}

fn run_with(
    sqe: &Sqe,
    env: &Env<'_>,
    alg: Alg,
    window_bits: u8,
    input: &mut [u8],
    out: &mut [u8],
    avail_in_sqe: u32,
) -> SqeResult {
    if env.dma.read(sqe.source_addr(), input).is_err() {
        return SqeResult::error(status::DMA_FAULT);
    }
    if env.dma.check_writable(sqe.dest_addr(), out.len()).is_err() {
        return SqeResult::error(status::DMA_FAULT);
    }
    let input: &[u8] = input;
    let mut result = if sqe.stream_mode() {
        stream(sqe, env, alg, window_bits, input, out)
    } else {
        match env.direction {
            Direction::Compress => compress_block(alg, window_bits, input, out),
            Direction::Decompress => decompress_block(alg, input, out),
        }
    };
    let produced = result.produced as usize;
    if produced > 0 && env.dma.write(sqe.dest_addr(), &out[..produced]).is_err() {
        if sqe.stream_mode() {
            env.streams.streams.lock().remove(&sqe.stream_ctx_addr());
        }
        return SqeResult::error(status::DMA_FAULT);
    }
    result.dest_avail_out = Some(avail_in_sqe - result.produced);
    result
}

/// A raw-deflate compressor with a `window_bits` window (12..=15).
fn deflater(window_bits: u8) -> Box<Compress> {
    Box::new(Compress::new_with_window_bits(
        Compression::default(),
        false,
        window_bits,
    ))
}

thread_local! {
    // Block-mode engines of this engine thread, reset between requests:
    // setting up a deflate state costs more than a small request.
    // One per window size code 12..=15.
    static BLOCK_DEFLATER: RefCell<[Option<Box<Compress>>; 4]> = const { RefCell::new([None, None, None, None]) };
    static BLOCK_INFLATER: RefCell<Option<Box<Decompress>>> = const { RefCell::new(None) };
}

fn compress_block(alg: Alg, window_bits: u8, input: &[u8], out: &mut [u8]) -> SqeResult {
    BLOCK_DEFLATER.with(|cell| {
        let mut cache = cell.borrow_mut();
        let c = cache[usize::from(window_bits.clamp(12, 15) - 12)]
            .get_or_insert_with(|| deflater(window_bits));
        c.reset();
        compress_block_with(c, alg, input, out)
    })
}

fn compress_block_with(c: &mut Compress, alg: Alg, input: &[u8], out: &mut [u8]) -> SqeResult {
    let mut r = SqeResult::default();
    let st = c.compress(input, out, FlushCompress::Finish);
    let consumed = c.total_in() as usize;
    let mut produced = c.total_out() as usize;
    let mut check = Check::new(alg);
    check.update(&input[..consumed]);
    r.consumed = consumed as u32;
    let ended = matches!(st, Ok(Status::StreamEnd));
    let trailer = check.trailer();
    if ended && out.len() - produced >= trailer.len() {
        out[produced..produced + trailer.len()].copy_from_slice(&trailer);
        produced += trailer.len();
        r.status = if produced >= consumed {
            status::NEGATIVE_COMPRESSION
        } else {
            status::OK
        };
    } else {
        r.status = status::OUTPUT_FULL;
    }
    r.produced = produced as u32;
    check.report(&mut r);
    r
}

fn decompress_block(alg: Alg, input: &[u8], out: &mut [u8]) -> SqeResult {
    BLOCK_INFLATER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let d = slot.get_or_insert_with(|| Box::new(Decompress::new(false)));
        d.reset(false);
        decompress_block_with(d, alg, input, out)
    })
}

fn decompress_block_with(d: &mut Decompress, alg: Alg, input: &[u8], out: &mut [u8]) -> SqeResult {
    let mut r = SqeResult::default();
    let st = d.decompress(input, out, FlushDecompress::Finish);
    let body = d.total_in() as usize;
    let produced = d.total_out() as usize;
    let mut check = Check::new(alg);
    check.update(&out[..produced]);
    r.produced = produced as u32;
    r.consumed = body as u32;
    check.report(&mut r);
    match st {
        Err(_) => r.status = status::BAD_DATA,
        Ok(Status::StreamEnd) => {
            let tlen = alg.trailer_len();
            match input.get(body..body + tlen) {
                None => r.status = status::TRUNCATED,
                Some(t) => {
                    r.consumed = (body + tlen) as u32;
                    r.lstblk = true;
                    r.status = if t == check.trailer().as_slice() {
                        status::DECOMPRESS_END
                    } else {
                        status::CHECKSUM_MISMATCH
                    };
                }
            }
        }
        Ok(_) if produced == out.len() => r.status = status::OUTPUT_FULL,
        Ok(_) => r.status = status::TRUNCATED,
    }
    r
}

/// Touches the context buffer through the checked DMA path: writes the
/// device's record for a new stream, checks it for a continuing one.
fn touch_ctx(env: &Env<'_>, addr: u64, token: u64, new: bool) -> Result<(), u8> {
    let mut record = [0u8; CTX_RECORD_LEN];
    env.dma
        .read(addr, &mut record)
        .map_err(|_| status::DMA_FAULT)?;
    let mut mine = [0u8; CTX_RECORD_LEN];
    mine[..8].copy_from_slice(CTX_MAGIC);
    mine[8..].copy_from_slice(&token.to_le_bytes());
    if new {
        env.dma.write(addr, &mine).map_err(|_| status::DMA_FAULT)
    } else if record == mine {
        Ok(())
    } else {
        Err(status::BAD_CONTEXT)
    }
}

fn stream(
    sqe: &Sqe,
    env: &Env<'_>,
    alg: Alg,
    window_bits: u8,
    input: &[u8],
    out: &mut [u8],
) -> SqeResult {
    let addr = sqe.stream_ctx_addr();
    let mut table = env.streams.streams.lock();
    let mut s = if sqe.new_stream() {
        table.remove(&addr);
        if table.len() >= MAX_OPEN_STREAMS {
            return SqeResult::error(status::BAD_CONTEXT);
        }
        let token = {
            let mut t = env.streams.next_token.lock();
            *t += 1;
            *t
        };
        if let Err(st) = touch_ctx(env, addr, token, true) {
            return SqeResult::error(st);
        }
        let engine = match env.direction {
            Direction::Compress => Engine::Deflate {
                c: deflater(window_bits),
                finishing: false,
                trailer: None,
            },
            Direction::Decompress => Engine::Inflate {
                d: Box::new(Decompress::new(false)),
                trailer: None,
            },
        };
        Stream {
            alg,
            token,
            check: Check::new(alg),
            engine,
        }
    } else {
        let Some(s) = table.remove(&addr) else {
            return SqeResult::error(status::BAD_CONTEXT);
        };
        if s.alg != alg {
            return SqeResult::error(status::BAD_CONTEXT);
        }
        if let Err(st) = touch_ctx(env, addr, s.token, false) {
            return SqeResult::error(st);
        }
        s
    };
    let (r, done) = match &mut s.engine {
        Engine::Deflate {
            c,
            finishing,
            trailer,
        } => stream_compress(c, finishing, trailer, &mut s.check, sqe.flush(), input, out),
        Engine::Inflate { d, trailer } => {
            stream_decompress(d, trailer, &mut s.check, alg, input, out)
        }
    };
    let broken = !matches!(r.status, status::OK | status::OUTPUT_FULL);
    if !done && !broken {
        table.insert(addr, s);
    }
    r
}

/// One stream-mode compression request. Returns the result and whether the
/// stream is finished.
fn stream_compress(
    c: &mut Compress,
    finishing: &mut bool,
    trailer: &mut Option<Vec<u8>>,
    check: &mut Check,
    flush: bool,
    input: &[u8],
    out: &mut [u8],
) -> (SqeResult, bool) {
    let mut r = SqeResult::default();
    let mut produced = 0usize;
    if trailer.is_none() {
        // Once a finishing request was seen, zlib must keep finishing.
        *finishing |= flush;
        let mode = if *finishing {
            FlushCompress::Finish
        } else {
            FlushCompress::Sync
        };
        let (in0, out0) = (c.total_in(), c.total_out());
        let st = c.compress(input, out, mode);
        let consumed = (c.total_in() - in0) as usize;
        produced = (c.total_out() - out0) as usize;
        check.update(&input[..consumed]);
        r.consumed = consumed as u32;
        match st {
            Err(_) => {
                r.status = status::BAD_CONTEXT;
                return (r, true);
            }
            Ok(Status::StreamEnd) => *trailer = Some(check.trailer()),
            Ok(_) => {}
        }
    }
    if let Some(t) = trailer.as_mut() {
        let n = t.len().min(out.len() - produced);
        out[produced..produced + n].copy_from_slice(&t[..n]);
        t.drain(..n);
        produced += n;
    }
    r.produced = produced as u32;
    check.report(&mut r);
    let done = trailer.as_ref().is_some_and(|t| t.is_empty());
    r.status = if done {
        status::OK
    } else if (r.consumed as usize) < input.len() || produced == out.len() || *finishing {
        // Output full (or the finishing request still has output to give):
        // resubmit the rest of the input with fresh output space.
        status::OUTPUT_FULL
    } else {
        status::OK
    };
    (r, done)
}

/// One stream-mode decompression request.
fn stream_decompress(
    d: &mut Decompress,
    trailer: &mut Option<Vec<u8>>,
    check: &mut Check,
    alg: Alg,
    input: &[u8],
    out: &mut [u8],
) -> (SqeResult, bool) {
    let mut r = SqeResult {
        ctx_dw0: Some(0),
        ..SqeResult::default()
    };
    let mut consumed = 0usize;
    let mut produced = 0usize;
    if trailer.is_none() {
        let (in0, out0) = (d.total_in(), d.total_out());
        let st = d.decompress(input, out, FlushDecompress::None);
        consumed = (d.total_in() - in0) as usize;
        produced = (d.total_out() - out0) as usize;
        check.update(&out[..produced]);
        match st {
            Err(_) => {
                r.status = status::BAD_DATA;
                r.consumed = consumed as u32;
                r.produced = produced as u32;
                return (r, true);
            }
            Ok(Status::StreamEnd) => *trailer = Some(Vec::with_capacity(alg.trailer_len())),
            Ok(_) => {}
        }
    }
    let mut done = false;
    if let Some(t) = trailer.as_mut() {
        let want = alg.trailer_len() - t.len();
        let take = want.min(input.len() - consumed);
        t.extend_from_slice(&input[consumed..consumed + take]);
        consumed += take;
        if t.len() == alg.trailer_len() {
            done = true;
            r.lstblk = true;
            r.status = if *t == check.trailer() {
                status::DECOMPRESS_END
            } else {
                status::CHECKSUM_MISMATCH
            };
        }
    }
    r.consumed = consumed as u32;
    r.produced = produced as u32;
    check.report(&mut r);
    if !done && trailer.is_none() && produced == out.len() {
        r.status = status::OUTPUT_FULL;
        r.ctx_dw0 = Some(CTX_ST_NO_SPACE);
    }
    (r, done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn env<'a>(dir: Direction, version: ZipVersion, streams: &'a StreamTable) -> Env<'a> {
        Env {
            version,
            direction: dir,
            dma: &DmaSpace::Sva,
            streams,
        }
    }

    #[test]
    fn block_zlib_body_plus_header_is_a_zlib_stream() {
        let data = b"hello hello hello hello emulator".repeat(20);
        let mut out = vec![0u8; 4096];
        let r = compress_block(Alg::Zlib, 15, &data, &mut out);
        assert_eq!(r.status, status::OK);
        assert_eq!(r.consumed as usize, data.len());
        let mut stream = vec![0x78, 0x9c];
        stream.extend_from_slice(&out[..r.produced as usize]);
        let mut back = Vec::new();
        flate2::read::ZlibDecoder::new(&stream[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        assert_eq!(r.isize, Some(data.len() as u32));

        let mut plain = vec![0u8; data.len()];
        let d = decompress_block(Alg::Zlib, &stream[2..], &mut plain);
        assert_eq!((d.status, d.lstblk), (status::DECOMPRESS_END, true));
        assert_eq!(&plain[..d.produced as usize], &data[..]);
        assert_eq!(d.consumed as usize, stream.len() - 2);
    }

    #[test]
    fn block_statuses() {
        let data = vec![7u8; 10000];
        let mut tiny = vec![0u8; 4];
        assert_eq!(
            compress_block(Alg::Gzip, 15, &data, &mut tiny).status,
            status::OUTPUT_FULL
        );
        let mut out = vec![0u8; 100];
        // one byte compresses to more than one byte
        assert_eq!(
            compress_block(Alg::Gzip, 15, b"x", &mut out).status,
            status::NEGATIVE_COMPRESSION
        );
        let r = compress_block(Alg::Gzip, 15, &data, &mut out);
        let mut gz = out[..r.produced as usize].to_vec();
        let mut plain = vec![0u8; 20000];
        assert_eq!(
            decompress_block(Alg::Gzip, &gz[..gz.len() - 3], &mut plain).status,
            status::TRUNCATED
        );
        let n = gz.len();
        gz[n - 1] ^= 1; // ISIZE
        assert_eq!(
            decompress_block(Alg::Gzip, &gz, &mut plain).status,
            status::CHECKSUM_MISMATCH
        );
        assert_eq!(
            decompress_block(Alg::Gzip, &[0xff; 16], &mut plain).status,
            status::BAD_DATA
        );
        let mut small = vec![0u8; 100];
        gz[n - 1] ^= 1;
        assert_eq!(
            decompress_block(Alg::Gzip, &gz, &mut small).status,
            status::OUTPUT_FULL
        );
    }

    #[test]
    fn generation_checks() {
        let t = StreamTable::default();
        let mut s = Sqe([0; 32]);
        s.0[9] = u32::from(REQ_DEFLATE);
        assert_eq!(
            execute(&s, &env(Direction::Compress, ZipVersion::V2, &t)).status,
            status::BAD_ALGORITHM
        );
        s.0[7] = 3 << 28;
        assert_eq!(
            execute(&s, &env(Direction::Compress, ZipVersion::V2, &t)).status,
            status::BAD_SQE_TYPE
        );
        s.0[4] = MAX_INPUT + 1;
        assert_eq!(
            execute(&s, &env(Direction::Compress, ZipVersion::V3, &t)).status,
            status::BAD_LENGTH
        );
    }
}
