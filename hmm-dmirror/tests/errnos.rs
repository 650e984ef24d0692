//! The errnos the request methods' `# Errors` sections document, against a real device
//! (`/dev/hmm_dmirror0`, either driver): each case sets up the situation a doc names and
//! checks the errno it says. Ignored on a plain host (reported as ignored, never passed);
//! the lab runs them: `cargo xtask lab test --driver c|rust --suite lib`.

use hmm_dmirror::{
    page_size, Abi, Device, DeviceMemory, Errno, Error, Flags, Mapping, Mirror, PageState, Prot,
    Result,
};

const NEEDS_DEVICE: &str = "needs /dev/hmm_dmirror0 (run in the lab with --ignored)";

fn open() -> Device {
    // Asked for explicitly (--ignored): a missing device is a failure, not a skip.
    Device::open(0).unwrap_or_else(|e| panic!("{NEEDS_DEVICE}: {e}"))
}

/// Whether the driver is the hmm-rs module (its devices differ from C's where documented).
fn is_rust_module() -> bool {
    std::path::Path::new("/sys/module/test_hmm_rs").exists()
}

fn errno<T: std::fmt::Debug>(r: Result<T>) -> Option<Errno> {
    match r {
        Ok(v) => panic!("expected an errno, got {v:?}"),
        Err(Error::Request { errno, .. }) => Some(errno),
        Err(e) => panic!("expected a driver errno, got {e}"),
    }
}

fn pages(n: usize) -> Mapping {
    let m = Mapping::anon_private(n * page_size()).unwrap();
    m.fill_i32(|i| i as i32);
    m
}

#[test]
#[ignore = "needs /dev/hmm_dmirror0 (run in the lab with --ignored)"]
fn prot_none_and_holes() {
    let dev = open();
    let mut mirror = Mirror::for_pages(3);
    let none = pages(2);
    none.protect(Prot::NONE).unwrap();
    let src = Mirror::for_pages(2);
    assert_eq!(errno(dev.read(none.all(), &mut mirror)), Some(Errno::FAULT));
    assert_eq!(errno(dev.write(none.all(), &src)), Some(Errno::FAULT));
    assert_eq!(
        errno(dev.migrate_to_dev(none.all(), &mut mirror)),
        Some(Errno::INVAL)
    );
    assert_eq!(errno(dev.migrate_to_sys(none.all())), Some(Errno::INVAL));
    assert_eq!(
        errno(dev.exclusive(none.all(), &mut mirror)),
        Some(Errno::FAULT)
    );
    let snap = dev.snapshot(none.all()).unwrap();
    assert!(snap.iter().all(|s| *s == PageState::ERROR), "{snap:?}");

    let holed = pages(3);
    holed.unmap_pages(1, 1).unwrap();
    assert_eq!(
        errno(dev.read(holed.all(), &mut mirror)),
        Some(Errno::FAULT)
    );
    assert_eq!(
        errno(dev.migrate_to_dev(holed.all(), &mut mirror)),
        Some(Errno::INVAL)
    );
    assert_eq!(errno(dev.migrate_to_sys(holed.all())), Some(Errno::INVAL));
    let snap = dev.snapshot(holed.all()).unwrap();
    assert_eq!(snap[1], PageState::ERROR);
}

#[test]
#[ignore = "needs /dev/hmm_dmirror0 (run in the lab with --ignored)"]
fn read_only_and_shared_memory() {
    let dev = open();
    let mut mirror = Mirror::for_pages(2);
    let ro = pages(2);
    ro.protect(Prot::READ).unwrap();
    assert_eq!(
        errno(dev.write(ro.all(), &Mirror::for_pages(2))),
        Some(Errno::PERM)
    );
    assert_eq!(
        errno(dev.exclusive(ro.all(), &mut mirror)),
        Some(Errno::FAULT)
    );
    dev.read(ro.all(), &mut mirror).unwrap();

    let shared = Mapping::anon_shared(2 * page_size()).unwrap();
    shared.fill_i32(|i| i as i32);
    assert_eq!(
        errno(dev.migrate_to_dev(shared.all(), &mut mirror)),
        Some(Errno::NOENT)
    );
    assert_eq!(
        errno(dev.exclusive(shared.all(), &mut mirror)),
        Some(Errno::OPNOTSUPP)
    );
}

