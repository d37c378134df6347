//! `UACCE_SYSFS_ROOT` moves discovery. Alone in its own test binary, because
//! changing the environment while other threads read it is unsound.

use std::fs;
use std::path::Path;

use uacce::discovery;

#[test]
fn environment_variable_points_discovery_elsewhere() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path().join("hisi_zip-0");
    fs::create_dir(&d).unwrap();
    for (name, text) in [
        ("api", "hisi_qm_v2\n"),
        ("flags", "1\n"),
        ("available_instances", "2\n"),
        ("algorithms", "zlib\ngzip\n"),
    ] {
        fs::write(d.join(name), text).unwrap();
    }
    // SAFETY: no other thread of this test binary reads or writes the environment.
    unsafe { std::env::set_var("UACCE_SYSFS_ROOT", root.path()) };
    assert_eq!(discovery::default_root(), root.path());
    let scan = discovery::scan_default().unwrap();
    assert_eq!(scan.devices[0].name, "hisi_zip-0");
    // SAFETY: as above.
    unsafe { std::env::remove_var("UACCE_SYSFS_ROOT") };
    assert_eq!(discovery::default_root(), Path::new("/sys/class/uacce"));
}
