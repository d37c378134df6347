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
