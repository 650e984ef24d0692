//! Argument checks (each typed error, raised before any syscall) and the real error path of
//! the ioctl, against /dev/null: a file that is not the device answers ENOTTY.

use hmm_dmirror::{Abi, Device, Errno, Error, Flags, Mapping, Mirror, Prot, Request, Sharing};

fn devnull(abi: Abi) -> Device {
    let fd = std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .expect("open /dev/null")
        .into();
    // SAFETY: /dev/null gives no ioctl number a meaning: every request is ENOTTY.
    unsafe { Device::from_fd_unchecked(fd, abi) }
}

fn ps() -> usize {
    hmm_dmirror::page_size()
}

#[test]
fn missing_device_names_the_module_and_path() {
    let err = Device::open_with_abi(917, Abi::Patched).unwrap_err();
    assert!(err.is_no_device(), "{err:?}");
    assert_eq!(err.errno(), Some(Errno::NOENT));
    let msg = err.to_string();
    assert!(msg.contains("/dev/hmm_dmirror917"), "{msg}");
    assert!(msg.contains("test_hmm"), "{msg}");
    assert!(msg.contains("hmm-rs kmod"), "{msg}");
    assert_eq!(
        msg,
        "/dev/hmm_dmirror917: No such file or directory (ENOENT): \
         load test_hmm (or the hmm-rs kmod test_hmm_rs) first"
    );
}

#[test]
fn other_open_errors_keep_their_errno() {
    let err = Device::open_path("/proc/self/status/x", Abi::Patched).unwrap_err();
    assert!(matches!(err, Error::Open { .. }), "{err:?}");
    assert_eq!(err.errno(), Some(Errno::NOTDIR));
}

#[test]
fn enotty_through_the_library_for_every_request() {
    let dev = devnull(Abi::Patched);
    assert_eq!(dev.abi(), Abi::Patched);
    assert_eq!(dev.path(), std::path::Path::new("/dev/null"));
    let m = Mapping::anon_private(4 * ps()).unwrap();
    let r = m.all();
    let mut mirror = Mirror::for_pages(4);
    let results: Vec<(Request, hmm_dmirror::Result<()>)> = vec![
        (Request::Read, dev.read(r, &mut mirror).map(drop)),
        (Request::Write, dev.write(r, &mirror).map(drop)),
        (
            Request::MigrateToDev,
            dev.migrate_to_dev(r, &mut mirror).map(drop),
        ),
        (
            Request::MigrateOnFaultToDev,
            dev.migrate_on_fault_to_dev(r, &mut mirror).map(drop),
        ),
        (Request::MigrateToSys, dev.migrate_to_sys(r).map(drop)),
        (Request::Snapshot, dev.snapshot(r).map(drop)),
        (Request::Exclusive, dev.exclusive(r, &mut mirror).map(drop)),
        (Request::CheckExclusive, dev.check_exclusive(r).map(drop)),
        (Request::Release, dev.release().map(drop)),
        (Request::Flags, dev.set_flags(Flags::FAIL_ALLOC).map(drop)),
        (
            Request::ReadUnlocked,
            dev.read_unlocked(r, &mut mirror).map(drop),
        ),
    ];
    assert_eq!(results.len(), Request::ALL.len());
    for (req, res) in results {
        let err = res.unwrap_err();
        assert_eq!(err.errno(), Some(Errno::NOTTY), "{req}: {err:?}");
        assert_eq!(err.request(), Some(req));
        assert!(matches!(&err, Error::Request { request, .. } if *request == req));
        assert_eq!(
            err.to_string(),
            format!(
                "{} on /dev/null: Inappropriate ioctl for device (ENOTTY)",
                req.name()
            )
        );
    }
}

