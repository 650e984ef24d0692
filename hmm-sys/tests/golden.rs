//! Golden values of the ABI, written out by hand (not computed with the crate's own `ioc()`)
//! from the C header and the migrate-on-fault series, so a wrong encoder or a shifted number
//! fails here.

use core::mem::{align_of, offset_of, size_of};

use hmm_sys::{hmm_dmirror_cmd, mainline};

/// (request, patched number, mainline number or None) — the table, by hand.
const TABLE: &[(&str, u32, Option<u32>)] = &[
    ("HMM_DMIRROR_READ", 0x00, Some(0x00)),
    ("HMM_DMIRROR_WRITE", 0x01, Some(0x01)),
    ("HMM_DMIRROR_MIGRATE_TO_DEV", 0x02, Some(0x02)),
    ("HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV", 0x03, None),
    ("HMM_DMIRROR_MIGRATE_TO_SYS", 0x04, Some(0x03)),
    ("HMM_DMIRROR_SNAPSHOT", 0x05, Some(0x04)),
    ("HMM_DMIRROR_EXCLUSIVE", 0x06, Some(0x05)),
    ("HMM_DMIRROR_CHECK_EXCLUSIVE", 0x07, Some(0x06)),
    ("HMM_DMIRROR_RELEASE", 0x08, Some(0x07)),
    ("HMM_DMIRROR_FLAGS", 0x09, Some(0x08)),
    ("HMM_DMIRROR_READ_UNLOCKED", 0x0a, Some(0x09)),
];

/// `_IOWR('H', 0, struct hmm_dmirror_cmd)`: dir 3 << 30, size 40 << 16, 'H' << 8.
const BASE: u32 = 0xC028_4800;

fn patched(name: &str) -> u32 {
    match name {
        "HMM_DMIRROR_READ" => hmm_sys::HMM_DMIRROR_READ,
        "HMM_DMIRROR_WRITE" => hmm_sys::HMM_DMIRROR_WRITE,
        "HMM_DMIRROR_MIGRATE_TO_DEV" => hmm_sys::HMM_DMIRROR_MIGRATE_TO_DEV,
        "HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV" => hmm_sys::HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV,
        "HMM_DMIRROR_MIGRATE_TO_SYS" => hmm_sys::HMM_DMIRROR_MIGRATE_TO_SYS,
        "HMM_DMIRROR_SNAPSHOT" => hmm_sys::HMM_DMIRROR_SNAPSHOT,
        "HMM_DMIRROR_EXCLUSIVE" => hmm_sys::HMM_DMIRROR_EXCLUSIVE,
        "HMM_DMIRROR_CHECK_EXCLUSIVE" => hmm_sys::HMM_DMIRROR_CHECK_EXCLUSIVE,
        "HMM_DMIRROR_RELEASE" => hmm_sys::HMM_DMIRROR_RELEASE,
        "HMM_DMIRROR_FLAGS" => hmm_sys::HMM_DMIRROR_FLAGS,
        "HMM_DMIRROR_READ_UNLOCKED" => hmm_sys::HMM_DMIRROR_READ_UNLOCKED,
        _ => unreachable!("{name}"),
    }
}

fn mainline(name: &str) -> u32 {
    match name {
        "HMM_DMIRROR_READ" => mainline::HMM_DMIRROR_READ,
        "HMM_DMIRROR_WRITE" => mainline::HMM_DMIRROR_WRITE,
        "HMM_DMIRROR_MIGRATE_TO_DEV" => mainline::HMM_DMIRROR_MIGRATE_TO_DEV,
        "HMM_DMIRROR_MIGRATE_TO_SYS" => mainline::HMM_DMIRROR_MIGRATE_TO_SYS,
        "HMM_DMIRROR_SNAPSHOT" => mainline::HMM_DMIRROR_SNAPSHOT,
        "HMM_DMIRROR_EXCLUSIVE" => mainline::HMM_DMIRROR_EXCLUSIVE,
        "HMM_DMIRROR_CHECK_EXCLUSIVE" => mainline::HMM_DMIRROR_CHECK_EXCLUSIVE,
        "HMM_DMIRROR_RELEASE" => mainline::HMM_DMIRROR_RELEASE,
        "HMM_DMIRROR_FLAGS" => mainline::HMM_DMIRROR_FLAGS,
        "HMM_DMIRROR_READ_UNLOCKED" => mainline::HMM_DMIRROR_READ_UNLOCKED,
        _ => unreachable!("{name}"),
    }
}

#[test]
fn cmd_layout_matches_spec() {
    assert_eq!(size_of::<hmm_dmirror_cmd>(), 40);
    assert_eq!(align_of::<hmm_dmirror_cmd>(), 8);
    assert_eq!(offset_of!(hmm_dmirror_cmd, addr), 0);
    assert_eq!(offset_of!(hmm_dmirror_cmd, ptr), 8);
    assert_eq!(offset_of!(hmm_dmirror_cmd, npages), 16);
    assert_eq!(offset_of!(hmm_dmirror_cmd, cpages), 24);
    assert_eq!(offset_of!(hmm_dmirror_cmd, faults), 32);
}

