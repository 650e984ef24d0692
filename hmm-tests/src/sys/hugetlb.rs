//! HugeTLB helpers of hugepage_settings.c on `hmm-dmirror`'s `hugepage` module:
//! `default_huge_page_size()`, `hugetlb_free_default_pages()` and
//! `HUGETLB_SETUP_DEFAULT_PAGES(1)` (make sure one default huge page is free for the run,
//! restore the pool size afterwards, also when the run is interrupted by a signal).

use std::ffi::CString;
use std::sync::atomic::{AtomicPtr, Ordering};

use hmm_dmirror::hugepage::{self, NR_HUGEPAGES};

/// `default_huge_page_size()`: the `Hugepagesize:` of /proc/meminfo in bytes, 0 if none.
pub fn default_huge_page_size() -> usize {
    hugepage::default_huge_page_size()
        .ok()
        .flatten()
        .unwrap_or(0)
}

/// `hugetlb_free_default_pages()`: free huge pages of the default size (0 without hugetlb).
pub fn hugetlb_free_default_pages() -> u64 {
    hugepage::free_huge_pages().unwrap_or(0)
}

/// What must be written back at exit: the pool ([`NR_HUGEPAGES`]) and its size before the
/// run.
struct Restore {
    path: CString,
    value: CString,
}

static RESTORE: AtomicPtr<Restore> = AtomicPtr::new(std::ptr::null_mut());

/// Writes the saved pool size back (async-signal-safe: open/write/close only).
fn restore_now() {
    let p = RESTORE.swap(std::ptr::null_mut(), Ordering::SeqCst);
    if p.is_null() {
        return;
    }
    // SAFETY: `p` came from Box::into_raw in `hugetlb_setup_default` and was taken out of
    // RESTORE atomically, so this is its only user; it is deliberately leaked (freeing is
    // not async-signal-safe).
    let r = unsafe { &*p };
    // SAFETY: open/write/close with a valid NUL-terminated path and a buffer of the length
    // given.
    unsafe {
        let fd = libc::open(r.path.as_ptr(), libc::O_WRONLY);
        if fd >= 0 {
            let bytes = r.value.as_bytes();
            libc::write(fd, bytes.as_ptr().cast(), bytes.len());
            libc::close(fd);
        }
    }
}

extern "C" fn restore_on_signal(_sig: libc::c_int) {
    restore_now();
    // SAFETY: _exit is async-signal-safe; KSFT_FAIL as the C handler's exit(KSFT_FAIL).
    unsafe { libc::_exit(1) };
}

/// Signals after which the C code restores the settings (then exits with `KSFT_FAIL`).
pub const RESTORE_SIGNALS: [libc::c_int; 4] =
    [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT];

/// Restores the default signal disposition (run in each case's child).
pub fn reset_signal_handlers() {
    for sig in RESTORE_SIGNALS {
        // SAFETY: resetting a signal to its default action.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}

/// `HUGETLB_SETUP_DEFAULT_PAGES(nr)`: if fewer than `nr` default huge pages are free, grow the
/// pool so that `nr` are; the old pool size is written back by [`hugetlb_restore_settings`]
/// or when the run is interrupted. Returns whether `nr` pages are free afterwards.
///
/// Unlike C (which bails out of the whole run when the pool cannot be written), a failure
/// here is only reported; the hugetlb tests then skip with "Not enough huge pages".
pub fn hugetlb_setup_default(nr: u64) -> bool {
    if default_huge_page_size() == 0 {
        return false;
    }
    let (Ok(free), Ok(total)) = (hugepage::free_huge_pages(), hugepage::huge_pages_total()) else {
        return false;
    };
    if free >= nr {
        return true;
    }
    let (Ok(path), Ok(value)) = (CString::new(NR_HUGEPAGES), CString::new(total.to_string()))
    else {
        return false;
    };
    RESTORE.store(
        Box::into_raw(Box::new(Restore { path, value })),
        Ordering::SeqCst,
    );
    for sig in RESTORE_SIGNALS {
        // SAFETY: installing an async-signal-safe handler.
        unsafe { libc::signal(sig, restore_on_signal as *const () as libc::sighandler_t) };
    }
    let want = total + (nr - free);
    if let Err(e) = hugepage::set_huge_pages_total(want) {
        // write_num_ignore_einval(): EINVAL is not an error.
        if e.errno() != Some(hmm_dmirror::Errno::INVAL) {
            eprintln!("# {e}");
        }
    }
    hugetlb_free_default_pages() >= nr
}

/// `hugetlb_restore_settings()` (the C atexit handler).
pub fn hugetlb_restore_settings() {
    restore_now();
    for sig in RESTORE_SIGNALS {
        // SAFETY: back to the default action.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}
