//! `ASSERT_*`, `EXPECT_*`, `SKIP!` and `TH_LOG!`: the test-side half of kselftest_harness.h.
//!
//! Every case runs in its own child process (see [`super::runner`]). The case's result lives
//! in a `MAP_SHARED` page set up by the parent before it forks, exactly like the C harness's
//! `_metadata`: an `EXPECT_*` failing in the test, in one of its threads or in a process the
//! test forked itself marks the whole case failed, and `SKIP!` leaves its reason there for
//! the parent to print.
//!
//! * `EXPECT_*` logs `# file:line:test:Expected a (1) == b (2)` and carries on;
//! * `ASSERT_*` logs the same and aborts the process (`SIGABRT`, which the parent reports as
//!   "Test terminated by assertion"), like the C `__bail()`;
//! * `SKIP!(return, "reason")` records the reason, logs `#      SKIP      reason`, sets the
//!   exit code to `KSFT_SKIP` and runs the statement;
//! * a Rust panic anywhere in the child is logged like a failed assertion and aborts too.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicUsize, Ordering};
use std::sync::OnceLock;

use super::{KSFT_FAIL, KSFT_SKIP};

/// Size of the skip reason, as `struct __test_results`.
pub const REASON_MAX: usize = 1024;
/// Bytes of log kept for the parent (the libtest-mimic driver shows them on failure).
const LOG_MAX: usize = 60 * 1024;

/// The state shared between the harness parent and a case's processes.
#[repr(C)]
struct Shared {
    exit_code: AtomicI32,
    reason_len: AtomicUsize,
    log_len: AtomicUsize,
    reason: [u8; REASON_MAX],
    log: [u8; LOG_MAX],
}

static SHARED: AtomicPtr<Shared> = AtomicPtr::new(ptr::null_mut());
/// Whether log lines go to stderr as they happen (kselftest mode) or are only kept.
static ECHO: AtomicBool = AtomicBool::new(true);
/// `_metadata->name` of the case running in this process.
static TEST_NAME: OnceLock<&'static str> = OnceLock::new();

fn shared() -> &'static Shared {
    let mut p = SHARED.load(Ordering::Acquire);
    if p.is_null() {
        // SAFETY: anonymous shared mapping of a fresh region; no existing memory is touched.
        let m = unsafe {
            libc::mmap(
                ptr::null_mut(),
                std::mem::size_of::<Shared>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert!(
            m != libc::MAP_FAILED,
            "mmap of the harness results page failed"
        );
        p = m.cast();
        if let Err(other) =
            SHARED.compare_exchange(ptr::null_mut(), p, Ordering::AcqRel, Ordering::Acquire)
        {
            // SAFETY: `m` was mapped above with this size and never published.
            unsafe { libc::munmap(m, std::mem::size_of::<Shared>()) };
            p = other;
        }
    }
    // SAFETY: the page is zero-filled (a valid `Shared`: atomics and byte arrays), mapped for
    // the life of the process and only ever accessed through atomics or the reservation
    // protocol below.
    unsafe { &*p }
}

/// Parent side: prepares the shared page for the next case (like `__run_test`'s reset).
pub fn reset() {
    let s = shared();
    s.exit_code.store(0, Ordering::SeqCst);
    s.reason_len.store(0, Ordering::SeqCst);
    s.log_len.store(0, Ordering::SeqCst);
}

/// Child side: names the running case and chooses whether logs are echoed to stderr.
pub fn enter_case(test_name: &'static str, echo: bool) {
    let _ = TEST_NAME.set(test_name);
    ECHO.store(echo, Ordering::SeqCst);
    std::panic::set_hook(Box::new(|info| {
        let loc = info.location().map_or_else(
            || "?:0".to_string(),
            |l| format!("{}:{}", l.file(), l.line()),
        );
        let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "Box<dyn Any>".to_string()
        };
        log_line(format_args!(
            "# {loc}:{}:panicked: {msg}",
            self::test_name()
        ));
        set_exit_code(KSFT_FAIL);
        bail();
    }));
}

/// The name of the case running in this process (`_metadata->name`).
pub fn test_name() -> &'static str {
    TEST_NAME.get().copied().unwrap_or("?")
}

