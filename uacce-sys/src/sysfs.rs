//! The uacce sysfs class directory and its attribute names (abi.md §2.2).

/// Where the kernel publishes uacce devices.
pub const UACCE_CLASS_PATH: &str = "/sys/class/uacce";
/// Where the character devices live: `/dev/<name>-<id>`.
pub const UACCE_DEV_DIR: &str = "/dev";

/// `api` (`"%s\n"`): the driver's api string, e.g. `hisi_qm_v2`.
pub const ATTR_API: &str = "api";
/// `flags` (`"%u\n"`): `UACCE_DEV_*` bits.
pub const ATTR_FLAGS: &str = "flags";
/// `available_instances` (`"%d\n"`): free queue pairs.
pub const ATTR_AVAILABLE_INSTANCES: &str = "available_instances";
/// `algorithms` (`"%s\n"`): newline-separated algorithm names.
pub const ATTR_ALGORITHMS: &str = "algorithms";
/// `region_mmio_size` (`"%lu\n"`): bytes to map for region 0; absent if 0 pages.
pub const ATTR_REGION_MMIO_SIZE: &str = "region_mmio_size";
/// `region_dus_size` (`"%lu\n"`): bytes to map for region 1; absent if 0 pages.
pub const ATTR_REGION_DUS_SIZE: &str = "region_dus_size";
/// `isolate` (`"%d\n"`, 6.2+): 1 when the device is isolated after errors.
pub const ATTR_ISOLATE: &str = "isolate";
/// `isolate_strategy` (`"%u\n"`, 6.2+): error threshold per hour.
pub const ATTR_ISOLATE_STRATEGY: &str = "isolate_strategy";
/// `device`: link to the parent device.
pub const ATTR_DEVICE_LINK: &str = "device";
/// `device/numa_node` (`"%d\n"`): the parent's NUMA node, `-1` for none; absent
/// for platform parents.
pub const ATTR_DEVICE_NUMA_NODE: &str = "device/numa_node";
/// `node_id` (`"%d\n"`, openEuler only): NUMA node of the device.
pub const ATTR_NODE_ID: &str = "node_id";
/// `numa_distance` (`"%d\n"`, openEuler only).
pub const ATTR_NUMA_DISTANCE: &str = "numa_distance";
/// `dev_state` (`"%d\n"`, openEuler 5.10 / KAE): 0 normal.
pub const ATTR_DEV_STATE: &str = "dev_state";
/// `attrs`: the sub-directory of the legacy openEuler 4.19 layout, refused.
pub const LEGACY_ATTRS_DIR: &str = "attrs";
/// Environment variable that points discovery at another class directory.
pub const ENV_SYSFS_ROOT: &str = "UACCE_SYSFS_ROOT";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_kernel() {
        assert_eq!(UACCE_CLASS_PATH, "/sys/class/uacce");
        let all = [
            ATTR_API,
            ATTR_FLAGS,
            ATTR_AVAILABLE_INSTANCES,
            ATTR_ALGORITHMS,
            ATTR_REGION_MMIO_SIZE,
            ATTR_REGION_DUS_SIZE,
            ATTR_ISOLATE,
            ATTR_ISOLATE_STRATEGY,
            ATTR_DEVICE_NUMA_NODE,
            ATTR_NODE_ID,
            ATTR_NUMA_DISTANCE,
            ATTR_DEV_STATE,
        ];
        for name in all {
            assert!(!name.is_empty() && !name.ends_with('/'));
        }
    }
}
