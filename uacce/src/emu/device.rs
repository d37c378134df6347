//! One virtual device: its configuration, queue-pair allocation and
//! `available_instances`, its engine, its fault plan, and the control handle
//! tests use to inject faults.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use nix::errno::Errno;
use parking_lot::Mutex;
use uacce_sys::hisi_qm::dus_status;

use super::EmuError;
use super::backend::EmuBackend;
use super::config::DeviceConfig;
use super::engine::Engine;
use super::fault::{FaultAction, FaultPlan, RequestId};
use super::queue::QueueCore;
use super::sysfs;
use crate::backend::{Backend, Opener};

/// Where the fake DMA addresses of SS regions start: far from where Linux puts
/// user mappings, so a virtual address passed by mistake does not translate.
const DMA_BASE: u64 = 0x0a00_0000_0000;
/// DMA space set aside for each SS region.
const DMA_STRIDE: u64 = 0x10_0000_0000;

struct Slots {
    used: Vec<bool>,
    /// Where the cyclic id search starts (`idr_alloc_cyclic`).
    next: usize,
    available: u32,
}

/// The device side of one virtual device.
pub(crate) struct EmuDevice {
    pub name: String,
    pub config: DeviceConfig,
    pub dir: PathBuf,
    pub engine: Engine,
    pub faults: FaultPlan,
    removed: AtomicBool,
    requests: AtomicU64,
    dma_regions: AtomicU64,
    slots: Mutex<Slots>,
    queues: Mutex<Vec<Weak<QueueCore>>>,
}

impl EmuDevice {
    pub fn new(
        name: String,
        config: DeviceConfig,
        dir: PathBuf,
    ) -> Result<Arc<EmuDevice>, EmuError> {
        let engine = Engine::start(&name, config.workers).map_err(EmuError::Io)?;
        let queues = config.queues;
        Ok(Arc::new(EmuDevice {
            name,
            dir,
            engine,
            faults: FaultPlan::default(),
            removed: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            dma_regions: AtomicU64::new(0),
            slots: Mutex::new(Slots {
                used: vec![false; queues as usize],
                next: 0,
                available: queues,
            }),
            queues: Mutex::new(Vec::new()),
            config,
        }))
    }

    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    /// Counts a fetched SQE; returns its device-wide number.
    pub fn next_request(&self) -> u64 {
        self.requests.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh, 64 KiB aligned DMA base for one SS region.
    pub fn next_dma_base(&self) -> u64 {
        DMA_BASE + self.dma_regions.fetch_add(1, Ordering::Relaxed) * DMA_STRIDE
    }

    fn open_queue(self: &Arc<Self>) -> Result<Arc<QueueCore>, Errno> {
        if self.is_removed() {
            return Err(Errno::ENXIO);
        }
        let qid = {
            let mut slots = self.slots.lock();
            if slots.available == 0 {
                return Err(Errno::EBUSY);
            }
            let n = slots.used.len();
            let start = slots.next;
            let qid = (0..n)
                .map(|i| (start + i) % n)
                .find(|&i| !slots.used[i])
                .ok_or(Errno::EBUSY)?;
            slots.used[qid] = true;
            slots.next = (qid + 1) % n;
            slots.available -= 1;
            let _ = sysfs::write_available(&self.dir, slots.available);
            qid as u16
        };
        match QueueCore::new(self.clone(), qid) {
            Ok(core) => {
                let mut queues = self.queues.lock();
                queues.retain(|q| q.strong_count() > 0);
                queues.push(Arc::downgrade(&core));
                Ok(core)
            }
            Err(e) => {
                self.release(qid);
                Err(e)
            }
        }
    }

    /// The queue file `qid` was closed: its queue pair is free again.
    pub fn release(&self, qid: u16) {
        let mut slots = self.slots.lock();
        if let Some(used) = slots.used.get_mut(usize::from(qid)) {
            if *used {
                *used = false;
                slots.available += 1;
                if !self.is_removed() {
                    let _ = sysfs::write_available(&self.dir, slots.available);
                }
            }
        }
    }

    fn live_queues(&self) -> Vec<Arc<QueueCore>> {
        self.queues
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }

    /// Removes the device: the class entry vanishes, every queue dies.
    pub fn remove(&self) {
        if self.removed.swap(true, Ordering::AcqRel) {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        for q in self.live_queues() {
            q.on_removed();
        }
    }

    pub fn available(&self) -> u32 {
        self.slots.lock().available
    }
}

/// Opens queues of one device for [`crate::Queue::open`].
pub(crate) struct DeviceOpener(pub Arc<EmuDevice>);

impl Opener for DeviceOpener {
    fn open(&self) -> Result<Box<dyn Backend>, Errno> {
        let core = self.0.open_queue()?;
        Ok(Box::new(EmuBackend::new(core)))
    }
}

/// Which DUS status word (abi.md §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusWord {
    /// The TX word (`dus_size - 4`): "stop submitting".
    Tx,
    /// The RX word (`dus_size - 8`): "stop consuming".
    Rx,
}

/// The test-side handle of one virtual device: fault injection and removal.
/// Cloning it is cheap; it keeps the device's bookkeeping alive but not its
/// class directory.
#[derive(Clone)]
pub struct DeviceControl {
    dev: Arc<EmuDevice>,
}

impl std::fmt::Debug for DeviceControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceControl")
            .field("name", &self.dev.name)
            .finish_non_exhaustive()
    }
}

