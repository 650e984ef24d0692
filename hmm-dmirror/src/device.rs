//! The device handle: one open `/dev/hmm_dmirrorN` file and the ABI its driver speaks, found
//! out when it is opened (`abi.rs`, `ABI.md`).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use hmm_sys::hmm_dmirror_cmd;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::abi::{self, ProbeFailure};
use crate::{Abi, AbiEvidence, Error, Request, Result};

/// An open HMM mirror device and the request numbering ([`Abi`]) its driver speaks. Each open
/// file mirrors the address space of the process that opened it (a forked child must open
/// its own). Closing is dropping.
///
/// Every safe constructor establishes the ABI from the driver itself (our module's `abi`
/// parameter, else a one-page probe), and refuses an ABI asked for that the driver does not
/// speak ([`Error::AbiMismatch`]) or a file that speaks neither ([`Error::AbiUnknown`]). So
/// the numbers a `Device` sends mean to the driver what the library sized its buffers for.
///
/// One method per request (`HMM_DMIRROR_READ` is [`Device::read`], and so on); each says
/// what the request does, what it needs and which errno means what, for the C driver
/// (`lib/test_hmm.c`) and our module where they differ.
///
/// # Errors every request can return
///
/// - [`Error::Unsupported`]: the request has no number in the device's ABI
///   (MIGRATE_ON_FAULT_TO_DEV on a mainline driver), checked before the syscall.
/// - [`Error::Request`] with `EINVAL` from a driver that does not know the number (some
///   recent kernels stop at RELEASE: no FLAGS, no READ_UNLOCKED), or, for every request but
///   RELEASE, FLAGS and CHECK_EXCLUSIVE, when the process whose address space the file
///   mirrors has exited
///   (a descriptor inherited by a child outliving its parent; READ, READ_UNLOCKED and WRITE
///   say `EFAULT` then).
/// - `EINTR` is never returned: the library retries the request.
///
/// The entry checks of both drivers (an `addr` that is not page aligned, `npages = 0`, a
/// range whose end wraps, a `cmd` the kernel cannot copy) cannot fail through the safe
/// methods, whose ranges and buffers are real memory; [`Device::raw`] lists them.
pub struct Device {
    fd: OwnedFd,
    path: PathBuf,
    abi: Abi,
    evidence: AbiEvidence,
    #[cfg(test)]
    pub(crate) fake: Option<std::sync::Arc<dyn crate::fake::FakeDriver>>,
}

impl core::fmt::Debug for Device {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Device")
            .field("fd", &self.fd)
            .field("path", &self.path)
            .field("abi", &self.abi)
            .field("evidence", &self.evidence)
            .finish()
    }
}

