//! Hand-rolled queue protocol for the emulator tests, written straight from
//! abi.md §3–§5 (no SDK driver code): 128-byte SQEs, 64-bit doorbells, the CQ
//! phase bit, results read back from the SQ slot.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use uacce::Queue;
use uacce::emu::{DeviceConfig, DeviceControl, Emulator, ZipVersion};

pub const SQE: usize = 128;
pub const CQE: usize = 16;
pub const DB: usize = 0x1000;

/// dw7 flags.
pub const FLUSH: u32 = 1 << 25;
pub const STREAM: u32 = 1 << 26;
pub const NEW: u32 = 1 << 27;
pub const BLOCK: u32 = FLUSH | NEW;

pub const DEFLATE: u8 = 1;
pub const ZLIB: u8 = 2;
pub const GZIP: u8 = 3;

/// A v2/v3 doorbell value (abi.md §4.2).
pub fn doorbell(qn: u16, cmd: u64, index: u16, priority: u16) -> u64 {
    u64::from(qn) | (cmd << 12) | (u64::from(index) << 32) | (u64::from(priority) << 48)
}

/// A v1 doorbell value: qn 0–15, cmd 16–19 (abi.md §4.2).
pub fn doorbell_v1(qn: u16, cmd: u64, index: u16, priority: u16) -> u64 {
    u64::from(qn) | (cmd << 16) | (u64::from(index) << 32) | (u64::from(priority) << 48)
}

/// The v1 doorbell register.
pub const DB_V1: usize = 0x340;

/// A hand-built ZIP SQE.
#[derive(Clone, Copy, Debug)]
pub struct Desc(pub [u32; 32]);

impl Desc {
    pub fn new(version: ZipVersion, req: u8, flags: u32, tag: u32) -> Desc {
        let mut d = [0u32; 32];
        let sqe_type = match version {
            ZipVersion::V1 | ZipVersion::V2 => 0,
            ZipVersion::V3 => 3,
        };
        d[7] = flags | (sqe_type << 28);
        d[9] = u32::from(req);
        match version {
            ZipVersion::V1 | ZipVersion::V2 => d[13] = tag,
            ZipVersion::V3 => d[26] = tag,
        }
        Desc(d)
    }

    pub fn src(mut self, addr: u64, len: u32) -> Desc {
        self.0[18] = addr as u32;
        self.0[19] = (addr >> 32) as u32;
        self.0[4] = len;
        self
    }

    pub fn dst(mut self, addr: u64, avail: u32) -> Desc {
        self.0[20] = addr as u32;
        self.0[21] = (addr >> 32) as u32;
        self.0[14] = avail;
        self
    }

    pub fn ctx(mut self, addr: u64) -> Desc {
        self.0[22] = addr as u32;
        self.0[23] = (addr >> 32) as u32;
        self
    }
}

/// The result dwords of a finished SQE.
#[derive(Clone, Copy, Debug)]
pub struct Done {
    pub slot: u16,
    pub sqe: [u32; 32],
}

impl Done {
    pub fn status(&self) -> u8 {
        (self.sqe[3] & 0xff) as u8
    }
    pub fn lstblk(&self) -> bool {
        self.sqe[3] & 0x100 != 0
    }
    pub fn consumed(&self) -> u32 {
        self.sqe[0]
    }
    pub fn produced(&self) -> u32 {
        self.sqe[1]
    }
}

/// One queue driven by hand.
pub struct Rig {
    pub emu: Emulator,
    pub ctl: DeviceControl,
    pub q: Queue,
    pub qid: u16,
    pub version: ZipVersion,
    pub sq_depth: u16,
    pub cq_depth: u16,
    pub tail: u16,
    pub head: u16,
    pub phase: bool,
    pub in_flight: usize,
}

impl Rig {
    pub fn new(cfg: DeviceConfig, qc_type: u16) -> Rig {
        let version = cfg.version();
        let emu = Emulator::new(cfg).unwrap();
        let ctl = emu.control(0).unwrap();
        let dev = emu.devices().unwrap().remove(0);
        let mut q = Queue::open(&dev).unwrap();
        let qid = q.set_qp_ctx(qc_type).unwrap();
        let info = q.set_qp_info().unwrap().unwrap();
        q.start().unwrap();
        Rig {
            emu,
            ctl,
            q,
            qid,
            version,
            sq_depth: info.sq_depth,
            cq_depth: info.cq_depth,
            tail: 0,
            head: 0,
            phase: true,
            in_flight: 0,
        }
    }

