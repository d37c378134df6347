//! NUMA facts about the calling thread, for choosing the nearest device.

use std::path::Path;

/// The NUMA node of the CPU the calling thread runs on, if the kernel tells.
pub fn current_node() -> Option<u32> {
    let mut cpu: libc::c_uint = 0;
    let mut node: libc::c_uint = 0;
    // SAFETY: getcpu writes one unsigned int through each non-null pointer;
    // both point to live locals; the third (cache) argument may be null.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_getcpu,
            &mut cpu as *mut libc::c_uint,
            &mut node as *mut libc::c_uint,
            std::ptr::null_mut::<libc::c_void>(),
        )
    };
    (rc == 0).then_some(node)
}

/// The kernel's NUMA distance from node `from` to node `to` (10 = local), read
/// from `/sys/devices/system/node/node<from>/distance`.
pub fn distance(from: u32, to: u32) -> Option<u32> {
    distance_in(Path::new("/sys/devices/system/node"), from, to)
}

fn distance_in(nodes: &Path, from: u32, to: u32) -> Option<u32> {
    let text = std::fs::read_to_string(nodes.join(format!("node{from}/distance"))).ok()?;
    text.split_whitespace().nth(to as usize)?.parse().ok()
}

/// A sort key for how far a device on `device_node` is from a thread on
/// `thread_node`: the kernel's distance when both are known (10 local, 20+
/// remote), 15 when either is unknown (ranked between local and remote).
pub fn proximity(thread_node: Option<u32>, device_node: Option<u32>) -> u32 {
    const UNKNOWN: u32 = 15;
    match (thread_node, device_node) {
        (Some(t), Some(d)) if t == d => 10,
        (Some(t), Some(d)) => distance(t, d).unwrap_or(20),
        _ => UNKNOWN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_table_parsing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("node1")).unwrap();
        std::fs::write(dir.path().join("node1/distance"), "20 10 30\n").unwrap();
        assert_eq!(distance_in(dir.path(), 1, 0), Some(20));
        assert_eq!(distance_in(dir.path(), 1, 1), Some(10));
        assert_eq!(distance_in(dir.path(), 1, 2), Some(30));
        assert_eq!(distance_in(dir.path(), 1, 3), None);
        assert_eq!(distance_in(dir.path(), 0, 0), None);
    }

    #[test]
    fn proximity_ranks_local_first() {
        assert_eq!(proximity(Some(0), Some(0)), 10);
        assert_eq!(proximity(None, Some(0)), 15);
        assert_eq!(proximity(Some(0), None), 15);
        assert!(current_node().is_some());
    }
}