/// The case's exit code so far (`_metadata->exit_code`).
pub fn exit_code() -> i32 {
    shared().exit_code.load(Ordering::SeqCst)
}

/// Overrides the case's exit code (used for `KSFT_FAIL` on failures).
pub fn set_exit_code(code: i32) {
    shared().exit_code.store(code, Ordering::SeqCst);
}

/// The reason recorded by `SKIP!` (`_metadata->results->reason`), empty if none.
pub fn reason() -> String {
    let s = shared();
    let len = s.reason_len.load(Ordering::SeqCst).min(REASON_MAX);
    String::from_utf8_lossy(&s.reason[..len]).into_owned()
}

/// Everything the case logged (only what fits in the shared page).
pub fn log() -> String {
    let s = shared();
    let len = s.log_len.load(Ordering::SeqCst).min(LOG_MAX);
    String::from_utf8_lossy(&s.log[..len]).into_owned()
}

/// Appends a line to the shared log and, in kselftest mode, writes it to stderr at once.
pub fn log_line(args: fmt::Arguments<'_>) {
    let mut line = String::new();
    let _ = line.write_fmt(args);
    line.push('\n');
    if ECHO.load(Ordering::SeqCst) {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
        let _ = err.flush();
    }
    let s = shared();
    let bytes = line.as_bytes();
    let start = s.log_len.fetch_add(bytes.len(), Ordering::SeqCst);
    if start < LOG_MAX {
        let n = bytes.len().min(LOG_MAX - start);
        let dst = s.log.as_ptr().cast_mut();
        // SAFETY: bytes [start, start + n) of the log were reserved for this writer alone by
        // the fetch_add above, and lie inside the array.
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), dst.add(start), n) };
    }
}

/// A plain diagnostic line the C test writes to stderr (`perror()`, `fprintf(stderr, …)`):
/// stderr in kselftest mode, the case log otherwise.
pub fn diag(args: fmt::Arguments<'_>) {
    log_line(args);
}

/// `TH_LOG()`: `# file:line:test:message`.
pub fn th_log(file: &str, line: u32, args: fmt::Arguments<'_>) {
    let msg = one_line(&args.to_string());
    log_line(format_args!("# {file}:{line}:{}:{msg}", test_name()));
}

