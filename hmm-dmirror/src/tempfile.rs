//! [`TempFile`]: an unlinked temporary file of fixed size to map (like `hmm_create_file()`).

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::path::Path;

use rustix::fs::{Mode, OFlags};

use crate::{Error, Result};

/// An `O_TMPFILE` file (in `/tmp`, else [`std::env::temp_dir`]) truncated to a fixed size,
/// deleted when dropped. Its size cannot change through the safe API, so mappings of it stay
/// backed: it deliberately does not implement `AsFd`, only `AsRawFd` (for code that maps it
/// itself, e.g. with `MAP_FIXED` into a reservation), whose descriptor takes `unsafe` code to
/// use.
#[derive(Debug)]
pub struct TempFile {
    file: File,
    len: u64,
}

impl TempFile {
    /// Creates the file with `size` bytes (zeros).
    pub fn new(size: u64) -> Result<TempFile> {
        let mut last = None;
        for dir in [Path::new("/tmp").to_path_buf(), std::env::temp_dir()] {
            let opened = crate::ioctl::retry_eintr(|| {
                rustix::fs::open(
                    &dir,
                    OFlags::TMPFILE | OFlags::EXCL | OFlags::RDWR | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
            });
            match opened {
                Ok(fd) => {
                    crate::ioctl::retry_eintr(|| rustix::fs::ftruncate(&fd, size))
                        .map_err(Error::sys("ftruncate"))?;
                    return Ok(TempFile {
                        file: File::from(fd),
                        len: size,
                    });
                }
                Err(errno) => last = Some(errno),
            }
        }
        Err(Error::Sys {
            op: "open O_TMPFILE",
            errno: last.unwrap_or(rustix::io::Errno::NOENT),
        })
    }

    /// The size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file has no byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `pwrite` all of `buf` at `offset` (must stay inside the file).
    pub fn write_all_at(&self, offset: u64, buf: &[u8]) -> Result<()> {
        self.check(offset, buf.len())?;
        self.file
            .write_all_at(buf, offset)
            .map_err(|source| Error::Io {
                what: "pwrite temp file".into(),
                source,
            })
    }

    /// `pread` exactly `buf.len()` bytes at `offset`.
    pub fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.check(offset, buf.len())?;
        self.file
            .read_exact_at(buf, offset)
            .map_err(|source| Error::Io {
                what: "pread temp file".into(),
                source,
            })
    }

    fn check(&self, offset: u64, len: usize) -> Result<()> {
        let end = offset.checked_add(len as u64).ok_or(Error::Overflow)?;
        if end > self.len {
            return Err(Error::FileTooSmall {
                len: end as usize,
                file_len: self.len,
            });
        }
        Ok(())
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl AsRawFd for TempFile {
    /// The descriptor, for mapping the file by hand. Shrinking the file through it makes
    /// mappings of the lost part raise SIGBUS when touched.
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}
