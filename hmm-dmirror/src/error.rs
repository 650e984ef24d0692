//! The error type of the crate; every failing syscall keeps its errno.

use std::fmt;
use std::path::PathBuf;

use rustix::io::Errno;

use crate::{Abi, AbiEvidence, Request};

/// The result type of the crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong, checked arguments first (before any syscall), then the
/// syscalls with their errno.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The device node does not exist (ENOENT, ENODEV or ENXIO on open).
    #[error(
        "{}: {}: load test_hmm (or the hmm-rs kmod test_hmm_rs) first",
        path.display(), ErrnoFmt(*errno)
    )]
    NoDevice {
        /// The device path that was opened.
        path: PathBuf,
        /// The errno of `open`.
        errno: Errno,
    },
    /// Opening the device failed for another reason.
    #[error("open {}: {}", path.display(), ErrnoFmt(*errno))]
    Open {
        /// The device path that was opened.
        path: PathBuf,
        /// The errno of `open`.
        errno: Errno,
    },
    /// The driver refused a request.
    #[error("{request} on {}: {}", path.display(), ErrnoFmt(*errno))]
    Request {
        /// The request that failed.
        request: Request,
        /// The path of the device (or other file) the request went to.
        path: PathBuf,
        /// The errno the ioctl returned.
        errno: Errno,
    },
    /// The request does not exist in the device's ABI.
    #[error("{request} does not exist in the {abi} ABI")]
    Unsupported {
        /// The request asked for.
        request: Request,
        /// The ABI of the device.
        abi: Abi,
    },
    /// The ABI asked for (in code or with `HMM_DMIRROR_ABI`) is not the one the driver
    /// speaks; nothing but the probe was sent.
    #[error(
        "{}: the driver speaks the {detected} ABI ({evidence}), not the {requested} ABI asked for",
        path.display()
    )]
    AbiMismatch {
        /// The device.
        path: PathBuf,
        /// The ABI asked for.
        requested: Abi,
        /// The ABI the driver speaks.
        detected: Abi,
        /// How that was found out.
        evidence: AbiEvidence,
    },
    /// The file's driver answered the ABI probe like neither numbering (not an HMM mirror
    /// device, or one this library does not know), so no request is sent to it.
    #[error("{}: cannot tell which ABI the driver speaks: {reason}", path.display())]
    AbiUnknown {
        /// The file.
        path: PathBuf,
        /// What the probe saw.
        reason: String,
        /// The errno of the probe request, if it failed.
        errno: Option<Errno>,
    },
    /// A buffer could not be allocated.
    #[error("cannot allocate {bytes} bytes")]
    OutOfMemory {
        /// Bytes asked for.
        bytes: usize,
    },
    /// The request would make the kernel write memory that is only borrowed shared (a range
    /// made with [`crate::PageRange::from_slice`]); use [`crate::Device::write_slice`].
    #[error("the range is borrowed shared; the kernel may not write it")]
    SharedBorrow,
    /// `HMM_DMIRROR_ABI` (or a parsed string) is neither `patched` nor `mainline`.
    #[error(
        "invalid {} value {value:?}: expected \"patched\" or \"mainline\"",
        Abi::ENV_VAR
    )]
    InvalidAbi {
        /// The rejected value.
        value: String,
    },
    /// A length is not a whole number of pages.
    #[error("{len} bytes is not a whole number of {page_size}-byte pages")]
    NotPageMultiple {
        /// The length given.
        len: usize,
        /// The page size.
        page_size: usize,
    },
    /// A range or a mapping of zero pages.
    #[error("zero pages: a range must cover at least one page")]
    ZeroPages,
    /// A page range does not lie inside its mapping.
    #[error("pages {first}..{first}+{npages} are outside the mapping of {mapping_pages} pages")]
    OutOfRange {
        /// First page of the range.
        first: usize,
        /// Pages in the range.
        npages: usize,
        /// Pages in the mapping.
        mapping_pages: usize,
    },
    /// An address or size computation overflowed.
    #[error("address range overflows")]
    Overflow,
    /// The mirror (or snapshot buffer) cannot hold what the request writes or reads.
    #[error("{request}: mirror too small: {needed} bytes needed, {len} given")]
    MirrorTooSmall {
        /// The request.
        request: Request,
        /// Bytes the request touches.
        needed: usize,
        /// Bytes in the mirror.
        len: usize,
    },
    /// Part of the range is no longer owned by the mapping (unmapped or moved away).
    #[error("pages {first}..{first}+{npages} include pages this mapping no longer owns")]
    Unmapped {
        /// First page of the range.
        first: usize,
        /// Pages in the range.
        npages: usize,
    },
    /// `HMM_DMIRROR_FLAGS` with no bit set (the flags travel in `npages`, which must be > 0).
    #[error("HMM_DMIRROR_FLAGS needs at least one flag bit (the word travels in npages)")]
    EmptyFlags,
    /// A file mapping would extend past the end of the file.
    #[error("cannot map {len} bytes of a {file_len}-byte file")]
    FileTooSmall {
        /// Bytes asked for.
        len: usize,
        /// Size of the file.
        file_len: u64,
    },
    /// `remap` would grow a mapping past the object behind it (a file's end, a device-file
    /// mapping's pages).
    #[error("cannot grow the mapping to {new_len} bytes: its object has {object_len}")]
    RemapPastObject {
        /// The length asked for.
        new_len: usize,
        /// Bytes of the object that can back the mapping.
        object_len: u64,
    },
    /// A value is not aligned as required.
    #[error("{what} {value:#x} is not a multiple of {align:#x}")]
    Misaligned {
        /// What was misaligned.
        what: &'static str,
        /// The value.
        value: usize,
        /// The required alignment.
        align: usize,
    },
    /// A SNAPSHOT byte is not a defined `HMM_DMIRROR_PROT_*` encoding.
    #[error("snapshot page {page}: undefined HMM_DMIRROR_PROT byte {byte:#04x}")]
    InvalidSnapshot {
        /// Index of the page in the snapshot.
        page: usize,
        /// The byte the driver wrote.
        byte: u8,
    },
    /// A memory-management or file syscall failed.
    #[error("{op}: {}", ErrnoFmt(*errno))]
    Sys {
        /// The operation (`mmap`, `mprotect`, ...).
        op: &'static str,
        /// Its errno.
        errno: Errno,
    },
    /// Reading a kernel information file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being read.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The errno behind the error, when a syscall failed.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::NoDevice { errno, .. }
            | Error::Open { errno, .. }
            | Error::Request { errno, .. }
            | Error::Sys { errno, .. } => Some(*errno),
            Error::AbiUnknown { errno, .. } => *errno,
            Error::Io { source, .. } => source.raw_os_error().map(Errno::from_raw_os_error),
            _ => None,
        }
    }

    /// The request the error is about, if any.
    pub fn request(&self) -> Option<Request> {
        match self {
            Error::Request { request, .. }
            | Error::Unsupported { request, .. }
            | Error::MirrorTooSmall { request, .. } => Some(*request),
            _ => None,
        }
    }

    /// Whether the error says the device does not exist (module not loaded).
    pub fn is_no_device(&self) -> bool {
        matches!(self, Error::NoDevice { .. })
    }

    pub(crate) fn sys(op: &'static str) -> impl FnOnce(Errno) -> Error {
        move |errno| Error::Sys { op, errno }
    }
}

