//! [`Numbering`] for userspace: parsing, printing, and (feature `std`) the `HMM_DMIRROR_ABI`
//! environment variable. Kept out of `uapi.rs`, which the kernel module includes.

use core::fmt;
use core::str::FromStr;

use crate::{Numbering, Request};

impl Numbering {
    /// Both numberings.
    pub const ALL: [Numbering; 2] = [Numbering::Patched, Numbering::Mainline];

    /// The environment variable that names a numbering for a run: `patched` or `mainline`.
    pub const ENV_VAR: &'static str = "HMM_DMIRROR_ABI";

    /// The ioctl number of `req`, or `None` if the request does not exist in this numbering
    /// (same as [`Numbering::code`]).
    pub const fn request_code(self, req: Request) -> Option<u32> {
        self.code(req)
    }

    /// Whether `req` exists in this numbering.
    pub const fn supports(self, req: Request) -> bool {
        self.code(req).is_some()
    }

    /// Itself (kept for code written against `hmm_dmirror::Abi`, which is this type).
    pub const fn numbering(self) -> Numbering {
        self
    }
}

impl fmt::Display for Numbering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A string that names no numbering (`patched` and `mainline` do, in any case, surrounded by
/// blanks or not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseNumberingError;

impl fmt::Display for ParseNumberingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected \"patched\" or \"mainline\"")
    }
}

impl core::error::Error for ParseNumberingError {}

impl FromStr for Numbering {
    type Err = ParseNumberingError;
    fn from_str(s: &str) -> Result<Numbering, ParseNumberingError> {
        let t = s.trim();
        Numbering::ALL
            .into_iter()
            .find(|n| t.eq_ignore_ascii_case(n.name()))
            .ok_or(ParseNumberingError)
    }
}

/// `HMM_DMIRROR_ABI` holds something other than `patched` or `mainline`.
#[cfg(feature = "std")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvNumberingError {
    /// The rejected value (lossily decoded).
    pub value: std::string::String,
}

#[cfg(feature = "std")]
impl fmt::Display for EnvNumberingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} value {:?}: {}",
            Numbering::ENV_VAR,
            self.value,
            ParseNumberingError
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EnvNumberingError {}

#[cfg(feature = "std")]
impl Numbering {
    /// The numbering `HMM_DMIRROR_ABI` names: `Ok(None)` when it is unset or blank.
    pub fn from_env_var() -> Result<Option<Numbering>, EnvNumberingError> {
        use std::borrow::ToOwned;
        let Some(v) = std::env::var_os(Self::ENV_VAR) else {
            return Ok(None);
        };
        let bad = || EnvNumberingError {
            value: v.to_string_lossy().into_owned(),
        };
        let s = v.to_str().ok_or_else(bad)?;
        if s.trim().is_empty() {
            return Ok(None);
        }
        s.parse().map(Some).map_err(|_| EnvNumberingError {
            value: s.to_owned(),
        })
    }

    /// The numbering `HMM_DMIRROR_ABI` names, or [`Numbering::Patched`] (the default) when it
    /// is unset or blank. This is what a run *asks for*; a library that opens the device
    /// (`hmm_dmirror::Device::open_with_abi`) must still check that the driver speaks it.
    pub fn from_env() -> Result<Numbering, EnvNumberingError> {
        Self::from_env_var().map(Option::unwrap_or_default)
    }
}
