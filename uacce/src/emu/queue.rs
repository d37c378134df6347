//! One emulated hardware queue pair: its DUS and MMIO memory, the uacce queue
//! state machine, the doorbell decoder, in-order completion, and the kernel's
//! shadow CQ head that `poll` uses.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::time::{Duration, Instant};

use memmap2::{MmapOptions, MmapRaw};
use nix::errno::Errno;
use nix::sys::eventfd::{EfdFlags, EventFd};
use parking_lot::{Condvar, Mutex};
use uacce_sys::hisi_qm::{QM_CQE_SIZE, cqe, doorbell_v1, doorbell_v2, dus_status};

use super::config::{EmuAddressMode, ZipVersion};
use super::device::EmuDevice;
use super::dma::DmaSpace;
use super::fault::FaultAction;
use super::sqe::{SQE_SIZE, Sqe, SqeResult};
use super::ss::SsMemory;
use super::zip::{self, Direction, Env, StreamTable};
use crate::region::{Mapping, MmioSink, RegionKind, SharedMemory};

/// One fetched SQE on its way through the engine.
pub(crate) struct Job {
    core: Arc<QueueCore>,
    generation: u64,
    seq: u64,
    slot: u16,
    sqe: Sqe,
    device_nth: u64,
    queue_nth: u64,
}

