//! A smoke test against a real device (`/dev/hmm_dmirror0`; the ABI its driver speaks is
//! found out, and checked against `HMM_DMIRROR_ABI` when that is set, as the lab does).
//! The full port of hmm-tests.c lives in the hmm-tests crate. These tests need the device,
//! so they are `#[ignore]`d (reported as ignored, never as passed) on a plain host; the lab
//! runs them: `cargo xtask lab run --driver c -- cargo test -p hmm-dmirror --test device -- --ignored`.

use std::io::Write;

use hmm_dmirror::{
    Abi, AbiEvidence, Device, DeviceMemory, Error, Flags, Mapping, Mirror, PageRange, PageState,
    Prot, Sharing,
};

fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

const NEEDS_DEVICE: &str = "needs /dev/hmm_dmirror0 (run in the lab with --ignored)";

fn open() -> Option<Device> {
    // Asked for explicitly (--ignored): a missing device is a failure, not a skip.
    Some(Device::open(0).unwrap_or_else(|e| panic!("{NEEDS_DEVICE}: {e}")))
}

#[test]
#[ignore = "needs /dev/hmm_dmirror0 (run in the lab with --ignored)"]
fn smoke_read_write_migrate_snapshot() {
    let Some(dev) = open() else { return };
    let npages = 16;
    let buf = Mapping::anon_private(npages * hmm_dmirror::page_size()).unwrap();
    let w = buf.words();

    // anon_read
    buf.fill_i32(|i| i as i32);
    let mut mirror = Mirror::for_pages(npages);
    let c = dev.read(buf.all(), &mut mirror).unwrap();
    assert_eq!(c.cpages, npages as u64);
    assert_eq!(mirror.mismatch_i32(0..w, |i| i as i32), None);

    // anon_write
    mirror.fill_i32(|i| -(i as i32));
    let c = dev.write(buf.all(), &mirror).unwrap();
    assert_eq!(c.cpages, npages as u64);
    assert_eq!(buf.mismatch_i32(0..w, |i| -(i as i32)), None);

    // migrate + snapshot + back
    buf.fill_i32(|i| i as i32);
    let c = dev.migrate_to_dev(buf.all(), &mut mirror).unwrap();
    assert_eq!(c.cpages, npages as u64);
    assert_eq!(mirror.mismatch_i32(0..w, |i| i as i32), None);
    let snap = dev.snapshot(buf.all()).unwrap();
    assert_eq!(snap.cpages(), npages as u64);
    let local = PageState::WRITE.with_device(DeviceMemory::PrivateLocal);
    assert!(snap.iter().all(|s| *s == local), "{:?}", &snap[..]);
    let c = dev.migrate_to_sys(buf.all()).unwrap();
    assert_eq!(c.cpages, npages as u64);
    assert_eq!(buf.mismatch_i32(0..w, |i| i as i32), None);

    // exclusive, CPU access revokes it
    let c = dev.exclusive(buf.all(), &mut mirror).unwrap();
    assert_eq!(c.cpages, npages as u64);
    assert_eq!(buf.mismatch_i32(0..w, |i| i as i32), None);
    dev.check_exclusive(buf.all()).unwrap();

    dev.set_flags(Flags::FAIL_ALLOC).unwrap();
    dev.release().unwrap();
}

#[test]
#[ignore = "needs /dev/hmm_dmirror0 (run in the lab with --ignored)"]
fn smoke_errors_from_the_driver() {
    let Some(dev) = open() else { return };
    // anon_read_prot: PROT_NONE memory cannot be read -> EFAULT.
    let buf = Mapping::anon(4 * hmm_dmirror::page_size(), Prot::NONE, Sharing::Private).unwrap();
    let mut mirror = Mirror::for_pages(4);
    let err = dev.read(buf.all(), &mut mirror).unwrap_err();
    assert_eq!(err.errno(), Some(hmm_dmirror::Errno::FAULT), "{err}");
    // migrate_shared: shared anonymous memory cannot migrate -> ENOENT.
    let shared = Mapping::anon_shared(4 * hmm_dmirror::page_size()).unwrap();
    let err = dev.migrate_to_dev(shared.all(), &mut mirror).unwrap_err();
    assert_eq!(err.errno(), Some(hmm_dmirror::Errno::NOENT), "{err}");
}

/// Patched: the series' test (4 MiB in one request). Mainline has no such request: the
/// library refuses it before any syscall.
#[test]
#[ignore = "needs /dev/hmm_dmirror0 (run in the lab with --ignored)"]
fn smoke_migrate_on_fault() {
    let Some(dev) = open() else { return };
    let npages = 1024; // the series' test: 4 MiB of private anonymous memory
    let buf = Mapping::anon_private(npages * hmm_dmirror::page_size()).unwrap();
    buf.fill_i32(|i| i as i32);
    let mut mirror = Mirror::for_pages(npages);
    let r = dev.migrate_on_fault_to_dev(buf.all(), &mut mirror);
    match dev.abi() {
        Abi::Patched => {
            let c = r.unwrap();
            assert_eq!(c.cpages, npages as u64);
            assert_eq!(mirror.mismatch_i32(0..mirror.words(), |i| i as i32), None);
        }
        Abi::Mainline => {
            let err = r.unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Unsupported {
                        abi: Abi::Mainline,
                        ..
                    }
                ),
                "{err:?}"
            );
            say("mainline: migrate-on-fault refused as Unsupported, as it should be");
            // Nothing was migrated: the mirror is untouched and the buffer intact.
            assert!(mirror.iter().all(|&b| b == 0));
            assert_eq!(buf.mismatch_i32(0..buf.words(), |i| i as i32), None);
        }
    }
}

