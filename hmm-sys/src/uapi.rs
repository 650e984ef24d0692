// SPDX-License-Identifier: MIT OR Apache-2.0
//! The HMM test device ABI: `struct hmm_dmirror_cmd`, request numbers and constants.
//!
//! This file is the single source of these facts for the whole project. It must stay plain
//! Rust with no `std`, no `alloc` and no crate dependencies: `hmm-sys` compiles it as a
//! module and the kernel module (`kmod/`) includes it with `#[path]`.
//! C original: Linux 7.3 `lib/test_hmm_uapi.h`, plus the migrate-on-fault series (RFC PATCH
//! 4/4), which inserts its request at 0x03 and shifts every later number by one.
#![allow(non_camel_case_types, dead_code)]

/// The argument of every request: `struct hmm_dmirror_cmd` (40 bytes, all fields `__u64`).
#[repr(C)]
#[derive(Debug, Default, Copy, Clone, PartialEq, Eq)]
pub struct hmm_dmirror_cmd {
    /// In: start of the range in the caller's address space (page aligned).
    pub addr: u64,
    /// In: the caller's buffer the device copies to/from ("mirror"); SNAPSHOT: one byte per page.
    pub ptr: u64,
    /// In: number of pages (FLAGS: the flag word).
    pub npages: u64,
    /// Out: pages the device copied or migrated.
    pub cpages: u64,
    /// Out: device page faults the driver saw.
    pub faults: u64,
}

const _: () = {
    assert!(core::mem::size_of::<hmm_dmirror_cmd>() == 40);
    assert!(core::mem::align_of::<hmm_dmirror_cmd>() == 8);
    assert!(core::mem::offset_of!(hmm_dmirror_cmd, addr) == 0);
    assert!(core::mem::offset_of!(hmm_dmirror_cmd, ptr) == 8);
    assert!(core::mem::offset_of!(hmm_dmirror_cmd, npages) == 16);
    assert!(core::mem::offset_of!(hmm_dmirror_cmd, cpages) == 24);
    assert!(core::mem::offset_of!(hmm_dmirror_cmd, faults) == 32);
};

/// `_IOC_WRITE` (asm-generic/ioctl.h: userspace writes the argument).
pub const IOC_WRITE: u32 = 1;
/// `_IOC_READ` (asm-generic/ioctl.h: userspace reads the argument back).
pub const IOC_READ: u32 = 2;

/// `_IOC(dir, type, nr, size)` from asm-generic/ioctl.h (x86, arm64, riscv layout:
/// nr 8 bits, type 8 bits, size 14 bits, dir 2 bits).
pub const fn ioc(dir: u32, ty: u32, nr: u32, size: usize) -> u32 {
    assert!(nr < (1 << 8) && ty < (1 << 8) && size < (1 << 14) && dir < (1 << 2));
    (dir << 30) | ((size as u32) << 16) | (ty << 8) | nr
}

/// The ioctl type of every request: `'H'`.
pub const HMM_DMIRROR_IOC_MAGIC: u32 = b'H' as u32;

/// `_IOWR('H', nr, struct hmm_dmirror_cmd)`.
const fn iowr(nr: u32) -> u32 {
    ioc(
        IOC_READ | IOC_WRITE,
        HMM_DMIRROR_IOC_MAGIC,
        nr,
        core::mem::size_of::<hmm_dmirror_cmd>(),
    )
}

/// Request numbers of the migrate-on-fault series (the project's default ABI).
pub mod patched {
    use super::iowr;
    /// Read the range through the device page table into `ptr`.
    pub const HMM_DMIRROR_READ: u32 = iowr(0x00);
    /// Write `ptr` into the range through the device page table.
    pub const HMM_DMIRROR_WRITE: u32 = iowr(0x01);
    /// Migrate the range to device memory.
    pub const HMM_DMIRROR_MIGRATE_TO_DEV: u32 = iowr(0x02);
    /// Fault the range in window by window, migrate it to the device, read it back into `ptr`.
    pub const HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV: u32 = iowr(0x03);
    /// Migrate the range back to system memory.
    pub const HMM_DMIRROR_MIGRATE_TO_SYS: u32 = iowr(0x04);
    /// One `HMM_DMIRROR_PROT_*` byte per page into `ptr`.
    pub const HMM_DMIRROR_SNAPSHOT: u32 = iowr(0x05);
    /// Take device-exclusive access to the range.
    pub const HMM_DMIRROR_EXCLUSIVE: u32 = iowr(0x06);
    /// Check that the range is still device-exclusive.
    pub const HMM_DMIRROR_CHECK_EXCLUSIVE: u32 = iowr(0x07);
    /// Evict all device memory chunks back to system memory.
    pub const HMM_DMIRROR_RELEASE: u32 = iowr(0x08);
    /// Set `HMM_DMIRROR_FLAG_*` bits (passed in `npages`).
    pub const HMM_DMIRROR_FLAGS: u32 = iowr(0x09);
    /// READ without holding the device mutex across the fault (7.3).
    pub const HMM_DMIRROR_READ_UNLOCKED: u32 = iowr(0x0a);
}

