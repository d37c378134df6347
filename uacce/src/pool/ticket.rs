//! A request in flight: the one-shot cell its lane delivers into, and the
//! [`Ticket`] the submitter holds to poll, wait for, or `.await` it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use parking_lot::Mutex;

use super::error::PoolError;
use super::job::{Job, JobOutput};
use super::{Fallback, Inner};
use crate::hisi::qm::WaitMode;

/// What a lane hands back for a request.
pub(crate) enum Delivery {
    /// The device finished it.
    Done(JobOutput),
    /// The device did not: run it in software, or fail with the reason.
    Retry(Job, PoolError),
    /// The request itself is bad (corrupt data): no other path would help.
    Failed(PoolError),
}

/// The meeting point of a lane (producer, once) and a ticket (consumer, once).
/// The result slot is a lock-free one-element queue; the waker slot is only
/// touched by tickets that actually go to sleep.
pub(crate) struct Cell {
    result: ArrayQueue<Delivery>,
    waker: Mutex<Option<Waker>>,
}

impl Cell {
    pub fn new() -> Arc<Cell> {
        Arc::new(Cell {
            result: ArrayQueue::new(1),
            waker: Mutex::new(None),
        })
    }

    /// Hands the result over and wakes whoever sleeps on it.
    pub fn deliver(&self, d: Delivery) {
        // Each cell is delivered to once (its request leaves the lane's
        // in-flight list as it is delivered), so the push cannot fail.
        let _ = self.result.push(d);
        if let Some(w) = self.waker.lock().take() {
            w.wake();
        }
    }

    fn take(&self) -> Option<Delivery> {
        self.result.pop()
    }

    fn register(&self, w: &Waker) {
        let mut slot = self.waker.lock();
        match slot.as_ref() {
            Some(old) if old.will_wake(w) => {}
            _ => *slot = Some(w.clone()),
        }
    }
}

/// Wakes a thread parked in [`Ticket::wait`].
struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

enum State {
    /// On lane `lane`.
    InFlight { cell: Arc<Cell>, lane: usize },
    /// To run in software when collected (no device, busy, or refused).
    Software { job: Job, reason: PoolError },
    /// Already known.
    Ready(Result<JobOutput, PoolError>),
    /// Collected.
    Taken,
}

/// A submitted request. Collect its result with [`try_result`](Self::try_result)
/// (never blocks), [`wait`](Self::wait) (blocks), or `.await` (any executor).
///
/// A ticket dropped before completion abandons its result; the request still
/// finishes on the device and its buffers are freed then.
pub struct Ticket {
    pool: Arc<Inner>,
    state: State,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::InFlight { lane, .. } => format!("in flight on lane {lane}"),
            State::Software { .. } => "software".to_owned(),
            State::Ready(_) => "ready".to_owned(),
            State::Taken => "taken".to_owned(),
        };
        f.debug_struct("Ticket").field("state", &state).finish()
    }
}

impl Ticket {
    pub(crate) fn in_flight(pool: Arc<Inner>, cell: Arc<Cell>, lane: usize) -> Ticket {
        Ticket {
            pool,
            state: State::InFlight { cell, lane },
        }
    }

    pub(crate) fn software(pool: Arc<Inner>, job: Job, reason: PoolError) -> Ticket {
        Ticket {
            pool,
            state: State::Software { job, reason },
        }
    }

    pub(crate) fn ready(pool: Arc<Inner>, result: Result<JobOutput, PoolError>) -> Ticket {
        Ticket {
            pool,
            state: State::Ready(result),
        }
    }

    /// Whether the request went to a device queue (rather than straight to
    /// software or an error).
    pub fn is_on_device(&self) -> bool {
        matches!(self.state, State::InFlight { .. })
    }