/// Formats an errno as `"Invalid argument (EINVAL)"`.
pub(crate) struct ErrnoFmt(pub(crate) Errno);

impl fmt::Display for ErrnoFmt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let raw = self.0.raw_os_error();
        let desc = std::io::Error::from_raw_os_error(raw).to_string();
        // std appends " (os error N)"; keep only the description.
        let desc = desc.split(" (os error").next().unwrap_or(&desc);
        match errno_name(self.0) {
            Some(name) => write!(f, "{desc} ({name})"),
            None => write!(f, "{desc} (errno {raw})"),
        }
    }
}

/// The symbolic name of an errno (`"EINVAL"`), for the errnos this device and the mm
/// syscalls return; `None` for others.
pub fn errno_name(e: Errno) -> Option<&'static str> {
    const NAMES: &[(Errno, &str)] = &[
        (Errno::PERM, "EPERM"),
        (Errno::NOENT, "ENOENT"),
        (Errno::SRCH, "ESRCH"),
        (Errno::INTR, "EINTR"),
        (Errno::IO, "EIO"),
        (Errno::NXIO, "ENXIO"),
        (Errno::TOOBIG, "E2BIG"),
        (Errno::BADF, "EBADF"),
        (Errno::CHILD, "ECHILD"),
        (Errno::AGAIN, "EAGAIN"),
        (Errno::NOMEM, "ENOMEM"),
        (Errno::ACCESS, "EACCES"),
        (Errno::FAULT, "EFAULT"),
        (Errno::BUSY, "EBUSY"),
        (Errno::EXIST, "EEXIST"),
        (Errno::NODEV, "ENODEV"),
        (Errno::NOTDIR, "ENOTDIR"),
        (Errno::ISDIR, "EISDIR"),
        (Errno::INVAL, "EINVAL"),
        (Errno::NFILE, "ENFILE"),
        (Errno::MFILE, "EMFILE"),
        (Errno::NOTTY, "ENOTTY"),
        (Errno::FBIG, "EFBIG"),
        (Errno::NOSPC, "ENOSPC"),
        (Errno::ROFS, "EROFS"),
        (Errno::RANGE, "ERANGE"),
        (Errno::DEADLK, "EDEADLK"),
        (Errno::NOSYS, "ENOSYS"),
        (Errno::OPNOTSUPP, "EOPNOTSUPP"),
        (Errno::OVERFLOW, "EOVERFLOW"),
        (Errno::HWPOISON, "EHWPOISON"),
        (Errno::TIMEDOUT, "ETIMEDOUT"),
    ];
    NAMES.iter().find(|(n, _)| *n == e).map(|(_, s)| *s)
}
