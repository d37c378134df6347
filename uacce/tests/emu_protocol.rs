//! The emulated device speaks the queue protocol of abi.md: driven here by
//! hand-built descriptors and doorbells through `uacce::Queue`.

mod emu_support;

use std::fs;
use std::time::{Duration, Instant};

use emu_support::*;
use nix::errno::Errno;
use uacce::backend::Backend;
use uacce::device::Origin;
use uacce::emu::{
    DeviceConfig, EmuAddressMode, Emulator, PageSize, StatusWord, ZipVersion, status,
};
use uacce::{AddressMode, HwVersion, Queue, QueueError, RegionKind};

const SHORT: Duration = Duration::from_millis(60);

fn open_backend(emu: &Emulator, index: usize) -> Box<dyn Backend> {
    let dev = &emu.devices().unwrap()[index];
    match &dev.origin {
        Origin::Emulated(opener) => opener.open().unwrap(),
        Origin::Kernel => panic!("emulated device expected"),
    }
}

fn tiny_compress(r: &Rig, input: &[u8], out: &mut [u8], tag: u32) -> Desc {
    Desc::new(r.version, ZLIB, BLOCK, tag)
        .src(input.as_ptr() as u64, input.len() as u32)
        .dst(out.as_mut_ptr() as u64, out.len() as u32)
}

#[test]
fn sysfs_is_rendered_in_kernel_formats_and_discovered() {
    let emu = Emulator::builder()
        .device(
            DeviceConfig::zip_v2()
                .with_queues(8)
                .with_numa_node(Some(1)),
        )
        .device(
            DeviceConfig::zip_v3()
                .with_address_mode(EmuAddressMode::NoIommu)
                .with_page_size(PageSize::K64),
        )
        .device(DeviceConfig::zip_v3().with_address_mode(EmuAddressMode::Iommu))
        .build()
        .unwrap();
    let devs = emu.devices().unwrap();
    assert_eq!(devs.len(), 3);
    let v2 = &devs[0];
    assert!(v2.is_emulated());
    assert_eq!(v2.api.as_str(), "hisi_qm_v2");
    assert_eq!(v2.hw_version(), Some(HwVersion::V2));
    assert_eq!(v2.flags.bits(), 1);
    assert_eq!(v2.address_mode, AddressMode::Sva);
    assert_eq!(v2.algorithms, ["zlib", "gzip"]);
    assert_eq!(v2.region_mmio_size, Some(0x2000));
    assert_eq!(v2.region_dus_size, Some(0x25000));
    assert_eq!(v2.available_instances, 8);
    assert_eq!(v2.numa_node, Some(1));
    let dir = emu.sysfs_root().join(&v2.name);
    assert_eq!(
        fs::read_to_string(dir.join("algorithms")).unwrap(),
        "zlib\ngzip\n"
    );
    assert_eq!(
        fs::read_to_string(dir.join("region_dus_size")).unwrap(),
        "151552\n"
    );
    assert_eq!(fs::read_to_string(dir.join("flags")).unwrap(), "1\n");

    let noiommu = &devs[1];
    assert_eq!(noiommu.api.as_str(), "hisi_qm_v3_noiommu");
    assert!(noiommu.api.is_noiommu());
    assert_eq!(noiommu.flags.bits(), 2);
    assert_eq!(noiommu.address_mode, AddressMode::NoIommu);
    assert_eq!(noiommu.algorithms, ["zlib", "gzip", "deflate"]);
    assert_eq!(noiommu.region_mmio_size, Some(0x10000));
    assert_eq!(noiommu.region_dus_size, Some(0x40000));
    assert_eq!(noiommu.numa_node, None);
    let iommu = &devs[2];
    assert_eq!(
        (iommu.api.as_str(), iommu.flags.bits()),
        ("hisi_qm_v3", 0x80)
    );
    assert_eq!(iommu.address_mode, AddressMode::Iommu);

    // The generic discovery scan of the class root finds the same devices.
    let scan = uacce::discovery::scan(emu.sysfs_root()).unwrap();
    assert!(scan.errors.is_empty(), "{:?}", scan.errors);
    assert_eq!(scan.devices.len(), 3);
    assert!(scan.devices.iter().all(|d| d.is_emulated()));
}

