//! [`BlockPool`]: fixed-size blocks of device-visible memory with a lock-free
//! free list.
//!
//! * Blocks are carved from the SS region (non-SVA) or from anonymous memory
//!   (SVA). A block whose bytes are not DMA-contiguous is never handed out:
//!   construction asks the address space for each block's DMA address and
//!   skips the blocks that straddle a discontinuity (as UADK does).
//! * The free list is a `crossbeam_queue::ArrayQueue` of block indices, with a
//!   few atomic "hot" slots in front of it: a returned block goes to a hot slot
//!   if one is empty and is taken from there first, so the blocks of the
//!   previous request are reused while still in the CPU cache (the queue alone
//!   is FIFO and would cycle through every block, all of the pool's megabytes).
//!   Taking and returning a block are a few lock-free atomic operations on
//!   the hot slots, or one pop or push on the queue. A lock and a condition
//!   variable exist only for threads that wait for a block ([`BlockPool::alloc`])
//!   and for the release that wakes them.
//! * No holder ever sees an earlier holder's data. Each free block carries the
//!   extent that was ever exposed to software or the device ("dirty"); taking a
//!   block zeroes that extent, except the prefix that the new holder overwrites
//!   at once (bounce copies), so equal-size bounce chunks cost no extra memset.
//! * A block keeps the memory alive: the pool owns the mapping (the SS region
//!   is an `Arc`), and every block owns a reference to the pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering, fence};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use parking_lot::{Condvar, Mutex};

use super::{DmaAddr, DmaBuf, DmaError};
use crate::region::{SharedMemory, SsRegion};

/// The memory a pool is carved from.
#[derive(Debug)]
pub(crate) enum Backing {
    /// The queue's SS region (non-SVA modes).
    Ss(Arc<SsRegion>),
    /// Ordinary anonymous memory of the process (SVA mode).
    Anonymous(SharedMemory),
}

impl Backing {
    fn mem(&self) -> &SharedMemory {
        match self {
            Backing::Ss(ss) => ss,
            Backing::Anonymous(mem) => mem,
        }
    }
}

/// A free block: its index and how many leading bytes may hold old data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    index: u32,
    dirty: u32,
}

/// An empty hot slot (no block has index `u32::MAX`).
const NO_SLOT: u64 = u64::MAX;
/// Number of hot slots: covers a request's input and output block with room.
const HOT: usize = 4;

impl Slot {
    fn pack(self) -> u64 {
        (u64::from(self.index) << 32) | u64::from(self.dirty)
    }

    fn unpack(v: u64) -> Slot {
        Slot {
            index: (v >> 32) as u32,
            dirty: v as u32,
        }
    }
}

/// One hot slot on a cache line of its own (128 bytes: the pair of 64-byte
/// lines that arm64 and x86 prefetchers move together), so threads using
/// different slots do not slow each other down.
#[repr(align(128))]
struct HotSlot(AtomicU64);

/// The hot slot a thread tries first: threads are spread over the slots, so
/// two threads each reusing their own recent blocks touch different lines.
fn home_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static HOME: usize = NEXT.fetch_add(1, Ordering::Relaxed) % HOT;
    }
    HOME.with(|h| *h)
}

/// The slow-path state, away from the hot slots' lines.
#[repr(align(128))]
struct Waiting {
    /// Threads inside the slow path of `alloc`.
    waiters: AtomicUsize,
    lock: Mutex<()>,
    freed: Condvar,
}

struct PoolInner {
    backing: Backing,
    block_size: usize,
    /// Offset of block `i` in the backing memory.
    offsets: Box<[usize]>,
    /// DMA address of block `i`.
    dmas: Box<[DmaAddr]>,
    hot: [HotSlot; HOT],
    free: ArrayQueue<Slot>,
    waiting: Waiting,
    skipped: usize,
}

