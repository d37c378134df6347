//! Kernel conformance program of uacce-rs.
//!
//! Runs inside the QEMU guest that `tests/kernel/run.sh` boots: Debian's
//! kernel, the real uacce core (`drivers/misc/uacce/uacce.c`, built unchanged)
//! and `mock_hisi_qm.ko`, a parent driver shaped like one HiSilicon ZIP
//! function (QM v2) whose "hardware" is a kernel thread. Every check goes
//! through the SDK's public API and its kernel backend, so what passes here is
//! what the SDK does against a real uacce core (abi.md §12).
//!
//! ```text
//! uacce-conformance --depth N --queues N --remove-parent CMD [--restore-parent CMD]
//!                   [--reset-param FILE] [--summary FILE]
//! ```
//!
//! `CMD` (run with `/bin/sh -c`) must remove the mock parent driver; the
//! device-removal check runs it near the end, with queues open. The optional
//! restore command loads the parent again for a last check; the optional reset
//! parameter file (the mock's `reset` module parameter) lets the device-reset
//! check raise and clear the DUS status words. Each check prints
//! `ok` or `FAIL` with details; the summary `passed/total` goes to `FILE`, and
//! the exit status is 0 only if every check passed.

use std::fmt::Display;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use uacce::backend::{Backend, KernelBackend};
use uacce::comp::{CompressError, Compressor, Decompressor, DeviceChoice, Format, Level};
use uacce::device::{AddressMode, DeviceInfo, HwVersion};
use uacce::discovery::{self, DiscoveryError};
use uacce::dma::{AddressSpace, DmaConfig, DmaError};
use uacce::hisi::qm::{Completion, QmConfig, QmError, QmQueue, WaitMode};
use uacce::queue::{Queue, QueueError, QueueOp, RegionKind};
use uacce_sys::hisi_qm::QM_SQE_SIZE_ZIP_SEC;

/// Where the ZIP v2 descriptor keeps its tag: dw13 (abi.md §4.5, §5).
const ZIP_V2_TAG_OFFSET: usize = 13 * 4;
/// dw3 bits 0–7: the status the device writes back into the slot.
const STATUS_DWORD: usize = 3;
const TAG_DWORD: usize = 13;
/// Generous bound for one completion under TCG on a loaded machine.
const COMPLETION_TIMEOUT: Duration = Duration::from_secs(10);

type Check = Result<(), String>;

/// Fails the check with a formatted message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Turns any displayable error into a check failure with context.
trait Context<T> {
    fn ctx(self, what: &str) -> Result<T, String>;
}

impl<T, E: Display> Context<T> for Result<T, E> {
    fn ctx(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

struct Options {
    depth: u16,
    queues: u32,
    remove_parent: String,
    restore_parent: Option<String>,
    reset_param: Option<PathBuf>,
    summary: Option<PathBuf>,
}

impl Options {
    fn parse() -> Result<Options, String> {
        let mut args = std::env::args().skip(1);
        let (mut depth, mut queues, mut remove_parent, mut restore_parent) =
            (None, None, None, None);
        let (mut reset_param, mut summary) = (None, None);
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--depth" => {
                    depth = Some(
                        value()?
                            .parse::<u16>()
                            .map_err(|e| format!("--depth: {e}"))?,
                    )
                }
                "--queues" => {
                    queues = Some(
                        value()?
                            .parse::<u32>()
                            .map_err(|e| format!("--queues: {e}"))?,
                    )
                }
                "--remove-parent" => remove_parent = Some(value()?),
                "--restore-parent" => restore_parent = Some(value()?),
                "--reset-param" => reset_param = Some(PathBuf::from(value()?)),
                "--summary" => summary = Some(PathBuf::from(value()?)),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(Options {
            depth: depth.ok_or("--depth is required")?,
            queues: queues.ok_or("--queues is required")?,
            remove_parent: remove_parent.ok_or("--remove-parent is required")?,
            restore_parent,
            reset_param,
            summary,
        })
    }
}

/// What the mock device must look like, from the module parameters and the
/// running kernel's page size (abi.md §3.2, §3.3).
struct Expected {
    depth: u16,
    queues: u32,
    page: usize,
    mmio_size: u64,
    dus_size: u64,
}

impl Expected {
    fn new(opts: &Options) -> Expected {
        let page = uacce::backend::kernel::page_size();
        let align = |n: usize| n.div_ceil(page) * page;
        let depth = usize::from(opts.depth);
        Expected {
            depth: opts.depth,
            queues: opts.queues,
            page,
            mmio_size: (page + (0x1000 / page) * page) as u64,
            dus_size: (align(QM_SQE_SIZE_ZIP_SEC * depth + 16 * depth) + page) as u64,
        }
    }
}

struct Suite {
    root: PathBuf,
    expected: Expected,
    remove_parent: String,
    restore_parent: Option<String>,
    reset_param: Option<PathBuf>,
    passed: usize,
    failed: Vec<&'static str>,
}

impl Suite {
    fn run(&mut self, name: &'static str, check: impl FnOnce(&Suite) -> Check) {
        let start = Instant::now();
        // A panic fails this check only; the others still run.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(self)))
            .unwrap_or_else(|_| Err("panicked".to_owned()));
        match outcome {
            Ok(()) => {
                self.passed += 1;
                println!("ok   {name} ({} ms)", start.elapsed().as_millis());
            }
            Err(why) => {
                self.failed.push(name);
                println!("FAIL {name}: {why}");
            }
        }
    }