#[test]
fn available_instances_go_down_at_open_and_up_at_close_with_ebusy_in_between() {
    let emu = Emulator::new(DeviceConfig::zip_v2().with_queues(2)).unwrap();
    let dev = emu.devices().unwrap().remove(0);
    let file = dev.sysfs_path.join("available_instances");
    let a = Queue::open(&dev).unwrap();
    assert_eq!(fs::read_to_string(&file).unwrap(), "1\n");
    let b = Queue::open(&dev).unwrap();
    assert_eq!(fs::read_to_string(&file).unwrap(), "0\n");
    assert_eq!(emu.devices().unwrap()[0].available_instances, 0);
    let err = Queue::open(&dev).unwrap_err();
    assert!(matches!(err, QueueError::NoFreeQueue { .. }), "{err}");
    drop(a);
    assert_eq!(fs::read_to_string(&file).unwrap(), "1\n");
    let c = Queue::open(&dev).unwrap();
    drop((b, c));
    assert_eq!(fs::read_to_string(&file).unwrap(), "2\n");
}

#[test]
fn queue_ids_rotate_like_idr_alloc_cyclic() {
    let emu = Emulator::new(DeviceConfig::zip_v2().with_queues(4)).unwrap();
    let dev = emu.devices().unwrap().remove(0);
    let mut ids = Vec::new();
    for _ in 0..6 {
        let mut q = Queue::open(&dev).unwrap();
        ids.push(q.set_qp_ctx(0).unwrap());
    }
    assert_eq!(ids, [0, 1, 2, 3, 0, 1]);
}

#[test]
fn regions_have_exact_sizes_and_map_once() {
    let emu = Emulator::new(DeviceConfig::zip_v2()).unwrap();
    let mut b = open_backend(&emu, 0);
    assert_eq!(b.page_size(), 4096);
    assert_eq!(b.map(RegionKind::Dus, 0x24000).unwrap_err(), Errno::EINVAL);
    assert_eq!(b.map(RegionKind::Dus, 0x26000).unwrap_err(), Errno::EINVAL);
    let dus = b.map(RegionKind::Dus, 0x25000).unwrap();
    assert_eq!(dus.len(), 0x25000);
    assert_eq!(b.map(RegionKind::Dus, 0x25000).unwrap_err(), Errno::EEXIST);
    drop(dus);
    // 6.1: still EEXIST after the first mapping is gone (abi.md §12).
    assert_eq!(b.map(RegionKind::Dus, 0x25000).unwrap_err(), Errno::EEXIST);
    assert_eq!(b.map(RegionKind::Mmio, 0x3000).unwrap_err(), Errno::EINVAL);
    let mmio = b.map(RegionKind::Mmio, 0x1000).unwrap();
    assert_eq!(mmio.len(), 0x1000);
    assert_eq!(b.map(RegionKind::Mmio, 0x1000).unwrap_err(), Errno::EEXIST);
    // No SS region on an SVA device.
    assert_eq!(b.map(RegionKind::Ss, 0x10000).unwrap_err(), Errno::EINVAL);
    assert_eq!(b.get_ss_dma(0).unwrap_err(), Errno::EINVAL);
}

#[test]
fn dus_starts_clean_and_status_words_sit_at_the_end() {
    let r = Rig::compress(DeviceConfig::zip_v2());
    let dus = r.q.dus().unwrap();
    assert_eq!(dus.len(), 0x25000);
    for i in 0..1024 {
        assert_eq!(dus.read::<u64>(0x20000 + i * 16).unwrap(), 0);
        assert_eq!(dus.read::<u64>(0x20000 + i * 16 + 8).unwrap(), 0);
    }
    assert_eq!(dus.read::<u32>(0x24FFC).unwrap(), 0);
    assert_eq!(dus.read::<u32>(0x24FF8).unwrap(), 0);
    r.ctl.set_status_word(StatusWord::Tx, Some(r.qid), 1);
    assert_eq!(dus.read::<u32>(0x24FFC).unwrap(), 1);
    r.ctl.set_status_word(StatusWord::Rx, None, 1);
    assert_eq!(dus.read::<u32>(0x24FF8).unwrap(), 1);
}