impl PoolInner {
    /// Takes a free block: a hot one if any, else the queue's oldest.
    #[inline]
    fn pop_free(&self) -> Option<Slot> {
        let home = home_slot();
        for i in 0..HOT {
            let h = &self.hot[(home + i) % HOT].0;
            // The plain load keeps empty slots from bouncing between caches.
            // Acquire pairs with the Release that put the block there, so the
            // previous holder's writes to the block happen before ours.
            if h.load(Ordering::Relaxed) != NO_SLOT {
                let v = h.swap(NO_SLOT, Ordering::Acquire);
                if v != NO_SLOT {
                    return Some(Slot::unpack(v));
                }
            }
        }
        self.free.pop()
    }

    /// Returns a block: to an empty hot slot, else to the queue.
    #[inline]
    fn push_free(&self, slot: Slot) {
        let v = slot.pack();
        let home = home_slot();
        for i in 0..HOT {
            let h = &self.hot[(home + i) % HOT].0;
            if h.load(Ordering::Relaxed) == NO_SLOT
                && h.compare_exchange(NO_SLOT, v, Ordering::Release, Ordering::Relaxed)
                    .is_ok()
            {
                return;
            }
        }
        // Every index lives in exactly one place (a Block, a hot slot, or the
        // queue) and the queue can hold them all, so this always finds room.
        let pushed = self.free.push(slot);
        debug_assert!(pushed.is_ok(), "DMA pool free list overflow");
    }

    fn release(&self, slot: Slot) {
        self.push_free(slot);
        // Pairs with the fence in `wait_for_block`: either this load sees the
        // waiter's increment, or the waiter's pop sees this push.
        fence(Ordering::SeqCst);
        if self.waiting.waiters.load(Ordering::Relaxed) > 0 {
            // Taking the lock orders the notify after the waiter started waiting.
            let _guard = self.waiting.lock.lock();
            self.waiting.freed.notify_all();
        }
    }
}

/// How a taken block is prepared.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Prepare {
    /// All bytes read as zero.
    Zeroed,
    /// The caller overwrites the first `n` bytes at once; the rest reads as zero.
    Overwrite(usize),
}

/// Keeps a pool alive on behalf of the blocks taken through it.
///
/// A block must keep its pool's memory mapped, so it owns a reference count.
/// Were that the pool's own `Arc`, every allocate and free from every thread
/// would write one shared counter, and that cache line would be the one point
/// of contention between threads (measured: it more than doubled the time of
/// an allocate/free pair with two threads). Instead each hot slot has a
/// keeper, a separate allocation with its own counter on its own line, and a
/// thread's blocks count on the keeper of its home slot.
#[repr(align(128))]
struct Keeper {
    pool: Arc<PoolInner>,
}

/// One block, owned by one holder; returns to the pool when dropped.
pub(crate) struct Block {
    keeper: Arc<Keeper>,
    index: u32,
    /// Bytes from the start that may hold data when the block is returned.
    dirty: usize,
}

impl Block {
    pub(crate) fn offset(&self) -> usize {
        self.keeper.pool.offsets[self.index as usize]
    }

    pub(crate) fn dma_addr(&self) -> DmaAddr {
        self.keeper.pool.dmas[self.index as usize]
    }

    pub(crate) fn mem(&self) -> &SharedMemory {
        self.keeper.pool.backing.mem()
    }

    /// Virtual address of the first byte.
    pub(crate) fn va(&self) -> usize {
        self.mem().as_ptr() as usize + self.offset()
    }

    /// Records that the first `n` bytes may now hold data (from software or
    /// from the device).
    pub(crate) fn mark_dirty(&mut self, n: usize) {
        self.dirty = self.dirty.max(n.min(self.keeper.pool.block_size));
    }

    pub(crate) fn belongs_to(&self, pool: &BlockPool) -> bool {
        Arc::ptr_eq(&self.keeper.pool, &pool.inner)
    }

