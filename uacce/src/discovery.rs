//! Finding uacce devices in a sysfs class directory (abi.md §2.2, §4.1).
//!
//! One parser serves real sysfs, container bind mounts (`UACCE_SYSFS_ROOT`),
//! test trees and the built-in emulator's trees. Every attribute is read in the
//! kernel's exact text format; a malformed or missing value is a typed error
//! that names the file, and a device that cannot be parsed never hides the
//! others: [`scan`] reports it and goes on.

use std::io;
use std::path::{Path, PathBuf};

use uacce_sys::sysfs;

use crate::device::{AddressMode, Api, DeviceFlags, DeviceInfo, Origin};

/// Why a device (or the class directory) could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The class directory does not exist: no uacce driver is loaded.
    #[error("no uacce class directory at {root} (no uacce driver loaded?)")]
    NoClassDir {
        /// The directory looked at.
        root: PathBuf,
    },
    /// The class directory exists but cannot be listed.
    #[error("cannot list {root}: {source}")]
    ListClassDir {
        /// The directory.
        root: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The device uses the legacy openEuler 4.19 layout (`attrs/` directory),
    /// whose ioctl numbers conflict with the current ABI.
    #[error(
        "{device}: legacy openEuler 4.19 uacce layout ({path} exists); its ioctl numbers and region types conflict with the current ABI, so the device is refused — use a 5.10-based or newer kernel"
    )]
    LegacyLayout {
        /// Device name.
        device: String,
        /// The `attrs` directory that gave it away.
        path: PathBuf,
    },
    /// A required attribute file is missing.
    #[error("{device}: required attribute {file} is missing")]
    MissingAttribute {
        /// Device name.
        device: String,
        /// The file.
        file: PathBuf,
    },
    /// An attribute file exists but cannot be read.
    #[error("{device}: cannot read {file}: {source}")]
    ReadAttribute {
        /// Device name.
        device: String,
        /// The file.
        file: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// An attribute has a value the kernel would never print.
    #[error("{device}: {file} holds {value:?}, expected {expected}")]
    Malformed {
        /// Device name.
        device: String,
        /// The file.
        file: PathBuf,
        /// The text read.
        value: String,
        /// What the kernel prints there.
        expected: &'static str,
    },
    /// `algorithms` lists nothing.
    #[error("{device}: {file} lists no algorithm")]
    NoAlgorithms {
        /// Device name.
        device: String,
        /// The file.
        file: PathBuf,
    },
    /// No device with that name under the class directory.
    #[error("no uacce device named {device} under {root}")]
    NoSuchDevice {
        /// Device name.
        device: String,
        /// The class directory.
        root: PathBuf,
    },
}

/// What a scan of a class directory found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Every device that parsed, isolated ones included, sorted by name.
    pub devices: Vec<DeviceInfo>,
    /// Every device that did not parse, with the reason.
    pub errors: Vec<DiscoveryError>,
}

impl Scan {
    /// The devices that may be used: parsed and not isolated.
    pub fn usable(&self) -> impl Iterator<Item = &DeviceInfo> {
        self.devices.iter().filter(|d| d.isolate != Some(true))
    }
}

/// The class directory to scan: `$UACCE_SYSFS_ROOT` if set, else `/sys/class/uacce`.
pub fn default_root() -> PathBuf {
    std::env::var_os(sysfs::ENV_SYSFS_ROOT)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(sysfs::UACCE_CLASS_PATH))
}