#[test]
fn start_put_state_machine_and_ioctls() {
    let emu = Emulator::new(DeviceConfig::zip_v3().with_depth(64)).unwrap();
    let dev = emu.devices().unwrap().remove(0);
    let mut q = Queue::open(&dev).unwrap();
    let err = q.set_qp_ctx(2).unwrap_err();
    assert_eq!(err.errno(), Some(Errno::EINVAL));
    let info = q.set_qp_info().unwrap().unwrap();
    assert_eq!((info.sqe_size, info.sq_depth, info.cq_depth), (128, 64, 64));
    q.set_qp_ctx(0).unwrap();
    q.start().unwrap();
    assert!(matches!(
        q.start().unwrap_err(),
        QueueError::AlreadyStarted { .. }
    ));
    q.put().unwrap();
    q.put().unwrap();
    q.start().unwrap();
    assert!(q.is_started());
}

#[test]
fn put_then_start_restarts_rings_and_direction() {
    let mut r = Rig::compress(DeviceConfig::zip_v2().with_depth(8));
    let data = sample(2000);
    let mut out = vec![0u8; 4096];
    for i in 0..5 {
        let d = tiny_compress(&r, &data, &mut out, i);
        assert_eq!(r.run(&d).status(), status::OK);
    }
    let z = out[..r.read_sqe(4)[1] as usize].to_vec();
    // Restart as a decompression queue: indices and phase restart at 0 / 1.
    r.q.put().unwrap();
    r.q.set_qp_ctx(1).unwrap();
    r.q.start().unwrap();
    (r.tail, r.head, r.phase) = (0, 0, true);
    let mut plain = vec![0u8; 4096];
    let d = Desc::new(r.version, ZLIB, BLOCK, 9)
        .src(z.as_ptr() as u64, z.len() as u32)
        .dst(plain.as_mut_ptr() as u64, plain.len() as u32);
    let done = r.run(&d);
    assert_eq!(done.slot, 0);
    assert_eq!(done.status(), status::DECOMPRESS_END);
    assert_eq!(&plain[..done.produced() as usize], &data[..]);
}

#[test]
fn phase_flips_on_wrap_at_depth_four_and_capacity_is_depth_minus_one() {
    let mut r = Rig::compress(DeviceConfig::zip_v2().with_depth(4));
    assert_eq!((r.sq_depth, r.cq_depth), (4, 4));
    let input = b"abc".to_vec();
    let mut outs = vec![vec![0u8; 64]; 3];
    let cq = r.cq_base();
    let mut expected_slot = 0u16;
    for round in 0..5 {
        // Fill to capacity (depth - 1) with one doorbell.
        for (i, out) in outs.iter_mut().enumerate() {
            let d = tiny_compress(&r, &input, out, (round * 3 + i) as u32);
            r.push(&d);
        }
        r.ring();
        for _ in 0..3 {
            let done = r.reap();
            assert_eq!(done.slot, expected_slot);
            expected_slot = (expected_slot + 1) % 4;
            assert!(done.status() == status::OK || done.status() == status::NEGATIVE_COMPRESSION);
        }
    }
    // 15 completions on a 4-entry CQ: entries 0..3 were written 4,4,4,3 times;
    // the phase written last at entry 0 is that of the 4th pass (1,0,1,0 → 0).
    let dus = r.q.dus().unwrap();
    assert_eq!(dus.read::<u16>(cq + 14).unwrap() & 1, 0);
    assert_eq!(dus.read::<u16>(cq + 3 * 16 + 14).unwrap() & 1, 1);
    assert!(!r.phase, "consumer phase flipped three times");

    // Writing 4 SQEs and ringing with tail == head submits nothing: the ring
    // looks empty, which is why capacity is depth - 1.
    let before = r.ctl.requests_fetched();
    let mut more = vec![vec![0u8; 64]; 4];
    for out in more.iter_mut() {
        let d = tiny_compress(&r, &input, out, 77);
        r.push(&d);
    }
    r.ring();
    assert!(r.reap_within(SHORT).is_none());
    assert_eq!(r.ctl.requests_fetched(), before);
}