/// Request numbers of stock Linux 7.3 (no migrate-on-fault).
pub mod mainline {
    use super::iowr;
    /// Read the range through the device page table into `ptr`.
    pub const HMM_DMIRROR_READ: u32 = iowr(0x00);
    /// Write `ptr` into the range through the device page table.
    pub const HMM_DMIRROR_WRITE: u32 = iowr(0x01);
    /// Migrate the range to device memory.
    pub const HMM_DMIRROR_MIGRATE_TO_DEV: u32 = iowr(0x02);
    /// Migrate the range back to system memory.
    pub const HMM_DMIRROR_MIGRATE_TO_SYS: u32 = iowr(0x03);
    /// One `HMM_DMIRROR_PROT_*` byte per page into `ptr`.
    pub const HMM_DMIRROR_SNAPSHOT: u32 = iowr(0x04);
    /// Take device-exclusive access to the range.
    pub const HMM_DMIRROR_EXCLUSIVE: u32 = iowr(0x05);
    /// Check that the range is still device-exclusive.
    pub const HMM_DMIRROR_CHECK_EXCLUSIVE: u32 = iowr(0x06);
    /// Evict all device memory chunks back to system memory.
    pub const HMM_DMIRROR_RELEASE: u32 = iowr(0x07);
    /// Set `HMM_DMIRROR_FLAG_*` bits (passed in `npages`).
    pub const HMM_DMIRROR_FLAGS: u32 = iowr(0x08);
    /// READ without holding the device mutex across the fault.
    pub const HMM_DMIRROR_READ_UNLOCKED: u32 = iowr(0x09);
}

/// One request of the device, independent of its number (the two numberings collide:
/// 0x03 is MIGRATE_ON_FAULT_TO_DEV in one and MIGRATE_TO_SYS in the other).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Request {
    /// `HMM_DMIRROR_READ`: the device reads the range into the mirror.
    Read,
    /// `HMM_DMIRROR_WRITE`: the device writes the mirror into the range.
    Write,
    /// `HMM_DMIRROR_MIGRATE_TO_DEV`: migrate the range to device memory.
    MigrateToDev,
    /// `HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV` (patched numbering only).
    MigrateOnFaultToDev,
    /// `HMM_DMIRROR_MIGRATE_TO_SYS`: migrate the range back to system memory.
    MigrateToSys,
    /// `HMM_DMIRROR_SNAPSHOT`: one `HMM_DMIRROR_PROT_*` byte per page.
    Snapshot,
    /// `HMM_DMIRROR_EXCLUSIVE`: take device-exclusive access.
    Exclusive,
    /// `HMM_DMIRROR_CHECK_EXCLUSIVE`: check that exclusive access was revoked.
    CheckExclusive,
    /// `HMM_DMIRROR_RELEASE`: evict all device memory chunks.
    Release,
    /// `HMM_DMIRROR_FLAGS`: set `HMM_DMIRROR_FLAG_*` bits.
    Flags,
    /// `HMM_DMIRROR_READ_UNLOCKED`: READ that may drop the mmap lock while faulting.
    ReadUnlocked,
}

impl Request {
    /// Every request, in patched-numbering order.
    pub const ALL: [Request; 11] = [
        Request::Read,
        Request::Write,
        Request::MigrateToDev,
        Request::MigrateOnFaultToDev,
        Request::MigrateToSys,
        Request::Snapshot,
        Request::Exclusive,
        Request::CheckExclusive,
        Request::Release,
        Request::Flags,
        Request::ReadUnlocked,
    ];

    /// The C name of the request, e.g. `"HMM_DMIRROR_MIGRATE_TO_DEV"`.
    pub const fn name(self) -> &'static str {
        match self {
            Request::Read => "HMM_DMIRROR_READ",
            Request::Write => "HMM_DMIRROR_WRITE",
            Request::MigrateToDev => "HMM_DMIRROR_MIGRATE_TO_DEV",
            Request::MigrateOnFaultToDev => "HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV",
            Request::MigrateToSys => "HMM_DMIRROR_MIGRATE_TO_SYS",
            Request::Snapshot => "HMM_DMIRROR_SNAPSHOT",
            Request::Exclusive => "HMM_DMIRROR_EXCLUSIVE",
            Request::CheckExclusive => "HMM_DMIRROR_CHECK_EXCLUSIVE",
            Request::Release => "HMM_DMIRROR_RELEASE",
            Request::Flags => "HMM_DMIRROR_FLAGS",
            Request::ReadUnlocked => "HMM_DMIRROR_READ_UNLOCKED",
        }
    }
}

impl core::fmt::Display for Request {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// A request numbering: which ioctl number each [`Request`] has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Numbering {
    /// The migrate-on-fault series ([`patched`]); our module's default. (`Default` gives
    /// this value; a program must still find out what its driver speaks.)
    #[default]
    Patched,
    /// Stock Linux 7.3 ([`mainline`]), without migrate-on-fault.
    Mainline,
}