/// Reads every device under `root`. Fails only when the directory itself
/// cannot be listed; broken devices land in [`Scan::errors`].
pub fn scan(root: &Path) -> Result<Scan, DiscoveryError> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(DiscoveryError::NoClassDir {
                root: root.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(DiscoveryError::ListClassDir {
                root: root.to_path_buf(),
                source,
            });
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .filter(|n| root.join(n).is_dir())
        .collect();
    names.sort();
    let mut scan = Scan::default();
    for name in names {
        match read_device(root, &name) {
            Ok(dev) => scan.devices.push(dev),
            Err(e) => scan.errors.push(e),
        }
    }
    Ok(scan)
}

/// Scans the [`default_root`].
pub fn scan_default() -> Result<Scan, DiscoveryError> {
    scan(&default_root())
}

/// Reads one device directory `root/name`.
pub fn read_device(root: &Path, name: &str) -> Result<DeviceInfo, DiscoveryError> {
    let dir = root.join(name);
    if !dir.is_dir() {
        return Err(DiscoveryError::NoSuchDevice {
            device: name.to_owned(),
            root: root.to_path_buf(),
        });
    }
    let legacy = dir.join(sysfs::LEGACY_ATTRS_DIR);
    if legacy.is_dir() {
        return Err(DiscoveryError::LegacyLayout {
            device: name.to_owned(),
            path: legacy,
        });
    }
    let attrs = Attrs {
        dir: &dir,
        device: name,
    };

    let api_text = attrs.required(sysfs::ATTR_API)?;
    let api_line = attrs.single_line(
        sysfs::ATTR_API,
        &api_text,
        "an api string such as \"hisi_qm_v2\"",
    )?;
    let api = Api::parse(api_line);

    let flags = attrs.parse_u32(
        sysfs::ATTR_FLAGS,
        &attrs.required(sysfs::ATTR_FLAGS)?,
        "a decimal unsigned integer",
    )?;
    let flags = DeviceFlags::from_bits_retain(flags);

    let avail = attrs.required(sysfs::ATTR_AVAILABLE_INSTANCES)?;
    let available_instances = attrs.parse_u32(
        sysfs::ATTR_AVAILABLE_INSTANCES,
        &avail,
        "a non-negative decimal integer",
    )?;

    let algorithms = attrs.algorithms()?;

    let region_mmio_size = attrs.region_size(sysfs::ATTR_REGION_MMIO_SIZE)?;
    let region_dus_size = attrs.region_size(sysfs::ATTR_REGION_DUS_SIZE)?;

    let isolate = match attrs.optional(sysfs::ATTR_ISOLATE)? {
        None => None,
        Some(text) => match attrs.single_line(sysfs::ATTR_ISOLATE, &text, "0 or 1")? {
            "0" => Some(false),
            "1" => Some(true),
            _ => return Err(attrs.malformed(sysfs::ATTR_ISOLATE, &text, "0 or 1")),
        },
    };
    let isolate_strategy = match attrs.optional(sysfs::ATTR_ISOLATE_STRATEGY)? {
        None => None,
        Some(text) => {
            let v = attrs.parse_u32(
                sysfs::ATTR_ISOLATE_STRATEGY,
                &text,
                "an integer from 0 to 65535",
            )?;
            if v > 65535 {
                return Err(attrs.malformed(
                    sysfs::ATTR_ISOLATE_STRATEGY,
                    &text,
                    "an integer from 0 to 65535",
                ));
            }
            Some(v)
        }
    };

    let numa_node = match attrs.optional(sysfs::ATTR_DEVICE_NUMA_NODE)? {
        Some(text) => attrs.numa(sysfs::ATTR_DEVICE_NUMA_NODE, &text)?,
        None => match attrs.optional(sysfs::ATTR_NODE_ID)? {
            Some(text) => attrs.numa(sysfs::ATTR_NODE_ID, &text)?,
            None => None,
        },
    };

    let origin = match crate::backend::emulated_opener(root, name) {
        Some(opener) => Origin::Emulated(opener),
        None => Origin::Kernel,
    };

    Ok(DeviceInfo {
        name: name.to_owned(),
        sysfs_path: dir.clone(),
        dev_path: Path::new(sysfs::UACCE_DEV_DIR).join(name),
        api,
        address_mode: AddressMode::from_flags(flags),
        flags,
        available_instances,
        algorithms,
        region_mmio_size,
        region_dus_size,
        isolate,
        isolate_strategy,
        numa_node,
        origin,
    })
}

/// Reads the attribute files of one device directory.
struct Attrs<'a> {
    dir: &'a Path,
    device: &'a str,
}