#[test]
fn phase_flips_on_wrap_at_depth_1024() {
    let mut r = Rig::compress(DeviceConfig::zip_v3());
    assert_eq!(r.sq_depth, 1024);
    let input = [0u8; 0];
    let mut out = vec![0u8; 64];
    let total = 2 * 1024 + 100;
    let mut seen = 0usize;
    let mut expected = 0u16;
    let mut flips = 0;
    while seen < total {
        let batch = (1023 - r.in_flight).min(total - seen - r.in_flight);
        for _ in 0..batch {
            let d = Desc::new(r.version, DEFLATE, BLOCK, seen as u32)
                .src(input.as_ptr() as u64, 0)
                .dst(out.as_mut_ptr() as u64, out.len() as u32);
            r.push(&d);
        }
        if batch > 0 {
            r.ring();
        }
        let phase = r.phase;
        let done = r.reap();
        if r.phase != phase {
            flips += 1;
        }
        assert_eq!(done.slot, expected);
        expected = (expected + 1) % 1024;
        seen += 1;
    }
    assert_eq!(flips, 2);
}

#[test]
fn results_land_in_the_sq_slot_and_tags_echo_on_v2_and_v3() {
    for cfg in [DeviceConfig::zip_v2(), DeviceConfig::zip_v3()] {
        let mut r = Rig::compress(cfg);
        let data = sample(10_000);
        let mut out = vec![0u8; 20_000];
        let d = tiny_compress(&r, &data, &mut out, 0xC0FF_EE01);
        let done = r.run(&d);
        assert_eq!(done.status(), status::OK);
        assert_eq!(done.consumed(), 10_000);
        assert!(done.produced() > 0 && done.produced() < 10_000);
        assert_eq!(
            done.sqe[14],
            20_000 - done.produced(),
            "dest_avail_out minus produced"
        );
        assert_eq!(done.sqe[30], 10_000, "isize");
        assert_eq!(done.sqe[31], adler2::adler32_slice(&data), "checksum");
        let tag_dw = if r.version == ZipVersion::V2 { 13 } else { 26 };
        assert_eq!(done.sqe[tag_dw], 0xC0FF_EE01);
        // Inputs are untouched.
        assert_eq!(done.sqe[4], 10_000);
        assert_eq!(done.sqe[9], 2);
    }
}

#[test]
fn doorbells_with_wrong_qn_nonzero_rand_or_32_bit_stores_are_ignored() {
    let mut r = Rig::compress(DeviceConfig::zip_v2());
    let data = sample(100);
    let mut out = vec![0u8; 1000];
    let d = tiny_compress(&r, &data, &mut out, 5);
    r.push(&d);
    let mmio = r.q.mmio().unwrap();
    let good = doorbell(r.qid, 0, r.tail, 0);
    mmio.write_u64(DB, doorbell(r.qid + 1, 0, r.tail, 0))
        .unwrap();
    mmio.write_u64(DB, good | (0x1234 << 16)).unwrap();
    mmio.write_u32(DB, good as u32).unwrap();
    mmio.write_u32(DB + 4, (good >> 32) as u32).unwrap();
    mmio.write_u64(0x340, good).unwrap();
    let _ = mmio;
    assert!(r.reap_within(SHORT).is_none());
    assert_eq!(r.ctl.requests_fetched(), 0);
    r.q.mmio().unwrap().write_u64(DB, good).unwrap();
    assert_eq!(r.reap().status(), status::OK);
}

#[test]
fn completions_are_in_submission_order_on_a_multi_worker_device() {
    let mut r = Rig::compress(DeviceConfig::zip_v2().with_workers(4).with_depth(64));
    let big = sample(1 << 20);
    let small = sample(10);
    let mut outs: Vec<Vec<u8>> = (0..40).map(|_| vec![0u8; 2 << 20]).collect();
    for (i, out) in outs.iter_mut().enumerate() {
        let input = if i % 3 == 0 { &big } else { &small };
        let d = tiny_compress(&r, input, out, i as u32);
        r.push(&d);
    }
    r.ring();
    for i in 0..40u16 {
        let done = r.reap();
        assert_eq!(done.slot, i);
        assert_eq!(done.sqe[13], u32::from(i));
        assert!(matches!(
            done.status(),
            status::OK | status::NEGATIVE_COMPRESSION
        ));
    }
}

