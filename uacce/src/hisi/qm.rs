//! The HiSilicon QM queue driver: SQ/CQ rings in DUS, doorbells in MMIO, the
//! phase bit, the TX/RX status words, and tags (abi.md §3, §4).
//!
//! The driver knows nothing of descriptor contents except where the tag lives;
//! the algorithm drivers ([`super::zip`]) build and read descriptors.
//!
//! Ring rules, as the kernel and UADK implement them:
//! * SQ tail, CQ head and the expected phase start at 0, 0 and 1 (`START_Q`
//!   resets the hardware indices);
//! * one slot always stays empty: at most `depth - 1` requests are in flight;
//! * a request is published by copying the SQE into its slot, a store barrier
//!   (`dsb st` on aarch64), and one 64-bit doorbell store carrying the new tail;
//! * a completion is a CQE whose phase bit equals the expected phase; after a
//!   read barrier, the CQE names the finished SQ slot, and the results are read
//!   back from that slot (the CQE carries no status); the CQ doorbell then
//!   tells the device the new head, with priority 1 if the caller will sleep in
//!   `poll(2)` (it re-arms the interrupt) or 0 when busy-polling;
//! * the TX word is checked before every SQ doorbell and the RX word before
//!   every CQ doorbell: 1 means the device is being reset.

use std::time::{Duration, Instant};

use uacce_sys::hisi_qm::{
    QM_CQE_SIZE, QM_DOORBELL_CMD_CQ, QM_DOORBELL_CMD_SQ, QM_DOORBELL_OFFSET_V1,
    QM_DOORBELL_OFFSET_V2, QM_Q_DEPTH_DEFAULT, cqe, doorbell_v1, doorbell_v2, dus_status,
};

use crate::barrier;
use crate::device::HwVersion;
use crate::queue::{Queue, QueueError};
use crate::region::RegionError;

/// The largest SQE this driver handles (ZIP and SEC).
pub const MAX_SQE_SIZE: usize = 128;

/// How a caller waits for completions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitMode {
    /// Sleep in `poll(2)` on the queue; CQ doorbells carry priority 1 so the
    /// device raises an event for the next completion.
    Sleep,
    /// Spin on the phase bit; CQ doorbells carry priority 0 (no interrupts).
    BusyPoll,
}

/// Settings of a [`QmQueue`].
#[derive(Debug, Clone)]
pub struct QmConfig {
    /// The queue's algorithm type for `SET_QP_CTX` (ZIP: 0 compress, 1 decompress).
    pub qc_type: u16,
    /// Byte offset of the 32-bit tag inside the SQE (ZIP v2: dw13, v3: dw26).
    pub tag_offset: usize,
    /// SQE size to assume when the kernel lacks `SET_QP_INFO`.
    pub fallback_sqe_size: usize,
    /// How [`QmQueue::wait`] waits.
    pub wait_mode: WaitMode,
    /// In [`WaitMode::Sleep`], how long [`QmQueue::wait`] first spins on the
    /// phase bit before it sleeps in `poll(2)`. A sleep and its wake-up cost
    /// tens of microseconds of latency, more than a small request takes on the
    /// device; spinning this long bounds the CPU spent on a large one.
    pub spin_before_sleep: Duration,
}

/// Default of [`QmConfig::spin_before_sleep`].
pub const DEFAULT_SPIN_BEFORE_SLEEP: Duration = Duration::from_micros(50);

impl QmConfig {
    /// A ZIP or SEC queue of algorithm type `qc_type` with the tag at `tag_offset`.
    pub fn new(qc_type: u16, tag_offset: usize) -> QmConfig {
        QmConfig {
            qc_type,
            tag_offset,
            fallback_sqe_size: MAX_SQE_SIZE,
            wait_mode: WaitMode::Sleep,
            spin_before_sleep: DEFAULT_SPIN_BEFORE_SLEEP,
        }
    }
}

