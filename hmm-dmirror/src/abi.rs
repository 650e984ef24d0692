//! Which request numbering a device speaks, and how [`crate::Device`] finds out (`ABI.md`).
//!
//! The two numberings collide (patched 0x05 SNAPSHOT, one byte per page, is mainline 0x05
//! EXCLUSIVE, one *page* per page), so the ABI of an open device is never assumed: it is read
//! from our module's `abi` parameter when the kernel shows it, else found out with a probe
//! whose effects stay inside its own one-page buffers under either numbering.

use core::fmt;
use std::os::fd::BorrowedFd;

use hmm_sys::hmm_dmirror_cmd;
use rustix::io::Errno;

use crate::{Error, Mapping, Request, Result};

/// The request numbering of a device: [`hmm_sys::Numbering`] (`Abi::Patched`,
/// `Abi::Mainline`), under the name this crate has always used.
pub use hmm_sys::Numbering as Abi;

/// How the ABI of a [`crate::Device`] was established.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AbiEvidence {
    /// Our module's `abi` parameter in sysfs (`/sys/module/test_hmm_rs/parameters/abi`), for
    /// a device node that belongs to it (a misc device named `hmm_dmirrorN`).
    ModuleParameter,
    /// The one-page probe (request 0x03, see `ABI.md`).
    Probe,
    /// Given by the caller of [`crate::Device::from_fd_unchecked`], not checked.
    Unchecked,
}

impl fmt::Display for AbiEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AbiEvidence::ModuleParameter => "module parameter",
            AbiEvidence::Probe => "probe",
            AbiEvidence::Unchecked => "unchecked",
        })
    }
}

/// What `HMM_DMIRROR_ABI` asks for: `None` when unset or blank.
pub(crate) fn requested_by_env() -> Result<Option<Abi>> {
    Abi::from_env_var().map_err(|e| Error::InvalidAbi { value: e.value })
}

/// `MISC_MAJOR`: our module's devices are misc devices; the C driver's have a dynamic major.
const MISC_MAJOR: u32 = 10;
/// Where our module would show its `abi=` parameter.
const MODULE_PARAM: &str = "/sys/module/test_hmm_rs/parameters/abi";

/// The `abi` parameter of our module, if the kernel shows it and `fd` is one of its devices.
pub(crate) fn module_parameter(fd: BorrowedFd<'_>) -> Option<Abi> {
    let st = rustix::fs::fstat(fd).ok()?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::CharacterDevice {
        return None;
    }
    let (major, minor) = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
    if major != MISC_MAJOR {
        return None;
    }
    let uevent = std::fs::read_to_string(format!("/sys/dev/char/{major}:{minor}/uevent")).ok()?;
    let name = uevent.lines().find_map(|l| l.strip_prefix("DEVNAME="))?;
    let unit = name.strip_prefix("hmm_dmirror")?;
    if unit.is_empty() || !unit.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    std::fs::read_to_string(MODULE_PARAM).ok()?.parse().ok()
}

/// The probe's request number: `_IOWR('H', 0x03, struct hmm_dmirror_cmd)`, the one number
/// whose meanings all stay inside the probe's own buffers (`ABI.md`).
pub(crate) const PROBE_CODE: u32 = hmm_sys::uapi::patched::HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV;

// Patched MIGRATE_ON_FAULT_TO_DEV and mainline MIGRATE_TO_SYS share the probe's number.
const _: () = {
    assert!(PROBE_CODE == hmm_sys::mainline::HMM_DMIRROR_MIGRATE_TO_SYS);
    assert!(matches!(
        Abi::Patched.decode(PROBE_CODE),
        Some(Request::MigrateOnFaultToDev)
    ));
    assert!(matches!(
        Abi::Mainline.decode(PROBE_CODE),
        Some(Request::MigrateToSys)
    ));
};

/// The word the probe page holds at word `i` (no byte repeats within a word, and no word is
/// a valid SNAPSHOT byte pattern, so a snapshot-like answer cannot pass for a copy).
fn probe_word(i: usize) -> i32 {
    0x5a3c_0000_u32
        .wrapping_add(i as u32)
        .wrapping_mul(0x9e37_79b1) as i32
}

/// What the probe's buffer holds before the request; untouched by mainline.
const UNTOUCHED: u8 = 0xc3;

/// Why the probe could not tell the numbering.
pub(crate) enum ProbeFailure {
    /// The request failed with this errno (e.g. ENOTTY: not an HMM device).
    Errno(Errno),
    /// An answer neither numbering gives.
    Answer { cpages: u64, ptr: &'static str },
    /// The probe's own buffers could not be made.
    Setup(Error),
}

impl fmt::Display for ProbeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeFailure::Errno(e) => {
                write!(f, "request 0x03 failed: {}", crate::error::ErrnoFmt(*e))
            }
            ProbeFailure::Answer { cpages, ptr } => write!(
                f,
                "request 0x03 answered cpages {cpages} with the buffer {ptr}, which neither \
                 numbering does"
            ),
            ProbeFailure::Setup(e) => write!(f, "cannot set up the probe: {e}"),
        }
    }
}

/// Issues request `code` with `cmd`, which points at `ptr_len` bytes the caller owns.
pub(crate) type Submit<'a> =
    dyn FnMut(u32, &mut hmm_dmirror_cmd, usize) -> rustix::io::Result<()> + 'a;

/// The probe: request 0x03 on one resident page of private anonymous memory, filled with a
/// pattern, with a one-page buffer filled with [`UNTOUCHED`].
/// - mainline (0x03 = MIGRATE_TO_SYS): nothing of the page is in device memory, so the
///   driver answers 0, cpages 0, and does not use the buffer;
/// - patched (0x03 = MIGRATE_ON_FAULT_TO_DEV): the page moves to device memory and is read
///   back into the buffer: 0, cpages 1, the buffer equal to the page.
///
/// Anything else is a [`ProbeFailure`]. The page is unmapped afterwards (its device copy,
/// under patched, is freed with it).
pub(crate) fn probe(submit: &mut Submit<'_>) -> core::result::Result<Abi, ProbeFailure> {
    let ps = crate::page_size();
    let page = Mapping::anon_private(ps).map_err(ProbeFailure::Setup)?;
    page.fill_i32(probe_word);
    let mut buf = crate::Mirror::try_new(ps).map_err(ProbeFailure::Setup)?;
    buf.fill(UNTOUCHED);
    let mut cmd = hmm_dmirror_cmd {
        addr: page.addr() as u64,
        ptr: buf.as_mut_ptr() as u64,
        npages: 1,
        ..Default::default()
    };
    submit(PROBE_CODE, &mut cmd, buf.len()).map_err(ProbeFailure::Errno)?;
    let untouched = buf.iter().all(|&b| b == UNTOUCHED);
    let copied = buf.mismatch_i32(0..buf.words(), probe_word).is_none();
    match (cmd.cpages, untouched, copied) {
        (0, true, _) => Ok(Abi::Mainline),
        (1, _, true) => Ok(Abi::Patched),
        (cpages, untouched, _) => Err(ProbeFailure::Answer {
            cpages,
            ptr: if untouched {
                "untouched"
            } else {
                "changed but not equal to the page"
            },
        }),
    }
}
