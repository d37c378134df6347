//! Discovery against fake sysfs trees written in the kernel's exact formats
//! (abi.md §2.2).

use std::fs;
use std::path::Path;

use uacce::discovery::{self, DiscoveryError};
use uacce::{AddressMode, HwVersion};

/// Writes one attribute the way sysfs shows it.
fn attr(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

struct Dev<'a> {
    name: &'a str,
    api: &'a str,
    flags: &'a str,
    avail: &'a str,
    algs: &'a str,
    mmio: Option<&'a str>,
    dus: Option<&'a str>,
}

impl Dev<'_> {
    fn write(&self, root: &Path) -> std::path::PathBuf {
        let d = root.join(self.name);
        fs::create_dir_all(&d).unwrap();
        attr(&d, "api", &format!("{}\n", self.api));
        attr(&d, "flags", &format!("{}\n", self.flags));
        attr(&d, "available_instances", &format!("{}\n", self.avail));
        attr(&d, "algorithms", self.algs);
        if let Some(m) = self.mmio {
            attr(&d, "region_mmio_size", &format!("{m}\n"));
        }
        if let Some(m) = self.dus {
            attr(&d, "region_dus_size", &format!("{m}\n"));
        }
        d
    }
}

fn zip_v2(name: &str) -> Dev<'_> {
    Dev {
        name,
        api: "hisi_qm_v2",
        flags: "1",
        avail: "256",
        algs: "zlib\ngzip\n",
        mmio: Some("8192"),
        dus: Some("151552"),
    }
}

#[test]
fn zip_v2_with_4k_pages() {
    let root = tempfile::tempdir().unwrap();
    let d = zip_v2("hisi_zip-4").write(root.path());
    attr(&d, "isolate", "0\n");
    attr(&d, "isolate_strategy", "0\n");
    attr(&d, "device/numa_node", "0\n");
    let scan = discovery::scan(root.path()).unwrap();
    assert!(scan.errors.is_empty(), "{:?}", scan.errors);
    let dev = &scan.devices[0];
    assert_eq!(dev.name, "hisi_zip-4");
    assert_eq!(dev.dev_path, Path::new("/dev/hisi_zip-4"));
    assert_eq!(dev.api.as_str(), "hisi_qm_v2");
    assert_eq!(dev.hw_version(), Some(HwVersion::V2));
    assert_eq!(dev.address_mode, AddressMode::Sva);
    assert_eq!(dev.available_instances, 256);
    assert_eq!(dev.algorithms, ["zlib", "gzip"]);
    assert_eq!(dev.region_mmio_size, Some(0x2000));
    assert_eq!(dev.region_dus_size, Some(0x25000));
    assert_eq!(dev.isolate, Some(false));
    assert_eq!(dev.isolate_strategy, Some(0));
    assert_eq!(dev.numa_node, Some(0));
    assert!(!dev.is_emulated());
    assert!(dev.supports("gzip") && !dev.supports("deflate"));
}

#[test]
fn zip_v2_with_64k_pages() {
    let root = tempfile::tempdir().unwrap();
    let mut dev = zip_v2("hisi_zip-0");
    dev.mmio = Some("65536");
    dev.dus = Some("262144");
    dev.write(root.path());
    let dev = discovery::read_device(root.path(), "hisi_zip-0").unwrap();
    assert_eq!(dev.region_mmio_size, Some(0x10000));
    assert_eq!(dev.region_dus_size, Some(0x40000));
}

#[test]
fn zip_v3_and_sec_v2() {
    let root = tempfile::tempdir().unwrap();
    let mut v3 = zip_v2("hisi_zip-7");
    v3.api = "hisi_qm_v3";
    v3.algs = "zlib\ngzip\ndeflate\nlz77_zstd\n";
    v3.write(root.path());
    let mut sec = zip_v2("hisi_sec2-2");
    sec.algs = "cipher\ndigest\naead\n";
    sec.write(root.path());
    let scan = discovery::scan(root.path()).unwrap();
    assert_eq!(scan.devices.len(), 2);
    let sec = &scan.devices[0];
    assert_eq!(sec.name, "hisi_sec2-2");
    assert_eq!(sec.algorithms, ["cipher", "digest", "aead"]);
    let v3 = &scan.devices[1];
    assert_eq!(v3.hw_version(), Some(HwVersion::V3));
    assert_eq!(v3.algorithms, ["zlib", "gzip", "deflate", "lz77_zstd"]);
}

