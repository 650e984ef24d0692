//! The requests of the device, the counters every request returns, and the FLAGS word.

use core::fmt;
use core::ops::BitOr;

/// One `HMM_DMIRROR_*` ioctl request, independent of its number (see [`crate::Abi`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Request {
    /// `HMM_DMIRROR_READ`: the device reads the range into the mirror.
    Read,
    /// `HMM_DMIRROR_WRITE`: the device writes the mirror into the range.
    Write,
    /// `HMM_DMIRROR_MIGRATE_TO_DEV`: migrate the range to device memory.
    MigrateToDev,
    /// `HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV` (patched ABI only).
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
    /// Every request, in patched-ABI number order.
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

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The output counters of a request (`cpages`, `faults` of `struct hmm_dmirror_cmd`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Counts {
    /// Pages the device copied, migrated or snapshotted.
    pub cpages: u64,
    /// Device page faults the driver saw.
    pub faults: u64,
}

/// The flag word of `HMM_DMIRROR_FLAGS` (`HMM_DMIRROR_FLAG_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(u64);

impl Flags {
    /// `HMM_DMIRROR_FLAG_FAIL_ALLOC`: make the next device page allocation fail.
    pub const FAIL_ALLOC: Flags = Flags(hmm_sys::HMM_DMIRROR_FLAG_FAIL_ALLOC);

    /// The raw flag word.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// A flag word with any bits, known or not.
    pub const fn from_bits_retain(bits: u64) -> Flags {
        Flags(bits)
    }

    /// Whether no bit is set (the driver rejects an empty word, see [`crate::Device::set_flags`]).
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}
