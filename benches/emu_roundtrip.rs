//! The bare queue round trip through the emulated device: write one 128-byte
//! descriptor, ring the SQ doorbell, reap its CQE (phase bit), ring the CQ
//! doorbell. The payload is 16 bytes of raw deflate compression on a v3
//! device, so the figure is dominated by the queue path, not by deflate.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use uacce::Queue;
use uacce::emu::{DeviceConfig, Emulator};

const SQE: usize = 128;
const DB: usize = 0x1000;

struct Ring {
    q: Queue,
    qid: u16,
    depth: u16,
    tail: u16,
    head: u16,
    phase: bool,
    sqe: [u32; 32],
}

impl Ring {
    fn new(emu: &Emulator, input: &[u8], output: &mut [u8]) -> Ring {
        let dev = emu.devices().expect("devices").remove(0);
        let mut q = Queue::open(&dev).expect("open");
        let qid = q.set_qp_ctx(0).expect("SET_QP_CTX");
        let depth = q
            .set_qp_info()
            .expect("SET_QP_INFO")
            .map_or(1024, |i| i.sq_depth);
        q.start().expect("START_Q");
        let mut sqe = [0u32; 32];
        sqe[4] = input.len() as u32;
        sqe[7] = (1 << 25) | (1 << 27) | (3 << 28); // block mode, sqe_type 3
        sqe[9] = 0x01; // raw deflate
        sqe[14] = output.len() as u32;
        let (src, dst) = (input.as_ptr() as u64, output.as_mut_ptr() as u64);
        (sqe[18], sqe[19]) = (src as u32, (src >> 32) as u32);
        (sqe[20], sqe[21]) = (dst as u32, (dst >> 32) as u32);
        Ring {
            q,
            qid,
            depth,
            tail: 0,
            head: 0,
            phase: true,
            sqe,
        }
    }

    fn doorbell(&self, cmd: u64, index: u16, priority: u64) {
        let v = u64::from(self.qid) | (cmd << 12) | (u64::from(index) << 32) | (priority << 48);
        self.q
            .mmio()
            .expect("mmio")
            .write_u64(DB, v)
            .expect("doorbell");
    }

    /// One request, start to finish; `sleep` chooses `Queue::wait` over spinning.
    fn round_trip(&mut self, tag: u32, sleep: bool) -> u32 {
        let dus = self.q.dus().expect("dus");
        let base = usize::from(self.tail) * SQE;
        self.sqe[26] = tag;
        for (i, w) in self.sqe.iter().enumerate() {
            dus.write::<u32>(base + i * 4, *w).expect("sqe");
        }
        self.tail = (self.tail + 1) % self.depth;
        uacce::barrier::store_barrier();
        self.doorbell(0, self.tail, 0);
        let cqe = SQE * usize::from(self.depth) + usize::from(self.head) * 16;
        loop {
            let w7 = dus.read::<u16>(cqe + 14).expect("cqe");
            if (w7 & 1 == 1) == self.phase {
                break;
            }
            if sleep {
                self.q.wait(Some(Duration::from_secs(5))).expect("wait");
            } else {
                std::hint::spin_loop();
            }
        }
        uacce::barrier::load_barrier();
        let slot = dus.read::<u16>(cqe + 8).expect("cqe");
        let status = dus
            .read::<u32>(usize::from(slot) * SQE + 12)
            .expect("status");
        self.head += 1;
        if self.head == self.depth {
            self.head = 0;
            self.phase = !self.phase;
        }
        self.doorbell(1, self.head, u64::from(sleep));
        status
    }
}

fn bench(c: &mut Criterion) {
    let input = [7u8; 16];
    let mut output = vec![0u8; 4096];
    let mut group = c.benchmark_group("emu_roundtrip");
    for (name, sleep) in [("spin", false), ("wait", true)] {
        let emu = Emulator::new(DeviceConfig::zip_v3().with_queues(1)).expect("emulator");
        let mut ring = Ring::new(&emu, &input, &mut output);
        let mut tag = 0u32;
        group.bench_function(name, |b| {
            b.iter(|| {
                tag = tag.wrapping_add(1);
                black_box(ring.round_trip(tag, sleep))
            })
        });
    }
    group.finish();
}

/// Throughput with `batch` requests per doorbell on a two-thread device: the
/// engine runs requests of one queue in parallel and still completes them in
/// order, so requests per second should rise with the batch.
fn batch(c: &mut Criterion) {
    let input: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut group = c.benchmark_group("emu_batch_4k");
    for batch in [1u16, 4, 16, 64] {
        let emu =
            Emulator::new(DeviceConfig::zip_v3().with_queues(1).with_workers(2)).expect("emulator");
        let mut outputs = vec![vec![0u8; 8192]; usize::from(batch)];
        let mut ring = Ring::new(&emu, &input, &mut outputs[0]);
        ring.sqe[4] = input.len() as u32;
        group.throughput(criterion::Throughput::Elements(u64::from(batch)));
        group.bench_function(format!("batch_{batch}"), |b| {
            b.iter(|| {
                let dus = ring.q.dus().expect("dus");
                for (i, out) in outputs.iter_mut().enumerate() {
                    let dst = out.as_mut_ptr() as u64;
                    (ring.sqe[20], ring.sqe[21]) = (dst as u32, (dst >> 32) as u32);
                    ring.sqe[26] = i as u32;
                    let base = usize::from(ring.tail) * SQE;
                    for (j, w) in ring.sqe.iter().enumerate() {
                        dus.write::<u32>(base + j * 4, *w).expect("sqe");
                    }
                    ring.tail = (ring.tail + 1) % ring.depth;
                }
                uacce::barrier::store_barrier();
                ring.doorbell(0, ring.tail, 0);
                for _ in 0..batch {
                    let cqe = SQE * usize::from(ring.depth) + usize::from(ring.head) * 16;
                    while (dus.read::<u16>(cqe + 14).expect("cqe") & 1 == 1) != ring.phase {
                        ring.q.wait(Some(Duration::from_secs(5))).expect("wait");
                    }
                    ring.head += 1;
                    if ring.head == ring.depth {
                        ring.head = 0;
                        ring.phase = !ring.phase;
                    }
                }
                ring.doorbell(1, ring.head, 1);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, batch);
criterion_main!(benches);