#[test]
fn openeuler_non_sva_devices() {
    let root = tempfile::tempdir().unwrap();
    let mut iommu = zip_v2("hisi_zip-1");
    iommu.flags = "128";
    let d = iommu.write(root.path());
    attr(&d, "node_id", "1\n");
    attr(&d, "numa_distance", "10\n");
    attr(&d, "dev_state", "0\n");
    let mut noiommu = zip_v2("hisi_zip-2");
    noiommu.flags = "2";
    noiommu.api = "hisi_qm_v2_noiommu";
    let d = noiommu.write(root.path());
    attr(&d, "node_id", "3\n");
    let scan = discovery::scan(root.path()).unwrap();
    assert!(scan.errors.is_empty(), "{:?}", scan.errors);
    let (a, b) = (&scan.devices[0], &scan.devices[1]);
    assert_eq!(a.address_mode, AddressMode::Iommu);
    assert_eq!(a.numa_node, Some(1));
    assert!(!a.api.is_noiommu());
    assert_eq!(b.address_mode, AddressMode::NoIommu);
    assert!(b.api.is_noiommu());
    assert_eq!(b.hw_version(), Some(HwVersion::V2));
    assert_eq!(b.numa_node, Some(3));
}

#[test]
fn platform_parent_on_6_1() {
    // abi.md §12: flags 0 (SVA negotiation failed), no isolate*, a `device`
    // link without numa_node.
    let root = tempfile::tempdir().unwrap();
    let mut dev = zip_v2("mock_zip-0");
    dev.flags = "0";
    let d = dev.write(root.path());
    fs::create_dir_all(d.join("device/power")).unwrap();
    fs::create_dir_all(d.join("power")).unwrap();
    attr(&d, "dev", "240:0\n");
    let dev = discovery::read_device(root.path(), "mock_zip-0").unwrap();
    assert_eq!(dev.address_mode, AddressMode::NoSharedMemory);
    assert_eq!(dev.isolate, None);
    assert_eq!(dev.isolate_strategy, None);
    assert_eq!(dev.numa_node, None);
}

#[test]
fn numa_node_minus_one_means_none() {
    let root = tempfile::tempdir().unwrap();
    let d = zip_v2("hisi_zip-0").write(root.path());
    attr(&d, "device/numa_node", "-1\n");
    assert_eq!(
        discovery::read_device(root.path(), "hisi_zip-0")
            .unwrap()
            .numa_node,
        None
    );
}

#[test]
fn isolated_devices_are_listed_but_not_used() {
    let root = tempfile::tempdir().unwrap();
    let d = zip_v2("hisi_zip-0").write(root.path());
    attr(&d, "isolate", "1\n");
    zip_v2("hisi_zip-1").write(root.path());
    let scan = discovery::scan(root.path()).unwrap();
    assert_eq!(scan.devices.len(), 2);
    let usable: Vec<_> = scan.usable().map(|d| d.name.as_str()).collect();
    assert_eq!(usable, ["hisi_zip-1"]);
    let picked: Vec<_> = discovery::select(&scan.devices, "gzip", None)
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(picked, ["hisi_zip-1"]);
}

#[test]
fn legacy_openeuler_419_layout_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path().join("hisi_zip-0");
    attr(&d, "attrs/api", "hisi_qm_v2\n");
    attr(&d, "attrs/flags", "1\n");
    attr(&d, "attrs/qfrs_offset", "0 4096 8192\n");
    zip_v2("hisi_zip-1").write(root.path());
    let scan = discovery::scan(root.path()).unwrap();
    assert_eq!(scan.devices.len(), 1, "the good device is still listed");
    match &scan.errors[..] {
        [e @ DiscoveryError::LegacyLayout { device, .. }] => {
            assert_eq!(device, "hisi_zip-0");
            assert!(e.to_string().contains("4.19"), "{e}");
        }
        other => panic!("expected a legacy-layout error, got {other:?}"),
    }
}

#[test]
fn empty_and_missing_class_directories() {
    let root = tempfile::tempdir().unwrap();
    let scan = discovery::scan(root.path()).unwrap();
    assert!(scan.devices.is_empty() && scan.errors.is_empty());
    let missing = root.path().join("nope");
    assert!(matches!(
        discovery::scan(&missing),
        Err(DiscoveryError::NoClassDir { .. })
    ));
    assert!(matches!(
        discovery::read_device(root.path(), "hisi_zip-9"),
        Err(DiscoveryError::NoSuchDevice { .. })
    ));
}

/// Builds a device with one attribute replaced (or removed with `None`) and
/// returns the error discovery gives.
fn broken(file: &str, text: Option<&str>) -> DiscoveryError {
    let root = tempfile::tempdir().unwrap();
    let d = zip_v2("hisi_zip-0").write(root.path());
    match text {
        Some(t) => attr(&d, file, t),
        None => fs::remove_file(d.join(file)).unwrap(),
    }
    zip_v2("hisi_zip-1").write(root.path());
    let scan = discovery::scan(root.path()).unwrap();
    assert_eq!(
        scan.devices.len(),
        1,
        "a broken device must not hide the others"
    );
    assert_eq!(scan.devices[0].name, "hisi_zip-1");
    let mut errors = scan.errors;
    assert_eq!(errors.len(), 1);
    let err = errors.pop().unwrap();
    assert!(err.to_string().contains("hisi_zip-0"), "{err}");
    err
}