/// Errors of the ring protocol.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QmError {
    /// A control-plane or region operation of the queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The device's api string names no HiSilicon QM generation.
    #[error("{device}: api {api:?} is not a HiSilicon QM device")]
    NotHisi {
        /// Device name.
        device: String,
        /// Its api string.
        api: String,
    },
    /// The geometry from the kernel does not fit the mapped regions.
    #[error("{device}: ring geometry does not fit: {detail}")]
    Geometry {
        /// Device name.
        device: String,
        /// What does not fit.
        detail: String,
    },
    /// Every slot is in flight; reap completions first.
    #[error("{device}: submission queue full ({capacity} requests in flight)")]
    Full {
        /// Device name.
        device: String,
        /// The ring's capacity.
        capacity: usize,
    },
    /// The descriptor given to `submit` has the wrong size.
    #[error("{device}: descriptor of {len} bytes, the queue takes {sqe_size}")]
    SqeSize {
        /// Device name.
        device: String,
        /// Given length.
        len: usize,
        /// Expected length.
        sqe_size: usize,
    },
    /// The TX or RX status word says the device is stopping for a reset.
    #[error(
        "{device}: device reset in progress ({word} status word is {value}); retry on another queue"
    )]
    DeviceResetting {
        /// Device name.
        device: String,
        /// `"TX"` or `"RX"`.
        word: &'static str,
        /// The word's value.
        value: u32,
    },
    /// No completion arrived in time.
    #[error("{device}: no completion after {waited:?} ({in_flight} requests in flight)")]
    Timeout {
        /// Device name.
        device: String,
        /// How long the caller waited.
        waited: Duration,
        /// Requests still outstanding.
        in_flight: usize,
    },
    /// A CQE names a slot that holds no request in flight.
    #[error("{device}: completion for SQ slot {slot}, which holds no request in flight")]
    BadCompletion {
        /// Device name.
        device: String,
        /// The slot the CQE named.
        slot: u16,
    },
    /// The tag read back from the SQ slot is not the one submitted there.
    #[error("{device}: SQ slot {slot} completed with tag {found:#x}, expected {expected:#x}")]
    TagMismatch {
        /// Device name.
        device: String,
        /// The slot.
        slot: u16,
        /// The tag submitted.
        expected: u32,
        /// The tag found.
        found: u32,
    },
}

impl QmError {
    fn region(device: &str, source: RegionError) -> QmError {
        QmError::Queue(QueueError::Region {
            device: device.to_owned(),
            source,
        })
    }

    /// Whether the device is gone or resetting, so the request belongs on
    /// another queue or in software.
    pub fn is_device_failure(&self) -> bool {
        match self {
            QmError::Queue(q) => q.is_device_removed(),
            QmError::DeviceResetting { .. }
            | QmError::BadCompletion { .. }
            | QmError::TagMismatch { .. } => true,
            _ => false,
        }
    }
}

/// One finished request, read back from its SQ slot.
#[derive(Clone)]
pub struct Completion {
    /// The SQ slot it ran in.
    pub slot: u16,
    /// Its tag (checked against the one submitted).
    pub tag: u32,
    /// The SQE as the device left it: results are written back here.
    pub sqe: [u8; MAX_SQE_SIZE],
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion")
            .field("slot", &self.slot)
            .field("tag", &self.tag)
            .finish_non_exhaustive()
    }
}

impl Completion {
    /// The little-endian dword `index` of the SQE.
    pub fn dword(&self, index: usize) -> u32 {
        let b = &self.sqe[index * 4..index * 4 + 4];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
}

/// Fixed facts of the ring, computed once at setup.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    sqe_size: usize,
    sq_depth: u16,
    cq_depth: u16,
    cq_base: usize,
    tx_word: usize,
    rx_word: usize,
    doorbell: usize,
    v1: bool,
}

/// A started HiSilicon QM queue pair and its ring state.
pub struct QmQueue {
    queue: Queue,
    qn: u16,
    geo: Geometry,
    config: QmConfig,
    sq_tail: u16,
    cq_head: u16,
    phase: u16,
    in_flight: usize,
    /// The tag of the request in each SQ slot, while it is in flight.
    slots: Vec<Option<u32>>,
    next_tag: u32,
}

impl std::fmt::Debug for QmQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QmQueue")
            .field("device", &self.queue.device().name)
            .field("qn", &self.qn)
            .field("sq_tail", &self.sq_tail)
            .field("cq_head", &self.cq_head)
            .field("phase", &self.phase)
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

