//! A smoke test against a real device (`/dev/hmm_dmirror0`, ABI from `HMM_DMIRROR_ABI`).
//! The full port of hmm-tests.c lives in the hmm-tests crate. These tests need the device,
//! so they are `#[ignore]`d (reported as ignored, never as passed) on a plain host; the lab
//! runs them: `cargo xtask lab run --driver c -- cargo test -p hmm-dmirror --test device -- --ignored`.

use std::io::Write;

use hmm_dmirror::{
    Abi, Device, DeviceMemory, Error, Flags, Mapping, Mirror, PageState, Prot, Sharing,
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

#[test]
#[ignore = "needs /dev/hmm_dmirror0 (run in the lab with --ignored)"]
fn smoke_migrate_on_fault() {
    let Some(dev) = open() else { return };
    let npages = 1024; // the series' test: 4 MiB of private anonymous memory
    let buf = Mapping::anon_private(npages * hmm_dmirror::page_size()).unwrap();
    buf.fill_i32(|i| i as i32);
    let mut mirror = Mirror::for_pages(npages);
    match dev.migrate_on_fault_to_dev(buf.all(), &mut mirror) {
        Ok(c) => {
            assert_eq!(c.cpages, npages as u64);
            assert_eq!(mirror.mismatch_i32(0..mirror.words(), |i| i as i32), None);
        }
        Err(Error::Unsupported {
            abi: Abi::Mainline, ..
        }) => say("SKIPPED: mainline ABI has no migrate-on-fault"),
        Err(e) => panic!("{e}"),
    }
}
