//! The queue pool end to end on the emulated device: many threads, requests
//! in flight, fallback on injected faults, timeouts, back-pressure, async.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use uacce::comp::{DeviceChoice, ExecPath, Format};
use uacce::emu::{DeviceConfig, EmuAddressMode, Emulator, RequestId};
use uacce::pool::{Fallback, Job, Op, Pool, PoolConfig, PoolError};
use uacce_tests::sample;

fn emulator(config: DeviceConfig) -> (Emulator, DeviceChoice) {
    let emu = Emulator::new(config).unwrap();
    let dev = emu.devices().unwrap().remove(0);
    (emu, DeviceChoice::Device(Box::new(dev)))
}

fn gunzip_all(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn one_lane(choice: DeviceChoice) -> PoolConfig {
    PoolConfig::new(choice)
        .with_queues_per_device(1)
        .with_ops(&[Op::Compress])
}

#[test]
fn many_threads_get_exactly_their_own_results() {
    let (_emu, choice) = emulator(DeviceConfig::zip_v3().with_queues(16).with_workers(2));
    let pool = Pool::new(PoolConfig::new(choice).with_queues_per_device(3)).unwrap();
    assert_eq!(pool.queues(Op::Compress), 3);
    let threads: Vec<_> = (0..6u64)
        .map(|t| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                for round in 0..4u64 {
                    // Several requests in flight per thread, each different data.
                    let inputs: Vec<Vec<u8>> = (0..5)
                        .map(|k| {
                            sample(
                                1000 + (t * 7919 + round * 131 + k * 17) as usize % 60_000,
                                t * 100 + round * 10 + k,
                            )
                        })
                        .collect();
                    let tickets: Vec<_> = inputs
                        .iter()
                        .map(|d| pool.submit(Job::compress(Format::Gzip, d.clone())).unwrap())
                        .collect();
                    for (d, t) in inputs.iter().zip(tickets) {
                        let out = t.wait().unwrap();
                        assert_eq!(out.path, ExecPath::Emulated);
                        assert_eq!(gunzip_all(&out.data), *d);
                        let back = pool
                            .run(Job::decompress(Format::Gzip, out.data.clone(), d.len()))
                            .unwrap();
                        assert_eq!(back.data, *d);
                        assert_eq!(back.consumed, out.data.len());
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = pool.stats();
    assert_eq!(s.requests, 6 * 4 * 5 * 2);
    assert_eq!(s.emulated, s.requests);
    assert_eq!((s.software, s.errors, s.retries), (0, 0, 0));
}

#[test]
fn injected_error_mid_batch_falls_back_with_no_lost_or_duplicated_bytes() {
    let (emu, choice) = emulator(DeviceConfig::zip_v3().with_queues(4).with_workers(2));
    let ctl = emu.control(0).unwrap();
    let pool = Pool::new(one_lane(choice).with_lane_depth(8)).unwrap();
    let chunks: Vec<Vec<u8>> = (0..8).map(|k| sample(40_000, 50 + k)).collect();
    let first = ctl.requests_fetched();
    ctl.fail_request(RequestId::Device(first + 3), 0x06);
    let tickets: Vec<_> = chunks
        .iter()
        .map(|c| pool.submit(Job::compress(Format::Gzip, c.clone())).unwrap())
        .collect();
    let mut members = Vec::new();
    let mut paths = Vec::new();
    for t in tickets {
        let out = t.wait().unwrap();
        paths.push(out.path);
        members.extend_from_slice(&out.data);
    }
    assert_eq!(
        paths.iter().filter(|p| **p == ExecPath::Software).count(),
        1
    );
    assert_eq!(paths[3], ExecPath::Software);
    // Hardware and software members concatenate into one valid file.
    assert_eq!(gunzip_all(&members), chunks.concat());
    let s = pool.stats();
    assert_eq!((s.retries, s.software, s.emulated, s.errors), (1, 1, 7, 0));
}

#[test]
fn injected_error_fails_when_fallback_is_off_and_the_pool_goes_on() {
    let (emu, choice) = emulator(DeviceConfig::zip_v3().with_queues(4));
    let ctl = emu.control(0).unwrap();
    let pool = Pool::new(one_lane(choice).with_fallback(Fallback::Fail)).unwrap();
    let data = sample(30_000, 9);
    ctl.fail_request(RequestId::Device(ctl.requests_fetched()), 0x06);
    let e = pool
        .run(Job::compress(Format::Zlib, data.clone()))
        .unwrap_err();
    assert!(
        matches!(e, PoolError::DeviceStatus { status: 0x06, .. }),
        "{e:?}"
    );
    let ok = pool.run(Job::compress(Format::Zlib, data.clone())).unwrap();
    assert_eq!(ok.path, ExecPath::Emulated);
    let mut back = Vec::new();
    flate2::read::ZlibDecoder::new(&ok.data[..])
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, data);
    assert_eq!(pool.stats().errors, 1);
}

#[test]
fn dropped_completion_times_out_and_the_pool_stays_usable() {
    for fallback in [Fallback::Software, Fallback::Fail] {
        let (emu, choice) = emulator(DeviceConfig::zip_v3().with_queues(4));
        let ctl = emu.control(0).unwrap();
        let pool = Pool::new(
            one_lane(choice)
                .with_fallback(fallback)
                .with_request_timeout(Duration::from_millis(300)),
        )
        .unwrap();
        let a = sample(20_000, 1);
        let b = sample(20_000, 2);
        ctl.stall_request(RequestId::Device(ctl.requests_fetched()));
        // The stalled request holds back the one behind it (in-order CQ).
        let ta = pool.submit(Job::compress(Format::Gzip, a.clone())).unwrap();
        let tb = pool.submit(Job::compress(Format::Gzip, b.clone())).unwrap();
        let (ra, rb) = (ta.wait(), tb.wait());
        match fallback {
            Fallback::Software => {
                let (ra, rb) = (ra.unwrap(), rb.unwrap());
                assert_eq!(ra.path, ExecPath::Software);
                assert_eq!(gunzip_all(&ra.data), a);
                assert_eq!(gunzip_all(&rb.data), b);
            }
            Fallback::Fail => {
                assert!(matches!(ra, Err(PoolError::Timeout { .. })), "{ra:?}");
                // The one behind it either completed or was failed with the queue.
                if let Ok(rb) = rb {
                    assert_eq!(gunzip_all(&rb.data), b);
                }
            }
        }
        assert!(pool.stats().timeouts >= 1);
        // The queue was restarted: the next request runs on the device again.
        let c = pool.run(Job::compress(Format::Gzip, a.clone())).unwrap();
        assert_eq!(c.path, ExecPath::Emulated);
        assert_eq!(gunzip_all(&c.data), a);
    }
}

#[test]
fn exhausted_queues_give_back_pressure_not_deadlock() {
    let (emu, choice) = emulator(DeviceConfig::zip_v3().with_queues(4).with_workers(1));
    let ctl = emu.control(0).unwrap();
    ctl.set_completion_delay(Some(Duration::from_millis(30)));
    // One queue, two requests in flight: most submitters must wait.
    let pool = Pool::new(
        one_lane(choice.clone())
            .with_lane_depth(2)
            .with_busy_wait(Duration::from_secs(20)),
    )
    .unwrap();
    assert_eq!(pool.lane_depth(), 2);
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                for k in 0..3 {
                    let d = sample(5000, t * 10 + k);
                    let out = pool.run(Job::compress(Format::Gzip, d.clone())).unwrap();
                    assert_eq!(out.path, ExecPath::Emulated);
                    assert_eq!(gunzip_all(&out.data), d);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(pool.stats().emulated, 12);

    // With a short wait and no fallback, a full pool says so.
    let strict = Pool::new(
        one_lane(choice)
            .with_lane_depth(2)
            .with_fallback(Fallback::Fail)
            .with_busy_wait(Duration::from_millis(5)),
    )
    .unwrap();
    let d = sample(5000, 3);
    let held: Vec<_> = (0..2)
        .map(|_| {
            strict
                .submit(Job::compress(Format::Gzip, d.clone()))
                .unwrap()
        })
        .collect();
    let e = strict
        .submit(Job::compress(Format::Gzip, d.clone()))
        .unwrap_err();
    assert!(matches!(e, PoolError::Busy { lanes: 1, .. }), "{e:?}");
    for t in held {
        assert_eq!(gunzip_all(&t.wait().unwrap().data), d);
    }
    ctl.set_completion_delay(None);
    assert!(
        strict
            .submit(Job::compress(Format::Gzip, d))
            .unwrap()
            .wait()
            .is_ok()
    );
}

#[test]
fn missing_algorithm_runs_in_software_or_fails() {
    // ZIP v2 has no raw deflate.
    let (_emu, choice) = emulator(DeviceConfig::zip_v2().with_queues(4));
    let pool = Pool::new(PoolConfig::new(choice.clone()).with_queues_per_device(1)).unwrap();
    let data = sample(10_000, 4);
    let out = pool
        .run(Job::compress(Format::Deflate, data.clone()))
        .unwrap();
    assert_eq!(out.path, ExecPath::Software);
    let back = pool
        .run(Job::decompress(Format::Deflate, out.data, data.len()))
        .unwrap();
    assert_eq!((back.data, back.path), (data.clone(), ExecPath::Software));
    let gz = pool.run(Job::compress(Format::Gzip, data.clone())).unwrap();
    assert_eq!(gz.path, ExecPath::Emulated);

    let strict = Pool::new(
        PoolConfig::new(choice)
            .with_queues_per_device(1)
            .with_fallback(Fallback::Fail),
    )
    .unwrap();
    let e = strict
        .submit(Job::compress(Format::Deflate, data))
        .unwrap_err();
    assert!(matches!(e, PoolError::NoDevice { .. }), "{e:?}");
}

#[test]
fn corrupt_and_oversized_input_fail_on_every_path() {
    let (_emu, choice) = emulator(DeviceConfig::zip_v3().with_queues(4));
    let pool = Pool::new(PoolConfig::new(choice).with_queues_per_device(1)).unwrap();
    let data = sample(20_000, 5);
    let mut gz = pool
        .run(Job::compress(Format::Gzip, data.clone()))
        .unwrap()
        .data;
    let n = gz.len();
    gz[n - 6] ^= 0xff; // ISIZE
    assert!(
        pool.run(Job::decompress(Format::Gzip, gz, data.len()))
            .is_err()
    );
    assert!(
        pool.run(Job::decompress(Format::Gzip, b"nope".to_vec(), 10))
            .is_err()
    );
    let big = vec![0u8; pool.max_request() + 1];
    assert!(matches!(
        pool.submit(Job::compress(Format::Gzip, big)),
        Err(PoolError::TooLarge { .. })
    ));
    // A too-small output limit is an error, not truncated output.
    let gz = pool
        .run(Job::compress(Format::Gzip, data.clone()))
        .unwrap()
        .data;
    assert!(
        pool.run(Job::decompress(Format::Gzip, gz, data.len() - 1))
            .is_err()
    );
}

#[test]
fn tickets_complete_under_tokio() {
    let (_emu, choice) = emulator(DeviceConfig::zip_v3().with_queues(8).with_workers(2));
    let pool = Pool::new(PoolConfig::new(choice).with_queues_per_device(2)).unwrap();
    for flavor in ["multi", "current"] {
        let rt = if flavor == "multi" {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
        } else {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        };
        let pool = Arc::new(pool.clone());
        rt.block_on(async {
            let tasks: Vec<_> = (0..16u64)
                .map(|k| {
                    let pool = Arc::clone(&pool);
                    tokio::spawn(async move {
                        let d = sample(2000 + k as usize * 3000, k);
                        let out = pool
                            .submit(Job::compress(Format::Gzip, d.clone()))
                            .unwrap()
                            .await
                            .unwrap();
                        assert_eq!(out.path, ExecPath::Emulated);
                        let back = pool
                            .submit(Job::decompress(Format::Gzip, out.data, d.len()))
                            .unwrap()
                            .await
                            .unwrap();
                        assert_eq!(back.data, d);
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
    }
    assert_eq!(pool.stats().emulated, 64);
}

#[test]
fn every_address_mode_and_both_wait_modes_work() {
    for mode in [
        EmuAddressMode::Sva,
        EmuAddressMode::Iommu,
        EmuAddressMode::NoIommu,
    ] {
        for wait in [
            uacce::hisi::qm::WaitMode::Sleep,
            uacce::hisi::qm::WaitMode::BusyPoll,
        ] {
            let (_emu, choice) = emulator(
                DeviceConfig::zip_v3()
                    .with_queues(4)
                    .with_address_mode(mode),
            );
            let pool = Pool::new(
                PoolConfig::new(choice)
                    .with_queues_per_device(1)
                    .with_wait_mode(wait),
            )
            .unwrap();
            let d = sample(100_000, 6);
            let out = pool.run(Job::compress(Format::Zlib, d.clone())).unwrap();
            assert_eq!(out.path, ExecPath::Emulated, "{mode:?} {wait:?}");
            let back = pool
                .run(Job::decompress(Format::Zlib, out.data, d.len()))
                .unwrap();
            assert_eq!(back.data, d);
        }
    }
}

mod streams {
    use std::io::Write;

    use super::*;
    use uacce::comp::{CompressError, Compressor, Decompressor, Encoder, Level};

    fn decode_single(format: Format, data: &[u8]) -> Vec<u8> {
        // Single-member readers: they stop after the first member, so a
        // stream that is not exactly one member shows up here.
        let mut out = Vec::new();
        match format {
            Format::Gzip => {
                let mut d = flate2::read::GzDecoder::new(data);
                d.read_to_end(&mut out).unwrap();
            }
            Format::Zlib => {
                flate2::read::ZlibDecoder::new(data)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Format::Deflate => {
                flate2::read::DeflateDecoder::new(data)
                    .read_to_end(&mut out)
                    .unwrap();
            }
        }
        out
    }

    #[test]
    fn device_error_mid_stream_switches_to_software_in_the_same_member() {
        for format in [Format::Gzip, Format::Zlib, Format::Deflate] {
            for failing in [0u64, 1, 2] {
                let (emu, choice) = emulator(DeviceConfig::zip_v3().with_queues(4));
                let ctl = emu.control(0).unwrap();
                let data = sample(3 << 20, failing + 20);
                let mut enc =
                    Encoder::with_choice(Vec::new(), format, Level::DEFAULT, &choice).unwrap();
                enc.set_fallback(Fallback::Software);
                ctl.fail_request(RequestId::Device(ctl.requests_fetched() + failing), 0x06);
                for piece in data.chunks(300_001) {
                    enc.write_all(piece).unwrap();
                }
                assert_eq!(enc.exec_path(), ExecPath::Software, "{format} {failing}");
                let out = enc.finish().unwrap();
                // Exactly one member, trailer included, no byte lost or doubled.
                assert_eq!(decode_single(format, &out), data, "{format} {failing}");
                if format == Format::Gzip {
                    assert_eq!(gunzip_all(&out), data);
                }
            }
        }
    }

    #[test]
    fn stalled_request_mid_stream_times_out_into_software() {
        let (emu, choice) = emulator(DeviceConfig::zip_v3().with_queues(4));
        let ctl = emu.control(0).unwrap();
        let data = sample(2_500_000, 31);
        let mut c = Compressor::with_choice(Format::Gzip, Level::DEFAULT, &choice).unwrap();
        c.set_request_timeout(Duration::from_millis(200));
        c.set_fallback(Fallback::Software);
        ctl.stall_request(RequestId::Device(ctl.requests_fetched() + 1));
        let gz = c.compress(&data).unwrap();
        assert_eq!(c.exec_path(), ExecPath::Software);
        assert_eq!(decode_single(Format::Gzip, &gz), data);
        // The compressor's queue was restarted and works again.
        let again = c.compress(&data).unwrap();
        assert_eq!(c.exec_path(), ExecPath::Emulated);
        assert_eq!(decode_single(Format::Gzip, &again), data);
    }

    #[test]
    fn device_error_mid_stream_fails_when_fallback_is_off() {
        let (emu, choice) = emulator(DeviceConfig::zip_v3().with_queues(4));
        let ctl = emu.control(0).unwrap();
        let data = sample(3 << 20, 7);
        let mut enc =
            Encoder::with_choice(Vec::new(), Format::Gzip, Level::DEFAULT, &choice).unwrap();
        ctl.fail_request(RequestId::Device(ctl.requests_fetched() + 1), 0x06);
        let e = enc.write_all(&data).and_then(|_| enc.flush());
        let e = match e {
            Err(e) => e,
            Ok(()) => enc.finish().map(|_| ()).unwrap_err().into(),
        };
        let inner = e.into_inner().unwrap();
        let inner = inner.downcast::<CompressError>().unwrap();
        assert!(
            matches!(*inner, CompressError::Device { status: 0x06, .. }),
            "{inner:?}"
        );
    }

    #[test]
    fn pooled_encoder_writes_independent_members_in_order() {
        let (emu, choice) = emulator(DeviceConfig::zip_v3().with_queues(8).with_workers(2));
        let ctl = emu.control(0).unwrap();
        let pool = Pool::new(PoolConfig::new(choice).with_queues_per_device(2)).unwrap();
        let data = sample(3_000_000, 8);
        ctl.fail_request(RequestId::Device(ctl.requests_fetched() + 5), 0x06);
        let mut enc = Encoder::with_pool(Vec::new(), Format::Gzip, Level::DEFAULT, &pool).unwrap();
        for piece in data.chunks(77_777) {
            enc.write_all(piece).unwrap();
        }
        assert!(Encoder::with_pool(Vec::new(), Format::Zlib, Level::DEFAULT, &pool).is_err());
        let out = enc.finish().unwrap();
        assert_eq!(gunzip_all(&out), data);
        let members = data.len().div_ceil(pool.max_request());
        let s = pool.stats();
        assert_eq!(s.requests as usize, members);
        assert_eq!((s.software, s.retries), (1, 1));
        // Our own decompressor reads every member back.
        let back =
            Decompressor::with_choice(Format::Gzip, &DeviceChoice::Emulated(EmuAddressMode::Sva))
                .unwrap()
                .decompress(&out)
                .unwrap();
        assert_eq!(back, data);
        // One-shot on the pool: the same shape; an empty input is one member.
        let mut c = Compressor::with_pool(Format::Gzip, Level::DEFAULT, &pool).unwrap();
        assert_eq!(gunzip_all(&c.compress(&data).unwrap()), data);
        assert_eq!(c.exec_path(), ExecPath::Emulated);
        let empty = c.compress(b"").unwrap();
        assert!(gunzip_all(&empty).is_empty() && !empty.is_empty());
    }

    #[test]
    fn decompressor_falls_back_on_device_error() {
        let (emu, choice) = emulator(DeviceConfig::zip_v3().with_queues(4));
        let ctl = emu.control(0).unwrap();
        let data = sample(500_000, 12);
        let gz = Compressor::with_choice(Format::Gzip, Level::DEFAULT, &choice)
            .unwrap()
            .compress(&data)
            .unwrap();
        let mut d = Decompressor::with_choice(Format::Gzip, &choice).unwrap();
        d.set_fallback(Fallback::Software);
        ctl.fail_request(RequestId::Device(ctl.requests_fetched()), 0x06);
        assert_eq!(d.decompress(&gz).unwrap(), data);
        assert_eq!(d.exec_path(), ExecPath::Software);
        assert_eq!(d.decompress(&gz).unwrap(), data);
        assert_eq!(d.exec_path(), ExecPath::Emulated);
        // Corrupt data fails on both paths.
        let mut bad = gz.clone();
        let n = bad.len();
        bad[n - 5] ^= 1;
        assert!(d.decompress(&bad).is_err());
    }
}

#[test]
fn threads_use_the_nearest_device_first() {
    let Some(node) = uacce::numa::current_node() else {
        return; // The kernel does not say where we run: nothing to prefer.
    };
    let far = node + 1;
    let emu = Emulator::builder()
        .device(
            DeviceConfig::zip_v3()
                .with_queues(4)
                .with_numa_node(Some(far)),
        )
        .device(
            DeviceConfig::zip_v3()
                .with_queues(4)
                .with_numa_node(Some(node)),
        )
        .build()
        .unwrap();
    let devices = emu.devices().unwrap();
    let near_name = devices
        .iter()
        .find(|d| d.numa_node == Some(node))
        .unwrap()
        .name
        .clone();
    let (near_ctl, far_ctl) = (
        emu.control_by_name(&near_name).unwrap(),
        emu.control_by_name(&devices.iter().find(|d| d.name != near_name).unwrap().name)
            .unwrap(),
    );
    let pool = Pool::new(
        PoolConfig::new(DeviceChoice::Auto)
            .with_devices(devices)
            .with_queues_per_device(1)
            .with_ops(&[Op::Compress])
            .with_lane_depth(4),
    )
    .unwrap();
    assert_eq!(pool.queues(Op::Compress), 2);
    let (n0, f0) = (near_ctl.requests_fetched(), far_ctl.requests_fetched());
    // Light load stays on the near device.
    for k in 0..6 {
        pool.run(Job::compress(Format::Gzip, sample(1000, k)))
            .unwrap();
    }
    assert_eq!(near_ctl.requests_fetched() - n0, 6);
    assert_eq!(far_ctl.requests_fetched() - f0, 0);
    // When the near queue is full, load spills over to the far one.
    near_ctl.set_completion_delay(Some(Duration::from_millis(50)));
    let tickets: Vec<_> = (0..8)
        .map(|k| {
            pool.submit(Job::compress(Format::Gzip, sample(1000, k)))
                .unwrap()
        })
        .collect();
    for t in tickets {
        t.wait().unwrap();
    }
    near_ctl.set_completion_delay(None);
    assert!(far_ctl.requests_fetched() - f0 > 0);
}

#[test]
fn a_ticket_polled_to_completion_is_spent() {
    let (_emu, choice) = emulator(DeviceConfig::zip_v3().with_queues(4));
    let pool = Pool::new(one_lane(choice)).unwrap();
    let d = sample(10_000, 77);
    let mut t = pool.submit(Job::compress(Format::Gzip, d.clone())).unwrap();
    assert!(t.is_on_device());
    let out = loop {
        if let Some(r) = t.try_result() {
            break r.unwrap();
        }
        std::thread::yield_now();
    };
    assert_eq!(gunzip_all(&out.data), d);
    assert!(matches!(
        t.try_result(),
        Some(Err(PoolError::AlreadyCollected))
    ));
}

#[test]
fn reset_and_removal_send_requests_to_software() {
    use uacce::emu::StatusWord;
    let (emu, choice) = emulator(DeviceConfig::zip_v3().with_queues(4));
    let ctl = emu.control(0).unwrap();
    let pool =
        Pool::new(one_lane(choice).with_request_timeout(Duration::from_millis(300))).unwrap();
    let d = sample(20_000, 40);
    // A reset in progress (TX word raised): not submitted, run in software.
    ctl.set_status_word(StatusWord::Tx, None, 1);
    let out = pool.run(Job::compress(Format::Gzip, d.clone())).unwrap();
    assert_eq!(out.path, ExecPath::Software);
    assert_eq!(gunzip_all(&out.data), d);
    ctl.set_status_word(StatusWord::Tx, None, 0);
    assert_eq!(
        pool.run(Job::compress(Format::Gzip, d.clone()))
            .unwrap()
            .path,
        ExecPath::Emulated
    );
    // Removal: the request in flight is failed over when it times out, the
    // queue is retired, and later requests go to software at once.
    let t = pool.submit(Job::compress(Format::Gzip, d.clone())).unwrap();
    ctl.remove();
    let out = t.wait().unwrap();
    assert_eq!(gunzip_all(&out.data), d);
    for _ in 0..3 {
        let out = pool.run(Job::compress(Format::Gzip, d.clone())).unwrap();
        assert_eq!(out.path, ExecPath::Software);
        assert_eq!(gunzip_all(&out.data), d);
    }
    let strict = {
        let (_emu2, choice2) = emulator(DeviceConfig::zip_v3().with_queues(4));
        let p = Pool::new(
            one_lane(choice2)
                .with_fallback(Fallback::Fail)
                .with_request_timeout(Duration::from_millis(200)),
        )
        .unwrap();
        _emu2.control(0).unwrap().remove();
        let r = p.run(Job::compress(Format::Gzip, d.clone()));
        assert!(
            matches!(
                r,
                Err(PoolError::DeviceFailure { .. } | PoolError::Timeout { .. })
            ),
            "{r:?}"
        );
        p.submit(Job::compress(Format::Gzip, d.clone()))
    };
    assert!(
        matches!(strict, Err(PoolError::QueuesFailed { lanes: 1 })),
        "{strict:?}"
    );
}