impl QmQueue {
    /// Sets the queue up and starts it: `SET_QP_CTX` (queue id and direction),
    /// `SET_QP_INFO` (geometry; depth 1024 and the fallback SQE size when the
    /// kernel lacks it), checks that the rings fit the regions, then `START_Q`.
    pub fn new(mut queue: Queue, config: QmConfig) -> Result<QmQueue, QmError> {
        let device = queue.device().name.clone();
        let hw = queue
            .device()
            .hw_version()
            .ok_or_else(|| QmError::NotHisi {
                device: device.clone(),
                api: queue.device().api.as_str().to_owned(),
            })?;
        let qn = queue.set_qp_ctx(config.qc_type)?;
        let (sqe_size, sq_depth, cq_depth) = match queue.set_qp_info()? {
            Some(info) => (info.sqe_size as usize, info.sq_depth, info.cq_depth),
            None => (
                config.fallback_sqe_size,
                QM_Q_DEPTH_DEFAULT,
                QM_Q_DEPTH_DEFAULT,
            ),
        };
        let geo = Self::geometry(&queue, hw, sqe_size, sq_depth, cq_depth, config.tag_offset)?;
        queue.start()?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0x9e37_79b9);
        Ok(QmQueue {
            queue,
            qn,
            geo,
            config,
            sq_tail: 0,
            cq_head: 0,
            phase: 1,
            in_flight: 0,
            slots: vec![None; usize::from(sq_depth)],
            next_tag: seed | 1,
        })
    }

    fn geometry(
        queue: &Queue,
        hw: HwVersion,
        sqe_size: usize,
        sq_depth: u16,
        cq_depth: u16,
        tag_offset: usize,
    ) -> Result<Geometry, QmError> {
        let device = &queue.device().name;
        let bad = |detail: String| QmError::Geometry {
            device: device.clone(),
            detail,
        };
        if sqe_size == 0 || sqe_size > MAX_SQE_SIZE {
            return Err(bad(format!(
                "SQE size {sqe_size} (this driver handles 1..={MAX_SQE_SIZE})"
            )));
        }
        if sq_depth < 2 || cq_depth < 2 {
            return Err(bad(format!(
                "ring depths SQ {sq_depth} / CQ {cq_depth} (need at least 2)"
            )));
        }
        if tag_offset + 4 > sqe_size {
            return Err(bad(format!(
                "tag at {tag_offset} outside a {sqe_size}-byte SQE"
            )));
        }
        let dus = queue.dus()?.len();
        let cq_base = sqe_size * usize::from(sq_depth);
        let rings_end = cq_base + QM_CQE_SIZE * usize::from(cq_depth);
        if rings_end + dus_status::RX_FROM_END > dus {
            return Err(bad(format!(
                "SQ {sq_depth}x{sqe_size} + CQ {cq_depth}x{QM_CQE_SIZE} + status words need {:#x} bytes, DUS has {dus:#x}",
                rings_end + dus_status::RX_FROM_END
            )));
        }
        let v1 = hw == HwVersion::V1;
        let doorbell = if v1 {
            QM_DOORBELL_OFFSET_V1
        } else {
            QM_DOORBELL_OFFSET_V2
        };
        let mmio = queue.mmio()?.len();
        if doorbell + 8 > mmio {
            return Err(bad(format!(
                "doorbell at {doorbell:#x} outside the {mmio:#x}-byte MMIO region"
            )));
        }
        Ok(Geometry {
            sqe_size,
            sq_depth,
            cq_depth,
            cq_base,
            tx_word: dus - dus_status::TX_FROM_END,
            rx_word: dus - dus_status::RX_FROM_END,
            doorbell,
            v1,
        })
    }

    /// The queue underneath.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// The queue underneath, mutably (for the address-space setup).
    pub fn queue_mut(&mut self) -> &mut Queue {
        &mut self.queue
    }

    /// The queue id from `SET_QP_CTX`.
    pub fn qn(&self) -> u16 {
        self.qn
    }

    /// SQE size in bytes.
    pub fn sqe_size(&self) -> usize {
        self.geo.sqe_size
    }

    /// SQ and CQ depths.
    pub fn depths(&self) -> (u16, u16) {
        (self.geo.sq_depth, self.geo.cq_depth)
    }

    /// How many requests may be in flight at once: `depth - 1`.
    pub fn capacity(&self) -> usize {
        usize::from(self.geo.sq_depth.min(self.geo.cq_depth)) - 1
    }

    /// Requests submitted and not yet completed.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// How [`wait`](Self::wait) waits.
    pub fn wait_mode(&self) -> WaitMode {
        self.config.wait_mode
    }

    /// Changes how [`wait`](Self::wait) waits (takes effect at the next CQ doorbell).
    pub fn set_wait_mode(&mut self, mode: WaitMode) {
        self.config.wait_mode = mode;
    }

    fn device(&self) -> &str {
        &self.queue.device().name
    }

    fn doorbell_value(&self, cmd: u64, index: u16, priority: u16) -> u64 {
        if self.geo.v1 {
            (u64::from(self.qn) & doorbell_v1::QN_MASK)
                | (cmd << doorbell_v1::CMD_SHIFT)
                | (u64::from(index) << doorbell_v1::INDEX_SHIFT)
                | (u64::from(priority) << doorbell_v1::PRIORITY_SHIFT)
        } else {
            (u64::from(self.qn) & doorbell_v2::QN_MASK)
                | (cmd << doorbell_v2::CMD_SHIFT)
                | (u64::from(index) << doorbell_v2::INDEX_SHIFT)
                | (u64::from(priority) << doorbell_v2::PRIORITY_SHIFT)
        }
    }

    /// Submits one descriptor: writes a fresh tag into it at the configured
    /// offset, copies it into the next SQ slot, and rings the SQ doorbell.
    /// Returns the tag, which comes back in the [`Completion`].
    pub fn submit(&mut self, sqe: &[u8]) -> Result<u32, QmError> {
        let sqe_size = self.geo.sqe_size;
        if sqe.len() != sqe_size {
            return Err(QmError::SqeSize {
                device: self.device().to_owned(),
                len: sqe.len(),
                sqe_size,
            });
        }
        if self.in_flight >= self.capacity() {
            return Err(QmError::Full {
                device: self.device().to_owned(),
                capacity: self.capacity(),
            });
        }
        let tag = self.next_tag;
        let mut slot_bytes = [0u8; MAX_SQE_SIZE];
        slot_bytes[..sqe_size].copy_from_slice(sqe);
        slot_bytes[self.config.tag_offset..self.config.tag_offset + 4]
            .copy_from_slice(&tag.to_le_bytes());

        let dus = self.queue.dus()?;
        let mmio = self.queue.mmio()?;
        let slot = self.sq_tail;
        let device = &self.queue.device().name;
        dus.write_bytes(usize::from(slot) * sqe_size, &slot_bytes[..sqe_size])
            .map_err(|e| QmError::region(device, e))?;
        let tx = dus
            .read::<u32>(self.geo.tx_word)
            .map_err(|e| QmError::region(device, e))?;
        if tx == 1 {
            return Err(QmError::DeviceResetting {
                device: device.clone(),
                word: "TX",
                value: tx,
            });
        }
        let new_tail = if slot + 1 == self.geo.sq_depth {
            0
        } else {
            slot + 1
        };
        let db = self.doorbell_value(QM_DOORBELL_CMD_SQ, new_tail, 0);
        // The descriptor must reach memory before the device sees the doorbell.
        barrier::store_barrier();
        mmio.write_u64(self.geo.doorbell, db)
            .map_err(|e| QmError::region(device, e))?;

        self.slots[usize::from(slot)] = Some(tag);
        self.sq_tail = new_tail;
        self.in_flight += 1;
        self.next_tag = self.next_tag.wrapping_add(0x9e37_79b9 | 1);
        Ok(tag)
    }

    /// Reaps one completion if the device has posted one; never blocks.
    pub fn poll(&mut self) -> Result<Option<Completion>, QmError> {
        let sqe_size = self.geo.sqe_size;
        let dus = self.queue.dus()?;
        let device = &self.queue.device().name;
        let entry = self.geo.cq_base + usize::from(self.cq_head) * QM_CQE_SIZE;
        let w7 = dus
            .read::<u16>(entry + cqe::W7)
            .map_err(|e| QmError::region(device, e))?;
        if w7 & cqe::PHASE_BIT != self.phase {
            return Ok(None);
        }
        // Nothing of the CQE or the SQ slot may be read before the phase bit.
        barrier::load_barrier();
        let slot = dus
            .read::<u16>(entry + cqe::SQ_HEAD)
            .map_err(|e| QmError::region(device, e))?;
        let mut done = Completion {
            slot,
            tag: 0,
            sqe: [0; MAX_SQE_SIZE],
        };
        let expected = if slot < self.geo.sq_depth {
            self.slots[usize::from(slot)].take()
        } else {
            None
        };
        if expected.is_some() {
            dus.read_bytes(usize::from(slot) * sqe_size, &mut done.sqe[..sqe_size])
                .map_err(|e| QmError::region(device, e))?;
        }

        // Consume the CQE whatever it says, so the ring stays in step.
        self.cq_head += 1;
        if self.cq_head == self.geo.cq_depth {
            self.cq_head = 0;
            self.phase ^= 1;
        }
        let rx = dus
            .read::<u32>(self.geo.rx_word)
            .map_err(|e| QmError::region(device, e))?;
        if rx == 1 {
            return Err(QmError::DeviceResetting {
                device: device.clone(),
                word: "RX",
                value: rx,
            });
        }
        let priority = u16::from(self.config.wait_mode == WaitMode::Sleep);
        let db = self.doorbell_value(QM_DOORBELL_CMD_CQ, self.cq_head, priority);
        // The slot has been read out before the device may reuse the CQ entry.
        barrier::full_barrier();
        let mmio = self.queue.mmio()?;
        mmio.write_u64(self.geo.doorbell, db)
            .map_err(|e| QmError::region(device, e))?;

        let Some(expected) = expected else {
            return Err(QmError::BadCompletion {
                device: device.clone(),
                slot,
            });
        };
        self.in_flight -= 1;
        let off = self.config.tag_offset;
        let found = u32::from_le_bytes([
            done.sqe[off],
            done.sqe[off + 1],
            done.sqe[off + 2],
            done.sqe[off + 3],
        ]);
        if found != expected {
            return Err(QmError::TagMismatch {
                device: device.clone(),
                slot,
                expected,
                found,
            });
        }
        done.tag = found;
        Ok(Some(done))
    }

    /// Waits up to `timeout` for one completion, sleeping in `poll(2)` or
    /// spinning as the [`WaitMode`] says. A completion that never comes is a
    /// [`QmError::Timeout`], never a hang; a removed device is reported as such.
    pub fn wait(&mut self, timeout: Duration) -> Result<Completion, QmError> {
        let start = Instant::now();
        loop {
            if let Some(done) = self.poll()? {
                return Ok(done);
            }
            let waited = start.elapsed();
            if waited >= timeout {
                // One last liveness check, so a removed device is named as such.
                self.queue.check_alive()?;
                return Err(QmError::Timeout {
                    device: self.device().to_owned(),
                    waited,
                    in_flight: self.in_flight,
                });
            }
            match self.config.wait_mode {
                WaitMode::Sleep if waited >= self.config.spin_before_sleep => {
                    self.queue.wait(Some(timeout - waited))?;
                }
                WaitMode::Sleep | WaitMode::BusyPoll => std::hint::spin_loop(),
            }
        }
    }

    /// Brings a queue back to a clean ring after requests were lost (a
    /// completion that never came): `PUT_Q` (stop), clear the CQ and the
    /// driver's slot table, `START_Q` again with indices 0, 0 and phase 1.
    /// Needs a kernel whose `PUT_Q` only stops (6.1 stable and newer, abi.md §12).
    pub fn restart(&mut self) -> Result<(), QmError> {
        self.queue.put()?;
        let dus = self.queue.dus()?;
        let device = &self.queue.device().name;
        dus.fill(
            self.geo.cq_base,
            QM_CQE_SIZE * usize::from(self.geo.cq_depth),
            0,
        )
        .map_err(|e| QmError::region(device, e))?;
        self.queue.start()?;
        self.sq_tail = 0;
        self.cq_head = 0;
        self.phase = 1;
        self.in_flight = 0;
        self.slots.iter_mut().for_each(|s| *s = None);
        Ok(())
    }

    /// Stops the queue and gives the [`Queue`] back.
    pub fn into_queue(mut self) -> Queue {
        let _ = self.queue.put();
        self.queue
    }
}
