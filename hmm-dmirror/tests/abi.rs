//! Request numbers per ABI come from hmm_sys, and a request absent from an ABI is an error,
//! never another number.

use hmm_dmirror::{sys, Abi, Request};

#[test]
fn patched_codes_are_the_crate_root_of_hmm_sys() {
    let want = [
        sys::HMM_DMIRROR_READ,
        sys::HMM_DMIRROR_WRITE,
        sys::HMM_DMIRROR_MIGRATE_TO_DEV,
        sys::HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV,
        sys::HMM_DMIRROR_MIGRATE_TO_SYS,
        sys::HMM_DMIRROR_SNAPSHOT,
        sys::HMM_DMIRROR_EXCLUSIVE,
        sys::HMM_DMIRROR_CHECK_EXCLUSIVE,
        sys::HMM_DMIRROR_RELEASE,
        sys::HMM_DMIRROR_FLAGS,
        sys::HMM_DMIRROR_READ_UNLOCKED,
    ];
    for (req, code) in Request::ALL.into_iter().zip(want) {
        assert_eq!(Abi::Patched.request_code(req), Some(code), "{req}");
        assert!(Abi::Patched.supports(req));
    }
    // Patched numbers are 0..=10 in Request::ALL order.
    for (nr, req) in Request::ALL.into_iter().enumerate() {
        assert_eq!(
            Abi::Patched.request_code(req),
            Some(0xC028_4800 | nr as u32)
        );
    }
}

#[test]
fn mainline_codes_are_hmm_sys_mainline() {
    use sys::mainline as m;
    let want = [
        (Request::Read, Some(m::HMM_DMIRROR_READ)),
        (Request::Write, Some(m::HMM_DMIRROR_WRITE)),
        (Request::MigrateToDev, Some(m::HMM_DMIRROR_MIGRATE_TO_DEV)),
        (Request::MigrateOnFaultToDev, None),
        (Request::MigrateToSys, Some(m::HMM_DMIRROR_MIGRATE_TO_SYS)),
        (Request::Snapshot, Some(m::HMM_DMIRROR_SNAPSHOT)),
        (Request::Exclusive, Some(m::HMM_DMIRROR_EXCLUSIVE)),
        (
            Request::CheckExclusive,
            Some(m::HMM_DMIRROR_CHECK_EXCLUSIVE),
        ),
        (Request::Release, Some(m::HMM_DMIRROR_RELEASE)),
        (Request::Flags, Some(m::HMM_DMIRROR_FLAGS)),
        (Request::ReadUnlocked, Some(m::HMM_DMIRROR_READ_UNLOCKED)),
    ];
    for (req, code) in want {
        assert_eq!(Abi::Mainline.request_code(req), code, "{req}");
        assert_eq!(Abi::Mainline.supports(req), code.is_some());
    }
}

#[test]
fn names_and_parsing() {
    assert_eq!(Abi::default(), Abi::Patched);
    assert_eq!("patched".parse::<Abi>().unwrap(), Abi::Patched);
    assert_eq!(" Mainline ".parse::<Abi>().unwrap(), Abi::Mainline);
    assert_eq!(Abi::Mainline.to_string(), "mainline");
    let err = "6.16".parse::<Abi>().unwrap_err();
    assert_eq!(err.to_string(), "expected \"patched\" or \"mainline\"");
    assert_eq!(Abi::Patched.to_string(), "patched");
    assert_eq!(Abi::ALL.map(|a| a.name()), ["patched", "mainline"]);
    assert_eq!(
        Request::MigrateOnFaultToDev.to_string(),
        "HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV"
    );
    let names: Vec<&str> = Request::ALL.iter().map(|r| r.name()).collect();
    assert_eq!(names.len(), 11);
    assert!(names.iter().all(|n| n.starts_with("HMM_DMIRROR_")));
}
