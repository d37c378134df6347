//! A ZIP channel: one started queue of one direction, its address space, and
//! the stream context buffer. It runs one request at a time, synchronously:
//! stage the buffers, build the descriptor, submit, wait, copy out.

use std::time::Duration;

use super::{CompressError, ExecPath};
use crate::device::DeviceInfo;
use crate::dma::{AddressSpace, DmaBuf, DmaConfig};
use crate::hisi::qm::{QmConfig, QmError, QmQueue};
use crate::hisi::zip::{
    Direction, MAX_REQUEST_INPUT, STREAM_CTX_OFFSET, STREAM_CTX_SIZE, SqeFormat, StreamState,
    ZipAlg, ZipRequest, ZipResult,
};
use crate::queue::Queue;

/// How long one request may take before it is declared lost.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Request sizes of a channel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Largest input of one request.
    pub input: usize,
    /// Output buffer of one request.
    pub output: usize,
}

pub(crate) struct ZipChannel {
    qm: QmQueue,
    space: AddressSpace,
    format: SqeFormat,
    ctx: DmaBuf,
    limits: Limits,
    timeout: Duration,
    path: ExecPath,
    device: String,
}

impl ZipChannel {
    /// Opens a queue of `direction` on `dev` for `alg` and sets it up.
    pub fn open(
        dev: &DeviceInfo,
        alg: ZipAlg,
        direction: Direction,
    ) -> Result<ZipChannel, CompressError> {
        let unsupported = || CompressError::Unsupported {
            device: dev.name.clone(),
            algorithm: alg.algorithm_name(),
            offered: dev.algorithms.join(", "),
        };
        let hw = dev.hw_version().ok_or_else(unsupported)?;
        if !dev.supports(alg.algorithm_name()) || !alg.supported_on(hw) {
            return Err(unsupported());
        }
        let format = SqeFormat::for_hw(hw);
        let mut queue = Queue::open(dev)?;
        let space = AddressSpace::new(&mut queue, &DmaConfig::default())?;
        let ctx = space.try_alloc_buf(STREAM_CTX_SIZE)?;
        let qm = QmQueue::new(
            queue,
            QmConfig::new(direction.qc_type(), format.tag_offset()),
        )?;
        // Zero-copy memory takes requests up to the hardware limit; bounced
        // memory one pool block at a time.
        let limits = if space.is_sva() {
            Limits {
                input: 1 << 20,
                output: 1 << 20,
            }
        } else {
            let block = space.chunk_limit();
            Limits {
                input: block.min(MAX_REQUEST_INPUT),
                output: block,
            }
        };
        let path = if dev.is_emulated() {
            ExecPath::Emulated
        } else {
            ExecPath::Hardware
        };
        Ok(ZipChannel {
            qm,
            space,
            format,
            ctx,
            limits,
            timeout: DEFAULT_TIMEOUT,
            path,
            device: dev.name.clone(),
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn path(&self) -> ExecPath {
        self.path
    }

    pub fn device(&self) -> &str {
        &self.device
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// A fresh stream state whose hardware context lives in this channel's
    /// context buffer.
    pub fn new_stream(&mut self) -> Result<StreamState, CompressError> {
        self.ctx.fill(0, STREAM_CTX_SIZE, 0)?;
        let ctx = self
            .ctx
            .dma_addr()
            .checked_add(STREAM_CTX_OFFSET)
            .ok_or(CompressError::Qm(QmError::Geometry {
                device: self.device.clone(),
                detail: "stream context address overflows".into(),
            }))?;
        Ok(StreamState::new(ctx))
    }

    /// Runs one request: the device reads `input` and writes at most
    /// `out.len()` bytes into `out`. On success the produced bytes are in
    /// `out[..result.produced]`.
    pub fn run(
        &mut self,
        alg: ZipAlg,
        input: &[u8],
        out: &mut [u8],
        stream: Option<StreamState>,
    ) -> Result<ZipResult, CompressError> {
        let capacity = out.len();
        let dst = self.space.stage_output(out)?;
        let src = if input.is_empty() {
            None
        } else {
            Some(self.space.stage_input(input)?)
        };
        // A zero-length source still needs a valid address: use the
        // destination's, as UADK does (abi.md §5 limits).
        let src_addr = src.as_ref().map_or(dst.dma_addr(), |s| s.dma_addr());
        let req = ZipRequest {
            alg,
            src: src_addr,
            src_len: input.len() as u32,
            dst: dst.dma_addr(),
            dst_len: capacity as u32,
            stream,
        };
        self.qm.submit(&req.encode(self.format))?;
        match self.qm.wait(self.timeout) {
            Ok(done) => {
                let result = ZipResult::decode(&done);
                let produced = (result.produced as usize).min(capacity);
                dst.finish(produced)?;
                drop(src);
                Ok(ZipResult {
                    produced: produced as u32,
                    ..result
                })
            }
            Err(e) => {
                // The device may still touch these buffers: never reuse them.
                dst.abandon();
                if let Some(s) = src {
                    s.abandon();
                }
                if matches!(e, QmError::Timeout { .. }) {
                    // A lost request leaves the ring out of step; start over.
                    let _ = self.qm.restart();
                }
                Err(e.into())
            }
        }
    }
}
