//! Which device a compression engine runs on.

use std::sync::OnceLock;

use super::CompressError;
use crate::device::{AddressMode, DeviceInfo};
use crate::discovery;
use crate::emu::{DeviceConfig, EmuAddressMode, Emulator};

/// Where requests ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecPath {
    /// A hardware accelerator through the kernel.
    Hardware,
    /// The SDK's built-in emulated device.
    Emulated,
    /// Software (flate2): no device offered the algorithm, every queue was
    /// busy, or the device failed the request (see [`crate::pool::Fallback`]).
    Software,
}

impl ExecPath {
    /// `hardware`, `emulated` or `software`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecPath::Hardware => "hardware",
            ExecPath::Emulated => "emulated",
            ExecPath::Software => "software",
        }
    }
}

impl std::fmt::Display for ExecPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to pick the device.
#[derive(Debug, Clone, Default)]
pub enum DeviceChoice {
    /// The nearest usable hardware device that offers the algorithm
    /// (`UACCE_SYSFS_ROOT` or `/sys/class/uacce`) and can reach process memory
    /// (SVA, or an openEuler SS region), else the built-in emulated device in
    /// SVA mode.
    #[default]
    Auto,
    /// This device.
    Device(Box<DeviceInfo>),
    /// The built-in emulated device in this address mode.
    Emulated(EmuAddressMode),
}

impl DeviceChoice {
    /// The devices this choice may run on, best first, for `algorithm`.
    pub fn candidates(&self, algorithm: &'static str) -> Result<Vec<DeviceInfo>, CompressError> {
        match self {
            DeviceChoice::Device(dev) => Ok(vec![(**dev).clone()]),
            DeviceChoice::Emulated(mode) => Ok(builtin(*mode)?
                .iter()
                .filter(|d| d.supports(algorithm))
                .cloned()
                .collect()),
            DeviceChoice::Auto => {
                if let Ok(scan) = discovery::scan_default() {
                    // A device that can see no process memory (flags 0 on a
                    // mainline kernel without SVA) cannot move data: skip it.
                    let picked: Vec<DeviceInfo> =
                        discovery::select_for_current_thread(&scan.devices, algorithm)
                            .into_iter()
                            .filter(|d| d.address_mode != AddressMode::NoSharedMemory)
                            .cloned()
                            .collect();
                    if !picked.is_empty() {
                        return Ok(picked);
                    }
                }
                let emulated: Vec<DeviceInfo> = builtin(EmuAddressMode::Sva)?
                    .iter()
                    .filter(|d| d.supports(algorithm))
                    .cloned()
                    .collect();
                if emulated.is_empty() {
                    return Err(CompressError::NoDevice { algorithm });
                }
                Ok(emulated)
            }
        }
    }

    /// The built-in emulated devices this choice would use (for listing).
    pub fn emulated_devices(&self) -> Result<Vec<DeviceInfo>, CompressError> {
        let mode = match self {
            DeviceChoice::Emulated(mode) => *mode,
            _ => EmuAddressMode::Sva,
        };
        Ok(builtin(mode)?.to_vec())
    }
}

/// The process's built-in emulators, one per address mode, made on first use:
/// one ZIP v3 device (zlib, gzip, deflate) with as many engine workers as the
/// machine has cores.
fn builtin(mode: EmuAddressMode) -> Result<&'static [DeviceInfo], CompressError> {
    type Made = Result<(Emulator, Vec<DeviceInfo>), String>;
    static EMULATORS: [OnceLock<Made>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = match mode {
        EmuAddressMode::Sva => &EMULATORS[0],
        EmuAddressMode::Iommu => &EMULATORS[1],
        EmuAddressMode::NoIommu => &EMULATORS[2],
    };
    let made = slot.get_or_init(|| {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let config = DeviceConfig::zip_v3()
            .with_address_mode(mode)
            .with_queues(64)
            .with_workers(workers);
        let emu = Emulator::new(config).map_err(|e| e.to_string())?;
        let devices = emu.devices().map_err(|e| e.to_string())?;
        Ok((emu, devices))
    });
    match made {
        Ok((_, devices)) => Ok(devices),
        Err(e) => Err(CompressError::Emulator(e.clone())),
    }
}
