//! Which request numbering the device speaks: patched (migrate-on-fault series) or mainline.

use core::fmt;
use core::str::FromStr;

use crate::{Error, Request, Result};

/// The request numbering of a device. The two collide (0x03 is MIGRATE_ON_FAULT_TO_DEV in one
/// and MIGRATE_TO_SYS in the other), so a [`crate::Device`] always carries its ABI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Abi {
    /// The migrate-on-fault series numbering (`hmm_sys` crate root); the project default.
    #[default]
    Patched,
    /// Stock Linux 7.3 numbering (`hmm_sys::mainline`), without migrate-on-fault.
    Mainline,
}

impl Abi {
    /// The environment variable read by [`Abi::from_env`].
    pub const ENV_VAR: &'static str = "HMM_DMIRROR_ABI";

    /// The ABI chosen by `HMM_DMIRROR_ABI` (`patched` or `mainline`, case-insensitive);
    /// [`Abi::Patched`] when unset or empty, [`Error::InvalidAbi`] for any other value.
    pub fn from_env() -> Result<Abi> {
        match std::env::var_os(Self::ENV_VAR) {
            None => Ok(Abi::default()),
            Some(v) => match v.to_str() {
                Some(s) if s.trim().is_empty() => Ok(Abi::default()),
                Some(s) => s.parse(),
                None => Err(Error::InvalidAbi {
                    value: v.to_string_lossy().into_owned(),
                }),
            },
        }
    }

    /// The ioctl number of `req` in this ABI, or `None` if the request does not exist in it
    /// (never another request's number).
    pub const fn request_code(self, req: Request) -> Option<u32> {
        use hmm_sys as p;
        use hmm_sys::mainline as m;
        match self {
            Abi::Patched => Some(match req {
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
            Abi::Mainline => match req {
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

    /// Whether `req` exists in this ABI.
    pub const fn supports(self, req: Request) -> bool {
        self.request_code(req).is_some()
    }

    /// `"patched"` or `"mainline"` (the spelling `HMM_DMIRROR_ABI` accepts).
    pub const fn name(self) -> &'static str {
        match self {
            Abi::Patched => "patched",
            Abi::Mainline => "mainline",
        }
    }
}

impl FromStr for Abi {
    type Err = Error;
    fn from_str(s: &str) -> Result<Abi> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("patched") {
            Ok(Abi::Patched)
        } else if t.eq_ignore_ascii_case("mainline") {
            Ok(Abi::Mainline)
        } else {
            Err(Error::InvalidAbi {
                value: s.to_owned(),
            })
        }
    }
}

impl fmt::Display for Abi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
