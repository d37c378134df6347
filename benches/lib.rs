//! Shared helpers of the criterion benchmarks: the same deterministic data as
//! the integration tests.

pub use uacce_tests::{noise, sample};