#[test]
fn display_of_a_request_error() {
    let dev = devnull(Abi::Mainline);
    let m = Mapping::anon_private(ps()).unwrap();
    let mut mirror = Mirror::for_pages(1);
    let err = dev.migrate_to_dev(m.all(), &mut mirror).unwrap_err();
    assert_eq!(
        err.to_string(),
        "HMM_DMIRROR_MIGRATE_TO_DEV on /dev/null: Inappropriate ioctl for device (ENOTTY)"
    );
    let e = Error::Request {
        request: Request::MigrateToDev,
        path: "/dev/hmm_dmirror0".into(),
        errno: Errno::INVAL,
    };
    assert_eq!(
        e.to_string(),
        "HMM_DMIRROR_MIGRATE_TO_DEV on /dev/hmm_dmirror0: Invalid argument (EINVAL)"
    );
    assert_eq!(hmm_dmirror::errno_name(Errno::FAULT), Some("EFAULT"));
}

#[test]
fn raw_is_checked_only_for_the_abi() {
    let dev = devnull(Abi::Patched);
    let mut cmd = hmm_dmirror::sys::hmm_dmirror_cmd {
        addr: 1,
        npages: 0,
        ..Default::default()
    };
    // SAFETY: /dev/null performs no HMM request, so no memory is accessed.
    let err = unsafe { dev.raw(Request::Snapshot, &mut cmd) }.unwrap_err();
    assert_eq!(err.errno(), Some(Errno::NOTTY));
    // SAFETY: as above.
    let err = unsafe { dev.raw_cmd(Request::Read, 0, 0, 1) }.unwrap_err();
    assert_eq!(err.request(), Some(Request::Read));
}

#[test]
fn unsupported_request_is_a_typed_error_not_another_number() {
    let dev = devnull(Abi::Mainline);
    assert_eq!(
        dev.request_code(Request::MigrateToSys).unwrap(),
        hmm_dmirror::sys::mainline::HMM_DMIRROR_MIGRATE_TO_SYS
    );
    let m = Mapping::anon_private(ps()).unwrap();
    let mut mirror = Mirror::for_pages(1);
    let err = dev
        .migrate_on_fault_to_dev(m.all(), &mut mirror)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unsupported {
                request: Request::MigrateOnFaultToDev,
                abi: Abi::Mainline
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.errno(), None);
    assert_eq!(
        err.to_string(),
        "HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV does not exist in the mainline ABI"
    );
    let mut cmd = hmm_dmirror::sys::hmm_dmirror_cmd::default();
    // SAFETY: the request is refused before any syscall.
    let err = unsafe { dev.raw(Request::MigrateOnFaultToDev, &mut cmd) }.unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }));
}

#[test]
fn range_checks() {
    let m = Mapping::anon_private(4 * ps()).unwrap();
    assert!(matches!(m.pages(0, 0), Err(Error::ZeroPages)));
    assert!(matches!(
        m.pages(3, 2),
        Err(Error::OutOfRange {
            first: 3,
            npages: 2,
            mapping_pages: 4
        })
    ));
    assert!(matches!(m.pages(4, 1), Err(Error::OutOfRange { .. })));
    assert!(matches!(m.pages(1, usize::MAX), Err(Error::Overflow)));
    assert!(matches!(
        m.byte_range(ps() / 2, ps()),
        Err(Error::NotPageMultiple { .. })
    ));
    assert!(matches!(
        m.byte_range(0, 100),
        Err(Error::NotPageMultiple { len: 100, .. })
    ));
    let r = m.byte_range(ps(), 2 * ps()).unwrap();
    assert_eq!((r.first_page(), r.npages(), r.len()), (1, 2, 2 * ps()));
    assert_eq!(r.addr(), m.addr() + ps());
    let r = m.pages(3, 1).unwrap();
    assert_eq!(r.addr(), m.addr() + 3 * ps());
    assert_eq!(m.all().npages(), 4);
    assert!(!m.all().is_empty());
}

