//! Tests on a real accelerator. They are ignored by default and run with
//! `UACCE_TEST_DEVICE=/dev/hisi_zip-N cargo test -p uacce --test hardware -- --ignored`.

use std::path::PathBuf;
use std::time::Duration;

use uacce::comp::{Compressor, Decompressor, DeviceChoice, ExecPath, Format, Level};
use uacce::hisi::qm::{QmConfig, QmQueue};
use uacce::hisi::zip::SqeFormat;
use uacce::{DeviceInfo, Queue, discovery};

/// The device named by `UACCE_TEST_DEVICE` (a `/dev/<name>` path).
fn device() -> DeviceInfo {
    let path = std::env::var_os("UACCE_TEST_DEVICE").expect("set UACCE_TEST_DEVICE=/dev/<name>");
    let name = PathBuf::from(path)
        .file_name()
        .expect("a /dev/<name> path")
        .to_string_lossy()
        .into_owned();
    discovery::read_device(&discovery::default_root(), &name).expect("the device's sysfs entry")
}

#[test]
#[ignore = "needs hardware: set UACCE_TEST_DEVICE=/dev/hisi_zip-N"]
fn hardware_queue_starts_and_answers_geometry() {
    let dev = device();
    let hw = dev.hw_version().expect("a HiSilicon QM device");
    let queue = Queue::open(&dev).unwrap();
    let qm = QmQueue::new(queue, QmConfig::new(0, SqeFormat::for_hw(hw).tag_offset())).unwrap();
    assert!(qm.capacity() >= 1);
    assert_eq!(qm.sqe_size(), 128);
    assert!(!qm.queue().wait(Some(Duration::from_millis(10))).unwrap());
}

#[test]
#[ignore = "needs hardware: set UACCE_TEST_DEVICE=/dev/hisi_zip-N"]
fn hardware_gzip_round_trip() {
    let choice = DeviceChoice::Device(Box::new(device()));
    let data: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i % 251) as u8 ^ (i / 4096) as u8)
        .collect();
    let mut c = Compressor::with_choice(Format::Gzip, Level::DEFAULT, &choice).unwrap();
    assert_eq!(c.exec_path(), ExecPath::Hardware);
    let gz = c.compress(&data).unwrap();
    let back = Decompressor::with_choice(Format::Gzip, &choice)
        .unwrap()
        .decompress(&gz)
        .unwrap();
    assert!(back == data);
}
