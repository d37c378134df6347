//! Finding uacce devices in a sysfs class directory (abi.md §2.2, §4.1).

/// Placeholder until the discovery parser lands.
pub fn list_default() -> Vec<String> {
    Vec::new()
}
