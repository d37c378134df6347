//! Completion for `.await`ed tickets: one thread per pool, started on the
//! first pending future, that sleeps in `poll(2)` on the event fds of the
//! lanes with requests in flight, reaps them, and so wakes the wakers the
//! lanes deliver to. It holds only a weak reference and ends with the pool.

use std::os::fd::BorrowedFd;
use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::Inner;
use crate::hisi::qm::WaitMode;

/// Sleeps until one of `fds` is readable or `timeout` passes.
pub(crate) fn sleep_on(fds: &[BorrowedFd<'_>], timeout: Duration) {
    let mut polls: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    // Round up so a sub-millisecond remainder still sleeps rather than spins.
    let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
    // EINTR and friends only end the sleep early; the caller re-checks.
    let _ = poll(&mut polls, timeout);
}

/// Starts the completion thread of `pool`.
pub(crate) fn spawn(pool: Weak<Inner>) -> std::io::Result<std::thread::Thread> {
    let handle = std::thread::Builder::new()
        .name("uacce-pool-completer".into())
        .spawn(move || run(pool))?;
    Ok(handle.thread().clone())
}

fn run(pool: Weak<Inner>) {
    loop {
        let Some(inner) = pool.upgrade() else {
            return;
        };
        let busy: Vec<usize> = (0..inner.lanes.len())
            .filter(|&i| inner.lanes[i].in_flight.load(Ordering::Acquire) > 0)
            .collect();
        if busy.is_empty() {
            drop(inner);
            // Woken by the next pending future (`completer_wanted`).
            std::thread::park_timeout(Duration::from_millis(100));
            continue;
        }
        let sleepers: Vec<BorrowedFd<'_>> = busy
            .iter()
            .filter(|&&i| inner.lanes[i].wait_mode() == WaitMode::Sleep)
            .map(|&i| inner.lanes[i].fd())
            .collect();
        if sleepers.len() == busy.len() {
            sleep_on(&sleepers, Duration::from_millis(10));
        } else {
            std::thread::yield_now();
        }
        for &i in &busy {
            inner.lanes[i].try_reap();
        }
    }
}