impl Attrs<'_> {
    fn optional(&self, file: &str) -> Result<Option<String>, DiscoveryError> {
        let path = self.dir.join(file);
        match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|e| {
                self.malformed(file, &String::from_utf8_lossy(e.as_bytes()), "UTF-8 text")
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(DiscoveryError::ReadAttribute {
                device: self.device.to_owned(),
                file: path,
                source,
            }),
        }
    }

    fn required(&self, file: &str) -> Result<String, DiscoveryError> {
        self.optional(file)?
            .ok_or_else(|| DiscoveryError::MissingAttribute {
                device: self.device.to_owned(),
                file: self.dir.join(file),
            })
    }

    fn malformed(&self, file: &str, value: &str, expected: &'static str) -> DiscoveryError {
        DiscoveryError::Malformed {
            device: self.device.to_owned(),
            file: self.dir.join(file),
            value: value.to_owned(),
            expected,
        }
    }

    /// The kernel prints one value and a newline (`"%s\n"`, `"%u\n"`, …).
    fn single_line<'t>(
        &self,
        file: &str,
        text: &'t str,
        expected: &'static str,
    ) -> Result<&'t str, DiscoveryError> {
        let line = text.strip_suffix('\n').unwrap_or(text);
        if line.is_empty() || line.contains('\n') || line.trim() != line {
            return Err(self.malformed(file, text, expected));
        }
        Ok(line)
    }

    fn parse_u32(
        &self,
        file: &str,
        text: &str,
        expected: &'static str,
    ) -> Result<u32, DiscoveryError> {
        let line = self.single_line(file, text, expected)?;
        if !line.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.malformed(file, text, expected));
        }
        line.parse()
            .map_err(|_| self.malformed(file, text, expected))
    }

    /// `region_*_size` (`"%lu\n"`): absent when the region has 0 pages.
    fn region_size(&self, file: &str) -> Result<Option<u64>, DiscoveryError> {
        const EXPECTED: &str = "a positive decimal size in bytes";
        let Some(text) = self.optional(file)? else {
            return Ok(None);
        };
        let line = self.single_line(file, &text, EXPECTED)?;
        if !line.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.malformed(file, &text, EXPECTED));
        }
        match line.parse::<u64>() {
            Ok(0) | Err(_) => Err(self.malformed(file, &text, EXPECTED)),
            Ok(n) => Ok(Some(n)),
        }
    }

    /// `numa_node` / `node_id` (`"%d\n"`): `-1` means no node.
    fn numa(&self, file: &str, text: &str) -> Result<Option<u32>, DiscoveryError> {
        const EXPECTED: &str = "a NUMA node number or -1";
        let line = self.single_line(file, text, EXPECTED)?;
        if line == "-1" {
            return Ok(None);
        }
        if !line.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.malformed(file, text, EXPECTED));
        }
        line.parse()
            .map(Some)
            .map_err(|_| self.malformed(file, text, EXPECTED))
    }

    /// `algorithms`: each name followed by `\n`, the last newline added by sysfs.
    fn algorithms(&self) -> Result<Vec<String>, DiscoveryError> {
        let file = sysfs::ATTR_ALGORITHMS;
        let text = self.required(file)?;
        let mut names = Vec::new();
        for line in text.lines() {
            if line.is_empty() {
                continue;
            }
            if line.trim() != line || line.contains(char::is_whitespace) {
                return Err(self.malformed(file, &text, "one algorithm name per line"));
            }
            names.push(line.to_owned());
        }
        if names.is_empty() {
            return Err(DiscoveryError::NoAlgorithms {
                device: self.device.to_owned(),
                file: self.dir.join(file),
            });
        }
        Ok(names)
    }
}

/// Orders the usable devices that offer `algorithm` for a thread on
/// `thread_node`: nearest NUMA node first, then most free queues; devices
/// with no free queue come last. Isolated devices are left out.
pub fn select<'a>(
    devices: &'a [DeviceInfo],
    algorithm: &str,
    thread_node: Option<u32>,
) -> Vec<&'a DeviceInfo> {
    let mut chosen: Vec<&DeviceInfo> = devices
        .iter()
        .filter(|d| d.isolate != Some(true) && d.supports(algorithm))
        .collect();
    chosen.sort_by_key(|d| {
        (
            d.available_instances == 0,
            crate::numa::proximity(thread_node, d.numa_node),
            std::cmp::Reverse(d.available_instances),
            d.name.clone(),
        )
    });
    chosen
}

/// [`select`] for the calling thread's NUMA node.
pub fn select_for_current_thread<'a>(
    devices: &'a [DeviceInfo],
    algorithm: &str,
) -> Vec<&'a DeviceInfo> {
    select(devices, algorithm, crate::numa::current_node())
}