fn assert_malformed(err: DiscoveryError, file: &str, value: &str) {
    match &err {
        DiscoveryError::Malformed {
            file: f, value: v, ..
        } => {
            assert!(f.ends_with(file), "{err}");
            assert_eq!(v, value);
            assert!(err.to_string().contains(file), "{err}");
        }
        other => panic!("expected Malformed for {file}, got {other:?}"),
    }
}

#[test]
fn broken_values_name_the_file() {
    assert_malformed(broken("flags", Some("sva\n")), "flags", "sva\n");
    assert_malformed(broken("flags", Some("0x1\n")), "flags", "0x1\n");
    assert_malformed(broken("flags", Some("\n")), "flags", "\n");
    assert_malformed(
        broken("available_instances", Some("-3\n")),
        "available_instances",
        "-3\n",
    );
    assert_malformed(
        broken("available_instances", Some("4294967296\n")),
        "available_instances",
        "4294967296\n",
    );
    assert_malformed(
        broken("region_dus_size", Some("-151552\n")),
        "region_dus_size",
        "-151552\n",
    );
    assert_malformed(
        broken("region_mmio_size", Some("0\n")),
        "region_mmio_size",
        "0\n",
    );
    assert_malformed(
        broken("region_mmio_size", Some("8 192\n")),
        "region_mmio_size",
        "8 192\n",
    );
    assert_malformed(broken("api", Some("\n")), "api", "\n");
    assert_malformed(
        broken("api", Some("hisi_qm_v2\nhisi_qm_v3\n")),
        "api",
        "hisi_qm_v2\nhisi_qm_v3\n",
    );
    assert_malformed(broken("isolate", Some("2\n")), "isolate", "2\n");
    assert_malformed(
        broken("isolate_strategy", Some("65536\n")),
        "isolate_strategy",
        "65536\n",
    );
    assert_malformed(
        broken("device/numa_node", Some("-2\n")),
        "device/numa_node",
        "-2\n",
    );
    assert_malformed(broken("node_id", Some("x\n")), "node_id", "x\n");
    assert_malformed(
        broken("algorithms", Some("zlib gzip\n")),
        "algorithms",
        "zlib gzip\n",
    );
}

#[test]
fn missing_or_empty_required_attributes() {
    for file in ["api", "flags", "available_instances", "algorithms"] {
        match broken(file, None) {
            DiscoveryError::MissingAttribute { file: f, .. } => assert!(f.ends_with(file)),
            other => panic!("expected MissingAttribute for {file}, got {other:?}"),
        }
    }
    for text in ["\n", "", "\n\n"] {
        assert!(
            matches!(
                broken("algorithms", Some(text)),
                DiscoveryError::NoAlgorithms { .. }
            ),
            "{text:?}"
        );
    }
}

#[test]
fn hidden_regions_are_absent_not_errors() {
    let root = tempfile::tempdir().unwrap();
    let mut dev = zip_v2("hisi_zip-0");
    dev.mmio = None;
    dev.dus = None;
    dev.write(root.path());
    let dev = discovery::read_device(root.path(), "hisi_zip-0").unwrap();
    assert_eq!((dev.region_mmio_size, dev.region_dus_size), (None, None));
}

#[test]
fn selection_by_algorithm_numa_and_free_queues() {
    let root = tempfile::tempdir().unwrap();
    for (name, node, avail, algs) in [
        ("hisi_zip-0", "1", "10", "zlib\ngzip\n"),
        ("hisi_zip-1", "0", "5", "zlib\ngzip\n"),
        ("hisi_zip-2", "0", "50", "zlib\ngzip\n"),
        ("hisi_zip-3", "0", "0", "zlib\ngzip\n"),
        ("hisi_sec2-4", "0", "99", "cipher\ndigest\n"),
    ] {
        let mut dev = zip_v2(name);
        dev.avail = avail;
        dev.algs = algs;
        let d = dev.write(root.path());
        attr(&d, "device/numa_node", &format!("{node}\n"));
    }
    let scan = discovery::scan(root.path()).unwrap();
    let order: Vec<_> = discovery::select(&scan.devices, "gzip", Some(0))
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    // node 0 first (most free queues first), then the remote node, then full devices
    assert_eq!(
        order,
        ["hisi_zip-2", "hisi_zip-1", "hisi_zip-0", "hisi_zip-3"]
    );
    let order: Vec<_> = discovery::select(&scan.devices, "gzip", Some(1))
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(order[0], "hisi_zip-0");
    assert!(discovery::select(&scan.devices, "deflate", Some(0)).is_empty());
}
