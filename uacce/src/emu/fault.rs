//! Fault injection: what a test asks the device to do wrong, and when.

use std::time::Duration;

use parking_lot::Mutex;

/// Which request a fault applies to. Requests are counted from 0 in the order
/// the device fetches SQEs: per device since it was created, or per queue
/// since the queue was opened (the count survives PUT_Q/START_Q).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestId {
    /// The `n`-th SQE the device fetched, from any queue.
    Device(u64),
    /// The `nth` SQE fetched from the queue with id `qid`.
    Queue {
        /// The queue id (the one `SET_QP_CTX` returns).
        qid: u16,
        /// 0-based request number on that queue.
        nth: u64,
    },
}

/// What to do to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultAction {
    /// Do not run it; report this status (dw3) with consumed = produced = 0.
    Fail(u8),
    /// Never complete it: no results, no CQE; later CQEs of the queue are held
    /// back behind it (completions are in order) until the queue is restarted.
    Stall,
    /// Run it, then write the bitwise complement of its tag back.
    CorruptTag,
}

/// The faults armed on one device. Each armed fault fires once.
#[derive(Debug, Default)]
pub(crate) struct FaultPlan {
    armed: Mutex<Vec<(RequestId, FaultAction)>>,
    delay: Mutex<Option<Duration>>,
}

impl FaultPlan {
    pub fn arm(&self, at: RequestId, action: FaultAction) {
        self.armed.lock().push((at, action));
    }

    pub fn set_delay(&self, delay: Option<Duration>) {
        *self.delay.lock() = delay;
    }

    pub fn delay(&self) -> Option<Duration> {
        *self.delay.lock()
    }

    pub fn clear(&self) {
        self.armed.lock().clear();
        *self.delay.lock() = None;
    }

    /// Takes the faults armed for this request.
    pub fn take(&self, device_nth: u64, qid: u16, queue_nth: u64) -> Vec<FaultAction> {
        let mut armed = self.armed.lock();
        if armed.is_empty() {
            return Vec::new();
        }
        let hits = |at: &RequestId| match *at {
            RequestId::Device(n) => n == device_nth,
            RequestId::Queue { qid: q, nth } => q == qid && nth == queue_nth,
        };
        let mut fired = Vec::new();
        armed.retain(|(at, action)| {
            if hits(at) {
                fired.push(*action);
                false
            } else {
                true
            }
        });
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_fire_once_on_their_request() {
        let plan = FaultPlan::default();
        plan.arm(RequestId::Device(2), FaultAction::Stall);
        plan.arm(RequestId::Queue { qid: 5, nth: 0 }, FaultAction::Fail(0x42));
        assert!(plan.take(0, 4, 0).is_empty());
        assert_eq!(plan.take(1, 5, 0), vec![FaultAction::Fail(0x42)]);
        assert_eq!(plan.take(2, 5, 1), vec![FaultAction::Stall]);
        assert!(plan.take(2, 5, 1).is_empty());
    }
}
