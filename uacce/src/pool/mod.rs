//! The queue pool: many queues over one or more devices and both directions,
//! shared by many threads, with requests in flight, async completion and a
//! software fallback (DESIGN.md decision 10).
//!
//! ```
//! use uacce::comp::{DeviceChoice, ExecPath, Format};
//! use uacce::emu::EmuAddressMode;
//! use uacce::pool::{Job, Pool, PoolConfig};
//!
//! let pool = Pool::new(PoolConfig::new(DeviceChoice::Emulated(EmuAddressMode::Sva))).unwrap();
//! let data = b"hello pool ".repeat(100);
//! // Up to the lanes' depth of requests go in flight at once.
//! let tickets: Vec<_> = (0..4)
//!     .map(|_| pool.submit(Job::compress(Format::Gzip, data.clone())).unwrap())
//!     .collect();
//! for t in tickets {
//!     let out = t.wait().unwrap();
//!     assert_eq!(out.path, ExecPath::Emulated);
//!     let back = pool.run(Job::decompress(Format::Gzip, out.data, data.len())).unwrap();
//!     assert_eq!(back.data, data);
//! }
//! assert_eq!(pool.stats().emulated, 8);
//! ```
//!
//! # The hot path, and why it has no global lock
//!
//! Each lane (one started queue) keeps its ring and its requests in flight
//! behind its own mutex, which the hot path only ever `try_lock`s:
//!
//! * **submit** starts at the calling thread's home lane (threads are spread
//!   over the lanes of the nearest NUMA tier) and takes the first lane that
//!   has room (an atomic in-flight count, read without locking) and is not
//!   held by another thread; lightly loaded lanes are preferred in a first
//!   pass. Threads on different lanes share no lock and no written cache line
//!   (counters are per lane, cache-line aligned).
//! * **complete**: whoever holds a lane (a submitter, a waiter, or the
//!   completion thread) reaps every completion posted on it and delivers each
//!   into its request's cell, a lock-free one-element `crossbeam` queue, then
//!   wakes the waker registered there, if any.
//! * **back-pressure**: when every lane is full, the submitter reaps lanes
//!   itself (so progress never depends on another thread) and naps, up to
//!   [`PoolConfig::busy_wait`]; then the request goes to software or fails
//!   with [`PoolError::Busy`], as configured. A lost completion is declared
//!   after [`PoolConfig::request_timeout`] by whoever reaps the lane, which
//!   fails the lane's requests over and restarts the queue, so nothing waits
//!   forever.
//!
//! The only blocking locks are on slow paths: the waker slot of a ticket that
//! goes to sleep, and starting the completion thread.
//!
//! # Fallback
//!
//! Requests are whole members (block mode), so a request that a device did
//! not finish (error status, output full, timeout, queue failure, device
//! removed or resetting) is simply redone in software from its input, which
//! the pool keeps until the request completes: no byte is lost or
//! duplicated, and a software member concatenates with hardware members.
//! [`Fallback::Fail`] reports the device's error instead. Corrupt input and
//! checksum mismatches are the data's fault and fail on every path.

mod completer;
mod error;
mod job;
mod lane;
mod software;
mod stats;
mod ticket;

pub use error::PoolError;
pub use job::{Job, JobOutput, Op};
pub use stats::PoolStats;
pub use ticket::Ticket;

pub(crate) use software::decompress as software_decompress;

use std::cell::Cell as StdCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use self::lane::{Lane, Refusal};
use self::stats::Counters;
use self::ticket::Cell;
use crate::comp::{CompressError, DeviceChoice, Format, Level};
use crate::dma::DmaConfig;
use crate::hisi::qm::WaitMode;

/// What happens to a request that no device runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fallback {
    /// Run it in software (flate2), producing the same format.
    #[default]
    Software,
    /// Fail it with the reason.
    Fail,
}