#[test]
fn patched_request_numbers_match_spec() {
    for &(name, nr, _) in TABLE {
        assert_eq!(patched(name), BASE | nr, "{name}: {:#010x}", patched(name));
    }
}

#[test]
fn mainline_request_numbers_match_spec() {
    for &(name, _, nr) in TABLE {
        if let Some(nr) = nr {
            assert_eq!(
                mainline(name),
                BASE | nr,
                "{name}: {:#010x}",
                mainline(name)
            );
        }
    }
}

#[test]
fn literal_golden_codes() {
    // Spelled out once more, as they appear in strace output.
    assert_eq!(hmm_sys::HMM_DMIRROR_READ, 0xC028_4800);
    assert_eq!(hmm_sys::HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV, 0xC028_4803);
    assert_eq!(hmm_sys::HMM_DMIRROR_MIGRATE_TO_SYS, 0xC028_4804);
    assert_eq!(hmm_sys::HMM_DMIRROR_READ_UNLOCKED, 0xC028_480A);
    assert_eq!(mainline::HMM_DMIRROR_MIGRATE_TO_SYS, 0xC028_4803);
    assert_eq!(mainline::HMM_DMIRROR_READ_UNLOCKED, 0xC028_4809);
}

#[test]
fn numbers_are_unique_within_each_abi() {
    let mut p: Vec<u32> = TABLE.iter().map(|(n, _, _)| patched(n)).collect();
    p.sort_unstable();
    p.dedup();
    assert_eq!(p.len(), TABLE.len());
    let mut m: Vec<u32> = TABLE
        .iter()
        .filter(|(_, _, m)| m.is_some())
        .map(|(n, _, _)| mainline(n))
        .collect();
    m.sort_unstable();
    m.dedup();
    assert_eq!(m.len(), TABLE.len() - 1);
}

#[test]
fn the_collision_at_0x03() {
    // 0x03 migrates *to* the device in one ABI and *back to system* in the other.
    assert_eq!(
        hmm_sys::HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV,
        mainline::HMM_DMIRROR_MIGRATE_TO_SYS
    );
}

#[test]
fn ioc_encoder() {
    assert_eq!(
        hmm_sys::ioc(
            hmm_sys::IOC_READ | hmm_sys::IOC_WRITE,
            u32::from(b'H'),
            0x0a,
            40
        ),
        0xC028_480A
    );
    assert_eq!(hmm_sys::ioc(0, 0, 0, 0), 0);
    assert_eq!(hmm_sys::HMM_DMIRROR_IOC_MAGIC, 0x48);
}

#[test]
fn constants_match_spec() {
    assert_eq!(hmm_sys::HMM_DMIRROR_FLAG_FAIL_ALLOC, 1);
    let prot: &[(u8, u8)] = &[
        (hmm_sys::HMM_DMIRROR_PROT_ERROR, 0xFF),
        (hmm_sys::HMM_DMIRROR_PROT_NONE, 0x00),
        (hmm_sys::HMM_DMIRROR_PROT_READ, 0x01),
        (hmm_sys::HMM_DMIRROR_PROT_WRITE, 0x02),
        (hmm_sys::HMM_DMIRROR_PROT_PMD, 0x04),
        (hmm_sys::HMM_DMIRROR_PROT_PUD, 0x08),
        (hmm_sys::HMM_DMIRROR_PROT_ZERO, 0x10),
        (hmm_sys::HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL, 0x20),
        (hmm_sys::HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE, 0x30),
        (hmm_sys::HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL, 0x40),
        (hmm_sys::HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE, 0x50),
    ];
    for (i, &(got, want)) in prot.iter().enumerate() {
        assert_eq!(got, want, "PROT constant #{i}");
    }
    assert_eq!(hmm_sys::HMM_DMIRROR_MEMORY_DEVICE_PRIVATE, 1);
    assert_eq!(hmm_sys::HMM_DMIRROR_MEMORY_DEVICE_COHERENT, 2);
}

#[test]
fn uapi_module_reexports_the_same_values() {
    assert_eq!(
        hmm_sys::uapi::patched::HMM_DMIRROR_SNAPSHOT,
        hmm_sys::HMM_DMIRROR_SNAPSHOT
    );
    assert_eq!(
        hmm_sys::uapi::mainline::HMM_DMIRROR_SNAPSHOT,
        mainline::HMM_DMIRROR_SNAPSHOT
    );
}

/// `_IOWR` of other devices' ioctls, as their uapi headers number them.
#[test]
fn iowr_is_the_kernel_encoding() {
    assert_eq!(
        hmm_sys::iowr(b'H', 0, 40),
        hmm_sys::mainline::HMM_DMIRROR_READ
    );
    assert_eq!(hmm_sys::iowr(0xAA, 0x3F, 24), 0xC018_AA3F); // UFFDIO_API
    assert_eq!(hmm_sys::iowr(0xAA, 0x00, 32), 0xC020_AA00); // UFFDIO_REGISTER
    assert_eq!(hmm_sys::iowr(0xAA, 0x03, 40), 0xC028_AA03); // UFFDIO_COPY
}