#[test]
#[ignore = "needs /dev/hmm_dmirror0 (run in the lab with --ignored)"]
fn the_abi_is_found_out_and_the_other_one_refused() {
    let Some(dev) = open() else { return };
    say(&format!(
        "{}: {} ABI (from the {})",
        dev.path().display(),
        dev.abi(),
        dev.abi_evidence()
    ));
    assert!(matches!(
        dev.abi_evidence(),
        AbiEvidence::Probe | AbiEvidence::ModuleParameter
    ));
    if let Some(asked) = Abi::from_env_var().unwrap() {
        assert_eq!(dev.abi(), asked);
    }
    let other = match dev.abi() {
        Abi::Patched => Abi::Mainline,
        Abi::Mainline => Abi::Patched,
    };
    let err = Device::open_with_abi(0, other).unwrap_err();
    assert!(
        matches!(err, Error::AbiMismatch { requested, detected, .. }
            if requested == other && detected == dev.abi()),
        "{err:?}"
    );
    // The same answer through a descriptor opened elsewhere.
    let fd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(Device::path_of(0))
        .unwrap();
    let again = Device::from_fd_with_abi(fd.into(), dev.abi()).unwrap();
    assert_eq!(again.abi(), dev.abi());
    // The probe left nothing armed: a migration right after it succeeds.
    let buf = Mapping::anon_private(16 * hmm_dmirror::page_size()).unwrap();
    buf.fill_i32(|i| i as i32);
    let mut mirror = Mirror::for_pages(16);
    assert_eq!(
        again.migrate_to_dev(buf.all(), &mut mirror).unwrap().cpages,
        16
    );
    let snap = again.snapshot(buf.all()).unwrap();
    assert_eq!(snap.len(), 16);
    assert_eq!(again.migrate_to_sys(buf.all()).unwrap().cpages, 16);
    assert_eq!(buf.mismatch_i32(0..buf.words(), |i| i as i32), None);
}

/// Page-aligned memory of our own, in safe code (x86 and arm64 with 4 KiB pages).
#[repr(C, align(4096))]
struct Pages([u8; 16 * 4096]);

#[test]
#[ignore = "needs /dev/hmm_dmirror0 (run in the lab with --ignored)"]
fn requests_on_caller_memory() {
    let Some(dev) = open() else { return };
    assert_eq!(hmm_dmirror::page_size(), 4096);
    let mut own = Box::new(Pages([0; 16 * 4096]));
    for (i, b) in own.0.iter_mut().enumerate() {
        *b = (i % 253) as u8;
    }
    let mut out = vec![0u8; own.0.len()];
    let c = dev
        .read(PageRange::from_slice(&own.0).unwrap(), &mut out)
        .unwrap();
    assert_eq!(c.cpages, 16);
    assert_eq!(out[..], own.0[..]);
    let src: Vec<u8> = out.iter().map(|b| b.wrapping_add(1)).collect();
    assert_eq!(dev.write_slice(&mut own.0, &src).unwrap().cpages, 16);
    assert_eq!(own.0[..], src[..]);
    let snap = dev
        .snapshot(PageRange::from_slice(&own.0).unwrap())
        .unwrap();
    assert_eq!(snap.len(), 16);
    assert!(snap.iter().all(|s| s.is_writable()), "{:?}", &snap[..]);
    // A buffer one byte short is refused before the syscall.
    let err = dev
        .read(PageRange::from_slice(&own.0).unwrap(), &mut out[1..])
        .unwrap_err();
    assert!(matches!(err, Error::MirrorTooSmall { .. }), "{err:?}");
}

/// The driver inserts a device-file mapping's pages at mmap time: growing it would leave
/// pages with no backing (SIGBUS on the next access), so `remap` refuses.
#[test]
#[ignore = "needs /dev/hmm_dmirror0 (run in the lab with --ignored)"]
fn a_device_mapping_does_not_grow() {
    let Some(dev) = open() else { return };
    let ps = hmm_dmirror::page_size();
    let mut m = Mapping::device(&dev, 2 * ps, Prot::RW, Sharing::Private).unwrap();
    let err = m.remap(4 * ps, true).unwrap_err();
    assert!(matches!(err, Error::RemapPastObject { .. }), "{err:?}");
    m.write_i32(m.words() - 1, 3);
    assert_eq!(m.read_i32(m.words() - 1), 3);
}

#[test]
#[ignore = "needs /dev/hmm_dmirror0 (run in the lab with --ignored)"]
fn the_loaded_devices_are_listed() {
    let found = hmm_dmirror::devices().unwrap();
    say(&format!("{found:?}"));
    let units: Vec<u32> = found.iter().map(|d| d.unit).collect();
    assert!(units.starts_with(&[0, 1]), "{units:?}");
    for d in &found {
        let dev = Device::open_if_present(d.unit)
            .unwrap()
            .expect("listed, so present");
        assert_eq!(dev.memory_type(), Some(d.memory));
    }
    assert!(Device::open_if_present(99).unwrap().is_none());
}