#[test]
fn wait_sleeps_until_a_completion_and_poll_fd_becomes_readable() {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut r = Rig::compress(DeviceConfig::zip_v2());
    let t = Instant::now();
    assert!(!r.q.wait(Some(SHORT)).unwrap());
    assert!(t.elapsed() >= SHORT);
    {
        let mut fds = [PollFd::new(r.q.poll_fd(), PollFlags::POLLIN)];
        assert_eq!(poll(&mut fds, PollTimeout::ZERO).unwrap(), 0);
    }
    let data = sample(100);
    let mut out = vec![0u8; 1000];
    let d = tiny_compress(&r, &data, &mut out, 1);
    r.submit(&d);
    {
        let mut fds = [PollFd::new(r.q.poll_fd(), PollFlags::POLLIN)];
        assert_eq!(poll(&mut fds, PollTimeout::from(5000u16)).unwrap(), 1);
    }
    // One event for the CQE, consumed by the first wait (kernel shadow head).
    assert!(r.q.wait(Some(Duration::from_secs(5))).unwrap());
    assert!(!r.q.wait(Some(Duration::from_millis(10))).unwrap());
    {
        let mut fds = [PollFd::new(r.q.poll_fd(), PollFlags::POLLIN)];
        assert_eq!(
            poll(&mut fds, PollTimeout::ZERO).unwrap(),
            0,
            "wait drained the eventfd"
        );
    }
    assert!(r.poll().is_some());
}

#[test]
fn sva_dma_reaches_process_memory_and_an_unmapped_page_faults() {
    let mut r = Rig::compress(DeviceConfig::zip_v2());
    let data = sample(5000);
    let mut out = vec![0u8; 8000];
    assert_eq!(
        r.run(&tiny_compress(&r, &data, &mut out, 1)).status(),
        status::OK
    );

    let page = memmap2::MmapMut::map_anon(4096).unwrap();
    let gone = page.as_ptr() as u64;
    drop(page); // munmap: the address is now unmapped
    let d = Desc::new(r.version, ZLIB, BLOCK, 2)
        .src(gone, 100)
        .dst(out.as_mut_ptr() as u64, 8000);
    let done = r.run(&d);
    assert_eq!(done.status(), status::DMA_FAULT);
    assert_eq!((done.consumed(), done.produced()), (0, 0));
    let d = Desc::new(r.version, ZLIB, BLOCK, 3)
        .src(data.as_ptr() as u64, 5000)
        .dst(gone, 4096);
    assert_eq!(r.run(&d).status(), status::DMA_FAULT);
    // A read-only page cannot be written by the device either.
    let ro = memmap2::MmapOptions::new()
        .len(4096)
        .map_anon()
        .unwrap()
        .make_read_only()
        .unwrap();
    let d = Desc::new(r.version, ZLIB, BLOCK, 4)
        .src(data.as_ptr() as u64, 5000)
        .dst(ro.as_ptr() as u64, 4096);
    assert_eq!(r.run(&d).status(), status::DMA_FAULT);
}