    /// Never returns the block to the pool, for when the device may still
    /// access it (a request that timed out). The memory stays mapped for the
    /// life of the process.
    pub(crate) fn abandon(self) {
        std::mem::forget(self);
    }

    fn prepare(&mut self, how: Prepare) -> Result<(), DmaError> {
        let keep = match how {
            Prepare::Zeroed => 0,
            Prepare::Overwrite(n) => n.min(self.keeper.pool.block_size),
        };
        if self.dirty > keep {
            self.mem()
                .fill(self.offset() + keep, self.dirty - keep, 0)?;
        }
        self.dirty = keep;
        Ok(())
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        // `dirty <= block_size <= 16 MiB`, so it fits.
        let slot = Slot {
            index: self.index,
            dirty: self.dirty as u32,
        };
        self.keeper.pool.release(slot);
    }
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("index", &self.index)
            .field("dma", &self.dma_addr())
            .field("dirty", &self.dirty)
            .finish()
    }
}

/// A pool of fixed-size DMA blocks. Cloning shares the pool.
#[derive(Clone)]
pub struct BlockPool {
    inner: Arc<PoolInner>,
    /// One keeper per hot slot (see [`Keeper`]).
    keepers: Arc<[Arc<Keeper>; HOT]>,
}

impl std::fmt::Debug for BlockPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockPool")
            .field("block_size", &self.inner.block_size)
            .field("capacity", &self.capacity())
            .field("available", &self.available())
            .field("skipped", &self.inner.skipped)
            .finish()
    }
}

impl BlockPool {
    /// Carves `backing` into blocks of `block_size` bytes, asking `translate`
    /// for the DMA address of each; blocks it refuses (discontinuity, outside
    /// the table) are skipped. `dirty_at_start`: whether the memory may hold
    /// old data (SS memory) or is known to read as zero (fresh anonymous memory).
    pub(crate) fn new(
        device: &str,
        backing: Backing,
        block_size: usize,
        dirty_at_start: bool,
        translate: impl Fn(usize, usize) -> Result<DmaAddr, DmaError>,
    ) -> Result<BlockPool, DmaError> {
        let mem = backing.mem();
        let base = mem.as_ptr() as usize;
        let count = mem.len() / block_size;
        if u32::try_from(count).is_err() || u32::try_from(block_size).is_err() {
            return Err(DmaError::BadConfig {
                field: "memory_len",
                value: mem.len(),
                reason: "holds more than 2^32 blocks",
            });
        }
        let mut offsets = Vec::with_capacity(count);
        let mut dmas = Vec::with_capacity(count);
        let mut skipped = 0;
        for i in 0..count {
            let offset = i * block_size;
            match translate(base + offset, block_size) {
                Ok(dma) => {
                    offsets.push(offset);
                    dmas.push(dma);
                }
                Err(DmaError::Straddles { .. } | DmaError::OutOfTable { .. }) => skipped += 1,
                Err(e) => return Err(e),
            }
        }
        if offsets.is_empty() {
            return Err(DmaError::NoUsableBlocks {
                device: device.to_owned(),
                block_size,
                memory_len: mem.len(),
            });
        }
        let free = ArrayQueue::new(offsets.len());
        let dirty = if dirty_at_start { block_size as u32 } else { 0 };
        for index in 0..offsets.len() as u32 {
            let _ = free.push(Slot { index, dirty });
        }
        let inner = Arc::new(PoolInner {
            backing,
            block_size,
            offsets: offsets.into(),
            dmas: dmas.into(),
            hot: [const { HotSlot(AtomicU64::new(NO_SLOT)) }; HOT],
            free,
            waiting: Waiting {
                waiters: AtomicUsize::new(0),
                lock: Mutex::new(()),
                freed: Condvar::new(),
            },
            skipped,
        });
        let keepers = Arc::new(std::array::from_fn(|_| {
            Arc::new(Keeper {
                pool: inner.clone(),
            })
        }));
        Ok(BlockPool { inner, keepers })
    }