/// Settings of a [`Pool`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Which devices (default: the nearest hardware, else the built-in emulator).
    pub choice: DeviceChoice,
    /// These devices instead of `choice`, when not empty (a pool over
    /// several devices, e.g. one per NUMA node).
    pub devices: Vec<crate::device::DeviceInfo>,
    /// Queues per device and direction (default: the number of CPUs).
    pub queues_per_device: usize,
    /// Directions to open queues for (default: both).
    pub ops: Vec<Op>,
    /// Requests each queue keeps in flight at most (default 16; capped by
    /// the ring's depth − 1 and the queue's DMA memory).
    pub lane_depth: usize,
    /// DMA memory per queue; its block size bounds one request
    /// (default: 16 MiB in blocks of 128 KiB).
    pub dma: DmaConfig,
    /// How waiters wait (default: sleep in `poll(2)`).
    pub wait_mode: WaitMode,
    /// What to do with requests no device runs (default: software).
    pub fallback: Fallback,
    /// How long a submitter waits for a free slot before the request goes to
    /// the fallback (default 1 s).
    pub busy_wait: Duration,
    /// How long a request may stay in flight (default 10 s).
    pub request_timeout: Duration,
    /// The software path's level (the device's is its own).
    pub level: Level,
}

impl PoolConfig {
    /// The defaults on the devices `choice` names.
    pub fn new(choice: DeviceChoice) -> PoolConfig {
        PoolConfig {
            choice,
            devices: Vec::new(),
            queues_per_device: std::thread::available_parallelism().map_or(2, |n| n.get()),
            ops: vec![Op::Compress, Op::Decompress],
            lane_depth: 16,
            dma: DmaConfig::default().with_block_size(128 << 10),
            wait_mode: WaitMode::Sleep,
            fallback: Fallback::Software,
            busy_wait: Duration::from_secs(1),
            request_timeout: Duration::from_secs(10),
            level: Level::DEFAULT,
        }
    }

    /// Sets [`devices`](Self::devices).
    pub fn with_devices(mut self, devices: Vec<crate::device::DeviceInfo>) -> Self {
        self.devices = devices;
        self
    }

    /// Sets [`queues_per_device`](Self::queues_per_device).
    pub fn with_queues_per_device(mut self, n: usize) -> Self {
        self.queues_per_device = n.max(1);
        self
    }

    /// Sets [`ops`](Self::ops).
    pub fn with_ops(mut self, ops: &[Op]) -> Self {
        self.ops = ops.to_vec();
        self
    }

    /// Sets [`lane_depth`](Self::lane_depth).
    pub fn with_lane_depth(mut self, depth: usize) -> Self {
        self.lane_depth = depth.max(1);
        self
    }

    /// Sets [`dma`](Self::dma).
    pub fn with_dma(mut self, dma: DmaConfig) -> Self {
        self.dma = dma;
        self
    }

    /// Sets [`wait_mode`](Self::wait_mode).
    pub fn with_wait_mode(mut self, mode: WaitMode) -> Self {
        self.wait_mode = mode;
        self
    }

    /// Sets [`fallback`](Self::fallback).
    pub fn with_fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = fallback;
        self
    }

    /// Sets [`busy_wait`](Self::busy_wait).
    pub fn with_busy_wait(mut self, wait: Duration) -> Self {
        self.busy_wait = wait;
        self
    }

    /// Sets [`request_timeout`](Self::request_timeout).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets [`level`](Self::level).
    pub fn with_level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }
}

impl Default for PoolConfig {
    fn default() -> PoolConfig {
        PoolConfig::new(DeviceChoice::Auto)
    }
}

/// The lanes of each direction as a thread on `node` sees them: nearest
/// NUMA tier first.
struct Tier {
    node: Option<u32>,
    order: [Vec<usize>; 2],
    /// How many lanes of each direction are in the nearest tier.
    near: [usize; 2],
}

impl Tier {
    fn new(node: Option<u32>, lanes: &[Lane]) -> Tier {
        let mut order = [Vec::new(), Vec::new()];
        let mut near = [0, 0];
        for op in [Op::Compress, Op::Decompress] {
            let mut idx: Vec<usize> = (0..lanes.len()).filter(|&i| lanes[i].op == op).collect();
            idx.sort_by_key(|&i| (crate::numa::proximity(node, lanes[i].numa_node), i));
            let best = idx
                .first()
                .map(|&i| crate::numa::proximity(node, lanes[i].numa_node));
            near[op.index()] = idx
                .iter()
                .filter(|&&i| Some(crate::numa::proximity(node, lanes[i].numa_node)) == best)
                .count();
            order[op.index()] = idx;
        }
        Tier { node, order, near }
    }
}

pub(crate) struct Inner {
    config: PoolConfig,
    lanes: Vec<Lane>,
    /// Lane orders per thread NUMA node (`None`: unknown node).
    tiers: Vec<Tier>,
    soft_counters: Counters,
    completer: OnceLock<Option<std::thread::Thread>>,
    id: usize,
}

