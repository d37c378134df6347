//! Device faults injected by the emulator surface as typed errors through the
//! compression API, never as wrong bytes, never as a hang.

use std::time::{Duration, Instant};

use uacce::comp::{CompressError, Compressor, Decompressor, DeviceChoice, Format, Level};
use uacce::emu::{DeviceConfig, EmuAddressMode, Emulator, RequestId, StatusWord};
use uacce::hisi::qm::QmError;
use uacce_tests::sample;

fn device(mode: EmuAddressMode) -> (Emulator, DeviceChoice) {
    let emu = Emulator::new(
        DeviceConfig::zip_v3()
            .with_queues(8)
            .with_address_mode(mode),
    )
    .unwrap();
    let dev = emu.devices().unwrap().remove(0);
    (emu, DeviceChoice::Device(Box::new(dev)))
}

#[test]
fn failed_request_is_an_error_and_the_next_call_works() {
    for mode in [EmuAddressMode::Sva, EmuAddressMode::NoIommu] {
        let (emu, choice) = device(mode);
        let ctl = emu.control(0).unwrap();
        let data = sample(200_000, 1);
        let mut c = Compressor::with_choice(Format::Gzip, Level::DEFAULT, &choice).unwrap();
        let before = ctl.requests_fetched();
        ctl.fail_request(RequestId::Device(before), 0x06);
        let e = c.compress(&data).unwrap_err();
        assert!(
            matches!(e, CompressError::Device { status: 0x06, .. }),
            "{mode:?}: {e:?}"
        );
        let gz = c.compress(&data).unwrap();
        let back = Decompressor::with_choice(Format::Gzip, &choice)
            .unwrap()
            .decompress(&gz)
            .unwrap();
        assert!(back == data);

        // The same on the decompression side, mid-stream (bounced mode makes
        // several requests per member).
        let mut d = Decompressor::with_choice(Format::Gzip, &choice).unwrap();
        // SVA takes the member in one request; bounced memory in 64 KiB steps.
        let nth = if mode == EmuAddressMode::Sva { 0 } else { 1 };
        ctl.fail_request(RequestId::Device(ctl.requests_fetched() + nth), 0x06);
        let e = d.decompress(&gz).unwrap_err();
        assert!(
            matches!(e, CompressError::Corrupt { status: 0x06, .. }),
            "{mode:?}: {e:?}"
        );
        assert!(d.decompress(&gz).unwrap() == data);
    }
}

#[test]
fn a_completion_that_never_comes_times_out_and_the_engine_recovers() {
    let (emu, choice) = device(EmuAddressMode::Sva);
    let ctl = emu.control(0).unwrap();
    let mut c = Compressor::with_choice(Format::Zlib, Level::DEFAULT, &choice).unwrap();
    c.set_request_timeout(Duration::from_millis(300));
    ctl.stall_request(RequestId::Device(ctl.requests_fetched()));
    let start = Instant::now();
    let e = c.compress(b"never completes").unwrap_err();
    assert!(
        matches!(e, CompressError::Qm(QmError::Timeout { .. })),
        "{e:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "timed out, not hung"
    );
    let z = c.compress(b"after the restart").unwrap();
    assert_eq!(
        uacce_tests::reference_decompress(&z, Format::Zlib).unwrap(),
        b"after the restart"
    );
}

#[test]
fn corrupted_tag_is_detected() {
    let (emu, choice) = device(EmuAddressMode::Iommu);
    let ctl = emu.control(0).unwrap();
    let mut c = Compressor::with_choice(Format::Gzip, Level::DEFAULT, &choice).unwrap();
    ctl.corrupt_tag(RequestId::Device(ctl.requests_fetched()));
    let e = c.compress(&sample(10_000, 2)).unwrap_err();
    assert!(
        matches!(e, CompressError::Qm(QmError::TagMismatch { .. })),
        "{e:?}"
    );
}

#[test]
fn reset_status_words_stop_the_request() {
    let (emu, choice) = device(EmuAddressMode::Sva);
    let ctl = emu.control(0).unwrap();
    let mut c = Compressor::with_choice(Format::Gzip, Level::DEFAULT, &choice).unwrap();
    ctl.set_status_word(StatusWord::Tx, None, 1);
    let e = c.compress(b"during a reset").unwrap_err();
    assert!(
        matches!(
            e,
            CompressError::Qm(QmError::DeviceResetting { word: "TX", .. })
        ),
        "{e:?}"
    );
    ctl.set_status_word(StatusWord::Tx, None, 0);
    ctl.set_status_word(StatusWord::Rx, None, 1);
    let e = c.compress(b"during a reset").unwrap_err();
    assert!(
        matches!(
            e,
            CompressError::Qm(QmError::DeviceResetting { word: "RX", .. })
        ),
        "{e:?}"
    );
}

#[test]
fn removed_device_is_reported_as_removed() {
    let (emu, choice) = device(EmuAddressMode::Sva);
    let mut c = Compressor::with_choice(Format::Gzip, Level::DEFAULT, &choice).unwrap();
    c.set_request_timeout(Duration::from_millis(300));
    emu.control(0).unwrap().remove();
    let e = c.compress(b"after removal").unwrap_err();
    let removed = match &e {
        CompressError::Qm(QmError::Queue(q)) | CompressError::Queue(q) => q.is_device_removed(),
        _ => false,
    };
    assert!(removed, "{e:?}");
    let e = Compressor::with_choice(Format::Gzip, Level::DEFAULT, &choice).unwrap_err();
    assert!(
        e.to_string().contains("removed") || e.to_string().contains("ENXIO"),
        "{e}"
    );
}
