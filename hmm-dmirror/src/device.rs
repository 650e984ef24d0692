//! The device handle: one open `/dev/hmm_dmirrorN` file and the ABI it speaks.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::{Abi, Error, Request, Result};

/// An open HMM mirror device. Each open file mirrors the address space of the process that
/// opened it (a forked child must open its own). Closing is dropping.
#[derive(Debug)]
pub struct Device {
    fd: OwnedFd,
    path: PathBuf,
    abi: Abi,
}

impl Device {
    /// `/dev/hmm_dmirror{n}`.
    pub fn path_of(n: u32) -> PathBuf {
        PathBuf::from(format!("/dev/hmm_dmirror{n}"))
    }

    /// Opens `/dev/hmm_dmirror{n}` with the ABI from [`Abi::from_env`].
    pub fn open(n: u32) -> Result<Device> {
        Self::open_with_abi(n, Abi::from_env()?)
    }

    /// Opens `/dev/hmm_dmirror{n}`, speaking `abi`.
    pub fn open_with_abi(n: u32, abi: Abi) -> Result<Device> {
        Self::open_path(Self::path_of(n), abi)
    }

    /// Opens any path (read-write, close-on-exec), speaking `abi`. A missing node is
    /// [`Error::NoDevice`], which tells to load the module.
    ///
    /// Point it at an HMM mirror device (or a harmless file such as `/dev/null`, which answers
    /// every request with ENOTTY): the requests' numbers are only checked by the device's
    /// driver, and the library trusts the file to be what it was told.
    pub fn open_path(path: impl AsRef<Path>, abi: Abi) -> Result<Device> {
        let path = path.as_ref().to_path_buf();
        let opened = crate::ioctl::retry_eintr(|| {
            rustix::fs::open(&path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
        });
        match opened {
            Ok(fd) => Ok(Device { fd, path, abi }),
            Err(errno @ (Errno::NOENT | Errno::NODEV | Errno::NXIO)) => {
                Err(Error::NoDevice { path, errno })
            }
            Err(errno) => Err(Error::Open { path, errno }),
        }
    }

    /// The ABI this handle speaks.
    pub fn abi(&self) -> Abi {
        self.abi
    }

    /// The path that was opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The ioctl number of `req` in this device's ABI, or [`Error::Unsupported`].
    pub fn request_code(&self, req: Request) -> Result<u32> {
        self.abi.request_code(req).ok_or(Error::Unsupported {
            request: req,
            abi: self.abi,
        })
    }
}

impl AsFd for Device {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Device {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl From<Device> for OwnedFd {
    fn from(dev: Device) -> OwnedFd {
        dev.fd
    }
}
