//! `uacce list`.

use serde::Serialize;

use crate::cli::{CliError, Global};

#[derive(Serialize)]
struct Row {
    name: String,
    api: String,
    algorithms: Vec<String>,
    address_mode: &'static str,
    free_queues: u32,
    numa_node: Option<u32>,
    isolated: bool,
    emulated: bool,
}

/// Lists the devices under the class directory, or those of the built-in
/// emulated device when there are none (or `--emulate` asks for them).
pub fn run(global: &Global, json: bool) -> Result<(), CliError> {
    let mut notes = Vec::new();
    let scan = match global.emulate {
        Some(_) => None,
        None => match uacce::discovery::scan_default() {
            Ok(scan) => Some(scan),
            Err(e) => {
                notes.push(format!("{e}; showing the built-in emulated device"));
                None
            }
        },
    };
    let mut devices = Vec::new();
    if let Some(scan) = &scan {
        devices.extend(scan.devices.iter().cloned());
        notes.extend(scan.errors.iter().map(|e| format!("skipped: {e}")));
    }
    if devices.is_empty() {
        let choice = crate::cli::device_choice(global)?;
        devices.extend(uacce::comp::DeviceChoice::emulated_devices(&choice)?);
    }
    let rows: Vec<Row> = devices
        .iter()
        .map(|d| Row {
            name: d.name.clone(),
            api: d.api.as_str().to_owned(),
            algorithms: d.algorithms.clone(),
            address_mode: d.address_mode.as_str(),
            free_queues: d.available_instances,
            numa_node: d.numa_node,
            isolated: d.isolate == Some(true),
            emulated: d.is_emulated(),
        })
        .collect();
    for note in &notes {
        eprintln!("uacce: {note}");
    }
    if json {
        let text =
            serde_json::to_string_pretty(&rows).map_err(|e| CliError::Usage(e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    println!(
        "{:<16} {:<20} {:<8} {:>5} {:>4}  ALGORITHMS",
        "NAME", "API", "MODE", "FREE", "NODE"
    );
    for r in rows {
        let mut name = r.name.clone();
        if r.emulated {
            name.push_str(" (emu)");
        }
        if r.isolated {
            name.push_str(" (isolated)");
        }
        let node = r.numa_node.map_or("-".to_owned(), |n| n.to_string());
        println!(
            "{:<16} {:<20} {:<8} {:>5} {:>4}  {}",
            name,
            r.api,
            r.address_mode,
            r.free_queues,
            node,
            r.algorithms.join(",")
        );
    }
    Ok(())
}
