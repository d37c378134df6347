//! The engine threads of one device. Jobs (fetched SQEs) from every queue of
//! the device go into one FIFO; any idle thread takes the oldest. Several
//! requests of one queue may therefore run at once on different threads; the
//! queue posts their CQEs in submission order regardless (see
//! `queue::QueueCore::execute`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::JoinHandle;

use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::queue::Job;

struct Inner {
    jobs: Mutex<(VecDeque<Job>, bool)>,
    cv: Condvar,
}

/// A pool of engine threads.
pub(crate) struct Engine {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Engine {
    /// Starts `workers` threads named after the device.
    pub fn start(name: &str, workers: usize) -> std::io::Result<Engine> {
        let inner = Arc::new(Inner {
            jobs: Mutex::new((VecDeque::new(), false)),
            cv: Condvar::new(),
        });
        let mut threads = Vec::with_capacity(workers);
        for i in 0..workers {
            let mine = inner.clone();
            let handle = std::thread::Builder::new()
                .name(format!("emu-{name}-{i}"))
                .spawn(move || worker(&mine));
            match handle {
                Ok(h) => threads.push(h),
                Err(e) => {
                    let engine = Engine {
                        inner,
                        threads: Mutex::new(threads),
                    };
                    engine.shutdown();
                    return Err(e);
                }
            }
        }
        Ok(Engine {
            inner,
            threads: Mutex::new(threads),
        })
    }

    /// Queues jobs for the threads.
    pub fn submit(&self, jobs: Vec<Job>) {
        if jobs.is_empty() {
            return;
        }
        let n = jobs.len();
        let mut q = self.inner.jobs.lock();
        if q.1 {
            return;
        }
        q.0.extend(jobs);
        drop(q);
        if n == 1 {
            self.inner.cv.notify_one();
        } else {
            self.inner.cv.notify_all();
        }
    }

    /// Stops and joins the threads; queued jobs are dropped.
    pub fn shutdown(&self) {
        {
            let mut q = self.inner.jobs.lock();
            q.1 = true;
            q.0.clear();
        }
        self.inner.cv.notify_all();
        let threads = std::mem::take(&mut *self.threads.lock());
        for t in threads {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

/// How long an engine thread keeps looking for work after a job before it
/// sleeps. Hardware engines are always on; a thread that must be woken for
/// every request instead adds a scheduler wake-up (tens of microseconds on a
/// virtual machine) to each one. Back-to-back requests find it awake.
const LINGER: Duration = Duration::from_micros(50);

fn worker(inner: &Inner) {
    let mut linger_until: Option<Instant> = None;
    loop {
        let job = {
            let mut q = inner.jobs.lock();
            loop {
                if q.1 {
                    return;
                }
                if let Some(job) = q.0.pop_front() {
                    break job;
                }
                match linger_until {
                    Some(until) if Instant::now() < until => {
                        MutexGuard::unlocked(&mut q, std::hint::spin_loop);
                    }
                    _ => {
                        linger_until = None;
                        inner.cv.wait(&mut q);
                    }
                }
            }
        };
        // A bug in the engine must not take the thread (and with it every
        // later request of the device) down; the request is then lost, which
        // a driver sees as a timeout.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run()));
        linger_until = Some(Instant::now() + LINGER);
    }
}
