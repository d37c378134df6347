//! Errors of the pool.

use std::time::Duration;

use crate::comp::{CompressError, Format};
use crate::hisi::qm::QmError;

/// Why a pooled request failed. A request that fell back to software and
/// succeeded there is not an error; these are what is left when software
/// was not allowed ([`Fallback::Fail`](super::Fallback::Fail)) or failed too.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// No queue of the pool offers the format in this direction.
    #[error("no queue in the pool offers {algorithm} {op}")]
    NoDevice {
        /// The algorithm asked for.
        algorithm: &'static str,
        /// `"compression"` or `"decompression"`.
        op: &'static str,
    },
    /// Every queue that could take the request has failed (device removed).
    #[error("all {lanes} queues that offer the algorithm have failed")]
    QueuesFailed {
        /// How many there were.
        lanes: usize,
    },
    /// Every queue stayed full for the whole back-pressure wait.
    #[error("all {lanes} queues stayed busy for {waited:?}")]
    Busy {
        /// Queues that could have taken the request.
        lanes: usize,
        /// How long the submitter waited.
        waited: Duration,
    },
    /// The request did not complete in time; its queue was restarted.
    #[error("{device}: request got no completion within {waited:?}; the queue was restarted")]
    Timeout {
        /// Device name.
        device: String,
        /// How long the request was outstanding.
        waited: Duration,
    },
    /// The device failed the request with an error status.
    #[error("{device}: device failed the {format} request with status {status:#04x}")]
    DeviceStatus {
        /// Device name.
        device: String,
        /// The format.
        format: Format,
        /// The status code (abi.md §5).
        status: u8,
    },
    /// The device's output did not fit the request's output buffer.
    #[error("{device}: {format} output did not fit {capacity} bytes")]
    OutputFull {
        /// Device name.
        device: String,
        /// The format.
        format: Format,
        /// The output buffer.
        capacity: usize,
    },
    /// The queue or device failed (removed, resetting, ring out of step).
    #[error("{device}: queue failed: {source}")]
    DeviceFailure {
        /// Device name.
        device: String,
        /// What the ring driver reported.
        #[source]
        source: QmError,
    },
    /// The request is larger than one device request can take.
    #[error("request of {len} bytes exceeds the pool's largest request of {max} bytes")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The largest the pool accepts.
        max: usize,
    },
    /// The ticket's result was already collected.
    #[error("the result of this request was already collected")]
    AlreadyCollected,
    /// The data itself is bad or the output too small (also in software).
    #[error(transparent)]
    Compress(#[from] Box<CompressError>),
}

impl From<CompressError> for PoolError {
    fn from(e: CompressError) -> PoolError {
        PoolError::Compress(Box::new(e))
    }
}