impl Job {
    /// Runs the job on an engine thread.
    pub fn run(self) {
        self.core.clone().execute(self);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QState {
    Init,
    Started,
}

struct Ctl {
    state: QState,
    qc_type: u16,
    mapped: [bool; 3],
    ss: Option<Arc<SsMemory>>,
}

struct Ring {
    /// Bumped at START, PUT and close: jobs of an older generation are dropped.
    generation: u64,
    running: bool,
    direction: Direction,
    dma: DmaSpace,
    /// Next SQ slot the device fetches.
    sq_head: u16,
    next_seq: u64,
    /// All jobs with a smaller seq have been run (or stalled).
    processed_next: u64,
    /// Run but not yet completed: seq -> (slot, stalled).
    finished: BTreeMap<u64, (u16, bool)>,
    /// Next seq whose CQE is due.
    retire_next: u64,
    cq_tail: u16,
    phase: bool,
    /// What the consumer last told the device with a CQ doorbell.
    cq_head_user: u16,
    cq_irq_armed: bool,
    /// CQEs posted, and how many of them the "kernel" (poll) has seen.
    posted: u64,
    seen: u64,
    queue_requests: u64,
}

/// The device side of one open queue.
pub(crate) struct QueueCore {
    pub(crate) dev: Arc<EmuDevice>,
    pub(crate) qid: u16,
    dus_raw: Arc<MmapRaw>,
    dus: SharedMemory,
    mmio_raw: Arc<MmapRaw>,
    ctl: Mutex<Ctl>,
    ring: Mutex<Ring>,
    /// Signalled when a CQE is posted or the queue dies (waiters of `wait`).
    completion_cv: Condvar,
    /// Signalled when a job finished running (stream jobs wait for order).
    order_cv: Condvar,
    efd: EventFd,
    streams: StreamTable,
    closed: AtomicBool,
}

fn anon(len: usize) -> Result<Arc<MmapRaw>, Errno> {
    let map = MmapOptions::new()
        .len(len)
        .map_anon()
        .map_err(|_| Errno::ENOMEM)?;
    Ok(Arc::new(MmapRaw::from(map)))
}

impl QueueCore {
    /// Creates the queue pair `qid`: fresh (zeroed) ring memory, so the CQ and
    /// the status words start cleared as the kernel leaves them at open.
    pub fn new(dev: Arc<EmuDevice>, qid: u16) -> Result<Arc<QueueCore>, Errno> {
        let cfg = dev.config.clone();
        let dus_raw = anon(cfg.dus_size())?;
        let dus = SharedMemory::new(
            Mapping::from_shared(dus_raw.clone(), 0, cfg.dus_size()).ok_or(Errno::ENOMEM)?,
            RegionKind::Dus,
        );
        let mmio_raw = anon(cfg.mmio_size())?;
        let efd = EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)?;
        let dma = match cfg.address_mode {
            EmuAddressMode::Sva => DmaSpace::Sva,
            _ => DmaSpace::Slices(None),
        };
        let core = Arc::new(QueueCore {
            dev,
            qid,
            dus_raw,
            dus,
            mmio_raw,
            ctl: Mutex::new(Ctl {
                state: QState::Init,
                qc_type: 0,
                mapped: [false; 3],
                ss: None,
            }),
            ring: Mutex::new(Ring {
                generation: 0,
                running: false,
                direction: Direction::Compress,
                dma,
                sq_head: 0,
                next_seq: 0,
                processed_next: 0,
                finished: BTreeMap::new(),
                retire_next: 0,
                cq_tail: 0,
                phase: true,
                cq_head_user: 0,
                cq_irq_armed: true,
                posted: 0,
                seen: 0,
                queue_requests: 0,
            }),
            completion_cv: Condvar::new(),
            order_cv: Condvar::new(),
            efd,
            streams: StreamTable::default(),
            closed: AtomicBool::new(false),
        });
        // The kernel clears the CQ and the last 8 bytes at queue creation.
        core.clear_cq();
        core.dus
            .fill(core.dus.len() - dus_status::RX_FROM_END, 8, 0)
            .map_err(|_| Errno::EFAULT)?;
        Ok(core)
    }

    fn alive(&self) -> Result<(), Errno> {
        if self.dev.is_removed() {
            Err(Errno::ENXIO)
        } else {
            Ok(())
        }
    }

    fn clear_cq(&self) {
        let cfg = &self.dev.config;
        // In bounds by construction of dus_size.
        let _ = self
            .dus
            .fill(cfg.cq_offset(), QM_CQE_SIZE * usize::from(cfg.cq_depth), 0);
    }

    /// `mmap` of region `kind` with length `len`.
    pub fn map(self: &Arc<Self>, kind: RegionKind, len: usize) -> Result<Mapping, Errno> {
        self.alive()?;
        let cfg = &self.dev.config;
        let mut ctl = self.ctl.lock();
        let idx = kind.region_type() as usize;
        if kind == RegionKind::Ss && cfg.address_mode == EmuAddressMode::Sva {
            // No SS region on an SVA device: the kernel has no such region type.
            return Err(Errno::EINVAL);
        }
        if ctl.mapped[idx] {
            // 6.1: the slot is never cleared, even after munmap (abi.md §12).
            return Err(Errno::EEXIST);
        }
        let mapping = match kind {
            RegionKind::Mmio => {
                if len == 0 || len > cfg.mmio_size() {
                    return Err(Errno::EINVAL);
                }
                let sink: Arc<dyn MmioSink> = Arc::new(Doorbell { core: self.clone() });
                Mapping::from_shared(self.mmio_raw.clone(), 0, len)
                    .ok_or(Errno::EINVAL)?
                    .with_sink(sink)
            }
            RegionKind::Dus => {
                if len != cfg.dus_size() {
                    return Err(Errno::EINVAL);
                }
                Mapping::from_shared(self.dus_raw.clone(), 0, len).ok_or(Errno::EINVAL)?
            }
            RegionKind::Ss => {
                let ss = Arc::new(SsMemory::allocate(
                    len,
                    cfg.address_mode,
                    cfg.ss_slice_size,
                    self.dev.next_dma_base(),
                )?);
                let m = Mapping::from_shared(ss.raw().clone(), 0, ss.len()).ok_or(Errno::ENOMEM)?;
                self.ring.lock().dma = DmaSpace::Slices(Some(ss.clone()));
                ctl.ss = Some(ss);
                m
            }
        };
        ctl.mapped[idx] = true;
        Ok(mapping)
    }

    /// `START_Q`.
    pub fn start(&self) -> Result<(), Errno> {
        self.alive()?;
        let mut ctl = self.ctl.lock();
        if ctl.state == QState::Started {
            return Err(Errno::EINVAL);
        }
        ctl.state = QState::Started;
        let mut ring = self.ring.lock();
        // hisi_qm_start_qp: indices restart at 0 with phase 1 (abi.md §3.4).
        ring.generation += 1;
        ring.running = true;
        ring.direction = if ctl.qc_type == 1 {
            Direction::Decompress
        } else {
            Direction::Compress
        };
        ring.sq_head = 0;
        ring.next_seq = 0;
        ring.processed_next = 0;
        ring.finished.clear();
        ring.retire_next = 0;
        ring.cq_tail = 0;
        ring.phase = true;
        ring.cq_head_user = 0;
        ring.cq_irq_armed = true;
        self.clear_cq();
        self.streams.clear();
        self.order_cv.notify_all();
        Ok(())
    }

    /// `PUT_Q`: stop, back to INIT (6.1 behaviour, abi.md §12).
    pub fn put(&self) -> Result<(), Errno> {
        self.alive()?;
        let mut ctl = self.ctl.lock();
        ctl.state = QState::Init;
        self.stop_ring();
        Ok(())
    }

    fn stop_ring(&self) {
        let mut ring = self.ring.lock();
        ring.generation += 1;
        ring.running = false;
        self.order_cv.notify_all();
        self.completion_cv.notify_all();
    }

    /// `SET_QP_CTX`.
    pub fn set_qp_ctx(&self, qc_type: u16) -> Result<u16, Errno> {
        self.alive()?;
        if qc_type > 1 {
            return Err(Errno::EINVAL);
        }
        self.ctl.lock().qc_type = qc_type;
        Ok(self.qid)
    }

    /// `GET_SS_DMA`.
    pub fn get_ss_dma(&self, index: u64) -> Result<(u64, u32), Errno> {
        self.alive()?;
        let ctl = self.ctl.lock();
        ctl.ss.as_ref().ok_or(Errno::EINVAL)?.get_ss_dma(index)
    }

    /// `poll` semantics: true once a CQE exists that the kernel's shadow head
    /// has not passed; the shadow head then moves past all of them.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool, Errno> {
        // A timeout too large to represent is no timeout.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut ring = self.ring.lock();
        loop {
            if self.dev.is_removed() || self.closed.load(Ordering::Acquire) {
                return Ok(false);
            }
            if ring.posted > ring.seen {
                ring.seen = ring.posted;
                // Drain the eventfd (EAGAIN when already empty is fine).
                let _ = self.efd.read();
                return Ok(true);
            }
            match deadline {
                None => self.completion_cv.wait(&mut ring),
                Some(d) => {
                    if Instant::now() >= d
                        || self.completion_cv.wait_until(&mut ring, d).timed_out()
                    {
                        if ring.posted > ring.seen {
                            continue;
                        }
                        return Ok(false);
                    }
                }
            }
        }
    }