#[test]
fn mapping_length_checks() {
    assert!(matches!(Mapping::anon_private(0), Err(Error::ZeroPages)));
    let err = Mapping::anon(ps() + 1, Prot::RW, Sharing::Private).unwrap_err();
    assert!(matches!(err, Error::NotPageMultiple { .. }), "{err:?}");
    assert!(matches!(
        Mapping::aligned(ps(), 3 * ps(), Prot::RW),
        Err(Error::Misaligned { .. })
    ));
    assert!(matches!(
        Mapping::aligned(1 << 63, 1 << 63, Prot::RW),
        Err(Error::Overflow)
    ));
}

#[test]
fn mirror_too_small_is_refused_before_the_syscall() {
    // On /dev/null any syscall would say ENOTTY: a MirrorTooSmall proves none was made.
    let dev = devnull(Abi::Patched);
    let m = Mapping::anon_private(2 * ps()).unwrap();
    let mut small = Mirror::new(2 * ps() - 1);
    for (req, err) in [
        (Request::Read, dev.read(m.all(), &mut small).unwrap_err()),
        (
            Request::ReadUnlocked,
            dev.read_unlocked(m.all(), &mut small).unwrap_err(),
        ),
        (Request::Write, dev.write(m.all(), &small).unwrap_err()),
        (
            Request::MigrateToDev,
            dev.migrate_to_dev(m.all(), &mut small).unwrap_err(),
        ),
        (
            Request::MigrateOnFaultToDev,
            dev.migrate_on_fault_to_dev(m.all(), &mut small)
                .unwrap_err(),
        ),
        (
            Request::Exclusive,
            dev.exclusive(m.all(), &mut small).unwrap_err(),
        ),
    ] {
        assert!(
            matches!(err, Error::MirrorTooSmall { request, needed, len } if request == req && needed == 2 * ps() && len == 2 * ps() - 1),
            "{req}: {err:?}"
        );
    }
    let mut one = Mirror::for_snapshot(1);
    let err = dev.snapshot_into(m.all(), &mut one).unwrap_err();
    assert!(
        matches!(
            err,
            Error::MirrorTooSmall {
                request: Request::Snapshot,
                needed: 2,
                len: 1
            }
        ),
        "{err:?}"
    );
    // A larger mirror is fine (hmm-tests.c passes 2 * size mirrors): the syscall happens.
    let mut big = Mirror::for_pages(3);
    assert_eq!(
        dev.read(m.all(), &mut big).unwrap_err().errno(),
        Some(Errno::NOTTY)
    );
    // A snapshot-sized buffer is enough for SNAPSHOT.
    let mut snap = Mirror::for_snapshot(2);
    assert_eq!(
        dev.snapshot_into(m.all(), &mut snap).unwrap_err().errno(),
        Some(Errno::NOTTY)
    );
}

#[test]
fn empty_flags_are_refused() {
    let dev = devnull(Abi::Patched);
    assert!(matches!(
        dev.set_flags(Flags::default()),
        Err(Error::EmptyFlags)
    ));
    assert_eq!(
        Flags::FAIL_ALLOC.bits(),
        hmm_dmirror::sys::HMM_DMIRROR_FLAG_FAIL_ALLOC
    );
    assert_eq!((Flags::FAIL_ALLOC | Flags::from_bits_retain(4)).bits(), 5);
}

#[test]
fn write_refuses_a_range_with_a_hole() {
    let dev = devnull(Abi::Patched);
    let m = Mapping::anon_private(3 * ps()).unwrap();
    m.unmap_pages(1, 1).unwrap();
    let mirror = Mirror::for_pages(3);
    let err = dev.write(m.all(), &mirror).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unmapped {
                first: 0,
                npages: 3
            }
        ),
        "{err:?}"
    );
    // Requests that do not write the range still go to the kernel (it reports the hole).
    let mut mirror = Mirror::for_pages(3);
    assert_eq!(
        dev.migrate_to_dev(m.all(), &mut mirror)
            .unwrap_err()
            .errno(),
        Some(Errno::NOTTY)
    );
    // The owned pages around the hole are still writable by the device.
    assert_eq!(
        dev.write(m.pages(2, 1).unwrap(), &mirror)
            .unwrap_err()
            .errno(),
        Some(Errno::NOTTY)
    );
}
