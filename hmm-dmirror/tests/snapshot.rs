//! SNAPSHOT byte decoding: every one of the 256 bytes against an independent model of
//! `dmirror_mkentry()`, the constants, and the comparisons ported tests rely on.

use hmm_dmirror::sys::*;
use hmm_dmirror::{Counts, DeviceMemory, Error, Huge, Kind, PageState, Snapshot};

/// Every byte `dmirror_mkentry()` can produce, built the way it builds them.
fn producible() -> Vec<u8> {
    let mut v = vec![HMM_DMIRROR_PROT_ERROR, HMM_DMIRROR_PROT_NONE];
    let classes = [
        HMM_DMIRROR_PROT_NONE,
        HMM_DMIRROR_PROT_ZERO,
        HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
        HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE,
        HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL,
        HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE,
    ];
    for class in classes {
        for access in [HMM_DMIRROR_PROT_READ, HMM_DMIRROR_PROT_WRITE] {
            // The zero page is never mapped writable.
            if class == HMM_DMIRROR_PROT_ZERO && access == HMM_DMIRROR_PROT_WRITE {
                continue;
            }
            for size in [0, HMM_DMIRROR_PROT_PMD, HMM_DMIRROR_PROT_PUD] {
                v.push(class | access | size);
            }
        }
    }
    v
}

#[test]
fn accepts_exactly_the_producible_bytes() {
    let ok = producible();
    for b in 0..=255u8 {
        let r = PageState::from_byte(b);
        assert_eq!(r.is_ok(), ok.contains(&b), "byte {b:#04x}: {r:?}");
        if let Ok(s) = r {
            assert_eq!(s.raw(), b);
            assert_eq!(s, b);
            assert_eq!(b, s);
            assert_eq!(PageState::try_from(b).unwrap(), s);
        } else {
            assert_eq!(r.unwrap_err().byte, b);
        }
    }
    assert_eq!(ok.len(), 2 + 6 * 2 * 3 - 3);
}

#[test]
fn decodes_fields() {
    let s = PageState::from_byte(
        HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD,
    )
    .unwrap();
    assert_eq!(
        (s.kind(), s.huge(), s.device()),
        (Kind::Write, Huge::Pmd, DeviceMemory::PrivateLocal)
    );
    assert!(s.is_writable());

    let z = PageState::from_byte(HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ).unwrap();
    assert_eq!(
        (z.kind(), z.huge(), z.device()),
        (Kind::Zero, Huge::None, DeviceMemory::None)
    );
    assert_eq!(z, PageState::ZERO);

    let e = PageState::ERROR;
    assert_eq!(
        (e.kind(), e.huge(), e.device()),
        (Kind::Error, Huge::None, DeviceMemory::None)
    );
    assert_eq!(PageState::NONE.kind(), Kind::None);

    let r = PageState::from_byte(
        HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE | HMM_DMIRROR_PROT_READ | HMM_DMIRROR_PROT_PUD,
    )
    .unwrap();
    assert_eq!(
        (r.kind(), r.huge(), r.device()),
        (Kind::Read, Huge::Pud, DeviceMemory::CoherentRemote)
    );
}

#[test]
fn constants_and_builders_match_the_c_expressions() {
    const WPMD: PageState = PageState::from_prot(HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD);
    assert_eq!(WPMD, PageState::WRITE_PMD);
    assert_eq!(PageState::WRITE.with_huge(Huge::Pmd), WPMD);
    assert_eq!(
        PageState::READ_PMD,
        HMM_DMIRROR_PROT_READ | HMM_DMIRROR_PROT_PMD
    );
    assert_eq!(
        PageState::READ_PUD,
        HMM_DMIRROR_PROT_READ | HMM_DMIRROR_PROT_PUD
    );
    assert_eq!(
        PageState::WRITE_PUD,
        HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PUD
    );
    assert_eq!(
        PageState::WRITE.with_device(DeviceMemory::PrivateLocal),
        HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE
    );
    assert_eq!(
        PageState::WRITE
            .with_device(DeviceMemory::CoherentRemote)
            .with_huge(Huge::Pmd),
        HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE | HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD
    );
    assert_eq!(
        PageState::WRITE_PMD
            .with_device(DeviceMemory::PrivateRemote)
            .with_device(DeviceMemory::None),
        PageState::WRITE_PMD
    );
    assert_eq!(PageState::WRITE_PUD.with_huge(Huge::None), PageState::WRITE);
}

#[test]
#[should_panic(expected = "undefined HMM_DMIRROR_PROT encoding")]
fn from_prot_panics_on_undefined() {
    let _ = PageState::from_prot(HMM_DMIRROR_PROT_READ | HMM_DMIRROR_PROT_WRITE);
}

#[test]
#[should_panic(expected = "only READ/WRITE entries can be device memory")]
fn zero_page_cannot_be_device_memory() {
    let _ = PageState::ZERO.with_device(DeviceMemory::PrivateLocal);
}

#[test]
#[should_panic(expected = "NONE/ERROR carry no mapping size")]
fn error_has_no_size() {
    let _ = PageState::ERROR.with_huge(Huge::Pmd);
}

#[test]
fn display_names_the_bits() {
    let s = PageState::WRITE_PMD.with_device(DeviceMemory::PrivateLocal);
    assert_eq!(s.to_string(), "0x26 (WRITE|PMD|DEV_PRIVATE_LOCAL)");
    assert_eq!(
        format!("{s:?}"),
        "PageState(0x26 (WRITE|PMD|DEV_PRIVATE_LOCAL))"
    );
    assert_eq!(PageState::ZERO.to_string(), "0x11 (ZERO|READ)");
    assert_eq!(PageState::ERROR.to_string(), "0xff (ERROR)");
    assert_eq!(PageState::NONE.to_string(), "0x00 (NONE)");
}

#[test]
fn snapshot_decode_as_in_the_hmm2_snapshot_test() {
    // The seven pages hmm-tests.c's hmm2.snapshot expects for device-private memory.
    let bytes = [
        HMM_DMIRROR_PROT_ERROR,
        HMM_DMIRROR_PROT_ERROR,
        HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ,
        HMM_DMIRROR_PROT_READ,
        HMM_DMIRROR_PROT_WRITE,
        HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE,
        HMM_DMIRROR_PROT_NONE,
    ];
    let snap = Snapshot::decode(
        &bytes,
        Counts {
            cpages: 7,
            faults: 0,
        },
    )
    .unwrap();
    assert_eq!(snap.len(), 7);
    assert_eq!(snap.cpages(), 7);
    assert_eq!(snap.faults(), 0);
    assert_eq!(snap[0], PageState::ERROR);
    assert_eq!(snap[2], PageState::ZERO);
    assert_eq!(snap[3], PageState::READ);
    assert_eq!(snap[4], PageState::WRITE);
    assert_eq!(
        snap[5],
        PageState::WRITE.with_device(DeviceMemory::PrivateLocal)
    );
    assert_eq!(snap[6], HMM_DMIRROR_PROT_NONE);
    assert_eq!(snap.raw_bytes(), bytes);
    assert_eq!(
        snap.pages()
            .iter()
            .filter(|p| p.kind() == Kind::Error)
            .count(),
        2
    );
}

#[test]
fn snapshot_decode_rejects_and_names_the_page() {
    let err = Snapshot::decode(&[HMM_DMIRROR_PROT_WRITE, 0x03], Counts::default()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidSnapshot {
                page: 1,
                byte: 0x03
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "snapshot page 1: undefined HMM_DMIRROR_PROT byte 0x03"
    );
}