    /// Size of every block in bytes: the largest [`DmaBuf`] and the largest
    /// bounced chunk.
    pub fn block_size(&self) -> usize {
        self.inner.block_size
    }

    /// Number of usable blocks.
    pub fn capacity(&self) -> usize {
        self.inner.offsets.len()
    }

    /// Blocks free right now (a snapshot; other threads may change it).
    pub fn available(&self) -> usize {
        let hot = self
            .inner
            .hot
            .iter()
            .filter(|h| h.0.load(Ordering::Relaxed) != NO_SLOT)
            .count();
        self.inner.free.len() + hot
    }

    /// Blocks left out because their bytes are not DMA-contiguous.
    pub fn skipped(&self) -> usize {
        self.inner.skipped
    }

    /// A zeroed buffer of `len` bytes (at most [`block_size`](Self::block_size)),
    /// or [`DmaError::PoolExhausted`] at once if no block is free. Lock-free.
    pub fn try_alloc(&self, len: usize) -> Result<DmaBuf, DmaError> {
        self.check_len(len)?;
        let block = self.try_take(Prepare::Zeroed)?;
        Ok(DmaBuf::new(block, len))
    }

    /// Like [`try_alloc`](Self::try_alloc), but when every block is in use,
    /// waits up to `timeout` for one to be freed (back-pressure), then fails
    /// with [`DmaError::PoolTimeout`]. The wait is the only place a lock is taken.
    pub fn alloc(&self, len: usize, timeout: Duration) -> Result<DmaBuf, DmaError> {
        self.check_len(len)?;
        let block = self.take(Prepare::Zeroed, timeout)?;
        Ok(DmaBuf::new(block, len))
    }

    fn check_len(&self, len: usize) -> Result<(), DmaError> {
        if len > self.inner.block_size {
            return Err(DmaError::TooLarge {
                len,
                block_size: self.inner.block_size,
            });
        }
        Ok(())
    }

    fn block(&self, slot: Slot, how: Prepare) -> Result<Block, DmaError> {
        let mut block = Block {
            keeper: self.keepers[home_slot()].clone(),
            index: slot.index,
            dirty: slot.dirty as usize,
        };
        // On failure `block` drops and goes back with its dirty mark intact.
        block.prepare(how)?;
        Ok(block)
    }

    /// Takes a block without waiting.
    pub(crate) fn try_take(&self, how: Prepare) -> Result<Block, DmaError> {
        match self.inner.pop_free() {
            Some(slot) => self.block(slot, how),
            None => Err(DmaError::PoolExhausted {
                blocks: self.capacity(),
            }),
        }
    }

    /// Takes a block, waiting up to `timeout` if none is free.
    pub(crate) fn take(&self, how: Prepare, timeout: Duration) -> Result<Block, DmaError> {
        if let Some(slot) = self.inner.pop_free() {
            return self.block(slot, how);
        }
        if timeout.is_zero() {
            return Err(DmaError::PoolExhausted {
                blocks: self.capacity(),
            });
        }
        let slot = self.wait_for_block(timeout)?;
        self.block(slot, how)
    }

