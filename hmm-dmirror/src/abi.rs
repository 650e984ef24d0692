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

    /// The `hmm-sys` numbering table of this ABI.
    pub const fn numbering(self) -> hmm_sys::Numbering {
        match self {
            Abi::Patched => hmm_sys::Numbering::Patched,
            Abi::Mainline => hmm_sys::Numbering::Mainline,
        }
    }

    /// The ioctl number of `req` in this ABI, or `None` if the request does not exist in it
    /// (never another request's number).
    pub const fn request_code(self, req: Request) -> Option<u32> {
        self.numbering().code(req)
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