impl DeviceControl {
    pub(crate) fn new(dev: Arc<EmuDevice>) -> DeviceControl {
        DeviceControl { dev }
    }

    /// The device name, e.g. `hisi_zip-3`.
    pub fn name(&self) -> &str {
        &self.dev.name
    }

    /// The device's configuration.
    pub fn config(&self) -> &DeviceConfig {
        &self.dev.config
    }

    /// Free queue pairs right now (what `available_instances` shows).
    pub fn available_instances(&self) -> u32 {
        self.dev.available()
    }

    /// How many SQEs the device has fetched so far, from all queues.
    pub fn requests_fetched(&self) -> u64 {
        self.dev.requests.load(Ordering::Relaxed)
    }

    /// Request `at` is not run; its SQE reports `status` in dw3 (consumed and
    /// produced 0) and completes normally.
    pub fn fail_request(&self, at: RequestId, status: u8) {
        self.dev.faults.arm(at, FaultAction::Fail(status));
    }

    /// Request `at` never completes: no results, no CQE. Because completions
    /// are in order, later requests of that queue do not complete either
    /// until the queue is stopped (`PUT_Q`) and started again.
    pub fn stall_request(&self, at: RequestId) {
        self.dev.faults.arm(at, FaultAction::Stall);
    }

    /// Request `at` runs normally, but the device writes the bitwise
    /// complement of its tag (v2 dw13, v3 dw26) back into the slot.
    pub fn corrupt_tag(&self, at: RequestId) {
        self.dev.faults.arm(at, FaultAction::CorruptTag);
    }

    /// Every completion is delayed by `delay` (`None`: no delay). The delay
    /// is spent on the engine thread that ran the request.
    pub fn set_completion_delay(&self, delay: Option<Duration>) {
        self.dev.faults.set_delay(delay);
    }

    /// Disarms every fault and the delay.
    pub fn clear_faults(&self) {
        self.dev.faults.clear();
    }

    /// Writes `value` into status word `word` of the queue `qid`, or of every
    /// open queue when `qid` is `None`, as the kernel does on a reset (1 =
    /// raised, 0 = cleared).
    pub fn set_status_word(&self, word: StatusWord, qid: Option<u16>, value: u32) {
        let from_end = match word {
            StatusWord::Tx => dus_status::TX_FROM_END,
            StatusWord::Rx => dus_status::RX_FROM_END,
        };
        for q in self.dev.live_queues() {
            if qid.is_none_or(|id| id == q.qid) {
                q.set_status_word(from_end, value);
            }
        }
    }

    /// Removes the device as a driver unbind would: its sysfs directory
    /// vanishes, open queues answer `ENXIO` to every ioctl and map, `wait`
    /// reports no event, nothing more completes. Mappings stay accessible
    /// (see the module docs).
    pub fn remove(&self) {
        self.dev.remove();
    }

    /// Whether the device was removed.
    pub fn is_removed(&self) -> bool {
        self.dev.is_removed()
    }
}
