//! Rendering a device's attributes into the emulator's class directory, in the
//! kernel's exact formats (abi.md §2.2).

use std::fs;
use std::io;
use std::path::Path;

use uacce_sys::sysfs::{
    ATTR_ALGORITHMS, ATTR_API, ATTR_AVAILABLE_INSTANCES, ATTR_DEVICE_LINK, ATTR_FLAGS,
    ATTR_REGION_DUS_SIZE, ATTR_REGION_MMIO_SIZE,
};

use super::config::DeviceConfig;

/// `numa_node` inside the parent-device directory.
const NUMA_NODE: &str = "numa_node";

/// Writes a file so that a concurrent reader sees the old or the new content,
/// never a torn one.
fn write_atomic(path: &Path, content: &str) -> io::Result<()> {
    let tmp = path.with_extension("tmp-emu");
    fs::write(&tmp, content)?;
    fs::rename(&tmp, path)
}

/// The `algorithms` text: each algorithm followed by `\n`.
pub(crate) fn algorithms_text(cfg: &DeviceConfig) -> String {
    cfg.version()
        .algorithms()
        .iter()
        .map(|a| format!("{a}\n"))
        .collect()
}

/// Creates `dir` and renders every attribute of a device with `available`
/// free queues.
pub(crate) fn render(dir: &Path, cfg: &DeviceConfig, available: u32) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    // "%s\n"
    fs::write(dir.join(ATTR_API), format!("{}\n", cfg.api()))?;
    // "%u\n"
    fs::write(
        dir.join(ATTR_FLAGS),
        format!("{}\n", cfg.address_mode().flags()),
    )?;
    fs::write(dir.join(ATTR_ALGORITHMS), algorithms_text(cfg))?;
    // "%lu\n"
    fs::write(
        dir.join(ATTR_REGION_MMIO_SIZE),
        format!("{}\n", cfg.mmio_size()),
    )?;
    fs::write(
        dir.join(ATTR_REGION_DUS_SIZE),
        format!("{}\n", cfg.dus_size()),
    )?;
    write_available(dir, available)?;
    // The parent PCI device: `device/numa_node` ("%d\n", -1 for none).
    let parent = dir.join(ATTR_DEVICE_LINK);
    fs::create_dir_all(&parent)?;
    let node = cfg.numa_node.map_or(-1, i64::from);
    fs::write(parent.join(NUMA_NODE), format!("{node}\n"))?;
    Ok(())
}

/// Rewrites `available_instances` ("%d\n").
pub(crate) fn write_available(dir: &Path, available: u32) -> io::Result<()> {
    write_atomic(
        &dir.join(ATTR_AVAILABLE_INSTANCES),
        &format!("{available}\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emu::config::{EmuAddressMode, PageSize};

    #[test]
    fn renders_kernel_formats() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("hisi_zip-7");
        let cfg = DeviceConfig::zip_v3()
            .with_address_mode(EmuAddressMode::NoIommu)
            .with_page_size(PageSize::K64)
            .with_numa_node(Some(1));
        render(&dir, &cfg, 12).unwrap();
        let read = |n: &str| fs::read_to_string(dir.join(n)).unwrap();
        assert_eq!(read("api"), "hisi_qm_v3_noiommu\n");
        assert_eq!(read("flags"), "2\n");
        assert_eq!(read("algorithms"), "zlib\ngzip\ndeflate\n");
        assert_eq!(read("region_mmio_size"), "65536\n");
        assert_eq!(read("region_dus_size"), "262144\n");
        assert_eq!(read("available_instances"), "12\n");
        assert_eq!(read("device/numa_node"), "1\n");
        write_available(&dir, 11).unwrap();
        assert_eq!(read("available_instances"), "11\n");
        let v2 = DeviceConfig::zip_v2();
        render(&tmp.path().join("hisi_zip-8"), &v2, 1).unwrap();
        let read8 = |n: &str| fs::read_to_string(tmp.path().join("hisi_zip-8").join(n)).unwrap();
        assert_eq!(read8("api"), "hisi_qm_v2\n");
        assert_eq!(read8("flags"), "1\n");
        assert_eq!(read8("algorithms"), "zlib\ngzip\n");
        assert_eq!(read8("region_mmio_size"), "8192\n");
        assert_eq!(read8("region_dus_size"), "151552\n");
        assert_eq!(read8("device/numa_node"), "-1\n");
    }
}