#[test]
fn iommu_mode_translates_the_single_ss_slice_and_faults_outside() {
    let mut r = Rig::compress(DeviceConfig::zip_v3().with_address_mode(EmuAddressMode::Iommu));
    let ss = r.q.map_ss(1 << 20).unwrap();
    assert!(matches!(
        r.q.map_ss(1 << 20).unwrap_err(),
        QueueError::AlreadyMapped { .. }
    ));
    let s = r.q.get_ss_dma(0).unwrap();
    assert_eq!(s.remaining, 0);
    assert_eq!(s.size, 1 << 20);
    assert_eq!(s.dma & 0xffff, 0);
    assert!(r.q.get_ss_dma(1).is_err());
    let data = sample(50_000);
    ss.write_bytes(0, &data).unwrap();
    let d = Desc::new(r.version, DEFLATE, BLOCK, 1)
        .src(s.dma, 50_000)
        .dst(s.dma + 0x80000, 0x80000);
    let done = r.run(&d);
    assert_eq!(done.status(), status::OK);
    let mut z = vec![0u8; done.produced() as usize];
    ss.read_bytes(0x80000, &mut z).unwrap();
    let mut plain = Vec::new();
    use std::io::Read;
    flate2::read::DeflateDecoder::new(&z[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, data);
    // Outside the slice, and a process virtual address: both fault.
    let d = Desc::new(r.version, DEFLATE, BLOCK, 2)
        .src(s.dma + (1 << 20) - 10, 20)
        .dst(s.dma, 100);
    assert_eq!(r.run(&d).status(), status::DMA_FAULT);
    let d = Desc::new(r.version, DEFLATE, BLOCK, 3)
        .src(data.as_ptr() as u64, 100)
        .dst(s.dma, 100);
    assert_eq!(r.run(&d).status(), status::DMA_FAULT);
}

#[test]
fn noiommu_slices_are_non_contiguous_and_crossing_a_hole_faults() {
    let cfg = DeviceConfig::zip_v2()
        .with_address_mode(EmuAddressMode::NoIommu)
        .with_ss_slice_size(0x10000);
    let mut r = Rig::compress(cfg);
    // 200 KiB + 1 rounds up to 4 slices of 64 KiB.
    let ss = r.q.map_ss(200 * 1024 + 1).unwrap();
    assert_eq!(ss.len(), 4 * 0x10000);
    let mut slices = Vec::new();
    for i in 0..4 {
        let s = r.q.get_ss_dma(i).unwrap();
        assert_eq!(s.remaining, 3 - i as u32);
        assert_eq!(s.size, 0x10000);
        slices.push(s.dma);
    }
    assert!(r.q.get_ss_dma(4).is_err());
    assert!(
        slices.windows(2).all(|w| w[0] < w[1]),
        "ascending DMA order"
    );
    assert_eq!(
        slices[1],
        slices[0] + 0x10000,
        "slices 0 and 1 are adjacent"
    );
    assert_ne!(slices[2], slices[1] + 0x10000, "a hole follows slice 1");
    assert_eq!(slices[3], slices[2] + 0x10000);

    let data = sample(4000);
    // Input spanning slices 0 and 1 (adjacent): fine.
    ss.write_bytes(0x10000 - 2000, &data).unwrap();
    let src = slices[0] + 0x10000 - 2000;
    let d = Desc::new(r.version, GZIP, BLOCK, 1)
        .src(src, 4000)
        .dst(slices[2], 0x8000);
    let done = r.run(&d);
    assert_eq!(done.status(), status::OK);
    let mut z = vec![0u8; done.produced() as usize];
    ss.read_bytes(0x20000, &mut z).unwrap();
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    gz.extend_from_slice(&z);
    let mut plain = Vec::new();
    use std::io::Read;
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, data);
    // Input crossing from slice 1 into slice 2 (not adjacent): fault.
    let d = Desc::new(r.version, GZIP, BLOCK, 2)
        .src(slices[1] + 0x10000 - 100, 200)
        .dst(slices[3], 0x8000);
    assert_eq!(r.run(&d).status(), status::DMA_FAULT);
    // Output crossing the hole: fault.
    let d = Desc::new(r.version, GZIP, BLOCK, 3)
        .src(slices[0], 100)
        .dst(slices[1] + 0xff00, 0x1000);
    assert_eq!(r.run(&d).status(), status::DMA_FAULT);
    // The address right after the last slice, and one in the hole.
    let d = Desc::new(r.version, GZIP, BLOCK, 4)
        .src(slices[3] + 0x10000, 1)
        .dst(slices[0], 0x100);
    assert_eq!(r.run(&d).status(), status::DMA_FAULT);
    let d = Desc::new(r.version, GZIP, BLOCK, 5)
        .src(slices[1] + 0x10000, 1)
        .dst(slices[0], 0x100);
    assert_eq!(r.run(&d).status(), status::DMA_FAULT);
}

