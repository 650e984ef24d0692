//! Small helpers of hmm-tests.c that are not about buffers or devices: `hmm_random()`,
//! `hmm_nanosleep()` and `hmm_create_file()`.

use std::io::Read as _;
use std::sync::Mutex;

static URANDOM: Mutex<Option<std::fs::File>> = Mutex::new(None);

/// `hmm_random()`: a random unsigned number from /dev/urandom (`~0U` if it cannot be opened).
pub fn hmm_random() -> u32 {
    let mut guard = URANDOM
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if guard.is_none() {
        match std::fs::File::open("/dev/urandom") {
            Ok(f) => *guard = Some(f),
            Err(_) => {
                crate::harness::assert::diag(format_args!(
                    "{}:{} failed to open /dev/urandom",
                    file!(),
                    line!()
                ));
                return !0;
            }
        }
    }
    let mut r = [0u8; 4];
    if let Some(f) = guard.as_mut() {
        let _ = f.read(&mut r);
    }
    u32::from_ne_bytes(r)
}

/// `hmm_create_file(size)`: an unnamed `O_TMPFILE` file in /tmp of `size` bytes, deleted
/// when dropped (`hmm_dmirror::TempFile`); `None` on failure (C: -1), after logging why.
pub fn hmm_create_file(size: usize) -> Option<hmm_dmirror::TempFile> {
    hmm_dmirror::TempFile::new(size as u64)
        .inspect_err(|e| crate::harness::assert::diag(format_args!("hmm_create_file: {e}")))
        .ok()
}

/// `hmm_nanosleep(n)`: sleep `n` nanoseconds (`n` < 1 s).
pub fn hmm_nanosleep(n: u32) {
    let t = libc::timespec {
        tv_sec: 0,
        tv_nsec: libc::c_long::from(n),
    };
    // SAFETY: nanosleep with a valid timespec and no remainder pointer.
    unsafe { libc::nanosleep(&t, std::ptr::null_mut()) };
}
