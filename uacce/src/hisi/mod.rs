//! HiSilicon accelerator drivers: the queue-manager ring protocol ([`qm`]) and
//! the ZIP descriptors ([`zip`]).

pub mod qm;
/// ZIP descriptors.
pub mod zip;