#[test]
fn sixty_four_kib_pages_change_offsets_and_sizes_only() {
    let emu = Emulator::new(
        DeviceConfig::zip_v2()
            .with_page_size(PageSize::K64)
            .with_address_mode(EmuAddressMode::Iommu),
    )
    .unwrap();
    let mut b = open_backend(&emu, 0);
    assert_eq!(b.page_size(), 0x10000);
    assert_eq!(RegionKind::Ss.mmap_offset(b.page_size()), 0x20000);
    assert_eq!(b.map(RegionKind::Dus, 0x25000).unwrap_err(), Errno::EINVAL);
    assert!(b.map(RegionKind::Dus, 0x40000).is_ok());
    assert!(b.map(RegionKind::Mmio, 0x10000).is_ok());
    let ss = b.map(RegionKind::Ss, 3 << 20).unwrap();
    assert_eq!(ss.len(), 3 << 20);
    let (word, left) = b.get_ss_dma(0).unwrap();
    assert_eq!((word & 0xfff, left), (48, 0));

    let mut r = Rig::compress(DeviceConfig::zip_v3().with_page_size(PageSize::K64));
    assert_eq!(r.dus_len(), 0x40000);
    assert_eq!(r.cq_base(), 0x20000);
    let data = sample(3000);
    let mut out = vec![0u8; 4000];
    assert_eq!(
        r.run(&tiny_compress(&r, &data, &mut out, 1)).status(),
        status::OK
    );
}

#[test]
fn removal_gives_enxio_everywhere_and_no_more_events() {
    let r = Rig::compress(DeviceConfig::zip_v2().with_address_mode(EmuAddressMode::Iommu));
    let dev = r.emu.devices().unwrap().remove(0);
    assert!(dev.sysfs_path.is_dir());
    r.ctl.remove();
    assert!(r.ctl.is_removed());
    assert!(!dev.sysfs_path.exists(), "the class entry vanishes");
    assert!(r.emu.devices().unwrap().is_empty());
    let err = r.q.wait(Some(Duration::from_secs(5))).unwrap_err();
    assert!(err.is_device_removed(), "{err}");
    let reopen = match &dev.origin {
        Origin::Emulated(o) => o.open().map(drop).unwrap_err(),
        Origin::Kernel => unreachable!(),
    };
    assert_eq!(reopen, Errno::ENXIO);
    // A queue opened before removal answers ENXIO to each ioctl and map.
    let emu =
        Emulator::new(DeviceConfig::zip_v2().with_address_mode(EmuAddressMode::NoIommu)).unwrap();
    let mut be = open_backend(&emu, 0);
    emu.control(0).unwrap().remove();
    assert_eq!(be.start().unwrap_err(), Errno::ENXIO);
    assert_eq!(be.put().unwrap_err(), Errno::ENXIO);
    let mut ctx = uacce_sys::hisi_qm::hisi_qp_ctx::default();
    assert_eq!(be.set_qp_ctx(&mut ctx).unwrap_err(), Errno::ENXIO);
    let mut info = uacce_sys::hisi_qm::hisi_qp_info::default();
    assert_eq!(be.set_qp_info(&mut info).unwrap_err(), Errno::ENXIO);
    assert_eq!(be.get_ss_dma(0).unwrap_err(), Errno::ENXIO);
    assert_eq!(be.map(RegionKind::Dus, 0x25000).unwrap_err(), Errno::ENXIO);
    assert_eq!(be.map(RegionKind::Ss, 0x10000).unwrap_err(), Errno::ENXIO);
    assert_eq!(be.probe_alive().unwrap_err(), Errno::ENXIO);
    assert!(!be.wait(Some(Duration::from_secs(5))).unwrap());
}

#[test]
fn removal_drops_requests_in_flight() {
    let mut r = Rig::compress(DeviceConfig::zip_v2());
    r.ctl.set_completion_delay(Some(Duration::from_millis(100)));
    let data = sample(100);
    let mut out = vec![0u8; 1000];
    r.submit(&tiny_compress(&r, &data, &mut out, 1));
    r.ctl.remove();
    std::thread::sleep(Duration::from_millis(200));
    assert!(r.poll().is_none(), "nothing completes after removal");
}

