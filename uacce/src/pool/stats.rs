//! Counters of a pool: atomics, readable at any time without stopping anyone.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::comp::ExecPath;

/// Counters of one lane (or of the pool's software path). Aligned to their
/// own cache lines so that threads on different lanes never share one.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Counters {
    requests: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    hardware: AtomicU64,
    emulated: AtomicU64,
    software: AtomicU64,
    errors: AtomicU64,
    retries: AtomicU64,
    timeouts: AtomicU64,
}

impl Counters {
    /// A finished request on `path`.
    pub fn done(&self, path: ExecPath, bytes_in: usize, bytes_out: usize) {
        self.requests.fetch_add(1, Relaxed);
        self.bytes_in.fetch_add(bytes_in as u64, Relaxed);
        self.bytes_out.fetch_add(bytes_out as u64, Relaxed);
        match path {
            ExecPath::Hardware => &self.hardware,
            ExecPath::Emulated => &self.emulated,
            ExecPath::Software => &self.software,
        }
        .fetch_add(1, Relaxed);
    }

    /// A failed request.
    pub fn error(&self) {
        self.requests.fetch_add(1, Relaxed);
        self.errors.fetch_add(1, Relaxed);
    }

    /// A request sent again on another path after a device-side failure.
    pub fn retry(&self) {
        self.retries.fetch_add(1, Relaxed);
    }

    /// A request that timed out on a device.
    pub fn timeout(&self) {
        self.timeouts.fetch_add(1, Relaxed);
    }

    pub fn add_to(&self, s: &mut PoolStats) {
        s.requests += self.requests.load(Relaxed);
        s.bytes_in += self.bytes_in.load(Relaxed);
        s.bytes_out += self.bytes_out.load(Relaxed);
        s.hardware += self.hardware.load(Relaxed);
        s.emulated += self.emulated.load(Relaxed);
        s.software += self.software.load(Relaxed);
        s.errors += self.errors.load(Relaxed);
        s.retries += self.retries.load(Relaxed);
        s.timeouts += self.timeouts.load(Relaxed);
    }
}

/// A snapshot of a pool's counters ([`Pool::stats`](super::Pool::stats)).
/// Each field is read atomically; the fields together are not one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Requests finished (successfully or not).
    pub requests: u64,
    /// Input bytes of successful requests.
    pub bytes_in: u64,
    /// Output bytes of successful requests.
    pub bytes_out: u64,
    /// Successful requests that ran on hardware.
    pub hardware: u64,
    /// Successful requests that ran on the built-in emulated device.
    pub emulated: u64,
    /// Successful requests that ran in software.
    pub software: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Requests a device did not finish that were sent to software instead.
    pub retries: u64,
    /// Requests that got no completion in time.
    pub timeouts: u64,
}