    /// The mock device, read afresh from sysfs (available_instances changes).
    fn device(&self) -> Result<DeviceInfo, String> {
        let scan = discovery::scan(&self.root).ctx("scan")?;
        let mut found = scan
            .devices
            .into_iter()
            .filter(|d| d.hw_version() == Some(HwVersion::V2));
        let dev = found
            .next()
            .ok_or_else(|| format!("no hisi_qm_v2 device under {}", self.root.display()))?;
        ensure!(found.next().is_none(), "more than one hisi_qm_v2 device");
        Ok(dev)
    }

    fn available(&self, dev: &DeviceInfo) -> Result<u32, String> {
        Ok(discovery::read_device(&self.root, &dev.name)
            .ctx("read_device")?
            .available_instances)
    }

    fn qm(&self, dev: &DeviceInfo, mode: WaitMode) -> Result<QmQueue, String> {
        let queue = Queue::open(dev).ctx("Queue::open")?;
        let mut config = QmConfig::new(0, ZIP_V2_TAG_OFFSET);
        config.wait_mode = mode;
        QmQueue::new(queue, config).ctx("QmQueue::new")
    }
}

fn main() -> ExitCode {
    let opts = match Options::parse() {
        Ok(opts) => opts,
        Err(why) => {
            eprintln!("uacce-conformance: {why}");
            eprintln!(
                "usage: uacce-conformance --depth N --queues N --remove-parent CMD \
                 [--restore-parent CMD] [--reset-param FILE] [--summary FILE]"
            );
            return ExitCode::from(2);
        }
    };
    let mut suite = Suite {
        root: discovery::default_root(),
        expected: Expected::new(&opts),
        remove_parent: opts.remove_parent.clone(),
        restore_parent: opts.restore_parent.clone(),
        reset_param: opts.reset_param.clone(),
        passed: 0,
        failed: Vec::new(),
    };
    println!(
        "uacce-conformance: root {}, page size {}, expecting depth {}, {} queues, MMIO {:#x}, DUS {:#x}",
        suite.root.display(),
        suite.expected.page,
        suite.expected.depth,
        suite.expected.queues,
        suite.expected.mmio_size,
        suite.expected.dus_size
    );

    suite.run("discovery of the mock device from sysfs", check_discovery);
    suite.run(
        "open maps DUS and MMIO at type * page size",
        check_open_maps,
    );
    suite.run(
        "second mmap of a region: EEXIST; re-mmap after munmap: EEXIST",
        check_map_once,
    );
    suite.run(
        "flags 0: no shared memory, SS region refused, control plane works",
        check_no_shared_memory,
    );
    suite.run(
        "EBUSY when queues run out; available_instances restored on close",
        check_ebusy,
    );
    suite.run(
        "START_Q, START_Q again, PUT_Q, START_Q after PUT_Q",
        check_start_put,
    );
    suite.run("SET_QP_CTX and SET_QP_INFO", check_hisi_ioctls);
    suite.run("wait with a timeout", check_wait_timeout);
    suite.run(
        "hisi QM ring round trip past the depth (phase flip), both wait modes",
        check_ring,
    );
    if suite.reset_param.is_some() {
        suite.run(
            "device reset: TX/RX status words stop the ring, restart resumes",
            check_reset_words,
        );
    }
    suite.run("forked child cannot use the parent's queue", check_fork);
    suite.run(
        "compression on a device without shared memory: clear error",
        check_comp_no_shared_memory,
    );
    // Last: it removes the device.
    suite.run("parent driver removed while queues are open", check_removal);
    if suite.restore_parent.is_some() {
        suite.run(
            "device back after the parent returns: a new queue works",
            check_restored,
        );
    }

    let total = suite.passed + suite.failed.len();
    let summary = format!("{}/{total}", suite.passed);
    if let Some(path) = &opts.summary {
        let text = if suite.failed.is_empty() {
            summary.clone()
        } else {
            format!("{summary} failed: {}", suite.failed.join("; "))
        };
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("uacce-conformance: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    println!("uacce-conformance: {summary} checks passed");
    if suite.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn check_discovery(s: &Suite) -> Check {
    let scan = discovery::scan(&s.root).ctx("scan")?;
    ensure!(scan.errors.is_empty(), "scan errors: {:?}", scan.errors);
    ensure!(
        scan.devices.len() == 1,
        "expected one device, found {:?}",
        names(&scan.devices)
    );
    let dev = &scan.devices[0];
    let e = &s.expected;
    ensure!(dev.name.starts_with("hisi_zip-"), "name {:?}", dev.name);
    ensure!(
        dev.api.as_str() == "hisi_qm_v2" && dev.hw_version() == Some(HwVersion::V2),
        "api {}",
        dev.api
    );
    ensure!(
        dev.algorithms == ["zlib", "gzip"],
        "algorithms {:?}",
        dev.algorithms
    );
    let raw = std::fs::read_to_string(dev.sysfs_path.join("algorithms")).ctx("read algorithms")?;
    ensure!(raw == "zlib\ngzip\n", "raw algorithms attribute {raw:?}");
    ensure!(
        dev.supports("gzip") && !dev.supports("deflate"),
        "supports()"
    );
    // No IOMMU: the core's SVA negotiation drops the flag the parent asked for.
    ensure!(
        dev.flags.bits() == 0,
        "flags {:#x}, expected 0",
        dev.flags.bits()
    );
    ensure!(
        dev.address_mode == AddressMode::NoSharedMemory,
        "address mode {}",
        dev.address_mode
    );
    ensure!(
        dev.available_instances == e.queues,
        "available_instances {}",
        dev.available_instances
    );
    ensure!(
        dev.region_mmio_size == Some(e.mmio_size),
        "region_mmio_size {:?}",
        dev.region_mmio_size
    );
    ensure!(
        dev.region_dus_size == Some(e.dus_size),
        "region_dus_size {:?}",
        dev.region_dus_size
    );
    // 6.1 has no isolation attributes (6.2+); a platform parent has no numa_node.
    ensure!(
        dev.isolate.is_none() && dev.isolate_strategy.is_none(),
        "isolate {:?}",
        dev.isolate
    );
    ensure!(dev.numa_node.is_none(), "numa_node {:?}", dev.numa_node);
    ensure!(!dev.is_emulated(), "reported as emulated");
    let meta = std::fs::metadata(&dev.dev_path).ctx("stat dev node")?;
    ensure!(
        meta.file_type().is_char_device(),
        "{} is not a character device",
        dev.dev_path.display()
    );

    let again = discovery::read_device(&s.root, &dev.name).ctx("read_device")?;
    ensure!(
        again.name == dev.name
            && again.dev_path == dev.dev_path
            && again.region_dus_size == dev.region_dus_size,
        "read_device disagrees with scan"
    );
    match discovery::read_device(&s.root, "hisi_zip-999") {
        Err(DiscoveryError::NoSuchDevice { .. }) => {}
        other => return Err(format!("read_device of a missing device: {other:?}")),
    }
    let chosen = discovery::select(&scan.devices, "zlib", None);
    ensure!(
        chosen.len() == 1 && chosen[0].name == dev.name,
        "select(zlib) {:?}",
        chosen.len()
    );
    ensure!(
        discovery::select(&scan.devices, "lz4", None).is_empty(),
        "select(lz4) found a device"
    );
    Ok(())
}

fn check_open_maps(s: &Suite) -> Check {
    let dev = s.device()?;
    let queue = Queue::open(&dev).ctx("Queue::open")?;
    ensure!(
        queue.page_size() == s.expected.page,
        "page size {}",
        queue.page_size()
    );
    let dus = queue.dus().ctx("dus")?;
    let mmio = queue.mmio().ctx("mmio")?;
    ensure!(
        dus.len() as u64 == s.expected.dus_size,
        "DUS mapped with {:#x} bytes",
        dus.len()
    );
    ensure!(
        mmio.len() as u64 == s.expected.mmio_size,
        "MMIO mapped with {:#x} bytes",
        mmio.len()
    );
    // A fresh queue pair has a zeroed ring and zeroed TX/RX status words.
    let last = dus.len() - 8;
    ensure!(
        dus.read::<u64>(last).ctx("status words")? == 0,
        "status words not zero"
    );
    ensure!(
        dus.read::<u64>(0).ctx("SQ slot 0")? == 0,
        "SQ not zeroed at open"
    );
    // The mapping is real shared memory: what we write reads back.
    dus.write::<u64>(0x100, 0x0123_4567_89ab_cdef)
        .ctx("write DUS")?;
    ensure!(
        dus.read::<u64>(0x100).ctx("read DUS")? == 0x0123_4567_89ab_cdef,
        "DUS did not read back"
    );
    ensure!(
        mmio.read_u64(0).ctx("read MMIO")? == 0,
        "MMIO page not zero"
    );
    ensure!(
        s.available(&dev)? == s.expected.queues - 1,
        "available_instances did not drop by one"
    );
    drop(queue);
    ensure!(
        s.available(&dev)? == s.expected.queues,
        "available_instances not restored on close"
    );
    Ok(())
}

fn expect_errno<T>(r: Result<T, Errno>, want: Errno, what: &str) -> Check {
    match r {
        Err(e) if e == want => Ok(()),
        Err(e) => Err(format!("{what}: {e}, expected {want}")),
        Ok(_) => Err(format!("{what} succeeded, expected {want}")),
    }
}

fn check_map_once(s: &Suite) -> Check {
    let dev = s.device()?;
    let dus_len = s.expected.dus_size as usize;
    let mmio_len = s.expected.mmio_size as usize;
    let mut backend = KernelBackend::open(&dev.dev_path).ctx("KernelBackend::open")?;
    // The DUS length must be exact (hisi_qm rule, abi.md §3.3); a refusal
    // leaves the region unmapped.
    expect_errno(
        backend.map(RegionKind::Dus, dus_len - s.expected.page),
        Errno::EINVAL,
        "short DUS map",
    )?;
    let dus = backend.map(RegionKind::Dus, dus_len).ctx("first DUS map")?;
    expect_errno(
        backend.map(RegionKind::Dus, dus_len),
        Errno::EEXIST,
        "second DUS map",
    )?;
    let mmio = backend
        .map(RegionKind::Mmio, mmio_len)
        .ctx("first MMIO map")?;
    expect_errno(
        backend.map(RegionKind::Mmio, mmio_len),
        Errno::EEXIST,
        "second MMIO map",
    )?;
    // abi.md §12: 6.1.192 never clears the slot, so munmap + mmap stays EEXIST.
    drop(mmio);
    expect_errno(
        backend.map(RegionKind::Mmio, mmio_len),
        Errno::EEXIST,
        "MMIO map after munmap",
    )?;
    drop(dus);
    drop(backend);

    // The same through Queue: it maps once at open; map_ss is the only map
    // left to the user and refuses a second call without unmapping the first.
    let mut queue = Queue::open(&dev).ctx("Queue::open")?;
    // A refused map leaves nothing behind: the second call is refused by the
    // kernel again, not short-cut as AlreadyMapped.
    for attempt in ["first", "second"] {
        match queue.map_ss(64 << 10) {
            Err(e) if e.errno() == Some(Errno::EINVAL) => {}
            other => {
                return Err(format!(
                    "{attempt} map_ss on mainline: {other:?}, expected EINVAL"
                ));
            }
        }
    }
    ensure!(
        queue.dus().ctx("dus after map_ss")?.len() == dus_len,
        "DUS changed"
    );
    Ok(())
}

fn check_no_shared_memory(s: &Suite) -> Check {
    let dev = s.device()?;
    ensure!(
        dev.address_mode == AddressMode::NoSharedMemory,
        "address mode {}",
        dev.address_mode
    );
    ensure!(
        !dev.address_mode.needs_translation(),
        "NoSharedMemory claims SS translation"
    );
    let mut queue = Queue::open(&dev).ctx("Queue::open")?;
    // The DMA layer refuses such a device with a clear error, before it maps
    // anything.
    match AddressSpace::new(&mut queue, &DmaConfig::default()) {
        Err(DmaError::NoSharedMemory { device }) => {
            ensure!(device == dev.name, "error names {device}")
        }
        Err(e) => return Err(format!("AddressSpace::new: {e:?}, expected NoSharedMemory")),
        Ok(_) => return Err("AddressSpace::new accepted a device without shared memory".into()),
    }
    // No SS region on a mainline kernel (abi.md §12: mmap at 2 * page is EINVAL),
    // so there is no memory the device could be given.
    let err = match queue.map_ss(1 << 20) {
        Ok(_) => return Err("SS region mapped on a mainline kernel".into()),
        Err(e) => e,
    };
    ensure!(
        matches!(
            err,
            QueueError::Os {
                op: QueueOp::Map(RegionKind::Ss),
                ..
            }
        ) && err.errno() == Some(Errno::EINVAL),
        "map_ss error {err:?}"
    );
    let text = err.to_string();
    ensure!(
        text.contains(&dev.name) && text.contains("SS"),
        "unclear error text {text:?}"
    );
    // The control plane still works on such a device.
    queue.set_qp_ctx(0).ctx("SET_QP_CTX")?;
    queue.start().ctx("START_Q")?;
    queue.put().ctx("PUT_Q")?;
    Ok(())
}

/// Compression on a device without shared memory: a clear error, never a hang
/// or wrong bytes. Runs after the fork check: the built-in emulator that an
/// automatic choice may fall back to starts threads.
fn check_comp_no_shared_memory(s: &Suite) -> Check {
    let dev = s.device()?;
    let choice = DeviceChoice::Device(Box::new(dev.clone()));
    let no_memory = |r: Result<(), CompressError>, what: &str| -> Check {
        match r {
            Err(CompressError::Dma(DmaError::NoSharedMemory { device })) => {
                ensure!(device == dev.name, "{what}: error names {device}");
                Ok(())
            }
            Err(e) => Err(format!("{what}: {e:?}, expected NoSharedMemory")),
            Ok(()) => Err(format!("{what} opened on a device without shared memory")),
        }
    };
    no_memory(
        Compressor::with_choice(Format::Gzip, Level::DEFAULT, &choice).map(drop),
        "Compressor on the device",
    )?;
    no_memory(
        Decompressor::with_choice(Format::Zlib, &choice).map(drop),
        "Decompressor on the device",
    )?;
    ensure!(
        s.available(&dev)? == s.expected.queues,
        "a refused engine kept its queue"
    );

    // The automatic choice sees only this device: it must either fall back to
    // the built-in emulator and round-trip correctly, or refuse clearly.
    let data: Vec<u8> = (0..200_000u32)
        .map(|i| (i % 251) as u8 ^ (i / 997) as u8)
        .collect();
    match uacce::comp::compress(&data, Format::Gzip) {
        Ok(gz) => {
            let back = uacce::comp::decompress(&gz, Format::Gzip).ctx("decompress")?;
            ensure!(
                back == data,
                "automatic choice: round trip changed the data"
            );
            println!("     automatic choice fell back to the built-in emulator");
        }
        // A flags-0 device cannot move data, so the automatic choice must pass
        // it over for the built-in emulator rather than fail.
        Err(e) => return Err(format!("automatic choice did not fall back: {e:?}")),
    }
    ensure!(
        s.available(&dev)? == s.expected.queues,
        "automatic choice kept a queue"
    );
    Ok(())
}

fn check_ebusy(s: &Suite) -> Check {
    let dev = s.device()?;
    let mut open = Vec::new();
    for i in 0..s.expected.queues {
        open.push(Queue::open(&dev).ctx(&format!("open #{i}"))?);
    }
    ensure!(
        s.available(&dev)? == 0,
        "available_instances not 0 with every queue open"
    );
    match Queue::open(&dev) {
        Err(QueueError::NoFreeQueue { device }) => {
            ensure!(device == dev.name, "error names {device}")
        }
        other => {
            return Err(format!(
                "open beyond the last queue: {other:?}, expected NoFreeQueue (EBUSY)"
            ));
        }
    }
    open.pop();
    ensure!(
        s.available(&dev)? == 1,
        "available_instances not 1 after one close"
    );
    let again = Queue::open(&dev).ctx("open after a close")?;
    drop(again);
    open.clear();
    ensure!(
        s.available(&dev)? == s.expected.queues,
        "available_instances not restored"
    );
    Ok(())
}

fn check_start_put(s: &Suite) -> Check {
    let dev = s.device()?;
    let mut queue = Queue::open(&dev).ctx("Queue::open")?;
    queue.start().ctx("START_Q")?;
    ensure!(queue.is_started(), "not started after START_Q");
    match queue.start() {
        Err(QueueError::AlreadyStarted { .. }) => {}
        other => {
            return Err(format!(
                "second START_Q: {other:?}, expected AlreadyStarted (EINVAL)"
            ));
        }
    }
    queue.put().ctx("PUT_Q")?;
    ensure!(!queue.is_started(), "started after PUT_Q");
    // 6.1.192: PUT_Q only stops; the queue is kept until close (abi.md §12).
    ensure!(
        s.available(&dev)? == s.expected.queues - 1,
        "PUT_Q gave the queue back before close"
    );
    queue.put().ctx("PUT_Q again")?;
    queue.start().ctx("START_Q after PUT_Q")?;
    ensure!(queue.is_started(), "not started after restart");
    queue.check_alive().ctx("check_alive")?;
    drop(queue);
    ensure!(
        s.available(&dev)? == s.expected.queues,
        "available_instances not restored on close"
    );
    Ok(())
}

fn check_hisi_ioctls(s: &Suite) -> Check {
    let dev = s.device()?;
    let mut queue = Queue::open(&dev).ctx("Queue::open")?;
    let id = queue.set_qp_ctx(0).ctx("SET_QP_CTX(0)")?;
    ensure!(u32::from(id) < s.expected.queues, "queue id {id}");
    ensure!(
        queue.set_qp_ctx(1).ctx("SET_QP_CTX(1)")? == id,
        "id changed"
    );
    match queue.set_qp_ctx(2) {
        Err(e) if e.errno() == Some(Errno::EINVAL) => {}
        other => return Err(format!("SET_QP_CTX(qc_type 2): {other:?}, expected EINVAL")),
    }
    let info = queue
        .set_qp_info()
        .ctx("SET_QP_INFO")?
        .ok_or("SET_QP_INFO missing")?;
    ensure!(
        info.sqe_size == 128
            && info.sq_depth == s.expected.depth
            && info.cq_depth == s.expected.depth,
        "SET_QP_INFO {info:?}"
    );
    Ok(())
}

fn check_wait_timeout(s: &Suite) -> Check {
    let dev = s.device()?;
    let mut queue = Queue::open(&dev).ctx("Queue::open")?;
    let wait = |queue: &Queue, what: &str| -> Check {
        let start = Instant::now();
        let event = queue.wait(Some(Duration::from_millis(200))).ctx(what)?;
        let waited = start.elapsed();
        ensure!(!event, "{what}: event reported with nothing submitted");
        ensure!(
            waited >= Duration::from_millis(190),
            "{what}: returned after {waited:?}"
        );
        ensure!(waited < Duration::from_secs(5), "{what}: took {waited:?}");
        Ok(())
    };
    wait(&queue, "wait before START_Q")?;
    queue.start().ctx("START_Q")?;
    wait(&queue, "wait on an idle started queue")?;
    Ok(())
}

/// A descriptor whose every dword is recognisable, with status byte 0xff so
/// that a device write of status 0 is visible.
fn sqe_pattern(i: u32) -> [u8; 128] {
    let mut sqe = [0u8; 128];
    for (d, chunk) in sqe.chunks_exact_mut(4).enumerate() {
        let word = match d {
            STATUS_DWORD => 0x5a5a_5aff,
            _ => i.wrapping_mul(0x0101_0101) ^ (d as u32).wrapping_mul(0x1111_1111),
        };
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    sqe
}

/// Checks one completion against what was submitted.
fn check_completion(done: &Completion, i: u32, tag: u32, slot: u16) -> Check {
    ensure!(
        done.tag == tag,
        "request {i}: tag {:#x}, submitted {tag:#x}",
        done.tag
    );
    ensure!(
        done.slot == slot,
        "request {i}: slot {}, expected {slot}",
        done.slot
    );
    ensure!(
        done.dword(TAG_DWORD) == tag,
        "request {i}: dw13 {:#x}",
        done.dword(TAG_DWORD)
    );
    let status = done.dword(STATUS_DWORD);
    ensure!(
        status == 0x5a5a_5a00,
        "request {i}: dw3 {status:#010x}, expected status 0 written by the device"
    );
    let sent = sqe_pattern(i);
    for d in (0..32).filter(|&d| d != STATUS_DWORD && d != TAG_DWORD) {
        let want = u32::from_le_bytes(sent[d * 4..d * 4 + 4].try_into().map_err(|_| "slice")?);
        ensure!(
            done.dword(d) == want,
            "request {i}: dw{d} changed to {:#x}",
            done.dword(d)
        );
    }
    Ok(())
}

/// Submits `count` requests one at a time, each waited for, starting at request
/// number `first` and SQ slot `slot`. Returns the next slot.
fn round_trips(qm: &mut QmQueue, first: u32, count: u32, mut slot: u16) -> Result<u16, String> {
    let depth = qm.depths().0;
    for i in first..first + count {
        let tag = qm.submit(&sqe_pattern(i)).ctx(&format!("submit {i}"))?;
        let done = qm.wait(COMPLETION_TIMEOUT).ctx(&format!("wait {i}"))?;
        check_completion(&done, i, tag, slot)?;
        slot = (slot + 1) % depth;
    }
    Ok(slot)
}

fn check_ring(s: &Suite) -> Check {
    let dev = s.device()?;
    let depth = s.expected.depth;
    let mut qm = s.qm(&dev, WaitMode::Sleep)?;
    ensure!(qm.depths() == (depth, depth), "depths {:?}", qm.depths());
    ensure!(
        qm.capacity() == usize::from(depth) - 1,
        "capacity {}",
        qm.capacity()
    );
    ensure!(qm.sqe_size() == 128, "sqe size {}", qm.sqe_size());
    ensure!(u32::from(qm.qn()) < s.expected.queues, "qn {}", qm.qn());
    ensure!(
        qm.poll().ctx("poll on an empty ring")?.is_none(),
        "completion from an empty ring"
    );

    // Past the depth in Sleep mode (poll(2) and the kernel's is_q_updated),
    // then past it again busy-polling: two phase flips.
    let d = u32::from(depth);
    let t = Instant::now();
    let slot = round_trips(&mut qm, 0, d + 3, 0)?;
    let sleep_time = t.elapsed();
    qm.set_wait_mode(WaitMode::BusyPoll);
    let t = Instant::now();
    let slot = round_trips(&mut qm, d + 3, d, slot)?;
    let busy_time = t.elapsed();
    ensure!(
        slot == 3 % depth,
        "next slot {slot} after {} requests",
        2 * d + 3
    );
    ensure!(qm.in_flight() == 0, "in flight {}", qm.in_flight());
    println!(
        "     {} round trips: {:?} sleeping, {:?} busy-polling",
        2 * d + 3,
        sleep_time,
        busy_time
    );

    // Nothing in flight: wait times out instead of hanging.
    match qm.wait(Duration::from_millis(100)) {
        Err(QmError::Timeout { in_flight: 0, .. }) => {}
        other => return Err(format!("wait with nothing in flight: {other:?}")),
    }
    // PUT_Q + START_Q on the same queue: rings start over at slot 0, phase 1.
    qm.restart().ctx("restart")?;
    qm.set_wait_mode(WaitMode::Sleep);
    let next = round_trips(&mut qm, 3 * d, 3, 0)?;
    ensure!(next == 3 % depth, "slot after restart {next}");

    // poll(2) readiness comes from the driver's is_q_updated, which walks the
    // CQ with the kernel's own shadow head (abi.md §2.6): it may still be
    // behind on completions the SDK reaped without sleeping, and reports
    // those first. Once it has caught up (a zero-timeout poll), an event
    // means a new CQE, and there is exactly one event per new completion.
    qm.queue()
        .wait(Some(Duration::ZERO))
        .ctx("poll(2) to catch the shadow head up")?;
    let tag = qm.submit(&sqe_pattern(7)).ctx("submit for poll(2)")?;
    let ready = qm
        .queue()
        .wait(Some(COMPLETION_TIMEOUT))
        .ctx("poll(2) for a completion")?;
    ensure!(ready, "poll(2) reported no event for a completion");
    let done = qm
        .poll()
        .ctx("poll after event")?
        .ok_or("event but no CQE")?;
    check_completion(&done, 7, tag, next)?;
    let again = qm
        .queue()
        .wait(Some(Duration::from_millis(100)))
        .ctx("poll(2) again")?;
    ensure!(!again, "poll(2) reported an event twice for one completion");

    fill_ring(&mut qm, (next + 1) % depth)
}

/// Waits until CQ entry `index` carries `phase`, without consuming it: the
/// entry is watched through the SDK's bounds-checked DUS accessor (a
/// ZIP-sized SQ precedes the CQ; the phase is bit 0 of the CQE's `w7` at 14).
fn wait_for_cqe(qm: &QmQueue, index: usize, phase: u16) -> Check {
    let (depth, _) = qm.depths();
    let w7 = QM_SQE_SIZE_ZIP_SEC * usize::from(depth) + index * 16 + 14;
    let deadline = Instant::now() + COMPLETION_TIMEOUT;
    loop {
        let dus = qm.queue().dus().ctx("dus")?;
        if dus.read::<u16>(w7).ctx("read CQE")? & 1 == phase {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "CQE {index} did not reach phase {phase} in {COMPLETION_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Fills the ring to capacity (one slot stays empty), checks that one more
/// submission is refused as Full, then reaps every completion in order.
fn fill_ring(qm: &mut QmQueue, first_slot: u16) -> Check {
    let (depth, _) = qm.depths();
    let capacity = qm.capacity();
    let mut tags = Vec::with_capacity(capacity);
    for n in 0..capacity as u32 {
        tags.push(
            qm.submit(&sqe_pattern(10_000 + n))
                .ctx(&format!("batch submit {n}"))?,
        );
    }
    match qm.submit(&sqe_pattern(0)) {
        Err(QmError::Full { capacity: c, .. }) if c == capacity => {}
        other => return Err(format!("submit into a full ring: {other:?}, expected Full")),
    }
    // Let the device finish the whole batch before the first CQ doorbell:
    // the mock sees only the latest doorbell word (see mock_hisi_qm.c). The
    // last CQE is watched through the SDK's bounds-checked DUS accessor.
    // CQ and SQ advance together here, and the CQ is in its first pass since
    // the restart (expected phase 1 at the head).
    let cq_head = usize::from(first_slot);
    let last = (cq_head + capacity - 1) % usize::from(depth);
    let last_phase = if cq_head + capacity > usize::from(depth) {
        0
    } else {
        1
    };
    wait_for_cqe(qm, last, last_phase)
        .map_err(|e| format!("batch of {capacity} not completed: {e}"))?;
    let mut slot = first_slot;
    for (n, tag) in tags.iter().enumerate() {
        let done = qm
            .wait(COMPLETION_TIMEOUT)
            .ctx(&format!("batch wait {n}"))?;
        check_completion(&done, 10_000 + n as u32, *tag, slot)?;
        slot = (slot + 1) % depth;
    }
    ensure!(
        qm.in_flight() == 0,
        "in flight after the batch: {}",
        qm.in_flight()
    );
    Ok(())
}

/// The parent driver announces a reset through the DUS status words (abi.md
/// §3.3): the SDK must stop consuming (RX) and submitting (TX), and carry on
/// after the reset is over and the queue restarted.
fn check_reset_words(s: &Suite) -> Check {
    let param = s.reset_param.as_deref().ok_or("no --reset-param")?;
    let set = |on: bool| std::fs::write(param, if on { "1" } else { "0" });
    let dev = s.device()?;
    let mut qm = s.qm(&dev, WaitMode::Sleep)?;
    let slot = round_trips(&mut qm, 0, 2, 0)?;
    qm.submit(&sqe_pattern(2)).ctx("submit")?;
    // Let the device complete it (CQE 2, first pass), then announce the reset.
    wait_for_cqe(&qm, 2, 1)?;
    set(true).ctx("set reset")?;
    let result = (|| -> Check {
        match qm.poll() {
            Err(
                e @ QmError::DeviceResetting {
                    word: "RX",
                    value: 1,
                    ..
                },
            ) => {
                ensure!(e.is_device_failure(), "RX reset is not a device failure")
            }
            other => return Err(format!("poll during reset: {other:?}, expected RX reset")),
        }
        match qm.submit(&sqe_pattern(3)) {
            Err(QmError::DeviceResetting {
                word: "TX",
                value: 1,
                ..
            }) => {}
            other => return Err(format!("submit during reset: {other:?}, expected TX reset")),
        }
        Ok(())
    })();
    set(false).ctx("clear reset")?;
    result?;
    ensure!(slot == 2, "slot {slot}");
    qm.restart().ctx("restart after reset")?;
    round_trips(&mut qm, 4, 3, 0)?;
    Ok(())
}

fn wait_child(pid: libc::pid_t) -> Result<libc::c_int, String> {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer; `pid` is our own child.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            return Ok(status);
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("waitpid: {err}"));
        }
    }
}

/// What the child checks: every SDK entry point refuses, nothing faults.
fn forked_child(qm: &mut QmQueue) -> libc::c_int {
    let forked = |e: &QueueError| matches!(e, QueueError::ForkedChild { .. });
    if !qm.queue().check_usable().as_ref().is_err_and(forked) {
        return 10;
    }
    if !qm.queue().mmio().as_ref().is_err_and(forked) {
        return 11;
    }
    if !qm.queue().dus().as_ref().is_err_and(forked) {
        return 12;
    }
    if !matches!(
        qm.submit(&sqe_pattern(0)),
        Err(QmError::Queue(QueueError::ForkedChild { .. }))
    ) {
        return 13;
    }
    if !matches!(
        qm.poll(),
        Err(QmError::Queue(QueueError::ForkedChild { .. }))
    ) {
        return 14;
    }
    0
}

fn fork() -> Result<libc::pid_t, String> {
    // SAFETY: the program is single-threaded at this point, so the child may
    // run arbitrary code; it leaves with `_exit` only.
    let pid = unsafe { libc::fork() };
    ensure!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    Ok(pid)
}

fn check_fork(s: &Suite) -> Check {
    let dev = s.device()?;
    let mut qm = s.qm(&dev, WaitMode::Sleep)?;
    let slot = round_trips(&mut qm, 0, 2, 0)?;

    let pid = fork()?;
    if pid == 0 {
        let code = forked_child(&mut qm);
        // SAFETY: ends the child at once, without running destructors that
        // belong to the parent's resources.
        unsafe { libc::_exit(code) }
    }
    let status = wait_child(pid)?;
    ensure!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child: status {status:#x} (exit code 10-14 = an SDK call did not report ForkedChild)"
    );

    // The reason for the guard: the kernel gives the child no mapping at all
    // (VM_DONTCOPY / VM_WIPEONFORK), so a raw access dies with SIGSEGV.
    let ptr = qm.queue().dus().ctx("dus")?.as_ptr();
    let pid = fork()?;
    if pid == 0 {
        // SAFETY: not sound by design: this child probes that the address is
        // unmapped and is expected to die with SIGSEGV on this volatile read
        // (no reference is formed); it never returns into Rust code.
        let value = unsafe { std::ptr::read_volatile(ptr.cast::<u32>()) };
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(if value == 0 { 20 } else { 21 }) }
    }
    let status = wait_child(pid)?;
    ensure!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSEGV,
        "child reading the parent's DUS: status {status:#x}, expected death by SIGSEGV"
    );

    // The parent's queue is untouched by both children.
    qm.queue().check_usable().ctx("parent check_usable")?;
    round_trips(&mut qm, 2, 3, slot)?;
    Ok(())
}

fn check_removal(s: &Suite) -> Check {
    let dev = s.device()?;
    let mut qm = s.qm(&dev, WaitMode::Sleep)?;
    round_trips(&mut qm, 0, 2, 0)?;
    let mut plain = Queue::open(&dev).ctx("second queue")?;

    run_command(&s.remove_parent)?;

    // START_Q on a queue that has not noticed yet: the kernel says ENXIO.
    match plain.start() {
        Err(QueueError::DeviceRemoved {
            op: QueueOp::Start, ..
        }) => {}
        other => {
            return Err(format!(
                "START_Q after removal: {other:?}, expected DeviceRemoved"
            ));
        }
    }
    // From now on the queue refuses to touch its (zapped) mappings.
    ensure!(
        plain
            .dus()
            .as_ref()
            .is_err_and(QueueError::is_device_removed),
        "dus() after removal"
    );
    ensure!(
        plain
            .mmio()
            .as_ref()
            .is_err_and(QueueError::is_device_removed),
        "mmio() after removal"
    );
    ensure!(
        plain
            .put()
            .as_ref()
            .is_err_and(QueueError::is_device_removed),
        "PUT_Q after removal"
    );

    // The other queue learns it from a wait that times out (poll reports no
    // events for a dead queue), then its ring operations refuse as well
    // instead of raising SIGBUS on the zapped mappings.
    let start = Instant::now();
    match qm.queue().wait(Some(Duration::from_millis(200))) {
        Err(QueueError::DeviceRemoved { .. }) => {}
        other => {
            return Err(format!(
                "wait after removal: {other:?}, expected DeviceRemoved"
            ));
        }
    }
    ensure!(
        start.elapsed() < Duration::from_secs(5),
        "wait took {:?}",
        start.elapsed()
    );
    let removed = |r: Result<(), QmError>, what: &str| -> Check {
        match r {
            Err(e)
                if e.is_device_failure()
                    && matches!(e, QmError::Queue(QueueError::DeviceRemoved { .. })) =>
            {
                Ok(())
            }
            other => Err(format!(
                "{what} after removal: {other:?}, expected DeviceRemoved"
            )),
        }
    };
    removed(qm.submit(&sqe_pattern(9)).map(drop), "submit")?;
    removed(qm.poll().map(drop), "poll")?;
    removed(
        qm.wait(Duration::from_millis(50)).map(drop),
        "QmQueue::wait",
    )?;
    let err = qm.submit(&sqe_pattern(9)).err().ok_or("submit succeeded")?;
    ensure!(err.to_string().contains("removed"), "error text {err}");

    // The device is gone from sysfs and /dev.
    let scan = discovery::scan(&s.root);
    match &scan {
        Ok(scan) => ensure!(
            scan.devices.is_empty(),
            "devices after removal: {:?}",
            names(&scan.devices)
        ),
        Err(DiscoveryError::NoClassDir { .. }) => {}
        Err(e) => return Err(format!("scan after removal: {e}")),
    }
    match discovery::read_device(&s.root, &dev.name) {
        Err(DiscoveryError::NoSuchDevice { .. }) => {}
        other => return Err(format!("read_device after removal: {other:?}")),
    }
    ensure!(
        !Path::new(&dev.dev_path).exists(),
        "{} still exists",
        dev.dev_path.display()
    );
    // Closing the dead queues (munmap + close) must be quiet.
    drop(qm);
    drop(plain);
    Ok(())
}

fn check_restored(s: &Suite) -> Check {
    let cmd = s.restore_parent.as_deref().ok_or("no --restore-parent")?;
    run_command(cmd)?;
    let dev = s.device()?;
    ensure!(
        dev.available_instances == s.expected.queues,
        "available_instances {}",
        dev.available_instances
    );
    let mut qm = s.qm(&dev, WaitMode::Sleep)?;
    round_trips(&mut qm, 0, 3, 0)?;
    Ok(())
}

/// Runs `cmd` with `/bin/sh -c`; fails unless it exits 0.
fn run_command(cmd: &str) -> Check {
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .ctx(&format!("run {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed: {} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn names(devices: &[DeviceInfo]) -> Vec<&str> {
    devices.iter().map(|d| d.name.as_str()).collect()
}
