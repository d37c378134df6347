//! The process-wide list of class directories that belong to built-in
//! emulators, so that discovery of such a directory yields devices whose
//! queues open on the emulator instead of `/dev`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::Opener;

/// Something that owns emulated devices under one class directory.
pub trait EmulatedRoot: Send + Sync {
    /// The opener of device `name`, if this root has such a device.
    fn opener(&self, name: &str) -> Option<Arc<dyn Opener>>;
}

static ROOTS: Mutex<Vec<(PathBuf, Weak<dyn EmulatedRoot>)>> = Mutex::new(Vec::new());

/// Registers `root` as the class directory of `owner`. The entry goes away by
/// itself when `owner` is dropped.
pub fn register(root: &Path, owner: Weak<dyn EmulatedRoot>) {
    let mut roots = ROOTS.lock();
    roots.retain(|(_, w)| w.strong_count() > 0);
    roots.push((canonical(root), owner));
}

/// The opener of `name` under `root`, if an emulator owns `root`.
pub fn lookup(root: &Path, name: &str) -> Option<Arc<dyn Opener>> {
    let root = canonical(root);
    let owner = {
        let roots = ROOTS.lock();
        roots
            .iter()
            .find(|(p, _)| *p == root)
            .and_then(|(_, w)| w.upgrade())
    }?;
    owner.opener(name)
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}
