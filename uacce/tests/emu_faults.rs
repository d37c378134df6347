//! Fault injection through the device control handle: each fault is
//! observable through the plain queue protocol.

mod emu_support;

use std::time::{Duration, Instant};

use emu_support::*;
use uacce::emu::{DeviceConfig, EmuAddressMode, RequestId, StatusWord, ZipVersion, status};

const SHORT: Duration = Duration::from_millis(80);

fn desc(r: &Rig, input: &[u8], out: &mut [u8], tag: u32) -> Desc {
    Desc::new(r.version, GZIP, BLOCK, tag)
        .src(input.as_ptr() as u64, input.len() as u32)
        .dst(out.as_mut_ptr() as u64, out.len() as u32)
}

#[test]
fn a_failed_request_reports_the_injected_status_and_the_rest_run() {
    let mut r = Rig::compress(DeviceConfig::zip_v2());
    r.ctl.fail_request(RequestId::Device(1), 0x2A);
    let data = sample(1000);
    let mut outs = vec![vec![0u8; 2000]; 3];
    for (i, out) in outs.iter_mut().enumerate() {
        let d = desc(&r, &data, out, i as u32);
        r.push(&d);
    }
    r.ring();
    let statuses: Vec<u8> = (0..3).map(|_| r.reap().status()).collect();
    assert_eq!(statuses, [status::OK, 0x2A, status::OK]);
    assert_eq!(r.read_sqe(1)[1], 0, "nothing produced");
}

#[test]
fn per_queue_request_ids_pick_the_right_queue() {
    let emu_cfg = DeviceConfig::zip_v3().with_queues(4);
    let mut a = Rig::compress(emu_cfg);
    // Fault the second request of this queue only.
    a.ctl
        .fail_request(RequestId::Queue { qid: a.qid, nth: 1 }, 0x31);
    a.ctl.fail_request(
        RequestId::Queue {
            qid: a.qid + 1,
            nth: 0,
        },
        0x32,
    );
    let data = sample(100);
    let mut out = vec![0u8; 1000];
    let d = desc(&a, &data, &mut out, 0);
    assert_eq!(a.run(&d).status(), status::OK);
    assert_eq!(a.run(&d).status(), 0x31);
    assert_eq!(a.run(&d).status(), status::OK);
}

#[test]
fn a_stalled_request_never_completes_and_holds_back_later_ones_until_restart() {
    let mut r = Rig::compress(DeviceConfig::zip_v2().with_depth(16));
    r.ctl.stall_request(RequestId::Device(1));
    let data = sample(100);
    let mut outs = vec![vec![0u8; 1000]; 3];
    for (i, out) in outs.iter_mut().enumerate() {
        let d = desc(&r, &data, out, i as u32);
        r.push(&d);
    }
    r.ring();
    assert_eq!(r.reap().slot, 0);
    let t = Instant::now();
    assert!(r.reap_within(SHORT).is_none(), "request 1 never completes");
    assert!(
        t.elapsed() >= SHORT,
        "the wait timed out rather than spinning out early"
    );
    assert_eq!(
        r.read_sqe(1)[3],
        0,
        "no results written for the stalled request"
    );
    // Recovery: stop and start again; the queue works.
    r.q.put().unwrap();
    r.q.start().unwrap();
    (r.tail, r.head, r.phase, r.in_flight) = (0, 0, true, 0);
    let d = desc(&r, &data, &mut outs[0], 9);
    assert_eq!(r.run(&d).status(), status::OK);
}

#[test]
fn completion_delay_is_observable() {
    let mut r = Rig::compress(DeviceConfig::zip_v2());
    let data = sample(100);
    let mut out = vec![0u8; 1000];
    r.ctl.set_completion_delay(Some(Duration::from_millis(150)));
    let t = Instant::now();
    let d = desc(&r, &data, &mut out, 1);
    assert_eq!(r.run(&d).status(), status::OK);
    assert!(t.elapsed() >= Duration::from_millis(150));
    r.ctl.set_completion_delay(None);
    let t = Instant::now();
    r.run(&d);
    assert!(t.elapsed() < Duration::from_millis(150));
}

#[test]
fn a_corrupted_tag_comes_back_complemented() {
    for cfg in [DeviceConfig::zip_v2(), DeviceConfig::zip_v3()] {
        let mut r = Rig::compress(cfg);
        r.ctl.corrupt_tag(RequestId::Device(0));
        let data = sample(100);
        let mut out = vec![0u8; 1000];
        let d = desc(&r, &data, &mut out, 0x1234_5678);
        let done = r.run(&d);
        let dw = if r.version == ZipVersion::V2 { 13 } else { 26 };
        assert_eq!(done.sqe[dw], !0x1234_5678u32);
        assert_eq!(done.status(), status::OK);
        assert_eq!(r.run(&d).sqe[dw], 0x1234_5678, "one-shot");
    }
}

#[test]
fn a_raised_tx_word_makes_the_device_drop_sq_doorbells() {
    let mut r = Rig::compress(DeviceConfig::zip_v2());
    let data = sample(100);
    let mut out = vec![0u8; 1000];
    r.ctl.set_status_word(StatusWord::Tx, None, 1);
    let dus_len = r.dus_len();
    assert_eq!(r.q.dus().unwrap().read::<u32>(dus_len - 4).unwrap(), 1);
    let d = desc(&r, &data, &mut out, 1);
    r.submit(&d);
    assert!(r.reap_within(SHORT).is_none());
    assert_eq!(r.ctl.requests_fetched(), 0);
    // Reset over: the next doorbell fetches from the device head again.
    r.ctl.set_status_word(StatusWord::Tx, None, 0);
    r.ring();
    assert_eq!(r.reap().status(), status::OK);
}

#[test]
fn a_raised_rx_word_is_visible_and_completions_still_arrive() {
    let mut r = Rig::compress(DeviceConfig::zip_v2());
    r.ctl.set_status_word(StatusWord::Rx, Some(r.qid), 1);
    let dus_len = r.dus_len();
    assert_eq!(r.q.dus().unwrap().read::<u32>(dus_len - 8).unwrap(), 1);
    assert_eq!(r.q.dus().unwrap().read::<u32>(dus_len - 4).unwrap(), 0);
    let data = sample(100);
    let mut out = vec![0u8; 1000];
    let d = desc(&r, &data, &mut out, 1);
    assert_eq!(r.run(&d).status(), status::OK);
}

#[test]
fn a_status_word_for_another_queue_leaves_this_one_alone() {
    let r = Rig::compress(DeviceConfig::zip_v2().with_address_mode(EmuAddressMode::Iommu));
    r.ctl.set_status_word(StatusWord::Tx, Some(r.qid + 1), 1);
    let dus_len = r.dus_len();
    assert_eq!(r.q.dus().unwrap().read::<u32>(dus_len - 4).unwrap(), 0);
}