impl Numbering {
    /// The ioctl number of `req`, or `None` if the request does not exist in this numbering
    /// (never another request's number).
    pub const fn code(self, req: Request) -> Option<u32> {
        use self::mainline as m;
        use self::patched as p;
        match self {
            Numbering::Patched => Some(match req {
                Request::Read => p::HMM_DMIRROR_READ,
                Request::Write => p::HMM_DMIRROR_WRITE,
                Request::MigrateToDev => p::HMM_DMIRROR_MIGRATE_TO_DEV,
                Request::MigrateOnFaultToDev => p::HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV,
                Request::MigrateToSys => p::HMM_DMIRROR_MIGRATE_TO_SYS,
                Request::Snapshot => p::HMM_DMIRROR_SNAPSHOT,
                Request::Exclusive => p::HMM_DMIRROR_EXCLUSIVE,
                Request::CheckExclusive => p::HMM_DMIRROR_CHECK_EXCLUSIVE,
                Request::Release => p::HMM_DMIRROR_RELEASE,
                Request::Flags => p::HMM_DMIRROR_FLAGS,
                Request::ReadUnlocked => p::HMM_DMIRROR_READ_UNLOCKED,
            }),
            Numbering::Mainline => match req {
                Request::Read => Some(m::HMM_DMIRROR_READ),
                Request::Write => Some(m::HMM_DMIRROR_WRITE),
                Request::MigrateToDev => Some(m::HMM_DMIRROR_MIGRATE_TO_DEV),
                Request::MigrateOnFaultToDev => None,
                Request::MigrateToSys => Some(m::HMM_DMIRROR_MIGRATE_TO_SYS),
                Request::Snapshot => Some(m::HMM_DMIRROR_SNAPSHOT),
                Request::Exclusive => Some(m::HMM_DMIRROR_EXCLUSIVE),
                Request::CheckExclusive => Some(m::HMM_DMIRROR_CHECK_EXCLUSIVE),
                Request::Release => Some(m::HMM_DMIRROR_RELEASE),
                Request::Flags => Some(m::HMM_DMIRROR_FLAGS),
                Request::ReadUnlocked => Some(m::HMM_DMIRROR_READ_UNLOCKED),
            },
        }
    }

    /// The request an ioctl number names in this numbering (the inverse of [`Self::code`]).
    pub const fn decode(self, cmd: u32) -> Option<Request> {
        let mut i = 0;
        while i < Request::ALL.len() {
            let req = Request::ALL[i];
            if let Some(c) = self.code(req) {
                if c == cmd {
                    return Some(req);
                }
            }
            i += 1;
        }
        None
    }

    /// `"patched"` or `"mainline"`.
    pub const fn name(self) -> &'static str {
        match self {
            Numbering::Patched => "patched",
            Numbering::Mainline => "mainline",
        }
    }
}

// Each numbering gives every request it has a distinct number, and decodes it back.
const _: () = {
    let nums = [Numbering::Patched, Numbering::Mainline];
    let mut n = 0;
    while n < nums.len() {
        let mut i = 0;
        while i < Request::ALL.len() {
            if let Some(c) = nums[n].code(Request::ALL[i]) {
                assert!(matches!(nums[n].decode(c), Some(r) if r as u32 == Request::ALL[i] as u32));
            }
            i += 1;
        }
        n += 1;
    }
};

/// FLAGS: make the next device page allocation fail.
pub const HMM_DMIRROR_FLAG_FAIL_ALLOC: u64 = 1 << 0;

/// SNAPSHOT: the page could not be faulted in.
pub const HMM_DMIRROR_PROT_ERROR: u8 = 0xFF;
/// SNAPSHOT: not mapped.
pub const HMM_DMIRROR_PROT_NONE: u8 = 0x00;
/// SNAPSHOT: mapped read-only.
pub const HMM_DMIRROR_PROT_READ: u8 = 0x01;
/// SNAPSHOT: mapped writable.
pub const HMM_DMIRROR_PROT_WRITE: u8 = 0x02;
/// SNAPSHOT: mapped by a PMD (huge page).
pub const HMM_DMIRROR_PROT_PMD: u8 = 0x04;
/// SNAPSHOT: mapped by a PUD (gigantic page).
pub const HMM_DMIRROR_PROT_PUD: u8 = 0x08;
/// SNAPSHOT: the shared zero page.
pub const HMM_DMIRROR_PROT_ZERO: u8 = 0x10;
/// SNAPSHOT: device-private page owned by this device.
pub const HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL: u8 = 0x20;
/// SNAPSHOT: device-private page owned by another device.
pub const HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE: u8 = 0x30;
/// SNAPSHOT: device-coherent page owned by this device.
pub const HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL: u8 = 0x40;
/// SNAPSHOT: device-coherent page owned by another device.
pub const HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE: u8 = 0x50;

/// Device memory type: DEVICE_PRIVATE (devices 0 and 1).
pub const HMM_DMIRROR_MEMORY_DEVICE_PRIVATE: u32 = 1;
/// Device memory type: DEVICE_COHERENT (devices 2 and 3).
pub const HMM_DMIRROR_MEMORY_DEVICE_COHERENT: u32 = 2;