#[test]
fn non_sva_stream_mode_needs_its_context_in_the_ss_region() {
    let cfg = DeviceConfig::zip_v3().with_address_mode(EmuAddressMode::NoIommu);
    let mut r = Rig::compress(cfg);
    let ss = r.q.map_ss(1 << 20).unwrap();
    let s = r.q.get_ss_dma(0).unwrap();
    assert_eq!(
        s.size,
        1 << 20,
        "1 MiB is one slice below the 4 MiB slice size"
    );
    let data = sample(30_000);
    ss.write_bytes(0, &data).unwrap();
    let (src, dst, ctx) = (s.dma, s.dma + 0x40000, s.dma + 0x80000);
    // A context outside the SS region (a process address) is a DMA fault.
    let host_ctx = vec![0u8; 4096];
    let d = Desc::new(r.version, ZLIB, STREAM | NEW, 1)
        .src(src, 10_000)
        .dst(dst, 0x40000)
        .ctx(host_ctx.as_ptr() as u64);
    assert_eq!(r.run(&d).status(), status::DMA_FAULT);
    // Inside the SS region it works, over three requests.
    let mut z = vec![0x78, 0x9c];
    let mut out_off = 0u64;
    for (i, flags) in [NEW, 0, FLUSH].into_iter().enumerate() {
        let d = Desc::new(r.version, ZLIB, STREAM | flags, i as u32)
            .src(src + i as u64 * 10_000, 10_000)
            .dst(dst + out_off, 0x10000)
            .ctx(ctx);
        let done = r.run(&d);
        assert_eq!(done.status(), status::OK);
        let mut part = vec![0u8; done.produced() as usize];
        ss.read_bytes((0x40000 + out_off) as usize, &mut part)
            .unwrap();
        z.extend_from_slice(&part);
        out_off += u64::from(done.produced());
    }
    let mut plain = Vec::new();
    use std::io::Read;
    flate2::read::ZlibDecoder::new(&z[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, data);
}

#[test]
fn a_wait_without_timeout_wakes_up_when_the_device_is_removed() {
    let emu = Emulator::new(DeviceConfig::zip_v2()).unwrap();
    let mut b = open_backend(&emu, 0);
    b.start().unwrap();
    let ctl = emu.control(0).unwrap();
    let waiter = std::thread::spawn(move || b.wait(None));
    std::thread::sleep(SHORT);
    ctl.remove();
    assert_eq!(waiter.join().unwrap(), Ok(false));
}

#[test]
fn dropping_the_emulator_removes_its_devices_under_open_queues() {
    let mut r = Rig::compress(DeviceConfig::zip_v2().with_workers(2));
    r.ctl.set_completion_delay(Some(Duration::from_millis(50)));
    let data = sample(100);
    let mut out = vec![0u8; 1000];
    r.submit(&tiny_compress(&r, &data, &mut out, 1));
    let root = r.emu.sysfs_root().to_path_buf();
    let Rig {
        emu, ctl, mut q, ..
    } = r;
    drop(emu); // joins the engine threads, even with a request in flight
    assert!(!root.exists());
    assert!(ctl.is_removed());
    assert!(q.start().unwrap_err().is_device_removed());
}

#[test]
fn v1_devices_take_v1_doorbells_at_0x340_only() {
    let mut r = Rig::compress(DeviceConfig::zip_v1().with_depth(8));
    let dev = r.emu.devices().unwrap().remove(0);
    assert_eq!(dev.api.as_str(), "hisi_qm_v1");
    assert_eq!(dev.hw_version(), Some(HwVersion::V1));
    assert_eq!(dev.region_mmio_size, Some(0x1000));
    assert_eq!(r.q.mmio().unwrap().len(), 0x1000);
    let data = sample(3000);
    let mut out = vec![0u8; 4000];
    let d = tiny_compress(&r, &data, &mut out, 0x51);
    r.push(&d);
    let mmio = r.q.mmio().unwrap();
    // A v2-layout doorbell: v1 reads bit 12 (cmd 1) as part of the qn.
    // A v1 doorbell for another queue. Both are ignored.
    mmio.write_u64(DB_V1, doorbell(r.qid, 1, r.tail, 0))
        .unwrap();
    mmio.write_u64(DB_V1, doorbell_v1(r.qid + 1, 0, r.tail, 0))
        .unwrap();
    let _ = mmio;
    assert!(r.reap_within(SHORT).is_none());
    r.ring();
    let done = r.reap();
    assert_eq!(done.status(), status::OK);
    assert_eq!(done.sqe[13], 0x51);
}

#[test]
fn a_huge_wait_timeout_means_no_timeout() {
    let mut r = Rig::compress(DeviceConfig::zip_v2());
    let data = sample(100);
    let mut out = vec![0u8; 1000];
    r.submit(&tiny_compress(&r, &data, &mut out, 1));
    assert!(r.q.wait(Some(Duration::MAX)).unwrap());
    assert!(r.poll().is_some());
}