    pub fn compress(cfg: DeviceConfig) -> Rig {
        Rig::new(cfg, 0)
    }

    pub fn decompress(cfg: DeviceConfig) -> Rig {
        Rig::new(cfg, 1)
    }

    pub fn cq_base(&self) -> usize {
        SQE * usize::from(self.sq_depth)
    }

    pub fn dus_len(&self) -> usize {
        self.q.dus().unwrap().len()
    }

    /// Writes an SQE at the tail without ringing.
    pub fn push(&mut self, d: &Desc) -> u16 {
        let slot = self.tail;
        let dus = self.q.dus().unwrap();
        for (i, w) in d.0.iter().enumerate() {
            dus.write::<u32>(usize::from(slot) * SQE + i * 4, *w)
                .unwrap();
        }
        self.tail = (self.tail + 1) % self.sq_depth;
        self.in_flight += 1;
        slot
    }

    /// Rings a doorbell in this device's format.
    pub fn doorbell(&self, cmd: u64, index: u16, priority: u16) {
        let (offset, value) = match self.version {
            ZipVersion::V1 => (DB_V1, doorbell_v1(self.qid, cmd, index, priority)),
            _ => (DB, doorbell(self.qid, cmd, index, priority)),
        };
        self.q.mmio().unwrap().write_u64(offset, value).unwrap();
    }

    /// Rings the SQ doorbell with the current tail.
    pub fn ring(&self) {
        uacce::barrier::store_barrier();
        self.doorbell(0, self.tail, 0);
    }

    pub fn submit(&mut self, d: &Desc) -> u16 {
        let slot = self.push(d);
        self.ring();
        slot
    }

    pub fn read_sqe(&self, slot: u16) -> [u32; 32] {
        let dus = self.q.dus().unwrap();
        let mut out = [0u32; 32];
        for (i, w) in out.iter_mut().enumerate() {
            *w = dus.read::<u32>(usize::from(slot) * SQE + i * 4).unwrap();
        }
        out
    }

    /// The CQE at the consumer head, if its phase matches.
    pub fn poll(&mut self) -> Option<Done> {
        let dus = self.q.dus().unwrap();
        let off = self.cq_base() + usize::from(self.head) * CQE;
        let w7 = dus.read::<u16>(off + 14).unwrap();
        if (w7 & 1 == 1) != self.phase {
            return None;
        }
        uacce::barrier::load_barrier();
        let slot = dus.read::<u16>(off + 8).unwrap();
        let qn = dus.read::<u16>(off + 10).unwrap();
        assert_eq!(qn, self.qid, "sq_num carries the queue id");
        assert!(slot < self.sq_depth);
        let sqe = self.read_sqe(slot);
        self.head += 1;
        if self.head == self.cq_depth {
            self.head = 0;
            self.phase = !self.phase;
        }
        self.in_flight -= 1;
        self.doorbell(1, self.head, 1);
        Some(Done { slot, sqe })
    }

    /// Waits (sleeping in `Queue::wait`) for the next completion.
    pub fn reap_within(&mut self, limit: Duration) -> Option<Done> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(d) = self.poll() {
                return Some(d);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            self.q.wait(Some(deadline - now)).unwrap();
        }
    }

    pub fn reap(&mut self) -> Done {
        self.reap_within(Duration::from_secs(10))
            .expect("completion within 10 s")
    }

    /// Submits one descriptor and waits for it.
    pub fn run(&mut self, d: &Desc) -> Done {
        let slot = self.submit(d);
        let done = self.reap();
        assert_eq!(done.slot, slot);
        done
    }
}

/// Compressible test data.
pub fn sample(len: usize) -> Vec<u8> {
    let words = [
        "uacce ",
        "queue ",
        "doorbell ",
        "phase ",
        "kunpeng ",
        "zip ",
        "emulator ",
    ];
    let mut out = Vec::with_capacity(len + 16);
    let mut x: u32 = 12345;
    while out.len() < len {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        out.extend_from_slice(words[(x >> 16) as usize % words.len()].as_bytes());
        if x % 7 == 0 {
            out.push((x >> 8) as u8);
        }
    }
    out.truncate(len);
    out
}