/// Joins a message that `stringify!` spread over several lines (rustfmt'ed arguments) into
/// one log line.
fn one_line(s: &str) -> String {
    if !s.contains('\n') {
        return s.to_string();
    }
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A failed `EXPECT_*`/`ASSERT_*`: log it and mark the case failed.
pub fn report_failure(file: &str, line: u32, args: fmt::Arguments<'_>) {
    th_log(file, line, args);
    set_exit_code(KSFT_FAIL);
}

/// The `ASSERT_*` half of `__bail()`: stop this process with `SIGABRT`.
pub fn bail() -> ! {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::abort()
}

/// `SKIP()`: record the reason, log it and set the exit code to `KSFT_SKIP`.
pub fn skip(args: fmt::Arguments<'_>) {
    let mut reason = String::new();
    let _ = reason.write_fmt(args);
    let mut n = reason.len().min(REASON_MAX - 1);
    while !reason.is_char_boundary(n) {
        n -= 1;
    }
    let s = shared();
    let dst = s.reason.as_ptr().cast_mut();
    // SAFETY: `n` < REASON_MAX bytes into the reason array; only the case's own process
    // writes it (SKIP is not used concurrently) and the parent reads it after the case ended.
    unsafe { ptr::copy_nonoverlapping(reason.as_ptr(), dst, n) };
    s.reason_len.store(n, Ordering::SeqCst);
    log_line(format_args!("#      SKIP      {}", &reason[..n]));
    set_exit_code(KSFT_SKIP);
}

/// `TH_LOG(fmt, ...)`.
#[macro_export]
macro_rules! TH_LOG {
    ($($arg:tt)+) => {
        $crate::harness::assert::th_log(file!(), line!(), format_args!($($arg)+))
    };
}

/// `SKIP(statement, fmt, ...)`: e.g. `SKIP!(return, "Not enough huge pages")`.
#[macro_export]
macro_rules! SKIP {
    ($action:expr, $($arg:tt)+) => {{
        $crate::harness::assert::skip(format_args!($($arg)+));
        #[allow(unreachable_code)]
        $action
    }};
}

/// The common body of every comparison macro (`__EXPECT` in C).
#[doc(hidden)]
#[macro_export]
macro_rules! __EXPECT {
    ($exp:expr, $exp_str:expr, $seen:expr, $seen_str:expr, $op:tt, $bail:expr) => {{
        let __exp = $exp;
        let __seen = $seen;
        if !(__exp $op __seen) {
            $crate::harness::assert::report_failure(
                file!(),
                line!(),
                format_args!(
                    "Expected {} ({:?}) {} {} ({:?})",
                    $exp_str,
                    __exp,
                    stringify!($op),
                    $seen_str,
                    __seen
                ),
            );
            if $bail {
                $crate::harness::assert::bail();
            }
        }
    }};
}

/// `ASSERT_EQ(expected, seen)`.
#[macro_export]
macro_rules! ASSERT_EQ {
    ($e:expr, $s:expr $(,)?) => { $crate::__EXPECT!($e, stringify!($e), $s, stringify!($s), ==, true) };
}
/// `ASSERT_NE(expected, seen)`.
#[macro_export]
macro_rules! ASSERT_NE {
    ($e:expr, $s:expr $(,)?) => { $crate::__EXPECT!($e, stringify!($e), $s, stringify!($s), !=, true) };
}
/// `ASSERT_LT(expected, seen)`.
#[macro_export]
macro_rules! ASSERT_LT {
    ($e:expr, $s:expr $(,)?) => { $crate::__EXPECT!($e, stringify!($e), $s, stringify!($s), <, true) };
}
/// `ASSERT_LE(expected, seen)`.
#[macro_export]
macro_rules! ASSERT_LE {
    ($e:expr, $s:expr $(,)?) => { $crate::__EXPECT!($e, stringify!($e), $s, stringify!($s), <=, true) };
}
/// `ASSERT_GT(expected, seen)`.
#[macro_export]
macro_rules! ASSERT_GT {
    ($e:expr, $s:expr $(,)?) => { $crate::__EXPECT!($e, stringify!($e), $s, stringify!($s), >, true) };
}
/// `ASSERT_GE(expected, seen)`.
#[macro_export]
macro_rules! ASSERT_GE {
    ($e:expr, $s:expr $(,)?) => { $crate::__EXPECT!($e, stringify!($e), $s, stringify!($s), >=, true) };
}
/// `ASSERT_TRUE(seen)`: `seen` is a `bool` (printed as 0/1 like C).
#[macro_export]
macro_rules! ASSERT_TRUE {
    ($s:expr $(,)?) => { $crate::__EXPECT!(0u8, "0", u8::from($s), stringify!($s), !=, true) };
}
/// `ASSERT_FALSE(seen)`: `seen` is a `bool` (printed as 0/1 like C).
#[macro_export]
macro_rules! ASSERT_FALSE {
    ($s:expr $(,)?) => { $crate::__EXPECT!(0u8, "0", u8::from($s), stringify!($s), ==, true) };
}
/// `EXPECT_EQ(expected, seen)`.
#[macro_export]
macro_rules! EXPECT_EQ {
    ($e:expr, $s:expr $(,)?) => { $crate::__EXPECT!($e, stringify!($e), $s, stringify!($s), ==, false) };
}
/// `EXPECT_NE(expected, seen)`.
#[macro_export]
macro_rules! EXPECT_NE {
    ($e:expr, $s:expr $(,)?) => { $crate::__EXPECT!($e, stringify!($e), $s, stringify!($s), !=, false) };
}

/// `ASSERT_NE(ptr, NULL)` for an `Option`: evaluates to the value, or fails like C
/// (`Expected buffer (0) != NULL (0)`) and aborts.
#[macro_export]
macro_rules! ASSERT_NOT_NULL {
    ($e:expr $(,)?) => {
        match $e {
            Some(v) => v,
            None => {
                $crate::harness::assert::report_failure(
                    file!(),
                    line!(),
                    format_args!("Expected {} (0) != NULL (0)", stringify!($e)),
                );
                $crate::harness::assert::bail()
            }
        }
    };
}