fn open_rdwr(path: &Path) -> Result<OwnedFd> {
    let opened = crate::ioctl::retry_eintr(|| {
        rustix::fs::open(path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
    });
    match opened {
        Ok(fd) => Ok(fd),
        Err(errno @ (Errno::NOENT | Errno::NODEV | Errno::NXIO)) => Err(Error::NoDevice {
            path: path.to_path_buf(),
            errno,
        }),
        Err(errno) => Err(Error::Open {
            path: path.to_path_buf(),
            errno,
        }),
    }
}

impl Device {
    /// `/dev/hmm_dmirror{n}`.
    pub fn path_of(n: u32) -> PathBuf {
        PathBuf::from(format!("/dev/hmm_dmirror{n}"))
    }

    /// Opens `/dev/hmm_dmirror{n}` and finds out the ABI its driver speaks. When
    /// `HMM_DMIRROR_ABI` is set, that ABI must be the one found ([`Error::AbiMismatch`]).
    pub fn open(n: u32) -> Result<Device> {
        Self::open_path_auto(Self::path_of(n))
    }

    /// Opens `/dev/hmm_dmirror{n}`, checking that its driver speaks `abi`
    /// ([`Error::AbiMismatch`] otherwise). `HMM_DMIRROR_ABI` is not consulted.
    pub fn open_with_abi(n: u32, abi: Abi) -> Result<Device> {
        Self::open_path(Self::path_of(n), abi)
    }

    /// Opens any path (read-write, close-on-exec), checking that its driver speaks `abi`. A
    /// missing node is [`Error::NoDevice`], which tells to load the module; a file that is
    /// not an HMM mirror device (e.g. `/dev/null`) is [`Error::AbiUnknown`].
    pub fn open_path(path: impl AsRef<Path>, abi: Abi) -> Result<Device> {
        let path = path.as_ref().to_path_buf();
        let fd = open_rdwr(&path)?;
        Self::establish(fd, path, Some(abi))
    }

    /// Opens any path, with the ABI as [`Device::open`] establishes it.
    pub fn open_path_auto(path: impl AsRef<Path>) -> Result<Device> {
        let requested = abi::requested_by_env()?;
        let path = path.as_ref().to_path_buf();
        let fd = open_rdwr(&path)?;
        Self::establish(fd, path, requested)
    }

    /// A device from a descriptor opened elsewhere (e.g. passed in by a test runner), with the
    /// ABI as [`Device::open`] establishes it. The descriptor must be open read-write.
    ///
    /// The probe runs on this descriptor: on a patched driver it consumes a FAIL_ALLOC armed
    /// on it and not yet used.
    pub fn from_fd(fd: OwnedFd) -> Result<Device> {
        let requested = abi::requested_by_env()?;
        let path = fd_path(fd.as_fd());
        Self::establish(fd, path, requested)
    }

    /// [`Device::from_fd`], checking that the driver speaks `abi`.
    pub fn from_fd_with_abi(fd: OwnedFd, abi: Abi) -> Result<Device> {
        let path = fd_path(fd.as_fd());
        Self::establish(fd, path, Some(abi))
    }

    /// A device speaking `abi` with nothing checked and nothing sent: for files that are no
    /// HMM device at all (tests of error paths over `/dev/null`) and drivers that cannot
    /// answer the probe.
    ///
    /// # Safety
    ///
    /// The driver behind `fd` speaks `abi`, or gives none of the request numbers of either
    /// numbering a meaning that accesses user memory. Otherwise a safe request may make the
    /// kernel write past the buffer the library sized for it: with a mainline driver, the
    /// patched SNAPSHOT number is EXCLUSIVE, which writes whole pages where one byte per
    /// page was allocated.
    pub unsafe fn from_fd_unchecked(fd: OwnedFd, abi: Abi) -> Device {
        let path = fd_path(fd.as_fd());
        Device {
            fd,
            path,
            abi,
            evidence: AbiEvidence::Unchecked,
            #[cfg(test)]
            fake: None,
        }
    }

    fn establish(fd: OwnedFd, path: PathBuf, requested: Option<Abi>) -> Result<Device> {
        let mut dev = Device {
            fd,
            path,
            abi: Abi::Patched,
            evidence: AbiEvidence::Unchecked,
            #[cfg(test)]
            fake: None,
        };
        dev.find_abi(requested)?;
        Ok(dev)
    }

    /// A device over a fake driver (unit tests): the descriptor is `/dev/null`.
    #[cfg(test)]
    pub(crate) fn with_fake(
        fake: std::sync::Arc<dyn crate::fake::FakeDriver>,
        requested: Option<Abi>,
    ) -> Result<Device> {
        let path = PathBuf::from("/dev/null");
        let mut dev = Device {
            fd: open_rdwr(&path)?,
            path,
            abi: Abi::Patched,
            evidence: AbiEvidence::Unchecked,
            fake: Some(fake),
        };
        dev.find_abi(requested)?;
        Ok(dev)
    }

    /// Sets `abi`/`evidence` from the module parameter, else the probe; checks `requested`.
    fn find_abi(&mut self, requested: Option<Abi>) -> Result<()> {
        let (found, evidence) = match abi::module_parameter(self.fd.as_fd()) {
            Some(a) => (a, AbiEvidence::ModuleParameter),
            None => {
                let probed = abi::probe(&mut |code, cmd, ptr_len| {
                    // SAFETY: the probe passes its own one-page buffer (`ptr_len` bytes) and
                    // its own one-page mapping, and the probe number's meaning in either
                    // numbering (MIGRATE_TO_SYS, MIGRATE_ON_FAULT_TO_DEV) accesses at most
                    // `npages` (1) pages of each.
                    unsafe { self.submit(code, cmd, ptr_len) }
                });
                match probed {
                    Ok(a) => (a, AbiEvidence::Probe),
                    Err(f) => {
                        return Err(Error::AbiUnknown {
                            path: self.path.clone(),
                            errno: match &f {
                                ProbeFailure::Errno(e) => Some(*e),
                                _ => None,
                            },
                            reason: f.to_string(),
                        })
                    }
                }
            }
        };
        if let Some(requested) = requested {
            if requested != found {
                return Err(Error::AbiMismatch {
                    path: self.path.clone(),
                    requested,
                    detected: found,
                    evidence,
                });
            }
        }
        self.abi = found;
        self.evidence = evidence;
        Ok(())
    }

    /// The ABI this handle speaks (its driver's).
    pub fn abi(&self) -> Abi {
        self.abi
    }

    /// How [`Device::abi`] was established.
    pub fn abi_evidence(&self) -> AbiEvidence {
        self.evidence
    }

    /// The path that was opened (for [`Device::from_fd`]: what `/proc/self/fd` shows).
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

    /// Issues ioctl `code` with `cmd` (EINTR retried); `ptr_len` is the size of the buffer at
    /// `cmd.ptr` the caller vouches for (a fake driver checks its writes against it).
    ///
    /// # Safety
    ///
    /// As `crate::ioctl::cmd_ioctl`: every user memory access the request makes (through
    /// `cmd.addr` and `cmd.ptr`, at most `ptr_len` bytes at `cmd.ptr`) is valid and observed
    /// by no live Rust reference.
    pub(crate) unsafe fn submit(
        &self,
        code: u32,
        cmd: &mut hmm_dmirror_cmd,
        ptr_len: usize,
    ) -> rustix::io::Result<()> {
        #[cfg(test)]
        if let Some(fake) = &self.fake {
            // SAFETY: the fake's contract is ours.
            return unsafe { fake.ioctl(code, cmd, ptr_len) };
        }
        let _ = ptr_len;
        // SAFETY: forwarded to our caller.
        unsafe { crate::ioctl::cmd_ioctl(self.fd.as_fd(), code, cmd) }
    }
}

/// What `/proc/self/fd/N` names, else `fd N`.
fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    let raw = fd.as_raw_fd();
    std::fs::read_link(format!("/proc/self/fd/{raw}"))
        .unwrap_or_else(|_| format!("fd {raw}").into())
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