/// A pool of queues. Cheap to clone (shared); `Send` and `Sync`.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("lanes", &self.inner.lanes.len())
            .field("stats", &self.stats())
            .finish()
    }
}

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);
static NEXT_POOL: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// A per-thread number that spreads threads over lanes.
    static HOME: StdCell<Option<usize>> = const { StdCell::new(None) };
    /// The thread's NUMA node, asked once (threads rarely change nodes).
    static NODE: StdCell<Option<Option<u32>>> = const { StdCell::new(None) };
}

fn thread_node() -> Option<u32> {
    NODE.with(|n| match n.get() {
        Some(v) => v,
        None => {
            let v = crate::numa::current_node();
            n.set(Some(v));
            v
        }
    })
}

fn home() -> usize {
    HOME.with(|h| match h.get() {
        Some(v) => v,
        None => {
            let v = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
            h.set(Some(v));
            v
        }
    })
}

impl Pool {
    /// Opens the pool's queues. Devices that cannot give a queue are skipped;
    /// a pool with no queue at all is valid and runs everything through the
    /// fallback (or fails every request, with [`Fallback::Fail`]).
    pub fn new(config: PoolConfig) -> Result<Pool, PoolError> {
        let mut devices = config.devices.clone();
        for f in [Format::Gzip, Format::Zlib, Format::Deflate] {
            if !config.devices.is_empty() {
                break;
            }
            match config.choice.candidates(f.algorithm()) {
                Ok(found) => {
                    for d in found {
                        if !devices
                            .iter()
                            .any(|x: &crate::device::DeviceInfo| x.name == d.name)
                        {
                            devices.push(d);
                        }
                    }
                }
                Err(CompressError::NoDevice { .. }) => {}
                Err(e) if config.fallback == Fallback::Software => {
                    let _ = e;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let node = crate::numa::current_node();
        devices.sort_by_key(|d| crate::numa::proximity(node, d.numa_node));
        let mut lanes = Vec::new();
        for dev in &devices {
            for _ in 0..config.queues_per_device {
                for &op in &config.ops {
                    match Lane::open(
                        dev,
                        op,
                        config.lane_depth,
                        &config.dma,
                        config.wait_mode,
                        config.request_timeout,
                    ) {
                        Ok(l) => lanes.push(l),
                        // Out of queues or going away: use what we have.
                        Err(CompressError::Queue(_) | CompressError::Qm(_)) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        // One lane order per node a thread may run on; unknown nodes use None's.
        let mut nodes: Vec<Option<u32>> = vec![None, node];
        for l in &lanes {
            if !nodes.contains(&l.numa_node) {
                nodes.push(l.numa_node);
            }
        }
        nodes.dedup();
        let tiers = nodes.into_iter().map(|n| Tier::new(n, &lanes)).collect();
        Ok(Pool {
            inner: Arc::new(Inner {
                config,
                lanes,
                tiers,
                soft_counters: Counters::default(),
                completer: OnceLock::new(),
                id: NEXT_POOL.fetch_add(1, Ordering::Relaxed),
            }),
        })
    }

    /// The number of queues per direction.
    pub fn queues(&self, op: Op) -> usize {
        self.inner.tiers[0].order[op.index()].len()
    }

    /// The largest input of one request: compression input or a compressed
    /// member for decompression (and the largest decompressed output).
    pub fn max_request(&self) -> usize {
        self.inner
            .lanes
            .iter()
            .map(|l| l.max_input)
            .min()
            .unwrap_or(usize::MAX)
    }

    /// Where `op` requests run when a device takes them: the path of the
    /// nearest queue, or software when the pool has none.
    pub fn exec_path(&self, op: Op) -> crate::comp::ExecPath {
        self.inner.tier().order[op.index()]
            .first()
            .map_or(crate::comp::ExecPath::Software, |&i| {
                self.inner.lanes[i].path
            })
    }

    /// Requests each queue keeps in flight at most.
    pub fn lane_depth(&self) -> usize {
        self.inner.lanes.iter().map(|l| l.depth).min().unwrap_or(0)
    }

    /// The configuration.
    pub fn config(&self) -> &PoolConfig {
        &self.inner.config
    }

    /// The counters so far.
    pub fn stats(&self) -> PoolStats {
        let mut s = PoolStats::default();
        for l in &self.inner.lanes {
            l.counters.add_to(&mut s);
        }
        self.inner.soft_counters.add_to(&mut s);
        s
    }

    /// Submits `job`. Returns when the request is on a queue (or, when no
    /// queue could take it, has been routed to the fallback, which runs when
    /// the ticket is collected). Waits up to [`PoolConfig::busy_wait`] for a
    /// free slot, reaping completions meanwhile.
    pub fn submit(&self, job: Job) -> Result<Ticket, PoolError> {
        let inner = &self.inner;
        let max = self.max_request();
        if job.input.len() > max || (job.op == Op::Decompress && job.max_output > max) {
            let len = job.input.len().max(job.max_output);
            return Err(PoolError::TooLarge { len, max });
        }
        let tier = inner.tier();
        let order = &tier.order[job.op.index()];
        let candidates = order
            .iter()
            .filter(|&&i| inner.lanes[i].offers(job.format))
            .count();
        if candidates == 0 {
            let reason = PoolError::NoDevice {
                algorithm: job.format.algorithm(),
                op: job.op.as_str(),
            };
            return self.route_fallback(job, reason);
        }
        let cell = Cell::new();
        let format = job.format;
        let live = |inner: &Inner| {
            order.iter().any(|&i| {
                inner.lanes[i].offers(format) && !inner.lanes[i].broken.load(Ordering::Relaxed)
            })
        };
        if !live(inner) {
            let reason = PoolError::QueuesFailed { lanes: candidates };
            return self.route_fallback(job, reason);
        }
        let start = home().wrapping_add(inner.id);
        let near = tier.near[job.op.index()].max(1);
        let began = Instant::now();
        let mut job = job;
        loop {
            // Pass 0: lightly loaded lanes of the nearest tier; pass 1: any
            // lane with room, nearest first.
            for pass in 0..2 {
                let n = order.len();
                for k in 0..n {
                    let pos = if k < near { (start + k) % near } else { k };
                    let i = order[pos];
                    let lane = &inner.lanes[i];
                    let limit = if pass == 0 {
                        lane.depth.div_ceil(2)
                    } else {
                        lane.depth
                    };
                    if !lane.offers(job.format) || !lane.has_room(limit) {
                        continue;
                    }
                    match lane.try_submit(job, &cell) {
                        Ok(()) => return Ok(Ticket::in_flight(Arc::clone(inner), cell, i)),
                        Err(Refusal::Busy(j)) => job = j,
                        Err(Refusal::Failed(j, reason)) => {
                            lane.counters.retry();
                            return self.route_fallback(j, reason);
                        }
                        Err(Refusal::Invalid(e)) => {
                            lane.counters.error();
                            return Ok(Ticket::ready(Arc::clone(inner), Err(e)));
                        }
                    }
                }
            }
            // Every lane is full or taken: help complete, then nap.
            let waited = began.elapsed();
            if !live(inner) {
                let reason = PoolError::QueuesFailed { lanes: candidates };
                return self.route_fallback(job, reason);
            }
            if waited >= inner.config.busy_wait {
                let reason = PoolError::Busy {
                    lanes: candidates,
                    waited,
                };
                return self.route_fallback(job, reason);
            }
            let mut reaped = false;
            for &i in order {
                reaped |= inner.lanes[i].try_reap();
            }
            if !reaped {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(20));
            }
        }
    }

    fn route_fallback(&self, job: Job, reason: PoolError) -> Result<Ticket, PoolError> {
        match self.inner.config.fallback {
            Fallback::Software => Ok(Ticket::software(Arc::clone(&self.inner), job, reason)),
            Fallback::Fail => {
                self.inner.soft_counters.error();
                Err(reason)
            }
        }
    }

    /// Submits `job` and waits for it.
    pub fn run(&self, job: Job) -> Result<JobOutput, PoolError> {
        self.submit(job)?.wait()
    }
}

impl Inner {
    /// The lane order for the calling thread's NUMA node.
    fn tier(&self) -> &Tier {
        let node = thread_node();
        self.tiers
            .iter()
            .find(|t| t.node == node)
            .unwrap_or(&self.tiers[0])
    }

    /// A future on `lane` is pending: make sure the completion thread runs.
    /// Returns `false` when no completion thread could be started (the
    /// future must then be polled again soon).
    pub(crate) fn completer_wanted(self: &Arc<Self>) -> bool {
        let weak = Arc::downgrade(self);
        match self.completer.get_or_init(|| completer::spawn(weak).ok()) {
            Some(t) => {
                t.unpark();
                true
            }
            None => false,
        }
    }
}
