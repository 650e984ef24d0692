//! Local stand-ins for the C selftest helpers hmm-tests.c links with (vm_util.c,
//! hugepage_settings.c, mm/gup_test.h, linux/userfaultfd.h) and small libc wrappers. Temporary
//! files and huge page sizes come from `hmm-dmirror` (`TempFile`, `hugepage`).
//! None of this is HMM-device specific, so it lives here rather than in `hmm-dmirror`.

pub mod gup_test;
pub mod hugetlb;
pub mod userfaultfd;
pub mod vm_util;

/// `errno` of the last failed libc call.
pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `perror(msg)`: `msg: strerror(errno)`.
pub fn perror(msg: &str) {
    let err = std::io::Error::last_os_error().to_string();
    // std appends " (os error N)" to strerror's text.
    let text = err.split(" (os error").next().unwrap_or(&err);
    crate::harness::assert::diag(format_args!("{msg}: {text}"));
}

/// `close(fd)`.
///
/// # Safety
/// `fd` must be a descriptor the caller owns (opened by it as a raw fd, not held by an
/// `OwnedFd`, `File` or `Device` that will use or close it), and nothing may use the number
/// after the call: the next `open` may reuse it, and a stale user would then read, write or
/// map a file it never opened.
pub unsafe fn close(fd: std::os::fd::RawFd) -> i32 {
    // SAFETY: the caller owns `fd` and gives it up.
    unsafe { libc::close(fd) }
}
