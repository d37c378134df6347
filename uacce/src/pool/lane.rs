//! A lane: one started ZIP queue of one direction, its DMA memory, and the
//! requests it has in flight (in submission order: the QM completes in order).
//!
//! The lane's state sits behind a `parking_lot::Mutex` that the hot path only
//! ever `try_lock`s: a submitter that finds the lane taken moves on to another
//! lane, a waiter that finds it taken lets the holder reap for it. Only
//! recovery (a timed-out or failed queue) and pool teardown block on it.

use std::collections::VecDeque;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard};

use super::error::PoolError;
use super::job::{Job, JobOutput, Op};
use super::stats::Counters;
use super::ticket::{Cell, Delivery};
use crate::comp::header::{self, Parsed};
use crate::comp::{CompressError, ExecPath, Format};
use crate::device::DeviceInfo;
use crate::dma::{AddressSpace, DmaBuf, DmaConfig, DmaError};
use crate::hisi::qm::{QmConfig, QmError, QmQueue, WaitMode};
use crate::hisi::zip::{Direction, Outcome, SqeFormat, ZipRequest, ZipResult};
use crate::queue::Queue;

/// Worst-case deflate output for `n` input bytes in one request plus a trailer.
pub(crate) fn compress_bound(n: usize) -> usize {
    n + (n >> 12) + (n >> 14) + (n >> 25) + 13 + 8
}

/// The largest input whose worst-case compressed form fits `block` bytes.
pub(crate) fn max_input_for(block: usize) -> usize {
    let mut n = block;
    while n > 0 && compress_bound(n) > block {
        n -= 1;
    }
    n
}

struct InFlight {
    tag: u32,
    src: Option<DmaBuf>,
    dst: DmaBuf,
    /// Decompression: header bytes skipped in software.
    header_len: usize,
    submitted: Instant,
    job: Job,
    cell: Arc<Cell>,
}

struct LaneState {
    qm: QmQueue,
    space: AddressSpace,
    format: SqeFormat,
    pending: VecDeque<InFlight>,
    /// Buffers of requests lost in a restart: the device might still write
    /// them, so they are never reused.
    quarantine: Vec<DmaBuf>,
}

impl Drop for LaneState {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            // Stop the device before the buffers of unfinished requests go.
            let _ = self.qm.queue_mut().put();
        }
    }
}

/// Why a lane did not take a request.
pub(crate) enum Refusal {
    /// Taken by another thread, full, or out of DMA memory: try another lane.
    Busy(Job),
    /// The queue failed; the request belongs elsewhere.
    Failed(Job, PoolError),
    /// The request is invalid (bad header): fail it.
    Invalid(PoolError),
}

/// One queue of the pool.
pub(crate) struct Lane {
    pub op: Op,
    pub device: String,
    pub path: ExecPath,
    pub numa_node: Option<u32>,
    formats: [bool; 3],
    /// Requests in flight, readable without the lock (load balancing).
    pub in_flight: AtomicUsize,
    /// Requests this lane keeps in flight at most.
    pub depth: usize,
    /// Set when the queue failed and could not be restarted.
    pub broken: AtomicBool,
    /// Largest compression input / decompression member of one request.
    pub max_input: usize,
    block: usize,
    wait_mode: WaitMode,
    timeout: Duration,
    fd: OwnedFd,
    state: Mutex<LaneState>,
    pub counters: Counters,
}

fn format_index(f: Format) -> usize {
    match f {
        Format::Deflate => 0,
        Format::Zlib => 1,
        Format::Gzip => 2,
    }
}