    #[cold]
    fn wait_for_block(&self, timeout: Duration) -> Result<Slot, DmaError> {
        let inner = &*self.inner;
        let start = Instant::now();
        let deadline = start.checked_add(timeout);
        let mut guard = inner.waiting.lock.lock();
        inner.waiting.waiters.fetch_add(1, Ordering::Relaxed);
        // Pairs with the fence in `release` (see there).
        fence(Ordering::SeqCst);
        let result = loop {
            if let Some(slot) = inner.pop_free() {
                break Ok(slot);
            }
            let timed_out = match deadline {
                Some(deadline) => inner
                    .waiting
                    .freed
                    .wait_until(&mut guard, deadline)
                    .timed_out(),
                None => {
                    inner.waiting.freed.wait(&mut guard);
                    false
                }
            };
            if timed_out {
                break inner.pop_free().ok_or_else(|| DmaError::PoolTimeout {
                    blocks: inner.offsets.len(),
                    waited: start.elapsed(),
                });
            }
        };
        inner.waiting.waiters.fetch_sub(1, Ordering::Relaxed);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::{Mapping, RegionKind};
    use memmap2::{MmapOptions, MmapRaw};
    use std::sync::Barrier;
    use std::thread;

    const BS: usize = 64 << 10;

    fn anon_pool(blocks: usize, dirty: bool) -> BlockPool {
        let raw = MmapRaw::from(MmapOptions::new().len(blocks * BS).map_anon().unwrap());
        let mem = SharedMemory::new(Mapping::from_mmap(raw), RegionKind::Ss);
        BlockPool::new("test", Backing::Anonymous(mem), BS, dirty, |va, _| {
            Ok(DmaAddr::new(va as u64))
        })
        .unwrap()
    }

    fn all_zero(buf: &DmaBuf) -> bool {
        let mut out = vec![0xffu8; buf.len()];
        buf.read_at(0, &mut out).unwrap();
        out.iter().all(|&b| b == 0)
    }

    #[test]
    fn reused_blocks_read_as_zero() {
        let pool = anon_pool(1, false);
        let mut a = pool.try_alloc(BS).unwrap();
        a.write_at(0, &vec![0xa5; BS]).unwrap();
        let dma = a.dma_addr();
        drop(a);
        // The only block comes back: same memory, but no trace of the old data.
        let b = pool.try_alloc(BS).unwrap();
        assert_eq!(b.dma_addr(), dma);
        assert!(all_zero(&b));
    }

    #[test]
    fn recent_blocks_are_reused_first_and_none_is_handed_out_twice() {
        let pool = anon_pool(8, false);
        let a = pool.try_alloc(1).unwrap();
        let b = pool.try_alloc(1).unwrap();
        let mut recent = [a.dma_addr(), b.dma_addr()];
        drop((a, b));
        let c = pool.try_alloc(1).unwrap();
        let d = pool.try_alloc(1).unwrap();
        let mut again = [c.dma_addr(), d.dma_addr()];
        recent.sort();
        again.sort();
        assert_eq!(recent, again, "the cache-hot blocks come back first");
        drop((c, d));
        // Many rounds of churn, then take everything: each block exactly once.
        for _ in 0..100 {
            let v: Vec<_> = (0..5).map(|_| pool.try_alloc(1).unwrap()).collect();
            drop(v);
        }
        assert_eq!(pool.available(), 8);
        let all: Vec<_> = (0..8).map(|_| pool.try_alloc(1).unwrap()).collect();
        let mut dmas: Vec<_> = all.iter().map(|b| b.dma_addr()).collect();
        dmas.sort();
        dmas.dedup();
        assert_eq!(dmas.len(), 8);
        assert_eq!(pool.available(), 0);
        assert!(matches!(
            pool.try_alloc(1),
            Err(DmaError::PoolExhausted { blocks: 8 })
        ));
    }

    #[test]
    fn overwrite_preparation_zeroes_only_the_stale_tail() {
        let pool = anon_pool(1, false);
        let mut a = pool.try_take(Prepare::Zeroed).unwrap();
        a.mem().fill(a.offset(), BS, 0x77).unwrap();
        a.mark_dirty(BS);
        drop(a);
        let b = pool.try_take(Prepare::Overwrite(100)).unwrap();
        let mut out = vec![0u8; BS];
        b.mem().read_bytes(b.offset(), &mut out).unwrap();
        // The first 100 bytes are the caller's to overwrite; everything after is clean.
        assert!(out[100..].iter().all(|&x| x == 0));
        assert_eq!(b.dirty, 100);
    }

    #[test]
    fn ss_memory_is_zeroed_before_first_use() {
        let pool = anon_pool(2, true);
        // Scribble over the backing as if the kernel had left data there.
        let mem = pool.inner.backing.mem();
        mem.fill(0, mem.len(), 0xee).unwrap();
        let a = pool.try_alloc(10).unwrap();
        let b = pool.try_alloc(BS).unwrap();
        assert!(all_zero(&a) && all_zero(&b));
    }

    #[test]
    fn exhaustion_is_reported_at_once_and_after_timeout() {
        let pool = anon_pool(2, false);
        let a = pool.try_alloc(1).unwrap();
        let _b = pool.try_alloc(1).unwrap();
        assert_eq!(pool.available(), 0);
        assert!(matches!(
            pool.try_alloc(1),
            Err(DmaError::PoolExhausted { blocks: 2 })
        ));
        let t = Instant::now();
        match pool.alloc(1, Duration::from_millis(30)) {
            Err(DmaError::PoolTimeout { blocks: 2, waited }) => {
                assert!(waited >= Duration::from_millis(30))
            }
            other => panic!("{other:?}"),
        }
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(matches!(
            pool.alloc(1, Duration::ZERO),
            Err(DmaError::PoolExhausted { .. })
        ));
        assert!(
            matches!(pool.try_alloc(BS + 1), Err(DmaError::TooLarge { len, block_size: BS }) if len == BS + 1)
        );
        drop(a);
        assert!(pool.try_alloc(1).is_ok());
    }

    #[test]
    fn a_waiter_gets_the_block_another_thread_frees() {
        let pool = anon_pool(1, false);
        let held = pool.try_alloc(1).unwrap();
        let p2 = pool.clone();
        let waiter =
            thread::spawn(move || p2.alloc(1, Duration::from_secs(20)).map(|b| b.dma_addr()));
        // Give the waiter time to block, then free.
        while pool.inner.waiting.waiters.load(Ordering::Relaxed) == 0 {
            thread::yield_now();
        }
        let dma = held.dma_addr();
        drop(held);
        assert_eq!(waiter.join().unwrap().unwrap(), dma);
    }

    /// Two threads fight over a pool smaller than what they want at once; each
    /// waits with a bounded timeout. Nothing may deadlock or lose a block, and
    /// the test finishes in bounded time.
    #[test]
    fn two_threads_on_an_exhausted_pool_make_progress() {
        let pool = anon_pool(3, false);
        let barrier = Arc::new(Barrier::new(2));
        let start = Instant::now();
        let workers: Vec<_> = (0..2u8)
            .map(|t| {
                let pool = pool.clone();
                let barrier = barrier.clone();
                thread::spawn(move || {
                    barrier.wait();
                    let mut got = 0usize;
                    for i in 0..2000usize {
                        // Hold two blocks at a time (3 exist): the other thread
                        // must wait for us and we for it.
                        let a = pool.alloc(64, Duration::from_millis(200));
                        let b = pool.alloc(64, Duration::from_millis(200));
                        for mut buf in [a, b].into_iter().flatten() {
                            assert!(all_zero(&buf), "stale data seen");
                            buf.write_at(0, &[t.wrapping_add(i as u8) | 1; 64]).unwrap();
                            got += 1;
                        }
                    }
                    got
                })
            })
            .collect();
        let results: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
        assert!(start.elapsed() < Duration::from_secs(60));
        // Every block is back and usable.
        assert_eq!(pool.available(), 3);
        let total: usize = results.iter().sum();
        assert!(total > 2000, "too little progress: {total}");
    }

    /// Hold-and-wait: each thread holds one of two blocks and waits for a
    /// second. With unbounded waiting this deadlocks; here both give up after
    /// their timeout with a clear error, and the blocks are all back after.
    #[test]
    fn hold_and_wait_ends_with_timeouts_not_deadlock() {
        let pool = anon_pool(2, false);
        let barrier = Arc::new(Barrier::new(2));
        let start = Instant::now();
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                let barrier = barrier.clone();
                thread::spawn(move || {
                    let held = pool.try_alloc(1).unwrap();
                    barrier.wait();
                    let second = pool.alloc(1, Duration::from_millis(100));
                    drop(held);
                    second.map(drop)
                })
            })
            .collect();
        let results: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
        assert!(start.elapsed() < Duration::from_secs(10));
        // At least one thread timed out (both held a block while waiting);
        // the other may have got the block the first released.
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(DmaError::PoolTimeout { blocks: 2, .. }))),
            "{results:?}"
        );
        assert_eq!(pool.available(), 2);
    }

    #[test]
    fn straddling_blocks_are_skipped() {
        let raw = MmapRaw::from(MmapOptions::new().len(4 * BS).map_anon().unwrap());
        let mem = SharedMemory::new(Mapping::from_mmap(raw), RegionKind::Ss);
        let base = mem.as_ptr() as usize;
        // Pretend block 1 crosses a discontinuity.
        let pool = BlockPool::new("t", Backing::Anonymous(mem), BS, false, |va, len| {
            if va == base + BS {
                Err(DmaError::Straddles {
                    va,
                    len,
                    boundary: va + 8,
                })
            } else {
                Ok(DmaAddr::new(0x100_0000 + (va - base) as u64))
            }
        })
        .unwrap();
        assert_eq!((pool.capacity(), pool.skipped()), (3, 1));
        let dmas: Vec<_> = (0..3)
            .map(|_| pool.try_alloc(1).unwrap())
            .map(|b| b.dma_addr().get())
            .collect::<Vec<_>>();
        assert!(!dmas.contains(&(0x100_0000 + BS as u64)));
        // A translation failure of another kind is an error, not a skip.
        let raw = MmapRaw::from(MmapOptions::new().len(BS).map_anon().unwrap());
        let mem = SharedMemory::new(Mapping::from_mmap(raw), RegionKind::Ss);
        let r = BlockPool::new("t", Backing::Anonymous(mem), BS, false, |va, len| {
            Err(DmaError::AddressOverflow { va, len })
        });
        assert!(matches!(r, Err(DmaError::AddressOverflow { .. })));
        let raw = MmapRaw::from(MmapOptions::new().len(BS).map_anon().unwrap());
        let mem = SharedMemory::new(Mapping::from_mmap(raw), RegionKind::Ss);
        let r = BlockPool::new("t", Backing::Anonymous(mem), BS, false, |va, len| {
            Err(DmaError::OutOfTable { va, len })
        });
        assert!(matches!(r, Err(DmaError::NoUsableBlocks { .. })));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

        /// Any sequence of allocations (of any length, then scribbled over)
        /// and frees: a held block is never handed out again, every new
        /// buffer reads as zero, and the free count always adds up.
        #[test]
        fn alloc_free_sequences_keep_the_pool_consistent(
            ops in proptest::collection::vec((proptest::prelude::any::<bool>(), 0usize..=BS, 0usize..8), 1..80)
        ) {
            let pool = anon_pool(6, true);
            let mut held: Vec<DmaBuf> = Vec::new();
            for (alloc, len, pick) in ops {
                if alloc {
                    match pool.try_alloc(len) {
                        Ok(mut buf) => {
                            proptest::prop_assert!(held.len() < 6);
                            proptest::prop_assert!(all_zero(&buf), "stale bytes in a new buffer");
                            proptest::prop_assert!(held.iter().all(|h| h.dma_addr() != buf.dma_addr()));
                            buf.fill(0, len, 0xa5).unwrap();
                            held.push(buf);
                        }
                        Err(DmaError::PoolExhausted { blocks: 6 }) => proptest::prop_assert_eq!(held.len(), 6),
                        Err(e) => proptest::prop_assert!(false, "{e}"),
                    }
                } else if !held.is_empty() {
                    let i = pick % held.len();
                    held.swap_remove(i);
                }
                proptest::prop_assert_eq!(pool.available(), 6 - held.len());
            }
        }
    }
}
