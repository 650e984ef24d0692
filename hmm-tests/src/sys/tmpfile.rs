//! `hmm_create_file()`: an unnamed `O_TMPFILE` file in /tmp of a given size, as a raw fd
//! (the tests mmap it and pread/pwrite it directly).

use std::os::fd::RawFd;

/// Creates a temporary file of `size` bytes that is deleted on close; -1 on failure.
pub fn hmm_create_file(size: usize) -> RawFd {
    // SAFETY: open(2) with a NUL-terminated path.
    let fd = unsafe {
        libc::open(
            c"/tmp".as_ptr(),
            libc::O_TMPFILE | libc::O_EXCL | libc::O_RDWR,
            0o600,
        )
    };
    if fd >= 0 {
        let Ok(len) = libc::off_t::try_from(size) else {
            // SAFETY: closing the fd opened above.
            unsafe { libc::close(fd) };
            return -1;
        };
        loop {
            // SAFETY: ftruncate on the fd opened above.
            let r = unsafe { libc::ftruncate(fd, len) };
            if r == 0 {
                return fd;
            }
            if crate::sys::errno() != libc::EINTR {
                break;
            }
        }
        // SAFETY: closing the fd opened above.
        unsafe { libc::close(fd) };
    }
    -1
}

/// `close(fd)`.
///
/// # Safety
/// `fd` must be a descriptor the caller owns (opened by it as a raw fd, not held by an
/// `OwnedFd`, `File` or `Device` that will use or close it), and nothing may use the number
/// after the call: the next `open` may reuse it, and a stale user would then read, write or
/// map a file it never opened.
pub unsafe fn close(fd: RawFd) -> i32 {
    // SAFETY: the caller owns `fd` and gives it up.
    unsafe { libc::close(fd) }
}