impl Lane {
    /// Opens and starts a queue of direction `op` on `dev`.
    pub fn open(
        dev: &DeviceInfo,
        op: Op,
        depth: usize,
        dma: &DmaConfig,
        wait_mode: WaitMode,
        timeout: Duration,
    ) -> Result<Lane, CompressError> {
        let hw = dev.hw_version().ok_or_else(|| CompressError::Unsupported {
            device: dev.name.clone(),
            algorithm: "zlib/gzip/deflate",
            offered: dev.algorithms.join(", "),
        })?;
        let mut formats = [false; 3];
        for f in [Format::Deflate, Format::Zlib, Format::Gzip] {
            formats[format_index(f)] = dev.supports(f.algorithm()) && f.zip_alg().supported_on(hw);
        }
        let format = SqeFormat::for_hw(hw);
        let mut queue = Queue::open(dev)?;
        let space = AddressSpace::new(&mut queue, dma)?;
        let direction = match op {
            Op::Compress => Direction::Compress,
            Op::Decompress => Direction::Decompress,
        };
        let mut config = QmConfig::new(direction.qc_type(), format.tag_offset());
        config.wait_mode = wait_mode;
        let qm = QmQueue::new(queue, config)?;
        let fd = qm
            .queue()
            .poll_fd()
            .try_clone_to_owned()
            .map_err(CompressError::Io)?;
        let block = space.chunk_limit();
        // Every request in flight holds an input and an output block.
        let blocks = dma.memory_len / block.max(1);
        let depth = depth.clamp(1, qm.capacity()).min((blocks / 2).max(1));
        Ok(Lane {
            op,
            device: dev.name.clone(),
            path: if dev.is_emulated() {
                ExecPath::Emulated
            } else {
                ExecPath::Hardware
            },
            numa_node: dev.numa_node,
            formats,
            in_flight: AtomicUsize::new(0),
            depth,
            broken: AtomicBool::new(false),
            max_input: max_input_for(block),
            block,
            wait_mode,
            timeout,
            fd,
            state: Mutex::new(LaneState {
                qm,
                space,
                format,
                pending: VecDeque::new(),
                quarantine: Vec::new(),
            }),
            counters: Counters::default(),
        })
    }

    /// Whether the lane can run `format`.
    pub fn offers(&self, format: Format) -> bool {
        self.formats[format_index(format)]
    }

    /// Whether a submitter should try this lane (no lock taken).
    pub fn has_room(&self, limit: usize) -> bool {
        !self.broken.load(Ordering::Relaxed) && self.in_flight.load(Ordering::Relaxed) < limit
    }

    /// The queue's event fd, for sleeping in `poll(2)`.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// How waiters wait on this lane.
    pub fn wait_mode(&self) -> WaitMode {
        self.wait_mode
    }

    /// Submits `job` if the lane is free and has room; never blocks.
    pub fn try_submit(&self, job: Job, cell: &Arc<Cell>) -> Result<(), Refusal> {
        if !self.has_room(self.depth) {
            return Err(Refusal::Busy(job));
        }
        let Some(mut st) = self.state.try_lock() else {
            return Err(Refusal::Busy(job));
        };
        // Reaping first frees slots and DMA blocks for this request. No
        // event-fd drain here: only a thread about to sleep needs that.
        self.reap_ring(&mut st);
        if st.pending.len() >= self.depth || self.broken.load(Ordering::Relaxed) {
            return Err(Refusal::Busy(job));
        }
        let (body, header_len, out_len) = match job.op {
            Op::Compress => (0..job.input.len(), 0, compress_bound(job.input.len())),
            Op::Decompress => match skip_header(job.format, &job.input) {
                Ok(h) => (h..job.input.len(), h, job.max_output),
                Err(e) => return Err(Refusal::Invalid(e)),
            },
        };
        let out_len = out_len.min(self.block);
        let bufs = (|| -> Result<(Option<DmaBuf>, DmaBuf), DmaError> {
            let src = if body.is_empty() {
                None
            } else {
                let mut b = st.space.try_alloc_buf(body.len())?;
                b.write_at(0, &job.input[body.clone()])?;
                Some(b)
            };
            let dst = st.space.try_alloc_buf(out_len.max(1))?;
            Ok((src, dst))
        })();
        let (src, dst) = match bufs {
            Ok(b) => b,
            Err(_) => return Err(Refusal::Busy(job)),
        };
        let req = ZipRequest {
            alg: job.format.zip_alg(),
            // A zero-length source still needs a valid address (abi.md §5).
            src: src.as_ref().map_or(dst.dma_addr(), |s| s.dma_addr()),
            src_len: body.len() as u32,
            dst: dst.dma_addr(),
            dst_len: out_len as u32,
            stream: None,
        };
        let sqe = req.encode(st.format);
        match st.qm.submit(&sqe) {
            Ok(tag) => {
                st.pending.push_back(InFlight {
                    tag,
                    src,
                    dst,
                    header_len,
                    submitted: Instant::now(),
                    job,
                    cell: Arc::clone(cell),
                });
                self.in_flight.fetch_add(1, Ordering::Release);
                Ok(())
            }
            Err(QmError::Full { .. }) => Err(Refusal::Busy(job)),
            // Reset in progress (TX word) or the queue is gone: this request
            // goes elsewhere. Requests already in flight may still complete;
            // if they do not, the request timeout fails them over.
            Err(e) => Err(Refusal::Failed(
                job,
                PoolError::DeviceFailure {
                    device: self.device.clone(),
                    source: e,
                },
            )),
        }
    }

