//! The requests of the device, the counters every request returns, and the FLAGS word.

use core::ops::BitOr;

/// One `HMM_DMIRROR_*` ioctl request, independent of its number (see [`crate::Abi`]).
/// Defined once, with its numbering tables, in `hmm-sys` (shared with the kernel module).
pub use hmm_sys::Request;

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