#[test]
#[ignore = "needs /dev/hmm_dmirror0 (run in the lab with --ignored)"]
fn exclusive_then_check() {
    let dev = open();
    let buf = pages(4);
    let mut mirror = Mirror::for_pages(4);
    assert_eq!(dev.exclusive(buf.all(), &mut mirror).unwrap().cpages, 4);
    assert_eq!(errno(dev.check_exclusive(buf.all())), Some(Errno::PERM));
    // Any CPU access revokes it.
    for p in 0..4 {
        let _ = buf.read_i32(p * page_size() / 4);
    }
    assert_eq!(dev.check_exclusive(buf.all()).unwrap().cpages, 0);
}

#[test]
#[ignore = "needs /dev/hmm_dmirror0 (run in the lab with --ignored)"]
fn migrations_release_and_snapshot_states() {
    let dev = open();
    let buf = pages(8);
    buf.write_i32(0, 0);
    let untouched = Mapping::anon_private(2 * page_size()).unwrap();
    let snap = dev.snapshot(untouched.all()).unwrap();
    assert!(snap.iter().all(|s| *s == PageState::NONE), "{snap:?}");
    assert_eq!(dev.snapshot(buf.all()).unwrap()[0], PageState::WRITE);

    let mut mirror = Mirror::for_pages(8);
    assert_eq!(
        dev.migrate_to_dev(buf.all(), &mut mirror).unwrap().cpages,
        8
    );
    let snap = dev.snapshot(buf.all()).unwrap();
    assert!(
        snap.iter()
            .all(|s| s.device() == DeviceMemory::PrivateLocal),
        "{snap:?}"
    );
    assert_eq!(dev.migrate_to_sys(buf.all()).unwrap().cpages, 8);
    // Nothing left on the device: nothing migrates, no error.
    assert_eq!(dev.migrate_to_sys(buf.all()).unwrap().cpages, 0);

    dev.migrate_to_dev(buf.all(), &mut mirror).unwrap();
    dev.release().unwrap();
    let snap = dev.snapshot(buf.all()).unwrap();
    assert!(
        snap.iter().all(|s| s.device() == DeviceMemory::None),
        "{snap:?}"
    );
    assert_eq!(buf.mismatch_i32(0..buf.words(), |i| i as i32), None);
}

#[test]
#[ignore = "needs /dev/hmm_dmirror0 (run in the lab with --ignored)"]
fn flags() {
    let dev = open();
    let buf = pages(1);
    let mut mirror = Mirror::for_pages(1);
    dev.set_flags(Flags::FAIL_ALLOC).unwrap();
    // The one allocation fails: the page does not migrate, the read-back says ENOENT.
    assert_eq!(
        errno(dev.migrate_to_dev(buf.all(), &mut mirror)),
        Some(Errno::NOENT)
    );
    // FAIL_ALLOC cleared itself.
    assert_eq!(
        dev.migrate_to_dev(buf.all(), &mut mirror).unwrap().cpages,
        1
    );

    assert!(matches!(
        dev.set_flags(Flags::from_bits_retain(0)),
        Err(Error::EmptyFlags)
    ));
    // A word whose byte count wraps to exactly 0: both drivers see an empty range.
    let wraps_to_zero = Flags::from_bits_retain(1 << (64 - page_size().trailing_zeros()));
    assert_eq!(errno(dev.set_flags(wraps_to_zero)), Some(Errno::INVAL));
    // One page more: the C driver accepts it, our module refuses the overflow.
    let overflows = Flags::from_bits_retain(wraps_to_zero.bits() + 2);
    if is_rust_module() {
        assert_eq!(errno(dev.set_flags(overflows)), Some(Errno::INVAL));
    } else {
        dev.set_flags(overflows).unwrap();
    }
}

#[test]
#[ignore = "needs /dev/hmm_dmirror0 (run in the lab with --ignored)"]
fn migrate_on_fault_only_in_the_patched_abi() {
    let dev = open();
    let buf = pages(64);
    let mut mirror = Mirror::for_pages(64);
    match dev.abi() {
        Abi::Patched => {
            assert_eq!(
                dev.migrate_on_fault_to_dev(buf.all(), &mut mirror)
                    .unwrap()
                    .cpages,
                64
            )
        }
        Abi::Mainline => assert!(matches!(
            dev.migrate_on_fault_to_dev(buf.all(), &mut mirror),
            Err(Error::Unsupported { .. })
        )),
    }
}