    /// Reaps what has completed, if no other thread is reaping; never blocks.
    /// Returns whether it got the lane.
    pub fn try_reap(&self) -> bool {
        match self.state.try_lock() {
            Some(mut st) => {
                self.reap_locked(&mut st);
                true
            }
            None => false,
        }
    }

    /// The deadline of the oldest request in flight, if any (no lock when
    /// nothing is in flight).
    pub fn oldest_deadline(&self) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            return None;
        }
        let st = self.state.try_lock()?;
        st.pending.front().map(|p| p.submitted + self.timeout)
    }

    fn reap_locked(&self, st: &mut MutexGuard<'_, LaneState>) {
        if st.pending.is_empty() {
            return;
        }
        if self.wait_mode == WaitMode::Sleep {
            // Drain the event fd before reading the ring: a completion posted
            // after this makes the fd readable again, so no wakeup is lost.
            let _ = st.qm.queue().wait(Some(Duration::ZERO));
        }
        self.reap_ring(st);
    }

    /// Reaps the ring without touching the event fd.
    fn reap_ring(&self, st: &mut MutexGuard<'_, LaneState>) {
        if st.pending.is_empty() {
            return;
        }
        loop {
            match st.qm.poll() {
                Ok(Some(done)) => {
                    let Some(req) = st.pending.pop_front() else {
                        break;
                    };
                    self.in_flight.fetch_sub(1, Ordering::Release);
                    if done.tag != req.tag {
                        // The ring is out of step: nothing after this is trustworthy.
                        let cell = Arc::clone(&req.cell);
                        let err = PoolError::DeviceFailure {
                            device: self.device.clone(),
                            source: QmError::TagMismatch {
                                device: self.device.clone(),
                                slot: done.slot,
                                expected: req.tag,
                                found: done.tag,
                            },
                        };
                        st.quarantine.push(req.dst);
                        st.quarantine.extend(req.src);
                        cell.deliver(Delivery::Retry(req.job, err));
                        self.recover(st, "tag mismatch");
                        return;
                    }
                    let result = ZipResult::decode(&done);
                    let delivery = self.finish(req, &result);
                    delivery.1.deliver(delivery.0);
                }
                Ok(None) => break,
                Err(e) => {
                    let device = self.device.clone();
                    let failure = e.is_device_failure();
                    let detail = e.to_string();
                    if let Some(req) = st.pending.pop_front() {
                        self.in_flight.fetch_sub(1, Ordering::Release);
                        st.quarantine.push(req.dst);
                        st.quarantine.extend(req.src);
                        req.cell.deliver(Delivery::Retry(
                            req.job,
                            PoolError::DeviceFailure { device, source: e },
                        ));
                    }
                    let _ = failure;
                    self.recover(st, &detail);
                    return;
                }
            }
        }
        if let Some(front) = st.pending.front() {
            let waited = front.submitted.elapsed();
            if waited >= self.timeout {
                self.counters.timeout();
                let device = self.device.clone();
                match st.qm.queue().check_alive() {
                    // Removed: say so, and never use this queue again.
                    Err(e) => {
                        let detail = e.to_string();
                        self.fail_all(st, |_| PoolError::DeviceFailure {
                            device: device.clone(),
                            source: QmError::Geometry {
                                device: device.clone(),
                                detail: detail.clone(),
                            },
                        });
                        self.broken.store(true, Ordering::Release);
                    }
                    Ok(()) => {
                        self.fail_all(st, |_| PoolError::Timeout {
                            device: device.clone(),
                            waited,
                        });
                        self.restart(st);
                    }
                }
            }
        }
    }

    /// Turns a completion into a delivery (and frees its buffers).
    fn finish(&self, req: InFlight, r: &ZipResult) -> (Delivery, Arc<Cell>) {
        let InFlight {
            src,
            dst,
            header_len,
            job,
            cell,
            ..
        } = req;
        drop(src);
        let format = job.format;
        let produced = r.produced as usize;
        if produced > dst.len() {
            // The device claims more output than its buffer holds: never
            // deliver truncated bytes; redo the job (or fail, by policy).
            let overrun = crate::dma::DmaError::OutputOverrun {
                written: produced,
                capacity: dst.len(),
            };
            return (
                Delivery::Retry(job, CompressError::from(overrun).into()),
                cell,
            );
        }
        let status_err = |status| PoolError::DeviceStatus {
            device: self.device.clone(),
            format,
            status,
        };
        let delivery = match (job.op, r.outcome()) {
            (Op::Compress, Outcome::Done) if r.consumed as usize == job.input.len() => {
                let head = header::header(format);
                let mut data = Vec::with_capacity(head.len() + produced);
                data.extend_from_slice(head);
                data.resize(head.len() + produced, 0);
                match dst.read_at(0, &mut data[head.len()..]) {
                    Ok(()) => Delivery::Done(JobOutput {
                        data,
                        consumed: job.input.len(),
                        path: self.path,
                    }),
                    Err(e) => Delivery::Retry(job, CompressError::from(e).into()),
                }
            }
            (Op::Decompress, Outcome::EndOfStream) => {
                let mut data = vec![0u8; produced];
                match dst.read_at(0, &mut data) {
                    Ok(()) => Delivery::Done(JobOutput {
                        data,
                        consumed: (header_len + r.consumed as usize).min(job.input.len()),
                        path: self.path,
                    }),
                    Err(e) => Delivery::Retry(job, CompressError::from(e).into()),
                }
            }
            (Op::Decompress, Outcome::ChecksumMismatch) => {
                Delivery::Failed(PoolError::from(CompressError::Checksum {
                    format,
                    offset: (header_len + r.consumed as usize) as u64,
                }))
            }
            (_, Outcome::OutputFull) => {
                let capacity = dst.len();
                Delivery::Retry(
                    job,
                    PoolError::OutputFull {
                        device: self.device.clone(),
                        format,
                        capacity,
                    },
                )
            }
            (_, Outcome::Error(status)) => Delivery::Retry(job, status_err(status)),
            // Compression that left input behind, decompression that did not
            // reach the end of the member: software gives the exact answer.
            (_, _) => Delivery::Retry(job, status_err(r.status)),
        };
        (delivery, cell)
    }

    /// Fails every request in flight with `reason` (they go to software or
    /// fail, as the pool is configured) and quarantines their buffers.
    fn fail_all(&self, st: &mut LaneState, reason: impl Fn(&str) -> PoolError) {
        while let Some(req) = st.pending.pop_front() {
            self.in_flight.fetch_sub(1, Ordering::Release);
            st.quarantine.push(req.dst);
            st.quarantine.extend(req.src);
            req.cell
                .deliver(Delivery::Retry(req.job, reason(&self.device)));
        }
    }

    fn recover(&self, st: &mut LaneState, why: &str) {
        let device = self.device.clone();
        let why = why.to_owned();
        self.fail_all(st, |_| PoolError::DeviceFailure {
            device: device.clone(),
            source: QmError::Geometry {
                device: device.clone(),
                detail: format!("queue failed before this request completed: {why}"),
            },
        });
        self.restart(st);
    }

    fn restart(&self, st: &mut LaneState) {
        if st.qm.restart().is_err() {
            self.broken.store(true, Ordering::Release);
        }
    }
}

/// The header length of the member at the start of `input`.
fn skip_header(format: Format, input: &[u8]) -> Result<usize, PoolError> {
    let bad = |source| PoolError::from(CompressError::Header { format, source });
    let truncated = || {
        PoolError::from(CompressError::Truncated {
            format,
            offset: input.len() as u64,
        })
    };
    match format {
        Format::Deflate => Ok(0),
        Format::Zlib => match header::parse_zlib(input).map_err(bad)? {
            Parsed::Done { len, .. } => Ok(len),
            Parsed::NeedMore => Err(truncated()),
        },
        Format::Gzip => match header::parse_gzip(input).map_err(bad)? {
            Parsed::Done { len, .. } => Ok(len),
            Parsed::NeedMore => Err(truncated()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_input_fits_the_block() {
        for block in [4096usize, 65536, 128 << 10, 1 << 20] {
            let n = max_input_for(block);
            assert!(compress_bound(n) <= block);
            assert!(compress_bound(n + 1) > block);
        }
    }
}
