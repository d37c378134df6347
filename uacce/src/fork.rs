//! Detecting that the process forked since a queue was opened.
//!
//! uacce mappings carry `VM_DONTCOPY | VM_WIPEONFORK` (abi.md §2.4, §12): a
//! forked child has no mappings, and touching them kills it with `SIGSEGV`.
//! A child-side `pthread_atfork` handler bumps a generation counter, and every
//! queue compares the generation it was opened in before it touches memory,
//! which costs one relaxed atomic load instead of a `getpid` system call.

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

static GENERATION: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();

extern "C" fn in_child() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// The current fork generation; installs the handler on first use.
pub(crate) fn generation() -> u64 {
    INSTALL.call_once(|| {
        // SAFETY: registers an async-signal-safe handler (one atomic add) that
        // runs in the child after fork; the function lives for the whole
        // program.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
        debug_assert_eq!(rc, 0);
    });
    GENERATION.load(Ordering::Relaxed)
}