    /// The result if it is there, reaping the lane if nobody else is; never
    /// blocks (except to run a software fallback, which is CPU work).
    /// `None` means "not yet"; after a `Some` the ticket is spent.
    pub fn try_result(&mut self) -> Option<Result<JobOutput, PoolError>> {
        if let State::InFlight { cell, lane } = &self.state {
            if cell.result.is_empty() {
                self.pool.lanes[*lane].try_reap();
            }
            let d = cell.take()?;
            let lane = *lane;
            self.state = State::Taken;
            return Some(self.pool.settle(d, Some(lane)));
        }
        match std::mem::replace(&mut self.state, State::Taken) {
            State::Software { job, reason } => {
                Some(self.pool.settle(Delivery::Retry(job, reason), None))
            }
            State::Ready(r) => Some(r),
            State::Taken => Some(Err(PoolError::AlreadyCollected)),
            State::InFlight { .. } => None,
        }
    }

    /// Blocks until the result is there. The waiting thread reaps its lane
    /// and sleeps in `poll(2)` on the queue's event fd (or spins, in
    /// busy-poll mode); a request that gets no completion within the pool's
    /// request timeout is failed over (or fails), never waited for forever.
    pub fn wait(mut self) -> Result<JobOutput, PoolError> {
        let (cell, lane) = match &self.state {
            State::InFlight { cell, lane } => (Arc::clone(cell), *lane),
            _ => {
                return self
                    .try_result()
                    .unwrap_or(Err(PoolError::AlreadyCollected));
            }
        };
        let lane_ref = &self.pool.lanes[lane];
        let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
        loop {
            if let Some(d) = cell.take() {
                self.state = State::Taken;
                return self.pool.settle(d, Some(lane));
            }
            if lane_ref.try_reap() {
                if let Some(d) = cell.take() {
                    self.state = State::Taken;
                    return self.pool.settle(d, Some(lane));
                }
                match lane_ref.wait_mode() {
                    WaitMode::Sleep => {
                        let slice = lane_ref
                            .oldest_deadline()
                            .map(|d| d.saturating_duration_since(std::time::Instant::now()))
                            .unwrap_or(Duration::from_millis(5))
                            .min(Duration::from_millis(5));
                        super::completer::sleep_on(&[lane_ref.fd()], slice);
                    }
                    WaitMode::BusyPoll => std::hint::spin_loop(),
                }
            } else {
                // Another thread is reaping this lane; it wakes us when it
                // delivers our result.
                cell.register(&waker);
                if cell.result.is_empty() {
                    std::thread::park_timeout(Duration::from_millis(1));
                }
            }
        }
    }
}

impl Future for Ticket {
    type Output = Result<JobOutput, PoolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let State::InFlight { cell, lane } = &this.state {
            cell.register(cx.waker());
            let _ = lane;
            match this.try_result() {
                Some(r) => {
                    this.state = State::Taken;
                    Poll::Ready(r)
                }
                None => {
                    if !this.pool.completer_wanted() {
                        cx.waker().wake_by_ref();
                    }
                    Poll::Pending
                }
            }
        } else {
            Poll::Ready(
                this.try_result()
                    .unwrap_or(Err(PoolError::AlreadyCollected)),
            )
        }
    }
}

impl Inner {
    /// Turns a delivery into the caller's result, running software when the
    /// device did not finish the request and the pool allows it, and counts it.
    pub(crate) fn settle(&self, d: Delivery, lane: Option<usize>) -> Result<JobOutput, PoolError> {
        let counters = match lane {
            Some(i) => &self.lanes[i].counters,
            None => &self.soft_counters,
        };
        let result = match d {
            Delivery::Done(out) => Ok(out),
            Delivery::Failed(e) => Err(e),
            Delivery::Retry(job, reason) => match self.config.fallback {
                Fallback::Software => {
                    if lane.is_some() {
                        counters.retry();
                    }
                    let r = super::software::run(&job, self.config.level).map_err(PoolError::from);
                    return match r {
                        Ok(out) => {
                            self.soft_counters
                                .done(out.path, job.input.len(), out.data.len());
                            Ok(out)
                        }
                        Err(e) => {
                            self.soft_counters.error();
                            Err(e)
                        }
                    };
                }
                Fallback::Fail => Err(reason),
            },
        };
        match &result {
            Ok(out) => counters.done(out.path, out.consumed, out.data.len()),
            Err(_) => counters.error(),
        }
        result
    }
}
