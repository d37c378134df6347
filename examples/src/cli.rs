//! Command-line syntax and the error type of the tool.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use uacce::comp::{CompressError, DeviceChoice, Format};
use uacce::emu::EmuAddressMode;

/// Compress and decompress on uacce ZIP accelerators (HiSilicon Kunpeng).
#[derive(Debug, Parser)]
#[command(name = "uacce", version, about)]
pub struct Cli {
    /// Options for every command.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options for every command.
#[derive(Debug, Args)]
pub struct Global {
    /// Use this device (a name from `uacce list`, e.g. hisi_zip-0).
    #[arg(long, global = true, value_name = "NAME", conflicts_with = "emulate")]
    pub device: Option<String>,
    /// Use the built-in emulated device, in this address mode.
    #[arg(long, global = true, value_name = "MODE", num_args = 0..=1, default_missing_value = "sva")]
    pub emulate: Option<EmulateMode>,
}

/// Address modes of the built-in emulated device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmulateMode {
    /// Shared virtual addressing (flags 1).
    Sva,
    /// Non-SVA with an IOMMU (openEuler flags 0x80).
    Iommu,
    /// Non-SVA without an IOMMU (openEuler flags 0x2).
    Noiommu,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List uacce devices.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Compress INPUT (or standard input).
    Compress(Transform),
    /// Decompress INPUT (or standard input).
    Decompress(Transform),
}

/// Options of `compress` and `decompress`.
#[derive(Debug, Args)]
pub struct Transform {
    /// Container format.
    #[arg(short = 'f', long, default_value = "gzip", value_parser = parse_format)]
    pub format: Format,
    /// Compression level 0–9 (hardware v2 ignores it).
    #[arg(short = 'l', long, value_parser = clap::value_parser!(u32).range(0..=9))]
    pub level: Option<u32>,
    /// Output file (standard output when omitted).
    #[arg(short = 'o', long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Input file (standard input when omitted).
    pub input: Option<PathBuf>,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

/// Everything that can go wrong, each with a one-line message.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// From the SDK.
    #[error("{0}")]
    Compress(#[from] CompressError),
    /// Discovery.
    #[error("{0}")]
    Discovery(#[from] uacce::discovery::DiscoveryError),
    /// A file operation.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Bad usage.
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// An I/O error with what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> CliError {
        CliError::Io {
            what: what.into(),
            source,
        }
    }
}

/// Turns the global options into the SDK's device choice.
pub fn device_choice(global: &Global) -> Result<DeviceChoice, CliError> {
    if let Some(mode) = global.emulate {
        return Ok(DeviceChoice::Emulated(match mode {
            EmulateMode::Sva => EmuAddressMode::Sva,
            EmulateMode::Iommu => EmuAddressMode::Iommu,
            EmulateMode::Noiommu => EmuAddressMode::NoIommu,
        }));
    }
    if let Some(name) = &global.device {
        let scan = uacce::discovery::scan_default()
            .map_err(|e| CliError::Usage(format!("no device named {name}: {e}")))?;
        let dev = scan
            .devices
            .into_iter()
            .find(|d| &d.name == name)
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "no device named {name} under {} (see `uacce list`)",
                    uacce::discovery::default_root().display()
                ))
            })?;
        return Ok(DeviceChoice::Device(Box::new(dev)));
    }
    Ok(DeviceChoice::Auto)
}