    pub fn probe_alive(&self) -> Result<(), Errno> {
        self.alive()
    }

    pub fn poll_fd(&self) -> BorrowedFd<'_> {
        self.efd.as_fd()
    }

    /// The queue file was closed.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.stop_ring();
        self.streams.clear();
    }

    /// The device was removed: wake everyone, drop everything in flight.
    pub fn on_removed(&self) {
        self.stop_ring();
    }

    fn status_word(&self, from_end: usize) -> u32 {
        self.dus.read::<u32>(self.dus.len() - from_end).unwrap_or(0)
    }

    /// Sets a status word as the kernel does on reset (TX: `from_end` 4, RX: 8).
    pub fn set_status_word(&self, from_end: usize, value: u32) {
        let _ = self.dus.write::<u32>(self.dus.len() - from_end, value);
    }

    fn doorbell(self: &Arc<Self>, value: u64) {
        let (qn, cmd, rand) = match self.dev.config.version {
            // v1: qn 0–15, cmd 16–19, no rand field.
            ZipVersion::V1 => (
                value & doorbell_v1::QN_MASK,
                (value >> doorbell_v1::CMD_SHIFT) & doorbell_v1::CMD_MASK,
                0,
            ),
            ZipVersion::V2 | ZipVersion::V3 => (
                value & doorbell_v2::QN_MASK,
                (value >> doorbell_v2::CMD_SHIFT) & doorbell_v2::CMD_MASK,
                (value >> doorbell_v2::RAND_SHIFT) & doorbell_v2::RAND_MASK,
            ),
        };
        // Index and priority sit in the same bits on every version.
        let index = ((value >> doorbell_v2::INDEX_SHIFT) & 0xffff) as u16;
        let priority = (value >> doorbell_v2::PRIORITY_SHIFT) & 0xffff;
        if qn != u64::from(self.qid)
            || rand != 0
            || self.dev.is_removed()
            || self.closed.load(Ordering::Acquire)
        {
            return;
        }
        let cfg = &self.dev.config;
        match cmd {
            0 => {
                // Reset in progress: the device takes no new work (see module docs).
                if self.status_word(dus_status::TX_FROM_END) == 1 || index >= cfg.sq_depth {
                    return;
                }
                let mut jobs = Vec::new();
                {
                    let mut ring = self.ring.lock();
                    if !ring.running {
                        return;
                    }
                    while ring.sq_head != index {
                        let slot = ring.sq_head;
                        let mut bytes = [0u8; SQE_SIZE];
                        let _ = self
                            .dus
                            .read_bytes(usize::from(slot) * SQE_SIZE, &mut bytes);
                        let seq = ring.next_seq;
                        ring.next_seq += 1;
                        let queue_nth = ring.queue_requests;
                        ring.queue_requests += 1;
                        jobs.push(Job {
                            core: self.clone(),
                            generation: ring.generation,
                            seq,
                            slot,
                            sqe: Sqe::from_bytes(&bytes),
                            device_nth: self.dev.next_request(),
                            queue_nth,
                        });
                        ring.sq_head = (slot + 1) % cfg.sq_depth;
                    }
                }
                self.dev.engine.submit(jobs);
            }
            1 => {
                if self.status_word(dus_status::RX_FROM_END) == 1 || index >= cfg.cq_depth {
                    return;
                }
                let mut ring = self.ring.lock();
                ring.cq_head_user = index;
                ring.cq_irq_armed = priority != 0;
            }
            _ => {}
        }
    }

    fn execute(self: Arc<Self>, job: Job) {
        let (direction, dma, generation) = {
            let ring = self.ring.lock();
            if ring.generation != job.generation {
                return;
            }
            (ring.direction, ring.dma.clone(), ring.generation)
        };
        if job.sqe.stream_mode() {
            // Requests of one stream must run in order: wait until every
            // earlier request of the queue has run.
            let mut ring = self.ring.lock();
            while ring.generation == generation && ring.processed_next < job.seq {
                self.order_cv.wait(&mut ring);
            }
            if ring.generation != generation {
                return;
            }
        }
        let faults = self
            .dev
            .faults
            .take(job.device_nth, self.qid, job.queue_nth);
        let stalled = faults.contains(&FaultAction::Stall);
        let result = if stalled {
            None
        } else if let Some(status) = faults.iter().find_map(|f| match f {
            FaultAction::Fail(s) => Some(*s),
            _ => None,
        }) {
            Some(SqeResult::error(status))
        } else {
            let env = Env {
                version: self.dev.config.version,
                direction,
                dma: &dma,
                streams: &self.streams,
            };
            Some(zip::execute(&job.sqe, &env))
        };
        if let Some(delay) = self.dev.faults.delay() {
            std::thread::sleep(delay);
        }
        let mut ring = self.ring.lock();
        if ring.generation != generation || self.dev.is_removed() {
            return;
        }
        let base = usize::from(job.slot) * SQE_SIZE;
        if let Some(result) = result {
            for (dw, v) in result.writes() {
                let _ = self.dus.write::<u32>(base + dw * 4, v);
            }
            if faults.contains(&FaultAction::CorruptTag) {
                let off = base + self.dev.config.version.tag_dword() * 4;
                let tag = self.dus.read::<u32>(off).unwrap_or(0);
                let _ = self.dus.write::<u32>(off, !tag);
            }
        }
        ring.finished.insert(job.seq, (job.slot, stalled));
        while ring.finished.contains_key(&ring.processed_next) {
            ring.processed_next += 1;
        }
        self.order_cv.notify_all();
        // Complete in submission order.
        while let Some(&(slot, stalled)) = ring.finished.get(&ring.retire_next) {
            if stalled {
                break;
            }
            let seq = ring.retire_next;
            ring.finished.remove(&seq);
            ring.retire_next += 1;
            self.post_cqe(&mut ring, slot);
        }
    }

    fn post_cqe(&self, ring: &mut Ring, slot: u16) {
        let cfg = &self.dev.config;
        let off = cfg.cq_offset() + usize::from(ring.cq_tail) * QM_CQE_SIZE;
        let _ = self.dus.write::<u64>(off, 0);
        let _ = self.dus.write::<u16>(off + cqe::SQ_HEAD, slot);
        let _ = self.dus.write::<u16>(off + cqe::SQ_NUM, self.qid);
        let _ = self.dus.write::<u16>(off + 12, 0);
        // Everything of this completion (the SQE results and the CQE body) is
        // visible before the phase word that publishes it.
        fence(Ordering::Release);
        let _ = self
            .dus
            .write::<u16>(off + cqe::W7, if ring.phase { cqe::PHASE_BIT } else { 0 });
        ring.cq_tail += 1;
        if ring.cq_tail == cfg.cq_depth {
            ring.cq_tail = 0;
            ring.phase = !ring.phase;
        }
        ring.posted += 1;
        let _ = self.efd.write(1);
        self.completion_cv.notify_all();
    }
}

/// The MMIO sink of one queue's mapping: posted writes to the doorbell.
struct Doorbell {
    core: Arc<QueueCore>,
}

impl MmioSink for Doorbell {
    fn write_u64(&self, offset: usize, value: u64) {
        if offset == self.core.dev.config.version.doorbell_offset() {
            self.core.doorbell(value);
        }
    }

    fn write_u32(&self, _offset: usize, _value: u32) {
        // A doorbell is one 64-bit store; 32-bit halves are ignored.
    }
}
