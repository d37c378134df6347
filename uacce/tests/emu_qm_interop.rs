//! The lead's QM ring driver (`uacce::hisi::qm`) against the emulated device:
//! a check that the driver and the device agree on the protocol, on top of the
//! hand-rolled protocol tests of `emu_protocol.rs`.

use std::io::Read;
use std::time::Duration;

use uacce::Queue;
use uacce::emu::{DeviceConfig, Emulator, RequestId, ZipVersion, status};
use uacce::hisi::qm::{QmConfig, QmError, QmQueue, WaitMode};

/// Block-mode compression: raw deflate with sqe_type 3 on v3, zlib with
/// sqe_type 0 on v1/v2.
fn sqe(v3: bool, src: &[u8], dst: &mut [u8]) -> [u8; 128] {
    let mut w = [0u32; 32];
    w[4] = src.len() as u32;
    w[7] = (1 << 25) | (1 << 27) | if v3 { 3 << 28 } else { 0 };
    w[9] = if v3 { 0x01 } else { 0x02 };
    w[14] = dst.len() as u32;
    let (s, d) = (src.as_ptr() as u64, dst.as_mut_ptr() as u64);
    (w[18], w[19], w[20], w[21]) = (s as u32, (s >> 32) as u32, d as u32, (d >> 32) as u32);
    let mut b = [0u8; 128];
    for (i, v) in w.iter().enumerate() {
        b[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    b
}

#[test]
fn qm_driver_round_trips_times_out_restarts_and_sees_removal() {
    let cases = [
        (DeviceConfig::zip_v3(), WaitMode::Sleep),
        (DeviceConfig::zip_v3(), WaitMode::BusyPoll),
        (DeviceConfig::zip_v1(), WaitMode::Sleep),
    ];
    for (cfg, mode) in cases {
        let v3 = cfg.version() == ZipVersion::V3;
        let emu = Emulator::new(cfg.with_depth(8)).unwrap();
        let ctl = emu.control(0).unwrap();
        let dev = emu.devices().unwrap().remove(0);
        let mut qm_cfg = QmConfig::new(0, if v3 { 26 * 4 } else { 13 * 4 });
        qm_cfg.wait_mode = mode;
        let mut qm = QmQueue::new(Queue::open(&dev).unwrap(), qm_cfg).unwrap();
        assert_eq!(qm.capacity(), 7);
        let data = vec![b'a'; 5000];
        let mut out = vec![0u8; 5000];
        for _ in 0..20 {
            let tag = qm.submit(&sqe(v3, &data, &mut out)).unwrap();
            let done = qm.wait(Duration::from_secs(5)).unwrap();
            assert_eq!(done.tag, tag);
            assert_eq!(done.dword(3) & 0xff, u32::from(status::OK));
            let mut plain = Vec::new();
            let body = &out[..done.dword(1) as usize];
            if v3 {
                flate2::read::DeflateDecoder::new(body)
                    .read_to_end(&mut plain)
                    .unwrap();
            } else {
                let z = [&[0x78, 0x9c][..], body].concat();
                flate2::read::ZlibDecoder::new(&z[..])
                    .read_to_end(&mut plain)
                    .unwrap();
            }
            assert_eq!(plain, data);
        }
        ctl.stall_request(RequestId::Device(20));
        qm.submit(&sqe(v3, &data, &mut out)).unwrap();
        assert!(matches!(
            qm.wait(Duration::from_millis(50)),
            Err(QmError::Timeout { .. })
        ));
        qm.restart().unwrap();
        qm.submit(&sqe(v3, &data, &mut out)).unwrap();
        qm.wait(Duration::from_secs(5)).unwrap();
        ctl.corrupt_tag(RequestId::Device(22));
        qm.submit(&sqe(v3, &data, &mut out)).unwrap();
        assert!(matches!(
            qm.wait(Duration::from_secs(5)),
            Err(QmError::TagMismatch { .. })
        ));
        ctl.remove();
        qm.submit(&sqe(v3, &data, &mut out)).unwrap();
        let err = qm.wait(Duration::from_millis(50)).unwrap_err();
        assert!(err.is_device_failure(), "{err}");
    }
}
